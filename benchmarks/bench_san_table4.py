"""The style-based paper's Table 4 (GA x LA) at CPU size: san-lite's four rows trained alike, scored on clean LR.

    for r in "ga_la" "ga_nola model.settings.la=false" "noga_la model.settings.ga=false" \\
             "noga_nola model.settings.ga=false model.settings.la=false"; do set -- $r
        facesr train -c san_lite_hc_bicubic name=san_lite_t4_$1 train.steps=1000 log.val_every=500 ${@:2}; done
    python benchmarks/bench_san_table4.py

The paper's Table 4 is x4 on LFW with 64-channel, 8 + 8 block networks trained 50 epochs; here the rows are
``san-lite`` (x8, 32 channels, 4 GARBs + 4 LARBs) with GA and/or LA replaced by plain residual blocks,
1,000 steps x 16 each on bicubic LR (san_lite_hc_bicubic.yaml's schedule, shortened), one seed. Scored on
bicubic LR of the LFW validation people (159 faces) and Helen-50, project protocol (Y, rounded). Writes
benchmarks/results/san_table4.md; skips when the data or a run is missing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, missing, write_report  # noqa: E402  (benchmarks/, next to this script)
from bench_stylevae_chain import LFW, SETS, lfw_val_faces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROWS = {"GA + LA (san-lite)": "ga_la", "GA only": "ga_nola", "LA only": "noga_la", "neither (plain blocks)": "noga_nola"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default=str(ROOT / "runs"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "san_table4.md"))
    args = ap.parse_args(argv)
    files = {k: Path(args.runs) / f"san_lite_t4_{v}" / "final.safetensors" for k, v in ROWS.items()}
    why = missing(LFW, SETS["helen"]) or next((f"{f} not found (train it: see the docstring)"
                                               for f in files.values() if not f.is_file()), None)
    if why:
        print(f"skipped: {why}")
        return 0

    import torch

    import facesr
    from facesr.checkpoint import hardware
    from facesr.data.resize import pil_resize
    from facesr.evaluation.evaluate import load_test_set
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate

    torch.set_num_threads(args.threads)
    sets = {"LFW val": lfw_val_faces(),
            "Helen-50": [np.asarray(h) for h in load_test_set(SETS["helen"], hr_size=128).hr]}
    lrs = {s: [pil_resize(h, 16, "bicubic") for h in hrs] for s, hrs in sets.items()}  # once, for every row
    lines = ["# Table 4 (GA x LA) at CPU size: san-lite rows, 1,000 steps each", "",
             f"{hardware()}, {args.threads} thread(s); torch {torch.__version__}. Method: the script's docstring.", "",
             "```", command("bench_san_table4.py", argv), "```", "",
             "| row | params | " + " | ".join(f"{s} ({len(h)}) PSNR / SSIM" for s, h in sets.items()) + " |",
             "|---|---|" + "---|" * len(sets)]
    for label, f in files.items():
        m = facesr.load(str(f)).eval()
        cells = []
        for s, hrs in sets.items():
            r = evaluate(super_resolve(lrs[s], m, batch_size=32), hrs)
            cells.append(f"{r['psnr']:.2f} / {r['ssim']:.4f}")
        n = sum(p.numel() for p in m.parameters())
        lines.append(f"| {label} | {n:,} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
