import json

import pytest
import torch
import yaml

from facesr.errors import ConfigError
from facesr.training.config import load_config
from facesr.training.ema import ModelEMA
from facesr.training.trainer import lr_at, make_trainer

from conftest import TINY_SPARNET


def tiny_cfg(face_folder, out, **extra):
    raw = {
        "name": "tiny", "output_dir": str(out), "seed": 3,
        "model": {"name": "sparnet", "settings": TINY_SPARNET},
        "data": {"train": {"root": str(face_folder), "split": "train", "val_fraction": 0.3,
                           "scale_range": [1.0, 1.3], "cache": str(out / "cache_train.npy")},
                 "val": {"root": str(face_folder), "split": "val", "val_fraction": 0.3, "hflip": False}},
        "train": {"batch_size": 2, "steps": 6, "ema": 0.9, "optimizer": {"lr": 1e-3},
                  "scheduler": {"name": "cosine", "warmup": 2}},
        "log": {"every": 2, "val_every": 3, "ckpt_every": 2, "progress": False, "tensorboard": False},
    }
    for k, v in extra.items():
        raw[k] = v
    return load_config(raw=raw)


def _state(tr):
    sd = {f"m.{k}": v.clone() for k, v in tr.model.state_dict().items()}
    sd.update({f"e.{k}": v.clone() for k, v in tr.ema.state_dict().items()})
    return sd


def test_resume_is_bit_exact(face_folder, tmp_path):
    a = make_trainer(tiny_cfg(face_folder, tmp_path / "a"))
    a.fit()
    b = make_trainer(tiny_cfg(face_folder, tmp_path / "b"))
    b.fit(steps=3)
    del b
    b2 = make_trainer(tiny_cfg(face_folder, tmp_path / "b"), resume=True)
    assert b2.step == 3
    b2.fit()
    sa, sb = _state(a), _state(b2)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    # optimiser moments too
    oa, ob = a.optimizer.state_dict()["state"], b2.optimizer.state_dict()["state"]
    assert all(torch.equal(oa[i]["exp_avg"], ob[i]["exp_avg"]) for i in oa)


def test_time_limit_stops_with_a_checkpoint_and_resume_goes_on_exactly(face_folder, tmp_path):
    a = make_trainer(tiny_cfg(face_folder, tmp_path / "a"))
    a.fit()
    cfg = tiny_cfg(face_folder, tmp_path / "b")
    cfg["train"]["max_minutes"] = 1e-9  # over after the first step
    cfg["data"]["train"]["workers"] = 2  # threaded prefetch: same batches as inline
    b = make_trainer(cfg)
    b.fit()
    assert b.step == 1
    del b
    b2 = make_trainer(tiny_cfg(face_folder, tmp_path / "b"), resume=True)
    assert b2.step == 1
    b2.fit()
    sa, sb = _state(a), _state(b2)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    log = [json.loads(x) for x in (tmp_path / "b" / "tiny" / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] == 1 and "loss" in log[0]  # the cut-short window is logged too


def test_training_reduces_loss_and_writes_self_describing_checkpoints(face_folder, tmp_path):
    import facesr
    from facesr.checkpoint import read_meta

    cfg = tiny_cfg(face_folder, tmp_path, train={"batch_size": 4, "steps": 30, "ema": 0.0,
                                                  "optimizer": {"lr": 2e-3}, "scheduler": {"name": "constant"}},
                   log={"every": 5, "val_every": 15, "ckpt_every": 10, "progress": False, "tensorboard": False})
    tr = make_trainer(cfg)
    tr.fit()
    losses = [r["loss"] for r in tr.history if "loss" in r]
    assert losses[-1] < losses[0] * 0.8
    run = tmp_path / "tiny"
    meta = read_meta(run / "final.safetensors")
    assert meta["arch"] == "sparnet" and meta["provenance"]["step"] == 30
    assert "psnr" in meta["metrics"]["val"]
    model = facesr.load(run / "best.safetensors")
    assert model.hr_size == 128 and not model.training
    recs = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert any("val_psnr" in r for r in recs)
    # refusing to silently overwrite a run
    with pytest.raises(ConfigError, match="--resume"):
        make_trainer(cfg)


def test_config_validation_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"model": {"name": "sparnet"}, "data": {"train": {"root": "x"}},
                                 "train": {"lerning_rate": 1}}))
    with pytest.raises(ConfigError, match="train.lerning_rate"):
        load_config(p)
    p.write_text(yaml.safe_dump({"model": {"name": "sparnet"}, "data": {"train": {"root": "x"}}}))
    cfg = load_config(p, ["train.optimizer.lr=1e-3", "train.steps=7", "data.train.scale_range=[1,1.2]"])
    assert cfg["train"]["optimizer"]["lr"] == 1e-3 and cfg["train"]["steps"] == 7
    assert cfg["data"]["train"]["scale_range"] == [1, 1.2]
    with pytest.raises(ConfigError, match="number"):
        load_config(p, ["train.steps=many"])
    with pytest.raises(ConfigError, match="bundled configs"):
        load_config(tmp_path / "missing.yaml")
    # every bundled config is valid
    from facesr.training.config import CONFIG_DIR

    for c in CONFIG_DIR.glob("*.yaml"):
        load_config(c)


