"""Which model suits a degraded face of each size: the restoration model, the x8 model, or both chained.

    python benchmarks/bench_restore_sizes.py [--restore sparnethd-lite] [--sr default]
                                             [--data ../shared/data/helen_test50_fsrnet] [--sizes 12 16 20 24 32 48 64 96]

``facesr enhance`` meets degraded faces of every size. This simulates a face the photo shows at ``s``
px: each HR test face (128 px) goes through the held-out chain ``holdout_moderate`` of
:mod:`facesr.data.blind` (defocus blur, Lanczos down to ``s`` px, noise, JPEG; seeded per face; the
blur and the resampling filter are in no training preset) and is brought back to 128 px four ways:

* bicubic  the ``s`` px face resized to 128 px (the plain photo upscale)
* restore  the bicubic face through the restoration model (enhance's face at the model's size)
* x8       the ``s`` px face resized to 16 px and super-resolved by the x8 model
* chain    the x8 output through the restoration model

PSNR / SSIM under the project protocol (Y, rounded). Writes benchmarks/results/restore_sizes.md.
Needs the test data in ../shared/data (skips otherwise).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--restore", default="sparnethd-lite", help="restoration model (input size = output size)")
    ap.add_argument("--sr", default="default", help="x8 model")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "helen_test50_fsrnet"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[12, 16, 20, 24, 32, 48, 64, 96])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "restore_sizes.md"))
    args = ap.parse_args(argv)
    if not Path(args.data).exists():
        print(f"skipped: test data not found at {args.data}")
        return 0

    import torch

    import facesr
    from facesr.checkpoint import hardware
    from facesr.data.degrade import make_degradation
    from facesr.data.resize import pil_resize
    from facesr.evaluation.evaluate import load_test_set
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate

    torch.set_num_threads(args.threads)
    rest = facesr.load(args.restore).eval()
    sr = facesr.load(args.sr).eval()
    n = int(rest.hr_size)
    ts = load_test_set(args.data, hr_size=n)
    hrs = [np.asarray(h) for h in ts.hr]
    rows = []
    for s in args.sizes:
        deg = make_degradation({"kind": "holdout_moderate", "scale": s / n, "back": False})
        small = [deg(h, np.random.default_rng(i)) for i, h in enumerate(hrs)]
        bic = [pil_resize(x, n, "bicubic") for x in small]
        restored = super_resolve(bic, rest, batch_size=8)
        x8 = super_resolve([pil_resize(x, int(sr.lr_size), "bicubic") for x in small], sr, batch_size=16)
        if int(sr.hr_size) != n:
            x8 = [pil_resize(x, n, "bicubic") for x in x8]
        chain = super_resolve(x8, rest, batch_size=8)
        cells = [evaluate(imgs, hrs) for imgs in (bic, restored, x8, chain)]
        cells = [(m["psnr"], m["ssim"]) for m in cells]
        rows.append((s, cells))
        print(f"{s:4d} px: " + "  ".join(f"{p:.2f} dB / {q:.4f}" for p, q in cells), flush=True)

    cmd = command("bench_restore_sizes.py", argv)
    lines = [
        "# Degraded faces of each size: restoration model vs x8 model vs both chained", "",
        f"{hardware()}, {args.threads} thread(s); restoration `{args.restore}` ({n} px), x8 `{args.sr}`; "
        f"{ts.name}, {len(hrs)} faces, each degraded by `holdout_moderate` down to s px (seed = face index). "
        f"PSNR (dB) / SSIM under the project protocol (Y, rounded).", "",
        "```", cmd, "```", "",
        "| face size s | bicubic | restore | x8 | x8 then restore | best |", "|---|---|---|---|---|---|",
    ]
    names = ["bicubic", "restore", "x8", "chain"]
    for s, cells in rows:
        best = names[int(np.argmax([p for p, _ in cells]))]
        lines.append(f"| {s} px | " + " | ".join(f"{p:.2f} / {q:.4f}" for p, q in cells) + f" | {best} |")
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
