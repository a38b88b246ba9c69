import io
import json

import numpy as np
import pytest
from PIL import Image

from facesr.data.blind import motion_kernel
from facesr.data.degrade import Learned, Pipeline, make_degradation
from facesr.data.resize import pil_resize
from facesr.errors import ConfigError


def _face(size=512):
    from skimage import data

    a = data.astronaut()[:400, 50:450]  # the face and shoulders, plenty of detail
    return pil_resize(np.ascontiguousarray(a), size, "bicubic")


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def _noise_img(size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------ fixed kinds
def test_bilinear_and_cascade_outputs():
    hr = _noise_img(128)
    assert np.array_equal(make_degradation("bilinear")(hr), pil_resize(hr, 16, "bilinear"))
    out = make_degradation("bilinear_cascade").outputs(hr)
    h64 = pil_resize(hr, 64, "bilinear")
    h32 = pil_resize(h64, 32, "bilinear")
    assert sorted(out) == ["hr32", "hr64", "lr"]
    assert np.array_equal(out["hr64"], h64) and np.array_equal(out["hr32"], h32)
    assert np.array_equal(out["lr"], pil_resize(h32, 16, "bilinear"))
    assert sorted(make_degradation("bicubic").outputs(hr)) == ["lr"]
    # 128 -> 32: one intermediate; lr_size from the argument and from the spec
    out = make_degradation({"kind": "bilinear_cascade", "lr_size": 32}, lr_size=16).outputs(hr)
    assert sorted(out) == ["hr64", "lr"] and out["lr"].shape == (32, 32, 3)


def test_describe_lines():
    assert make_degradation("bicubic").describe(128) == "PIL bicubic 128->16"
    assert make_degradation("bilinear_cascade").describe(128) == "PIL bilinear cascade 128->64->32->16"
    assert make_degradation("sparnethd_blind", lr_size=512).describe(512) == "SPARNetHD blind (released code) 512->512"
    assert "paper" in make_degradation("sparnethd_paper").describe()


def test_errors_are_config_errors_naming_the_valid_choices():
    with pytest.raises(ConfigError, match="known: .*bicubic.*sparnethd_blind"):
        make_degradation("bicubicc")
    with pytest.raises(ConfigError, match="valid: lr_size"):
        make_degradation({"kind": "bicubic", "size": 16})
    with pytest.raises(ConfigError, match="valid: lr_size, size_range"):
        make_degradation({"kind": "sparnethd_blind", "size": [1, 2]})
    with pytest.raises(ConfigError, match="unknown degradation op 'sharpen'; known: blur, resize"):
        make_degradation({"kind": "pipeline", "steps": [{"op": "sharpen"}]})
    with pytest.raises(ConfigError, match="valid: p, sigma, per_channel_p"):
        make_degradation({"kind": "pipeline", "steps": [{"op": "noise", "sigmaa": 3}]})
    with pytest.raises(ConfigError, match="type must be one of"):
        make_degradation({"kind": "pipeline", "steps": [{"op": "blur", "type": "lens"}]})
    with pytest.raises(ConfigError, match="exactly one of size"):
        make_degradation({"kind": "pipeline", "steps": [{"op": "resize"}]})
    with pytest.raises(ConfigError, match="p must be a probability"):
        make_degradation({"kind": "pipeline", "steps": [{"op": "grey", "p": 2}]})
    with pytest.raises(ConfigError, match="quality"):
        make_degradation({"kind": "pipeline", "steps": [{"op": "jpeg", "quality": [50, 120]}]})
    assert not issubclass(ConfigError, ValueError)


# ------------------------------------------------------------------ ops: values and draw order
def _run(step, img, seed, lr_size=None):
    return make_degradation({"kind": "pipeline", "steps": [step], "lr_size": lr_size})(img, np.random.default_rng(seed))


def test_gaussian_box_and_median_blur_match_their_filters_with_the_drawn_size():
    import scipy.ndimage as ndi

    img = _noise_img(48)
    out = _run({"op": "blur", "type": "gaussian", "sigma": [1.0, 3.0]}, img, 7)
    r = np.random.default_rng(7)
    r.random()
    s = r.uniform(1.0, 3.0)
    ref = np.clip(np.rint(ndi.gaussian_filter(img.astype(np.float32), (s, s, 0), mode="mirror")), 0, 255)
    assert np.array_equal(out, ref.astype(np.uint8))

    out = _run({"op": "blur", "type": "box", "k": [3, 7]}, img, 8)
    r = np.random.default_rng(8)
    r.random()
    k = int(r.integers(3, 8))
    ref = np.clip(np.rint(ndi.uniform_filter(img.astype(np.float32), (k, k, 1), mode="mirror")), 0, 255)
    assert np.array_equal(out, ref.astype(np.uint8))

    for seed in range(6):  # even draws become odd sizes within the range
        out = _run({"op": "blur", "type": "median", "k": [3, 6]}, img, seed)
        r = np.random.default_rng(seed)
        r.random()
        k = int(r.integers(3, 7))
        k = {3: 3, 4: 5, 5: 5, 6: 5}[k]
        from PIL import ImageFilter

        assert np.array_equal(out, np.asarray(Image.fromarray(img).filter(ImageFilter.MedianFilter(k))))


def test_motion_kernel_is_a_centred_line():
    k = motion_kernel(7, 0.0)
    assert k.shape == (7, 7) and abs(k.sum() - 1) < 1e-12
    assert np.count_nonzero(k[3]) == 7 and np.count_nonzero(k) == 7  # the middle row only
    k = motion_kernel(9, 90.0)
    assert np.count_nonzero(k[:, 4] > 1e-9) == 9 and np.count_nonzero(k > 1e-9) == 9  # the middle column
    for L, a in ((5, 30.0), (12, 123.0), (25, 271.0)):
        k = motion_kernel(L, a)
        assert k.shape[0] % 2 == 1 and abs(k.sum() - 1) < 1e-12
        assert np.allclose(k, k[::-1, ::-1])  # symmetric about the centre
        ys, xs = np.nonzero(k > 1e-9)
        c = k.shape[0] // 2
        d = np.hypot(xs - c, ys - c).max()
        assert L / 2 - 1.5 <= d <= L / 2 + 1  # its extent is the length
    # the op correlates with the kernel of the drawn length and angle (mirrored borders)
    import scipy.ndimage as ndi

    img = _noise_img(40)
    out = _run({"op": "blur", "type": "motion", "length": [5, 11]}, img, 4)
    r = np.random.default_rng(4)
    r.random()
    n, a = int(r.integers(5, 12)), float(r.uniform(0, 360))
    ref = ndi.correlate(img.astype(np.float64), motion_kernel(n, a)[:, :, None], mode="mirror")
    assert np.abs(out.astype(float) - ref).max() <= 0.51


def test_noise_jpeg_and_grey():
    flat = np.full((128, 128, 3), 128, np.uint8)
    out = _run({"op": "noise", "sigma": [10, 10], "per_channel_p": 1.0}, flat, 0).astype(float) - 128
    assert 9.5 < out.std() < 10.5 and abs(out.mean()) < 0.3
    assert not np.array_equal(out[..., 0], out[..., 1])
    out = _run({"op": "noise", "sigma": [10, 10], "per_channel_p": 0.0}, flat, 0)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    assert np.array_equal(_run({"op": "noise", "sigma": [0, 0]}, flat, 0), flat)

    img = _face(64)
    out = _run({"op": "jpeg", "quality": [20, 60]}, img, 5)
    r = np.random.default_rng(5)
    r.random()
    q = int(r.integers(20, 61))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=q)
    assert np.array_equal(out, np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))

    g = _run({"op": "grey"}, img, 0)
    assert g.shape == img.shape and np.array_equal(g[..., 0], np.asarray(Image.fromarray(img).convert("L")))
    assert np.array_equal(g[..., 0], g[..., 2])


