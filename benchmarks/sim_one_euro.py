"""The simulation behind the face tracker's One Euro setting (``beta``; facesr/enhance/track.py).

    python benchmarks/sim_one_euro.py

A 68-point face (140 px across) sways 80 px sideways (6 s period) with a slow drift at 25 fps; each
frame's landmarks get a common shift and per-point noise of ``sigma`` px. For each ``beta`` (``min_cutoff``
1 Hz) it prints the centroid's frame-to-frame *jitter* (RMS of the second difference of its error) and
its *offset* (RMS error: noise plus lag), raw and filtered, over 10 s (the first second left out).
No timing, no data: deterministic (seed 0).
"""
from __future__ import annotations

import numpy as np

from facesr.enhance.track import OneEuro


def path(k: int) -> np.ndarray:
    t = k / 25
    return np.array([360 + 80 * np.sin(2 * np.pi * t / 6) + 6 * t, 150 + 10 * np.sin(2 * np.pi * t / 4)])


def main() -> None:
    a = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    base = 70 * np.stack([np.cos(a), np.sin(a)], 1)
    print("| sigma (px) | beta | jitter raw / filtered | offset raw / filtered |\n|---|---|---|---|")
    for sigma in (0.5, 1.5):
        for beta in (2, 5, 10, 20):
            rng = np.random.default_rng(0)
            f = OneEuro(25, min_cutoff=1.0, beta=beta)
            raw, out, truth = [], [], []
            for k in range(250):
                x = base + path(k) + rng.normal(0, sigma, 2) + rng.normal(0, sigma, (68, 2))
                out.append(f(x).mean(0))
                raw.append(x.mean(0))
                truth.append(path(k))
            raw, out, truth = map(np.array, (raw, out, truth))
            jit = lambda c: np.sqrt(np.mean(np.sum(np.diff(c - truth, 2, axis=0)[25:] ** 2, 1)))  # noqa: E731
            off = lambda c: np.sqrt(np.mean(np.sum((c - truth)[25:] ** 2, 1)))  # noqa: E731
            print(f"| {sigma} | {beta} | {jit(raw):.2f} / {jit(out):.2f} | {off(raw):.2f} / {off(out):.2f} |")


if __name__ == "__main__":
    main()
