"""facesr.deploy: every back-end computes every model's function; exporters; cached files checked on load."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import facesr
from facesr import registry
from facesr.errors import FacesrError
from facesr.models.common import SRModel
from facesr.deploy.perturb import perturb_weights

TOL = 1e-4
HAS_ORT = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
HAS_NCNN = all(importlib.util.find_spec(m) is not None for m in ("ncnn", "pnnx"))
SMALL = dict(lr_size=8, hr_size=32, min_feat=16, channels=[4, 8], res_depth=1, hg_mid=4, bottleneck=16)


def _lr(n=2, seed=1, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _kept_backends():
    from facesr.deploy import BACKENDS

    out = []
    for b in BACKENDS:
        if b == "onnxruntime" and not HAS_ORT or b == "ncnn" and not HAS_NCNN:
            continue
        out.append(b)
    return out


def test_import_is_torch_free_and_unknown_backend_is_one_line():
    code = ("import sys; from facesr.deploy import BACKENDS, inference_model; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(','.join(BACKENDS))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "auto,eager,torch,onnxruntime,ncnn"
    from facesr.deploy import inference_model

    with pytest.raises(FacesrError) as e:
        inference_model(facesr.build("sparnet-tiny"), "tensorrt")
    assert "\n" not in str(e.value) and "eager, torch, onnxruntime, ncnn" in str(e.value)


def _shipped_sr_presets():
    """Presets with shipped weights whose network is an SR / restoration model that needs only the LR face
    (not the landmark network fan-distilled, which has no image output, nor a teacher such as
    pkdn-teacher-lite, which also needs the HR face's parsing map: the back-ends serve LR-only models)."""
    return [p.name for p in registry.list_presets()
            if p.weights and isinstance(net := facesr.build(p.name), SRModel) and not net.extra_inputs]


def test_the_inference_entry_refuses_a_landmark_network_in_one_line():
    from facesr.inference.sr import super_resolve

    assert "fan-distilled" in [p.name for p in registry.list_presets() if p.weights]
    assert "fan-distilled" not in _shipped_sr_presets()
    with pytest.raises(FacesrError) as e:
        super_resolve([np.zeros((64, 64, 3), np.uint8)], "fan-distilled")
    assert "\n" not in str(e.value) and "not a face SR or restoration model" in str(e.value)


@pytest.mark.parametrize("name", _shipped_sr_presets())
def test_shipped_models_under_every_backend(name, tmp_path, monkeypatch):
    """Every registry SR model with shipped weights, every kept back-end, within 1e-4 of eager (CPU fp32)."""
    from facesr.deploy import inference_model

    monkeypatch.setenv("FACESR_CACHE", str(tmp_path))
    model = facesr.load(name).eval()
    x = _lr(2, size=model.lr_size)
    with torch.no_grad():
        ref = model(x)
    for b in _kept_backends():
        fast = inference_model(model, b, threads=1)
        out = fast(x)
        assert out.shape == ref.shape and float((out - ref).abs().max()) <= TOL, b
        assert (fast.lr_size, fast.hr_size) == (model.lr_size, model.hr_size)


def _sr_presets():
    return [p.name for p in registry.list_presets() if (p.lr_size, p.hr_size) == (16, 128)]


@pytest.mark.slow
@pytest.mark.parametrize("name", _sr_presets())
def test_every_16_to_128_preset_under_torch(name):
    """The generic ``torch`` path (or the model's own rewrite) holds for every preset, random weights."""
    from facesr.deploy import inference_model

    model = perturb_weights(facesr.build(name)).eval()
    if not isinstance(model, SRModel):
        pytest.skip("not an SR model (a discriminator)")
    args = (_lr(2),)
    if getattr(model, "prior_channels", 0):
        args += (torch.randint(0, model.num_classes, (2, 128, 128), generator=torch.Generator().manual_seed(2)),)
    with torch.no_grad():
        ref = model(*args)
    out = inference_model(model, "torch")(*args)
    assert float((out - ref).abs().max()) <= TOL


@pytest.mark.slow
@pytest.mark.skipif(not HAS_ORT, reason="onnx / onnxruntime not installed")
@pytest.mark.parametrize("name", _sr_presets())
def test_every_lr_only_16_to_128_preset_exports_to_onnx(name, tmp_path):
    """ONNX export (of what the torch back-end runs) holds for every preset that takes the LR face alone."""
    from facesr.deploy.onnx_backend import export_onnx

    model = perturb_weights(facesr.build(name)).eval()
    if not isinstance(model, SRModel) or getattr(model, "prior_channels", 0):
        pytest.skip("not an LR-only SR model (a discriminator or a teacher)")
    res = export_onnx(model, tmp_path / "m.onnx")
    assert res["checked"] and res["ok"], res


def test_generic_rewrite_folds_only_safe_batchnorms():
    """A conv feeding a BatchNorm and a shortcut keeps its BatchNorm; a conv feeding only one folds; an
    in-place activation between conv and BatchNorm blocks folding; hand-written convs fold too."""
    from facesr.deploy.torch_backend import generic_rewrite
    from facesr.models.pfsr.arch import EqualConv2d

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.bn_a = torch.nn.Conv2d(3, 6, 3, padding=1, bias=False), torch.nn.BatchNorm2d(6)
            self.b, self.bn_b = torch.nn.Conv2d(6, 6, 3, padding=1), torch.nn.BatchNorm2d(6)
            self.c, self.act, self.bn_c = torch.nn.Conv2d(6, 6, 1), torch.nn.ReLU(inplace=True), torch.nn.BatchNorm2d(6)
            self.d, self.bn_d = EqualConv2d(6, 6), torch.nn.BatchNorm2d(6)
            self.t, self.bn_t = torch.nn.ConvTranspose2d(6, 3, 4, 2, 1), torch.nn.BatchNorm2d(3)

        def forward(self, x):
            h = self.bn_a(self.a(x))
            y = self.b(h)
            h = self.bn_b(y) + y          # y read twice: bn_b must stay
            h = self.bn_c(self.act(self.c(h)))
            return self.bn_t(self.t(self.bn_d(self.d(h))))

    net = perturb_weights(Net(), forwards=0)
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, 16, 16))
    net.eval()
    new = generic_rewrite(net)
    kinds = {k: type(getattr(new, k)).__name__ for k in ("bn_a", "bn_b", "bn_c", "bn_d", "bn_t")}
    assert kinds == {"bn_a": "Identity", "bn_b": "BatchNorm2d", "bn_c": "BatchNorm2d", "bn_d": "Identity",
                     "bn_t": "Identity"}
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert float((new(x) - net(x)).abs().max()) <= 1e-5 * max(1.0, float(net(x).abs().max()))
    assert all(isinstance(m, torch.nn.BatchNorm2d) for m in (net.bn_a, net.bn_d))  # the model is untouched


