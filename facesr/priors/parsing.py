"""Face parsing priors: label maps in the 19-class CelebAMask-HQ order.

KDFSRNet and PKDN ran a pretrained BiSeNet on the HR faces; no such weights can be had offline. The best
prior that can be built here is rasterised from the 68 iBUG landmarks (:func:`parsing_from_landmarks`):
skin (the jaw line closed by a forehead curve), eyebrows, eyes, nose, upper and lower lip and the mouth
between them; everything else is background. Hair, ears, neck, clothes, glasses and hats have no
landmarks, so they are never inferred (their labels stay unused). Real parsing maps plug in instead:
:func:`load_label_folder` reads a folder of label PNGs (BiSeNet outputs, CelebAMask-HQ masks) matched to
the HR files by name.

Label maps are uint8 ``H x W``; the trainer takes them from ``data.*.priors: {parsing: FILE.npy}``
(N x S x S, row i = HR face i as loaded), and the networks turn them into their own channel form
(one-hot, or KDFSRNet's 3-channel colour form: :func:`facesr.models.pkdn.arch.parsing_to_channels`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FacesrError

__all__ = ["CLASSES", "LABEL", "FLIP_PAIRS", "flip_labels", "PALETTE", "parsing_from_landmarks", "parsing_maps", "parsing_for_cache", "load_label_folder",
           "overlay"]

#: the CelebAMask-HQ / BiSeNet face-parsing order
CLASSES = ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
           "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
LABEL = {name: i for i, name in enumerate(CLASSES)}
#: left/right class pairs, swapped when a face is mirrored (FaceDataset's label_flips)
FLIP_PAIRS = [[LABEL["l_eye"], LABEL["r_eye"]], [LABEL["l_brow"], LABEL["r_brow"]], [LABEL["l_ear"], LABEL["r_ear"]]]


def flip_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` with every left/right class pair of :data:`FLIP_PAIRS` exchanged (after a mirror flip)."""
    table = np.arange(256, dtype=np.uint8)
    for a, b in FLIP_PAIRS:
        table[a], table[b] = b, a
    return table[labels]

# iBUG 68 point indices (0-based). "l_" / "r_" are the subject's left and right, as in CelebAMask-HQ:
# the subject's right eye is points 36-41, which lie on the image's left.
_JAW = list(range(0, 17))
_R_BROW, _L_BROW = list(range(17, 22)), list(range(22, 27))
_NOSE_BRIDGE, _NOSE_BASE = list(range(27, 31)), list(range(31, 36))
_R_EYE, _L_EYE = list(range(36, 42)), list(range(42, 48))
_OUTER_LIP, _INNER_LIP = list(range(48, 60)), list(range(60, 68))

# forehead: each eyebrow point moved away from the nose tip by this fraction of its distance to it
FOREHEAD = 0.55
# brows are drawn as bands this fraction of the eye width thick
BROW_THICKNESS = 0.25


def _poly(draw, pts, label: int) -> None:
    draw.polygon([(float(x), float(y)) for x, y in pts], fill=label)


