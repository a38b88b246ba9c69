"""HR -> LR synthesis, declared per model preset.

* ``bicubic``: PIL antialiased bicubic HR -> LR in one step (SPARNet, DIC, KDFSRNet, PKDN).
* ``bilinear_cascade``: PIL bilinear halving steps, 128 -> 64 -> 32 -> 16 (PFSR's data code). Test
  inputs of PFSR models must be made the same way.

All work on uint8 ``H x W x 3`` arrays with PIL itself, the reference every paper used.
"""
from __future__ import annotations

import numpy as np

from .resize import pil_resize

__all__ = ["Degradation", "make_degradation"]


class Degradation:
    kind = "base"

    def __init__(self, lr_size: int = 16):
        self.lr_size = lr_size

    def __call__(self, hr: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        raise NotImplementedError

    def spec(self) -> dict:
        return {"kind": self.kind, "lr_size": self.lr_size}


class Bicubic(Degradation):
    kind = "bicubic"

    def __call__(self, hr, rng=None):
        return pil_resize(hr, self.lr_size, "bicubic")


class BilinearCascade(Degradation):
    kind = "bilinear_cascade"

    def __call__(self, hr, rng=None):
        x = hr
        size = hr.shape[0]
        while size // 2 >= self.lr_size:
            size //= 2
            x = pil_resize(x, size, "bilinear")
        if size != self.lr_size:
            x = pil_resize(x, self.lr_size, "bilinear")
        return x


_KINDS = {c.kind: c for c in (Bicubic, BilinearCascade)}


def make_degradation(spec: dict | str, lr_size: int = 16) -> Degradation:
    if isinstance(spec, str):
        spec = {"kind": spec}
    spec = dict(spec)
    kind = spec.pop("kind")
    lr_size = spec.pop("lr_size", lr_size)
    if kind not in _KINDS:
        raise ValueError(f"unknown degradation {kind!r}; known: {', '.join(sorted(_KINDS))}")
    return _KINDS[kind](lr_size=lr_size, **spec)
