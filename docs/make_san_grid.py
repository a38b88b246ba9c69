"""Real low-quality faces made 16 px, through the same SR network trained on bicubic LR and on styleVAE LR.

    python docs/make_san_grid.py -o docs/san_real_grid.png            # the public-domain faces only
    python docs/make_san_grid.py -i ../shared/data/real_lq_faces/codeformer_cropped_faces -n 8 \\
        -o outputs/san_real_lq.png                                      # research data: keep it out of the repo

Columns: the 16 px input, bicubic upsampling, ``--bicubic-model`` (trained on bicubic LR), ``--stylevae-model``
(trained on styleVAE LR), and the source face at 128 px (a real photo: no ground truth; the source is what the
16 px face was made from, not a target). Each real face (FFHQ-aligned 512 px) is centre-cropped to LFW's
framing (384 px, as ``stylevae_lfw.yaml``) and resized to 16 px with PIL bicubic, as ``facesr enhance`` makes a
small detected face the x8 network's input. Without -i: the two public-domain faces (Solvay conference, 1927)
of ``real_lq_faces`` and the bundled public-domain face degraded by the hidden chain ``holdout_moderate``
(seed 0), the experiment's "real world", and by the milder unseen ``holdout_mild``. ``--shipped`` adds the
shipped ``san-lite`` (trained on styleVAE, generic blind and bicubic LR) as a third model column.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "real_lq_faces" / "codeformer_cropped_faces"
PUBLIC = ("Solvay_conference_1927_0018.png", "Solvay_conference_1927_2_16.png")
SAMPLE = ROOT / "facesr" / "assets" / "sample_face_hr128.png"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-i", "--input", default=None, help="a folder of aligned 512 px real faces (default: public ones)")
    ap.add_argument("-n", type=int, default=8)
    ap.add_argument("--crop", type=int, default=384, help="centre crop of each real face before resizing")
    ap.add_argument("--bicubic-model", default="runs/san_lite_hc_bicubic/final.safetensors")
    ap.add_argument("--stylevae-model", default="runs/san_lite_hc_stylevae/final.safetensors")
    ap.add_argument("--shipped", default="san-lite", help="a third model column ('' for none): the shipped one")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()

    import facesr
    from facesr.data.degrade import make_degradation
    from facesr.data.io import list_images, read_image, write_image
    from facesr.data.resize import pil_resize
    from facesr.inference.sr import super_resolve
    from facesr.inference.visual import comparison_grid

    files = list_images(args.input)[: args.n] if args.input else [REAL / f for f in PUBLIC if (REAL / f).is_file()]
    srcs, lrs = [], []
    for f in files:
        img = read_image(f)
        h, w = img.shape[:2]
        c = min(args.crop, h, w)
        y, x = (h - c) // 2, (w - c) // 2
        src = pil_resize(np.ascontiguousarray(img[y:y + c, x:x + c]), 128, "bicubic")
        srcs.append(src)
        lrs.append(pil_resize(src, 16, "bicubic"))
    if not args.input:
        hr = read_image(SAMPLE)
        for kind in ("holdout_moderate", "holdout_mild"):
            srcs.append(hr)
            lrs.append(make_degradation({"kind": kind, "scale": 0.125, "lr_size": 16})(hr, np.random.default_rng(0)))
    cols = {"LR 16 px": lrs, "bicubic": [pil_resize(lr, 128, "bicubic") for lr in lrs]}
    models = [("trained on bicubic LR", args.bicubic_model), ("trained on styleVAE LR", args.stylevae_model)]
    if args.shipped:
        models.append((f"shipped {args.shipped}", args.shipped))
    for label, model in models:
        cols[label] = super_resolve(lrs, facesr.load(model).eval())
    cols["source (128 px)"] = srcs
    rows = [[cols[k][i] for k in cols] for i in range(len(lrs))]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write_image(args.output, comparison_grid(rows, list(cols), cell=128))
    print(f"wrote {args.output}: {len(rows)} face(s)")


if __name__ == "__main__":
    main()
