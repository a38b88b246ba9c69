"""Tests for facesr.metrics (core metric functions and the named protocols)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from facesr.metrics import (
    DEFAULT_PROTOCOL,
    MS_SSIM_WEIGHTS,
    PROTOCOLS,
    MetricAccumulator,
    Protocol,
    evaluate,
    gaussian_window,
    get_protocol,
    ms_ssim,
    ms_ssim_components,
    psnr,
    rgb_to_y,
    ssim,
    ssim_and_cs,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

L = 255.0
C1 = (0.01 * L) ** 2
C2 = (0.03 * L) ** 2


def _rng(seed=0):
    return np.random.default_rng(seed)


def _astronaut():
    from skimage import data

    return data.astronaut()


# --------------------------------------------------------------------------
# colour
# --------------------------------------------------------------------------
def test_rgb_to_y_hand_computed_pixel():
    px = np.array([[[100.0, 150.0, 200.0]]])
    # 65.481*100 + 128.553*150 + 24.966*200 = 6548.1 + 19282.95 + 4993.2 = 30824.25
    exact = 16 + 30824.25 / 255  # 136.8794...
    assert rgb_to_y(px, quantize="none")[0, 0] == pytest.approx(exact, abs=1e-12)
    assert rgb_to_y(px, quantize="round")[0, 0] == 137.0
    assert rgb_to_y(px, quantize="trunc")[0, 0] == 136.0
    # black and white map to the ends of the studio range
    bw = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    for q in ("round", "trunc", "none"):
        assert rgb_to_y(bw, quantize=q)[0].tolist() == pytest.approx([16.0, 235.0])
    with pytest.raises(ValueError):
        rgb_to_y(px, quantize="floor")
    with pytest.raises(ValueError):
        rgb_to_y(np.zeros((2, 2)), quantize="round")


# --------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------
def test_psnr_hand_value_and_skimage():
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    b[0, 0] = 16.0  # MSE = 256 / 16 = 16
    assert psnr(a, b, 255) == pytest.approx(10 * math.log10(255**2 / 16), abs=1e-12)
    assert psnr(a, a, 255) == math.inf

    x = _rng(1).uniform(0, 255, (20, 24, 3))
    y = np.clip(x + _rng(2).normal(0, 7, x.shape), 0, 255)
    assert psnr(x, y, 255) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=255), rel=1e-12)
    assert psnr(x / 255, y / 255, 1.0) == pytest.approx(psnr(x, y, 255), rel=1e-12)
    with pytest.raises(ValueError):
        psnr(x, y[:-1], 255)


# --------------------------------------------------------------------------
# SSIM
# --------------------------------------------------------------------------
def _sk_ssim(a, b, data_range=255.0, channel_axis=None):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=data_range, channel_axis=channel_axis,
    )


def test_ssim_skimage_variant_matches_skimage_random():
    r = _rng(3)
    x = r.uniform(0, 255, (37, 29))
    y = np.clip(x + r.normal(0, 20, x.shape), 0, 255)
    assert ssim(x, y, data_range=255, variant="skimage") == pytest.approx(_sk_ssim(x, y), rel=1e-6)
    xc = r.uniform(0, 1, (24, 31, 3))
    yc = np.clip(xc + r.normal(0, 0.1, xc.shape), 0, 1)
    got = ssim(xc, yc, data_range=1.0, variant="skimage")
    assert got == pytest.approx(_sk_ssim(xc, yc, data_range=1.0, channel_axis=-1), rel=1e-6)


def test_ssim_skimage_variant_matches_skimage_astronaut():
    img = _astronaut()  # 512x512x3 uint8
    hr = img[100:228, 180:308]
    noisy = np.clip(hr + _rng(4).normal(0, 12, hr.shape), 0, 255).astype(np.uint8)
    blurred = (hr[::2, ::2].repeat(2, 0).repeat(2, 1)).astype(np.uint8)
    for other in (noisy, blurred):
        # RGB, channel-averaged
        got = ssim(other, hr, data_range=255, variant="skimage")
        assert got == pytest.approx(_sk_ssim(other, hr, channel_axis=-1), rel=1e-6)
        # Y plane, as the facesr/sparnet protocols use it
        ya, yb = rgb_to_y(other, quantize="round"), rgb_to_y(hr, quantize="round")
        assert ssim(ya, yb, data_range=255, variant="skimage") == pytest.approx(_sk_ssim(ya, yb), rel=1e-6)
        # the 'valid' variant equals skimage's (its cropped border is exactly the padded part)
        assert ssim(ya, yb, data_range=255, variant="gaussian_valid") == pytest.approx(_sk_ssim(ya, yb), rel=1e-9)


def test_ssim_gaussian_valid_identical_and_constant():
    x = _rng(5).uniform(0, 255, (30, 30))
    assert ssim(x, x, data_range=255, variant="gaussian_valid") == pytest.approx(1.0, abs=1e-12)
    xc = _rng(6).uniform(0, 255, (30, 30, 3))
    assert ssim(xc, xc, data_range=255, variant="gaussian_valid") == pytest.approx(1.0, abs=1e-12)
    # constant images: zero variances, so SSIM is the luminance term alone
    a = np.full((16, 16), 100.0)
    b = np.full((16, 16), 110.0)
    expected = (2 * 100 * 110 + C1) / (100**2 + 110**2 + C1)
    assert ssim(a, b, data_range=255, variant="gaussian_valid") == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError):
        ssim(x, x, data_range=255, variant="uniform")
    with pytest.raises(ValueError):
        ssim(x[:10, :10], x[:10, :10], data_range=255, variant="gaussian_valid")


def _weighted_ssim_single_window(x, y, w1d):
    """SSIM of two images exactly one window in size, from weighted moments."""
    w = np.outer(w1d, w1d)
    mx, my = np.sum(w * x), np.sum(w * y)
    vx = np.sum(w * (x - mx) ** 2)
    vy = np.sum(w * (y - my) ** 2)
    cxy = np.sum(w * (x - mx) * (y - my))
    cs = (2 * cxy + C2) / (vx + vy + C2)
    return (2 * mx * my + C1) / (mx**2 + my**2 + C1) * cs, cs


def test_ssim_gaussian_valid_hand_checked_fixture():
    # 11x11 images: the valid SSIM map is a single value.
    x = (np.arange(121, dtype=np.float64).reshape(11, 11) * 2.0) % 255
    y = x.T.copy()
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    np.testing.assert_allclose(gaussian_window(11), g, rtol=1e-14)
    s_ref, cs_ref = _weighted_ssim_single_window(x, y, g)
    s, cs = ssim_and_cs(x, y, data_range=255, variant="gaussian_valid")
    assert s == pytest.approx(s_ref, rel=1e-10)
    assert cs == pytest.approx(cs_ref, rel=1e-10)
    assert ssim(x, y, data_range=255, variant="gaussian_valid") == pytest.approx(s_ref, rel=1e-10)
    # even window (used for the 8-px coarsest MS-SSIM scale): centred on index 4
    x8, y8 = x[:8, :8], y[:8, :8]
    g8 = np.exp(-((np.arange(8) - 4.0) ** 2) / (2 * 1.5**2))
    g8 /= g8.sum()
    s8_ref, cs8_ref = _weighted_ssim_single_window(x8, y8, g8)
    s8, cs8 = ssim_and_cs(x8, y8, data_range=255, variant="gaussian_valid", window=8)
    assert (s8, cs8) == (pytest.approx(s8_ref, rel=1e-10), pytest.approx(cs8_ref, rel=1e-10))


# --------------------------------------------------------------------------
# MS-SSIM
# --------------------------------------------------------------------------
def test_ms_ssim_identical_and_monotone_in_noise():
    hr = _astronaut()[100:228, 180:308].astype(np.float64)
    y = rgb_to_y(hr, quantize="none")
    assert ms_ssim(y, y, 255) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(hr, hr, 255) == pytest.approx(1.0, abs=1e-12)
    noise = _rng(7).normal(0, 1, y.shape)
    vals = [ms_ssim(np.clip(y + s * noise, 0, 255), y, 255) for s in (2, 8, 20, 50)]
    assert all(a > b for a, b in zip(vals, vals[1:])), vals
    assert 0 < vals[-1] < vals[0] < 1


def test_ms_ssim_definition():
    hr = _astronaut()[50:178, 200:328].astype(np.float64)  # 128 px: scales 128..8
    sr = hr[::4, ::4].repeat(4, 0).repeat(4, 1)
    s, cs = ms_ssim_components(sr, hr, 255)
    assert s.shape == cs.shape == (5,)
    # scale 1 is plain single-scale SSIM
    assert s[0] == pytest.approx(ssim(sr, hr, data_range=255, variant="gaussian_valid"), rel=1e-12)
    # scale 2 is SSIM of 2x2 average-pooled images
    pool = lambda z: z.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))  # noqa: E731
    assert s[1] == pytest.approx(ssim(pool(sr), pool(hr), data_range=255, variant="gaussian_valid"), rel=1e-10)
    w = np.array(MS_SSIM_WEIGHTS)
    standard = np.prod(cs[:4] ** w[:4]) * s[4] ** w[4]
    assert ms_ssim(sr, hr, 255) == pytest.approx(standard, rel=1e-12)
    pfsr = np.prod(cs[:4] ** w[:4]) * s[4] ** (4 * w[4])
    assert ms_ssim(sr, hr, 255, variant="pfsr") == pytest.approx(pfsr, rel=1e-12)
    # large enough images keep the 11-px window at every scale
    big = _astronaut()[:192, :192, 1].astype(np.float64)
    big_sr = np.clip(big + _rng(8).normal(0, 10, big.shape), 0, 255)
    s_big, _ = ms_ssim_components(big_sr, big, 255)
    coarse = lambda z: z.reshape(12, 16, 12, 16).mean(axis=(1, 3))  # noqa: E731
    assert s_big[4] == pytest.approx(ssim(coarse(big_sr), coarse(big), data_range=255, variant="gaussian_valid"), rel=1e-10)


# --------------------------------------------------------------------------
# protocols
# --------------------------------------------------------------------------
def test_protocol_registry():
    assert DEFAULT_PROTOCOL == "facesr"
    assert {"facesr", "dic", "dic-released", "sparnet", "pfsr", "kdfsr"} <= set(PROTOCOLS)
    assert get_protocol("dic") is PROTOCOLS["dic"]
    with pytest.raises(ValueError) as err:
        get_protocol("matlab")
    for name in PROTOCOLS:
        assert name in str(err.value)
    p = PROTOCOLS["facesr"]
    assert (p.channel, p.quantize, p.clamp, p.y_quantize, p.crop, p.ssim_variant, p.psnr_average) == (
        "y", "round", True, "round", 0, "skimage", "image")
    d = PROTOCOLS["dic"]
    assert (d.channel, d.quantize, d.clamp, d.y_quantize, d.crop, d.ssim_variant) == (
        "y", "round", True, "round", 8, "gaussian_valid")
    assert not d.uint8_wrap and PROTOCOLS["dic-released"].uint8_wrap
    s = PROTOCOLS["sparnet"]
    assert (s.quantize, s.y_quantize, s.crop, s.ssim_variant) == ("trunc", "trunc", 0, "skimage")
    f = PROTOCOLS["pfsr"]
    assert (f.channel, f.clamp, f.quantize, f.crop, f.psnr_average) == ("rgb", False, "none", 0, "batch16")
    k = PROTOCOLS["kdfsr"]
    assert (k.channel, k.clamp, k.quantize, k.y_quantize, k.crop) == ("y", False, "none", "none", 8)
    with pytest.raises(Exception):
        p.crop = 4  # frozen
    with pytest.raises(ValueError):
        Protocol("x", "ycbcr", "round", True, "round", 0, "skimage", "image", "")


def _fixture_pair(n=3, size=40, seed=11):
    """Float SR/HR images in [0, 1] with out-of-range SR values (so clamp matters)."""
    r = _rng(seed)
    hr = [r.uniform(0.05, 0.95, (size, size, 3)) for _ in range(n)]
    hr = [np.clip(h + 0.1 * np.sin(np.arange(size) / 3.0)[:, None, None], 0, 1) for h in hr]
    sr = [h + r.normal(0, 0.06, h.shape) for h in hr]
    sr[0][:3, :3] = 1.08
    sr[0][-3:, -3:] = -0.07
    return sr, hr


def _reference(sr_list, hr_list, *, clamp, quant, y, crop, ssim_on_256_minus=False):
    """Independent per-image pipeline: integer-exact Y, skimage SSIM."""
    ps, ss = [], []
    for s, h in zip(sr_list, hr_list):
        planes = []
        for img in (s, h):
            v = img * 255.0
            if clamp:
                v = np.minimum(np.maximum(v, 0), 255)
            if quant == "round":
                v = np.rint(v)
            elif quant == "trunc":
                v = np.floor(v)
            if y is not None:
                yy = 16.0 + (65.481 * v[..., 0] + 128.553 * v[..., 1] + 24.966 * v[..., 2]) / 255.0
                v = {"round": np.rint, "trunc": np.floor, "none": lambda z: z}[y](yy)
            if crop:
                v = v[crop:v.shape[0] - crop, crop:v.shape[1] - crop]
            planes.append(v)
        a, b = planes
        ps.append(peak_signal_noise_ratio(b, a, data_range=255))
        if ssim_on_256_minus:
            a, b = 256 - a, 256 - b
        ss.append(_sk_ssim(a, b, channel_axis=-1 if a.ndim == 3 else None))
    return ps, ss


_REF_ARGS = {
    "facesr": dict(clamp=True, quant="round", y="round", crop=0),
    "dic": dict(clamp=True, quant="round", y="round", crop=8),
    "dic-released": dict(clamp=True, quant="round", y="round", crop=8, ssim_on_256_minus=True),
    "sparnet": dict(clamp=True, quant="trunc", y="trunc", crop=0),
    "kdfsr": dict(clamp=False, quant="none", y="none", crop=8),
    "pfsr": dict(clamp=False, quant="none", y=None, crop=0),
}


@pytest.mark.parametrize("name", sorted(_REF_ARGS))
def test_protocol_matches_independent_pipeline(name):
    sr, hr = _fixture_pair()
    res = evaluate(sr, hr, name)
    ps, ss = _reference(sr, hr, **_REF_ARGS[name])
    np.testing.assert_allclose(res["psnr_per_image"], ps, rtol=1e-10)
    np.testing.assert_allclose(res["ssim_per_image"], ss, rtol=1e-6)
    assert res["n_images"] == 3 and res["protocol"] == name
    if name != "pfsr":
        assert res["psnr"] == pytest.approx(np.mean(ps), rel=1e-12)
        assert res["ssim"] == pytest.approx(np.mean(ss), rel=1e-6)
        assert res["ms_ssim"] == pytest.approx(np.mean(res["ms_ssim_per_image"]), rel=1e-12)
    assert 0 < res["ms_ssim"] < 1


def test_protocols_give_distinct_results():
    sr, hr = _fixture_pair()
    out = {name: evaluate(sr, hr, name) for name in _REF_ARGS}
    psnrs = {n: round(r["psnr"], 6) for n, r in out.items()}
    ssims = {n: round(r["ssim"], 6) for n, r in out.items()}
    # every protocol except the released-DIC twin differs in PSNR ...
    names = [n for n in psnrs if n != "dic-released"]
    assert len({psnrs[n] for n in names}) == len(names), psnrs
    # ... and the DIC overflow changes SSIM only
    assert psnrs["dic"] == psnrs["dic-released"] and ssims["dic"] != ssims["dic-released"]
    # round vs trunc and crop vs none each matter on their own
    assert psnrs["facesr"] != psnrs["sparnet"]
    assert psnrs["facesr"] != psnrs["dic"]


def test_pfsr_batch16_averaging():
    sr, hr = _fixture_pair(n=20, size=32, seed=12)
    for i in range(16, 20):  # make the last (short) batch clearly worse
        sr[i] = hr[i] + _rng(i).normal(0, 0.2, hr[i].shape)
    res = evaluate(sr, hr, "pfsr")
    batches = []
    for idx in (range(0, 16), range(16, 20)):
        m = np.mean([np.mean((sr[i] * 255 - hr[i] * 255) ** 2) for i in idx])
        batches.append(10 * math.log10(255**2 / m))
    assert res["psnr_per_batch"] == pytest.approx(batches, rel=1e-10)
    assert res["psnr"] == pytest.approx(np.mean(batches), rel=1e-10)
    assert abs(res["psnr"] - np.mean(res["psnr_per_image"])) > 0.1
    ssim_b = [np.mean(res["ssim_per_image"][:16]), np.mean(res["ssim_per_image"][16:])]
    assert res["ssim"] == pytest.approx(np.mean(ssim_b), rel=1e-12)


def test_uint8_inputs_are_taken_as_quantised():
    sr, hr = _fixture_pair()
    sr8 = [np.rint(np.clip(s, 0, 1) * 255).astype(np.uint8) for s in sr]
    hr8 = [np.rint(h * 255).astype(np.uint8) for h in hr]
    a = evaluate(sr, hr, "facesr")
    b = evaluate(sr8, hr8, "facesr")
    c = evaluate([s / 255.0 for s in sr8], [h / 255.0 for h in hr8], "facesr")
    for key in ("psnr", "ssim", "ms_ssim"):
        assert a[key] == pytest.approx(b[key], rel=1e-12) == c[key]


def test_accumulator_matches_evaluate_with_torch_and_numpy_batches():
    torch = pytest.importorskip("torch")
    sr, hr = _fixture_pair(n=20, size=32, seed=13)
    for name in ("facesr", "pfsr"):
        ref = evaluate(sr, hr, name)
        acc = MetricAccumulator(name)
        # torch NCHW float64 in uneven chunks, then a numpy NHWC batch
        for lo, hi in ((0, 7), (7, 18)):
            t_sr = torch.from_numpy(np.stack(sr[lo:hi])).permute(0, 3, 1, 2).double()
            t_hr = torch.from_numpy(np.stack(hr[lo:hi])).permute(0, 3, 1, 2).double()
            acc.update(t_sr, t_hr)
        acc.update(np.stack(sr[18:]), np.stack(hr[18:]))
        got = acc.compute()
        assert len(acc) == 20
        for key in ("psnr", "ssim", "ms_ssim"):
            assert got[key] == pytest.approx(ref[key], rel=1e-12), (name, key)
        np.testing.assert_allclose(got["psnr_per_image"], ref["psnr_per_image"], rtol=1e-12)
    acc = MetricAccumulator()
    with pytest.raises(ValueError):
        acc.compute()
    with pytest.raises(ValueError):
        acc.update(np.zeros((2, 16, 16, 3)), np.zeros((3, 16, 16, 3)))


def test_metrics_import_does_not_import_torch():
    code = "import sys, facesr.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --------------------------------------------------------------------------
# bicubic baselines on the shared test sets
# --------------------------------------------------------------------------
def _bicubic_pairs(folder):
    from PIL import Image

    hr_dir = DATA / folder / "HR"
    if not hr_dir.is_dir():
        pytest.skip(f"{hr_dir} not found (shared data absent)")
    files = sorted(hr_dir.glob("*.jpg"))
    if not files:
        pytest.skip(f"no images in {hr_dir}")
    srs, hrs = [], []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            assert im.size == (128, 128)
            sr = im.resize((16, 16), Image.BICUBIC).resize((128, 128), Image.BICUBIC)
            hrs.append(np.asarray(im))
            srs.append(np.asarray(sr))
    return srs, hrs


# measured with this implementation (PIL bicubic 128->16->128, uint8)
HELEN50_BICUBIC = {
    "facesr": (23.64550, 0.66201, 0.84959),
    "dic": (23.77721, 0.65902, 0.84136),
    "dic-released": (23.77721, 0.66061, 0.84136),
    "sparnet": (23.64555, 0.66191, 0.84955),
    "pfsr": (22.29075, 0.63938, 0.84823),
    "kdfsr": (23.77919, 0.65971, 0.84141),
}


@pytest.mark.data
def test_bicubic_baseline_helen50():
    srs, hrs = _bicubic_pairs("helen_test50_fsrnet")
    assert len(srs) == 50
    res = evaluate(srs, hrs, "facesr")
    assert abs(res["psnr"] - 23.6455) < 0.01 and round(res["psnr"], 2) == 23.65
    assert abs(res["ssim"] - 0.6620) < 0.001 and round(res["ssim"], 3) == 0.662
    for name, (p, s, m) in HELEN50_BICUBIC.items():
        r = res if name == "facesr" else evaluate(srs, hrs, name)
        assert (r["psnr"], r["ssim"], r["ms_ssim"]) == (
            pytest.approx(p, abs=1e-4), pytest.approx(s, abs=1e-4), pytest.approx(m, abs=1e-4)), name


@pytest.mark.data
@pytest.mark.slow
def test_bicubic_baseline_celeba1000():
    srs, hrs = _bicubic_pairs("celeba_test1000_fsrnet")
    assert len(srs) == 1000
    res = evaluate(srs, hrs, "facesr")
    assert abs(res["psnr"] - 23.4841) < 0.01 and round(res["psnr"], 2) == 23.48
    assert abs(res["ssim"] - 0.6346) < 0.001 and round(res["ssim"], 3) == 0.635
