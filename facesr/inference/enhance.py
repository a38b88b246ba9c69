"""Enhance the faces in whole photos: detect, align, super-resolve, paste back.

:func:`enhance` works on one image in memory; :func:`enhance_paths` on files and folders, writing
GFPGAN-style outputs::

    OUT/cropped_faces/NAME_00.png      face crop, in the model's training geometry, at its HR size
    OUT/restored_faces/NAME_00[_SUFFIX].png   the super-resolved face (colour-matched as pasted)
    OUT/cmp/NAME_00.png                input crop | restored face, side by side
    OUT/final/NAME[_SUFFIX].EXT        the whole photo, upscaled, with the restored faces pasted in

``NAME`` is the input's path relative to the input folder without its extension (sub-folders are kept
with ``recursive=True``); two inputs that would share a NAME (``a.jpg`` and ``a.png``) get the extension
added to the later one (``a_png``). ``EXT`` is the input's extension for ``ext="auto"`` (``.png`` when
facesr cannot write that format), otherwise the one given.

Pipeline for one photo
----------------------
1. **Detect** faces with dlib (HOG, or ``cnn=True`` for the MMOD CNN), on a copy shrunk so that its long
   side is at most ``det_max_side`` (2048 px) when the photo is larger; boxes are scaled back.
   Detections scoring below ``det_threshold``, or smaller than ``min_face_size`` px (box side in the
   input), are dropped; ``only_center_face`` keeps the one nearest the image centre. Faces are numbered
   left to right.
2. **Align**: 68 landmarks per face (on the full-resolution photo), then the crop the model was trained
   on (its preset's ``crop`` spec, see :mod:`facesr.inference.align`; ``CROP_SPECS["lfw"]`` for a module
   without registry metadata), cut at the model's HR size with an antialiased warp.
3. **Super-resolve**: the crops are resized to the model's LR size with PIL's antialiased bicubic (the
   way the training LR was made) and run through the model in batches of ``batch_size`` (in
   :func:`enhance_paths`, faces of several photos share batches).
4. **Face-size policy** (``fusion=True``, the default). A face's crop side ``s`` in photo pixels says how
   much detail the photo itself holds; the model sees the face at its LR size (16 px for x8) whatever
   ``s`` is, so on its own it would throw away detail a larger face has (measured on Helen-50, default
   model: from 24 px up the plain bicubic resize beats it in PSNR). So each face gets one of three modes
   (``EnhanceResult.modes``):

   * ``"sr"``: ``s <= lr_size``: the model output as it is (colour-matched, step 5);
   * ``"fused"``: ``lr_size < s < hr_size / 2``: :func:`~facesr.inference.paste.fuse_detail` keeps the
     band the photo has and adds the model's detail above it (Helen-50, default model, PSNR of bicubic ->
     fused: +1.44 dB at 20 px, +1.14 at 24, +0.70 at 32, +0.27 at 48; ``benchmarks/bench_face_size.py``);
   * ``"kept"``: ``s >= hr_size / 2`` (64 px for 16 -> 128): only the top octave is left for the model and
     it adds next to nothing there (+0.11 dB with SSIM -0.0002 at 64 px, -0.02 dB at 96 px), so the model
     is not run and the face is left as the upscaled photo shows it (``restored_faces`` holds the crop).

   ``fusion=False`` pastes the model output for every face (the behaviour of a plain face-SR pipeline), and
   so does a restoration model whose input and output sizes are equal (it sees each face whole).
5. **Paste back** into the photo upscaled by ``upscale`` (PIL bicubic or ``bg_upsampler``), with a
   feathered mask and optional colour matching (:mod:`facesr.inference.paste`).

Documented handling of awkward inputs
-------------------------------------
* **Grey, RGBA, 16-bit, CMYK, palette, EXIF-rotated** files: read as upright 8-bit RGB by
  :func:`facesr.data.io.read_image` (transparency onto white), so outputs are RGB and upright.
* **Huge photos** (e.g. 8000x6000): detection runs on a copy shrunk to ``det_max_side``; landmarks,
  crops and paste-back use full resolution. An output over ``max_output_pixels`` (400 MP) is refused with
  a one-line error instead of exhausting memory (lower ``upscale``). Input files over 100 MP are refused
  by ``read_image``. Cost on the 2-core test machine: 8000x6000 at upscale 2 (16000x12000 output) takes
  about 25 s and 2.5 GB, mostly the bicubic background upscale and moving 576 MB images around.
* **Tiny photos** (e.g. 8x8) and **photos with no face**: the photo is still upscaled and written to
  ``final/``; the result carries a warning (tiny: "use aligned=True for face crops") and
  :class:`Summary` counts it under ``no_face``.
* **Corrupt, truncated, 0-byte, non-image files**: one line on stderr naming the file and the reason;
  the run goes on and the exit status of ``facesr enhance`` becomes 1.
* **Interrupted runs**: every file is written atomically, ``final/`` last, so with
  ``skip_existing=True`` a photo whose ``final/`` file exists is complete and is skipped.

``enhance`` is stateless and thread-safe: models named by string are loaded once per process into a
lock-guarded cache and only read afterwards; dlib calls hold per-model locks.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..errors import FacesrError, ImageReadError
from .align import CROP_SPECS, _spec, crop_transform, warp_affine
from .paste import fuse_detail, match_color, paste_faces, photo_to_output, upscale_background

__all__ = ["EnhanceResult", "Summary", "enhance", "enhance_paths", "crop_spec_for", "face_modes",
           "DEFAULT_DET_MAX_SIDE"]

DEFAULT_DET_MAX_SIDE = 2048
DEFAULT_MAX_OUTPUT_PIXELS = 400_000_000
TINY_SIDE = 40  # below this (short side, px) HOG cannot find a face even with upsampling

_MODEL_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str], object] = {}


# ------------------------------------------------------------------ results
@dataclass
class EnhanceResult:
    """What :func:`enhance` returns. Lists are per face, in the same order (left to right)."""

    cropped_faces: list[np.ndarray] = field(default_factory=list)  # uint8 crops at the model's HR size
    restored_faces: list[np.ndarray] = field(default_factory=list)  # uint8, as pasted (colour-matched)
    boxes: list[np.ndarray] = field(default_factory=list)  # (4,) x0, y0, x1, y1 in input pixels
    scores: list[float] = field(default_factory=list)  # detector scores
    landmarks: list[np.ndarray | None] = field(default_factory=list)  # (68, 2) in input pixels
    affines: list[np.ndarray] = field(default_factory=list)  # 2x3, input pixels -> crop pixels
    final: np.ndarray | None = None  # the upscaled photo with the faces pasted in
    warnings: list[str] = field(default_factory=list)
    crop_sides: list[float] = field(default_factory=list)  # side of each face crop in input pixels
    modes: list[str] = field(default_factory=list)  # per face: "sr", "fused" or "kept" (module docstring)

    @property
    def num_faces(self) -> int:
        return len(self.restored_faces)


@dataclass
class Summary:
    """What :func:`enhance_paths` did."""

    images: int = 0  # photos written (with or without faces)
    faces: int = 0  # faces restored (kept ones included)
    kept: int = 0  # faces large enough to be kept as the photo shows them (face-size policy)
    no_face: int = 0  # photos in which no face was found (still written to final/)
    skipped: int = 0  # photos skipped because their final/ output existed (skip_existing)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)
    seconds: float = 0.0
    output: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def line(self) -> str:
        kept = f" ({self.kept} kept as the photo shows them: large enough)" if self.kept else ""
        parts = [f"{self.images} image(s) done", f"{self.faces} face(s) restored{kept}",
                 f"{self.no_face} image(s) with no face", f"{len(self.failed)} failed"]
        if self.skipped:
            parts.append(f"{self.skipped} skipped (already done)")
        return ", ".join(parts) + f" in {self.seconds:.1f} s -> {self.output}"


@dataclass
class _Prepared:
    image: np.ndarray
    boxes: list[np.ndarray]
    scores: list[float]
    landmarks: list[np.ndarray | None]
    affines: list[np.ndarray]
    crops: list[np.ndarray]
    warnings: list[str]
    aligned: bool = False
    sides: list[float] = field(default_factory=list)  # crop side of each face in photo pixels
    modes: list[str] = field(default_factory=list)

    def sr_crops(self) -> list[np.ndarray]:
        """The crops the model must see (every face but the ``kept`` ones)."""
        return [c for c, m in zip(self.crops, self.modes) if m != "kept"]


def face_modes(sides: Sequence[float], net, fusion: bool = True) -> list[str]:
    """``"sr"``, ``"fused"`` or ``"kept"`` per face from its crop side in photo pixels (module docstring)."""
    if not fusion or int(net.hr_size) <= int(net.lr_size):  # a restoration model (e.g. 512 -> 512) sees it all
        return ["sr"] * len(sides)
    lr, keep = int(net.lr_size), int(net.hr_size) / 2
    return ["sr" if round(s) <= lr else "kept" if round(s) >= keep else "fused" for s in sides]


# ------------------------------------------------------------------ models and crop specs
def _get_model(model, device: str, backend: str = "auto"):
    """The model to run: names and files are loaded once per (name, device, back-end) and put behind
    ``backend`` (:mod:`facesr.inference.runtime`); a module is used as it is unless a back-end is named."""
    from .runtime import inference_model

    if isinstance(model, (str, bytes, os.PathLike)):
        key = (os.fspath(model) if not isinstance(model, bytes) else model.decode(), str(device), backend)
        hit = _MODELS.get(key)
        if hit is None:
            with _MODEL_LOCK:
                hit = _MODELS.get(key)
                if hit is None:
                    from .sr import resolve_model

                    hit = inference_model(resolve_model(key[0], device), backend)
                    _MODELS[key] = hit
        return hit
    if not hasattr(model, "lr_size") or not hasattr(model, "hr_size"):
        raise TypeError("model must be a registry name, a model file or a facesr SR module (with lr_size/hr_size)")
    return model if backend == "auto" else inference_model(model, backend)


def crop_spec_for(model, crop=None) -> dict:
    """The crop spec to use: ``crop`` (a dict or a :data:`CROP_SPECS` key) if given, else the one the
    model's metadata or registry preset declares, else ``CROP_SPECS["lfw"]``."""
    if crop is not None:
        return _spec(crop)
    meta = getattr(model, "facesr_meta", None) or {}
    spec = meta.get("crop")
    if spec is None and meta.get("preset"):
        from ..registry import get_preset

        try:
            spec = get_preset(str(meta["preset"])).crop
        except FacesrError:
            spec = None
    try:
        return _spec(spec) if spec is not None else dict(CROP_SPECS["lfw"])
    except ValueError:
        return dict(CROP_SPECS["lfw"])


