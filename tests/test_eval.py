"""Evaluation: each model gets LR made by its own synthesis; protocols see float outputs."""
import csv

import numpy as np
import pytest
import torch

import facesr
from facesr import registry
from facesr.data.resize import pil_resize
from facesr.errors import FacesrError
from facesr.evaluation.evaluate import TestSet as FaceSet
from facesr.evaluation.evaluate import model_degradation, run_eval, save_results, synthesize_lr, to_uint8
from facesr.metrics import evaluate as metric_evaluate
from facesr.models.common import SRModel

from conftest import TINY_SPARNET


class Recorder(SRModel):
    """PIL-bicubic upsampling times a learnable 1 that remembers every LR batch it is given."""

    def __init__(self, lr_size: int = 16, hr_size: int = 128):
        super().__init__()
        self.lr_size, self.hr_size = lr_size, hr_size
        self.gain = torch.nn.Parameter(torch.ones(()))
        self.seen: list[torch.Tensor] = []

    def forward(self, lr):
        self.check_input(lr)
        self.seen.append(lr.clone())
        return self.finish(self.upsample_input(lr) * self.gain)


@pytest.fixture
def recorder_presets():
    """Arch 'test-recorder' and two presets with different LR syntheses, removed again afterwards."""
    registry._ensure_loaded()
    registry.register_arch("test-recorder")(lambda **kw: Recorder(**kw))
    names = ["test-rec-bicubic", "test-rec-bicubic32"]
    registry.register_preset(registry.Preset(names[0], "test-recorder", {}, degradation={"kind": "bicubic"}))
    registry.register_preset(registry.Preset(names[1], "test-recorder", {"lr_size": 32}, lr_size=32,
                                             degradation={"kind": "bicubic"}))
    yield names
    registry._ARCHS.pop("test-recorder")
    for n in names:
        registry._PRESETS.pop(n)


def _faces(n=4, size=128):
    from skimage import data

    a = data.astronaut()
    return [pil_resize(np.ascontiguousarray(a[40 * i:40 * i + 300, 60 * i:60 * i + 300]), size, "bicubic")
            for i in range(n)]


def _seen(model):
    return np.concatenate([t.permute(0, 2, 3, 1).numpy() for t in model.seen])


def test_each_model_gets_its_own_lr_synthesis(tmp_path, recorder_presets):
    hr = _faces()
    test = FaceSet("faces", [], hr)
    cubic = facesr.build(recorder_presets[0]).eval()  # degradation from its preset
    cubic32 = facesr.build(recorder_presets[1]).eval()  # same kind, other LR size
    cascade = facesr.build(recorder_presets[0]).eval()
    cascade.facesr_meta["degradation"] = {"kind": "bilinear_cascade"}  # a model file's own entry wins
    res = run_eval({"cubic": cubic, "cascade": cascade, "cubic32": cubic32}, test, ["facesr"])

    # each model saw exactly its own synthesis' LR faces
    lr_cubic = np.stack([pil_resize(h, 16, "bicubic") for h in hr])
    lr_cascade = np.stack([pil_resize(pil_resize(pil_resize(h, 64, "bilinear"), 32, "bilinear"), 16, "bilinear")
                           for h in hr])
    assert np.array_equal(np.round(_seen(cubic) * 255).astype(np.uint8), lr_cubic)
    assert np.array_equal(np.round(_seen(cascade) * 255).astype(np.uint8), lr_cascade)
    assert _seen(cubic32).shape == (4, 32, 32, 3)
    assert np.abs(lr_cubic.astype(int) - lr_cascade.astype(int)).mean() > 0.5  # the LR faces really differ

    rows = {r.method: r for r in res}
    assert [r.method for r in res] == ["Bicubic (PIL bicubic 128->16)", "Bicubic (bilinear_cascade)",
                                       "Bicubic (PIL bicubic 128->32)", "cubic", "cascade", "cubic32"]
    assert rows["cubic"].lr == "PIL bicubic 128->16" and rows["cubic32"].lr == "PIL bicubic 128->32"
    assert rows["cascade"].lr == rows["Bicubic (bilinear_cascade)"].lr == "PIL bilinear cascade 128->64->32->16"
    # a model that upsamples like PIL scores like the bicubic baseline of its own LR (float vs uint8 output)
    for m, b in (("cubic", "Bicubic (PIL bicubic 128->16)"), ("cascade", "Bicubic (bilinear_cascade)")):
        assert abs(rows[m].metrics["facesr"]["psnr"] - rows[b].metrics["facesr"]["psnr"]) < 0.05
    assert rows["cubic32"].metrics["facesr"]["psnr"] > rows["cubic"].metrics["facesr"]["psnr"] + 1

    save_results(res, ["facesr"], "faces", tmp_path)
    table = list(csv.DictReader(open(tmp_path / "faces.csv")))
    assert [(r["method"], r["lr"]) for r in table] == [(r.method, r.lr) for r in res]
    assert all(len(r["psnr"].split(".")[1]) == 4 for r in table)
    md = (tmp_path / "faces.md").read_text()
    assert "| cascade | PIL bilinear cascade 128->64->32->16 |" in md


