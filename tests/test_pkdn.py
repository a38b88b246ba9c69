"""KDFSRNet and PKDN: exact parameter counts (IMPLEMENTATION_NOTES §4), shapes, teacher/student feature
pairing, parsing-map forms, the bundled configs, and a distillation smoke run."""
import importlib.util

import numpy as np
import pytest
import torch

from facesr.checkpoint import save_model
from facesr.registry import build, get_preset
from facesr.training.config import load_config

SMALL = {"n_rcab": 1, "width": 8}
STAGE_SIZES = [64, 32, 16, 8, 8, 16, 32, 64, 128]


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_kdfsrnet_parameter_counts_match_the_notes():
    # notes §4: student 5,204,019 (6 RCABs per stage), teacher 2,526,027 (2 RCABs, head on LR_up + parsing)
    assert n_params(build("kdfsr")) == 5_204_019
    assert n_params(build("kdfsr-teacher")) == 2_526_027
    # the teacher count fixes the parsing map at 3 channels: (3 + 3) x 64 x 9 + 64 head parameters
    assert get_preset("kdfsr-teacher").settings["prior_channels"] == 3
    assert n_params(build("kdfsr-teacher", prior_channels=19)) == 2_526_027 + 16 * 64 * 9
    # the student as the notes describe it is 24 short: the two fixed RCAN mean-shift 1x1 convs make it up
    assert n_params(build("kdfsr", mean_shift=False)) == 5_204_019 - 24
    assert not any(p.requires_grad for n, p in build("kdfsr").named_parameters() if "mean" in n)


def test_pkdn_parameter_counts_follow_its_blocks():
    # the PKDN paper gives no sizes: check the variants differ by exactly the blocks they add
    from facesr.models.pkdn.arch import FeatureFusionBlock, ParsingFusionBlock

    pfb, ffb = n_params(ParsingFusionBlock(64, 3)), n_params(FeatureFusionBlock(64))
    assert n_params(build("pkdn")) - n_params(build("pkdn-noffb")) == 4 * ffb
    assert n_params(build("pkdn-teacher")) - n_params(build("pkdn")) == 9 * pfb
    assert n_params(build("pkdn-teacher")) - n_params(build("pkdn-teacher-noffb")) == 4 * ffb
    # without PFB the parsing map (3 channels) enters at the head
    assert n_params(build("pkdn-teacher-nopfb-noffb")) - n_params(build("pkdn-noffb")) == 3 * 64 * 9
    assert n_params(build("pkdn-teacher")) > n_params(build("pkdn"))
    # the sizes these blocks give (docs/pkdn.md's table)
    assert (n_params(build("pkdn")), n_params(build("pkdn-teacher"))) == (5_981_803, 7_074_826)


def test_pkdn_lite_presets_counts_and_global_skip():
    # the CPU pair: 32 channels, RCAGs of 2 RCABs, global bicubic skip (no parameters of its own)
    from facesr.models.pkdn.arch import ParsingFusionBlock

    s, t = build("pkdn-lite"), build("pkdn-teacher-lite")
    assert n_params(s) == 828_015
    assert n_params(t) == 1_106_556
    assert n_params(t) - n_params(s) == 9 * n_params(ParsingFusionBlock(32, 3))
    assert n_params(build("pkdn", width=32, n_rcab=2)) == 828_015
    # with the tail zeroed, the skip variant returns the bicubic-upsampled LR, the paper's variant zeros
    lr = torch.rand(1, 3, 16, 16)
    paper = build("pkdn", width=32, n_rcab=2)
    for net in (s, paper):
        torch.nn.init.zeros_(net.tail.weight), torch.nn.init.zeros_(net.tail.bias)
        net.eval()
    with torch.no_grad():
        assert torch.allclose(s(lr), s.upsample_input(lr).clamp(0, 1), atol=1e-6)
        assert float(paper(lr).abs().max()) == 0.0
    _, fs = s(lr, return_features=True)
    _, ft = t(lr, torch.zeros(1, 128, 128, dtype=torch.long), return_features=True)
    assert [f.shape for f in fs] == [f.shape for f in ft] == [(1, 32, k, k) for k in STAGE_SIZES]


def test_rcab_and_blocks_counts():
    from facesr.models.pkdn.arch import RCAB, DownBlock, UpBlock

    assert n_params(RCAB(64)) == 2 * (64 * 64 * 9 + 64) + (64 * 4 + 4) + (4 * 64 + 64)
    assert n_params(DownBlock(64)) == 256 * 64 * 9 + 64
    assert n_params(UpBlock(64)) == 64 * 256 * 9 + 256


