"""Before/after grid of `facesr enhance` on whole photos: for every face found, the input face region
(bicubic-upscaled, what a plain resize gives) beside the same region of final/ (restored and pasted back).

    python docs/make_enhance_grid.py -i PHOTO_OR_DIR [...] -o grid.png [-s 4] [-m MODEL] [--shrink 4]

--shrink N first reduces each photo N times (a x8 model suits faces of about 16-32 px), then enhances
it by -s. The README's grid is made from the bundled public-domain sample; run it on
../shared/data/real_lq_faces/*whole_imgs to look at real photos (their images stay out of the repo).
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

import facesr
from facesr.data.io import list_images, read_image, write_image
from facesr.inference.visual import comparison_grid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-i", "--input", nargs="+", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-s", "--upscale", type=int, default=4)
    ap.add_argument("-m", "--model", default=None, help="default: enhance's (facesr.enhance.DEFAULT_MODEL)")
    ap.add_argument("--shrink", type=float, default=1.0)
    ap.add_argument("--max-faces", type=int, default=12)
    ap.add_argument("--cell", type=int, default=160)
    a = ap.parse_args()
    from facesr.enhance import DEFAULT_MODEL

    model = facesr.load(a.model or DEFAULT_MODEL)
    rows = []
    for src in a.input:
        for f in list_images(src):
            img = read_image(f)
            if a.shrink != 1.0:
                h, w = img.shape[:2]
                img = np.asarray(Image.fromarray(img).resize((max(1, round(w / a.shrink)), max(1, round(h / a.shrink))),
                                                             Image.BICUBIC))
            res = facesr.enhance(img, model=model, upscale=a.upscale)
            plain = np.asarray(Image.fromarray(img).resize((img.shape[1] * a.upscale, img.shape[0] * a.upscale),
                                                           Image.BICUBIC))
            for (x0, y0, x1, y1) in res.boxes:
                s = a.upscale
                m = 0.35 * max(x1 - x0, y1 - y0)
                box = [int(max(0, (x0 - m) * s)), int(max(0, (y0 - m) * s)),
                       int(min(plain.shape[1], (x1 + m) * s)), int(min(plain.shape[0], (y1 + m) * s))]
                rows.append([plain[box[1]:box[3], box[0]:box[2]], res.final[box[1]:box[3], box[0]:box[2]]])
                if len(rows) >= a.max_faces:
                    break
    if not rows:
        raise SystemExit("no faces found")
    cols = 2 if len(rows) <= 3 else 4
    paired = [sum(rows[i:i + cols // 2], []) for i in range(0, len(rows), cols // 2)]
    labels = ["bicubic", "facesr enhance"] * (cols // 2)
    write_image(a.output, comparison_grid(paired, labels, cell=a.cell))
    print(f"{len(rows)} face(s) -> {a.output}")


if __name__ == "__main__":
    main()
