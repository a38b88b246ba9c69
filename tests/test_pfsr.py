"""PFSR networks (pfsr, pfsr-d, fan-distilled): exact parameter counts of IMPLEMENTATION_NOTES.md §1,
equalised-lr convs, stage outputs and fade-in, minibatch stddev, presets, bundled configs, and two
steps of the progressive recipe."""
import math

import pytest
import torch
import torch.nn.functional as F

from facesr.checkpoint import save_model
from facesr.errors import ConfigError
from facesr.registry import build, get_preset
from facesr.training.config import load_config
from facesr.training.trainer import make_trainer


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def gen():
    torch.manual_seed(0)
    return build("pfsr")


@pytest.fixture(scope="module")
def disc():
    torch.manual_seed(0)
    return build("pfsr-d")


# ---------------------------------------------------------------- counts
def test_generator_parameter_counts(gen):
    assert n_params(gen) == 8_969_097
    assert [n_params(s) for s in gen.steps] == [6_834_944, 1_705_856, 426_944]
    assert n_params(gen.to_rgb) == 1_353


def test_discriminator_and_fan_parameter_counts(disc):
    assert n_params(disc) == 8_065_537
    assert n_params(build("fan-distilled")) == 321_412


def test_lite_presets_are_the_same_networks_at_a_quarter_width():
    g, d = build("pfsr-lite"), build("pfsr-lite-d")
    assert (n_params(g), n_params(d)) == (564_969, 506_497)
    assert [s[-3].out_channels for s in g.steps] == [64, 32, 16]  # ConvTranspose w/2 per step
    full = build("pfsr")
    assert [type(m).__name__ for m in g.modules()] == [type(m).__name__ for m in full.modules()]
    assert get_preset("pfsr-lite").degradation == get_preset("pfsr").degradation
    assert get_preset("pfsr-lite").crop == "lfw"  # its LFW training geometry, for `facesr enhance`


# ---------------------------------------------------------------- equalised lr
def test_equal_conv_scales_weights_at_run_time():
    from facesr.models.pfsr import EqualConv2d

    torch.manual_seed(0)
    c = EqualConv2d(64, 32, 3)
    w = c.weight.detach()
    assert abs(w.mean().item()) < 0.02 and abs(w.std().item() - 1.0) < 0.02  # N(0, 1) storage
    assert torch.count_nonzero(c.bias) == 0
    x = torch.randn(2, 64, 8, 8)
    ref = F.conv2d(x, w * math.sqrt(2.0 / (64 * 9)), c.bias, padding=1)
    torch.testing.assert_close(c(x), ref)


def test_resblocks_use_equal_convs_and_the_rest_plain(gen):
    from facesr.models.pfsr import EqualConv2d

    kinds = [type(m).__name__ for m in gen.modules() if isinstance(m, (EqualConv2d, torch.nn.Conv2d,
                                                                      torch.nn.ConvTranspose2d))]
    assert kinds.count("EqualConv2d") == 6 and kinds.count("ConvTranspose2d") == 3
    assert kinds.count("Conv2d") == 4  # stem + three to-RGB


# ---------------------------------------------------------------- generator
def test_generator_stages_sizes_range_and_fade(gen):
    torch.manual_seed(1)
    lr = torch.rand(2, 3, 16, 16)
    gen.eval()
    with torch.no_grad():
        outs = [gen(lr, stage=s) for s in range(3)]
        assert [o.shape[-1] for o in outs] == [32, 64, 128]
        assert all(o.min() >= 0 and o.max() <= 1 for o in outs)
        torch.testing.assert_close(gen(lr), outs[2])  # default = the full model
        # fade-in: alpha 0 = the previous stage's image, nearest-upsampled; linear in alpha
        torch.testing.assert_close(gen(lr, stage=1, alpha=0.0), F.interpolate(outs[0], scale_factor=2))
        h = gen.steps[0](lr * 2 - 1)
        old = F.interpolate(gen.to_rgb[0](h), scale_factor=2, mode="nearest")
        new = gen.to_rgb[1](gen.steps[1](h))
        ref = ((0.7 * old + 0.3 * new + 1) / 2).clamp(0, 1)
        torch.testing.assert_close(gen(lr, stage=1, alpha=0.3), ref)
    gen.train()
    raw = gen(lr * 0 + 1.0)  # training mode: not clamped (no tanh either)
    assert raw.requires_grad and raw.shape == (2, 3, 128, 128)