@pytest.mark.parametrize("student,teacher", [("kdfsr", "kdfsr-teacher"), ("pkdn", "pkdn-teacher"),
                                             ("pkdn-noffb", "pkdn-teacher-noffb"),
                                             ("pkdn-noffb", "pkdn-teacher-nopfb-noffb")])
def test_forward_shapes_and_features_pair_up(student, teacher):
    torch.manual_seed(0)
    s, t = build(student, **SMALL), build(teacher, **SMALL)
    lr = torch.rand(2, 3, 16, 16)
    parsing = torch.randint(0, 19, (2, 128, 128))
    assert s(lr).shape == (2, 3, 128, 128)
    assert t(lr, parsing).shape == (2, 3, 128, 128)
    sr_s, fs = s(lr, return_features=True)
    sr_t, ft = t(lr, parsing, return_features=True)
    assert sr_s.shape == sr_t.shape == (2, 3, 128, 128)
    assert [tuple(f.shape) for f in fs] == [tuple(f.shape) for f in ft] == [(2, 8, k, k) for k in STAGE_SIZES]
    # eval mode clamps to [0, 1]; the output depends on the parsing map
    t.eval()
    with torch.no_grad():
        a, b = t(lr, parsing), t(lr, torch.zeros_like(parsing))
    assert a.min() >= 0 and a.max() <= 1 and not torch.equal(a, b)
    # backward through the student
    s.train()
    s(lr).mean().backward()
    assert all(p.grad is not None for p in s.parameters() if p.requires_grad)


def test_parsing_map_forms():
    from facesr.models.pkdn.arch import label_palette, parsing_to_channels

    lab = torch.tensor([[[0, 1], [2, 18]]])
    onehot = parsing_to_channels(lab, 19)
    assert onehot.shape == (1, 19, 2, 2) and torch.equal(onehot.argmax(1), lab)
    col = parsing_to_channels(lab, 3, size=4)
    pal = label_palette(19)
    assert col.shape == (1, 3, 4, 4) and torch.equal(col[0, :, 0, 0], pal[0]) and torch.equal(col[0, :, 3, 3], pal[18])
    assert torch.equal(pal[0], torch.zeros(3)) and len({tuple(c.tolist()) for c in pal}) == 19
    assert torch.allclose(parsing_to_channels(lab, 1)[0, 0], lab[0].float() / 18)
    # float maps pass through, resized by nearest
    f = torch.rand(1, 3, 64, 64)
    assert torch.equal(parsing_to_channels(f, 3, size=128)[..., ::2, ::2], f)
    # a teacher takes label maps or the float 3-channel form at any size alike
    t = build("kdfsr-teacher", **SMALL).eval()
    lr = torch.rand(1, 3, 16, 16)
    small = torch.randint(0, 19, (1, 64, 64))
    with torch.no_grad():
        assert torch.equal(t(lr, small), t(lr, parsing_to_channels(small, 3, size=128)))
    with pytest.raises(ValueError, match="channels"):
        parsing_to_channels(lab, 5)
    with pytest.raises(ValueError, match="parsing"):
        t(lr)
    with pytest.raises(ValueError, match="only the LR"):
        build("kdfsr", **SMALL)(lr, small)


def test_presets_and_bundled_configs_load(tmp_path):
    for name in ("kdfsr", "kdfsr-teacher", "pkdn", "pkdn-teacher"):
        p = get_preset(name)
        assert (p.lr_size, p.hr_size, p.degradation, p.crop) == (16, 128, {"kind": "bicubic"}, "lfw")
    t = load_config("kdfsr_teacher_lfw")
    assert t["recipe"] == "sr" and t["model"]["name"] == "kdfsr-teacher" and t["train"]["batch_size"] == 8
    assert t["train"]["optimizer"]["lr"] == 1e-4 and t["data"]["train"]["rot90"]
    s = load_config("kdfsr_student_lfw")  # the teacher file need not exist to load the config
    d = s["distill"]
    assert s["recipe"] == "distill" and s["model"]["name"] == "kdfsr"
    assert d["teacher_inputs"] == ["parsing"] and d["feature_weight"] == [[0, 10], [10, 0]]
    assert d["output_weight"] == [[0, 0.1], [10, 0.1], [10, 0]] and d["feature_loss"] == "l1"
    for name, model in (("pkdn_teacher_lfw", "pkdn-teacher"), ("pkdn_student_lfw", "pkdn")):
        c = load_config(name)
        assert c["model"]["name"] == model and get_preset(model).config == name + ".yaml"
    assert load_config("pkdn_student_lfw")["distill"]["teacher_inputs"] == ["parsing"]
    from facesr.training.schedules import weight_at

    assert [weight_at(d["feature_weight"], e) for e in (0, 5, 10)] == [10, 5, 0]
    assert [weight_at(d["output_weight"], e) for e in (0, 9.9, 10)] == [0.1, 0.1, 0]


