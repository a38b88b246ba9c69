"""The controlled hidden-chain experiment of the style-based attentive paper's pipeline, measured.

    python benchmarks/bench_stylevae_chain.py [--stylevae runs/stylevae_x8_hidden_chain/final.safetensors]
        [--sr-bicubic runs/san_lite_hc_bicubic/final.safetensors]
        [--sr-stylevae runs/san_lite_hc_stylevae/final.safetensors] [--extra default LABEL=FILE ...] [--sets lfw helen celeba]

"The real world" is the chain ``holdout_moderate`` of :mod:`facesr.data.blind` made to 16 px (disk blur,
Lanczos x0.125, Gaussian noise sigma 3-10, JPEG quality 50-80), which no training preset uses. The styleVAE
(``stylevae_x8_hidden_chain.yaml``) saw only LR faces this chain made from other LFW faces, never the chain
or an HR/LR pair. Two measurements:

1. **How close its LR comes to the chain's.** On the LFW validation people (identities no run trained on;
   centre 136 px crop at 128 px), the reference set is the chain's LR of every face (``default_rng([0, i])``
   for face i); each candidate set is made from the *same* HR faces: plain bicubic LR, styleVAE LR (style code
   from the prior, seeded per face), and the chain again with other seeds (``[1, i]``: the floor a perfect
   model would reach at this sample size). Distance: SWD x 1000 of Laplacian-pyramid 7x7 patches, both sets
   normalised by the reference's statistics (:mod:`facesr.metrics.distribution`; FID's Inception network
   cannot be had offline).
2. **Does training on its LR help?** The same SR network trained on bicubic LR and on styleVAE LR
   (``san_lite_hc_bicubic.yaml`` / ``san_lite_hc_stylevae.yaml``), each tested on faces the chain degraded
   (seed = face index, ``default_rng(i)``), on faces the milder ``holdout_mild`` made (noise sigma 1-4, JPEG
   75-90, same seeds: a chain no network trained on, nor the styleVAE learnt, calibrated on the x8
   ``default``'s gain over bicubic on Helen-50, the issue's reference point; see docs/san.md) and on clean
   bicubic LR of the same faces, beside bicubic upsampling (and ``--extra`` models). PSNR / SSIM under the
   project protocol (Y, rounded).

Writes benchmarks/results/stylevae_chain.md. Skips when the data or a checkpoint is missing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, missing, shown_path, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LFW = DATA / "lfw_deepfunneled" / "images"
SETS = {"helen": DATA / "helen_test50_fsrnet", "celeba": DATA / "celeba_test1000_fsrnet"}
CHAIN = {"kind": "holdout_moderate", "scale": 0.125, "lr_size": 16}
MILD = {"kind": "holdout_mild", "scale": 0.125, "lr_size": 16}


def lfw_val_faces(hr_size: int = 128):
    from facesr.data.datasets import CropPolicy, identity_split, load_hr

    _, val = identity_split(LFW)
    return [load_hr(f, CropPolicy(kind="center", crop=136, size=hr_size)) for f in val]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stylevae", default=str(ROOT / "runs" / "stylevae_x8_hidden_chain" / "final.safetensors"))
    ap.add_argument("--sr-bicubic", default=str(ROOT / "runs" / "san_lite_hc_bicubic" / "final.safetensors"))
    ap.add_argument("--sr-stylevae", default=str(ROOT / "runs" / "san_lite_hc_stylevae" / "final.safetensors"))
    ap.add_argument("--extra", nargs="*", default=["default"], metavar="[LABEL=]MODEL",
                    help="more x8 models to score: registry names or files, each optionally labelled")
    ap.add_argument("--more-stylevae", nargs="*", default=[], metavar="LABEL=FILE",
                    help="more degradation networks for the distance table (e.g. an ablation or an earlier run)")
    ap.add_argument("--sets", nargs="+", default=["lfw", "helen", "celeba"], choices=["lfw", *SETS])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "stylevae_chain.md"))
    args = ap.parse_args(argv)
    why = missing(LFW, *(SETS[s] for s in args.sets if s != "lfw"))
    for f in (args.stylevae, args.sr_bicubic, args.sr_stylevae):
        if why is None and not Path(f).is_file():
            why = f"{f} not found (train it first: see the docstring)"
    if why:
        print(f"skipped: {why}")
        return 0

    import torch

    import facesr
    from facesr.checkpoint import hardware
    from facesr.data.degrade import make_degradation
    from facesr.data.resize import pil_resize
    from facesr.evaluation.evaluate import load_test_set
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate
    from facesr.metrics.distribution import swd

    torch.set_num_threads(args.threads)
    chain, mild = make_degradation(CHAIN), make_degradation(MILD)
    learned = make_degradation({"kind": "learned", "checkpoint": args.stylevae})
    lfw = lfw_val_faces()

    # 1. distribution distance on the LFW validation faces
    ref = [chain(h, np.random.default_rng([0, i])) for i, h in enumerate(lfw)]
    cands = {
        "hidden chain, other seeds (floor)": [chain(h, np.random.default_rng([1, i])) for i, h in enumerate(lfw)],
        "bicubic": [pil_resize(h, 16, "bicubic") for h in lfw],
        "styleVAE (prior style codes)": [learned(h, np.random.default_rng([2, i])) for i, h in enumerate(lfw)],
    }
    for item in args.more_stylevae:
        label, _, f = item.partition("=")
        d = make_degradation({"kind": "learned", "checkpoint": f})
        cands[label] = [d(h, np.random.default_rng([2, i])) for i, h in enumerate(lfw)]
    dist = {k: swd(ref, v) for k, v in cands.items()}
    for k, d in dist.items():
        print(f"SWD {k}: {d['mean']:.2f}", flush=True)

    # 2. SR trained on bicubic vs styleVAE LR, on chain-degraded and on clean input
    models = {"san-lite, bicubic LR": facesr.load(args.sr_bicubic).eval(),
              "san-lite, styleVAE LR": facesr.load(args.sr_stylevae).eval()}
    for item in args.extra or []:
        label, sep, name = item.partition("=")
        models[label if sep else item] = facesr.load(name if sep else item).eval()
    rows = []
    for s in args.sets:
        hrs = lfw if s == "lfw" else [np.asarray(h) for h in load_test_set(SETS[s], hr_size=128).hr]
        label = f"LFW val ({len(hrs)})" if s == "lfw" else f"{SETS[s].name} ({len(hrs)})"
        inputs = {"hidden chain": [chain(h, np.random.default_rng(i)) for i, h in enumerate(hrs)],
                  "mild chain (unseen)": [mild(h, np.random.default_rng(i)) for i, h in enumerate(hrs)],
                  "clean bicubic": [pil_resize(h, 16, "bicubic") for h in hrs]}
        for kind, lrs in inputs.items():
            cells = {"bicubic upsampling": evaluate([pil_resize(x, 128, "bicubic") for x in lrs], hrs)}
            for name, m in models.items():
                cells[name] = evaluate(super_resolve(lrs, m, batch_size=32), hrs)
            rows.append((label, kind, cells))
            print(label, kind, "  ".join(f"{k}: {v['psnr']:.2f}/{v['ssim']:.4f}" for k, v in cells.items()),
                  flush=True)

    names = list(rows[0][2])
    lines = [
        "# styleVAE on a hidden degradation chain: distribution distance and SR trained on its LR", "",
        f"{hardware()}, {args.threads} thread(s); torch {torch.__version__}. Hidden chain `holdout_moderate` "
        "to 16 px (disk blur, Lanczos x0.125, noise sigma 3-10, JPEG 50-80); styleVAE "
        f"`{shown_path(args.stylevae)}`, SR `{shown_path(args.sr_bicubic)}` vs `{shown_path(args.sr_stylevae)}`. "
        "Method: benchmarks/bench_stylevae_chain.py's docstring.", "",
        "```", command("bench_stylevae_chain.py", argv), "```", "",
        f"## 1. Distance to the hidden chain's LR (LFW validation people, {len(lfw)} faces)", "",
        "SWD x 1000 of Laplacian-pyramid 7x7 patches (lower: closer to the chain's LR distribution).", "",
        "| LR set | SWD 16 px band | SWD 8 px low-pass | mean |", "|---|---|---|---|",
    ]
    for k, d in dist.items():
        lines.append(f"| {k} | {d['16']:.2f} | {d['8']:.2f} | {d['mean']:.2f} |")
    lines += ["", "## 2. SR trained on bicubic LR vs on styleVAE LR", "",
              "PSNR (dB) / SSIM, project protocol; input 16 px, output 128 px.", "",
              "| test set | input | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for label, kind, cells in rows:
        lines.append(f"| {label} | {kind} | " + " | ".join(
            f"{cells[n]['psnr']:.2f} / {cells[n]['ssim']:.4f}" for n in names) + " |")
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