def test_resize_ops_and_pipeline_sizes():
    img = _face(64)
    names = ["bicubic", "bilinear", "area", "nearest"]
    pil = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "area": Image.BOX, "nearest": Image.NEAREST}
    seen = set()
    for seed in range(12):
        out = _run({"op": "resize", "size": [20, 30], "interp": names}, img, seed)
        r = np.random.default_rng(seed)
        r.random()
        n = int(r.integers(20, 30))
        how = names[int(r.integers(4))]
        seen.add(how)
        assert np.array_equal(out, np.asarray(Image.fromarray(img).resize((n, n), pil[how])))
    assert len(seen) >= 3
    out = _run({"op": "resize", "scale": [0.5, 0.5]}, img, 0)
    assert out.shape == (32, 32, 3)
    # resize_to 'lr': the pipeline's lr_size, else the input's size; lr_size also resizes a last time
    down = {"op": "resize", "size": 20}
    p = {"kind": "pipeline", "steps": [down, {"op": "resize_to", "size": "lr"}]}
    assert make_degradation(p)(img).shape == (64, 64, 3)
    assert make_degradation({**p, "lr_size": 24})(img).shape == (24, 24, 3)
    assert make_degradation({"kind": "pipeline", "steps": [down], "lr_size": 16})(img).shape == (16, 16, 3)
    assert make_degradation({"kind": "pipeline", "steps": [down]}, lr_size=12)(img).shape == (12, 12, 3)