def test_lite_comparison_configs_share_one_budget():
    # teacher, distilled student and plain student of the CPU comparison differ only in what they compare
    t, d, p = (load_config(n) for n in ("pkdn_teacher_lite_lfw", "pkdn_lite_lfw", "pkdn_lite_plain_lfw"))
    assert (t["model"]["name"], d["model"]["name"], p["model"]["name"]) == ("pkdn-teacher-lite", "pkdn-lite",
                                                                             "pkdn-lite")
    assert (t["recipe"], d["recipe"], p["recipe"]) == ("sr", "distill", "sr")
    assert t["train"] == d["train"] == p["train"]
    assert t["data"]["train"]["cache"] == d["data"]["train"]["cache"] == p["data"]["train"]["cache"]
    assert d["distill"]["teacher"] == "runs/pkdn_teacher_lite_lfw/final.safetensors"
    assert get_preset("pkdn-lite").config == "pkdn_lite_lfw.yaml"
    assert get_preset("pkdn-teacher-lite").config == "pkdn_teacher_lite_lfw.yaml"


@pytest.mark.parametrize("student,teacher", [("kdfsr", "kdfsr-teacher"), ("pkdn", "pkdn-teacher")])
def test_distill_recipe_smoke(face_folder, tmp_path, student, teacher):
    from facesr.training.trainer import make_trainer

    torch.manual_seed(0)
    t = build(teacher, **SMALL)
    tpath = tmp_path / "teacher.safetensors"
    save_model(t, tpath, t.facesr_meta)
    maps = np.zeros((24, 128, 128), np.uint8)
    maps[:, 32:96, 40:88] = 1  # 'skin' in the middle of every HR face
    ppath = tmp_path / "parsing.npy"
    np.save(ppath, maps)
    cfg = load_config(raw={
        "name": "t", "output_dir": str(tmp_path / "out"), "seed": 1, "recipe": "distill",
        "model": {"name": student, "settings": SMALL},
        "data": {"train": {"root": str(face_folder), "cache": str(tmp_path / "cache.npy"), "rot90": True,
                           "priors": {"parsing": str(ppath)}}},
        "distill": {"teacher": str(tpath), "teacher_inputs": ["parsing"], "feature_weight": [[0, 10], [10, 0]],
                    "output_weight": [[0, 0.1], [10, 0.1], [10, 0]], "feature_loss": "l1"},
        "train": {"batch_size": 2, "steps": 2, "optimizer": {"lr": 1e-4, "betas": [0.9, 0.99]}},
        "log": {"every": 1, "val_every": 0, "ckpt_every": 100, "progress": False, "tensorboard": False},
    })
    tr = make_trainer(cfg)
    tr.fit()
    assert len(tr.history) >= 2
    rec = [r for r in tr.history if "loss" in r]
    assert len(rec) == 2
    for r in rec:
        assert np.isfinite(r["loss"]) and r["feature"] > 0 and r["output"] > 0


def test_teacher_is_evaluated_with_parsing_maps_of_the_hr_faces(tmp_path):
    """`facesr eval` scores a teacher on its inputs of the papers' teacher rows: LR + the parsing map of the
    HR test face (dlib landmarks -> rasterised labels); super_resolve without the maps is a one-line error."""
    pytest.importorskip("dlib")
    from facesr.data.io import read_image
    from facesr.errors import FacesrError
    from facesr.evaluation.evaluate import TestSet, hr_priors, run_eval, synthesize_lr
    from facesr.inference.sr import super_resolve
    from facesr.priors.landmarks import annotate_faces
    from facesr.priors.parsing import parsing_maps
    from facesr.registry import ASSETS

    hr = read_image(ASSETS / "sample_face_hr128.png")
    test = TestSet("one", [ASSETS / "sample_face_hr128.png"] * 2, [hr, hr[:, ::-1].copy()])
    torch.manual_seed(0)
    t = build("pkdn-teacher", **SMALL).eval()
    assert t.extra_inputs == ("parsing",) and build("pkdn", **SMALL).extra_inputs == ()
    maps = hr_priors(test, ("parsing",))["parsing"]
    lm, found = annotate_faces(np.stack(test.hr), upsample=1)
    assert found.all() and np.array_equal(maps, parsing_maps(lm, 128))
    assert (maps[0] > 0).mean() > 0.2 and not np.array_equal(maps[0], maps[1])  # a face, mirrored
    res = run_eval({"teacher": t}, test, ["facesr"])
    lrs = synthesize_lr(test.hr, {"kind": "bicubic"}, 16).lrs
    with torch.no_grad():
        x = torch.from_numpy(np.stack(lrs).transpose(0, 3, 1, 2).astype(np.float32) / 255)
        ref = t(x, torch.from_numpy(maps).long()).permute(0, 2, 3, 1).numpy()
    assert [r.method for r in res] == ["Bicubic", "teacher"]
    assert np.allclose(np.stack(res[1].outputs), ref, atol=1e-6)
    with pytest.raises(FacesrError, match="teacher"):
        super_resolve(lrs, t)


