"""Stage 1 of enhance: find faces in a photo (dlib HOG or MMOD CNN) and select the ones to restore.

A detection is ``(box, score)``: ``box`` a float array ``(x0, y0, x1, y1)`` in input pixels.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

__all__ = ["DETECTORS", "DEFAULT_DET_MAX_SIDE", "AUTO_UPSAMPLE_MAX_SIDE", "TINY_SIDE", "auto_upsample",
           "detect_faces", "select_faces", "no_face_warning", "preload_detector"]

DETECTORS = ("hog", "cnn")
DEFAULT_DET_MAX_SIDE = 2048  # photos with a longer side are detected on a shrunk copy
AUTO_UPSAMPLE_MAX_SIDE = 640
TINY_SIDE = 40  # below this (short side, px) HOG cannot find a face even with upsampling


def auto_upsample(h: int, w: int) -> int:
    """Detector upsampling when none is given: 2 for photos up to :data:`AUTO_UPSAMPLE_MAX_SIDE` px
    (faces from ~20 px, where a x8 model helps most), 1 otherwise (faces from ~40 px)."""
    return 2 if max(h, w) <= AUTO_UPSAMPLE_MAX_SIDE else 1


def preload_detector(detector: str = "hog") -> None:
    """Load dlib's detector and landmark models now; raises :class:`~facesr.errors.FacesrError` (one
    line) when dlib or its model files are missing."""
    from ..faces.dlib_models import preload

    preload(cnn=detector == "cnn")


def detect_faces(img: np.ndarray, detector: str = "hog", upsample: int | None = None, threshold: float = 0.0,
                 max_side: int | None = DEFAULT_DET_MAX_SIDE) -> list[tuple[np.ndarray, float]]:
    """Detections in uint8 H x W x 3 ``img`` scoring at least ``threshold``.

    ``upsample``: times the detector doubles the image first (None: :func:`auto_upsample`). A photo whose
    long side exceeds ``max_side`` is detected on a bicubic-shrunk copy and the boxes are scaled back.
    """
    from ..faces.dlib_models import detect_faces as dlib_detect

    H, W = img.shape[:2]
    if upsample is None:
        upsample = auto_upsample(H, W)
    if not (max_side and max(H, W) > max_side):
        return dlib_detect(img, upsample=upsample, threshold=threshold, cnn=detector == "cnn")
    scale = max_side / max(H, W)
    sw, sh = max(1, round(W * scale)), max(1, round(H * scale))
    small = np.asarray(Image.fromarray(img).resize((sw, sh), Image.BICUBIC, reducing_gap=3.0))
    dets = dlib_detect(small, upsample=upsample, threshold=threshold, cnn=detector == "cnn")
    back = np.array([sw / W, sh / H, sw / W, sh / H])
    return [(b / back, s) for b, s in dets]


def select_faces(dets: Sequence[tuple[np.ndarray, float]], hw: tuple[int, int], min_face_size: float = 0,
                 only_center_face: bool = False) -> list[tuple[np.ndarray, float]]:
    """The detections to restore, left to right: boxes whose long side is at least ``min_face_size``
    input pixels; with ``only_center_face`` the one whose centre is nearest the image centre."""
    H, W = hw
    dets = list(dets)
    if min_face_size > 0:
        dets = [(b, s) for b, s in dets if max(b[2] - b[0], b[3] - b[1]) >= min_face_size]
    if only_center_face and len(dets) > 1:
        c = np.array([W / 2, H / 2])
        dets = [min(dets, key=lambda d: float(np.hypot(*((d[0][:2] + d[0][2:]) / 2 - c))))]
    return sorted(dets, key=lambda d: (float(d[0][0]), float(d[0][1])))


def no_face_warning(hw: tuple[int, int]) -> str:
    """The warning of a photo in which no face was found (a tiny photo gets a hint)."""
    H, W = hw
    if min(H, W) < TINY_SIDE:
        return (f"no face found: the image is only {W}x{H} px, too small to detect a face in "
                f"(for a face crop use aligned=True / --aligned)")
    return "no face found"
