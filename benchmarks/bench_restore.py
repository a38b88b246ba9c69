"""`facesr enhance -s 2` on moderately degraded photos, against a plain bicubic x2, in the face regions.

    python benchmarks/bench_restore.py [--models sparnet-tiny sparnethd-lite] [--n 100] [--weights 1.0 0.5]
                                       [--grid docs/restore_grid.png] [--threads 2]

Photos: LFW images (250 x 250, one centred face each) of the identity split's *validation* people,
which no shipped model was trained on. Each is degraded as a whole by the held-out chain
``holdout_moderate`` of :mod:`facesr.data.blind` (defocus blur radius 0.8-1.6 px, Lanczos to half size,
Gaussian noise sigma 3-10, JPEG quality 50-80; seeded per photo): the blur kernel and the resampling
filter are in no training preset. The 125 x 125 result goes through ``facesr.enhance`` at upscale 2
with default settings (detection, alignment, the model, colour matching, paste-back), and is scored
against the original photo in the face region: the box dlib's HOG detector finds on the original,
under the project protocol (Y, rounded). "bicubic" is PIL's bicubic x2 of the degraded photo, which is
also what enhance shows outside the faces. Photos whose face the detector misses on the original are
left out (counted); a face enhance misses on the degraded photo counts as bicubic (enhance leaves it so).

``--weights``: the restoration strength ``w`` (enhance ``-w``) values to score for each model.
``--grid``: a picture of the first faces: degraded (bicubic x2) | each model | original.
Writes benchmarks/results/restore.md. Needs ../shared/data and dlib; skips cleanly without them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _report import command, missing, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw_deepfunneled" / "images"


def degrade_photo(hr: np.ndarray, seed: int) -> np.ndarray:
    """The held-out chain on a whole photo (half size, no resize back)."""
    from facesr.data.degrade import make_degradation

    deg = make_degradation({"kind": "holdout_moderate", "scale": 0.5, "back": False})
    return deg(hr, np.random.default_rng(seed))


def face_region(hr: np.ndarray):
    """(y0, y1, x0, x1) of the largest face dlib's HOG finds on ``hr`` (clipped), or None."""
    from facesr.faces.dlib_models import detect_faces

    dets = detect_faces(hr, upsample=1, threshold=0.0)
    if not dets:
        return None
    (x0, y0, x1, y1), _ = max(dets, key=lambda d: (d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))
    H, W = hr.shape[:2]
    return max(0, int(y0)), min(H, int(y1)), max(0, int(x0)), min(W, int(x1))


def validation_faces(n: int) -> tuple[list[int], list[np.ndarray], list[tuple], int]:
    """The LFW photos among the first ``n`` of the identity split's validation people that dlib finds a
    face on: (their indices among those, the photos, the face boxes of :func:`face_region`, how many
    photos were looked at)."""
    from facesr.data.datasets import identity_split
    from facesr.data.io import read_image

    _, val = identity_split(LFW)
    idx, photos, boxes = [], [], []
    for i, f in enumerate(val[:n]):
        hr = read_image(f)
        box = face_region(hr)
        if box is not None:
            idx.append(i)
            photos.append(hr)
            boxes.append(box)
    return idx, photos, boxes, len(val[:n])


