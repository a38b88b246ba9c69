"""Enhance the faces in whole photos: detect, align, choose per face, restore, paste back.

>>> from facesr.enhance import FaceEnhancer
>>> enhancer = FaceEnhancer("sparnethd-lite", backend="auto", detector="hog", upscale=2)
>>> result = enhancer.enhance(photo)      # uint8 H x W x 3 -> EnhanceResult (final, restored_faces, boxes, ...)
>>> enhance_paths(["photos/"], "out/")    # files and folders -> OUT/{cropped_faces,restored_faces,cmp,final}/

Stages, one module each, run by :class:`FaceEnhancer`:

1. :mod:`.detect`: dlib HOG (or MMOD CNN) boxes, on a copy shrunk to ``det_max_side`` for large photos;
   filtered by score, box size and ``only_center_face``; numbered left to right.
2. :mod:`.align`: 68 landmarks per face, then the crop the model was trained on (its preset's ``crop``
   spec; ``CROP_SPECS["lfw"]`` without one), cut at the model's HR size.
3. :mod:`.choose`: per face, from its crop side in photo pixels, ``"sr"`` (model output), ``"fused"``
   (photo band + model detail) or ``"kept"`` (as the photo shows it).
4. :mod:`.restore`: the crops resized to the model's LR size (PIL bicubic) and run through the model in
   batches (in :func:`enhance_paths`, faces of several photos share batches); colour matching.
5. :mod:`.paste`: paste back into the photo upscaled by ``upscale`` with a feathered mask.

:mod:`.runner` writes folders (atomic files, ``final/`` last, ``skip_existing``, ``suffix``, ``ext``).
Inputs of every kind (grey, RGBA, 16-bit, CMYK, EXIF-rotated) are read as upright 8-bit RGB; a corrupt
file is one line on stderr and the run goes on; an output over ``max_output_pixels`` is refused. The
measurements behind the per-face policy: ``docs/enhance.md``.

This module imports no torch. ``facesr.enhance(photo, ...)`` (this module, called) is :func:`enhance`.
"""
from __future__ import annotations

import sys
import types

from .align import CROP_SPECS, crop_spec_for
from .choose import face_modes
from .detect import DEFAULT_DET_MAX_SIDE
from .enhancer import DEFAULT_MAX_OUTPUT_PIXELS, DEFAULT_MODEL, EnhanceResult, FaceEnhancer, FacePlan, enhance
from .runner import Summary, enhance_files, enhance_paths

__all__ = ["FaceEnhancer", "EnhanceResult", "FacePlan", "Summary", "enhance", "enhance_paths", "enhance_files",
           "face_modes", "crop_spec_for", "CROP_SPECS", "DEFAULT_DET_MAX_SIDE", "DEFAULT_MAX_OUTPUT_PIXELS",
           "DEFAULT_MODEL"]


class CallableModule(types.ModuleType):
    """``facesr.enhance`` is both this package and the function ``facesr.enhance()``: importing the
    package replaces the function attribute of ``facesr`` by the module, so the module calls :func:`enhance`."""

    def __call__(self, image, model=DEFAULT_MODEL, **kwargs) -> EnhanceResult:
        return enhance(image, model=model, **kwargs)


sys.modules[__name__].__class__ = CallableModule
