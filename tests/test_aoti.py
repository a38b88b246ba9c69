"""AOTInductor packages (facesr.inference.aoti): compiled output equals PyTorch's, the cache, clear errors.

The compiled tests build one small SPARNet (8 -> 32 px, three units) once per module: compiling takes
about half a minute on the 2-core test machine.
"""
import argparse
import copy

import pytest
import torch

from facesr.errors import FacesrError
from facesr.inference import aoti as A
from facesr.models.sparnet import SPARNet
from test_optimize import TINY, TOL, _lr, _perturb

AOTI_REASON = A.aoti_unavailable_reason()
SMALL = dict(lr_size=8, hr_size=32, min_feat=16, channels=[4, 8], res_depth=1, hg_mid=4, bottleneck=16)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    if AOTI_REASON:
        pytest.skip(AOTI_REASON)
    model = _perturb(SPARNet(**SMALL))
    model.facesr_meta = {"arch": "sparnet", "preset": "sparnet-small-test", "crop": "lfw"}
    cache = tmp_path_factory.mktemp("cache") / "aoti"
    lines = []
    runner = A.cached_aoti(model, cache_dir=cache, progress=lines.append)
    return model, runner, cache, lines


def test_aoti_package_matches_pytorch(compiled):
    model, runner, cache, lines = compiled
    assert len(lines) == 1 and "compiling" in lines[0]
    assert (runner.lr_size, runner.hr_size, runner.batch, runner.scale) == (8, 32, None, 4)
    assert runner.metadata["facesr_threads"] == str(torch.get_num_threads())
    assert runner.metadata["facesr_preset"] == "sparnet-small-test"  # the package says what it holds
    assert runner.facesr_meta["crop"] == "lfw"  # enhance reads the crop from the back-end's module
    other = _perturb(copy.deepcopy(model), seed=5)
    for n in (1, 2, 5):  # one package, any batch size
        x = _lr(n, seed=n, size=8)
        with torch.inference_mode():
            ref, out, far = model(x), runner(x), other(x)
        assert out.shape == ref.shape == (n, 3, 32, 32)
        assert float((out - ref).abs().max()) <= TOL
        assert float((out - far).abs().max()) > 1e-3  # it computes this model's weights, not any model's
    with pytest.raises(ValueError, match="N x 3 x 8 x 8"):
        runner(torch.rand(1, 3, 16, 16))


def test_aoti_cache_is_reused_and_keyed_by_weights_batch_and_threads(compiled, monkeypatch):
    from facesr.inference.runtime import inference_model

    model, runner, cache, _ = compiled
    again = []
    assert A.cached_aoti(model, cache_dir=cache, progress=again.append).path == runner.path and again == []
    monkeypatch.setenv("FACESR_CACHE", str(cache.parent))  # the back-end finds the same package
    assert A.aoti_cache_dir() == cache
    fast = inference_model(model, "aoti")
    assert fast.path == runner.path and fast.backend == "aoti"
    key = A._cache_key(model, None)
    changed = copy.deepcopy(model)
    with torch.no_grad():
        next(changed.parameters()).add_(1e-3)
    assert A._cache_key(changed, None) != key
    assert A._cache_key(model, 4) != key
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert A._cache_key(model, None) != key
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_aoti_static_batch_winograd_package(tmp_path):
    """A batch-2 package whose wide 3x3 convs are Winograd F(2x2, 3x3): as close to eager as the default."""
    if AOTI_REASON:
        pytest.skip(AOTI_REASON)
    model = _perturb(SPARNet(**SMALL))
    info = A.compile_aoti(model, tmp_path / "b2.pt2", batch=2, winograd=2, winograd_min_channels=8)
    assert info["ok"] and info["batch"] == 2 and list(info["diffs"]) == [2]
    runner = A.AotiSR(tmp_path / "b2.pt2")
    assert runner.batch == 2 and runner.metadata["facesr_opt_winograd"] == "2"
    with pytest.raises(ValueError, match="compiled for batch 2"):
        runner(_lr(1, size=8))


def test_aoti_without_a_compiler_is_a_clear_error(monkeypatch, tmp_path, capsys):
    from facesr.cli.export import add_export_parser
    from facesr.inference.runtime import inference_model

    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(A.shutil, "which", lambda name: None)
    reason = A.aoti_unavailable_reason()
    assert reason and ("C++ compiler" in reason or "torch >=" in reason)
    with pytest.raises(FacesrError, match="backend 'torch'"):
        inference_model(SPARNet(**TINY), "aoti")
    ap = argparse.ArgumentParser(prog="facesr")
    add_export_parser(ap.add_subparsers(dest="cmd"))
    args = ap.parse_args(["export", "-m", "sparnet", "-o", str(tmp_path / "m.pt2"), "--random-weights"])
    assert args.fn(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("facesr: error:") and "backend 'torch'" in err and "\n" not in err
    assert not (tmp_path / "m.pt2").exists()


def test_export_cli_option_checks(tmp_path, capsys):
    from facesr.cli.export import add_export_parser

    ap = argparse.ArgumentParser(prog="facesr")
    add_export_parser(ap.add_subparsers(dest="cmd"))
    for argv, msg in ((["-o", str(tmp_path / "m.onnx"), "--static-batch", "2"], "--static-batch"),
                      (["-o", str(tmp_path / "m.pt2"), "--plain"], "--plain"),
                      (["-o", str(tmp_path / "m.txt")], ".pt2")):
        args = ap.parse_args(["export", "-m", "sparnet", "--random-weights", *argv])
        assert args.fn(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("facesr: error:") and msg in err and "\n" not in err


@pytest.mark.skipif(A._torch_version() < A._MIN_TORCH, reason="torch too old for AOTInductor packages")
def test_missing_or_foreign_packages_are_clear_errors(tmp_path):
    with pytest.raises(A.AotiError, match="no AOTInductor package"):
        A.AotiSR(tmp_path / "none.pt2")
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(b"this is not a package")
    with pytest.raises(A.AotiError, match="cannot load"):
        A.AotiSR(bad)
