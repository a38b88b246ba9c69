"""ncnn back-end and export (facesr.inference.ncnn_backend): ncnn's output equals PyTorch's, the cache,
the CLI, clear errors.

One small SPARNet (8 -> 32 px) is converted once per module (a few seconds: tracing + the pnnx binary).
"""
import argparse
import copy
import json
import os
import sys

import pytest
import torch

from facesr.errors import FacesrError, MissingDependencyError
from facesr.models.sparnet import SPARNet
from test_aoti import SMALL
from test_optimize import TOL, _lr, _perturb

pytest.importorskip("ncnn", reason="ncnn is not installed (pip install 'facesr[ncnn]')")
pytest.importorskip("pnnx", reason="pnnx is not installed (pip install 'facesr[ncnn]')")

from facesr.inference import ncnn_backend as N  # noqa: E402


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    model = _perturb(SPARNet(**SMALL))
    model.facesr_meta = {"arch": "sparnet", "preset": "sparnet-small-test", "crop": "lfw"}
    cache = tmp_path_factory.mktemp("cache") / "ncnn"
    lines = []
    runner = N.cached_ncnn(model, cache_dir=cache, progress=lines.append)
    return model, runner, cache, lines


def test_ncnn_matches_pytorch_at_any_batch(converted):
    model, runner, cache, lines = converted
    assert len(lines) == 1 and "converting" in lines[0]
    assert (runner.lr_size, runner.hr_size, runner.scale, runner.backend) == (8, 32, 4, "ncnn")
    assert runner.metadata["preset"] == "sparnet-small-test" and runner.metadata["check"]["ok"]
    assert runner.facesr_meta["crop"] == "lfw"  # enhance reads the crop from the back-end's module
    other = _perturb(copy.deepcopy(model), seed=5)
    for n in (1, 2, 5):
        x = _lr(n, seed=n, size=8)
        with torch.inference_mode():
            ref, out, far = model(x), runner(x), other(x)
        assert out.shape == ref.shape == (n, 3, 32, 32) and out.dtype == torch.float32
        assert float((out - ref).abs().max()) <= TOL
        assert float((out - far).abs().max()) > 1e-3  # it computes this model's weights, not any model's
        assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    with pytest.raises(ValueError, match="N x 3 x 8 x 8"):
        runner(torch.rand(1, 3, 16, 16))


def test_ncnn_files_are_float32_and_whole_model(converted):
    """The .bin holds float32 weights (pnnx would write float16 by default) and the graph is the whole
    model: bicubic input upsampling (MemoryData matrices) in, clamp out."""
    model, runner, _, _ = converted
    param = open(runner.path).read()
    assert "Clip" in param and "MemoryData" in param and "BatchNorm" not in param  # BN folded into convs
    n_weights = sum(p.numel() for p in model.parameters())
    bin_bytes = os.path.getsize(runner.path[:-len(".param")] + ".bin")
    assert bin_bytes >= 4 * n_weights * 0.9  # float16 weights would take half of this


def test_ncnn_cache_is_reused_and_keyed_by_weights(converted, monkeypatch):
    from facesr.inference.artifacts import model_key
    from facesr.inference.runtime import inference_model

    model, runner, cache, _ = converted
    again = []
    assert N.cached_ncnn(model, cache_dir=cache, progress=again.append).path == runner.path and again == []
    monkeypatch.setenv("FACESR_CACHE", str(cache.parent))
    assert N.ncnn_cache_dir() == cache
    fast = inference_model(model, "ncnn")
    assert fast.path == runner.path and fast.backend == "ncnn"
    changed = copy.deepcopy(model)
    with torch.no_grad():
        next(changed.parameters()).add_(1e-3)
    assert model_key(changed, "ncnn", "nearest") != model_key(model, "ncnn", "nearest")


