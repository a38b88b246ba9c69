""":class:`FaceEnhancer`: detect, align, choose, restore and paste back every face of a photo.

The stages live in their own modules (:mod:`.detect`, :mod:`.align`, :mod:`.choose`, :mod:`.restore`,
:mod:`.paste`); this module holds the object that runs them with one set of options and the results.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..errors import FacesrError
from .align import crop_side, crop_spec_for, crop_transform, warp_affine
from .choose import chain_modes, face_modes, size_note
from .detect import DEFAULT_DET_MAX_SIDE, DETECTORS, detect_faces, no_face_warning, preload_detector, select_faces
from .paste import draw_boxes, output_size, paste_faces, photo_to_output, upscale_background
from .restore import COLOR_MATCH, blend, load_model, restored_faces, run_model

__all__ = ["FaceEnhancer", "EnhanceResult", "FacePlan", "DEFAULT_MODEL", "DEFAULT_MAX_OUTPUT_PIXELS", "as_rgb_uint8"]

DEFAULT_MAX_OUTPUT_PIXELS = 400_000_000
#: the model `facesr enhance` restores faces with unless told otherwise: the blind restoration model
#: (SPARNetHD at 128 px, trained on blur, noise, JPEG and downscales), since photos are rarely clean
#: bicubic downscales; `-m default` takes the x8 model of `facesr sr`. Measured: benchmarks/bench_restore.py
DEFAULT_MODEL = "sparnethd-lite"


@dataclass
class EnhanceResult:
    """What :meth:`FaceEnhancer.enhance` returns. Lists are per face, in the same order (left to right)."""

    cropped_faces: list[np.ndarray] = field(default_factory=list)  # uint8 crops at the model's HR size
    restored_faces: list[np.ndarray] = field(default_factory=list)  # uint8, as pasted (colour-matched)
    boxes: list[np.ndarray] = field(default_factory=list)  # (4,) x0, y0, x1, y1 in input pixels
    scores: list[float] = field(default_factory=list)  # detector scores
    landmarks: list[np.ndarray | None] = field(default_factory=list)  # (68, 2) in input pixels
    affines: list[np.ndarray] = field(default_factory=list)  # 2x3, input pixels -> crop pixels
    final: np.ndarray | None = None  # the upscaled photo with the faces pasted in
    warnings: list[str] = field(default_factory=list)
    crop_sides: list[float] = field(default_factory=list)  # side of each face crop in input pixels
    modes: list[str] = field(default_factory=list)  # per face: "sr", "fused", "kept" or "chain" (enhance.choose)

    @property
    def num_faces(self) -> int:
        return len(self.restored_faces)


@dataclass
class FacePlan:
    """One photo after detection, alignment and the per-face choice, before the model runs."""

    image: np.ndarray  # the input photo, uint8 H x W x 3
    boxes: list[np.ndarray]
    scores: list[float]
    landmarks: list[np.ndarray | None]
    affines: list[np.ndarray]
    crops: list[np.ndarray]
    warnings: list[str]
    aligned: bool = False  # the photo is a face crop: the result is the model output
    sides: list[float] = field(default_factory=list)  # crop side of each face in photo pixels
    modes: list[str] = field(default_factory=list)

    def model_crops(self) -> list[np.ndarray]:
        """The crops the model must see (every face but the ``kept`` ones), in order."""
        return [c for c, m in zip(self.crops, self.modes) if m != "kept"]


def as_rgb_uint8(image) -> np.ndarray:
    """``image`` as a contiguous uint8 H x W x 3 array: a path is read (:func:`facesr.data.io.read_image`),
    a grey array repeated, an RGBA array composited onto white. ``TypeError`` for another dtype,
    ``ValueError`` for another shape."""
    if isinstance(image, (str, os.PathLike)):
        from ..data.io import read_image

        return read_image(image)
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.uint32)
        a = ((a[..., :3].astype(np.uint32) * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    if a.ndim != 3 or a.shape[2] != 3 or min(a.shape[:2]) < 1:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {a.shape}")
    return np.ascontiguousarray(a)


class FaceEnhancer:
    """Super-resolve every face of a photo and paste it back into the upscaled photo.

    >>> enhancer = FaceEnhancer(upscale=2)         # DEFAULT_MODEL
    >>> result = enhancer.enhance(photo)        # result.final, result.restored_faces, result.boxes, ...

    ``model``: registry name or ``.safetensors`` file (loaded once, here, on ``device``, behind
    ``backend``: see :func:`facesr.deploy.inference_model`), or a facesr SR module in eval mode (used as
    it is for ``backend="auto"``). ``detector``: ``"hog"`` (dlib HOG) or ``"cnn"`` (dlib MMOD, robust to
    pose, slower). ``upscale``: factor of the whole photo. ``only_center_face``, ``min_face_size`` (px,
    box side), ``det_threshold``, ``det_upsample`` (None: automatic), ``det_max_side``: detection
    (:mod:`facesr.enhance.detect`). ``crop``: crop spec overriding the model's (:mod:`facesr.enhance.align`).
    ``fusion``: the per-face policy (:mod:`facesr.enhance.choose`; False: the model output for every
    face). ``color_match``: ``True``/``"lowfreq"``, ``"meanstd"`` or ``False``. ``bg_upsampler(img,
    scale)``: upscales the background instead of PIL bicubic. ``draw_box``: draw the boxes on ``final``.
    ``batch_size``: faces per model batch. ``max_output_pixels``: larger outputs are refused.
    ``weight``: restoration strength in [0, 1] (GFPGAN's ``-w``): each restored face is blended with the
    photo's own crop, ``w * restored + (1 - w) * crop`` (1: the model's face, 0: the upscaled photo's).
    ``small_model`` (with a restoration ``model``, whose input size equals its output size): an SR model
    (e.g. the x8 ``default``) that faces with a crop side below ``small_below`` px (default: 1.5 times
    its LR size) go through first, its output then through ``model`` (mode ``"chain"``).

    Holds no per-call state: one instance may serve several threads. Raises ``ValueError`` for invalid
    options, :class:`~facesr.errors.FacesrError` for a model that cannot be loaded.
    """

    def __init__(self, model=DEFAULT_MODEL, backend: str = "auto", detector: str = "hog", upscale: float = 2, *,
                 device: str = "cpu", only_center_face: bool = False, min_face_size: float = 0,
                 det_threshold: float = 0.0, det_upsample: int | None = None,
                 det_max_side: int | None = DEFAULT_DET_MAX_SIDE, crop=None, fusion: bool = True,
                 color_match=True, bg_upsampler: Callable | None = None, draw_box: bool = False,
                 batch_size: int = 16, max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS,
                 weight: float = 1.0, small_model=None, small_below: float | None = None):
        if not (isinstance(weight, (int, float)) and not isinstance(weight, bool) and 0.0 <= weight <= 1.0):
            raise ValueError(f"weight (restoration strength) must be a number in [0, 1], got {weight!r}")
        if not (isinstance(upscale, (int, float)) and math.isfinite(upscale) and upscale > 0):
            raise ValueError(f"upscale must be a positive number, got {upscale!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        if detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
        if color_match not in COLOR_MATCH:
            raise ValueError(f"color_match must be one of {COLOR_MATCH}, got {color_match!r}")
        self.net = load_model(model, device, backend)
        self.crop_spec = crop_spec_for(self.net, crop)
        self.device, self.detector, self.upscale = device, detector, upscale
        self.only_center_face, self.min_face_size = only_center_face, min_face_size
        self.det_threshold, self.det_upsample, self.det_max_side = det_threshold, det_upsample, det_max_side
        self.fusion, self.color_match, self.bg_upsampler = fusion, color_match, bg_upsampler
        self.draw_box, self.batch_size, self.max_output_pixels = draw_box, int(batch_size), max_output_pixels
        self.weight = float(weight)
        self.small_net, self.small_below = None, 0.0
        if small_model is not None:
            if int(self.net.lr_size) != int(self.net.hr_size):
                raise ValueError("small_model goes in front of a restoration model (input size = output size); "
                                 f"this model is x{int(self.net.hr_size) // int(self.net.lr_size)}")
            self.small_net = load_model(small_model, device, backend)
            if int(self.small_net.hr_size) <= int(self.small_net.lr_size):
                raise ValueError("small_model must be an SR model (output larger than its input)")
            self.small_below = float(small_below if small_below is not None else 1.5 * int(self.small_net.lr_size))

    @property
    def in_training_mode(self) -> bool:
        """Whether the model is in training mode (its results are then not the trained function's)."""
        return bool(getattr(self.net, "training", False))

    def preload(self) -> None:
        """Load the face detector now (the first photo otherwise does); raises
        :class:`~facesr.errors.FacesrError` when dlib or its model files are missing."""
        preload_detector(self.detector)

    # ---------------------------------------------------------------- the stages
    def plan(self, image, aligned: bool = False) -> FacePlan:
        """Detect, align and choose per face (the model is not run). ``aligned=True``: ``image`` is a face
        crop, resized to the model's HR size, to be super-resolved as a whole."""
        img = as_rgb_uint8(image)
        H, W = img.shape[:2]
        hr = int(self.net.hr_size)
        if aligned:
            crop = img if (H, W) == (hr, hr) else np.asarray(Image.fromarray(img).resize((hr, hr), Image.BICUBIC))
            return FacePlan(img, [np.array([0.0, 0.0, W, H])], [1.0], [None], [photo_to_output((H, W), (hr, hr))],
                            [crop], [], aligned=True, sides=[float(max(H, W))],
                            modes=chain_modes(["sr"], [float(max(H, W))], self.small_below))
        return self.plan_faces(img, self.find_faces(img))

    def find_faces(self, image) -> list[tuple[np.ndarray, float, np.ndarray]]:
        """``(box, score, 68 landmarks)`` of each face of ``image`` (uint8 RGB) the enhancer's detection
        options keep, left to right: what :meth:`plan` aligns (videos smooth these over time first)."""
        from ..faces.dlib_models import landmarks68

        img = np.asarray(image)
        H, W = img.shape[:2]
        dets = detect_faces(img, self.detector, self.det_upsample, self.det_threshold, self.det_max_side)
        dets = select_faces(dets, (H, W), self.min_face_size, self.only_center_face)
        return [(box, float(score), landmarks68(img, box)) for box, score in dets]

    def plan_faces(self, image, faces) -> FacePlan:
        """:meth:`plan` for faces already found: ``faces`` as from :meth:`find_faces`."""
        img = as_rgb_uint8(image)
        H, W = img.shape[:2]
        hr = int(self.net.hr_size)
        plan = FacePlan(img, [], [], [], [], [], [] if faces else [no_face_warning((H, W))])
        for box, score, lm in faces:
            try:
                M = crop_transform(lm, self.crop_spec, hr)
            except ValueError:
                plan.warnings.append(f"skipped a face at {[int(v) for v in box]}: degenerate landmarks")
                continue
            plan.boxes.append(box)
            plan.scores.append(float(score))
            plan.landmarks.append(lm)
            plan.affines.append(M)
            plan.crops.append(warp_affine(img, M, (hr, hr), border="reflect"))
        plan.sides = [float(crop_side(M, hr)) for M in plan.affines]
        plan.modes = face_modes(plan.sides, self.net, self.fusion)
        if self.small_net is not None:
            plan.modes = chain_modes(plan.modes, plan.sides, self.small_below)
        return plan

    def restore(self, plans: Sequence[FacePlan]) -> list[list[np.ndarray]]:
        """Model outputs of every plan's :meth:`FacePlan.model_crops`, batched across plans; one list per plan."""
        crops = [c for p in plans for c in p.model_crops()]
        modes = [m for p in plans for m in p.modes if m != "kept"]
        chained = [i for i, m in enumerate(modes) if m == "chain"]
        if chained:  # tiny faces: the x8 model first, its output (resized to this model's input) next
            hr = int(self.net.lr_size)
            pre = run_model([crops[i] for i in chained], self.small_net, self.device, self.batch_size)
            for i, o in zip(chained, pre):
                crops[i] = o if o.shape[0] == hr else np.asarray(Image.fromarray(o).resize((hr, hr), Image.BICUBIC))
        outputs = run_model(crops, self.net, self.device, self.batch_size)
        per_plan, k = [], 0
        for p in plans:
            n = len(p.model_crops())
            per_plan.append(outputs[k:k + n])
            k += n
        return per_plan

    def paste(self, plan: FacePlan, outputs: Sequence[np.ndarray]) -> EnhanceResult:
        """The result of ``plan`` given the model ``outputs`` of its :meth:`FacePlan.model_crops`: faces as
        pasted and the upscaled photo with them. Raises :class:`~facesr.errors.FacesrError` for an output
        over ``max_output_pixels``."""
        faces = restored_faces(plan.crops, plan.sides, plan.modes, outputs, self.net, self.color_match, self.weight)
        res = EnhanceResult(cropped_faces=list(plan.crops), restored_faces=faces, boxes=list(plan.boxes),
                            scores=list(plan.scores), landmarks=list(plan.landmarks), affines=list(plan.affines),
                            warnings=list(plan.warnings), crop_sides=list(plan.sides), modes=list(plan.modes))
        if plan.aligned:
            res.final = blend(outputs[0], plan.crops[0], self.weight)  # the model output at strength 1
            return res
        H, W = plan.image.shape[:2]
        output_size((H, W), self.upscale, self.max_output_pixels)
        bg = upscale_background(plan.image, self.upscale, self.bg_upsampler)
        idx = [i for i, m in enumerate(plan.modes) if m != "kept"]  # kept faces stay as the photo shows them
        final = paste_faces(bg, [faces[i] for i in idx], [plan.affines[i] for i in idx], (H, W),
                            crop_sizes=[plan.crops[i].shape[0] for i in idx])
        note = size_note(plan.sides, plan.modes, self.net)
        if note:
            res.warnings.append(note)
        res.final = draw_boxes(final, res.boxes, (H, W)) if self.draw_box and res.boxes else final
        return res

    # ---------------------------------------------------------------- one call
    def enhance(self, image, aligned: bool = False) -> EnhanceResult:
        """Every face of ``image`` (uint8 H x W x 3 RGB array, grey/RGBA converted, or a path) restored and
        pasted into the photo upscaled by ``upscale``. ``aligned=True``: ``image`` is a face crop; ``final``
        is the model output (blended with the crop by ``weight`` below 1) and ``upscale`` is ignored. A photo with no face gives ``final`` = the
        upscaled photo and a warning."""
        plan = self.plan(image, aligned)
        if self.in_training_mode:
            plan.warnings.insert(0, "the model is in training mode; call .eval() on it for correct results")
        return self.paste(plan, self.restore([plan])[0])


def enhance(image, model=DEFAULT_MODEL, upscale: float = 2, only_center_face: bool = False,
            min_face_size: float = 0, det_threshold: float = 0.0, det_upsample: int | None = None, cnn: bool = False,
            aligned: bool = False, color_match=True, draw_box: bool = False, device: str = "cpu",
            batch_size: int = 16, crop=None, bg_upsampler: Callable | None = None, fusion: bool = True,
            backend: str = "auto", det_max_side: int | None = DEFAULT_DET_MAX_SIDE,
            max_output_pixels: int | None = DEFAULT_MAX_OUTPUT_PIXELS, weight: float = 1.0) -> EnhanceResult:
    """One photo through a :class:`FaceEnhancer` built for this call (``cnn=True``: ``detector="cnn"``;
    the other options are the enhancer's). For several photos build one enhancer and reuse it: a model
    named by string is loaded on every call of this function."""
    if isinstance(model, FaceEnhancer):
        raise TypeError("pass a FaceEnhancer's photos to its own .enhance()")
    enhancer = FaceEnhancer(model, backend, "cnn" if cnn else "hog", upscale, device=device,
                            only_center_face=only_center_face, min_face_size=min_face_size,
                            det_threshold=det_threshold, det_upsample=det_upsample, det_max_side=det_max_side,
                            crop=crop, fusion=fusion, color_match=color_match, bg_upsampler=bg_upsampler,
                            draw_box=draw_box, batch_size=batch_size, max_output_pixels=max_output_pixels,
                            weight=weight)
    return enhancer.enhance(image, aligned)