def test_skipped_ops_still_consume_their_draw():
    img = _face(32)
    a = make_degradation({"kind": "pipeline", "steps": [{"op": "grey", "p": 0.0},
                                                        {"op": "noise", "sigma": [5, 5]}]})
    b = make_degradation({"kind": "pipeline", "steps": [{"op": "grey", "p": 0.0}]})
    assert np.array_equal(b(img, np.random.default_rng(1)), img)
    r = np.random.default_rng(1)
    r.random()  # the skipped grey's draw
    ref = make_degradation({"kind": "pipeline", "steps": [{"op": "noise", "sigma": [5, 5]}]})(img, r)
    assert np.array_equal(a(img, np.random.default_rng(1)), ref)


# ------------------------------------------------------------------ presets
@pytest.mark.parametrize("kind", ["sparnethd_blind", "sparnethd_paper", "sparnethd_lite", "holdout_moderate",
                                  "holdout_mild"])
def test_blind_presets_degrade_deterministically_and_round_trip(kind):
    hr = _face(512)
    d = make_degradation(kind)
    assert isinstance(d, Pipeline) and [s["op"] for s in d.spec()["steps"]][:2] == ["blur", "resize"]
    outs = [d(hr, np.random.default_rng(s)) for s in range(4)]
    for o in outs:
        assert o.dtype == np.uint8 and o.shape == hr.shape
        assert _psnr(o, hr) < 35.0
    assert all(not np.array_equal(outs[0], o) for o in outs[1:])
    assert np.array_equal(d(hr, np.random.default_rng(2)), outs[2])
    assert np.array_equal(d(hr), d(hr))  # rng None is seed 0
    spec = json.loads(json.dumps(d.spec()))
    e = make_degradation(spec)
    assert e.spec() == d.spec() and e.describe(512) == d.describe(512)
    assert np.array_equal(e(hr, np.random.default_rng(3)), outs[3])
    assert make_degradation(kind, lr_size=128)(hr).shape == (128, 128, 3)
    assert make_degradation({"kind": kind, "lr_size": 64}, lr_size=128)(hr).shape == (64, 64, 3)


def test_preset_parameters_follow_the_code_and_the_paper():
    blind = make_degradation("sparnethd_blind").spec()["steps"]
    assert [(s["op"], s["p"]) for s in blind] == [("blur", 0.5), ("resize", 1.0), ("noise", 0.2), ("jpeg", 0.7),
                                                  ("resize_to", 1.0), ("grey", 0.3)]
    assert blind[1]["size"] == [32, 128] and blind[3]["quality"] == [35, 90] and blind[2]["per_channel_p"] == 0.5
    variant = make_degradation({"kind": "sparnethd_blind", "size_range": [64, 128]})
    assert variant.spec()["steps"][1]["size"] == [64, 128]
    paper = make_degradation("sparnethd_paper").spec()["steps"]
    assert all(s["p"] == 1.0 for s in paper) and "grey" not in [s["op"] for s in paper]
    assert paper[1]["scale"] == [16 / 512, 128 / 512] and paper[3]["quality"] == [15, 40]
    # the resize draws sizes from [32, 128): an LR of random size made before resizing back
    sizes = set()
    d = make_degradation({"kind": "pipeline", "steps": blind[1:2]})
    for s in range(30):
        sizes.add(d(_noise_img(128), np.random.default_rng(s)).shape[0])
    assert min(sizes) >= 32 and max(sizes) < 128 and len(sizes) > 10


