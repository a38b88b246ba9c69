import pytest
import torch

import facesr
from facesr.errors import ModelNotFoundError
from facesr.models.sparnet import SPARNet


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# figures from ../shared/papers/IMPLEMENTATION_NOTES.md (measured on the authors' definitions)
@pytest.mark.parametrize("name,count", [
    ("sparnet", 10_518_867), ("sparnet-3d", 11_562_083), ("sparnet-light-3d", 5_242_211),
])
def test_sparnet_parameter_counts(name, count):
    assert n_params(facesr.build(name)) == count


@pytest.fixture(scope="module")
def sparnethd():
    return facesr.build("sparnethd").eval()


def test_sparnethd_generator_count(sparnethd):
    assert n_params(sparnethd) == 85_793_412


def test_spectral_norm_estimates_exact_at_init(sparnethd):
    """A freshly built SPARNetHD's spectral-norm hooks hold the top singular vectors: sigma = u^T W v is the
    largest singular value (not the estimate from random u, v, which made a random network's activations
    explode to ~1e9), and each effective weight has spectral norm 1."""
    convs = [m for m in sparnethd.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) > 100 and all(hasattr(c, "weight_orig") for c in convs)
    with torch.no_grad():
        for conv in convs[::25] + convs[-1:]:
            w = conv.weight_orig.reshape(conv.out_channels, -1)
            sigma_hook = torch.dot(conv.weight_u, w @ conv.weight_v)
            sigma = torch.linalg.matrix_norm(w.double(), ord=2)
            assert abs(float(sigma_hook) / float(sigma) - 1) < 1e-3
            eff = torch.linalg.matrix_norm(conv.weight.reshape(conv.out_channels, -1).double(), ord=2)
            assert abs(float(eff) - 1) < 1e-3
            # one more power iteration (what a training forward does) leaves the estimate where it is
            u2 = torch.nn.functional.normalize(w @ conv.weight_v, dim=0)
            assert abs(float(torch.dot(u2, conv.weight_u)) - 1) < 1e-4