def test_lr_schedules():
    s = {"name": "cosine", "warmup": 10, "min_lr": 0.0}
    assert lr_at(0, 1.0, s, 110) == pytest.approx(0.1)
    assert lr_at(10, 1.0, s, 110) == pytest.approx(1.0)
    assert lr_at(60, 1.0, s, 110) == pytest.approx(0.5)
    assert lr_at(110, 1.0, s, 110) == pytest.approx(0.0)
    assert lr_at(25, 1.0, {"name": "step", "milestones": [10, 20], "gamma": 0.5}, 100) == 0.25


def test_ema_averages_buffers():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.BatchNorm2d(1))
    ema = ModelEMA(net, 0.5)
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[1].running_mean.fill_(2.0)
    w0 = float(ema.module[0].weight)
    ema.update(net)
    assert float(ema.module[0].weight) == pytest.approx(0.5 * w0 + 0.5)
    assert float(ema.module[1].running_mean) == pytest.approx(0.5 * 0.0 + 0.5 * 2.0)
    assert ema.decay_at(0) == pytest.approx(0.1)


def test_init_from_a_model_file(face_folder, tmp_path):
    import facesr
    from facesr.checkpoint import save_model

    src = facesr.build("sparnet", **TINY_SPARNET)
    torch.nn.init.constant_(src.net.tail.conv.bias, 0.25)
    p = save_model(src, tmp_path / "init.safetensors",
                   {**src.facesr_meta, "provenance": {"step": 7, "images_seen": 56, "config_name": "stage1"}})
    cfg = tiny_cfg(face_folder, tmp_path, model={"name": "sparnet", "settings": TINY_SPARNET, "init": str(p)})
    tr = make_trainer(cfg)
    assert torch.equal(tr.model.net.tail.conv.bias, torch.full((3,), 0.25))
    # the model file says what it started from, and counts the images of both stages
    prov = tr.model_meta()["provenance"]
    assert prov["init"] == {"file": "init.safetensors",
                            "provenance": {"step": 7, "images_seen": 56, "config_name": "stage1"}}
    assert prov["images_seen_total"] == prov["images_seen"] + 56