def test_disk_kernel_is_a_normalised_pillbox():
    from facesr.data.blind import disk_kernel

    k = disk_kernel(2.0)
    assert k.shape == (5, 5) and abs(k.sum() - 1.0) < 1e-12 and np.allclose(k, k.T) and np.allclose(k, k[::-1])
    assert k[2, 2] == k.max() and k[0, 0] == 0.0  # corners lie outside a radius-2 circle
    assert abs(k[0, 2] / k[2, 2] - 0.5) < 0.1  # the edge-centre pixel is about half inside
    # the disk blur op applies exactly that kernel (radius drawn from a one-point range)
    img = _noise_img(32)
    d = make_degradation({"kind": "pipeline", "steps": [{"op": "blur", "type": "disk", "radius": [2.0, 2.0]}]})
    import scipy.ndimage as ndi
    ref = np.stack([ndi.correlate(img[..., c].astype(np.float64), k, mode="mirror") for c in range(3)], -1)
    assert np.abs(d(img).astype(np.float64) - ref).max() <= 0.5 + 1e-6


def test_lite_and_holdout_chains_share_no_blur_or_resampling_filter():
    lite = make_degradation("sparnethd_lite").spec()["steps"]
    hold = make_degradation("holdout_moderate").spec()["steps"]
    assert [(s["op"], s["p"]) for s in lite] == [("blur", 0.5), ("resize", 1.0), ("noise", 0.3), ("jpeg", 0.7),
                                                 ("resize_to", 1.0), ("grey", 0.1)]
    assert lite[0]["sigma"] == [0.75, 3.75] and lite[1]["size"] == [24, 128] and lite[3]["quality"] == [30, 95]
    assert "disk" not in lite[0]["choices"] and hold[0]["type"] == "disk"
    assert hold[1]["interp"] == ["lanczos"] and "lanczos" not in lite[1]["interp"]
    assert not any(s.get("interp") == ["lanczos"] for s in make_degradation("sparnethd_blind").spec()["steps"])
    # no resize back: the photo benchmark's form, half size
    half = make_degradation({"kind": "holdout_moderate", "scale": 0.5, "back": False})
    assert half(_noise_img(100)).shape == (50, 50, 3)
    with pytest.raises(ConfigError, match="scale must be in"):
        make_degradation({"kind": "holdout_moderate", "scale": 2})
    # the mild chain: the same ops, milder noise and JPEG only
    mild = make_degradation({"kind": "holdout_mild", "scale": 0.125}).spec()["steps"]
    mod = make_degradation({"kind": "holdout_moderate", "scale": 0.125}).spec()["steps"]
    assert [s["op"] for s in mild] == [s["op"] for s in mod]
    assert mild[2]["sigma"] == [1.0, 4.0] and mild[3]["quality"] == [75, 90]
    assert [m for m, h in zip(mild, mod) if m != h] == [mild[2], mild[3]]
    with pytest.raises(ConfigError, match="'holdout_mild': scale must be in"):
        make_degradation({"kind": "holdout_mild", "scale": 0})


