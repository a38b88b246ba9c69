"""Landmark priors: 68-point iBUG landmarks of a set of aligned HR faces, and Gaussian heatmaps rendered
from them (PFSR's facial-attention and heatmap losses take 68-channel heatmaps).

The landmark teacher that runs offline here is dlib's 68-point shape predictor (``facesr[faces]``).
:func:`annotate_faces` runs it on aligned face crops: dlib's HOG detector finds the face box, and where
it finds none (small or hard faces) a fixed box derived from the crop geometry stands in; the returned
``found`` flags say which. Any other landmark source can replace it: the trainer takes landmarks from a
``.npy`` file (``data.*.landmarks``: N x 68 x 2, x and y in HR pixels, pixel centres at integers, row i
= HR face i as loaded), so a user's own landmark network or annotation files plug in there.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..errors import FacesrError

__all__ = ["annotate_faces", "landmarks_for_cache", "render_heatmaps", "fallback_box"]

# face box used when dlib's detector finds no face, as fractions of the crop side (x0, y0, x1, y1): the mean
# box the HOG detector (upsample 1) returned on 200 LFW centre-136 crops at 128 px (every 60th file; it
# found all 200, each coordinate's std 0.04)
FALLBACK_BOX = (0.118, 0.183, 0.862, 0.928)


def fallback_box(size: int) -> tuple[float, float, float, float]:
    """The fixed face box (x0, y0, x1, y1) in pixels of a ``size`` x ``size`` aligned crop."""
    return tuple(float(f * size) for f in FALLBACK_BOX)


def _best_box(boxes, size: int):
    """The box of the detection (``(box, score)``) nearest the crop centre (aligned crops hold one face)."""
    if not boxes:
        return None
    c = size / 2.0

    def dist(b):
        x0, y0, x1, y1 = b[0]
        return (0.5 * (x0 + x1) - c) ** 2 + (0.5 * (y0 + y1) - c) ** 2

    return min(boxes, key=dist)[0]


def annotate_faces(images, progress: bool = False, upsample: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """68 landmarks of each aligned face crop (uint8 N x S x S x 3): ``(landmarks N x 68 x 2 float32,
    found N bool)``; ``found`` is False where the fixed fallback box was used instead of a detection."""
    from ..faces import dlib_models as dm

    n = len(images)
    out = np.zeros((n, 68, 2), np.float32)
    found = np.zeros(n, bool)
    it = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="landmarks", unit="face", dynamic_ncols=True)
    for i in it:
        img = np.asarray(images[i])
        size = img.shape[0]
        box = _best_box(dm.detect_faces(img, upsample=upsample), size)
        found[i] = box is not None
        out[i] = dm.landmarks68(img, box if box is not None else fallback_box(size))
    return out, found


def landmarks_for_cache(cache, progress: bool = True) -> Path:
    """Annotate the faces of a decoded HR cache (``X.npy``) once: writes ``X_lm68.npy`` (N x 68 x 2) and
    ``X_lm68.json`` (the cache's fingerprint, how many faces were detected); reused while the cache is
    unchanged. Returns the landmark file's path."""
    cache = Path(cache)
    if not cache.is_file():
        raise FacesrError(f"HR cache not found: {cache} (build it first: facesr data -c CONFIG)")
    out = cache.with_name(cache.stem + "_lm68.npy")
    meta = out.with_suffix(".json")
    st = cache.stat()
    fp = hashlib.sha1(f"{cache.resolve()}|{st.st_size}|{int(st.st_mtime)}|dlib68".encode()).hexdigest()[:16]
    if out.is_file() and meta.is_file():
        try:
            if json.loads(meta.read_text()).get("fingerprint") == fp:
                return out
        except json.JSONDecodeError:
            pass
    arr = np.load(cache, mmap_mode="r")
    lm, found = annotate_faces(arr, progress=progress)
    tmp = out.with_name(out.name + ".tmp.npy")
    np.save(tmp, lm)
    tmp.replace(out)
    meta.write_text(json.dumps({"fingerprint": fp, "count": int(len(lm)), "detected": int(found.sum()),
                                "source": "dlib shape_predictor_68_face_landmarks (HOG box, fixed box fallback)",
                                "fallback_box": FALLBACK_BOX}, indent=1))
    return out


def render_heatmaps(landmarks, size: int, src_size: int, sigma: float = 1.0) -> np.ndarray:
    """Gaussian heatmaps (float32 N x K x size x size, peak 1) of landmarks given in ``src_size`` pixels.

    Point (x, y) in the source maps to ((x + 0.5) * size / src_size - 0.5, ...) at the target size (pixel
    centres at integers at both sizes); ``sigma`` is in target pixels. ``landmarks``: N x K x 2 or K x 2.
    """
    lm = np.asarray(landmarks, np.float32)
    single = lm.ndim == 2
    if single:
        lm = lm[None]
    s = size / float(src_size)
    pts = (lm + 0.5) * s - 0.5
    grid = np.arange(size, dtype=np.float32)
    gx = np.exp(-((grid[None, None, :] - pts[..., 0:1]) ** 2) / (2 * sigma * sigma))  # N x K x W
    gy = np.exp(-((grid[None, None, :] - pts[..., 1:2]) ** 2) / (2 * sigma * sigma))  # N x K x H
    maps = gy[..., :, None] * gx[..., None, :]
    return maps[0] if single else maps