def test_generator_errors(gen):
    with pytest.raises(ValueError, match="16x16"):
        gen(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="stage"):
        gen(torch.rand(1, 3, 16, 16), stage=3)
    with pytest.raises(ValueError, match="alpha"):
        gen(torch.rand(1, 3, 16, 16), stage=1, alpha=1.5)


# ---------------------------------------------------------------- discriminator
def test_discriminator_stages_and_fade(disc):
    torch.manual_seed(2)
    with torch.no_grad():
        for s, size in enumerate((32, 64, 128)):
            assert disc(torch.rand(3, 3, size, size), stage=s).shape == (3, 1)
        img = torch.rand(3, 3, 64, 64)
        x = img * 2 - 1
        a = 0.4
        h = (1 - a) * disc.from_rgb[0](F.avg_pool2d(x, 2)) + a * disc.blocks[1](disc.from_rgb[1](x))
        h = disc.blocks[0](h)
        assert h.shape[-1] == 16
        std = x.std(0).mean().expand(3, 1, 16, 16)
        ref = disc.linear2(disc.linear(disc.final_conv(torch.cat([h, std], 1)).mean((2, 3))))
        torch.testing.assert_close(disc(img, stage=1, alpha=a), ref)
    with pytest.raises(ValueError, match="128 x 128"):
        disc(torch.rand(1, 3, 64, 64), stage=2)


def test_minibatch_stddev_couples_the_batch(disc):
    torch.manual_seed(3)
    img = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        base = disc(img, stage=0)
        changed = img.clone()
        changed[3] = torch.rand(3, 32, 32)
        after = disc(changed, stage=0)
        # sample 0 is unchanged, but the batch statistic moved: its logit moves
        assert not torch.allclose(base[0], after[0])
        # a batch of identical images has std 0 = what a batch of one gets
        same = img[:1].expand(4, -1, -1, -1)
        torch.testing.assert_close(disc(same, stage=0), disc(img[:1], stage=0).expand(4, 1))


# ---------------------------------------------------------------- distilled FAN
def test_fan_distilled_heatmaps_at_input_resolution():
    fan = build("fan-distilled").eval()
    with torch.no_grad():
        assert fan(torch.rand(2, 3, 64, 64)).shape == (2, 68, 64, 64)
        assert fan(torch.rand(1, 3, 128, 128)).shape == (1, 68, 128, 128)
    convs = [m for m in fan.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (3, 32, 5, 1), (32, 64, 3, 1), (64, 128, 3, 1), (128, 128, 3, 1), (128, 68, 3, 1)]


# ---------------------------------------------------------------- presets and configs
def test_presets():
    p = get_preset("pfsr")
    assert (p.lr_size, p.hr_size, p.degradation, p.crop) == (16, 128, {"kind": "bilinear_cascade"},
                                                              "fsrnet_aligned5")
    assert p.config == "pfsr_celeba.yaml"
    f = get_preset("fan-distilled")
    assert (f.lr_size, f.hr_size) == (64, 64)
    assert build("fan-distilled").facesr_meta["lr_size"] == 64


def test_bundled_configs_load():
    full = load_config("pfsr_celeba")
    st = full["progressive"]["stages"]
    assert full["train"]["steps"] == 200_000 and full["recipe"] == "progressive"
    assert [(s["size"], s["steps"], s["fade"], s["adv"]) for s in st] == [
        (32, 50_000, 0, 1.0), (64, 50_000, 25_000, 1.0), (128, 100_000, 25_000, 0.1)]
    assert [s["losses"]["l1"] for s in st] == [10, 10, 10]
    assert [s["losses"]["perceptual"]["weight"] for s in st] == [1e-2, 1e-2, 1e-3]
    assert [(s["losses"].get("attention"), s["losses"].get("heatmap")) for s in st] == [
        (None, None), (500, 50), (50, 50)]
    g = full["gan"]
    assert (g["discriminator"]["name"], g["loss"], g["gp_weight"], g["drift"], g["order"], g["n_critic"]) == (
        "pfsr-d", "wgan", 10, 0.001, "g_first", 1)
    for k in ("optimizer", "optimizer_d"):
        assert full["train"][k]["lr"] == 1e-3 and full["train"][k]["betas"] == [0.0, 0.99]
    cpu = load_config("pfsr_lfw_cpu")
    assert cpu["train"]["steps"] == 2_000 and cpu["train"]["batch_size"] == 8
    assert {s["losses"]["perceptual"]["fallback"] for s in cpu["progressive"]["stages"]} == {"off"}


