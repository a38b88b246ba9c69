"""Faces at or above the restoration model's size: what `facesr enhance` does to clean and degraded ones.

    python benchmarks/bench_restore_large.py [--n 60] [--model sparnethd-lite] [--threads 2]

A restoration model works at its own size ``n`` (128 px for ``sparnethd-lite``); a face whose crop is
larger (``S`` px, up to 2 n: larger ones are kept) gets the model's face enlarged to ``S``. This measures
what that costs a clean face and gains a degraded one, for ``-w 1`` (default) and ``-w 0.5``, beside the
crop pasted back with no model (the cost of the model's size alone). Here: LFW
photos (250 x 250) of the identity split's validation people at their own size (face crops ~150 px),
each through three chains (seeded per photo): ``clean`` (JPEG quality 90 only), ``moderate`` (the
held-out chain without its downscale: disk blur r 0.8-1.6, noise sigma 3-10, JPEG 50-80) and
``noisy`` (noise sigma 8-14, JPEG 85-95). Each is enhanced at upscale 1 and scored against the original
in the face box dlib finds on it (project protocol: Y, rounded); "photo" is the degraded photo itself.
Writes benchmarks/results/restore_large.md. Needs ../shared/data and dlib; skips cleanly without them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, missing, write_report  # noqa: E402  (benchmarks/, next to this script)
from bench_restore import LFW, score, validation_faces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

CHAINS = {
    "clean": [{"op": "jpeg", "p": 1.0, "quality": [90, 90]}],
    "moderate": [{"op": "blur", "p": 1.0, "type": "disk", "radius": [0.8, 1.6]},
                 {"op": "noise", "p": 1.0, "sigma": [3.0, 10.0], "per_channel_p": 0.0},
                 {"op": "jpeg", "p": 1.0, "quality": [50, 80]}],
    "noisy": [{"op": "noise", "p": 1.0, "sigma": [8.0, 14.0], "per_channel_p": 0.0},
              {"op": "jpeg", "p": 1.0, "quality": [85, 95]}],
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="photos (validation people of LFW)")
    ap.add_argument("--model", default="sparnethd-lite")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "restore_large.md"))
    args = ap.parse_args(argv)
    why = missing(LFW, dlib=True)
    if why:
        print(f"skipped: {why}")
        return 0
    import torch

    from facesr.checkpoint import hardware
    from facesr.data.degrade import make_degradation
    from facesr.enhance import FaceEnhancer

    torch.set_num_threads(args.threads)
    _, photos, boxes, _ = validation_faces(args.n)
    default = FaceEnhancer(args.model, upscale=1)
    half = FaceEnhancer(default.net, upscale=1, weight=0.5)  # the same loaded model, strength 0.5
    n = int(default.net.hr_size)
    rows, sides = [], []
    for chain, steps in CHAINS.items():
        deg = make_degradation({"kind": "pipeline", "steps": steps})
        cols = {"photo": [], f"photo through {n} px, no model": [], "enhance": [], "enhance -w 0.5": []}
        for i, (hr, box) in enumerate(zip(photos, boxes)):
            lq = deg(hr, np.random.default_rng(i))
            plan = default.plan(lq)  # one detection per photo: both strengths paste the same model outputs
            outputs = default.restore([plan])[0]
            sides += list(plan.sides)
            cols["photo"].append(lq)
            # the crops pasted back as if they were the model's outputs: what the model's size alone costs
            cols[f"photo through {n} px, no model"].append(default.paste(plan, plan.model_crops()).final)
            cols["enhance"].append(default.paste(plan, outputs).final)
            cols["enhance -w 0.5"].append(half.paste(plan, outputs).final)
        for label, imgs in cols.items():
            s = np.array([score(a, h, b) for a, h, b in zip(imgs, photos, boxes)]).mean(axis=0)
            rows.append((chain, label, s[0], s[1]))
            print(f"{chain:9s} {label:32s} {s[0]:.2f} dB  SSIM {s[1]:.4f}", flush=True)

    lines = ["# Faces at the restoration model's size and above: clean vs degraded", "",
             f"{hardware()}, {args.threads} thread(s). Model `{args.model}` ({n} px). {len(photos)} LFW photos "
             f"(250 x 250, validation-split people) at their own size; face crop side median "
             f"{np.median(sides):.0f} px (the model's face is enlarged to it). Enhanced at upscale 1; "
             f"PSNR / SSIM (Y, rounded) in the face box dlib finds on the original.", "",
             "```", command("bench_restore_large.py", argv), "```", "",
             "| chain | method | PSNR (dB) | SSIM |", "|---|---|---|---|"]
    for chain, label, p, q in rows:
        lines.append(f"| {chain} | {label} | {p:.2f} | {q:.4f} |")
    lines += ["", "Chains: clean = JPEG q 90; moderate = disk blur r 0.8-1.6, noise sigma 3-10, JPEG 50-80 (the "
              "held-out chain without its downscale); noisy = noise sigma 8-14, JPEG 85-95. Seed = photo index. \"Through "
              f"{n} px, no model\": each face's {n} px crop pasted back unchanged, as enhance pastes a model output "
              "(what the model's size alone costs)."]
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
