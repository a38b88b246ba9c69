"""facesr.inference.optimize (fast inference copy) and facesr.inference.export (ONNX + ORT check)."""
import copy
import importlib.util

import pytest
import torch

import facesr
from facesr.inference.optimize import OptimizedSR, mkldnn_available, optimize_for_inference
from facesr.models.perturb import perturb_weights
from facesr.models.sparnet import SPARNet, SPARNetBody

TINY = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}
TOL = 1e-4  # max abs difference allowed on the [0, 1] outputs
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


_perturb = perturb_weights  # non-trivial weights: outputs that vary (the short name the tests use)


def _lr(n=2, seed=1, size=16):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", ["sparnet", "sparnet-3d", "sparnet-baseline", "sparnet-prelu"])
def test_optimized_equals_eager(preset):
    model = _perturb(facesr.build(preset, **TINY))
    x = _lr()
    with torch.inference_mode():
        ref = model(x)
        ref_body = model.net(model.upsample_input(x) * 2 - 1)
        assert float(ref.std()) > 0.05, "test weights too weak to tell outputs apart"
        for kw in ({}, {"up_mode": "subpixel"}, {"up_mode": "nearest"}, {"channels_last": False},
                   {"mkldnn": True}, {"mkldnn": True, "up_mode": "subpixel"},
                   {"mkldnn": True, "up_mode": "subpixel", "channels_last": False}):
            opt = optimize_for_inference(model, **kw)
            out = opt(x)
            assert out.shape == ref.shape
            assert float((out - ref).abs().max()) <= TOL, (preset, kw)
            body = opt.net(opt.upsample_input(x) * 2 - 1)
            assert float((body - ref_body).abs().max()) <= 1e-5 * max(1.0, float(ref_body.abs().max())), kw


def test_rewrites_are_exact_in_float64():
    """Every rewrite is algebra: in float64 the optimised copy matches to ~1e-12 even with weights large
    enough that float32 rounding alone would show."""
    for preset in ("sparnet", "sparnet-prelu", "sparnet-3d"):
        model = _perturb(facesr.build(preset, **TINY), gain=1.4).double()
        x = _lr().double()
        with torch.inference_mode():
            ref = model.net(model.upsample_input(x) * 2 - 1)
            for mode in ("subpixel", "transposed"):
                opt = optimize_for_inference(model, up_mode=mode)
                out = opt.net(opt.upsample_input(x) * 2 - 1)
                assert out.dtype == torch.float64
                assert float((out - ref).abs().max()) <= 1e-9 * float(ref.abs().max()), (preset, mode)


def test_original_model_untouched():
    model = _perturb(facesr.build("sparnet", **TINY))
    model.train()
    before = copy.deepcopy(model.state_dict())
    modules = [type(m) for m in model.modules()]
    opt = optimize_for_inference(model)
    assert model.training  # mode restored
    assert [type(m) for m in model.modules()] == modules
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert isinstance(opt, OptimizedSR) and not opt.training
    assert not any(p.requires_grad for p in opt.parameters())
    assert not set(map(id, opt.parameters())) & set(map(id, model.parameters()))
    assert (opt.lr_size, opt.hr_size, opt.scale) == (16, 128, 8)
    assert opt.facesr_meta["preset"] == "sparnet"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in opt.modules())  # all folded
    model.eval()
    with torch.inference_mode():
        for n in (1, 3):  # weights packed for the first batch size serve any other
            x = _lr(n, seed=n)
            assert float((opt(x) - model(x)).abs().max()) <= TOL
        twin = copy.deepcopy(opt)  # oneDNN-packed weights are a cache, not state: the copy still works
        assert torch.equal(twin(x), opt(x))


@pytest.mark.skipif(not mkldnn_available(), reason="this torch build lacks oneDNN's fused conv ops")
def test_onednn_weights_repacked_per_batch_size_and_thread_count():
    """oneDNN lays a packed weight out for one input shape and thread count; running another batch size or
    thread count on it makes oneDNN reorder it on every call (measured 22 % / 4x slower), so each conv keeps
    one plan per (shape, threads), reusing the packed weight between its fused / unfused calls."""
    model = _perturb(facesr.build("sparnet", **TINY))
    opt = optimize_for_inference(model)
    convs = [m for m in opt.modules() if getattr(m, "use_mkldnn", False)]
    assert convs
    threads = torch.get_num_threads()
    with torch.inference_mode():
        for n in (1, 2, 1):
            assert float((opt(_lr(n, seed=n)) - model(_lr(n, seed=n))).abs().max()) <= TOL
        assert all({(k[1], k[2][0]) for k in c._plans} == {(threads, 1), (threads, 2)} for c in convs)
        packed = {id(p[1]) for c in convs for p in c._plans.values()}
        assert len(packed) == 2 * len(convs)  # one packed weight per conv and batch size
        if threads > 1:
            torch.set_num_threads(1)
            try:
                assert float((opt(_lr(1)) - model(_lr(1))).abs().max()) <= TOL
            finally:
                torch.set_num_threads(threads)
            assert all((1, 1) in {(k[1], k[2][0]) for k in c._plans} for c in convs)

        for n in range(1, 7):  # more batch sizes than packings kept: the oldest are dropped, results stay right
            assert float((opt(_lr(n, seed=n)) - model(_lr(n, seed=n))).abs().max()) <= TOL
        assert all(len(c._packs) == c.MAX_PACKINGS and {k[1:] for k in c._plans} <= set(c._packs) for c in convs)


