"""Samples of the blind degradation chains (facesr.data.blind) on the bundled face, one seed per row.

    python docs/make_degradation_grid.py -o docs/degradation_grid.png [-n 5]

Columns: the HR face; SPARNetHD's released-code chain (``sparnethd_blind``) and the paper's eq. 14
(``sparnethd_paper``), both on the face enlarged to 512 px as SPARNetHD sees it; our 128 px
``sparnethd_lite`` (what ``sparnethd-lite`` trains on); and the held-out test chain
``holdout_moderate`` (x2, never trained on). Every cell is shown at 128 px (bicubic); row ``i`` uses
seed ``i`` for every chain. The face is the bundled public-domain sample (NASA astronaut photo).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facesr.data.degrade import make_degradation
from facesr.data.io import read_image, write_image
from facesr.data.resize import pil_resize
from facesr.inference.visual import comparison_grid

SAMPLE = Path(__file__).resolve().parents[1] / "facesr" / "assets" / "sample_face_hr128.png"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("-n", type=int, default=5, help="rows (seeds)")
    args = ap.parse_args()
    face = read_image(SAMPLE)
    big = pil_resize(face, 512, "bicubic")
    chains = [("sparnethd_blind", big, 512), ("sparnethd_paper", big, 512), ("sparnethd_lite", face, 128),
              ("holdout_moderate", face, 128)]
    rows = []
    for seed in range(args.n):
        row = [face]
        for kind, src, size in chains:
            out = make_degradation(kind, lr_size=size)(src, np.random.default_rng(seed))
            row.append(pil_resize(out, 128, "bicubic") if out.shape[0] != 128 else out)
        rows.append(row)
    labels = ["HR", "blind (code)", "blind (paper)", "lite (ours)", "held-out test"]
    write_image(args.output, comparison_grid(rows, labels, cell=128))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
