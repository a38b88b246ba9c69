"""Face crop geometry: from 68 landmarks in a photo to the square face crop a model was trained on.

Every model preset declares its crop in ``Preset.crop`` (a dict with a ``kind``); :func:`crop_transform`
turns landmarks + that spec into a 2x3 affine matrix mapping photo pixels to crop pixels, and
:func:`crop_face` applies it with an antialiased warp. :mod:`facesr.enhance.paste` uses the same
matrix backwards to put the restored face into the photo.

Coordinates
-----------
Points are ``(x, y)`` in the *pixel-index* convention of dlib and OpenCV: the centre of pixel column
``i`` is ``x = i``. An affine ``M`` (2x3) maps a photo point ``p`` to ``M[:, :2] @ p + M[:, 2]`` in the
crop. A crop of ``N`` pixels covers ``[-0.5, N - 0.5]`` in its own coordinates.

Landmark frame (shared by the square kinds)
-------------------------------------------
From iBUG-68 landmarks: ``eye_l``/``eye_r`` = mean of points 36-41 / 42-47 (image left / right),
``eye_mid`` their midpoint, ``mouth`` = midpoint of the mouth corners 48 and 54,
``e2e = eye_r - eye_l``, ``e2m = mouth - eye_mid``.

* horizontal axis ``u`` = direction of ``e2e - rot90(e2m)`` (the eye line, averaged with the normal of
  the eye-to-mouth line, which is steadier than the eye line alone on turned heads); ``v`` = ``u``
  turned 90 degrees (pointing down the face). With ``rotate=False`` the axes stay the image axes.
* face scale ``s = max(eye_mouth_ratio * |e2e|, |e2m|)``: ``eye_mouth_ratio`` is the median of
  ``|e2m| / |e2e|`` on frontal faces, so for them both terms agree; on a turned head (eyes foreshortened)
  or a tilted one (eye-mouth foreshortened) the larger, less foreshortened one wins.

Crop kinds
----------
``landmark_square`` -- ``{"kind": "landmark_square", "scale": k, "shift_x": b, "shift_y": a,
"eye_mouth_ratio": r, "rotate": True}``: a square of side ``k * s`` centred at
``eye_mid + s * (b * u + a * v)``, rotated upright. :data:`CROP_SPECS` holds constants calibrated
(medians, :func:`calibrate_landmark_square`) on the faces the models were trained or tested on:

* ``"lfw"``: LFW deep-funneled, centre 136 px of the 250 px image resized to 128 (the training geometry
  of the shipped ``sparnet-tiny`` / ``default`` model);
* ``"fsrnet"``: the FSRNet 128x128 CelebA/Helen test crops (the geometry of the paper presets' data).

``aligned5`` -- ``{"kind": "aligned5", "template": [[x, y] * 5]}``: least-squares similarity transform
(Umeyama) of five points (eye centres, nose tip 30, mouth corners 48/54) onto a template given as
fractions of the crop side (``0`` = left/top edge, ``1`` = right/bottom edge), as PFSR-style aligned
crops are made. ``CROP_SPECS["fsrnet_aligned5"]`` has the template measured on the FSRNet crops.
Accepts ``(5, 2)`` landmarks in that order too.

``square`` -- ``{"kind": "square", "face_fraction": f}``: axis-aligned square around the landmarks'
bounding box, side ``max(w, h) / f`` (the registry's generic fallback; no rotation).

Warping
-------
:func:`warp_affine` samples with PIL's bicubic ``Image.transform``; when the mapping shrinks by more
than 1.25x it first cuts out just the region needed and shrinks it with PIL's antialiased bicubic
``resize``, so a 1000 px face going into a 128 px crop does not alias. Pixels outside the photo are
filled by mirroring it (``border="reflect"``) so the crop of a face at the edge has no black corners.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

__all__ = [
    "CROP_SPECS",
    "resolve_crop_spec",
    "compose_affine",
    "crop_side",
    "crop_spec_for",
    "face_frame",
    "five_points",
    "crop_transform",
    "crop_face",
    "warp_affine",
    "invert_affine",
    "apply_affine",
    "similarity_transform",
    "calibrate_landmark_square",
    "calibrate_aligned5",
]

# Calibrated with calibrate_landmark_square / calibrate_aligned5: medians over dlib's 68 landmarks of the
# faces found (HOG; LFW: 250 px image, upsample 1, face nearest the centre, landmarks mapped into the
# 136 -> 128 crop; FSRNet: 128 px crop edge-padded by 32 px and bicubic-upsampled x2).
CROP_SPECS: dict[str, dict] = {
    # LFW deep-funneled, centre 136 of 250 px -> 128 (596 faces): sparnet-tiny / default
    "lfw": {"kind": "landmark_square", "scale": 2.919, "shift_x": -0.008, "shift_y": 0.241,
            "eye_mouth_ratio": 1.104, "rotate": True},
    # FSRNet CelebA 128x128 crops (380 faces of celeba_test1000_fsrnet): the paper presets (CelebA-trained)
    "fsrnet": {"kind": "landmark_square", "scale": 3.537, "shift_x": -0.020, "shift_y": 0.444,
               "eye_mouth_ratio": 0.976, "rotate": True},
    # FSRNet Helen 128x128 crops (49 faces of helen_test50_fsrnet): tighter, face lower in the crop
    "fsrnet_helen": {"kind": "landmark_square", "scale": 2.752, "shift_x": 0.011, "shift_y": 0.613,
                     "eye_mouth_ratio": 0.997, "rotate": True},
    # five-point template of the FSRNet CelebA crops, for aligned (PFSR-style) inputs
    "fsrnet_aligned5": {"kind": "aligned5", "template": [[0.361, 0.374], [0.6478, 0.3698], [0.5059, 0.5293],
                                                          [0.373, 0.6543], [0.6465, 0.6504]]},
}

_KINDS = ("landmark_square", "aligned5", "square")


# ------------------------------------------------------------------ small affine helpers
def apply_affine(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map ``(n, 2)`` points with a 2x3 affine."""
    M = np.asarray(M, np.float64)
    p = np.asarray(pts, np.float64)
    return p @ M[:, :2].T + M[:, 2]


