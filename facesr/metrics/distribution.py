"""How close two *sets* of images are as distributions, offline: the sliced Wasserstein distance (SWD) of
Laplacian-pyramid patches (Karras et al., "Progressive Growing of GANs", 2018, §5).

FID needs an ImageNet Inception network that cannot be had offline here; SWD needs no trained network.
Each image is split into a Laplacian pyramid (5-tap binomial filter [1 4 6 4 1] / 16, reflected edges):
band-pass levels down to ``min_size`` px and the low-pass residual at ``min_size``. From every level, 7 x 7
x 3 patches (``patch``; at most ``patches_per_image`` per image, drawn with ``seed``) become 147-dimensional
descriptors. Per level, the distance is the mean over ``n_directions`` random unit directions of the 1-D
Wasserstein-1 distance between the two sets' projections (sorted, equal counts), times 1000.

One departure from the paper's code, on purpose: the paper normalises each *set*'s descriptors by that set's
own per-channel mean and standard deviation, which makes a set with more noise or less detail (a larger or
smaller band-pass variance) look like one without. Here both sets are normalised by the *reference* set's
statistics (``a``), so the distance sees noise, blur and contrast. Level names are the level's size in px
(``"16"``, ``"8"``); ``"mean"`` averages the levels. Pure numpy / scipy (no torch).
"""
from __future__ import annotations

import numpy as np

__all__ = ["laplacian_pyramid", "patch_descriptors", "sliced_wasserstein", "swd"]

_K = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: np.ndarray) -> np.ndarray:
    from scipy.ndimage import convolve1d

    return convolve1d(convolve1d(x, _K, axis=1, mode="reflect"), _K, axis=2, mode="reflect")


def laplacian_pyramid(images: np.ndarray, min_size: int = 8) -> list[np.ndarray]:
    """``images`` N x H x W x C (float, H = W a power-of-two multiple of ``min_size``) -> the band-pass
    levels from H down to 2 ``min_size``, then the low-pass residual at ``min_size``."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 4 or x.shape[1] != x.shape[2]:
        raise ValueError(f"laplacian_pyramid takes N x S x S x C images, got {x.shape}")
    s = x.shape[1]
    if min_size < 1 or s < min_size or s % min_size or (s // min_size) & (s // min_size - 1):
        raise ValueError(f"image size {s} must be a power-of-two multiple of min_size {min_size}")
    levels = []
    while x.shape[1] > min_size:
        small = _blur(x)[:, ::2, ::2]
        up = np.zeros_like(x)
        up[:, ::2, ::2] = small * 4.0
        levels.append(x - _blur(up))
        x = small
    levels.append(x)
    return levels


def patch_descriptors(level: np.ndarray, patch: int = 7, patches_per_image: int = 128,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Patches of one pyramid level (N x S x S x C) as rows (M x patch*patch*C): every patch position when
    an image has at most ``patches_per_image`` of them, else that many drawn without replacement."""
    from numpy.lib.stride_tricks import sliding_window_view

    n, s, _, c = level.shape
    if s < patch:
        raise ValueError(f"a {s} px level is smaller than the {patch} px patch")
    win = sliding_window_view(level, (patch, patch), axis=(1, 2))  # N x P x P x C x patch x patch
    p = s - patch + 1
    win = win.reshape(n, p * p, c * patch * patch)
    if p * p <= patches_per_image:
        return win.reshape(-1, win.shape[-1])
    rng = np.random.default_rng(0) if rng is None else rng
    idx = np.stack([rng.choice(p * p, patches_per_image, replace=False) for _ in range(n)])
    return np.take_along_axis(win, idx[:, :, None], axis=1).reshape(-1, win.shape[-1])


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, n_directions: int = 512,
                       rng: np.random.Generator | None = None) -> float:
    """Mean over ``n_directions`` random unit directions of the 1-D Wasserstein-1 distance between the
    projections of the rows of ``a`` and ``b`` (M x D each; the larger set is subsampled to the smaller's
    count with ``rng``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise ValueError(f"sliced_wasserstein takes two non-empty M x D arrays, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(0) if rng is None else rng
    m = min(len(a), len(b))
    if len(a) > m:
        a = a[rng.choice(len(a), m, replace=False)]
    if len(b) > m:
        b = b[rng.choice(len(b), m, replace=False)]
    dirs = rng.standard_normal((a.shape[1], n_directions))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean())


def swd(a_images, b_images, min_size: int = 8, patch: int = 7, patches_per_image: int = 128,
        n_directions: int = 512, seed: int = 0) -> dict[str, float]:
    """SWD x 1000 per pyramid level (and ``"mean"``) between image sets ``a_images`` (the reference: its
    descriptor statistics normalise both sets) and ``b_images``: sequences of uint8 H x W x 3 arrays of
    one size (the sets may differ in count). Deterministic for a given ``seed``."""
    a = np.stack([np.asarray(x) for x in a_images]).astype(np.float64) / 255.0
    b = np.stack([np.asarray(x) for x in b_images]).astype(np.float64) / 255.0
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"swd compares images of one size, got {a.shape[1:]} and {b.shape[1:]}")
    out: dict[str, float] = {}
    for i, (la, lb) in enumerate(zip(laplacian_pyramid(a, min_size), laplacian_pyramid(b, min_size))):
        da = patch_descriptors(la, patch, patches_per_image, np.random.default_rng([seed, i, 0]))
        db = patch_descriptors(lb, patch, patches_per_image, np.random.default_rng([seed, i, 1]))
        c = la.shape[-1]
        ch_a = da.reshape(len(da), c, -1)  # descriptor rows are (C, patch, patch) after sliding_window_view
        mean = ch_a.mean(axis=(0, 2))
        std = ch_a.std(axis=(0, 2)) + 1e-8

        def norm(d):
            return ((d.reshape(len(d), c, -1) - mean[None, :, None]) / std[None, :, None]).reshape(len(d), -1)

        out[str(la.shape[1])] = 1000.0 * sliced_wasserstein(norm(da), norm(db), n_directions,
                                                            np.random.default_rng([seed, i, 2]))
    out["mean"] = float(np.mean(list(out.values())))
    return out
