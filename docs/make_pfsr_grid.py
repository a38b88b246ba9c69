"""PFSR's three progressive steps on a face: the 16 px LR made by PFSR's bilinear cascade, bicubic
upsampling of it, the generator's 32, 64 and 128 px outputs (each step's own to-RGB), and the original.

    python docs/make_pfsr_grid.py -o docs/pfsr_grid.png                          # the bundled face
    python docs/make_pfsr_grid.py -i ../shared/data/helen_test50_fsrnet/HR -n 6 -o outputs/pfsr_helen.png

Without -i: the bundled public-domain face (NASA astronaut photo); with -i, the first N faces of a folder
(research data: keep such grids out of the repository). ``-m``: a registry name with weights or a model
file of the ``pfsr`` architecture (default the shipped ``pfsr-lite``). Every cell is shown at 128 px
(nearest-neighbour enlarging), so the steps' sizes compare at a glance. Prints each face's PSNR of the
x8 output and of bicubic (facesr protocol).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[1] / "facesr" / "assets" / "sample_face_hr128.png"


def stage_outputs(net, lr: np.ndarray) -> list[np.ndarray]:
    """The generator's image after each step, uint8 (step 1: 32 px, 2: 64 px, 3: 128 px)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1), np.float32)[None] / 255.0)
    out = []
    with torch.no_grad():
        for s in range(int(net.num_stages)):
            y = net(x, stage=s)[0].clamp(0, 1).permute(1, 2, 0).numpy()
            out.append(np.round(y * 255.0).astype(np.uint8))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-i", "--input", default=None, help="a folder of aligned faces (default: the bundled face)")
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("-m", "--model", default="pfsr-lite", help="registry name or model file (pfsr architecture)")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    import facesr
    from facesr.data.degrade import make_degradation
    from facesr.data.io import list_images, read_image, write_image
    from facesr.data.resize import pil_resize
    from facesr.inference.visual import comparison_grid
    from facesr.metrics import evaluate

    net = facesr.load(args.model).eval()
    hrs = ([pil_resize(read_image(f), 128, "bilinear") for f in list_images(args.input)[: args.n]]
           if args.input else [read_image(SAMPLE)])
    cascade = make_degradation({"kind": "bilinear_cascade"}, lr_size=16)
    rows = []
    for hr in hrs:
        lr = cascade(hr)
        bic = pil_resize(lr, 128, "bicubic")
        steps = stage_outputs(net, lr)
        rows.append([lr, bic, *steps, hr])
        p_sr, p_bic = evaluate([steps[-1]], [hr])["psnr"], evaluate([bic], [hr])["psnr"]
        print(f"x8 {p_sr:.2f} dB, bicubic {p_bic:.2f} dB")
    grid = comparison_grid(rows, ["LR 16 px", "bicubic", "step 1: 32 px", "step 2: 64 px", "step 3: 128 px",
                                  "original"], cell=128)
    write_image(args.output, grid)
    print(f"wrote {args.output}: {len(rows)} face(s)")


if __name__ == "__main__":
    main()