def parsing_from_landmarks(landmarks, size: int, src_size: int | None = None) -> np.ndarray:
    """A uint8 ``size`` x ``size`` label map (:data:`CLASSES` order) rasterised from one face's 68
    landmarks (x, y in pixels of a ``src_size`` image, default ``size``)."""
    from PIL import Image, ImageDraw

    lm = np.asarray(landmarks, np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 x 2 landmarks, got {lm.shape}")
    s = size / float(src_size or size)
    p = (lm + 0.5) * s - 0.5
    img = Image.new("L", (size, size), LABEL["background"])
    d = ImageDraw.Draw(img)
    tip = p[30]
    brows = p[_R_BROW + _L_BROW]
    forehead = brows + (brows - tip) * FOREHEAD
    _poly(d, np.concatenate([p[_JAW], forehead[::-1]]), LABEL["skin"])
    eye_w = 0.5 * (np.linalg.norm(p[39] - p[36]) + np.linalg.norm(p[45] - p[42]))
    up = np.array([0.0, -BROW_THICKNESS * eye_w])
    for idx, name in ((_R_BROW, "r_brow"), (_L_BROW, "l_brow")):
        b = p[idx]
        _poly(d, np.concatenate([b + up * 0.5, (b - up * 0.5)[::-1]]), LABEL[name])
    _poly(d, p[_R_EYE], LABEL["r_eye"])
    _poly(d, p[_L_EYE], LABEL["l_eye"])
    # nose: the bridge's sides (a band around points 27-30) joined with the base from 31 to 35
    half = 0.15 * eye_w
    bridge = p[_NOSE_BRIDGE]
    _poly(d, np.concatenate([bridge[:1] + [-half, 0], p[_NOSE_BASE], bridge[:1] + [half, 0]]), LABEL["nose"])
    _poly(d, np.concatenate([bridge + [-half, 0], (bridge + [half, 0])[::-1]]), LABEL["nose"])
    # lips: upper = outer 48..54 then inner 64..60; lower = outer 54..59,48 then inner 60, 67..64
    upper = np.concatenate([p[48:55], p[[64, 63, 62, 61, 60]]])
    lower = np.concatenate([p[[54, 55, 56, 57, 58, 59, 48]], p[[60, 67, 66, 65, 64]]])
    _poly(d, upper, LABEL["u_lip"])
    _poly(d, lower, LABEL["l_lip"])
    _poly(d, p[_INNER_LIP], LABEL["mouth"])
    return np.asarray(img, np.uint8)


def parsing_maps(landmarks, size: int, src_size: int | None = None) -> np.ndarray:
    """Label maps (uint8 N x size x size) of N faces' landmarks (N x 68 x 2)."""
    lm = np.asarray(landmarks)
    return np.stack([parsing_from_landmarks(x, size, src_size) for x in lm]) if len(lm) else \
        np.zeros((0, size, size), np.uint8)


def load_label_folder(folder, names, size: int) -> np.ndarray:
    """Real parsing maps: for each HR file name in ``names``, the label PNG of the same stem in ``folder``
    (single-channel, values = class indices), resized to ``size`` by nearest neighbour -> uint8 N x S x S.
    A missing or non-label file is a one-line FacesrError."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FacesrError(f"parsing-map folder not found: {folder}")
    out = np.zeros((len(names), size, size), np.uint8)
    for i, name in enumerate(names):
        f = folder / (Path(name).stem + ".png")
        if not f.is_file():
            raise FacesrError(f"no parsing map for {Path(name).name}: expected {f}")
        with Image.open(f) as im:
            if im.mode not in ("L", "P", "I", "I;16"):
                raise FacesrError(f"{f} is not a label map (mode {im.mode}; expected one channel of class indices)")
            lab = np.asarray(im.resize((size, size), Image.NEAREST)).astype(np.int64)
        if lab.max() >= len(CLASSES) or lab.min() < 0:
            raise FacesrError(f"{f} holds label {int(lab.max())}, outside the {len(CLASSES)} classes")
        out[i] = lab
    return out


# a colour per class for pictures (background black)
PALETTE = np.array([[0, 0, 0], [204, 153, 102], [255, 102, 0], [128, 128, 128], [0, 170, 255], [0, 85, 255],
                     [153, 51, 0], [102, 34, 0], [255, 204, 153], [255, 204, 153], [255, 255, 0], [255, 0, 85],
                     [200, 0, 120], [60, 30, 10], [90, 90, 90], [255, 255, 255], [255, 255, 255], [230, 180, 140],
                     [40, 120, 40]], np.uint8)


def overlay(img: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """``img`` (uint8 H x W x 3) with the label colours blended in where the label is not background."""
    col = PALETTE[labels]
    mask = (labels > 0)[..., None]
    blend = (img.astype(np.float32) * (1 - alpha) + col.astype(np.float32) * alpha).round().astype(np.uint8)
    return np.where(mask, blend, img)


def parsing_for_cache(cache, progress: bool = True) -> "Path":
    """Landmark-rasterised parsing maps of a decoded HR cache ``X.npy``: writes ``X_parsing.npy`` (uint8
    N x S x S, from :func:`facesr.priors.landmarks.landmarks_for_cache`'s ``X_lm68.npy``) once and
    returns its path; rebuilt when the landmark file is newer."""
    from .landmarks import landmarks_for_cache

    lm_path = landmarks_for_cache(cache, progress=progress)
    out = Path(cache).with_name(Path(cache).stem + "_parsing.npy")
    if out.is_file() and out.stat().st_mtime >= lm_path.stat().st_mtime:
        return out
    size = int(np.load(cache, mmap_mode="r").shape[1])
    maps = parsing_maps(np.load(lm_path), size)
    tmp = out.with_name(out.name + ".tmp.npy")
    np.save(tmp, maps)
    tmp.replace(out)
    return out
