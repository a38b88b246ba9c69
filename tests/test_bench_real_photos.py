"""The no-reference measures behind benchmarks/bench_real_photos.py: blockiness sees 8 px block edges,
the rounding spread is small, and "worse beyond rounding" ignores changes 8-bit storage alone could make."""
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

pytest.importorskip("skimage")

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_real_photos.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(_PATH)


def _smooth(seed=0, n=96):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n]
    base = 120 + 40 * np.sin(x / 9.0) * np.cos(y / 13.0) + rng.normal(0, 2, (n, n))
    return np.repeat(np.clip(base, 0, 255)[..., None], 3, axis=2)


def test_blockiness_sees_block_edges(bench):
    img = _smooth()
    smooth = np.round(img).astype(np.uint8)
    # 8x8 blocks: every block flattened to its mean, as a coarse JPEG does
    blocks = img.reshape(12, 8, 12, 8, 3).mean(axis=(1, 3), keepdims=True)
    blocky = np.round(np.broadcast_to(blocks, (12, 8, 12, 8, 3)).reshape(96, 96, 3)).astype(np.uint8)
    _, b_smooth, _ = bench.measures(smooth)
    _, b_blocky, _ = bench.measures(blocky)
    assert abs(b_smooth - 1.0) < 0.1
    assert b_blocky > 3.0  # steps only across block edges
    # the grid phase matters: the same blocks seen with a 4 px offset have no edges on the assumed grid
    _, b_shifted, _ = bench.measures(blocky, offset=(4, 4))
    assert b_shifted < b_blocky / 2


def test_rounding_spread_is_small_and_noise_is_measured(bench):
    img = np.round(_smooth()).astype(np.uint8)
    noisy = np.clip(np.round(_smooth() + np.random.default_rng(1).normal(0, 6, (96, 96, 3))), 0, 255).astype(np.uint8)
    spread = bench.rounding_spread(img)
    assert spread.shape == (3,) and np.all(spread >= 0)
    assert spread[0] < 0.5 and spread[1] < 0.02
    n_clean, _, _ = bench.measures(img)
    n_noisy, _, _ = bench.measures(noisy)
    assert n_noisy - n_clean > 10 * spread[0]


def test_is_worse_strict_and_beyond_rounding(bench):
    tol = np.array([0.1, 0.003, 0.05])
    # strict: any rise counts
    assert bench.is_worse((1.0, 0.95, 5.0), (1.01, 0.95, 5.0))
    assert bench.is_worse((1.0, 0.95, 5.0), (0.5, 0.96, 5.0))
    assert not bench.is_worse((1.0, 1.05, 5.0), (0.5, 1.0, 9.0))
    # beyond rounding: a rise within the tolerance does not count, nor blockiness at or below 1.0
    assert not bench.is_worse((1.0, 0.95, 5.0), (1.05, 0.95, 5.0), tol)
    assert not bench.is_worse((1.0, 0.95, 5.0), (0.5, 0.99, 5.0), tol)
    assert bench.is_worse((1.0, 0.95, 5.0), (1.2, 0.95, 5.0), tol)
    assert bench.is_worse((1.0, 1.00, 5.0), (0.5, 1.01, 5.0), tol)
    assert not bench.is_worse((1.0, 1.00, 5.0), (0.5, 1.002, 5.0), tol)
