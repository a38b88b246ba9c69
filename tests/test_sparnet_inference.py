"""SPARNet's inference rewrite (facesr.models.sparnet.inference): same function as eval, model untouched."""
import copy

import pytest
import torch

import facesr
from facesr.models.sparnet.inference import OptimizedSR, inference_rewrite as optimize_for_inference, mkldnn_available
from facesr.deploy.perturb import perturb_weights
from facesr.models.sparnet import SPARNetBody

TINY = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}
TOL = 1e-4  # max abs difference allowed on the [0, 1] outputs


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
        for kw in ({}, {"up_mode": "nearest"}, {"channels_last": False}, {"mkldnn": False},
                   {"mkldnn": False, "channels_last": False}):
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
            for mode in ("nearest", "transposed"):
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
    """Each conv keeps one oneDNN plan per (input shape, threads), reusing the packed weight between its
    fused / unfused calls, and at most MAX_PACKINGS packings."""
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
        for mode in ("nearest", "transposed"):
            out = optimize_for_inference(body, up_mode=mode)(x)
            assert float((out - ref).abs().max()) <= 1e-5 * max(1.0, float(ref.abs().max())), mode


def test_mkldnn_flag_reported():
    assert isinstance(mkldnn_available(), bool)


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


def test_model_hook_and_targets():
    """SPARNet.inference_rewrite(target) is what facesr.deploy uses; each target computes the same function."""
    model = _perturb(facesr.build("sparnet", **TINY))
    x = _lr()
    with torch.inference_mode():
        ref = model(x)
        for target in ("torch", "onnx", "ncnn"):
            r = model.inference_rewrite(target)
            assert isinstance(r, OptimizedSR) and float((r(x) - ref).abs().max()) <= TOL, target
    with pytest.raises(ValueError, match="torch, onnx, ncnn"):
        model.inference_rewrite("tensorrt")
    with pytest.raises(TypeError):
        optimize_for_inference(torch.nn.Conv2d(3, 3, 3))