# ---------------------------------------------------------------- recipe smoke test
def _prog_cfg(face_folder, out, heatmap_net, g_settings=None, d_settings=None):
    stages = [{"size": 32, "steps": 1, "adv": 1.0, "losses": {"l1": 10}},
              {"size": 64, "steps": 1, "fade": 2, "adv": 1.0,
               "losses": {"l1": 10, "attention": 500, "heatmap": 50}},
              {"size": 128, "steps": 1, "fade": 1, "adv": 0.1,
               "losses": {"l1": 10, "attention": 50, "heatmap": 50}}]
    raw = {
        "name": "pfsr_smoke", "output_dir": str(out), "seed": 0, "recipe": "progressive",
        "model": {"name": "pfsr", "settings": g_settings or {}},
        "data": {"train": {"root": str(face_folder), "cache": str(out / "cache.npy")}},
        "gan": {"discriminator": {"name": "pfsr-d", "settings": d_settings or {}}, "loss": "wgan",
                "gp_weight": 10, "drift": 0.001, "order": "g_first", "n_critic": 1},
        "progressive": {"stages": stages, "heatmap_net": str(heatmap_net)},
        "train": {"batch_size": 2, "optimizer": {"name": "adam", "lr": 1e-3, "betas": [0.0, 0.99]},
                  "optimizer_d": {"name": "adam", "lr": 1e-3, "betas": [0.0, 0.99]}},
        "log": {"every": 1, "val_every": 0, "ckpt_every": 100, "progress": False, "tensorboard": False},
    }
    return load_config(raw=raw)


@pytest.fixture
def fan_file(tmp_path):
    torch.manual_seed(0)
    fan = build("fan-distilled")
    return save_model(fan, tmp_path / "fan.safetensors", fan.facesr_meta)


def _run_two_steps(cfg):
    tr = make_trainer(cfg)
    tr.fit(steps=2)
    logs = [r for r in tr.history if "stage" in r]
    assert [(r["stage"], r["alpha"]) for r in logs] == [(1.0, 1.0), (2.0, 0.0)]
    for r in logs:
        for k in ("l1", "adv", "d_adv", "d_gp"):
            assert k in r and math.isfinite(r[k]), (k, r)
    assert "attention" in logs[1] and "heatmap" in logs[1] and "attention" not in logs[0]
    assert math.isfinite(logs[1]["attention"]) and math.isfinite(logs[1]["heatmap"])
    return tr


def test_progressive_two_steps_small(face_folder, tmp_path, fan_file):
    _run_two_steps(_prog_cfg(face_folder, tmp_path, fan_file, {"width": 32}, {"width": 8, "hidden": 64}))


@pytest.mark.slow
def test_progressive_two_steps_default_widths(face_folder, tmp_path, fan_file):
    _run_two_steps(_prog_cfg(face_folder, tmp_path, fan_file))


def test_a_single_128px_stage_trains_the_whole_generator_at_once(face_folder, tmp_path, fan_file):
    """PFSR's "no progressive" row: one config stage at 128 px runs the generator's last stage (all its
    steps, its 128 px to-RGB) from the first step; the 32 and 64 px to-RGB layers are never used."""
    cfg = _prog_cfg(face_folder, tmp_path, fan_file, {"width": 32}, {"width": 8, "hidden": 64})
    cfg["progressive"]["stages"] = [{"size": 128, "steps": 2, "fade": 0, "adv": 0.1,
                                     "losses": {"l1": 10, "attention": 50, "heatmap": 50}}]
    cfg["train"]["steps"] = 2
    tr = make_trainer(cfg)
    before = {k: v.clone() for k, v in tr.net.state_dict().items()}
    tr.fit()
    assert tr.net_stages == [2]
    after = tr.net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("steps.0.") for k in changed) and any(k.startswith("to_rgb.2.") for k in changed)
    assert not any(k.startswith(("to_rgb.0.", "to_rgb.1.")) for k in changed)
    logs = [r for r in tr.history if "stage" in r]
    assert [(r["stage"], r["alpha"]) for r in logs] == [(1.0, 1.0), (1.0, 1.0)]
    assert all(math.isfinite(r["attention"]) and math.isfinite(r["heatmap"]) for r in logs)