def invert_affine(M: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine."""
    M = np.asarray(M, np.float64)
    A = np.linalg.inv(M[:, :2])
    return np.concatenate([A, -(A @ M[:, 2])[:, None]], axis=1)


def compose_affine(M2: np.ndarray, M1: np.ndarray) -> np.ndarray:
    """``M2 o M1`` (apply M1 first)."""
    A = M2[:, :2] @ M1[:, :2]
    return np.concatenate([A, (M2[:, :2] @ M1[:, 2] + M2[:, 2])[:, None]], axis=1)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) src -> dst (Umeyama)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s0, d0 = src - ms, dst - md
    cov = d0.T @ s0 / len(src)
    U, S, Vt = np.linalg.svd(cov)
    D = np.eye(2)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        D[1, 1] = -1
    R = U @ D @ Vt
    var = (s0 ** 2).sum() / len(src)
    scale = float((S * np.diag(D)).sum() / var) if var > 0 else 1.0
    A = scale * R
    return np.concatenate([A, (md - A @ ms)[:, None]], axis=1)


# ------------------------------------------------------------------ landmark frame
def _check68(landmarks) -> np.ndarray:
    L = np.asarray(landmarks, np.float64)
    if L.shape != (68, 2):
        raise ValueError(f"expected (68, 2) iBUG landmarks, got shape {L.shape}")
    return L


def five_points(landmarks) -> np.ndarray:
    """``(5, 2)``: left eye centre, right eye centre, nose tip, left and right mouth corner (image left/right)."""
    L = np.asarray(landmarks, np.float64)
    if L.shape == (5, 2):
        return L
    L = _check68(L)
    return np.stack([L[36:42].mean(0), L[42:48].mean(0), L[30], L[48], L[54]])


def face_frame(landmarks, eye_mouth_ratio: float = 1.0, rotate: bool = True) -> dict:
    """Eye midpoint, axes ``u``/``v``, scale ``s`` and the raw distances (see the module docstring)."""
    P = five_points(landmarks)
    eye_l, eye_r, mouth = P[0], P[1], (P[3] + P[4]) / 2
    eye_mid = (eye_l + eye_r) / 2
    e2e, e2m = eye_r - eye_l, mouth - eye_mid
    x = e2e - np.array([-e2m[1], e2m[0]])
    n = float(np.hypot(*x))
    u = x / n if (rotate and n > 0) else np.array([1.0, 0.0])
    v = np.array([-u[1], u[0]])
    d_ee, d_em = float(np.hypot(*e2e)), float(np.hypot(*e2m))
    s = max(eye_mouth_ratio * d_ee, d_em)
    return {"eye_mid": eye_mid, "u": u, "v": v, "s": s, "d_ee": d_ee, "d_em": d_em}


# ------------------------------------------------------------------ crop transforms
def resolve_crop_spec(spec) -> dict:
    """A copy of crop spec ``spec``: a :data:`CROP_SPECS` key or a spec dict; ``ValueError`` otherwise."""
    if isinstance(spec, str):
        if spec not in CROP_SPECS:
            raise ValueError(f"unknown crop spec {spec!r}; known: {', '.join(CROP_SPECS)}")
        return dict(CROP_SPECS[spec])
    if not isinstance(spec, Mapping) or spec.get("kind") not in _KINDS:
        raise ValueError(f"crop spec must be a dict with kind in {_KINDS}, got {spec!r}")
    return dict(spec)


def crop_transform(landmarks, spec, out_size: int) -> np.ndarray:
    """2x3 affine mapping photo pixels to the ``out_size`` x ``out_size`` crop described by ``spec``.

    ``spec``: a crop dict (see the module docstring) or a key of :data:`CROP_SPECS`.
    """
    sp = resolve_crop_spec(spec)
    N = int(out_size)
    kind = sp["kind"]
    if kind == "aligned5":
        tpl = np.asarray(sp["template"], np.float64)
        if tpl.shape != (5, 2):
            raise ValueError(f"aligned5 template must be 5 (x, y) pairs, got shape {tpl.shape}")
        return similarity_transform(five_points(landmarks), tpl * N - 0.5)
    if kind == "square":
        L = np.asarray(landmarks, np.float64)
        lo, hi = L.min(0), L.max(0)
        side = float(max(hi - lo)) / float(sp.get("face_fraction", 0.75))
        centre = (lo + hi) / 2
        u, v = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    else:  # landmark_square
        f = face_frame(landmarks, float(sp.get("eye_mouth_ratio", 1.0)), bool(sp.get("rotate", True)))
        u, v, s = f["u"], f["v"], f["s"]
        side = float(sp["scale"]) * s
        centre = f["eye_mid"] + s * (float(sp.get("shift_x", 0.0)) * u + float(sp.get("shift_y", 0.0)) * v)
    if not side > 0:
        raise ValueError("degenerate landmarks: the face has zero size")
    sigma = N / side
    A = sigma * np.stack([u, v])
    t = (N - 1) / 2 - A @ centre
    return np.concatenate([A, t[:, None]], axis=1)


# ------------------------------------------------------------------ warping
def _reflect_index(idx: np.ndarray, n: int) -> np.ndarray:
    period = 2 * n
    m = np.mod(idx, period)
    return np.where(m >= n, period - 1 - m, m)


def _region(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, border: str, fill) -> np.ndarray:
    """``img[y0:y1, x0:x1]`` with out-of-image pixels mirrored (``reflect``), repeated (``edge``) or ``fill``."""
    H, W = img.shape[:2]
    if 0 <= x0 and 0 <= y0 and x1 <= W and y1 <= H:
        return img[y0:y1, x0:x1]
    xs, ys = np.arange(x0, x1), np.arange(y0, y1)
    if border == "constant":
        out = np.empty((y1 - y0, x1 - x0) + img.shape[2:], img.dtype)
        out[...] = fill
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if cx1 > cx0 and cy1 > cy0:
            out[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = img[cy0:cy1, cx0:cx1]
        return out
    if border == "edge":
        xi, yi = np.clip(xs, 0, W - 1), np.clip(ys, 0, H - 1)
    else:
        xi, yi = _reflect_index(xs, W), _reflect_index(ys, H)
    return img[yi][:, xi]


def _to_pil(a: np.ndarray) -> list[Image.Image]:
    if a.dtype == np.uint8 and (a.ndim == 2 or a.shape[2] in (3, 4)):
        return [Image.fromarray(a)]
    a = a.astype(np.float32, copy=False)
    if a.ndim == 2:
        return [Image.fromarray(a, "F")]
    return [Image.fromarray(np.ascontiguousarray(a[..., c]), "F") for c in range(a.shape[2])]


def _from_pil(ims: list[Image.Image], like: np.ndarray) -> np.ndarray:
    if len(ims) == 1 and ims[0].mode != "F":
        return np.asarray(ims[0])
    arrs = [np.asarray(im, np.float32) for im in ims]
    return arrs[0] if like.ndim == 2 else np.stack(arrs, axis=-1)


def warp_affine(src: np.ndarray, M: np.ndarray, out_hw: tuple[int, int] | int, border: str = "reflect",
                fill=0, resample: str = "bicubic") -> np.ndarray:
    """Warp ``src`` (uint8 or float, H x W [x C]) by the 2x3 affine ``M`` (src pixels -> output pixels).

    Antialiased when shrinking (see the module docstring). ``border``: ``reflect`` (mirror the image),
    ``edge`` (repeat its edge pixels) or ``constant`` (``fill``). Returns the same dtype as ``src``
    (uint8 stays uint8, anything else comes back float32).
    """
    if isinstance(out_hw, int):
        out_hw = (out_hw, out_hw)
    oh, ow = int(out_hw[0]), int(out_hw[1])
    if border not in ("reflect", "edge", "constant"):
        raise ValueError(f"border must be reflect, edge or constant, got {border!r}")
    src = np.asarray(src)
    M = np.asarray(M, np.float64)
    Minv = invert_affine(M)  # output -> src, index coords
    # src area the output needs (output corners at -0.5 and size - 0.5)
    corners = np.array([[-0.5, -0.5], [ow - 0.5, -0.5], [-0.5, oh - 0.5], [ow - 0.5, oh - 0.5]])
    sc = apply_affine(Minv, corners)
    shrink = math.sqrt(abs(np.linalg.det(Minv[:, :2])))  # src pixels per output pixel
    margin = 3 + 2 * max(shrink, 1.0)
    x0 = int(math.floor(sc[:, 0].min() - margin))
    y0 = int(math.floor(sc[:, 1].min() - margin))
    x1 = int(math.ceil(sc[:, 0].max() + margin)) + 1
    y1 = int(math.ceil(sc[:, 1].max() + margin)) + 1
    reg = _region(src, x0, y0, x1, y1, border, fill)
    # output index -> region continuous coords (PIL's convention: pixel centres at +0.5)
    T = Minv.copy()
    T[:, 2] += -T[:, :2] @ np.array([0.5, 0.5]) - np.array([x0, y0]) + 0.5
    ims = _to_pil(reg)
    rh, rw = reg.shape[:2]
    if shrink > 1.25:
        nw, nh = max(1, round(rw / shrink)), max(1, round(rh / shrink))
        ims = [im.resize((nw, nh), Image.BICUBIC) for im in ims]
        T = np.diag([nw / rw, nh / rh]) @ T
    filt = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "nearest": Image.NEAREST}[resample]
    data = tuple(float(v) for v in T.reshape(-1))
    outs = [im.transform((ow, oh), Image.AFFINE, data, resample=filt) for im in ims]
    return _from_pil(outs, reg)


def crop_face(img: np.ndarray, landmarks, spec, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(crop uint8 out_size x out_size x 3, affine 2x3 photo -> crop)`` of the face with ``landmarks``."""
    M = crop_transform(landmarks, spec, out_size)
    return warp_affine(np.asarray(img), M, (out_size, out_size), border="reflect"), M


# ------------------------------------------------------------------ calibration
def calibrate_landmark_square(landmark_sets: Iterable[np.ndarray], crop_size: int | Sequence[int],
                              rotate: bool = True) -> dict:
    """Constants of a ``landmark_square`` spec reproducing the geometry of given crops (medians).

    ``landmark_sets``: 68-point landmarks of faces *in crop coordinates*, where each crop is the full
    ``crop_size`` square (axis-aligned, centre ``((N - 1) / 2, (N - 1) / 2)``). Returns the spec plus
    ``"n"`` and the inter-quartile ranges (``"iqr_*"``) of each constant.
    """
    rows = []
    frames = [face_frame(L, 1.0, rotate) for L in landmark_sets]
    if not frames:
        raise ValueError("no faces to calibrate on")
    ratio = float(np.median([f["d_em"] / f["d_ee"] for f in frames]))
    sizes = [crop_size] * len(frames) if isinstance(crop_size, (int, float)) else list(crop_size)
    for f, N in zip(frames, sizes):
        s = max(ratio * f["d_ee"], f["d_em"])
        C = np.array([(N - 1) / 2, (N - 1) / 2])
        d = C - f["eye_mid"]
        rows.append((N / s, float(d @ f["u"]) / s, float(d @ f["v"]) / s))
    R = np.array(rows)
    med = np.median(R, axis=0)
    q = np.percentile(R, [25, 75], axis=0)
    return {"kind": "landmark_square", "scale": float(med[0]), "shift_x": float(med[1]),
            "shift_y": float(med[2]), "eye_mouth_ratio": ratio, "rotate": rotate, "n": len(rows),
            "iqr_scale": [float(q[0, 0]), float(q[1, 0])], "iqr_shift_x": [float(q[0, 1]), float(q[1, 1])],
            "iqr_shift_y": [float(q[0, 2]), float(q[1, 2])]}


def calibrate_aligned5(landmark_sets: Iterable[np.ndarray], crop_size: int) -> dict:
    """An ``aligned5`` spec whose template is the median five points of given crops (as fractions)."""
    P = np.stack([(five_points(L) + 0.5) / crop_size for L in landmark_sets])
    return {"kind": "aligned5", "template": np.round(np.median(P, axis=0), 4).tolist(), "n": len(P)}


def crop_side(M: np.ndarray, n: int) -> float:
    """Side, in photo pixels, of the square that the affine ``M`` (photo -> ``n`` x ``n`` crop) cuts out."""
    return n / abs(np.linalg.det(np.asarray(M)[:, :2])) ** 0.5


def crop_spec_for(model, crop=None) -> dict:
    """The crop spec to use for ``model``: ``crop`` (a dict or a :data:`CROP_SPECS` key) if given, else
    the one the model's ``facesr_meta`` or registry preset declares, else ``CROP_SPECS["lfw"]``.
    Raises ``ValueError`` for an invalid ``crop``."""
    if crop is not None:
        return resolve_crop_spec(crop)
    meta = getattr(model, "facesr_meta", None) or {}
    spec = meta.get("crop")
    if spec is None and meta.get("preset"):
        from ..errors import FacesrError
        from ..registry import get_preset

        try:
            spec = get_preset(str(meta["preset"])).crop
        except FacesrError:
            spec = None
    try:
        return resolve_crop_spec(spec) if spec is not None else dict(CROP_SPECS["lfw"])
    except ValueError:
        return dict(CROP_SPECS["lfw"])