def test_a_teacher_is_refused_in_one_line_where_only_the_lr_face_exists(tmp_path, capsys):
    """sr, the back-ends and export serve LR-only models: a teacher there is a one-line error, not a traceback."""
    from facesr.cli import main
    from facesr.deploy import inference_model
    from facesr.errors import FacesrError

    t = build("pkdn-teacher", **SMALL)
    tpath = save_model(t, tmp_path / "teacher.safetensors", t.facesr_meta)
    with pytest.raises(FacesrError, match="teacher"):
        inference_model(t, "torch")
    assert inference_model(t, "eager") is t  # the model itself, called with its parsing maps
    from facesr.data.io import write_image

    write_image(tmp_path / "lr.png", np.zeros((16, 16, 3), np.uint8))
    for argv in (["sr", "-m", str(tpath), "-i", str(tmp_path / "lr.png"), "-o", str(tmp_path / "out")],
                 ["export", "-m", str(tpath), "-o", str(tmp_path / "t.onnx")]):
        assert main(argv) != 0
        err = capsys.readouterr().err.strip()
        assert "teacher" in err and len(err.splitlines()) == 1, err


def test_shipped_pkdn_lite_and_its_teacher_on_the_bundled_face():
    """The shipped pair (float16 files, self-describing): on the bundled public-domain face brought to 16 px
    by PIL bicubic, the student's x8 output beats bicubic upsampling by over 1.2 dB with
    higher SSIM, and the teacher, given the face's parsing map, beats the student (the distillation order)."""
    import json

    import facesr
    from safetensors import safe_open

    from facesr.checkpoint import META_KEY
    from facesr.data.degrade import make_degradation
    from facesr.data.io import read_image
    from facesr.evaluation.evaluate import bicubic_outputs
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate
    from facesr.registry import ASSETS

    for name, file, n, config, budget in (
            ("pkdn-lite", "pkdn_lite", 828_015, "pkdn_lite_stage3", "3,600 steps x batch 8 (28,800 faces)"),
            ("pkdn-teacher-lite", "pkdn_teacher_lite", 1_106_556, "pkdn_teacher_lite_lfw", "2400 steps")):
        with safe_open(str(ASSETS / f"{file}.safetensors"), framework="pt") as f:
            meta = json.loads(f.metadata()[META_KEY])
            assert all(f.get_tensor(k).dtype == torch.float16 for k in f.keys())
        assert meta["preset"] == name and meta["provenance"]["config_name"] == config
        assert meta["provenance"]["stored_dtype"] == "float16" and budget in meta["provenance"]["budget"]
        net = facesr.load(name)
        assert n_params(net) == n and next(net.parameters()).dtype == torch.float32
    hr = read_image(ASSETS / "sample_face_hr128.png")
    lr = make_degradation(get_preset("pkdn-lite").degradation, lr_size=16)(hr)
    sr = super_resolve([lr], "pkdn-lite")[0]
    bic = bicubic_outputs([lr], 128)[0]
    m_sr, m_bic = evaluate([sr], [hr], "facesr"), evaluate([bic], [hr], "facesr")
    assert m_sr["psnr"] >= m_bic["psnr"] + 1.2 and m_sr["ssim"] > m_bic["ssim"], (m_sr, m_bic)
    if importlib.util.find_spec("dlib") is not None:
        from facesr.evaluation.evaluate import TestSet, hr_priors

        maps = hr_priors(TestSet("one", [], [hr]), ("parsing",))["parsing"]
        t = super_resolve([lr], "pkdn-teacher-lite", priors={"parsing": maps})[0]
        assert evaluate([t], [hr], "facesr")["psnr"] > m_sr["psnr"] + 0.3