def test_torch_backend_keeps_attributes_and_returns_plain_tensors():
    from facesr.deploy import inference_model

    model = perturb_weights(facesr.build("sparnet", **{"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}))
    model.facesr_meta = {"arch": "sparnet", "crop": "lfw"}
    fast = inference_model(model, "torch")
    assert fast.facesr_meta["crop"] == "lfw" and fast.scale == 8 and fast.backend == "torch"
    out = fast(_lr())
    out.add_(0)  # an ordinary tensor: in-place ops work outside inference mode
    assert out.is_contiguous()
    assert len(fast.attention_maps(_lr())) == 7


# ----------------------------------------------------------------------------------------- ONNX
@pytest.mark.skipif(not HAS_ORT, reason="onnx / onnxruntime not installed")
@pytest.mark.parametrize("optimize", [True, False])
def test_onnx_export_matches_pytorch(tmp_path, optimize):
    import onnx

    from facesr.deploy.onnx_backend import export_onnx, ort_session

    model = perturb_weights(facesr.build("sparnet-prelu" if optimize else "sparnet-tiny"))
    path = tmp_path / "m.onnx"
    res = export_onnx(model, path, optimize=optimize)
    assert res["checked"] and res["ok"] and set(res["diffs"]) == {1, 3} and res["max_abs_diff"] <= TOL, res
    g = onnx.load(str(path)).graph
    assert [i.name for i in g.input] == ["lr"] and [o.name for o in g.output] == ["sr"]
    x = _lr(5, seed=7)
    out = ort_session(path).run(["sr"], {"lr": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    assert out.shape == (5, 3, 128, 128) and out.min() >= 0 and out.max() <= 1
    assert float(abs(out - ref).max()) <= TOL


def test_export_without_onnx_is_one_line_error(tmp_path, monkeypatch):
    from facesr.deploy.onnx_backend import export_onnx
    from facesr.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingDependencyError, match=r"facesr\[onnx\]"):
        export_onnx(facesr.build("sparnet-tiny").eval(), tmp_path / "m.onnx")


# ----------------------------------------------------------------------------------------- ncnn
@pytest.fixture(scope="module")
def ncnn_cached(tmp_path_factory):
    if not HAS_NCNN:
        pytest.skip("ncnn / pnnx not installed")
    from facesr.deploy import ncnn_backend as N
    from facesr.models.sparnet import SPARNet

    model = perturb_weights(SPARNet(**SMALL))
    cache = tmp_path_factory.mktemp("cache") / "ncnn"
    lines = []
    runner = N.cached_ncnn(model, cache_dir=cache, progress=lines.append)
    return model, runner, cache, lines


def _close(runner, model):
    x = _lr(2, size=8)
    with torch.no_grad():
        return float((runner(x) - model(x)).abs().max()) <= TOL


def test_ncnn_cache_reused_and_files_hashed(ncnn_cached):
    from facesr.deploy import ncnn_backend as N

    model, runner, cache, lines = ncnn_cached
    assert len(lines) == 1 and _close(runner, model)
    meta = json.loads((cache / (runner.path.rsplit("/", 1)[1][:-6] + ".facesr.json")).read_text())
    assert meta["source_key"] == N.source_key(model) and len(meta["sha256"]["bin"]) == 64
    again = N.cached_ncnn(model, cache_dir=cache, progress=lines.append)
    assert len(lines) == 1 and again.path == runner.path  # no new conversion


def test_tampered_cached_bin_is_rebuilt(ncnn_cached):
    from facesr.deploy import ncnn_backend as N

    model, runner, cache, _ = ncnn_cached
    param, binf, _ = N._files(runner.path)
    data = bytearray(binf.read_bytes())
    data[len(data) // 2:len(data) // 2 + 64] = bytes(64)  # zero some weights: ncnn would run it silently
    binf.write_bytes(bytes(data))
    lines = []
    rebuilt = N.cached_ncnn(model, cache_dir=cache, progress=lines.append)
    assert any("invalid" in ln and "sha256" in ln for ln in lines) and _close(rebuilt, model)
    with pytest.raises(N.NcnnError, match="sha256"):  # an explicit file: a one-line error
        binf.write_bytes(bytes(data))
        N.NcnnSR(param)


@pytest.mark.parametrize("edit", [{"lr_size": 0}, {"hr_size": -3}, {"lr_size": "8"}, {"output": "nope"},
                                  {"input": "x; rm"}, {"format": "other"}, {"sha256": "x"}, {"lr_size": 4}])
def test_tampered_metadata_is_a_clear_error_not_a_crash(ncnn_cached, tmp_path, edit):
    import shutil

    from facesr.deploy import ncnn_backend as N

    model, runner, cache, _ = ncnn_cached
    src = N._files(runner.path)
    dst = N._files(tmp_path / "m.param")
    for a, b in zip(src, dst):
        shutil.copyfile(a, b)
    meta = json.loads(dst[2].read_text())
    meta.update(edit)
    if "digest" in meta and edit.keys() <= {"lr_size"} and edit.get("lr_size") == 4:
        meta["input_shape"] = [3, 4, 4]
        meta["digest"] = N.meta_digest(meta)  # consistent but wrong sizes: caught by the blob / output check
    dst[2].write_text(json.dumps(meta))
    code = ("import sys, torch; from facesr.deploy.ncnn_backend import NcnnSR\n"
            f"r = NcnnSR({str(dst[0])!r})\nr(torch.rand(1, 3, r.lr_size, r.lr_size))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 1, (res.returncode, res.stderr[-500:])  # an exception, not a signal
    assert "NcnnError" in res.stderr or "ValueError" in res.stderr
    lines = []
    param = cache / "t" / src[0].name
    param.parent.mkdir(exist_ok=True)
    for a, b in zip(dst, N._files(param)):
        shutil.copyfile(a, b)
    again = N.cached_ncnn(model, cache_dir=param.parent, progress=lines.append)  # the cache rebuilds it
    assert any("invalid" in ln for ln in lines) and _close(again, model)
