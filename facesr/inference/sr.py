"""Super-resolution of face crops: batched, any input size, uint8 in, uint8 (or float) out.

An input already at the model's LR size (e.g. 16x16) is used as it is; any other size is resized to
the LR size with PIL's antialiased bicubic (the way the models' training LR was made). Outputs are at
the model's HR size.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..data.resize import pil_resize


def resolve_model(model, device: str = "cpu"):
    """``model`` loaded on ``device`` (eval mode) when it is a registry name or a ``.safetensors`` path,
    else ``model`` itself; raises :class:`~facesr.errors.FacesrError` for an unknown name or bad file,
    or for a network that is not an SR / restoration model (a landmark network such as
    ``fan-distilled``, a discriminator, a degradation model: not a :class:`~facesr.models.common.SRModel`)."""
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        from ..errors import FacesrError
        from ..models.common import SRModel
        from ..registry import load

        net = load(model, device=device)
        if not isinstance(net, SRModel):
            name = model.decode() if isinstance(model, bytes) else str(model)
            raise FacesrError(f"{name} is a {type(net).__name__}, not a face SR or restoration model: it cannot "
                              "super-resolve or restore images (see `facesr models` for those that can)")
        return net
    return model


def to_lr(img: np.ndarray, lr_size: int) -> np.ndarray:
    """uint8 H x W x 3 ``img`` at ``lr_size`` x ``lr_size``: itself when already that size, else PIL's
    antialiased bicubic resize."""
    if img.shape[0] == lr_size and img.shape[1] == lr_size:
        return img
    return pil_resize(np.ascontiguousarray(img), lr_size, "bicubic")


def _prior_tensor(a, dev):
    """A batch of prior maps as a tensor: label maps (integers) as int64, float maps as float32."""
    import torch

    a = np.ascontiguousarray(np.asarray(a))
    t = torch.from_numpy(a)
    return (t.long() if a.dtype.kind in "ui" else t.float()).to(dev)


def super_resolve(images: Sequence[np.ndarray] | np.ndarray, model="default", device: str = "cpu",
                  batch_size: int = 16, as_float: bool = False, priors: dict | None = None) -> list[np.ndarray]:
    """Super-resolve uint8 H x W x 3 face crops (one array or a list); returns one crop per input at the
    model's HR size: uint8 (``round(clamp(y, 0, 1) * 255)``), or with ``as_float`` float32 in [0, 1]
    (clamped, not quantised: for metric protocols that quantise their own way). A model whose output holds
    NaN or Inf raises a one-line FacesrError instead of returning black or white faces.

    ``priors``: for a model with ``extra_inputs`` (a PKDN / KDFSRNet teacher: ``("parsing",)``), each key's
    per-face arrays in input order (``parsing``: N label maps, uint8 N x S x S); without them such a model
    raises a one-line FacesrError (it needs what only the HR face gives: it is for evaluation, not use)."""
    import torch

    from ..errors import FacesrError
    from ..models.common import check_finite_output

    net = resolve_model(model, device)
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    lrs = [to_lr(np.asarray(im), net.lr_size) for im in images]
    extra = tuple(getattr(net, "extra_inputs", ()))
    for k in extra:
        if priors is None or k not in priors:
            raise FacesrError(f"{type(net).__name__} is a teacher: it also needs the HR face's {k} map, which "
                              f"real inputs do not have; use its student, or `facesr eval`, which builds {k} "
                              f"maps from the HR test faces")
        if len(priors[k]) != len(lrs):
            raise FacesrError(f"{len(priors[k])} {k} maps for {len(lrs)} faces")
    out: list[np.ndarray] = []
    first = next(net.parameters(), None)  # None: a parameterless wrapper (e.g. the onnxruntime back-end)
    dev = first.device if first is not None else torch.device("cpu")
    with torch.inference_mode():
        for s in range(0, len(lrs), batch_size):
            chunk = np.stack(lrs[s:s + batch_size]).transpose(0, 3, 1, 2)
            x = torch.from_numpy(chunk.astype(np.float32) / 255.0).to(dev)
            args = [_prior_tensor(priors[k][s:s + batch_size], dev) for k in extra]
            y = check_finite_output(net(x, *args).float(), "the model").clamp(0, 1)  # NaN must not become black
            if as_float:
                y = y.permute(0, 2, 3, 1).cpu().numpy()
            else:
                y = y.mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
            out.extend(np.ascontiguousarray(im) for im in y)
    return out