@pytest.mark.skipif(not mkldnn_available(), reason="this torch build lacks oneDNN's fused conv ops")
def test_packed_weights_follow_in_place_weight_updates():
    """``load_state_dict`` copies into the same tensors: the packed copies must not outlive the old values."""
    a = optimize_for_inference(_perturb(facesr.build("sparnet", **TINY), seed=0))
    b = optimize_for_inference(_perturb(facesr.build("sparnet", **TINY), seed=1))
    x = _lr(2)
    with torch.inference_mode():
        before = a(x)
        want = b(x)
        assert float((before - want).abs().max()) > 0.01
    with torch.no_grad():
        a.load_state_dict(b.state_dict())
    with torch.inference_mode():
        assert float((a(x) - want).abs().max()) <= 1e-6


def test_attention_maps_and_input_check():
    model = _perturb(facesr.build("sparnet", **TINY))
    opt = optimize_for_inference(model)
    x = _lr()
    ref, got = model.attention_maps(x), opt.attention_maps(x)
    assert len(ref) == len(got) == 7
    assert all(float((a - b).abs().max()) <= TOL for a, b in zip(ref, got))
    with pytest.raises(ValueError, match="16x16"):
        opt(torch.rand(1, 3, 32, 32))


def test_full_size_sparnet_equals_eager():
    torch.manual_seed(0)
    model = facesr.build("sparnet").eval()
    x = _lr(1)
    with torch.inference_mode():
        ref = model(x)
        out = optimize_for_inference(model)(x)
    assert float((out - ref).abs().max()) <= TOL


def test_instance_norm_and_spectral_norm_body():
    """SPARNetHD's layers: InstanceNorm is kept, spectral norm is materialised with its u, v."""
    body = SPARNetBody(size=64, min_feat=16, channels=[4, 8, 8], res_depth=1, norm="in", spectral=True,
                       hg_mid=4, hg_depths=[2, 1, 1, 2, 3])
    _perturb(body, forwards=0)
    body.train()
    with torch.no_grad():
        for _ in range(3):  # power iterations move u, v away from their init
            body(torch.randn(1, 3, 64, 64))
    body.eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.inference_mode():
        ref = body(x)
        for mode in ("subpixel", "transposed"):
            out = optimize_for_inference(body, up_mode=mode)(x)
            assert float((out - ref).abs().max()) <= 1e-5 * max(1.0, float(ref.abs().max())), mode


def test_jit_path():
    model = _perturb(facesr.build("sparnet", **TINY))
    x = _lr(3)
    opt = optimize_for_inference(model, jit=True, mkldnn=False, channels_last=False)
    with torch.inference_mode():
        assert float((opt(x) - model(x)).abs().max()) <= TOL
    assert opt.lr_size == 16 and opt.hr_size == 128


def test_generic_module_fold():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8),
                              torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1), torch.nn.BatchNorm2d(3))
    _perturb(net, forwards=0)
    net.train()
    with torch.no_grad():
        net(torch.randn(4, 3, 8, 8))
    net.eval()
    opt = optimize_for_inference(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in opt.modules())
    x = torch.randn(2, 3, 8, 8)
    with torch.inference_mode():
        assert float((opt(x) - net(x)).abs().max()) <= 1e-5


def test_mkldnn_flag_reported():
    assert isinstance(mkldnn_available(), bool)