# ------------------------------------------------------------------ stages
AUTO_UPSAMPLE_MAX_SIDE = 640


def auto_upsample(h: int, w: int) -> int:
    """Detector upsampling when none is given: 2 for small photos (faces from ~20 px, which is where a x8
    model helps most), 1 otherwise (faces from ~40 px)."""
    return 2 if max(h, w) <= AUTO_UPSAMPLE_MAX_SIDE else 1


def _detect(img: np.ndarray, upsample: int | None, threshold: float, cnn: bool, det_max_side: int | None):
    from ..priors.dlib_models import detect_faces

    H, W = img.shape[:2]
    if upsample is None:
        upsample = auto_upsample(H, W)
    scale = 1.0
    small = img
    if det_max_side and max(H, W) > det_max_side:
        scale = det_max_side / max(H, W)
        sw, sh = max(1, round(W * scale)), max(1, round(H * scale))
        small = np.asarray(Image.fromarray(img).resize((sw, sh), Image.BICUBIC, reducing_gap=3.0))
        sx, sy = sw / W, sh / H
    dets = detect_faces(small, upsample=upsample, threshold=threshold, cnn=cnn)
    if scale != 1.0:
        dets = [(b / np.array([sx, sy, sx, sy]), s) for b, s in dets]
    return dets


