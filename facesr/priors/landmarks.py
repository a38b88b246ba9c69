"""Landmark priors: 68-point iBUG landmarks of a set of aligned HR faces, and Gaussian heatmaps rendered
from them (PFSR's facial-attention and heatmap losses take 68-channel heatmaps).

The landmark teacher that runs offline here is dlib's 68-point shape predictor (``facesr[faces]``).
:func:`annotate_faces` runs it on aligned face crops: dlib's HOG detector finds the face box, and where
it finds none (small or hard faces) a fixed box derived from the crop geometry stands in; the returned
``found`` flags say which. Any other landmark source can replace it: the trainer takes landmarks from a
``.npy`` file (``data.*.landmarks``: N x 68 x 2, x and y in HR pixels, pixel centres at integers, row i
= HR face i as loaded), so a user's own landmark network or annotation files plug in there.

Teachers: :func:`landmarks_for_cache` runs a *landmark teacher*, any callable that maps uint8 faces
``N x S x S x 3`` to ``N x K x 2`` landmarks in their pixels (or to ``(landmarks, found)``): ``dlib`` (the
default, :func:`dlib_teacher`), a name given to :func:`register_teacher`, or ``"package.module:function"``
(:func:`get_teacher`). It may see each cached face as it is, or as a smaller face (PIL bilinear cascade,
PFSR's LR synthesis) upsampled for the teacher (PFSR's FAN saw the 64 px targets upsampled x4 to 256 px);
the landmarks are stored in the cached faces' pixels either way. :func:`heatmap_landmarks` reads
sub-pixel landmarks back from heatmaps.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import math
import re
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import FacesrError

__all__ = ["annotate_faces", "landmarks_for_cache", "render_heatmaps", "fallback_box", "TEACHERS", "register_teacher",
           "get_teacher", "dlib_teacher", "teacher_view", "heatmap_landmarks", "decode_radius", "network_landmarks"]

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


# ------------------------------------------------------------------ teachers
#: landmark teachers by name: callable(uint8 N x S x S x 3) -> N x K x 2 landmarks (x, y) in those images'
#: pixels (pixel-index convention), or (landmarks, found N bool)
TEACHERS: dict[str, Callable] = {}


def register_teacher(name: str, fn: Callable | None = None):
    """Make ``fn`` available as teacher ``name`` (``heatmap.teacher: NAME`` of a config); usable as a
    decorator. A name registered twice with another function is a ValueError."""

    def deco(f):
        if name in TEACHERS and TEACHERS[name] is not f:
            raise ValueError(f"landmark teacher {name!r} registered twice")
        TEACHERS[name] = f
        return f

    return deco(fn) if fn is not None else deco


@register_teacher("dlib")
def dlib_teacher(images) -> tuple[np.ndarray, np.ndarray]:
    """dlib's 68 points of aligned faces (:func:`annotate_faces`); the HOG detector upsamples the images
    once below 160 px (it finds faces down to ~80 px without)."""
    size = np.asarray(images[0]).shape[0] if len(images) else 0
    return annotate_faces(images, upsample=1 if size < 160 else 0)


def get_teacher(spec) -> tuple[str, Callable]:
    """``(name, callable)`` of a teacher: a callable (named by its module and qualified name), a registered
    name (``dlib``), or ``"package.module:function"`` (imported). Anything else is a one-line
    ConfigError."""
    from ..errors import ConfigError

    if callable(spec):
        return f"{getattr(spec, '__module__', '?')}:{getattr(spec, '__qualname__', type(spec).__name__)}", spec
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"landmark teacher must be a name ({', '.join(sorted(TEACHERS))}) or "
                          f"'package.module:function', got {spec!r}")
    if spec in TEACHERS:
        return spec, TEACHERS[spec]
    if ":" not in spec:
        raise ConfigError(f"unknown landmark teacher {spec!r} (known: {', '.join(sorted(TEACHERS))}; or "
                          f"'package.module:function', or a landmark file in data.<split>.landmarks)")
    mod, _, attr = spec.partition(":")
    try:
        fn = importlib.import_module(mod)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"landmark teacher {spec!r} cannot be imported ({type(e).__name__}: {e})") from None
    if not callable(fn):
        raise ConfigError(f"landmark teacher {spec!r} is not callable")
    return spec, fn


def teacher_view(faces, size: int = 0, teacher_size: int = 0) -> np.ndarray:
    """What a teacher sees of uint8 faces ``N x S x S x 3``: each brought to ``size`` by PIL bilinear
    halvings (PFSR's cascade; 0: kept at S), then PIL bilinear resized to ``teacher_size`` (0: kept)."""
    from ..data.degrade import make_degradation
    from ..data.resize import pil_resize

    faces = np.asarray(faces)
    out = []
    down = make_degradation({"kind": "bilinear_cascade"}, lr_size=size) if size and size != faces.shape[1] else None
    for f in faces:
        f = np.ascontiguousarray(f)
        if down is not None:
            f = down(f)
        if teacher_size and f.shape[0] != teacher_size:
            f = pil_resize(f, teacher_size, "bilinear")
        out.append(f)
    return np.stack(out) if out else np.zeros((0, teacher_size or size or faces.shape[1],) * 2 + (3,), np.uint8)


def _run_teacher(fn, name: str, images) -> tuple[np.ndarray, np.ndarray]:
    res = fn(images)
    found = None
    if isinstance(res, tuple):
        res, found = res
    lm = np.asarray(res, np.float32)
    if lm.ndim != 3 or lm.shape[0] != len(images) or lm.shape[2] != 2 or not np.isfinite(lm).all():
        raise FacesrError(f"landmark teacher {name!r} returned {lm.shape} for {len(images)} faces "
                          f"(need N x K x 2 finite x, y)")
    found = np.ones(len(lm), bool) if found is None else np.asarray(found, bool).reshape(len(lm))
    return lm, found


def landmarks_for_cache(cache, progress: bool = True, teacher="dlib", size: int = 0, teacher_size: int = 0,
                        chunk: int = 64) -> Path:
    """Annotate the faces of a decoded HR cache (``X.npy``, N x S x S x 3) once with a landmark teacher:
    writes the landmarks (float32 N x K x 2, in the *cached faces'* pixels) and a ``.json`` beside them (the
    cache's fingerprint, the teacher, its view, how many faces it found); reused while the cache is
    unchanged. Returns the landmark file's path.

    ``teacher``: see :func:`get_teacher`. ``size`` / ``teacher_size``: the teacher's view of each face
    (:func:`teacher_view`; PFSR's FAN: 64 / 256); points it returns at ``(x, y)`` in that view are stored
    at ``(x + 0.5) * S / T - 0.5`` (T the view's side). With the defaults (dlib, the faces as cached) the
    file is ``X_lm68.npy``, the one ``data.*.landmarks: auto`` uses; else ``X_lm68_<teacher>_<size>to<T>.npy``.
    """
    cache = Path(cache)
    if not cache.is_file():
        raise FacesrError(f"HR cache not found: {cache} (build it first: facesr data -c CONFIG)")
    name, fn = get_teacher(teacher)
    size, teacher_size = int(size or 0), int(teacher_size or 0)
    arr = np.load(cache, mmap_mode="r")
    src = int(arr.shape[1]) if arr.ndim == 4 else 0
    default = name == "dlib" and size in (0, src) and teacher_size in (0, src)
    st = cache.stat()
    key = f"{cache.resolve()}|{st.st_size}|{int(st.st_mtime)}|dlib68"
    if default:
        out = cache.with_name(cache.stem + "_lm68.npy")
    else:
        view = f"{size or src}to{teacher_size or size or src}"
        tag = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40]
        out = cache.with_name(f"{cache.stem}_lm68_{tag}_{view}.npy")
        key += f"|{name}|{view}"
    meta = out.with_suffix(".json")
    fp = hashlib.sha1(key.encode()).hexdigest()[:16]
    if out.is_file() and meta.is_file():
        try:
            if json.loads(meta.read_text()).get("fingerprint") == fp:
                return out
        except json.JSONDecodeError:
            pass
    if default:  # as before: one progress bar over the faces
        lm, found = annotate_faces(arr, progress=progress)
        source = "dlib shape_predictor_68_face_landmarks (HOG box, fixed box fallback)"
    else:
        parts, founds = [], []
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(arr), desc=f"landmarks ({name}, {view})", unit="face", dynamic_ncols=True)
        for s in range(0, len(arr), chunk):
            view_imgs = teacher_view(arr[s:s + chunk], size, teacher_size)
            lm, f = _run_teacher(fn, name, view_imgs)
            t = view_imgs.shape[1]
            parts.append((lm + 0.5) * (src / t) - 0.5)
            founds.append(f)
            if bar is not None:
                bar.update(len(view_imgs))
        if bar is not None:
            bar.close()
        lm = np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 68, 2), np.float32)
        found = np.concatenate(founds) if founds else np.zeros(0, bool)
        source = (f"teacher {name} on each face brought to {size or src} px (PIL bilinear cascade) and "
                  f"resized to {teacher_size or size or src} px (PIL bilinear); stored in {src} px coordinates")
    tmp = out.with_name(out.name + ".tmp.npy")
    np.save(tmp, lm)
    tmp.replace(out)
    info = {"fingerprint": fp, "count": int(len(lm)), "detected": int(found.sum()), "source": source}
    if default or name == "dlib":
        info["fallback_box"] = FALLBACK_BOX
    meta.write_text(json.dumps(info, indent=1))
    return out


