"""Restoration models on aligned test faces degraded by the held-out chain: PSNR / SSIM, sharpness and a
patch-distribution distance to the real faces (the ablation table of sparnethd-lite's losses).

    python benchmarks/bench_restore_ablation.py --models L1=runs/a/final.safetensors GAN=runs/b/final.safetensors
        [--data ../shared/data/helen_test50_fsrnet ../shared/data/celeba_test1000_fsrnet] [--max-faces 200]
        [--grid docs/restore_ablation_grid.png] [-o benchmarks/results/restore_ablation.md]

Each HR test face (128 px) goes through ``holdout_moderate`` of :mod:`facesr.data.blind` (defocus blur
radius 0.8-1.6, Lanczos to 64 px, noise sigma 3-10, JPEG quality 50-80, bicubic back to 128; seed =
face index): no training preset uses its blur or its resampling filter. Columns:

* PSNR / SSIM: project protocol (Y, rounded), against the HR face.
* sharpness: mean |Y gradient| of the outputs over that of the HR faces (1.0 = as sharp as the real
  faces; bicubic-like outputs are far below it).
* SWD: the sliced Wasserstein distance between 7x7 RGB patches of the outputs and of the HR faces, on
  two Laplacian-pyramid levels (128 and 64 px), averaged, x1e3: the offline distribution measure of
  Karras et al. (ICLR 2018, "Progressive Growing of GANs", Sec. 5) in place of FID, whose Inception
  weights cannot be had here. Lower is closer to the real faces' texture statistics. 128 patches per
  face and level, 512 random directions, fixed seeds.

``--models`` takes ``LABEL=MODEL`` (registry name or .safetensors file) pairs; "degraded input" and
"bicubic" rows are added (the degraded input is already at 128 px: bicubic is the input itself).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _laplacian_levels(imgs: np.ndarray) -> list[np.ndarray]:
    """Two Laplacian-pyramid levels (full and half size) of float N x H x W x 3 images."""
    import scipy.ndimage as ndi

    levels = []
    x = imgs
    for _ in range(2):
        blur = ndi.gaussian_filter(x, sigma=(0, 1.0, 1.0, 0), mode="reflect")
        levels.append(x - blur)
        x = blur[:, ::2, ::2]
    return levels


def _patches(level: np.ndarray, per_image: int, rng: np.random.Generator, k: int = 7) -> np.ndarray:
    n, h, w, c = level.shape
    ys = rng.integers(0, h - k + 1, (n, per_image))
    xs = rng.integers(0, w - k + 1, (n, per_image))
    out = np.empty((n * per_image, k * k * c), np.float64)
    i = 0
    for j in range(n):
        for y, x in zip(ys[j], xs[j]):
            out[i] = level[j, y:y + k, x:x + k].ravel()
            i += 1
    return out


def swd(a: list[np.ndarray], b: list[np.ndarray], per_image: int = 128, dirs: int = 512, seed: int = 0) -> float:
    """Sliced Wasserstein distance (x1e3) between the 7x7 Laplacian patches of image sets ``a`` and ``b``
    (uint8 H x W x 3 each, same sizes), averaged over two pyramid levels. Patches are normalised per
    descriptor dimension by the pooled mean and std, as in Karras et al."""
    A = np.stack(a).astype(np.float64) / 255.0
    B = np.stack(b).astype(np.float64) / 255.0
    dists = []
    for la, lb in zip(_laplacian_levels(A), _laplacian_levels(B)):
        pa = _patches(la, per_image, np.random.default_rng(seed))
        pb = _patches(lb, per_image, np.random.default_rng(seed + 1))
        both = np.concatenate([pa, pb])
        mu, sd = both.mean(0), both.std(0) + 1e-8
        pa, pb = (pa - mu) / sd, (pb - mu) / sd
        d = np.random.default_rng(seed + 2).standard_normal((pa.shape[1], dirs))
        d /= np.linalg.norm(d, axis=0, keepdims=True)
        m = min(len(pa), len(pb))
        qa = np.sort(pa[:m] @ d, axis=0)
        qb = np.sort(pb[:m] @ d, axis=0)
        dists.append(float(np.abs(qa - qb).mean()))
    return 1e3 * float(np.mean(dists))


def sharpness(imgs) -> float:
    from facesr.metrics import rgb_to_y

    vals = []
    for im in imgs:
        y = rgb_to_y(im, quantize="round")
        vals.append(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())
    return float(np.mean(vals))


def holdout_faces(data_dir, max_faces: int = 0):
    """``(name, hrs, lqs)`` of a test set: its HR faces (uint8, 128 px; the first ``max_faces``, 0 = all)
    and each one through ``holdout_moderate`` at x2 and back to 128 px, seeded by the face index."""
    from facesr.data.degrade import make_degradation
    from facesr.evaluation.evaluate import load_test_set

    ts = load_test_set(data_dir, hr_size=128)
    hrs = [np.asarray(h) for h in ts.hr]
    if max_faces:
        hrs = hrs[:max_faces]
    deg = make_degradation({"kind": "holdout_moderate", "scale": 0.5, "back": True}, lr_size=128)
    return ts.name, hrs, [deg(h, np.random.default_rng(i)) for i, h in enumerate(hrs)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", required=True, help="LABEL=MODEL pairs")
    ap.add_argument("--data", nargs="+", default=[str(DATA / "helen_test50_fsrnet"), str(DATA / "celeba_test1000_fsrnet")])
    ap.add_argument("--max-faces", type=int, default=200, help="first N faces of each set (0: all)")
    ap.add_argument("--grid", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "restore_ablation.md"))
    args = ap.parse_args(argv)
    sets = [d for d in args.data if Path(d).exists()]
    if not sets:
        print("skipped: no test data found")
        return 0

    import torch

    import facesr
    from facesr.checkpoint import hardware
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate

    torch.set_num_threads(args.threads)
    models = []
    for spec in args.models:
        label, _, name = spec.partition("=")
        if not name:
            label, name = spec, spec
        models.append((label, facesr.load(name).eval(), name))
    cmd = command("bench_restore_ablation.py", argv)
    lines = ["# Restoration on aligned faces degraded by the held-out chain (`holdout_moderate`, x2)", "",
             f"{hardware()}, {args.threads} thread(s). Faces: HR 128 px -> disk blur r 0.8-1.6 -> Lanczos 64 px -> "
             f"noise sigma 3-10 -> JPEG q 50-80 -> bicubic 128 px (seed = face index). PSNR / SSIM: project "
             f"protocol (Y, rounded). Sharpness: mean |Y gradient| over the HR faces' (1.0 = as sharp). SWD: "
             f"sliced Wasserstein distance of 7x7 Laplacian patches to the HR faces (x1e3, lower = closer; "
             f"Karras et al. 2018), the offline stand-in for FID.", "", "```", cmd, "```", ""]
    grid_rows = None
    for d in sets:
        name, hrs, lq = holdout_faces(d, args.max_faces)
        cols = [("degraded input (= bicubic)", lq)]
        for label, net, _ in models:
            cols.append((label, super_resolve(lq, net, batch_size=8)))
        ref_sharp = sharpness(hrs)
        lines += [f"## {name}: {len(hrs)} faces", "", "| model | PSNR (dB) | SSIM | sharpness | SWD |",
                  "|---|---|---|---|---|"]
        for label, imgs in cols:
            m = evaluate(imgs, hrs)
            row = (f"| {label} | {m['psnr']:.2f} | {m['ssim']:.4f} | {sharpness(imgs) / ref_sharp:.3f} | "
                   f"{swd(imgs, hrs):.2f} |")
            lines.append(row)
            print(name, row, flush=True)
        lines.append("")
        if grid_rows is None:
            grid_rows = [[c[1][i] for c in cols] + [hrs[i]] for i in range(min(6, len(hrs)))]
            grid_labels = [c[0] for c in cols] + ["HR"]
    lines += ["Models: " + "; ".join(f"{label} = `{name}`" for label, _, name in models) + "."]
    if args.grid and grid_rows:
        from PIL import Image

        grid = np.concatenate([np.concatenate(r, axis=1) for r in grid_rows], axis=0)
        Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(args.grid)
        lines += ["", f"Grid `{args.grid}` (first faces of {Path(sets[0]).name}), columns: " + " | ".join(grid_labels) + "."]
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