def _check_image(image) -> np.ndarray:
    if isinstance(image, (str, os.PathLike)):
        from ..data.io import read_image

        return read_image(image)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        from ..data.io import _composite_on_white

        a = _composite_on_white(a)
    if a.ndim != 3 or a.shape[2] != 3 or min(a.shape[:2]) < 1:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {a.shape}")
    return np.ascontiguousarray(a)


def _prepare(img: np.ndarray, net, spec: dict, *, aligned: bool, only_center_face: bool, min_face_size: float,
             det_threshold: float, det_upsample: int | None, cnn: bool, det_max_side: int | None,
             fusion: bool = True) -> _Prepared:
    H, W = img.shape[:2]
    hr = int(net.hr_size)
    if aligned:  # a face crop the user wants super-resolved: always the model output
        M = photo_to_output((H, W), (hr, hr))
        crop = img if (H, W) == (hr, hr) else np.asarray(Image.fromarray(img).resize((hr, hr), Image.BICUBIC))
        return _Prepared(img, [np.array([0.0, 0.0, W, H])], [1.0], [None], [M], [crop], [], aligned=True,
                         sides=[float(max(H, W))], modes=["sr"])
    from ..priors.dlib_models import landmarks68

    warnings: list[str] = []
    dets = _detect(img, det_upsample, det_threshold, cnn, det_max_side)
    if min_face_size > 0:
        dets = [(b, s) for b, s in dets if max(b[2] - b[0], b[3] - b[1]) >= min_face_size]
    if only_center_face and len(dets) > 1:
        c = np.array([W / 2, H / 2])
        dets = [min(dets, key=lambda d: float(np.hypot(*((d[0][:2] + d[0][2:]) / 2 - c))))]
    dets.sort(key=lambda d: (float(d[0][0]), float(d[0][1])))
    if not dets:
        if min(H, W) < TINY_SIDE:
            warnings.append(f"no face found: the image is only {W}x{H} px, too small to detect a face in "
                            f"(for a face crop use aligned=True / --aligned)")
        else:
            warnings.append("no face found")
    boxes, scores, lms, affs, crops = [], [], [], [], []
    for b, s in dets:
        L = landmarks68(img, b)
        try:
            M = crop_transform(L, spec, hr)
        except ValueError:
            warnings.append(f"skipped a face at {[int(v) for v in b]}: degenerate landmarks")
            continue
        boxes.append(b)
        scores.append(float(s))
        lms.append(L)
        affs.append(M)
        crops.append(warp_affine(img, M, (hr, hr), border="reflect"))
    sides = [float(_crop_side(M, hr)) for M in affs]
    return _Prepared(img, boxes, scores, lms, affs, crops, warnings, sides=sides,
                     modes=face_modes(sides, net, fusion))