def test_export_cli_writes_checked_ncnn_files(tmp_path, capsys, monkeypatch):
    """``facesr export -o X.param`` writes X.param, X.bin and X.facesr.json and reports the check."""
    from facesr.cli import export as export_cli

    model = _perturb(SPARNet(**SMALL))
    monkeypatch.setattr(export_cli, "_model", lambda args: model)
    ap = argparse.ArgumentParser(prog="facesr")
    export_cli.add_export_parser(ap.add_subparsers(dest="cmd"))
    out = tmp_path / "face.param"
    args = ap.parse_args(["export", "-m", "sparnet", "-o", str(out)])
    assert args.fn(args) == 0
    text = capsys.readouterr().out
    assert "in0 3 x 8 x 8" in text and "out0 3 x 32 x 32" in text and "OK" in text
    meta = json.loads((tmp_path / "face.facesr.json").read_text())
    assert meta["lr_size"] == 8 and meta["hr_size"] == 32 and meta["check"]["max_abs_diff"] <= TOL
    runner = N.NcnnSR(out)  # sizes from the sidecar
    x = _lr(3, seed=9, size=8)
    with torch.inference_mode():
        assert float((runner(x) - model(x)).abs().max()) <= TOL
    for extra, msg in ((["--plain"], "--plain"), (["--static-batch", "2"], "--static-batch")):
        args = ap.parse_args(["export", "-m", "sparnet", "-o", str(tmp_path / "x.param")] + extra)
        assert args.fn(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("facesr: error:") and msg in err and "ncnn" in err


def test_ncnn_file_names_keep_dots_in_the_stem():
    assert [p.name for p in N._files("/x/sparnet.v2.param")] == ["sparnet.v2.param", "sparnet.v2.bin",
                                                                 "sparnet.v2.facesr.json"]
    assert [p.name for p in N._files("face")] == ["face.param", "face.bin", "face.facesr.json"]


def test_ncnn_bad_files_are_clear_errors(converted, tmp_path):
    _, runner, _, _ = converted
    with pytest.raises(FacesrError, match="no ncnn file"):
        N.NcnnSR(tmp_path / "missing.param")
    (tmp_path / "junk.param").write_text("not an ncnn graph\n")
    (tmp_path / "junk.bin").write_bytes(b"\0" * 64)
    with pytest.raises(FacesrError, match="not an ncnn .param"):
        N.NcnnSR(tmp_path / "junk.param")
    (tmp_path / "cut.param").write_text(open(runner.path).read())
    (tmp_path / "cut.bin").write_bytes(open(runner.path[:-6] + ".bin", "rb").read()[:100])
    with pytest.raises(FacesrError, match="cannot load the weights"):
        N.NcnnSR(tmp_path / "cut.param")
    with pytest.raises(FacesrError, match="float32 CPU"):
        N.export_ncnn(SPARNet(**SMALL).double(), tmp_path / "d.param")


def test_ncnn_missing_package_says_how_to_install(monkeypatch, tmp_path, converted):
    _, runner, _, _ = converted
    monkeypatch.setitem(sys.modules, "pnnx", None)  # import pnnx -> ModuleNotFoundError
    with pytest.raises(MissingDependencyError, match=r"pnnx is needed .*pip install 'facesr\[ncnn\]'"):
        N.export_ncnn(_perturb(SPARNet(**SMALL)), tmp_path / "m.param")
    assert not (tmp_path / "m.param").exists()
    monkeypatch.setitem(sys.modules, "ncnn", None)
    with pytest.raises(MissingDependencyError, match=r"ncnn is needed .*pip install 'facesr\[ncnn\]'"):
        N.NcnnSR(runner.path)


def test_ncnn_graph_whose_first_layer_works_in_place(tmp_path):
    """A graph that starts with an in-place layer (SPARNetHD starts with x * 2 - 1) must not write into, or
    crash on, the caller's memory: ncnn segfaulted on an input Mat that borrowed the array's buffer."""
    (tmp_path / "double.param").write_text("7767517\n2 2\nInput in0 0 1 in0\n"
                                           "BinaryOp mul_0 1 1 in0 out0 0=2 1=1 2=2.0\n")
    (tmp_path / "double.bin").write_bytes(b"")
    runner = N.NcnnSR(tmp_path / "double.param", lr_size=8, hr_size=8)
    x = _lr(2, seed=3, size=8)
    keep = x.clone()
    y = runner(x)
    assert torch.equal(x, keep)  # the input is untouched
    assert torch.allclose(y, 2 * keep)
