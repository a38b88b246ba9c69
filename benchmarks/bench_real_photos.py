"""`facesr enhance` on the shared real low-quality photos (no ground truth): per-face no-reference
measures of the restored face against the plain resize, and before/after grids.

    python benchmarks/bench_real_photos.py [-m sparnethd-lite] [-s 2] [--grid-dir outputs/real_photos]
                                           [--public-grid docs/restore_real_solvay.png]

Inputs: ``../shared/data/real_lq_faces/*whole_imgs`` (whole photos: detected, restored, pasted back at
``-s``) and ``*cropped_faces`` / ``dfdnet_realvgg_aligned`` (512 px aligned faces: ``--aligned``, the
restored face at the model's size, enlarged to the crop's size for the comparison). For every face,
on the luma of the face region, "resize" (PIL bicubic of the photo, what enhance shows outside faces)
against "restored" (enhance's final image):

* noise: Donoho's wavelet estimate of the noise sigma (``skimage.restoration.estimate_sigma``,
  0-255 units);
* blockiness: mean |luma step| across the 8 px JPEG block boundaries of the original photo over the
  mean step inside blocks (1.0: no block edges; JPEG blocks push it above 1);
* sharpness: mean |luma gradient|.

A face counts as "worse" (strict) when its restored noise or blockiness is above the resize's by any
amount. A second count asks for a change beyond what storing the images in 8 bits can cause: each measure
of each region is re-taken 8 times with uniform noise of +-0.5 grey level added (the rounding every uint8
image has already been through); the largest deviation of the resize's and of the restored region's,
combined as sqrt(a^2 + b^2), is the tolerance the difference must exceed, and blockiness counts only above
1.0 (block edges stronger than the steps inside blocks; at or below 1 there are none to see). For the aligned
folders the report also gives the measures of the input taken to the model's size and back with no
model, the part of the change that the enlargement alone makes. Grids (face
regions: resize | restored) go to ``--grid-dir``; those images are research data and stay out of the
repository. ``--public-grid`` writes a grid of the two public-domain faces only (the 1927 Solvay
conference photo, in CodeFormer's inputs). Writes benchmarks/results/real_photos.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, missing, shown_path, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real_lq_faces"
PUBLIC = ("Solvay_conference_1927_0018.png", "Solvay_conference_1927_2_16.png")


def _luma(img: np.ndarray) -> np.ndarray:
    return img[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def measures(img: np.ndarray, offset=(0, 0)) -> tuple[float, float, float]:
    """(noise sigma, blockiness, sharpness) of a uint8 face region; ``offset``: the region's top-left in
    the image whose 8 px JPEG grid counts (its phase), scaled to this image."""
    from skimage.restoration import estimate_sigma

    y = _luma(img)
    noise = float(estimate_sigma(y, channel_axis=None))
    dx = np.abs(np.diff(y, axis=1))
    dy = np.abs(np.diff(y, axis=0))
    cols = (np.arange(dx.shape[1]) + offset[1]) % 8 == 7
    rows = (np.arange(dy.shape[0]) + offset[0]) % 8 == 7
    inside = np.concatenate([dx[:, ~cols].ravel(), dy[~rows].ravel()]).mean()
    edge = np.concatenate([dx[:, cols].ravel(), dy[rows].ravel()]).mean() if cols.any() and rows.any() else inside
    sharp = float(dx.mean() + dy.mean())
    return noise, float(edge / max(inside, 1e-9)), sharp


def rounding_spread(img: np.ndarray, offset=(0, 0), draws: int = 8, seed: int = 0, base=None) -> np.ndarray:
    """The largest change of each of :func:`measures` when +-0.5 grey level of uniform noise (8-bit
    rounding) is added to ``img``, over ``draws`` seeded draws: changes this small say nothing.
    ``base``: ``measures(img, offset)`` when the caller has it already."""
    rng = np.random.default_rng(seed)
    base = np.array(measures(img, offset) if base is None else base)
    x = img.astype(np.float64)
    return np.max([np.abs(np.array(measures(x + rng.uniform(-0.5, 0.5, x.shape), offset)) - base)
                   for _ in range(draws)], axis=0)


def is_worse(resize, restored, tol=None) -> bool:
    """Restored (noise, blockiness, sharpness) worse than the resize's: noise or blockiness higher. With
    ``tol`` (per-measure tolerance), only by more than ``tol`` and, for blockiness, above 1.0."""
    if tol is None:
        return restored[0] > resize[0] or restored[1] > resize[1]
    return (restored[0] - resize[0] > tol[0]
            or (restored[1] > 1.0 and restored[1] - resize[1] > tol[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", default="sparnethd-lite")
    ap.add_argument("-s", "--upscale", type=float, default=2.0)
    ap.add_argument("-w", "--weight", type=float, default=1.0)
    ap.add_argument("--grid-dir", default=str(ROOT / "outputs" / "real_photos"))
    ap.add_argument("--public-grid", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "real_photos.md"))
    args = ap.parse_args(argv)
    why = missing(DATA, dlib=True)
    if why:
        print(f"skipped: {why}")
        return 0
    import torch
    from PIL import Image

    from facesr.checkpoint import hardware
    from facesr.data.io import list_images, read_image
    from facesr.enhance import FaceEnhancer
    from facesr.inference.visual import comparison_grid

    torch.set_num_threads(args.threads)
    enh = FaceEnhancer(args.model, upscale=args.upscale, weight=args.weight)
    rows: dict[str, list] = {}
    trips: dict[str, list] = {}
    grids: dict[str, list] = {}
    public = []
    for d in sorted(p for p in DATA.iterdir() if p.is_dir()):
        aligned = "whole" not in d.name
        for f in list_images(d):
            img = read_image(f)
            res = enh.enhance(img, aligned=aligned)
            if aligned:
                H, W = img.shape[:2]
                rest = np.asarray(Image.fromarray(res.final).resize((W, H), Image.BICUBIC))
                pairs = [((0, H, 0, W), img, rest, (0, 0))]
                # reference: the input through the model's size and back, with no model (what the
                # enlargement alone does to the measures)
                n = int(enh.net.hr_size)
                trip = np.asarray(Image.fromarray(img).resize((n, n), Image.BICUBIC).resize((W, H), Image.BICUBIC))
                trips.setdefault(d.name, []).append(measures(trip))
            else:
                s = args.upscale
                H, W = img.shape[:2]
                big = np.asarray(Image.fromarray(img).resize(res.final.shape[1::-1], Image.BICUBIC))
                pairs = []
                for box in res.boxes:
                    x0, y0, x1, y1 = [float(v) for v in box]
                    Y0, Y1 = max(0, int(y0 * s)), min(res.final.shape[0], int(y1 * s))
                    X0, X1 = max(0, int(x0 * s)), min(res.final.shape[1], int(x1 * s))
                    if Y1 - Y0 < 16 or X1 - X0 < 16:
                        continue
                    pairs.append(((Y0, Y1, X0, X1), big, res.final, (Y0, X0)))
            for (Y0, Y1, X0, X1), a, b, off in pairs:
                ra, rb = a[Y0:Y1, X0:X1], b[Y0:Y1, X0:X1]
                # the JPEG grid of the photo, seen in the enlarged image: measure on the photo's scale
                scale = 1.0 if aligned else args.upscale
                sa = np.asarray(Image.fromarray(ra).resize((max(8, int(ra.shape[1] / scale)),
                                                            max(8, int(ra.shape[0] / scale))), Image.BICUBIC))
                sb = np.asarray(Image.fromarray(rb).resize(sa.shape[1::-1], Image.BICUBIC))
                o = (int(off[0] / scale), int(off[1] / scale))
                ma, mb = measures(sa, o), measures(sb, o)
                tol = np.hypot(rounding_spread(sa, o, base=ma), rounding_spread(sb, o, base=mb))
                rows.setdefault(d.name, []).append((f.name, ma, mb, tol))
                grids.setdefault(d.name, []).append([ra, rb])
                if f.name in PUBLIC:
                    public.append([ra, rb])
        print(f"{d.name}: {len(rows.get(d.name, []))} faces", flush=True)

    cmd = command("bench_real_photos.py", argv)
    lines = [f"# `facesr enhance` on the real low-quality photos (no ground truth): model `{args.model}`, "
             f"upscale {args.upscale:g}, strength {args.weight:g}", "",
             f"{hardware()}. Per face region, on luma, at the photo's own scale: noise = wavelet sigma estimate "
             f"(skimage estimate_sigma, 0-255), blockiness = mean step across the photo's 8 px JPEG grid over the "
             f"mean step inside blocks (1 = none), sharpness = mean |gradient|. resize = PIL bicubic of the "
             f"photo; restored = enhance's output. Medians per folder; 'worse' = restored noise or blockiness "
             f"above the resize's by any amount (strict); 'beyond rounding' = by more than 8-bit rounding moves "
             f"the measures (+-0.5 grey level, 8 draws, both regions), blockiness only above 1.0.", "", "```", cmd,
             "```", "",
             "| folder | faces | noise resize -> restored | blockiness resize -> restored | sharpness resize -> "
             "restored | worse (strict) | worse (beyond rounding) |", "|---|---|---|---|---|---|---|"]
    worse_all, worse_tol = [], []
    for name, rs in rows.items():
        a = np.array([r[1] for r in rs])
        b = np.array([r[2] for r in rs])
        worse = [r[0] for r in rs if is_worse(r[1], r[2])]
        beyond = [r for r in rs if is_worse(r[1], r[2], r[3])]
        worse_all += [f"{name}/{w}" for w in worse]
        worse_tol += [f"{name}/{r[0]} (noise {r[1][0]:.3f} -> {r[2][0]:.3f}, blockiness {r[1][1]:.4f} -> "
                      f"{r[2][1]:.4f}, tolerance {r[3][0]:.3f} / {r[3][1]:.4f})" for r in beyond]
        med_a, med_b = np.median(a, axis=0), np.median(b, axis=0)
        lines.append(f"| {name} | {len(rs)} | {med_a[0]:.2f} -> {med_b[0]:.2f} | {med_a[1]:.3f} -> {med_b[1]:.3f} | "
                     f"{med_a[2]:.1f} -> {med_b[2]:.1f} | {len(worse)} | {len(beyond)} |")
    lines += ["", "Faces counted worse (strict): " + (", ".join(worse_all) if worse_all else "none") + ".",
              "", "Faces worse beyond rounding: " + ("; ".join(worse_tol) if worse_tol else "none") + "."]
    if trips:
        lines += ["", "Aligned crops are restored at the model's size and enlarged back. For reference, the input "
                  "through that size and back with bicubic, no model (noise / blockiness / sharpness, medians): "
                  + "; ".join(f"{k}: {m[0]:.2f} / {m[1]:.3f} / {m[2]:.1f}"
                              for k, m in ((k, np.median(np.array(v), axis=0)) for k, v in trips.items())) + "."]
    gd = Path(args.grid_dir)
    gd.mkdir(parents=True, exist_ok=True)
    for name, g in grids.items():
        img = comparison_grid(g, ["resize", "restored"], cell=192)
        Image.fromarray(img).save(gd / f"{name}.png")
    lines += ["", f"Grids (research images, not in the repository): `{shown_path(gd)}/<folder>.png`."]
    if args.public_grid and public:
        Image.fromarray(comparison_grid(public, ["input (512 px)", f"{args.model}"], cell=256)).save(args.public_grid)
        lines += [f"Public-domain grid: `{args.public_grid}`."]
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
