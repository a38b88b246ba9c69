"""The offline distribution distance (SWD of Laplacian-pyramid patches) used for styleVAE's LR."""
from __future__ import annotations

import numpy as np
import pytest

from facesr.metrics.distribution import laplacian_pyramid, patch_descriptors, sliced_wasserstein, swd


def _faces(n=24, s=16, seed=0):
    rng = np.random.default_rng(seed)
    # smooth random "faces": low-frequency colour fields, so added noise is what separates the sets
    base = rng.uniform(40, 200, (n, 4, 4, 3))
    up = np.repeat(np.repeat(base, s // 4, axis=1), s // 4, axis=2)
    return [x.astype(np.uint8) for x in up]


def test_pyramid_reconstructs_the_image():
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3))
    levels = laplacian_pyramid(x, min_size=4)
    assert [lv.shape[1] for lv in levels] == [16, 8, 4]
    # collapse: upsample (zero insert x4, blur) the coarser level and add the band
    from facesr.metrics.distribution import _blur

    y = levels[-1]
    for band in reversed(levels[:-1]):
        up = np.zeros_like(band)
        up[:, ::2, ::2] = y * 4.0
        y = band + _blur(up)
    np.testing.assert_allclose(y, x, atol=1e-12)


def test_patch_descriptors_counts():
    lv = np.zeros((3, 16, 16, 3))
    assert patch_descriptors(lv, 7, 1000).shape == (3 * 100, 147)  # every position: 10 x 10
    assert patch_descriptors(lv, 7, 20).shape == (3 * 20, 147)
    with pytest.raises(ValueError):
        patch_descriptors(np.zeros((1, 4, 4, 3)), 7)


def test_sliced_wasserstein_of_a_shift_is_the_mean_projected_shift():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((500, 5))
    v = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    got = sliced_wasserstein(a, a + v, n_directions=64, rng=np.random.default_rng(7))
    dirs = np.random.default_rng(7).standard_normal((5, 64))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    assert got == pytest.approx(np.abs(v @ dirs).mean(), rel=1e-12)
    assert sliced_wasserstein(a, a) == 0.0


def test_swd_is_zero_for_one_set_and_grows_with_noise():
    clean = _faces()
    assert swd(clean, clean)["mean"] == 0.0

    def noisy(sigma):
        return [np.clip(f + np.random.default_rng(i).normal(0, sigma, f.shape), 0, 255).astype(np.uint8)
                for i, f in enumerate(clean)]

    d = [swd(noisy(10), noisy(s))["16"] for s in (10, 5, 0)]
    assert d[0] == 0.0 < d[1] < d[2]
    with pytest.raises(ValueError):
        swd(clean, [f[:8, :8] for f in clean])
