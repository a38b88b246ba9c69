"""Bicubic upsampling on the LFW validation split at the sizes a x4 preset could use (why ``san-x4`` is
32 -> 128).

    python benchmarks/bench_bicubic_scales.py [--pairs 32:128 16:64 16:128]

Faces: every image of the LFW identity split's validation people, centre 136 px crop (the crop of the
LFW configs), PIL bicubic to the HR size; LR by PIL's antialiased bicubic, back up by PIL bicubic.
PSNR / SSIM under the project protocol (Y, rounded). Writes benchmarks/results/bicubic_scales.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _report import command, missing, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw_deepfunneled" / "images"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", nargs="+", default=["32:128", "16:64", "16:128"], help="LR:HR sizes")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "bicubic_scales.md"))
    args = ap.parse_args(argv)
    why = missing(LFW)
    if why:
        print(f"skipped: {why}")
        return 0
    from facesr.checkpoint import hardware
    from facesr.data.datasets import CropPolicy, identity_split, load_hr
    from facesr.data.resize import pil_resize
    from facesr.metrics import evaluate

    _, val = identity_split(LFW)
    faces = [load_hr(f, CropPolicy(kind="center", crop=136, size=136)) for f in val]
    lines = ["# Bicubic upsampling on LFW validation faces at several sizes", "",
             f"{hardware()}. {len(faces)} faces (LFW identity split, validation people, centre 136 px), "
             f"project protocol (Y, rounded).", "", "```", command("bench_bicubic_scales.py", argv), "```", "",
             "| LR -> HR | PSNR (dB) | SSIM |", "|---|---|---|"]
    for pair in args.pairs:
        lr, hr = (int(v) for v in pair.split(":"))
        hrs = [pil_resize(f, hr, "bicubic") for f in faces]
        ups = [pil_resize(pil_resize(h, lr, "bicubic"), hr, "bicubic") for h in hrs]
        m = evaluate(ups, hrs)
        lines.append(f"| {lr} -> {hr} | {m['psnr']:.2f} | {m['ssim']:.4f} |")
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