# ----------------------------------------------------------------------------------------- ONNX
@pytest.mark.skipif(not HAS_ORT, reason="onnx / onnxruntime not installed")
@pytest.mark.parametrize("optimize", [True, False])
def test_onnx_export_matches_pytorch(tmp_path, optimize):
    import onnx
    from facesr.inference.export import export_onnx, ort_session

    model = _perturb(facesr.build("sparnet-prelu" if optimize else "sparnet", **TINY))
    path = tmp_path / "m.onnx"
    res = export_onnx(model, path, optimize=optimize)
    assert res["checked"] and res["ok"], res
    assert set(res["diffs"]) == {1, 3} and res["max_abs_diff"] <= TOL
    g = onnx.load(str(path)).graph
    assert [i.name for i in g.input] == ["lr"] and [o.name for o in g.output] == ["sr"]
    dims = g.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 16, 16]
    # any batch size, output clamped to [0, 1]
    x = _lr(5, seed=7)
    out = ort_session(path).run(["sr"], {"lr": x.numpy()})[0]
    with torch.inference_mode():
        ref = model(x).numpy()
    assert out.shape == (5, 3, 128, 128) and out.min() >= 0 and out.max() <= 1
    assert float(abs(out - ref).max()) <= TOL


@pytest.mark.skipif(not HAS_ORT, reason="onnx / onnxruntime not installed")
def test_onnx_export_sparnethd_structure(tmp_path):
    """SPARNetHD's generator (input size = output size, InstanceNorm, spectral norm) at 64 px, as built:
    its outputs must be real images (not the all-clipped output of unconverged spectral norms), and ONNX
    Runtime must match PyTorch on them."""
    from facesr.inference.export import export_onnx
    from facesr.models.sparnet import SPARNetHD, init_sparnet_weights

    torch.manual_seed(0)
    model = SPARNetHD()
    model.lr_size = model.hr_size = 64
    model.net = SPARNetBody(size=64, min_feat=16, channels=[8, 16, 16], res_depth=1, norm="in", spectral=True,
                            hg_mid=8, hg_depths=[2, 1, 1, 2, 3])
    init_sparnet_weights(model)
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 64))
    assert float(((out > 0) & (out < 1)).float().mean()) > 0.3 and float(out.std()) > 0.05
    res = export_onnx(model, tmp_path / "hd.onnx", optimize=True)
    assert res["ok"] and res["max_abs_diff"] <= TOL, res["diffs"]


