"""PKDN's three networks on a face: the 16 px LR (PIL bicubic), bicubic upsampling, the student trained
without distillation, the distilled student, the teacher (which also gets the HR face's parsing map), that
parsing map over the original, and the original.

    python docs/make_pkdn_grid.py -o docs/pkdn_grid.png          # the bundled face, the shipped pkdn-lite
    python docs/make_pkdn_grid.py --plain runs/pkdn_lite_plain_lfw/final.safetensors \\
        --teacher runs/pkdn_teacher_lite_lfw/final.safetensors -o docs/pkdn_grid.png
    python docs/make_pkdn_grid.py -i ../shared/data/helen_test50_fsrnet/HR -n 6 ... -o outputs/pkdn_helen.png

Without -i: the bundled public-domain face (NASA astronaut photo); with -i, the first N faces of a folder
(research data: keep such grids out of the repository). ``--student`` (default the shipped ``pkdn-lite``),
``--plain`` and ``--teacher``: registry names with weights or model files; a column is left out when its
model is not given. The parsing maps come from dlib's 68 landmarks of the HR face (facesr.priors), as in
training and ``facesr eval``. Prints each face's PSNR (facesr protocol) per column.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[1] / "facesr" / "assets" / "sample_face_hr128.png"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-i", "--input", default=None, help="a folder of aligned faces (default: the bundled face)")
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("--student", default="pkdn-lite", help="the distilled student (registry name or model file)")
    ap.add_argument("--plain", default=None, help="the student trained without distillation (model file)")
    ap.add_argument("--teacher", default=None, help="the teacher (model file)")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    import facesr
    from facesr.data.io import list_images, read_image, write_image
    from facesr.data.resize import pil_resize
    from facesr.inference.sr import super_resolve
    from facesr.inference.visual import comparison_grid
    from facesr.metrics import evaluate
    from facesr.priors.landmarks import dlib_teacher
    from facesr.priors.parsing import overlay, parsing_maps

    hrs = ([pil_resize(read_image(f), 128, "bicubic") for f in list_images(args.input)[: args.n]]
           if args.input else [read_image(SAMPLE)])
    lrs = [pil_resize(hr, 16, "bicubic") for hr in hrs]
    maps = parsing_maps(dlib_teacher(np.stack(hrs))[0], 128)
    cols = {"LR 16 px": [lr for lr in lrs], "bicubic": [pil_resize(lr, 128, "bicubic") for lr in lrs]}
    for label, model in (("plain student", args.plain), ("distilled student", args.student),
                         ("teacher (+ parsing)", args.teacher)):
        if model:
            net = facesr.load(model).eval()
            cols[label] = super_resolve(lrs, net, priors={"parsing": maps} if net.extra_inputs else None)
    cols["parsing map"] = [overlay(hr, m) for hr, m in zip(hrs, maps)]
    cols["original"] = hrs
    scored = [k for k in cols if k not in ("LR 16 px", "parsing map", "original")]
    for i, hr in enumerate(hrs):
        print(", ".join(f"{k} {evaluate([cols[k][i]], [hr])['psnr']:.2f} dB" for k in scored))
    rows = [[cols[k][i] for k in cols] for i in range(len(hrs))]
    write_image(args.output, comparison_grid(rows, list(cols), cell=128))
    print(f"wrote {args.output}: {len(rows)} face(s)")


if __name__ == "__main__":
    main()
