"""Image-quality metrics in pure numpy/scipy (float64).

Everything here works on planes in the 0..255 scale (or any scale, given the
matching ``data_range``); the protocol layer (:mod:`facesr.metrics.protocols`)
decides how network outputs become such planes (clamping, quantisation, Y
conversion, border crop).

Functions
---------
``rgb_to_y(img, *, quantize)``
    ITU-R BT.601 luma as MATLAB's ``rgb2ycbcr`` computes it.
``psnr(a, b, data_range)``
    Peak signal-to-noise ratio, float64.
``ssim(a, b, *, data_range, variant)``
    Single-scale SSIM (Wang et al. 2004) with an 11x11 Gaussian window,
    sigma 1.5, K1 = 0.01, K2 = 0.03, population (co)variances.
``ms_ssim(a, b, data_range)``
    Multi-scale SSIM (Wang, Simoncelli & Bovik 2003), 5 scales.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from scipy import ndimage

__all__ = [
    "MS_SSIM_WEIGHTS",
    "SSIM_VARIANTS",
    "MS_SSIM_VARIANTS",
    "Y_QUANTIZE",
    "gaussian_window",
    "rgb_to_y",
    "psnr",
    "mse",
    "ssim",
    "ssim_and_cs",
    "ms_ssim",
    "ms_ssim_components",
    "combine_ms_ssim",
]

#: MS-SSIM exponents for scales 1 (finest) .. 5 (coarsest), Wang et al. 2003.
MS_SSIM_WEIGHTS: Tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

#: ``"gaussian_valid"``: explicit 11x11 Gaussian, 'valid' region only (the
#: MATLAB ``ssim_index`` / DIC / KDFSRNet / PFSR style).
#: ``"skimage"``: what ``skimage.metrics.structural_similarity(gaussian_weights=True,
#: sigma=1.5, use_sample_covariance=False)`` computes (reflect-padded
#: ``scipy.ndimage`` Gaussian filter, then the 5-px border of the SSIM map
#: dropped before averaging).  Because the dropped border is exactly the part
#: the padding influences, the two agree to rounding error (~1e-15) on any
#: image of at least 11x11; both are kept so that each protocol names the
#: code path it reproduces.
SSIM_VARIANTS = ("gaussian_valid", "skimage")

#: ``"wang2003"``: prod_{j<M} cs_j^w_j * ssim_M^w_M (the standard definition).
#: ``"pfsr"``: the released PFSR code's ``torch.prod(pow1[:-1] * pow2[-1])``,
#: which multiplies the coarsest-scale ssim term into each of the first four
#: factors, i.e. prod_{j<M} cs_j^w_j * ssim_M^((M-1) w_M).
MS_SSIM_VARIANTS = ("wang2003", "pfsr")

Y_QUANTIZE = ("round", "trunc", "none")

_SIGMA = 1.5
_WIN = 11
_K1 = 0.01
_K2 = 0.03
# BT.601 "studio swing" luma coefficients scaled as in MATLAB's rgb2ycbcr.
_Y_COEFS = np.array([65.481, 128.553, 24.966], dtype=np.float64)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")


def _planes(x: np.ndarray) -> np.ndarray:
    """HxW -> 1xHxW, HxWxC -> CxHxW (channels last in, channels first out)."""
    if x.ndim == 2:
        return x[None]
    if x.ndim == 3:
        return np.moveaxis(x, -1, 0)
    raise ValueError(f"expected an HxW or HxWxC array, got shape {x.shape}")


def gaussian_window(size: int = _WIN, sigma: float = _SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian of ``size`` taps centred on index ``size // 2``.

    For odd sizes this is the symmetric kernel of MATLAB ``fspecial`` /
    ``cv2.getGaussianKernel``.  For even sizes (only used by :func:`ms_ssim`
    when an image is smaller than 11 px) it is centred half a pixel off, as
    the PFSR code's ``gaussian(window_size, 1.5)`` is.
    """
    if size < 1:
        raise ValueError("window size must be >= 1")
    x = np.arange(size, dtype=np.float64) - (size // 2)
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Separable 2-D cross-correlation of the last two axes, 'valid' region."""
    k = w.size
    h, wd = x.shape[-2], x.shape[-1]
    if h < k or wd < k:
        raise ValueError(f"window of {k} px does not fit a {h}x{wd} image")
    oh, ow = h - k + 1, wd - k + 1
    rows = w[0] * x[..., 0:oh, :]
    for i in range(1, k):
        rows = rows + w[i] * x[..., i : i + oh, :]
    out = w[0] * rows[..., 0:ow]
    for i in range(1, k):
        out = out + w[i] * rows[..., i : i + ow]
    return out


def _filter_skimage(x: np.ndarray) -> np.ndarray:
    """skimage's Gaussian path: reflect padding, truncate 3.5 (11 taps), then
    the 5-px border that the padding touches is cropped (skimage crops the
    SSIM map, which is the same thing since the map is pointwise)."""
    r = int(3.5 * _SIGMA + 0.5)
    out = np.empty_like(x)
    for c in range(x.shape[0]):
        out[c] = ndimage.gaussian_filter(x[c], sigma=_SIGMA, truncate=3.5, mode="reflect")
    return out[..., r:-r, r:-r]


def _ssim_cs_maps(x: np.ndarray, y: np.ndarray, data_range: float, filt) -> Tuple[np.ndarray, np.ndarray]:
    """SSIM map and contrast-structure (cs) map for CxHxW float64 stacks."""
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    mu_x = filt(x)
    mu_y = filt(y)
    sxx = filt(x * x) - mu_x * mu_x
    syy = filt(y * y) - mu_y * mu_y
    sxy = filt(x * y) - mu_x * mu_y
    cs = (2.0 * sxy + c2) / (sxx + syy + c2)
    lum = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return lum * cs, cs


# --------------------------------------------------------------------------
# colour
# --------------------------------------------------------------------------
def rgb_to_y(img, *, quantize: str) -> np.ndarray:
    """BT.601 luma of an HxWx3 RGB array in [0, 255]:

        Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255      (Y in [16, 235])

    ``quantize``: ``"round"`` (numpy round-half-to-even, as ``np.round`` in
    the DIC/BasicSR ``rgb2ycbcr`` on uint8), ``"trunc"`` (toward zero, as
    SPARNet's ``.astype(np.uint8)``) or ``"none"`` (float Y, as KDFSRNet).

    Float64 arithmetic order follows the code each mode comes from:
    ``dot(rgb, coefs) / 255 + 16`` for round/none (DIC), and
    ``16 + rgb @ (coefs / 255)`` for trunc (SPARNet).  The two orders differ
    in the last ulp for a few dozen of the 2^24 uint8 colours, which only
    matters when the result is exactly an integer (trunc) or exactly .5
    (round).
    """
    if quantize not in Y_QUANTIZE:
        raise ValueError(f"quantize must be one of {Y_QUANTIZE}, got {quantize!r}")
    x = _f64(img)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"expected an ...x3 RGB array, got shape {x.shape}")
    if quantize == "trunc":
        y = 16.0 + x @ (_Y_COEFS / 255.0)
        return np.trunc(y)
    y = (x @ _Y_COEFS) / 255.0 + 16.0
    if quantize == "round":
        y = np.round(y)
    return y


# --------------------------------------------------------------------------
# PSNR
# --------------------------------------------------------------------------
def mse(a, b) -> float:
    """Mean squared error over all elements, float64."""
    a, b = _f64(a), _f64(b)
    _check_pair(a, b)
    d = a - b
    return float(np.mean(d * d))


def psnr(a, b, data_range) -> float:
    """PSNR = 10 log10(data_range^2 / MSE) in dB over all elements (all
    channels together); ``inf`` for identical inputs."""
    m = mse(a, b)
    if m == 0.0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / m))


# --------------------------------------------------------------------------
# SSIM
# --------------------------------------------------------------------------
def ssim_and_cs(a, b, *, data_range, variant: str = "gaussian_valid", window: int = _WIN) -> Tuple[float, float]:
    """Mean SSIM and mean contrast-structure term, each averaged over the map
    and then over channels.  ``window`` (odd or even, <= 11) only applies to
    ``"gaussian_valid"``; :func:`ms_ssim` uses it for small coarse scales."""
    x, y = _f64(a), _f64(b)
    _check_pair(x, y)
    x, y = _planes(x), _planes(y)
    if variant == "gaussian_valid":
        w = gaussian_window(window)
        filt = lambda z: _filter_valid(z, w)  # noqa: E731
    elif variant == "skimage":
        if window != _WIN:
            raise ValueError("the skimage variant has a fixed 11-px window")
        if min(x.shape[-2:]) < _WIN:
            raise ValueError(f"images must be at least {_WIN}x{_WIN} for SSIM")
        filt = _filter_skimage
    else:
        raise ValueError(f"variant must be one of {SSIM_VARIANTS}, got {variant!r}")
    s_map, cs_map = _ssim_cs_maps(x, y, float(data_range), filt)
    s = s_map.reshape(s_map.shape[0], -1).mean(axis=1).mean()
    cs = cs_map.reshape(cs_map.shape[0], -1).mean(axis=1).mean()
    return float(s), float(cs)


def ssim(a, b, *, data_range, variant: str) -> float:
    """Structural similarity of two HxW (or HxWxC, channel-averaged) arrays.

    Gaussian window 11x11, sigma 1.5; C1 = (0.01 L)^2, C2 = (0.03 L)^2 with
    L = ``data_range``; population (not sample) covariances; the SSIM map is
    averaged over the region where the window lies fully inside the image.
    ``variant`` is ``"gaussian_valid"`` (explicit valid correlation, MATLAB /
    DIC style) or ``"skimage"`` (``skimage.metrics.structural_similarity`` with
    ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False``).
    """
    return ssim_and_cs(a, b, data_range=data_range, variant=variant)[0]


# --------------------------------------------------------------------------
# MS-SSIM
# --------------------------------------------------------------------------
def _avg_pool2(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling, stride 2, odd trailing row/column dropped
    (``torch.nn.functional.avg_pool2d(x, 2)``)."""
    h, w = (x.shape[-2] // 2) * 2, (x.shape[-1] // 2) * 2
    x = x[..., :h, :w]
    return 0.25 * (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2])


def ms_ssim_components(a, b, data_range, *, scales: int = len(MS_SSIM_WEIGHTS)) -> Tuple[np.ndarray, np.ndarray]:
    """Per-scale mean SSIM and mean cs (each channel-averaged), finest first.

    At every scale the window is ``min(11, H, W)`` taps (see :func:`ms_ssim`).
    Exposed so that callers can pool the terms over a batch before combining
    them, as the PFSR evaluation does.
    """
    x, y = _f64(a), _f64(b)
    _check_pair(x, y)
    ss, css = [], []
    for j in range(scales):
        h, w = x.shape[0], x.shape[1]
        if min(h, w) < 1:
            raise ValueError("image too small for the requested number of MS-SSIM scales")
        win = min(_WIN, h, w)
        s, cs = ssim_and_cs(x, y, data_range=data_range, variant="gaussian_valid", window=win)
        ss.append(s)
        css.append(cs)
        if j + 1 < scales:
            x = np.moveaxis(_avg_pool2(_planes(x)), 0, -1) if x.ndim == 3 else _avg_pool2(x)
            y = np.moveaxis(_avg_pool2(_planes(y)), 0, -1) if y.ndim == 3 else _avg_pool2(y)
    return np.array(ss), np.array(css)


def combine_ms_ssim(ssims: Sequence[float], css: Sequence[float], *, weights: Sequence[float] = MS_SSIM_WEIGHTS, variant: str = "wang2003") -> float:
    """Combine per-scale terms into MS-SSIM.

    Negative terms (possible for anti-correlated images) are clamped to 0
    before the fractional power, so the result is in [0, 1] instead of NaN.
    """
    w = np.asarray(weights, dtype=np.float64)
    s = np.clip(np.asarray(ssims, dtype=np.float64), 0.0, None)
    cs = np.clip(np.asarray(css, dtype=np.float64), 0.0, None)
    if not (s.size == cs.size == w.size):
        raise ValueError("need one ssim and one cs value per weight")
    head = float(np.prod(cs[:-1] ** w[:-1]))
    if variant == "wang2003":
        return head * float(s[-1] ** w[-1])
    if variant == "pfsr":
        return head * float(s[-1] ** (w[-1] * (w.size - 1)))
    raise ValueError(f"variant must be one of {MS_SSIM_VARIANTS}, got {variant!r}")


def ms_ssim(a, b, data_range, *, weights: Sequence[float] = MS_SSIM_WEIGHTS, variant: str = "wang2003") -> float:
    """Multi-scale SSIM.

    Definition followed (``variant="wang2003"``, the default): Wang, Simoncelli
    & Bovik, "Multi-scale structural similarity for image quality assessment",
    Asilomar 2003:

        MS-SSIM = prod_{j=1..M-1} cs_j ^ w_j  *  ssim_M ^ w_M,   M = 5,

    with w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), where cs_j is the mean
    contrast-structure term (2 s_xy + C2) / (s_x^2 + s_y^2 + C2) at scale j
    and ssim_M the mean full SSIM at the coarsest scale; the image is reduced
    by 2x2 average pooling (stride 2) between scales.  Each scale uses the
    'valid' 11x11 Gaussian (sigma 1.5) window with C1 = (0.01 L)^2,
    C2 = (0.03 L)^2; RGB inputs are channel-averaged per scale.

    Small images: a 128-px image is 8 px at the fifth scale, where an 11x11
    valid window cannot fit.  As in the PFSR code, the window at each scale is
    then ``min(11, H, W)`` taps of the same sigma-1.5 Gaussian, renormalised
    and centred on index ``size // 2`` (so 8 taps at 8 px, giving a single
    SSIM value per channel).  Images that can hold the 11-px window at every
    scale (>= 176 px) are unaffected.

    ``variant="pfsr"`` reproduces the released PFSR code's combination (the
    coarsest ssim term raised to 4 * w_5); see :data:`MS_SSIM_VARIANTS`.
    """
    s, cs = ms_ssim_components(a, b, data_range, scales=len(weights))
    return combine_ms_ssim(s, cs, weights=weights, variant=variant)