# ------------------------------------------------------------------ heatmaps
def render_heatmaps(landmarks, size: int, src_size: int, sigma: float = 1.0):
    """Gaussian heatmaps (float32 N x K x size x size, peak 1) of landmarks given in ``src_size`` pixels.

    Point (x, y) in the source maps to ((x + 0.5) * size / src_size - 0.5, ...) at the target size (pixel
    centres at integers at both sizes); ``sigma`` is in target pixels. ``landmarks``: N x K x 2 or K x 2,
    a numpy array (numpy out) or a torch tensor (a tensor out, on its device).
    """
    if type(landmarks).__module__.startswith("torch"):
        import torch

        lm = landmarks.float()
        single = lm.ndim == 2
        if single:
            lm = lm[None]
        pts = (lm + 0.5) * (size / float(src_size)) - 0.5
        grid = torch.arange(size, dtype=torch.float32, device=lm.device)
        gx = torch.exp(-((grid[None, None, :] - pts[..., 0:1]) ** 2) / (2 * sigma * sigma))
        gy = torch.exp(-((grid[None, None, :] - pts[..., 1:2]) ** 2) / (2 * sigma * sigma))
        maps = gy[..., :, None] * gx[..., None, :]
        return maps[0] if single else maps
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


def decode_radius(sigma: float) -> int:
    """The half-width of :func:`heatmap_landmarks`'s window for Gaussians of ``sigma`` px: ceil(3 sigma), >= 1."""
    return max(1, int(math.ceil(3.0 * float(sigma))))