def test_stage_sizes_the_network_lacks_or_fades_across_a_gap_are_config_errors(face_folder, tmp_path, fan_file):
    cfg = _prog_cfg(face_folder, tmp_path / "a", fan_file, {"width": 32}, {"width": 8, "hidden": 64})
    cfg["progressive"]["stages"][0]["size"] = 48
    with pytest.raises(ConfigError, match=r"stages\[0\].size 48: the network's stages output 32, 64, 128 px"):
        make_trainer(cfg)
    cfg = _prog_cfg(face_folder, tmp_path / "b", fan_file, {"width": 32}, {"width": 8, "hidden": 64})
    del cfg["progressive"]["stages"][1]  # 32 px, then 128 px fading in from the (untrained) 64 px stage
    with pytest.raises(ConfigError, match=r"stages\[1\] fades in"):
        make_trainer(cfg)


def test_table2_row_configs_share_one_budget_and_add_one_loss_each():
    rows = {k: load_config(f"pfsr_lfw_t2_{k}") for k in ("pixel_wgan", "feat", "feat_hm", "noprog", "full")}
    assert {c["train"]["steps"] for c in rows.values()} == {2_000}
    assert {(c["seed"], c["train"]["batch_size"]) for c in rows.values()} == {(0, 8)}

    def losses(c):
        return [sorted(s["losses"]) for s in c["progressive"]["stages"]]

    assert losses(rows["pixel_wgan"]) == [["l1"]] * 3
    assert losses(rows["feat"]) == [["l1", "perceptual"]] * 3
    assert losses(rows["feat_hm"]) == [["l1", "perceptual"], ["heatmap", "l1", "perceptual"],
                                       ["heatmap", "l1", "perceptual"]]
    full = rows["full"]["progressive"]["stages"]
    assert losses(rows["full"])[1:] == [["attention", "heatmap", "l1", "perceptual"]] * 2
    assert [(s["size"], s["steps"], s["fade"], s["adv"]) for s in full] == [
        (32, 50_000, 0, 1.0), (64, 50_000, 25_000, 1.0), (128, 100_000, 25_000, 0.1)]
    assert {c["progressive"]["step_scale"] for c in rows.values()} == {0.01}
    (one,) = rows["noprog"]["progressive"]["stages"]
    assert (one["size"], one["fade"]) == (128, 0) and one["losses"] == full[2]["losses"]
    assert {s["losses"]["perceptual"]["fallback"] for c in rows.values() if c is not rows["pixel_wgan"]
            for s in c["progressive"]["stages"]} == {"random"}
    assert rows["pixel_wgan"]["progressive"]["heatmap_net"] is None
    # one pair of networks for every row and the shipped model: the CPU presets
    for c in [*rows.values(), load_config("pfsr_lfw_cpu")]:
        assert (c["model"]["name"], c["gan"]["discriminator"]["name"]) == ("pfsr-lite", "pfsr-lite-d")


