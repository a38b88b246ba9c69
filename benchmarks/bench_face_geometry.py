"""Where the faces sit in each data set's crops, and what a shift to another set's framing costs a model.

    python benchmarks/bench_face_geometry.py [--models default pkdn-lite san-lite] [--max-test 200]
                                             [--threads 1] [-o benchmarks/results/face_geometry.md]

The models train on LFW's centre crop (136 of 250 px, to 128) and are tested on the FSRNet crops of Helen
and CelebA, which frame faces their own way. Two parts:

1. **Geometry.** dlib's 68 landmarks on the LFW validation crops, on Helen-50's HR faces and on the first
   ``--max-test`` CelebA-1000 HR faces (faces dlib finds; 128 px frames): inter-ocular distance (IOD,
   between the eye centres), eye-centre-to-mouth-centre distance and the eye centre's position, mean and
   standard deviation.
2. **Framing.** The LFW validation people (no model trained on them) cropped from their 250 px photos
   three ways: our training crop, and crops that put LFW's mean eye centre and IOD where Helen-50's and
   CelebA's mean faces have them (boxes computed from part 1, not typed in). Each is made 16 px with PIL
   bicubic and super-resolved; PSNR / SSIM under the project protocol against the 128 px crop, and the
   gain over bicubic upsampling. A model that gains as much in every framing does not depend on where
   the face sits; one that gains less in another framing learnt LFW's framing along with faces.

Writes the markdown report and prints it. Needs ../shared/data and dlib (skips otherwise).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, missing, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LFW_CROP = 136  # the training configs' centre crop of the 250 px LFW photo


def geometry(landmarks: np.ndarray) -> dict:
    """Per-face IOD, eye-to-mouth distance and eye centre (x, y) of N x 68 x 2 dlib landmarks, as arrays."""
    left, right = landmarks[:, 36:42].mean(1), landmarks[:, 42:48].mean(1)
    mouth = landmarks[:, 48:68].mean(1)
    centre = (left + right) / 2
    return {"iod": np.linalg.norm(right - left, axis=1), "eye_mouth": np.linalg.norm(mouth - centre, axis=1),
            "x": centre[:, 0], "y": centre[:, 1]}


def matched_box(src: dict, dst: dict, photo_crop: tuple[float, float, float], size: int) -> tuple:
    """The box (left, top, right, bottom) in photo pixels that puts ``src``'s mean eye centre and IOD
    (measured in ``size`` px frames cut from ``photo_crop`` = (left, top, side) of the photo) where
    ``dst``'s mean face has them."""
    left0, top0, side0 = photo_crop
    k = side0 / size  # photo pixels per frame pixel
    ex, ey, iod = left0 + src["x"].mean() * k, top0 + src["y"].mean() * k, src["iod"].mean() * k
    side = iod * size / dst["iod"].mean()
    left, top = ex - dst["x"].mean() * side / size, ey - dst["y"].mean() * side / size
    return (left, top, left + side, top + side)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["default", "pkdn-lite", "san-lite"])
    ap.add_argument("--lfw", default=str(DATA / "lfw_deepfunneled" / "images"))
    ap.add_argument("--helen", default=str(DATA / "helen_test50_fsrnet"))
    ap.add_argument("--celeba", default=str(DATA / "celeba_test1000_fsrnet"))
    ap.add_argument("--max-test", type=int, default=200, help="CelebA faces measured in part 1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "face_geometry.md"))
    args = ap.parse_args(argv)
    why = missing(args.lfw, args.helen, args.celeba, dlib=True)
    if why:
        print(f"skipped: {why}")
        return 0

    import torch
    from PIL import Image

    import facesr
    from facesr.checkpoint import hardware
    from facesr.data.datasets import identity_split
    from facesr.data.resize import pil_resize
    from facesr.evaluation.evaluate import load_test_set
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate
    from facesr.priors.landmarks import annotate_faces

    torch.set_num_threads(args.threads)
    size = 128
    _, val_files = identity_split(args.lfw, 0.02)
    photos = [Image.open(f).convert("RGB") for f in val_files]
    side, (w, h) = LFW_CROP, photos[0].size  # LFW deep-funneled photos are all one size (250 px)
    lfw_box = ((w - side) / 2, (h - side) / 2, side)
    ours = (lfw_box[0], lfw_box[1], lfw_box[0] + side, lfw_box[1] + side)

    def frames(box):
        return [np.asarray(p.resize((size, size), Image.BICUBIC, box=box)) for p in photos]

    sets = {"LFW validation (our crop)": frames(ours),
            "Helen-50": [np.asarray(h) for h in load_test_set(args.helen, hr_size=size).hr],
            "CelebA-1000": [np.asarray(h) for h in load_test_set(args.celeba, hr_size=size).hr][:args.max_test]}
    geo, lines = {}, []
    for name, imgs in sets.items():
        lm, ok = annotate_faces(np.stack(imgs))
        geo[name] = geometry(lm[ok])
        geo[name]["n"], geo[name]["of"] = int(ok.sum()), len(imgs)
    lines += ["# Face framing: where each set's faces sit, and what another framing costs a model", "",
              f"`{command('bench_face_geometry.py', argv)}`", "",
              f"Hardware: {hardware()}, {args.threads} thread(s).", "",
              "## 1. Geometry (dlib 68 landmarks, 128 px frames, mean ± std over the faces dlib finds)", "",
              "| set | faces | IOD px | eyes-to-mouth px | eye centre x | eye centre y |",
              "|---|---|---|---|---|---|"]
    for name, g in geo.items():
        cell = " | ".join(f"{g[k].mean():.1f} ± {g[k].std():.1f}" for k in ("iod", "eye_mouth", "x", "y"))
        lines.append(f"| {name} | {g['n']} of {g['of']} | {cell} |")

    src = geo["LFW validation (our crop)"]
    boxes = {"ours (LFW centre 136 px)": ours,
             "Helen-50's": matched_box(src, geo["Helen-50"], lfw_box, size),
             "CelebA-1000's": matched_box(src, geo["CelebA-1000"], lfw_box, size)}
    lines += ["", f"## 2. The {len(photos)} LFW validation faces in three framings, 16 → 128 px, project protocol", "",
              "Box: left, top, right, bottom in the 250 px photo. Cells: PSNR dB / SSIM (gain over bicubic).", "",
              "| framing | box | bicubic | " + " | ".join(f"`{m}`" for m in args.models) + " |",
              "|---|---|---|" + "---|" * len(args.models)]
    nets = {m: facesr.load(m).eval() for m in args.models}
    for name, box in boxes.items():
        hrs = frames(box)
        lrs = [pil_resize(h, 16, "bicubic") for h in hrs]
        bic = evaluate([pil_resize(x, size, "bicubic") for x in lrs], hrs)
        cells = [f"{bic['psnr']:.2f} / {bic['ssim']:.4f}"]
        for m, net in nets.items():
            r = evaluate(super_resolve(lrs, net), hrs)
            cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f} ({r['psnr'] - bic['psnr']:+.2f})")
        lines.append(f"| {name} | {', '.join(f'{v:.1f}' for v in box)} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