def test_one_synthesis_one_bicubic_row_and_lr_made_once(recorder_presets, monkeypatch):
    import facesr.evaluation.evaluate as ev

    calls = []
    real = ev.synthesize_lr
    monkeypatch.setattr(ev, "synthesize_lr", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    a, b = facesr.build(recorder_presets[0]).eval(), facesr.build(recorder_presets[0]).eval()
    res = run_eval({"a": a, "b": b}, FaceSet("faces", [], _faces(2)), ["facesr"])
    assert [r.method for r in res] == ["Bicubic", "a", "b"] and len(calls) == 1
    assert res[1].synthesis is res[2].synthesis


def test_float_outputs_reach_the_protocol_unrounded():
    """Model outputs are scored as floats: under 'sparnet' that is truncation to uint8 (the protocol's own
    quantisation), not the rounding an uint8 output would have had."""
    hr = _faces(3)
    from facesr.deploy.perturb import perturb_weights

    m = perturb_weights(facesr.build("sparnet", **TINY_SPARNET))
    res = run_eval({"m": m}, FaceSet("faces", [], hr), ["sparnet", "facesr"], include_bicubic=False)
    out = res[0].outputs
    assert all(o.dtype == np.float32 and o.shape == (128, 128, 3) and 0 <= o.min() <= o.max() <= 1 for o in out)
    trunc = [np.trunc(np.clip(o.astype(np.float64) * 255, 0, 255)).astype(np.uint8) for o in out]
    assert res[0].metrics["sparnet"]["psnr"] == metric_evaluate(trunc, hr, "sparnet")["psnr"]
    rnd = [np.round(np.clip(o.astype(np.float64) * 255, 0, 255)).astype(np.uint8) for o in out]
    assert res[0].metrics["facesr"]["psnr"] == metric_evaluate(rnd, hr, "facesr")["psnr"]
    # what scoring uint8 outputs (rounded first) gave under 'sparnet': a different figure
    assert abs(metric_evaluate(rnd, hr, "sparnet")["psnr"] - res[0].metrics["sparnet"]["psnr"]) > 1e-3
    # super_resolve: the float path is the uint8 path before rounding
    from facesr.inference.sr import super_resolve

    lrs = [pil_resize(h, 16, "bicubic") for h in hr]
    f = super_resolve(lrs, m, as_float=True)
    u = super_resolve(lrs, m)
    assert all(np.array_equal(to_uint8(a), b) for a, b in zip(f, u))


def test_model_degradation_lookup():
    m = facesr.build("sparnet", **TINY_SPARNET)
    assert model_degradation(m) == {"kind": "bicubic"}  # its preset's
    m.facesr_meta["degradation"] = "bilinear_cascade"
    assert model_degradation(m) == {"kind": "bilinear_cascade"}
    m.facesr_meta = {"preset": "no-such-preset"}
    assert model_degradation(m) == {"kind": "bicubic"}
    assert model_degradation(torch.nn.Identity()) == {"kind": "bicubic"}


def test_random_synthesis_is_seeded_per_face():
    from facesr.data.degrade import make_degradation

    hr = _faces(3)
    spec = {"kind": "sparnethd_blind", "size_range": [16, 32]}
    a, b = synthesize_lr(hr, spec, 32), synthesize_lr(hr[1:2], spec, 32)
    deg = make_degradation(spec, lr_size=32)
    assert all(np.array_equal(x, deg(h, np.random.default_rng(i))) for i, (x, h) in enumerate(zip(a.lrs, hr)))
    assert a.lrs[0].shape == (32, 32, 3) and np.array_equal(b.lrs[0], deg(hr[1], np.random.default_rng(0)))


def test_hr_size_mismatch_is_a_clear_error():
    with pytest.raises(FacesrError, match="256 px faces"):
        run_eval({"big": Recorder(16, 256)}, FaceSet("faces", [], _faces(1)), ["facesr"])


def test_cli_eval_names_the_set_and_the_lr(tmp_path, capsys, face_folder):
    from facesr.checkpoint import save_model
    from facesr.cli import main

    m = facesr.build("sparnet", **TINY_SPARNET).eval()
    p = save_model(m, tmp_path / "tiny.safetensors", {**m.facesr_meta, "degradation": {"kind": "bilinear_cascade"}})
    assert main(["eval", "-m", str(p), "--data", str(face_folder / "person_0"), "--protocol", "sparnet",
                 "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "person_0: 4 faces" in out and "PIL bilinear cascade 128->64->32->16" in out
    rows = list(csv.DictReader(open(tmp_path / "out" / "person_0.csv")))
    assert [r["method"] for r in rows] == ["Bicubic", str(p)]
    assert all(r["lr"] == "PIL bilinear cascade 128->64->32->16" for r in rows)
