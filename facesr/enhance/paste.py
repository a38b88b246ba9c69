"""Paste restored faces back into the upscaled photo without a visible seam.

For each face, :func:`paste_faces` maps the restored face and a feathered mask from crop coordinates into
the upscaled photo (the inverse of the crop's affine, composed with the photo upscaling) and blends
``out = face * m + background * (1 - m)`` inside the face's bounding box only: every pixel where the mask
is zero stays exactly the upscaled background.

* **Mask** (:func:`feather_mask`): ones over the crop, eroded by ``erode`` x crop side at every edge, then
  Gaussian-blurred with sigma ``blur`` x crop side; defaults 0.1 and 0.04, so the mask is 0.006 at the
  crop border and 0.994 from 0.2 x side inside it. Defined in crop coordinates, it scales and turns with
  the face.
* **Colour matching** (:func:`match_color`), optional, applied to the restored face before pasting:
  ``"lowfreq"`` (default) replaces the restored face's low frequencies by the input crop's,
  ``face + G(input) - G(face)`` with a Gaussian ``G`` of sigma = the model's scale factor in HR pixels
  (8 px for 16->128, i.e. well below the LR image's Nyquist frequency). This removes any colour cast or
  shading drift of the model exactly where the face meets the background (which comes from the same input)
  while leaving the restored detail alone. ``"meanstd"`` matches each RGB channel's mean and standard
  deviation over the central part of the crop instead (global, gain limited to 0.5-2).
* **Background**: PIL bicubic resize of the whole photo to ``round(W * s) x round(H * s)``, or a callable
  ``upsampler(img_uint8, scale) -> uint8 array`` (e.g. a general-purpose SR network), resized to that size
  if it returns another one.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from .align import apply_affine, compose_affine, invert_affine, warp_affine

__all__ = ["feather_mask", "match_color", "fuse_detail", "upscale_background", "photo_to_output", "paste_faces",
           "draw_boxes", "output_size"]


def _gauss(a: np.ndarray, sigma: float, mode: str = "reflect") -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    if sigma <= 0:
        return a
    sig = (sigma, sigma) + (0,) * (a.ndim - 2)
    return gaussian_filter(a, sig, mode=mode)


def feather_mask(size: int, erode: float = 0.1, blur: float = 0.04) -> np.ndarray:
    """``size`` x ``size`` float32 mask in [0, 1]: eroded by ``erode*size``, blurred by ``blur*size``."""
    m = np.zeros((size, size), np.float32)
    e = int(round(erode * size))
    if 2 * e >= size:
        raise ValueError("erode must be < 0.5")
    m[e:size - e, e:size - e] = 1.0
    return np.clip(_gauss(m, blur * size, mode="constant"), 0.0, 1.0).astype(np.float32)


def match_color(face: np.ndarray, reference: np.ndarray, method: str = "lowfreq",
                sigma: float = 8.0) -> np.ndarray:
    """Colour-match a restored face (uint8) to the input ``reference`` crop (any size, resized to the face's).

    See the module docstring for ``lowfreq`` (``sigma`` in face pixels) and ``meanstd``.
    """
    face = np.asarray(face)
    n_h, n_w = face.shape[:2]
    ref = np.asarray(reference)
    if ref.shape[:2] != (n_h, n_w):
        ref = np.asarray(Image.fromarray(ref).resize((n_w, n_h), Image.BICUBIC))
    f = face.astype(np.float32)
    r = ref.astype(np.float32)
    if method == "lowfreq":
        out = f + _gauss(r, sigma) - _gauss(f, sigma)
    elif method == "meanstd":
        c = slice(n_h // 6, n_h - n_h // 6), slice(n_w // 6, n_w - n_w // 6)
        fm, fs = f[c].mean((0, 1)), f[c].std((0, 1))
        rm, rs = r[c].mean((0, 1)), r[c].std((0, 1))
        gain = np.clip(rs / np.maximum(fs, 1e-3), 0.5, 2.0)
        out = (f - fm) * gain + rm
    elif method in ("none", None):
        return face
    else:
        raise ValueError(f"colour matching must be lowfreq, meanstd or none, got {method!r}")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def fuse_detail(restored: np.ndarray, crop: np.ndarray, side: float, lr_size: int | None = None) -> np.ndarray:
    """Keep every frequency the photo has and add only the model's detail above it (uint8 in and out).

    ``crop``: the face cut from the photo at the restored face's size ``n``; ``side``: the face crop's side
    in photo pixels, i.e. the resolution at which the photo really shows the face. With ``s = round(side)``
    and ``B(a) = bicubic(bicubic(a, s), n)`` (PIL, antialiased) the result is
    ``crop + restored - B(restored)``: the band the photo has (below its ``s``-pixel Nyquist frequency) from
    the photo, the band above it from the model. ``s <= lr_size`` (the model's input size: the model saw
    all the photo has) returns ``restored``; ``s >= n`` (the photo has all the detail an ``n`` px face can
    hold) returns ``crop``.
    Measured on Helen-50 with the default x8 model (benchmarks/bench_face_size.py): for faces of 20-48 px
    this beats both the plain bicubic resize (by 1.4-0.3 dB) and the model fed a 16 px copy of the face.
    """
    from ..data.resize import pil_resize

    restored = np.asarray(restored)
    crop = np.asarray(crop)
    n = restored.shape[0]
    if crop.shape[:2] != restored.shape[:2]:
        crop = pil_resize(np.ascontiguousarray(crop), n, "bicubic")
    s = int(round(float(side)))
    if lr_size is not None and s <= int(lr_size):
        return restored.copy()
    if s >= n:
        return crop.copy()
    low = pil_resize(pil_resize(np.ascontiguousarray(restored), s, "bicubic"), n, "bicubic")
    out = crop.astype(np.float32) + restored.astype(np.float32) - low.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def upscale_background(img: np.ndarray, scale: float,
                       upsampler: Callable[[np.ndarray, float], np.ndarray] | None = None) -> np.ndarray:
    """The photo upscaled by ``scale`` (PIL bicubic, or ``upsampler``), as uint8 H' x W' x 3."""
    h, w = img.shape[:2]
    ow, oh = max(1, round(w * scale)), max(1, round(h * scale))
    if upsampler is not None:
        out = np.asarray(upsampler(img, scale))
        if out.dtype != np.uint8:
            out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        if out.shape[:2] != (oh, ow):
            out = np.asarray(Image.fromarray(out).resize((ow, oh), Image.BICUBIC))
        return np.ascontiguousarray(out)
    if (ow, oh) == (w, h):
        return img.copy()
    return np.asarray(Image.fromarray(img).resize((ow, oh), Image.BICUBIC))


def photo_to_output(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """2x3 affine from input-photo pixels to upscaled-photo pixels (pixel-index convention)."""
    sy, sx = out_hw[0] / in_hw[0], out_hw[1] / in_hw[1]
    return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def paste_faces(background: np.ndarray, faces: Sequence[np.ndarray], affines: Sequence[np.ndarray],
                in_hw: tuple[int, int], crop_sizes: Sequence[int] | None = None,
                erode: float = 0.1, blur: float = 0.04) -> np.ndarray:
    """Blend restored ``faces`` into ``background`` (the upscaled photo; not modified, a copy is returned).

    ``affines[i]``: photo -> crop affine of face ``i`` (as from :func:`facesr.enhance.align.crop_face`),
    for a crop of ``crop_sizes[i]`` pixels (default: the face's own size; a restored face larger than its
    crop, e.g. a 128 px output of a 64 px crop, is scaled accordingly). ``in_hw``: the input photo's
    (height, width). Faces are pasted in order, later ones over earlier ones.
    """
    out = np.array(background, copy=True)
    Ho, Wo = out.shape[:2]
    P2O = photo_to_output(in_hw, (Ho, Wo))
    for i, (face, M) in enumerate(zip(faces, affines)):
        face = np.asarray(face)
        n = face.shape[0]
        C = crop_sizes[i] if crop_sizes is not None else n
        r = C / n
        F2C = np.array([[r, 0.0, 0.5 * r - 0.5], [0.0, r, 0.5 * r - 0.5]])  # face px -> crop px
        F2O = compose_affine(P2O, compose_affine(invert_affine(M), F2C))  # face px -> output px
        quad = apply_affine(F2O, np.array([[-0.5, -0.5], [n - 0.5, -0.5], [-0.5, n - 0.5], [n - 0.5, n - 0.5]]))
        x0 = max(int(math.floor(quad[:, 0].min())), 0)
        y0 = max(int(math.floor(quad[:, 1].min())), 0)
        x1 = min(int(math.ceil(quad[:, 0].max())) + 1, Wo)
        y1 = min(int(math.ceil(quad[:, 1].max())) + 1, Ho)
        if x1 <= x0 or y1 <= y0:
            continue
        T = F2O.copy()
        T[:, 2] -= (x0, y0)
        size = (y1 - y0, x1 - x0)
        warped = warp_affine(face, T, size, border="edge").astype(np.float32)
        m = warp_affine(feather_mask(n, erode, blur), T, size, border="constant", fill=0.0, resample="bilinear")
        m = np.clip(m, 0.0, 1.0)[..., None]
        region = out[y0:y1, x0:x1].astype(np.float32)
        blended = np.clip(np.rint(warped * m + region * (1.0 - m)), 0, 255).astype(np.uint8)
        out[y0:y1, x0:x1] = np.where(m > 0, blended, out[y0:y1, x0:x1])
    return out


def draw_boxes(img: np.ndarray, boxes, in_hw: tuple[int, int]) -> np.ndarray:
    """A copy of ``img`` (the output photo) with green rectangles at ``boxes`` (input pixels of a photo
    of size ``in_hw``)."""
    from PIL import ImageDraw

    H, W = in_hw
    sy, sx = img.shape[0] / H, img.shape[1] / W
    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    w = max(2, round(max(img.shape[:2]) / 400))
    for b in boxes:
        d.rectangle([b[0] * sx, b[1] * sy, b[2] * sx - 1, b[3] * sy - 1], outline=(0, 255, 0), width=w)
    return np.asarray(pil)


def output_size(in_hw: tuple[int, int], scale: float, max_pixels: int | None = None) -> tuple[int, int]:
    """``(width, height)`` of a photo of size ``in_hw`` upscaled by ``scale``; raises
    :class:`~facesr.errors.FacesrError` when it exceeds ``max_pixels``."""
    H, W = in_hw
    ow, oh = max(1, round(W * scale)), max(1, round(H * scale))
    if max_pixels and ow * oh > max_pixels:
        from ..errors import FacesrError

        raise FacesrError(f"the output would be {ow}x{oh} px ({ow * oh / 1e6:.0f} MP, limit "
                          f"{max_pixels / 1e6:.0f} MP); use a smaller upscale")
    return ow, oh
