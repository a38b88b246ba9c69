"""Stage 4 of enhance: run the model on the faces that need it and turn its outputs into the faces to
paste (per :mod:`facesr.enhance.choose` mode)."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .paste import fuse_detail, match_color

__all__ = ["COLOR_MATCH", "load_model", "run_model", "restored_faces", "color_sigma", "blend"]

COLOR_MATCH = (True, False, "lowfreq", "meanstd", "none")


def load_model(model, device: str = "cpu", backend: str = "auto"):
    """The module to run. A registry name or ``.safetensors`` file is loaded on ``device`` and put behind
    ``backend`` (:func:`facesr.deploy.inference_model`); a module (it needs ``lr_size`` / ``hr_size``) is
    used as it is for ``backend="auto"``, else put behind ``backend``. Raises
    :class:`~facesr.errors.FacesrError` for an unknown name or back-end, ``TypeError`` for anything else."""
    from ..deploy import inference_model

    if isinstance(model, (str, bytes, os.PathLike)):
        from ..inference.sr import resolve_model

        name = model.decode() if isinstance(model, bytes) else os.fspath(model)
        return inference_model(resolve_model(name, device), backend)
    if not hasattr(model, "lr_size") or not hasattr(model, "hr_size"):
        raise TypeError("model must be a registry name, a model file or a facesr SR module (with lr_size/hr_size)")
    return model if backend == "auto" else inference_model(model, backend)


def run_model(crops: Sequence[np.ndarray], net, device: str = "cpu", batch_size: int = 16) -> list[np.ndarray]:
    """Model outputs (uint8, HR size) of uint8 face ``crops``, in batches of ``batch_size``."""
    if not crops:
        return []
    from ..inference.sr import super_resolve

    return super_resolve(list(crops), net, device=device, batch_size=max(1, int(batch_size)))


def color_sigma(net) -> float:
    """The Gaussian sigma (HR pixels) of the low band :func:`~facesr.enhance.paste.match_color` takes from
    the photo's crop: the model's scale (8 px for 16 -> 128: below the LR image's Nyquist frequency), and
    for a restoration model (input size = output size) ``hr_size / 16`` (8 px at 128), where the crop's
    noise and JPEG blocks have averaged out, so matching fixes a colour cast without bringing them back."""
    lr, hr = float(net.lr_size), float(net.hr_size)
    return hr / lr if hr > lr else hr / 16.0


def blend(restored: np.ndarray, crop: np.ndarray, weight: float) -> np.ndarray:
    """``weight * restored + (1 - weight) * crop`` in uint8 (the restoration strength: 0 leaves the
    photo's face, 1 is the model's)."""
    if weight >= 1.0:
        return restored
    if weight <= 0.0:
        return crop.copy()
    mix = weight * restored.astype(np.float32) + (1.0 - weight) * crop.astype(np.float32)
    return np.clip(np.rint(mix), 0, 255).astype(np.uint8)


def restored_faces(crops: Sequence[np.ndarray], sides: Sequence[float], modes: Sequence[str],
                   outputs: Sequence[np.ndarray], net, color_match=True, weight: float = 1.0) -> list[np.ndarray]:
    """The face to paste for each crop: the crop itself (``kept``), the model output fused with the crop
    (``fused``: the low band comes from the photo, no colour matching needed) or the model output,
    colour-matched by ``color_match`` (``True``/``"lowfreq"``, ``"meanstd"``, ``False``/``"none"``; ``sr`` and
    ``chain``;
    the band is :func:`color_sigma`). ``weight`` (restoration strength, in [0, 1]) then blends each non-kept
    face with its crop (:func:`blend`). ``outputs``: the model outputs of the non-kept crops, in order."""
    method = "lowfreq" if color_match is True else (color_match or "none")
    sigma = color_sigma(net)
    it = iter(outputs)
    faces = []
    for crop, side, mode in zip(crops, sides, modes):
        if mode == "kept":
            faces.append(crop.copy())
            continue
        if mode == "fused":
            f = fuse_detail(next(it), crop, side)
        else:
            f = next(it)
            f = match_color(f, crop, method, sigma) if method != "none" else f
        faces.append(blend(f, crop, weight))
    return faces
