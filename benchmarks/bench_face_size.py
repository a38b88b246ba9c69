"""What a x8 face model does for faces larger than its input, and what detail fusion does about it.

    python benchmarks/bench_face_size.py [--model default] [--data ../shared/data/helen_test50_fsrnet]
                                         [--sizes 16 20 24 32 48 64 96] [--threads 1]

``facesr enhance`` meets faces of every size. A x8 model (16 -> 128) sees every face at 16 px, so a face
the photo shows at ``s > 16`` px loses what the photo holds between 16 and ``s`` px. This simulates a
face shown at ``s`` px: each HR test face (128 px) is shrunk to ``s`` px with PIL's antialiased bicubic,
and brought back to 128 px three ways:

* bicubic   the ``s`` px face resized to 128 px (what the plain photo upscale shows)
* model     the ``s`` px face resized to the model's 16 px input and super-resolved (enhance with
            ``fusion=False``)
* fused     :func:`facesr.enhance.paste.fuse_detail` of the two (enhance's default): the photo's band
            below its ``s`` px Nyquist frequency, the model's above

Metrics under the project protocol (Y, rounded, no crop); "edge" is the mean absolute Y gradient
(higher = sharper; the HR faces' value is printed for reference). Writes
benchmarks/results/face_size.md and prints it. Needs the test data in ../shared/data (skips otherwise).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from _report import command, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]


def _edge(img: np.ndarray) -> float:
    from facesr.metrics import rgb_to_y

    y = rgb_to_y(img, quantize="round")
    return float(np.abs(np.diff(y, axis=0)).mean() + np.abs(np.diff(y, axis=1)).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "helen_test50_fsrnet"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 20, 24, 32, 48, 64, 96])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "face_size.md"))
    args = ap.parse_args(argv)
    if not Path(args.data).exists():
        print(f"skipped: test data not found at {args.data}")
        return 0

    import torch

    import facesr
    from facesr.checkpoint import hardware
    from facesr.data.resize import pil_resize
    from facesr.evaluation.evaluate import load_test_set
    from facesr.enhance.paste import fuse_detail
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate

    torch.set_num_threads(args.threads)
    net = facesr.load(args.model).eval()
    ts = load_test_set(args.data, hr_size=int(net.hr_size))
    hrs = [np.asarray(h) for h in ts.hr]
    n = int(net.hr_size)
    ref_edge = float(np.mean([_edge(h) for h in hrs]))
    rows = []
    for s in args.sizes:
        small = [pil_resize(h, s, "bicubic") for h in hrs]
        bic = [pil_resize(x, n, "bicubic") for x in small]
        out = super_resolve(small, net, batch_size=16)
        fused = [fuse_detail(o, b, s, int(net.lr_size)) for o, b in zip(out, bic)]
        cells = []
        for imgs in (bic, out, fused):
            m = evaluate(imgs, hrs)
            cells.append((m["psnr"], m["ssim"], float(np.mean([_edge(a) for a in imgs]))))
        rows.append((s, cells))
        print(f"{s:4d} px: " + "  ".join(f"{p:.2f} dB / {q:.4f} / {e:.2f}" for p, q, e in cells), flush=True)

    lines = [
        "# Faces larger than the model's input: bicubic vs the model alone vs detail fusion", "",
        f"{hardware()}, {args.threads} thread(s); model `{args.model}` ({net.lr_size} -> {net.hr_size}); "
        f"{ts.name}, {len(hrs)} faces, each shrunk to s px (PIL bicubic) and brought back to {n} px. "
        f"PSNR (dB) / SSIM under the project protocol (Y, rounded, no crop); edge = mean |Y gradient| "
        f"(HR faces: {ref_edge:.2f}).", "",
        "```", command("bench_face_size.py", argv),
        "```", "",
        "| face size s | bicubic | model (16 px input) | fused (enhance default) | fused - bicubic | enhance mode |",
        "|---|---|---|---|---|---|",
    ]
    from facesr.enhance.choose import face_modes

    for s, cells in rows:
        mode = face_modes([s], net)[0]
        txt = [f"{p:.2f} / {q:.4f} / {e:.2f}" for p, q, e in cells]
        lines.append(f"| {s} px | {txt[0]} | {txt[1]} | {txt[2]} | {cells[2][0] - cells[0][0]:+.2f} dB | {mode} |")
    lines += ["", "Cells: PSNR / SSIM / edge. `enhance` keeps faces from half the model's output size up "
              "(mode `kept`: the model is not run, the face stays as the upscaled photo shows it), since the "
              "model adds next to nothing there; see facesr/enhance/choose.py."]
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