def _draw_boxes(img: np.ndarray, boxes, in_hw) -> np.ndarray:
    H, W = in_hw
    sy, sx = img.shape[0] / H, img.shape[1] / W
    pil = Image.fromarray(img)
    d = ImageDraw.Draw(pil)
    w = max(2, round(max(img.shape[:2]) / 400))
    for b in boxes:
        d.rectangle([b[0] * sx, b[1] * sy, b[2] * sx - 1, b[3] * sy - 1], outline=(0, 255, 0), width=w)
    return np.asarray(pil)


def _finish(prep: _Prepared, restored: list[np.ndarray], net, *, upscale: float, color_match,
            draw_box: bool, bg_upsampler, max_output_pixels: int | None) -> EnhanceResult:
    """``restored``: the model outputs of ``prep.sr_crops()``, in order."""
    res = EnhanceResult(cropped_faces=list(prep.crops), boxes=list(prep.boxes), scores=list(prep.scores),
                        landmarks=list(prep.landmarks), affines=list(prep.affines), warnings=list(prep.warnings),
                        crop_sides=list(prep.sides), modes=list(prep.modes))
    method = "lowfreq" if color_match is True else (color_match or "none")
    sigma = float(net.hr_size) / float(net.lr_size)
    it = iter(restored)
    faces = []
    for crop, side, mode in zip(prep.crops, prep.sides, prep.modes):
        if mode == "kept":
            faces.append(crop.copy())
        elif mode == "fused":  # the low band comes from the photo: no colour matching needed
            faces.append(fuse_detail(next(it), crop, side))
        else:
            f = next(it)
            faces.append(match_color(f, crop, method, sigma) if method != "none" else f)
    res.restored_faces = faces
    if prep.aligned:
        res.final = restored[0]
        return res
    img = prep.image
    H, W = img.shape[:2]
    ow, oh = max(1, round(W * upscale)), max(1, round(H * upscale))
    if max_output_pixels and ow * oh > max_output_pixels:
        raise FacesrError(f"the output would be {ow}x{oh} px ({ow * oh / 1e6:.0f} MP, limit "
                          f"{max_output_pixels / 1e6:.0f} MP); use a smaller upscale")
    bg = upscale_background(img, upscale, bg_upsampler)
    paste = [i for i, m in enumerate(prep.modes) if m != "kept"]  # kept faces stay as the photo shows them
    final = paste_faces(bg, [faces[i] for i in paste], [prep.affines[i] for i in paste], (H, W),
                        crop_sizes=[prep.crops[i].shape[0] for i in paste])
    msg = _size_note(prep.sides, prep.modes, net)
    if msg:
        res.warnings.append(msg)
    if draw_box and res.boxes:
        final = _draw_boxes(final, res.boxes, (H, W))
    res.final = final
    return res


