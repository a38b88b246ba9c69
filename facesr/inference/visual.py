"""Pictures people would rather look at than read: labelled comparison strips and grids."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

LABEL_H = 14


def _fit(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    # nearest for enlargement keeps tiny LR inputs honest (pixels stay visible)
    resample = Image.NEAREST if img.shape[0] < size else Image.BICUBIC
    return np.asarray(Image.fromarray(img).resize((size, size), resample))


def fit_label(text: str, width: int, draw: ImageDraw.ImageDraw | None = None) -> str:
    """``text`` shortened to fit ``width`` pixels in PIL's default font, so column labels never run into
    each other: a model file's path becomes its last two parts without ``.safetensors``
    (``runs/x/final.safetensors`` -> ``x/final``), then leading characters give way to an ellipsis."""
    draw = draw or ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def fits(t: str) -> bool:
        return draw.textlength(t) <= width

    text = str(text)
    if fits(text):
        return text
    if "/" in text or "\\" in text:
        parts = text.replace("\\", "/").rstrip("/").split("/")
        parts[-1] = parts[-1].removesuffix(".safetensors")
        text = "/".join(parts[-2:])
    while len(text) > 1 and not fits(text):
        text = "\u2026" + text.lstrip("\u2026")[1:]
    return text


def comparison_grid(rows: Sequence[Sequence[np.ndarray]], labels: Sequence[str] | None = None,
                    cell: int = 128, pad: int = 2) -> np.ndarray:
    """Rows of uint8 images, each resized to ``cell`` (nearest when enlarging), with column labels."""
    if not rows:
        raise ValueError("nothing to draw")
    ncol = max(len(r) for r in rows)
    top = LABEL_H if labels else 0
    H = top + len(rows) * (cell + pad) + pad
    W = ncol * (cell + pad) + pad
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    if labels:
        for j, lab in enumerate(labels[:ncol]):
            draw.text((pad + j * (cell + pad) + 2, 1), fit_label(lab, cell - 2, draw), fill=(0, 0, 0))
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            canvas.paste(Image.fromarray(_fit(np.asarray(img), cell)), (pad + j * (cell + pad), top + pad + i * (cell + pad)))
    return np.asarray(canvas)