def test_a_stage_without_adversarial_term_neither_runs_nor_trains_the_discriminator(face_folder, tmp_path, fan_file):
    """pfsr_lfw_cpu_psnr's stages have ``adv: 0``: the generator trains on its image and facial losses
    alone, the discriminator is never called and its weights wait unchanged; a later stage with an
    adversarial weight trains it as usual."""
    cfg = _prog_cfg(face_folder, tmp_path, fan_file, {"width": 32}, {"width": 8, "hidden": 64})
    cfg["progressive"]["stages"][0]["adv"] = 0
    cfg["progressive"]["stages"][1]["adv"] = 0
    tr = make_trainer(cfg)
    calls = []
    tr.nets["d"].register_forward_hook(lambda *a: calls.append(1))
    d0 = {k: v.clone() for k, v in tr.nets["d"].state_dict().items()}
    g0 = {k: v.clone() for k, v in tr.net.state_dict().items()}
    tr.fit(steps=2)  # stage 1 (32 px) and stage 2 (64 px), one step each, both adv 0
    assert calls == [] and all(torch.equal(d0[k], v) for k, v in tr.nets["d"].state_dict().items())
    assert any(not torch.equal(g0[k], v) for k, v in tr.net.state_dict().items())
    logs = [r for r in tr.history if "stage" in r]
    assert all("adv" not in r and "d_loss" not in r for r in logs)
    assert math.isfinite(logs[1]["attention"]) and math.isfinite(logs[1]["heatmap"])
    tr.fit()  # stage 3 (128 px, adv 0.1): now D runs and steps
    last = [r for r in tr.history if "stage" in r][-1]
    assert last["stage"] == 3.0 and "adv" in last and "d_loss" in last and calls
    assert any(not torch.equal(d0[k], v) for k, v in tr.nets["d"].state_dict().items())


def test_psnr_variant_is_the_cpu_recipe_without_gan_and_perceptual_terms():
    cpu, psnr = load_config("pfsr_lfw_cpu"), load_config("pfsr_lfw_cpu_psnr")
    st = psnr["progressive"]["stages"]
    assert [(s["size"], s["steps"], s["fade"], s["adv"]) for s in st] == [
        (32, 3000, 0, 0), (64, 2000, 250, 0), (128, 1000, 250, 0)]
    assert psnr["train"]["steps"] == 6000
    for a, b in zip(cpu["progressive"]["stages"], st):
        assert {k: v for k, v in a["losses"].items() if k != "perceptual"} == b["losses"]
    assert psnr["model"] == cpu["model"] and psnr["data"] == cpu["data"]
    assert psnr["progressive"]["heatmap_net"] == cpu["progressive"]["heatmap_net"] == "fan-distilled"


# ---------------------------------------------------------------- the shipped model
def test_shipped_pfsr_lite_beats_bicubic_on_the_bundled_face_by_a_margin():
    """The shipped pfsr-lite (float16 file, self-describing, 564,969 params) on the bundled public-domain
    face brought to 16 px by PFSR's bilinear cascade: its x8 output is closer to the original than bicubic
    upsampling of the same LR, by the margin the issue asks of it on Helen-50 (1.5 dB), with higher SSIM."""
    import json

    import numpy as np
    from safetensors import safe_open

    import facesr
    from facesr.checkpoint import META_KEY
    from facesr.data.degrade import make_degradation
    from facesr.data.io import read_image
    from facesr.evaluation.evaluate import bicubic_outputs
    from facesr.metrics import evaluate
    from facesr.inference.sr import super_resolve
    from facesr.registry import ASSETS

    with safe_open(str(ASSETS / "pfsr_lite.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()[META_KEY])
        assert all(f.get_tensor(k).dtype in (torch.float16, torch.int64) for k in f.keys())
    assert meta["provenance"]["stored_dtype"] == "float16" and "6000 steps" in meta["provenance"]["budget"]
    assert meta["provenance"]["config_name"] == "pfsr_lfw_cpu_psnr"
    net = facesr.load("pfsr-lite")
    assert sum(p.numel() for p in net.parameters()) == 564_969
    assert not net.training and next(net.parameters()).dtype == torch.float32

    hr = read_image(ASSETS / "sample_face_hr128.png")
    lr = make_degradation(get_preset("pfsr-lite").degradation, lr_size=16)(hr)
    assert lr.shape == (16, 16, 3)
    sr = super_resolve([lr], net)[0]
    bic = bicubic_outputs([lr], 128)[0]
    assert sr.shape == bic.shape == hr.shape
    m_sr, m_bic = evaluate([sr], [hr], "facesr"), evaluate([bic], [hr], "facesr")
    assert m_sr["psnr"] >= m_bic["psnr"] + 1.5, (m_sr["psnr"], m_bic["psnr"])
    assert m_sr["ssim"] > m_bic["ssim"]