def _crop_side(M: np.ndarray, n: int) -> float:
    return n / abs(np.linalg.det(np.asarray(M)[:, :2])) ** 0.5


_SIZE_NOTE = "half the model's output size"


def _size_note(sides: Sequence[float], modes: Sequence[str], net, photos: int = 0) -> str | None:
    """One line on faces the model could not help: kept ones (fusion) or, without fusion, faces whose
    crop is over twice the model's LR size (their detail is thrown away)."""
    where = f" in {photos} photo(s)" if photos else ""
    kept = [s for s, m in zip(sides, modes) if m == "kept"]
    if kept:
        return (f"{len(kept)} face(s){where} are at least {_SIZE_NOTE} ({int(net.hr_size) // 2} px; crops up "
                f"to {max(kept):.0f} px): the x{int(net.hr_size) // int(net.lr_size)} model adds nothing the photo "
                f"does not already hold, so they are kept as the upscaled photo shows them; a model for larger "
                f"faces suits them better")
    large = [s for s, m in zip(sides, modes) if m == "sr" and s > 2 * net.lr_size]
    if not large:
        return None
    return (f"{len(large)} face(s){where} are much larger than the model's input (crops up to {max(large):.0f} px, "
            f"the model sees {net.lr_size} px) and fusion is off, so detail the photo has is lost; leave "
            f"fusion on (drop --no-fusion) to keep it; beyond {_SIZE_NOTE} faces are then kept as they are")


def _sr(crops: list[np.ndarray], net, device: str, batch_size: int) -> list[np.ndarray]:
    """Model outputs of ``crops`` (the SR crops of :meth:`_Prepared.sr_crops`)."""
    if not crops:
        return []
    from .sr import super_resolve

    return super_resolve(crops, net, device=device, batch_size=max(1, int(batch_size)))


def _check_args(upscale, batch_size):
    if not (isinstance(upscale, (int, float)) and math.isfinite(upscale) and upscale > 0):
        raise ValueError(f"upscale must be a positive number, got {upscale!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")


# ------------------------------------------------------------------ public API
def enhance(image, model="default", upscale: float = 2, only_center_face: bool = False,
            min_face_size: float = 0, det_threshold: float = 0.0, det_upsample: int | None = None, cnn: bool = False,
            aligned: bool = False, color_match=True, draw_box: bool = False, device: str = "cpu",
            batch_size: int = 16, crop=None, bg_upsampler: Callable | None = None, fusion: bool = True,
            backend: str = "auto",
            det_max_side: int | None = DEFAULT_DET_MAX_SIDE,
            max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS) -> EnhanceResult:
    """Super-resolve every face in ``image`` and paste it back into the upscaled photo.

    ``image``: uint8 H x W x 3 RGB array (grey and RGBA arrays are converted) or an image path.
    ``model``: registry name, ``.safetensors`` model file, or a facesr SR module (used as it is; put it
    in eval mode). ``upscale``: factor of the whole photo (the faces are restored by the model's own
    factor and then resampled to fit). ``aligned=True``: the image is already a face crop; it is resized
    to the model's LR size and super-resolved, ``final`` is the model output and ``upscale`` is ignored.
    ``color_match``: ``True``/``"lowfreq"``, ``"meanstd"`` or ``False``. ``crop``: override the crop spec
    (a dict or a ``CROP_SPECS`` key). ``bg_upsampler(img, scale)``: upscales the background instead of PIL
    bicubic. ``fusion``: the face-size policy of the module docstring (``False``: paste the model output
    for every face). ``backend``: how the model runs (:mod:`facesr.inference.runtime`; ``"auto"``: models
    named by string run optimised, a module is used as it is). Other options: see the module docstring.
    A photo with no face gives ``final`` = the upscaled photo and a warning.
    """
    _check_args(upscale, batch_size)
    img = _check_image(image)
    net = _get_model(model, device, backend)
    warnings = []
    if getattr(net, "training", False):
        warnings.append("the model is in training mode; call .eval() on it for correct results")
    spec = crop_spec_for(net, crop)
    prep = _prepare(img, net, spec, aligned=aligned, only_center_face=only_center_face,
                    min_face_size=min_face_size, det_threshold=det_threshold, det_upsample=det_upsample, cnn=cnn,
                    det_max_side=det_max_side, fusion=fusion)
    prep.warnings[:0] = warnings
    restored = _sr(prep.sr_crops(), net, device, batch_size)
    return _finish(prep, restored, net, upscale=upscale, color_match=color_match, draw_box=draw_box,
                   bg_upsampler=bg_upsampler, max_output_pixels=max_output_pixels)