def heatmap_landmarks(heatmaps, radius: int = 3):
    """Sub-pixel landmarks of heatmaps ``N x K x H x W`` (torch tensor or numpy array): ``N x K x 2``
    float32 ``(x, y)`` in heatmap pixels (pixel-index convention: the centre of column i is x = i).

    Each map's argmax, refined by the centroid of the map's positive part in the ``(2 radius + 1)^2``
    window around it (a local soft-argmax; the window is clipped at the borders; where it holds nothing
    positive, the argmax itself). A sampled Gaussian of sigma s comes back to within 0.01 px with
    ``radius`` = :func:`decode_radius` (s) when it lies at least ``radius`` px inside the map.
    """
    import torch
    import torch.nn.functional as F

    is_np = not type(heatmaps).__module__.startswith("torch")
    hm = torch.as_tensor(np.asarray(heatmaps)) if is_np else heatmaps
    hm = hm.detach().float()
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be N x K x H x W, got {tuple(hm.shape)}")
    n, k, h, w = hm.shape
    r = int(radius)
    idx = hm.flatten(2).argmax(2)
    iy, ix = idx // w, idx % w
    off = torch.arange(-r, r + 1, device=hm.device)
    pad = F.pad(hm, (r, r, r, r))  # zeros outside: the window is clipped at the borders
    rows = (iy[..., None] + r + off)[..., :, None].expand(n, k, 2 * r + 1, 2 * r + 1)
    cols = (ix[..., None] + r + off)[..., None, :].expand(n, k, 2 * r + 1, 2 * r + 1)
    flat = pad.flatten(2)
    win = flat.gather(2, (rows * (w + 2 * r) + cols).flatten(2)).view(n, k, 2 * r + 1, 2 * r + 1).clamp_min(0)
    mass = win.sum((2, 3))
    ok = mass > 0
    safe = torch.where(ok, mass, torch.ones_like(mass))
    dx = (win.sum(2) * off.float()).sum(2) / safe
    dy = (win.sum(3) * off.float()).sum(2) / safe
    x = ix.float() + torch.where(ok, dx, torch.zeros_like(dx))
    y = iy.float() + torch.where(ok, dy, torch.zeros_like(dy))
    out = torch.stack([x, y], -1)
    return out.cpu().numpy() if is_np else out


def network_landmarks(net, faces, radius: int = 3, batch_size: int = 16, device=None) -> np.ndarray:
    """Landmarks (float32 N x K x 2, in the faces' pixels) of uint8 faces ``N x S x S x 3`` by a heatmap
    network (``net(x)``: N x 3 x S x S in [0, 1] -> N x K x S x S; called as it is, in its current mode,
    without gradients), decoded by :func:`heatmap_landmarks`."""
    import torch

    if device is None:
        device = next((p.device for p in net.parameters()), torch.device("cpu"))
    out = []
    with torch.no_grad():
        for s in range(0, len(faces), batch_size):
            x = np.ascontiguousarray(np.asarray(faces[s:s + batch_size]).transpose(0, 3, 1, 2), np.float32) / 255.0
            hm = net(torch.from_numpy(x).to(device))
            out.append(heatmap_landmarks(hm.float(), radius).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0, 2), np.float32)
