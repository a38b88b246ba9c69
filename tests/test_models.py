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


def test_sparnethd_generator_count():
    assert n_params(facesr.build("sparnethd")) == 85_793_412


def test_spectral_norm_estimates_converged_at_init():
    """A freshly built SPARNetHD divides each weight by its largest singular value (not by the estimate from
    random u, v, which made a random network's activations explode to ~1e9)."""
    from facesr.inference.optimize import _conv_weight

    model = facesr.build("sparnethd").eval()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) > 100
    for conv in convs[::15]:
        sigma = torch.linalg.matrix_norm(_conv_weight(conv).reshape(conv.out_channels, -1), ord=2)
        assert 0.97 < float(sigma) < 1.05


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
    # S_M: bottleneck size sets the hourglass depth: 64/16 = 4 -> depth 2 at the first unit
    s16 = SPARNet(bottleneck=16)
    assert s16.net.units[0].attn.depth == 2
    assert SPARNet().net.units[0].attn.depth == 4


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