def _writable_ext(suffix: str) -> str:
    from ..data.io import _WRITE_FORMATS

    s = suffix.lower()
    return s if s in _WRITE_FORMATS else ".png"


def _plan_outputs(inputs: Sequence[Path], recursive: bool) -> list[tuple[Path, str]]:
    """(file, output stem) pairs; stems are unique (see the module docstring)."""
    from ..data.io import list_images

    plan: list[tuple[Path, str]] = []
    used: set[str] = set()
    for root in inputs:
        root = Path(root)
        files = list_images(root, recursive=recursive)
        for f in files:
            rel = f.relative_to(root) if root.is_dir() else Path(f.name)
            stem = rel.with_suffix("").as_posix()
            if stem in used:
                stem = f"{stem}_{f.suffix.lstrip('.').lower() or 'noext'}"
                k = 2
                base = stem
                while stem in used:
                    stem, k = f"{base}_{k}", k + 1
            used.add(stem)
            plan.append((f, stem))
    return plan


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    if isinstance(e, FacesrError):
        return msg or type(e).__name__
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def enhance_paths(inputs, out_dir, model="default", *, upscale: float = 2, recursive: bool = False,
                  skip_existing: bool = False, ext: str = "auto", suffix: str | None = None,
                  only_center_face: bool = False, min_face_size: float = 0, det_threshold: float = 0.0,
                  det_upsample: int | None = None, cnn: bool = False, aligned: bool = False, color_match=True,
                  draw_box: bool = False, device: str = "cpu", batch_size: int = 16, crop=None,
                  bg_upsampler: Callable | None = None, det_max_side: int | None = DEFAULT_DET_MAX_SIDE,
                  max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS, fusion: bool = True,
                  backend: str = "auto", progress: bool = True,
                  quiet: bool = False, stream=None) -> Summary:
    """Enhance image files and folders (``inputs``: a path or a list of paths) into ``out_dir``.

    Faces of several photos are batched through the model (``batch_size``). Per-file problems are
    reported as one line on ``stream`` (stderr) and counted in ``Summary.failed``; the run goes on.
    Notes (no face found, faces enlarged) are printed too unless ``quiet``. Raises
    :class:`~facesr.errors.FacesrError` only for problems that stop everything (no inputs, a model or
    dlib that cannot be loaded).
    """
    from ..data.io import write_image
    from .visual import comparison_grid

    t0 = time.perf_counter()
    _check_args(upscale, batch_size)
    stream = stream if stream is not None else sys.stderr
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [Path(p) for p in inputs]
    out = Path(out_dir)
    plan = _plan_outputs(inputs, recursive)
    if not plan:
        raise ImageReadError(f"no images found in {', '.join(str(p) for p in inputs)}")
    net = _get_model(model, device, backend)
    spec = crop_spec_for(net, crop)
    if not aligned:
        from ..priors.dlib_models import preload

        preload(cnn=cnn)
    if getattr(net, "training", False) and not quiet:
        print("facesr: note: the model is in training mode; call .eval() on it for correct results", file=stream)
    ext_fixed = None if ext in (None, "", "auto") else ("." + ext.lstrip(".")).lower()
    sfx = f"_{suffix}" if suffix else ""
    summary = Summary(output=str(out))

    bar = None
    if progress and not quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(plan), unit="img", desc="enhancing", dynamic_ncols=True, file=stream)

    def say(msg: str) -> None:
        if bar is not None:
            bar.write(msg, file=stream)
        else:
            print(msg, file=stream)

    def fail(path: Path, e: BaseException) -> None:
        msg = _one_line(e)
        summary.failed.append((str(path), msg))
        say(f"facesr: skipped: {msg}" if str(path) in msg else f"facesr: skipped '{path}': {msg}")

    def final_path(f: Path, stem: str) -> Path:
        return out / "final" / f"{stem}{sfx}{ext_fixed or _writable_ext(f.suffix)}"

    def write_one(f: Path, stem: str, res: EnhanceResult) -> None:
        for i, (c, r) in enumerate(zip(res.cropped_faces, res.restored_faces)):
            write_image(out / "cropped_faces" / f"{stem}_{i:02d}.png", c)
            write_image(out / "restored_faces" / f"{stem}_{i:02d}{sfx}.png", r)
            cell = int(r.shape[0])
            write_image(out / "cmp" / f"{stem}_{i:02d}.png",
                        comparison_grid([[c, r]], ["input crop", "restored"], cell=cell))
        write_image(final_path(f, stem), res.final)  # last: its existence marks the photo as done

    pending: list[tuple[Path, str, _Prepared]] = []
    faces_found = 0
    sides_all: list[float] = []
    modes_all: list[str] = []
    photos_large = [0]
    opts = dict(upscale=upscale, color_match=color_match, draw_box=draw_box, bg_upsampler=bg_upsampler,
                max_output_pixels=max_output_pixels)

    def flush() -> None:
        nonlocal pending
        crops = [c for _, _, p in pending for c in p.sr_crops()]
        try:
            restored = _sr(crops, net, device, batch_size)
        except Exception as e:  # the whole batch is lost: every photo in it fails, the run goes on
            for f, _, _ in pending:
                fail(f, e)
            pending = []
            return
        k = 0
        for f, stem, p in pending:
            n_sr = len(p.sr_crops())
            mine, k = restored[k:k + n_sr], k + n_sr
            try:
                res = _finish(p, mine, net, **opts)
                write_one(f, stem, res)
            except Exception as e:
                fail(f, e)
                continue
            summary.images += 1
            summary.faces += res.num_faces
            summary.kept += res.modes.count("kept")
            if not res.num_faces:
                summary.no_face += 1
            sides_all.extend(res.crop_sides)
            modes_all.extend(res.modes)
            if any(_SIZE_NOTE in w for w in res.warnings):  # _finish's size note for this photo
                photos_large[0] += 1
            if not quiet:
                for w in res.warnings:
                    if _SIZE_NOTE not in w:  # aggregated into one note at the end
                        say(f"facesr: note: '{f}': {w}")
        pending = []

    try:
        for f, stem in plan:
            if skip_existing and final_path(f, stem).is_file():
                summary.skipped += 1
                if bar is not None:
                    bar.update(1)
                continue
            try:
                from ..data.io import read_image

                img = read_image(f)
                p = _prepare(img, net, spec, aligned=aligned, only_center_face=only_center_face,
                             min_face_size=min_face_size, det_threshold=det_threshold, det_upsample=det_upsample,
                             cnn=cnn, det_max_side=det_max_side, fusion=fusion)
            except Exception as e:
                fail(f, e)
                if bar is not None:
                    bar.update(1)
                continue
            faces_found += len(p.crops)
            pending.append((f, stem, p))
            n_faces = sum(len(q.sr_crops()) for _, _, q in pending)
            n_pix = sum(q.image.size for _, _, q in pending)
            if n_faces >= batch_size or len(pending) >= 64 or n_pix >= 300_000_000:
                flush()
            if bar is not None:
                bar.set_postfix(faces=faces_found, refresh=False)
                bar.update(1)
        flush()
    finally:
        if bar is not None:
            bar.close()
    note = _size_note(sides_all, modes_all, net, photos_large[0])
    if note and not quiet:
        print(f"facesr: note: {note}", file=stream)
    summary.seconds = time.perf_counter() - t0
    return summary
