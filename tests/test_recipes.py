"""Toy tests of every built-in recipe: the loss goes down, and N steps straight equal N/2 + resume + N/2
bit for bit (every trained network, the EMA copy, every optimiser's state)."""
import json

import pytest
import torch

import toy_models  # noqa: F401  (registers the toy presets)
from facesr.checkpoint import save_model
from facesr.errors import ConfigError
from facesr.registry import build
from facesr.training.config import load_config
from facesr.training.recipes.progressive import stage_at
from facesr.training.schedules import weight_at
from facesr.training.trainer import make_trainer
from conftest import snapshot


def make_cfg(face_folder, out, recipe="sr", steps=8, **sections):
    raw = {
        "name": "t", "output_dir": str(out), "seed": 1, "recipe": recipe,
        "model": {"name": "toy-sr"},
        "data": {"train": {"root": str(face_folder), "cache": str(out / "cache.npy"), "scale_range": [1.0, 1.2]}},
        "train": {"batch_size": 4, "steps": steps, "optimizer": {"lr": 3e-3}, "ema": 0.9},
        "log": {"every": 1, "val_every": 0, "ckpt_every": 100, "progress": False, "tensorboard": False},
    }
    for k, v in sections.items():
        raw[k] = {**raw.get(k, {}), **v} if isinstance(v, dict) else v
    return load_config(raw=raw)


