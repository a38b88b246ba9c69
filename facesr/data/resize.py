"""Resampling that reproduces PIL's ``Image.resize`` exactly.

Every paper in this toolkit makes its low-resolution faces with PIL: SPARNet, DIC and KDFSRNet
with antialiased *bicubic* (``Image.BICUBIC``) and PFSR with a *bilinear* cascade. PyTorch's
``F.interpolate`` (even with ``antialias=True``) does not use the same support/normalisation,
so we rebuild PIL's separable weights here.

PIL's algorithm (``libImaging/Resample.c``), for one axis of ``in_size`` -> ``out_size``:

* ``scale = in_size / out_size``; ``filterscale = max(scale, 1)`` (widen the kernel when shrinking:
  this is the antialiasing);
* for output pixel ``i``: ``center = (i + 0.5) * scale``, ``support = kernel_support * filterscale``,
  taps ``x`` from ``max(int(center - support + 0.5), 0)`` to ``min(int(center + support + 0.5), in_size)``,
  weights ``k((x - center + 0.5) / filterscale)`` normalised to sum 1;
* the horizontal pass runs first, then the vertical one.

For 8-bit images PIL works in fixed point (22 fractional bits) and stores the intermediate
image as clipped, rounded uint8; :func:`resize_uint8` emulates that bit for bit. For float
images (PIL mode ``F``) the arithmetic is floating point; :func:`resize` (torch, differentiable,
any batch/device) and :func:`resize_np` match it to float rounding.
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["KERNELS", "weight_matrix", "resize", "resize_np", "resize_uint8", "pil_resize"]


def _bicubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    out = np.zeros_like(x)
    m1 = x < 1.0
    m2 = (x >= 1.0) & (x < 2.0)
    out[m1] = ((a + 2.0) * x[m1] - (a + 3.0)) * x[m1] * x[m1] + 1.0
    out[m2] = (((x[m2] - 5.0) * x[m2] + 8.0) * x[m2] - 4.0) * a
    return out


def _bilinear(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _box(x: np.ndarray) -> np.ndarray:
    return np.where((x > -0.5) & (x <= 0.5), 1.0, 0.0)


# name -> (kernel, support, PIL resample constant)
KERNELS = {
    "bicubic": (_bicubic, 2.0, 3),
    "bilinear": (_bilinear, 1.0, 2),
    "box": (_box, 0.5, 4),
}


@functools.lru_cache(maxsize=256)
def weight_matrix(in_size: int, out_size: int, kernel: str = "bicubic") -> np.ndarray:
    """Dense ``out_size x in_size`` float64 matrix of PIL's normalised resampling weights."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown resampling kernel {kernel!r}; choose one of {sorted(KERNELS)}")
    if in_size < 1 or out_size < 1:
        raise ValueError(f"sizes must be positive, got {in_size} -> {out_size}")
    fn, support, _ = KERNELS[kernel]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support * filterscale
    W = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        x = np.arange(xmin, xmax, dtype=np.float64)
        w = fn((x - center + 0.5) / filterscale)
        s = w.sum()
        if s != 0.0:
            w = w / s
        W[i, xmin:xmax] = w
    W.setflags(write=False)
    return W


def _size_hw(size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


@functools.lru_cache(maxsize=256)
def _torch_weights(in_size, out_size, kernel, dtype, device):
    import torch

    # a normal tensor even when first asked for under torch.inference_mode(): the cache outlives that call,
    # and an inference tensor would break every later resize that autograd records
    with torch.inference_mode(False):
        return torch.tensor(weight_matrix(in_size, out_size, kernel), dtype=dtype, device=device)


def resize(x, size, kernel: str = "bicubic"):
    """Resize a float tensor ``(..., H, W)`` to ``size`` (int or (h, w)) with PIL's kernel.

    Differentiable and batched; matches PIL mode ``F`` up to float rounding. No clamping.
    """
    import torch

    oh, ow = _size_hw(size)
    ih, iw = int(x.shape[-2]), int(x.shape[-1])  # constants when traced (the weights are built for fixed sizes)
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16) else torch.float32
    out = x.to(dtype)
    if ow != iw:
        Ww = _torch_weights(iw, ow, kernel, dtype, x.device)
        out = torch.matmul(out, Ww.t())
    if oh != ih:
        Wh = _torch_weights(ih, oh, kernel, dtype, x.device)
        out = torch.matmul(Wh, out)
    return out


def resize_np(img: np.ndarray, size, kernel: str = "bicubic") -> np.ndarray:
    """Float64 numpy version of :func:`resize` for ``H x W`` or ``H x W x C`` arrays."""
    oh, ow = _size_hw(size)
    a = np.asarray(img, dtype=np.float64)
    chan = a.ndim == 3
    if chan:
        a = np.moveaxis(a, -1, 0)
    ih, iw = a.shape[-2:]
    if ow != iw:
        a = a @ weight_matrix(iw, ow, kernel).T
    if oh != ih:
        a = weight_matrix(ih, oh, kernel) @ a
    return np.moveaxis(a, 0, -1) if chan else a


_PRECISION_BITS = 32 - 8 - 2


def _fixed_point(W: np.ndarray) -> np.ndarray:
    # PIL: (int) (0.5 + k * (1 << PRECISION_BITS)) for k >= 0, (int) (-0.5 + ...) for k < 0
    s = W * (1 << _PRECISION_BITS)
    return np.where(s < 0, np.ceil(s - 0.5), np.floor(s + 0.5)).astype(np.int64)


def _pass_uint8(a: np.ndarray, W: np.ndarray) -> np.ndarray:
    # a: (..., n) int64; returns uint8-like int64 after PIL's rounding and clipping
    acc = a @ _fixed_point(W).T + (1 << (_PRECISION_BITS - 1))
    return np.clip(acc >> _PRECISION_BITS, 0, 255)


def resize_uint8(img: np.ndarray, size, kernel: str = "bicubic") -> np.ndarray:
    """Bit-exact emulation of ``PIL.Image.resize`` on an 8-bit ``H x W`` or ``H x W x C`` array."""
    oh, ow = _size_hw(size)
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise TypeError(f"resize_uint8 needs a uint8 array, got {a.dtype}")
    chan = a.ndim == 3
    x = np.moveaxis(a, -1, 0).astype(np.int64) if chan else a.astype(np.int64)
    ih, iw = x.shape[-2:]
    if ow != iw:
        x = _pass_uint8(x, weight_matrix(iw, ow, kernel))
    if oh != ih:
        x = np.swapaxes(_pass_uint8(np.swapaxes(x, -1, -2), weight_matrix(ih, oh, kernel)), -1, -2)
    x = x.astype(np.uint8)
    return np.moveaxis(x, 0, -1) if chan else x


def pil_resize(img: np.ndarray, size, kernel: str = "bicubic") -> np.ndarray:
    """Resize a uint8 ``H x W x 3`` array with PIL itself (the reference every paper used)."""
    from PIL import Image

    oh, ow = _size_hw(size)
    return np.asarray(Image.fromarray(img).resize((ow, oh), resample=KERNELS[kernel][2]))