def test_lite_keep_p_keeps_the_full_resolution_in_that_share_of_samples():
    # keep_p = 0 is the preset as it was (same draws, same images); keep_p skips the resize, so a sample
    # with no blur, noise or JPEG drawn comes back unchanged, and over many samples about keep_p of them
    # keep their pixel grid (checked on a random image, where any resize is visible)
    img = _noise_img(128)
    base, zero = make_degradation("sparnethd_lite"), make_degradation({"kind": "sparnethd_lite", "keep_p": 0.0})
    for seed in range(3):
        assert np.array_equal(base(img, np.random.default_rng(seed)), zero(img, np.random.default_rng(seed)))
    assert make_degradation({"kind": "sparnethd_lite", "keep_p": 0.25}).spec()["steps"][1]["p"] == 0.75
    only_resize = {"kind": "pipeline", "lr_size": 128,
                   "steps": [s for s in make_degradation({"kind": "sparnethd_lite", "keep_p": 0.3}).spec()["steps"]
                             if s["op"] in ("resize", "resize_to")]}
    d = make_degradation(only_resize)
    kept = [np.array_equal(d(img, np.random.default_rng(i)), img) for i in range(400)]
    assert 0.24 < np.mean(kept) < 0.36
    with pytest.raises(ConfigError, match="keep_p must be a probability"):
        make_degradation({"kind": "sparnethd_lite", "keep_p": 1.5})


# ------------------------------------------------------------------ learned
def _register_tiny():
    import torch
    from torch import nn

    from facesr import registry

    class PlainDegrader(nn.Module):
        lr_size, hr_size = 32, 8  # input (HR) 32 px -> output 8 px

        def __init__(self, noise: float = 0.1):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.noise = noise

        def forward(self, x):
            return torch.nn.functional.avg_pool2d(self.conv(x), 4)

    class TinyDegrader(PlainDegrader):
        def degrade(self, x, generator):
            y = self.forward(x)
            return y + self.noise * torch.randn(y.shape, generator=generator, device=y.device)

    for name, cls in (("test_tiny_degrader", TinyDegrader), ("test_plain_degrader", PlainDegrader)):
        try:
            registry.register_arch(name)(lambda cls=cls, **kw: cls(**kw))
        except ValueError:  # registered by an earlier test in this process
            pass
    return TinyDegrader


def _save_tiny(path, arch="test_tiny_degrader"):
    import torch

    from facesr.checkpoint import save_model
    from facesr.registry import build_arch

    torch.manual_seed(0)
    m = build_arch(arch, {"noise": 0.1})
    save_model(m, path, {"arch": arch, "settings": {"noise": 0.1}, "lr_size": 32, "hr_size": 8})
    return m