def assert_resume_exact(cfg_fn, tmp_path, n, k):
    a = make_trainer(cfg_fn(tmp_path / "a"))
    a.fit()
    b = make_trainer(cfg_fn(tmp_path / "b"))
    b.fit(steps=k)
    del b
    b2 = make_trainer(cfg_fn(tmp_path / "b"), resume=True)
    assert b2.step == k
    b2.fit()
    assert b2.step == n
    sa, sb = snapshot(a), snapshot(b2)
    assert sa.keys() == sb.keys() and len(sa) > 0
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    log_b = [json.loads(x) for x in (tmp_path / "b" / "t" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log_b if "loss" in r or "d_loss" in r] == list(range(1, n + 1))
    return a


def first_last(history, key, k=3):
    vals = [r[key] for r in history if key in r]
    return sum(vals[:k]) / k, sum(vals[-k:]) / k


# ---------------------------------------------------------------- sr
def test_sr_recipe_learns_and_resumes_exactly(face_folder, tmp_path):
    assert_resume_exact(lambda o: make_cfg(face_folder, o, steps=6), tmp_path, 6, 3)
    tr = make_trainer(make_cfg(face_folder, tmp_path / "long", steps=40))
    tr.fit()
    lo, hi = first_last(tr.history, "l1")
    assert hi < 0.8 * lo


# ---------------------------------------------------------------- gan
def gan_cfg(face_folder, out, steps=6, **gan):
    g = {"discriminator": {"name": "toy-d2"}, "loss": "hinge", "feature_matching": 1.0, **gan}
    return make_cfg(face_folder, out, "gan", steps, gan=g, train={"losses": {"l1": 10.0}})


def test_gan_recipe_hinge_feature_matching_resumes_exactly(face_folder, tmp_path):
    a = assert_resume_exact(lambda o: gan_cfg(face_folder, o), tmp_path, 6, 3)
    rec = a.history[-1]
    for key in ("l1", "adv", "fm", "loss", "d_adv", "d_loss", "lr", "lr_d"):
        assert key in rec, key
    assert rec["lr_d"] == pytest.approx(4e-4)  # the D optimiser's own default (SPARNetHD's)
    assert set(a.optimizers) == {"g", "d"}
    assert (tmp_path / "a" / "t" / "checkpoints" / "last" / "d.safetensors").is_file()


def test_gan_recipe_wgan_gp_drift_n_critic(face_folder, tmp_path):
    cfg = lambda o: gan_cfg(face_folder, o, steps=8, discriminator={"name": "toy-d"}, loss="wgan",  # noqa: E731
                            feature_matching=0.0, gp_weight=10.0, drift=1e-3, n_critic=2, order="d_first")
    a = assert_resume_exact(cfg, tmp_path, 8, 3)
    g_steps = [r["step"] for r in a.history if "l1" in r]
    assert g_steps == [1, 3, 5, 7]  # G steps every second iteration (steps 0, 2, ... 0-based)
    assert all("d_gp" in r for r in a.history if "d_loss" in r)
    long = make_trainer(gan_cfg(face_folder, tmp_path / "long", steps=40, discriminator={"name": "toy-d"},
                                loss="wgan", feature_matching=0.0, gp_weight=10.0, drift=1e-3))
    long.fit()
    lo, hi = first_last(long.history, "l1")
    assert hi < lo


def test_gan_config_errors(face_folder, tmp_path):
    with pytest.raises(ConfigError, match="optimizer_d"):  # a D optimiser key is no key of the sr recipe
        make_cfg(face_folder, tmp_path, train={"optimizer_d": {"lr": 1e-4}})
    with pytest.raises(ConfigError, match="did you mean gan.n_critic"):
        gan_cfg(face_folder, tmp_path, n_critc=2)
    with pytest.raises(ConfigError, match="gan.loss"):
        gan_cfg(face_folder, tmp_path, loss="hingee")
    with pytest.raises(ConfigError, match="discriminator.name"):
        make_cfg(face_folder, tmp_path, "gan")


# ---------------------------------------------------------------- progressive
def prog_cfg(face_folder, out, scale=1.0):
    stages = [{"size": 16, "steps": 4, "losses": {"l1": 10.0}, "adv": 0.1},
              {"size": 32, "steps": 6, "fade": 4, "losses": {"l1": 10.0, "mse": 1.0}, "adv": 0.1}]
    return make_cfg(face_folder, out, "progressive", model={"name": "toy-prog-g"},
                    gan={"discriminator": {"name": "toy-prog-d"}, "loss": "wgan", "gp_weight": 10.0, "drift": 1e-3},
                    progressive={"stages": stages, "step_scale": scale})


def test_stage_and_alpha_follow_the_step():
    st = [{"steps": 4, "fade": 0}, {"steps": 6, "fade": 4}]
    got = [stage_at(st, s) for s in range(10)]
    assert got[:4] == [(0, 1.0)] * 4
    assert got[4:] == [(1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1.0), (1, 1.0)]


def test_progressive_recipe_passes_all_stages_and_resumes_mid_fade(face_folder, tmp_path):
    a = assert_resume_exact(lambda o: prog_cfg(face_folder, o), tmp_path, 10, 6)  # resume at alpha 0.5
    assert a.total_steps == 10
    logs = [r for r in a.history if "stage" in r]
    assert [r["stage"] for r in logs] == [1] * 4 + [2] * 6
    assert [r["alpha"] for r in logs][4:] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    assert "mse" in logs[-1] and "mse" not in logs[0]  # each stage's own losses
    # step_scale shortens every stage
    assert make_trainer(prog_cfg(face_folder, tmp_path / "s", scale=0.5)).total_steps == 5


def test_progressive_config_errors(face_folder, tmp_path):
    base = {"discriminator": {"name": "toy-prog-d"}}
    with pytest.raises(ConfigError, match="did you mean steps"):
        make_cfg(face_folder, tmp_path, "progressive", gan=base,
                 progressive={"stages": [{"size": 16, "stesp": 4, "losses": {"l1": 1}}]})
    with pytest.raises(ConfigError, match="heatmap_net"):
        make_cfg(face_folder, tmp_path, "progressive", gan=base,
                 progressive={"stages": [{"size": 16, "steps": 4, "losses": {"attention": 1}}]})


# ---------------------------------------------------------------- distill
def test_weight_schedules():
    kd = [[0, 10], [10, 0]]
    assert [weight_at(kd, e) for e in (0, 2.5, 10, 12)] == [10, 7.5, 0, 0]
    jump = [[0, 0.1], [10, 0.1], [10, 0.0]]
    assert weight_at(jump, 9.99) == 0.1 and weight_at(jump, 10) == 0.0
    assert weight_at(3, 100) == 3.0


def teacher_file(tmp_path):
    torch.manual_seed(0)
    t = build("toy-teacher")
    path = tmp_path / "teacher.safetensors"
    save_model(t, path, t.facesr_meta)
    return path


def parsing_file(tmp_path, n=24):
    import numpy as np

    maps = np.zeros((n, 32, 32), np.uint8)
    maps[:, 8:24, 10:22] = 1  # a 'face' label in the middle of every HR face
    path = tmp_path / "parsing.npy"
    np.save(path, maps)
    return path


def dist_cfg(face_folder, out, teacher, steps=6, priors=None, **d):
    data = {"train": {"priors": {"parsing": str(priors)}}} if priors else {}
    d = {"teacher": str(teacher), "feature_weight": [[0, 10], [4, 0]], "output_weight": 0.5,
         "teacher_inputs": ["parsing"] if priors else [], **d}
    cfg = make_cfg(face_folder, out, "distill", steps, distill=d)
    if priors:
        cfg["data"]["train"]["priors"] = {"parsing": str(priors)}
    return cfg


def test_distill_recipe_uses_the_frozen_teacher_and_resumes_exactly(face_folder, tmp_path):
    teacher = teacher_file(tmp_path)
    priors = parsing_file(tmp_path)  # the teacher takes a parsing map from the samples, as PKDN's does
    a = assert_resume_exact(lambda o: dist_cfg(face_folder, o, teacher, priors=priors), tmp_path, 6, 3)
    assert "feature" in a.history[0] and "output" in a.history[0]
    assert a.history[0]["feature"] > 0
    prov = json.loads(__import__("safetensors").safe_open(str(tmp_path / "a" / "t" / "final.safetensors"), "pt")
                      .metadata()["facesr"])["provenance"]
    assert prov["frozen"]["teacher"]["file"] == "teacher.safetensors"
    # the teacher's weights never change
    t2 = build("toy-teacher")
    from facesr.checkpoint import read_weights

    t2.load_state_dict(read_weights(teacher))
    for k, v in a.frozen["teacher"].state_dict().items():
        assert torch.equal(v, t2.state_dict()[k])


def test_distillation_pulls_student_features_towards_the_teacher(face_folder, tmp_path):
    teacher = teacher_file(tmp_path)
    tr = make_trainer(dist_cfg(face_folder, tmp_path / "d", teacher, steps=30, priors=parsing_file(tmp_path),
                               feature_weight=10.0, output_weight=0.0))
    tr.fit()
    lo, hi = first_last(tr.history, "feature")
    assert hi < 0.9 * lo


def test_distill_config_errors(face_folder, tmp_path):
    with pytest.raises(ConfigError, match="distill.teacher"):
        make_cfg(face_folder, tmp_path, "distill")
    with pytest.raises(ConfigError, match="feature_weight"):
        dist_cfg(face_folder, tmp_path, "x.safetensors", feature_weight=[[5, 1], [2, 0]])


# ---------------------------------------------------------------- mixed precision, data sources
def test_gan_with_two_optimisers_under_bf16_autocast_resumes_exactly(face_folder, tmp_path):
    def cfg(o):
        c = gan_cfg(face_folder, o, steps=4, discriminator={"name": "toy-d"}, loss="wgan", feature_matching=0.0,
                    gp_weight=10.0)
        c["train"]["precision"] = "bf16"
        return c

    a = assert_resume_exact(cfg, tmp_path, 4, 2)
    assert all(r["loss"] == r["loss"] and r["d_loss"] == r["d_loss"] for r in a.history)  # no NaN


def test_sr_model_trains_on_lr_made_by_a_learned_degradation(face_folder, tmp_path):
    import numpy as np

    torch.manual_seed(0)
    deg = build("toy-degrader")
    with torch.no_grad():
        deg.blur.weight.fill_(1 / 9)
    path = tmp_path / "degrader.safetensors"
    save_model(deg, path, deg.facesr_meta)
    cfg = make_cfg(face_folder, tmp_path / "r", steps=2,
                   data={"train": {"root": str(face_folder), "cache": str(tmp_path / "c.npy"), "hflip": False,
                                   "degradation": {"kind": "learned", "checkpoint": str(path)}}})
    tr = make_trainer(cfg)
    s = tr.train_set.item(0)
    with torch.no_grad():
        want = deg(torch.from_numpy(s["hr"].astype(np.float32) / 255).permute(2, 0, 1)[None])
    want = (want[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert s["lr"].shape == (8, 8, 3)
    assert np.abs(s["lr"].astype(int) - want.astype(int)).max() <= 1  # the network's LR, not bicubic
    assert tr.model_meta()["provenance"]["degradation"]["kind"] == "learned"
    tr.fit()


def test_unpaired_real_lr_faces_come_with_every_sample(face_folder, tmp_path):
    cfg = make_cfg(face_folder, tmp_path / "u", steps=1,
                   data={"train": {"root": str(face_folder), "cache": str(tmp_path / "c.npy"),
                                   "unpaired": {"root": str(face_folder), "size": 8}}})
    tr = make_trainer(cfg)
    b = tr.sampler.next_batch()
    assert b["real_lr"].shape == (4, 3, 8, 8) and b["lr"].shape == (4, 3, 8, 8)


def test_sr_recipe_hands_the_network_the_inputs_it_names(face_folder, tmp_path):
    """A teacher trains with its parsing map (model.inputs), and a missing key is a one-line error."""
    cfg = make_cfg(face_folder, tmp_path / "t", steps=3, model={"name": "toy-teacher", "inputs": ["parsing"]})
    cfg["data"]["train"]["priors"] = {"parsing": str(parsing_file(tmp_path))}
    tr = make_trainer(cfg)
    tr.fit()
    assert tr.history[-1]["loss"] == tr.history[-1]["loss"]
    cfg = make_cfg(face_folder, tmp_path / "t2", steps=1, model={"name": "toy-teacher", "inputs": ["parsing"]})
    with pytest.raises(ConfigError, match="model.inputs names 'parsing'"):
        make_trainer(cfg).fit()


def test_progressive_best_model_is_the_whole_generator(face_folder, tmp_path):
    """best.safetensors of a progressive run comes from the last stage at full fade-in, even when an
    earlier stage (a smaller, easier image) scored a higher validation PSNR."""
    from facesr.checkpoint import read_meta

    cfg = prog_cfg(face_folder, tmp_path)
    cfg["data"]["val"] = {**cfg["data"]["train"], "cache": str(tmp_path / "val.npy"), "max_images": 4}
    cfg["log"]["val_every"] = 2
    tr = make_trainer(cfg)
    tr.fit()
    vals = {r["step"]: r["val_psnr"] for r in tr.history if "val_psnr" in r}
    assert sorted(vals) == [2, 4, 6, 8, 10]
    best = read_meta(tr.run_dir / "best.safetensors")["provenance"]["step"]
    # stage 2 (steps 5-10) fades in over steps 5-8: alpha is 1 from step 9 on, so only 10 competes
    assert best == 10 and tr.best["step"] == 10