def score(img: np.ndarray, hr: np.ndarray, box) -> tuple[float, float]:
    from facesr.metrics import evaluate

    y0, y1, x0, x1 = box
    m = evaluate([img[y0:y1, x0:x1]], [hr[y0:y1, x0:x1]])
    return float(m["psnr"]), float(m["ssim"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["sparnet-tiny", "sparnethd-lite"],
                    help="registry names or .safetensors files")
    ap.add_argument("--n", type=int, default=100, help="photos (validation people of LFW)")
    ap.add_argument("--weights", type=float, nargs="+", default=[1.0], help="restoration strengths w to score")
    ap.add_argument("--grid", default=None, help="write a comparison grid PNG here")
    ap.add_argument("--grid-faces", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "restore.md"))
    args = ap.parse_args(argv)
    why = missing(LFW, dlib=True)
    if why:
        print(f"skipped: {why}")
        return 0

    import torch
    from PIL import Image

    from facesr.checkpoint import hardware
    from facesr.enhance import FaceEnhancer

    torch.set_num_threads(args.threads)
    idx, photos, boxes, looked = validation_faces(args.n)
    lqs = [degrade_photo(hr, seed=i) for i, hr in zip(idx, photos)]
    skipped = looked - len(photos)
    print(f"{len(photos)} photos ({skipped} without a face on the original)", flush=True)

    bic = [np.asarray(Image.fromarray(lq).resize((hr.shape[1], hr.shape[0]), Image.BICUBIC))
           for lq, hr in zip(lqs, photos)]
    cols = {"bicubic x2": bic}
    found = {}
    timing = {}
    for name in args.models:
        for w in args.weights:
            enh = FaceEnhancer(name, upscale=2, weight=w)
            label = f"{name} (w={w:g})" if len(args.weights) > 1 else name
            outs, hits = [], 0
            t0 = time.perf_counter()
            for lq, hr in zip(lqs, photos):
                res = enh.enhance(lq)
                hits += res.num_faces > 0
                out = res.final
                if out.shape[:2] != hr.shape[:2]:  # 125 x 2 = 250: same size; guard against rounding
                    out = np.asarray(Image.fromarray(out).resize((hr.shape[1], hr.shape[0]), Image.BICUBIC))
                outs.append(out)
            timing[label] = (time.perf_counter() - t0) / max(1, len(lqs))
            cols[label] = outs
            found[label] = hits
            print(f"{label}: done ({hits}/{len(lqs)} faces found)", flush=True)

    rows = []
    base = None
    for label, imgs in cols.items():
        s = np.array([score(a, h, b) for a, h, b in zip(imgs, photos, boxes)])
        p, q = s.mean(axis=0)
        if base is None:
            base = (p, q)
        rows.append((label, p, q, p - base[0], q - base[1]))
        print(f"{label:32s} {p:.2f} dB  SSIM {q:.4f}  ({p - base[0]:+.3f} dB)", flush=True)

    cmd = command("bench_restore.py", argv)
    lines = [
        "# `facesr enhance -s 2` on moderately degraded photos (held-out degradation), face regions", "",
        f"{hardware()}, {args.threads} thread(s). {len(photos)} LFW photos (250 x 250) of validation-split "
        f"people ({skipped} of {looked} left out: no face found on the original), each degraded by "
        f"`holdout_moderate` (disk blur r 0.8-1.6, Lanczos to 125 x 125, noise sigma 3-10, JPEG q 50-80; "
        f"seed = photo index), then enhanced at upscale 2 with default settings. Scores: PSNR / SSIM "
        f"under the project protocol (Y, rounded) inside the face box dlib finds on the original.", "",
        "```", cmd, "```", "",
        "| method | PSNR (dB) | SSIM | vs bicubic | faces found | s / photo |", "|---|---|---|---|---|---|",
    ]
    for label, p, q, dp, dq in rows:
        hit = f"{found[label]}/{len(photos)}" if label in found else "-"
        t = f"{timing[label]:.2f}" if label in timing else "-"
        lines.append(f"| {label} | {p:.2f} | {q:.4f} | {dp:+.3f} dB, {dq:+.4f} | {hit} | {t} |")
    lines += ["", "A face enhance does not find on the degraded photo stays bicubic (counted in the scores). "
              "Timing is the whole enhance call per photo (detection included) while nothing else ran "
              "only if the machine was otherwise idle."]
    if args.grid:
        grid_path = Path(args.grid)
        k = min(args.grid_faces, len(photos))
        tiles = []
        for i in range(k):
            y0, y1, x0, x1 = boxes[i]
            pad = (y1 - y0) // 4
            y0, y1 = max(0, y0 - pad), min(photos[i].shape[0], y1 + pad)
            x0, x1 = max(0, x0 - pad), min(photos[i].shape[1], x1 + pad)
            row = [c[i][y0:y1, x0:x1] for c in cols.values()] + [photos[i][y0:y1, x0:x1]]
            row = [np.asarray(Image.fromarray(np.ascontiguousarray(t)).resize((160, 160), Image.BICUBIC)) for t in row]
            tiles.append(np.concatenate(row, axis=1))
        grid = np.concatenate(tiles, axis=0)
        grid_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(grid_path)
        lines += ["", f"Grid: `{args.grid}`, columns: " + " | ".join(list(cols) + ["original"]) + "."]
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
