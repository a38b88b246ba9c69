"""Faces with their landmark-rasterised parsing maps (facesr.priors.parsing) and 68-point heatmaps.

    python docs/make_parsing_grid.py -o docs/parsing_grid.png                       # the bundled face
    python docs/make_parsing_grid.py -i ../shared/data/helen_test50_fsrnet/HR -n 6 -o outputs/parsing_helen.png

Without -i it uses the bundled public-domain face (NASA astronaut photo): dlib annotates it once, and the
face, its landmarks and its parsing map then go through a flip, a zoom and a rotation together, as
training augments a sample and its priors alike; with -i, the first N faces of a folder, each annotated
(research data: keep such grids out of the repository). Rows: face | landmarks | parsing
overlay | parsing labels | heatmaps (sum over the 68 channels). Needs facesr[faces] (dlib).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facesr.data.datasets import IBUG68_FLIP, Augment
from facesr.data.io import list_images, read_image, write_image
from facesr.data.resize import pil_resize
from facesr.inference.visual import comparison_grid
from facesr.priors.landmarks import annotate_faces, render_heatmaps
from facesr.priors.parsing import PALETTE, flip_labels, overlay, parsing_from_landmarks

SAMPLE = Path(__file__).resolve().parents[1] / "facesr" / "assets" / "sample_face_hr128.png"


def samples(args) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(face, landmarks, parsing labels) per row."""
    if args.input:
        faces = np.stack([pil_resize(read_image(f), 128, "bicubic") for f in list_images(args.input)[: args.n]])
        lms, _ = annotate_faces(faces)
        return [(f, lm, parsing_from_landmarks(lm, 128)) for f, lm in zip(faces, lms)]
    face = read_image(SAMPLE)
    lm = annotate_faces(face[None])[0][0]
    lab = parsing_from_landmarks(lm, 128)
    aug = Augment()
    base = {"size": 128, "flip": False, "zoom": None, "crop": None, "rot": 0}
    rows = [(face, lm, lab)]
    for change in ({"flip": True}, {"zoom": (166, 19, 19)}, {"rot": 1}):
        p = {**base, **change}
        lab_p = aug.apply(p, flip_labels(lab) if p["flip"] else lab, "nearest")  # a mirrored left eye is a right eye
        rows.append((aug.apply(p, face), aug.apply_points(p, lm, IBUG68_FLIP), lab_p))
    return rows


def landmark_image(face, lm) -> np.ndarray:
    img = face.copy()
    for x, y in np.round(lm).astype(int):
        img[max(0, y - 1):y + 2, max(0, x - 1):x + 2] = (0, 255, 0)
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-i", "--input", default=None, help="a folder of aligned faces (default: the bundled face)")
    ap.add_argument("-n", type=int, default=6)
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    rows = []
    for face, lm, lab in samples(args):
        hm = render_heatmaps(lm, 128, 128, sigma=2.0).sum(0)
        hm = (np.clip(hm, 0, 1) * 255).astype(np.uint8)
        rows.append([face, landmark_image(face, lm), overlay(face, lab), PALETTE[lab], np.stack([hm] * 3, -1)])
    write_image(args.output, comparison_grid(rows, ["face", "68 landmarks (dlib)", "parsing overlay", "parsing labels",
                                                    "heatmaps"], cell=128))
    print(f"wrote {args.output}: {len(rows)} rows")


if __name__ == "__main__":
    main()