def test_init_names_a_model_with_shipped_weights(tmp_path):
    """model.init: a registry name starts from that model's shipped weights; anything else is one error."""
    from facesr.errors import ConfigError
    from facesr.registry import ASSETS
    from facesr.training.trainer import resolve_init

    assert resolve_init("sparnethd-lite") == str(ASSETS / "sparnethd_lite.safetensors")
    f = tmp_path / "x.safetensors"
    f.write_bytes(b"")
    assert resolve_init(str(f)) == str(f)  # a file wins (read and checked later)
    for bad in ("no-such-model", "sparnethd", str(tmp_path / "missing.safetensors")):  # sparnethd: GPU-sized, none ship
        with pytest.raises(ConfigError, match="model.init"):
            resolve_init(bad)


def test_training_log_plot(tmp_path):
    from PIL import Image

    from facesr.errors import FacesrError
    from facesr.training.plots import plot_log, read_log

    recs = [{"step": 20, "lr": 1e-3, "loss": 0.08}, {"step": 40, "lr": 1e-3, "loss": 0.06},
            {"step": 40, "val_psnr": 24.5, "val_ssim": 0.7},
            {"step": 40, "lr": 1e-3, "loss": 0.05},  # a resumed run logged step 40 again: last value wins
            {"step": 60, "lr": 1e-3, "loss": 0.04}, {"step": 60, "val_psnr": 25.0, "val_ssim": 0.72}]
    (tmp_path / "log.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    s = read_log(tmp_path)
    assert s["loss"] == [(20, 0.08), (40, 0.05), (60, 0.04)]
    assert s["val_psnr"] == [(40, 24.5), (60, 25.0)]
    out = plot_log(tmp_path, tmp_path / "c.png", title="t", batch_size=32)
    assert Image.open(out).size == (770, 440)
    with pytest.raises(FacesrError, match="no training log"):
        read_log(tmp_path / "nothing")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "log.jsonl").write_text(json.dumps({"step": 1, "val_psnr": 20.0}) + "\n")
    with pytest.raises(FacesrError, match="no training loss"):
        plot_log(tmp_path / "v", tmp_path / "v.png")


def test_every_preset_recipe_is_bundled_and_trains_that_preset():
    from facesr import registry

    named = [p for p in registry.list_presets() if p.config]
    assert {p.name for p in named} >= {"sparnet", "sparnet-tiny"}
    for p in named:
        cfg = load_config(p.config)  # the name the "no trained weights" error tells users to pass
        assert cfg["model"]["name"] == p.name, p.config


def test_each_recipe_says_the_size_of_the_hr_faces_its_caches_hold():
    """`facesr data` builds caches at the size the recipe trains on, not blindly at the preset's hr_size."""
    from facesr.training.config import load_config
    from facesr.training.recipes import get_recipe

    sizes = {}
    for name in ("sparnet_tiny", "sparnethd_lite", "fan_distilled_lfw", "stylevae_lfw"):
        cfg = load_config(name)
        sizes[name] = get_recipe(cfg["recipe"]).data_hr_size(cfg)
    assert sizes == {"sparnet_tiny": 128, "sparnethd_lite": 128, "fan_distilled_lfw": 128, "stylevae_lfw": 128}
    # the heatmap recipe's preset is 64 px (its input), but its caches hold 128 px faces
    from facesr.registry import get_preset

    assert get_preset("fan-distilled").hr_size == 64


def test_best_model_follows_the_recipes_metric_and_direction():
    from facesr.training.trainer import Trainer

    t = Trainer.__new__(Trainer)  # the rule alone, no run
    t.best = {"psnr": -1.0, "step": -1}
    assert t.is_better({"psnr": 10.0, "ssim": 0.5})  # the first result always wins
    t.best = {"psnr": 25.0, "ssim": 0.7, "step": 100}
    assert t.is_better({"psnr": 25.5}) and not t.is_better({"psnr": 24.0}) and not t.is_better({"nme64": 1.0})

    class LowerIsBetter(Trainer):
        best_metric = ("nme64", False)

    u = LowerIsBetter.__new__(LowerIsBetter)
    u.best = {"nme64": 2.0, "step": 50}
    assert u.is_better({"nme64": 1.5}) and not u.is_better({"nme64": 2.5})