def test_init_norm_weights(sparnethd):
    """Released-code init: BatchNorm weights N(1, 0.02); InstanceNorm (SPARNetHD) keeps weight 1, bias 0."""
    ins = [m for m in sparnethd.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    assert ins and all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any() for m in ins)
    bn = torch.cat([m.weight.detach() for m in facesr.build("sparnet").modules()
                    if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(float(bn.mean()) - 1) < 0.005 and 0.015 < float(bn.std()) < 0.025


def test_baseline_is_sparnet_without_attention():
    base, full = facesr.build("sparnet-baseline"), facesr.build("sparnet")
    assert all(u.attn is None for u in base.net.units)
    assert n_params(base) < n_params(full)
    # the difference is exactly the hourglass branches
    att = sum(n_params(u.attn) for u in full.net.units if u.attn is not None)
    assert n_params(full) - n_params(base) == att


def test_prelu_variant_adds_one_slope_per_channel():
    m = facesr.build("sparnet-prelu")
    prelus = [x for x in m.modules() if isinstance(x, torch.nn.PReLU)]
    assert prelus and n_params(m) == 10_518_867 + sum(p.num_parameters for p in prelus)


def test_ablation_knobs():
    v4 = SPARNet(attention_last=4)
    units = list(v4.net.units)
    assert [u.attn is not None for u in units] == [False] * 12 + [True] * 4
    assert SPARNet().net.units[0].attn.depth == 4


def _depths(model):
    return [None if u.attn is None else u.attn.depth for u in model.net.units]


def test_bottleneck_paper_and_released_code():
    """S_M: the bottleneck M sets each unit's hourglass depth log2(resolution / M); for M = 16 the paper
    attends in every unit (depth-0 branches at 16 px), the released code drops those 11 branches."""
    paper = SPARNet(bottleneck=16)
    assert _depths(paper) == [2, 1, 0] + [0] * 10 + [1, 2, 3]
    assert all(u.attn is not None for u in paper.net.units)
    code = SPARNet(bottleneck=16, depth0_attention=False)
    assert _depths(code) == [2, 1, None] + [None] * 10 + [1, 2, 3]
    assert sum(d is None for d in _depths(code)) == 11
    # a depth-0 branch: one ConvLayer(cin, 64) at the unit's resolution, then the output conv
    a0 = paper.net.units[5].attn
    assert n_params(a0) == (128 * 64 * 9 + 2 * 64) + (64 * 9 + 1)
    x = torch.rand(2, 128, 16, 16)
    assert a0.eval()(x).shape == (2, 1, 16, 16)
    assert n_params(paper) - n_params(code) == 11 * n_params(a0)
    # the default presets (bottleneck 4) have no depth-0 unit: same network either way
    for b in (2, 4, 8):
        assert n_params(SPARNet(bottleneck=b)) == n_params(SPARNet(bottleneck=b, depth0_attention=False))
    with pytest.raises(ValueError, match="depths must be >= 0"):
        SPARNet(bottleneck=32)


def test_depth0_attention_forward_and_optimized_copy():
    from facesr.deploy.torch_backend import rewrite
    from facesr.deploy.perturb import perturb_weights

    m = perturb_weights(facesr.build("sparnet", channels=[4, 8, 8, 8], res_depth=1, hg_mid=4, bottleneck=16),
                        gain=1.4).double()
    assert _depths(m) == [2, 1, 0, 0, 1, 2, 3]
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        ref = m.net(m.upsample_input(x) * 2 - 1)
        opt = rewrite(m)
        out = opt.net(opt.upsample_input(x) * 2 - 1)
    assert float((out - ref).abs().max()) <= 1e-9 * float(ref.abs().max())
    maps = m.attention_maps(x)
    assert len(maps) == 7 and maps[2].shape == (2, 1, 16, 16)


def test_forward_contract_shapes_and_range():
    m = facesr.build("sparnet", channels=[4, 8, 8, 8], res_depth=1, hg_mid=4).eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (2, 3, 128, 128)
    assert y.min() >= 0 and y.max() <= 1
    with pytest.raises(ValueError, match="16x16"):
        m(torch.rand(1, 3, 32, 32))
    maps = m.attention_maps(x)
    assert len(maps) == 7 and maps[0].shape[1] == 1 and float(maps[0].min()) >= 0


def test_global_skip_starts_near_bicubic():
    from facesr.data.resize import resize

    m = facesr.build("sparnet", channels=[4, 8, 8, 8], res_depth=1, hg_mid=4, global_skip=True).eval()
    torch.nn.init.zeros_(m.net.tail.conv.weight)
    torch.nn.init.zeros_(m.net.tail.conv.bias)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(m(x), resize(x, 128).clamp(0, 1), atol=1e-6)


def test_registry_errors_are_clear():
    with pytest.raises(ModelNotFoundError, match="did you mean sparnet"):
        facesr.build("sparnett")
    with pytest.raises(ModelNotFoundError, match="no trained weights"):
        facesr.load("sparnet-3d")
    with pytest.raises(ModelNotFoundError, match="not found"):
        facesr.load("/nonexistent/model.safetensors")


def test_checkpoint_round_trip(tmp_path):
    from facesr.checkpoint import read_meta, save_model

    m = facesr.build("sparnet", channels=[4, 8, 8, 8], res_depth=1, hg_mid=4).eval()
    p = save_model(m, tmp_path / "m.safetensors", {**m.facesr_meta, "metrics": {"psnr": 1.5}})
    meta = read_meta(p)
    assert meta["arch"] == "sparnet" and meta["settings"]["hg_mid"] == 4 and meta["metrics"]["psnr"] == 1.5
    m2 = facesr.load(p)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(m(x), m2(x))
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelNotFoundError, match="not a safetensors"):
        facesr.load(bad)