@pytest.mark.skipif(not HAS_ORT, reason="onnx / onnxruntime not installed")
def test_export_cli(tmp_path, monkeypatch, capsys):
    import argparse

    from facesr.cli.export import add_export_parser

    ap = argparse.ArgumentParser(prog="facesr")
    add_export_parser(ap.add_subparsers(dest="cmd"))
    real_build = facesr.build
    monkeypatch.setattr(facesr, "build", lambda name, **kw: real_build(name, **{**TINY, **kw}))
    out = tmp_path / "tiny.onnx"
    args = ap.parse_args(["export", "-m", "sparnet", "-o", str(out), "--random-weights"])
    assert args.fn(args) == 0 and out.is_file()
    from facesr.cli.export import _model

    with torch.inference_mode():  # random weights whose outputs vary, so the check compares something
        assert float(_model(args)(_lr()).std()) > 0.05
    printed = capsys.readouterr().out
    assert "ONNX Runtime" in printed and "OK" in printed
    for argv, msg in ((["-m", "sparnet", "-o", str(tmp_path / "x.txt"), "--random-weights"], ".onnx"),
                      (["-m", "no-such-model", "-o", str(tmp_path / "x.onnx"), "--random-weights"], "unknown model"),
                      (["-m", "sparnet", "-o", str(tmp_path / "x.onnx"), "--opset", "9", "--random-weights"],
                       "opset")):
        args = ap.parse_args(["export", *argv])
        assert args.fn(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("facesr: error:") and msg in err and "\n" not in err


def test_export_without_onnx_is_one_line_error(tmp_path, monkeypatch):
    import sys

    from facesr.errors import MissingDependencyError
    from facesr.inference.export import export_onnx

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx -> ModuleNotFoundError
    with pytest.raises(MissingDependencyError, match=r"facesr\[onnx\]"):
        export_onnx(SPARNet(**TINY).eval(), tmp_path / "m.onnx")


# ----------------------------------------------------------------------------------------- back-ends
@pytest.mark.parametrize("backend", ["eager", "torch", "auto", "onnxruntime"])
def test_inference_backends_match_eager(backend):
    if backend == "onnxruntime" and not HAS_ORT:
        pytest.skip("onnx / onnxruntime not installed")
    from facesr.inference.runtime import inference_model
    from facesr.inference.sr import super_resolve

    model = _perturb(facesr.build("sparnet", **TINY))
    model.facesr_meta = {"arch": "sparnet", "crop": "lfw"}
    fast = inference_model(model, backend)
    assert fast.lr_size == 16 and fast.hr_size == 128 and not fast.training
    assert getattr(fast, "facesr_meta", {}).get("crop") == "lfw"  # enhance reads the crop from it
    for n in (1, 3):
        x = _lr(n, seed=n)
        with torch.inference_mode():
            ref, out = model(x), fast(x)
        assert out.shape == ref.shape and float((out - ref).abs().max()) <= TOL
    # the uint8 path callers use: at most one grey level apart (rounding at .5)
    imgs = [(_lr(1, seed=9)[0].permute(1, 2, 0).numpy() * 255).astype("uint8")]
    a, b = super_resolve(imgs, model)[0], super_resolve(imgs, fast)[0]
    assert abs(a.astype(int) - b.astype(int)).max() <= 1
    if backend == "onnxruntime":
        with pytest.raises(ValueError, match="N x 3 x 16 x 16"):
            fast(torch.rand(1, 3, 32, 32))


def test_unknown_backend_is_a_clear_error():
    from facesr.errors import FacesrError
    from facesr.inference.runtime import inference_model

    with pytest.raises(FacesrError, match="onnxruntime"):
        inference_model(facesr.build("sparnet", **TINY), "tensorrt")


def test_winograd_conv_is_a_3x3_conv():
    """F(2 x 2, 3 x 3): exact algebra (float64 to 1e-12), and in float32 as close as the direct conv."""
    import torch.nn.functional as F

    from facesr.inference.optimize import _winograd_conv, _winograd_weight

    m = 2
    g = torch.Generator().manual_seed(m)
    w = torch.randn(5, 6, 3, 3, generator=g, dtype=torch.float64) / 7.0
    b = torch.randn(5, generator=g, dtype=torch.float64)
    x = torch.randn(2, 6, 4 * m + 2, 2 * m + 2, generator=g, dtype=torch.float64)  # non-square, 2 tiles
    ref = F.conv2d(x, w, b)
    out = _winograd_conv(x, _winograd_weight(w, m), b, m)
    assert out.shape == ref.shape and float((out - ref).abs().max()) < 1e-12
    x32 = x.float().contiguous(memory_format=torch.channels_last)
    out32 = _winograd_conv(x32, _winograd_weight(w, m).float(), b.float(), m)
    direct = float((F.conv2d(x32, w.float(), b.float()).double() - ref).abs().max())
    assert float((out32.double() - ref).abs().max()) < max(10 * direct, 1e-5)


def test_winograd_option_selects_convs_and_is_used_in_export_graphs(monkeypatch):
    """Only 3x3 stride-1 convs with enough channels get Winograd weights; the eager path ignores them and the
    functional (export / compile) path uses them, with the same output as eager to float32 rounding."""
    import facesr.inference.optimize as opt_mod

    model = _perturb(facesr.build("sparnet", **TINY))
    x = _lr()
    with torch.inference_mode():
        ref = model(x)
    for m, min_ch, n_expected in ((2, 8, None), (2, 9, 0)):
        opt = optimize_for_inference(model, winograd=m, winograd_min_channels=min_ch)
        convs = [c for c in opt.modules() if isinstance(c, opt_mod.OptimizedConv)]
        chosen = [c for c in convs if c.wino_m]
        for c in chosen:
            assert c.mode == "none" and c.stride == 1 and min(c.weight.shape[:2]) >= min_ch
        assert len(chosen) == (n_expected if n_expected is not None else len(chosen)) and \
            (n_expected == 0 or 0 < len(chosen) < len(convs))
        calls = []
        real = opt_mod._winograd_conv
        monkeypatch.setattr(opt_mod, "_winograd_conv", lambda *a: calls.append(a[-1]) or real(*a))
        with torch.inference_mode():
            eager_out = opt(x)
            assert not calls  # eager: oneDNN convs
            monkeypatch.setattr(opt_mod, "_functional", lambda: True)
            graph_out = opt(x)
            monkeypatch.undo()
        assert len(calls) == len(chosen) and set(calls) <= {m}
        for out in (eager_out, graph_out):
            assert float((out - ref).abs().max()) <= TOL
    with pytest.raises(ValueError, match="winograd"):
        optimize_for_inference(model, winograd=4)


def test_perturb_weights_makes_outputs_vary():
    """Why equivalence checks use perturbed weights: SPARNet's own init maps every face to ~0.5."""
    x = _lr(4, seed=3)
    model = facesr.build("sparnet")
    with torch.inference_mode():
        assert float(model.eval()(x).std()) < 1e-3
        a = perturb_weights(model, seed=0)(x)
        assert not model.training and float(a.std()) > 0.1
        assert torch.equal(perturb_weights(facesr.build("sparnet"), seed=0)(x), a)  # deterministic per seed
        assert not torch.equal(perturb_weights(facesr.build("sparnet"), seed=1)(x), a)