def test_learned_degradation_loads_lazily_and_is_seedable(tmp_path):
    import torch

    _register_tiny()
    path = tmp_path / "deg.safetensors"
    spec = {"kind": "learned", "checkpoint": str(path)}
    d = make_degradation(spec)  # the file does not exist yet: nothing is loaded
    assert isinstance(d, Learned) and d._model is None
    with pytest.raises(ConfigError, match="model file not found"):
        d(_noise_img(32))
    # a registry name stands for its shipped weights; one without weights is a one-line config error
    with pytest.raises(ConfigError, match="no trained weights ship with 'stylevae'"):
        make_degradation({"kind": "learned", "checkpoint": "stylevae"})(_noise_img(32))
    m = _save_tiny(path)
    hr = _face(64)  # resized to the net's 32 px input first
    a = d(hr, np.random.default_rng(1))
    assert a.shape == (8, 8, 3) and a.dtype == np.uint8
    assert np.array_equal(a, d(hr, np.random.default_rng(1)))
    assert not np.array_equal(a, d(hr, np.random.default_rng(2)))
    # the value: degrade() with the generator seeded from the rng
    seed = int(np.random.default_rng(1).integers(2**63))
    x = torch.from_numpy(pil_resize(hr, 32).transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.no_grad():
        y = m.degrade(x, torch.Generator().manual_seed(seed))
    ref = (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(a, ref)
    # size option / lr_size argument; spec round trip
    assert make_degradation(spec, lr_size=16)(hr).shape == (16, 16, 3)
    e = make_degradation(json.loads(json.dumps(make_degradation({**spec, "size": 12}).spec())))
    assert e(hr).shape == (12, 12, 3) and "deg.safetensors" in e.describe()


def test_learned_without_degrade_method_runs_forward(tmp_path):
    import torch

    _register_tiny()
    path = tmp_path / "plain.safetensors"
    m = _save_tiny(path, "test_plain_degrader")
    d = make_degradation({"kind": "learned", "checkpoint": str(path)})
    hr = _noise_img(32)
    out = d(hr, np.random.default_rng(0))
    assert np.array_equal(out, d(hr, np.random.default_rng(5)))  # no noise: the rng does not matter
    with torch.no_grad():
        y = m(torch.from_numpy(hr.transpose(2, 0, 1).astype(np.float32) / 255)[None])
    assert np.array_equal(out, (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy())


def test_learned_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError) as e:
        make_degradation({"kind": "learned", "checkpoint": str(bad)})(_noise_img(32))
    assert "\n" not in str(e.value) and "x.safetensors" in str(e.value)
    with pytest.raises(ConfigError, match="needs a checkpoint"):
        make_degradation({"kind": "learned"})


# ------------------------------------------------------------------ mixture

def test_mixture_draws_members_with_p_and_repeats_with_the_seed():
    from facesr.data.degrade import Mixture

    spec = {"kind": "mixture", "of": ["bicubic", {"kind": "bilinear"}], "p": [3, 1]}
    d = make_degradation(spec, lr_size=16)
    assert isinstance(d, Mixture) and d.p == [0.75, 0.25]  # normalised
    hr = _face(64)
    bic, bil = make_degradation("bicubic", 16)(hr), make_degradation("bilinear", 16)(hr)
    assert not np.array_equal(bic, bil)
    picks = []
    for s in range(2000):
        out = d(hr, np.random.default_rng(s))
        assert out.shape == (16, 16, 3)
        assert np.array_equal(out, d(hr, np.random.default_rng(s)))  # a seeded call repeats
        picks.append(0 if np.array_equal(out, bic) else 1 if np.array_equal(out, bil) else -1)
    picks = np.array(picks)
    assert (picks >= 0).all()  # always exactly one member's output
    assert abs((picks == 0).mean() - 0.75) < 0.04  # binomial sd ~0.01
    # the spec round-trips through JSON with p normalised and lr_size passed down to the members
    e = make_degradation(json.loads(json.dumps(d.spec())))
    assert e.spec() == d.spec() and e(hr, np.random.default_rng(7)).shape == (16, 16, 3)
    assert "75%" in d.describe(64) and "25%" in d.describe(64)
    # uniform when p is omitted
    assert make_degradation({"kind": "mixture", "of": ["bicubic", "bilinear"]}).p == [0.5, 0.5]


def test_mixture_draws_the_member_from_the_image_rng_then_passes_it_on():
    # a mixture of two noisy chains: the member's own draws come after the choice, from the same generator
    noisy = {"kind": "pipeline", "steps": [{"op": "noise", "sigma": [5, 5]}], "lr_size": 32}
    d = make_degradation({"kind": "mixture", "of": [noisy, noisy], "p": [1, 0]})
    hr = _face(32)
    rng = np.random.default_rng(3)
    rng.choice(2, p=[1.0, 0.0])
    assert np.array_equal(d(hr, np.random.default_rng(3)), make_degradation(noisy)(hr, rng))


@pytest.mark.parametrize("spec, msg", [
    ({"kind": "mixture", "of": ["bicubic"]}, "at least two"),
    ({"kind": "mixture", "of": "bicubic"}, "at least two"),
    ({"kind": "mixture", "of": ["bicubic", "bilinear"], "p": [1]}, "p must be 2"),
    ({"kind": "mixture", "of": ["bicubic", "bilinear"], "p": [1, -1]}, "non-negative"),
    ({"kind": "mixture", "of": ["bicubic", "bilinear"], "p": [0, 0]}, "positive"),
    ({"kind": "mixture", "of": ["bicubic", "bilinear"], "p": [True, 1]}, "p must be"),
    ({"kind": "mixture", "of": ["bicubic", "nope"]}, "nope"),
    ({"kind": "mixture", "of": ["bicubic", "bilinear"], "weights": [1, 1]}, "weights"),
])
def test_mixture_config_errors_are_one_line(spec, msg):
    with pytest.raises(ConfigError, match=msg) as e:
        make_degradation(spec)
    assert "\n" not in str(e.value)
