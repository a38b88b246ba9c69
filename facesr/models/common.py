"""Building blocks shared by several architectures, and the SR-model base class."""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..data.resize import resize
from ..errors import FacesrError

__all__ = ["SRModel", "norm_layer", "act_layer", "ConvLayer", "check_finite_output"]


def check_finite_output(tensor, what: str = "the model"):
    """Return ``tensor`` unchanged if every value is finite; else raise :class:`~facesr.errors.FacesrError`
    with one line: ``"{what} produced N NaN/Inf value(s) of M ..."``.

    ``tensor``: a model's raw output (a torch tensor, or a NumPy array / array-like, e.g. from an ONNX or
    ncnn back-end), checked *before* any clamp (a clamp keeps NaN but turns +-Inf into plausible white /
    black pixels). ``what`` names the model (and input) in the message.
    Integer / bool tensors are always finite.
    """
    if isinstance(tensor, torch.Tensor):
        if not (tensor.is_floating_point() or tensor.is_complex()):
            return tensor
        n_bad, total = int((~torch.isfinite(tensor)).sum()), tensor.numel()
    else:
        import numpy as np

        a = np.asarray(tensor)
        if a.dtype.kind not in "fc":
            return tensor
        n_bad, total = int((~np.isfinite(a)).sum()), a.size
    if n_bad:
        raise FacesrError(f"{what} produced {n_bad} NaN/Inf value(s) of {total} (its weights are corrupt or "
                          "its training diverged)")
    return tensor


def norm_layer(kind: str, channels: int) -> nn.Module:
    """'bn' BatchNorm, 'in' InstanceNorm (affine), 'none'."""
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "in":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (bn, in, none)")


def act_layer(kind: str, channels: int) -> nn.Module:
    """'leakyrelu' (slope 0.2), 'prelu' (one slope per channel), 'relu', 'none'."""
    if kind == "leakyrelu":
        return nn.LeakyReLU(0.2, inplace=False)
    if kind == "prelu":
        return nn.PReLU(channels)
    if kind == "relu":
        return nn.ReLU()
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown activation {kind!r} (leakyrelu, prelu, relu, none)")


class ConvLayer(nn.Module):
    """[nearest x2 if up] -> reflection pad -> 3x3 conv (stride 2 if down) -> norm -> act.

    The convolution has a bias only when there is no normalisation after it.
    """

    def __init__(self, cin: int, cout: int, scale: str = "none", norm: str = "none", act: str = "none",
                 kernel_size: int = 3, spectral: bool = False):
        super().__init__()
        if scale not in ("none", "up", "down"):
            raise ValueError(f"scale must be none/up/down, got {scale!r}")
        self.up = scale == "up"
        self.pad = nn.ReflectionPad2d((kernel_size - 1) // 2 + (kernel_size - 1) % 2)
        conv = nn.Conv2d(cin, cout, kernel_size, stride=2 if scale == "down" else 1, bias=norm == "none")
        self.conv = nn.utils.spectral_norm(conv) if spectral else conv
        self.norm = norm_layer(norm, cout)
        self.act = act_layer(act, cout)

    def forward(self, x):
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.act(self.norm(self.conv(self.pad(x))))


def require_lr_only(model, what: str) -> None:
    """Raise a one-line FacesrError when ``model`` needs more than the LR face (``extra_inputs``: a teacher
    that also takes the HR face's parsing map), naming ``what`` refuses it (e.g. "the back-ends")."""
    extra = tuple(getattr(model, "extra_inputs", ()))
    if extra:
        raise FacesrError(f"{type(model).__name__} is a teacher (it also needs the HR face's {', '.join(extra)} "
                          f"map): {what} serve only models that need just the LR face; use its student")


class SRModel(nn.Module):
    """Base class of every face SR network in the toolkit.

    Public contract: ``forward(lr)`` takes the LR face in [0, 1] at ``lr_size`` (N x 3 x 16 x 16 for x8)
    and returns the SR face at ``hr_size``. In eval mode the output is clamped to [0, 1]; in training
    mode it is left unclamped so losses see the raw prediction. Each model's own conventions
    (pre-upsampling, value range) live inside ``forward``.
    """

    lr_size: int = 16
    hr_size: int = 128
    #: what ``forward`` takes after the LR face, by sample key: () for LR-only models; ("parsing",) for a
    #: teacher called ``net(lr, parsing)`` with the HR face's parsing map (PKDN, KDFSRNet teachers).
    #: :func:`facesr.inference.sr.super_resolve` and ``facesr eval`` hand them over in this order.
    extra_inputs: tuple = ()

    @property
    def scale(self) -> int:
        return self.hr_size // self.lr_size

    def check_input(self, lr: torch.Tensor) -> None:
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"{type(self).__name__} expects N x 3 x H x W, got {tuple(lr.shape)}")
        if lr.shape[-2:] != (self.lr_size, self.lr_size):
            n = self.lr_size
            raise ValueError(f"{type(self).__name__} expects LR faces of {n}x{n} (N x 3 x {n} x {n}), "
                             f"got {lr.shape[-2]}x{lr.shape[-1]} (resize them first: facesr.data.resize)")

    def upsample_input(self, lr: torch.Tensor) -> torch.Tensor:
        """PIL-bicubic upsampling to ``hr_size`` (the input convention of SPARNet and KDFSRNet)."""
        return resize(lr, self.hr_size, "bicubic")

    def finish(self, out: torch.Tensor) -> torch.Tensor:
        return out if self.training else out.clamp(0.0, 1.0)


def bn_affine(bn: nn.Module):
    """``(scale, shift)`` in float64 that an eval-mode ``BatchNorm2d`` applies per channel
    (``y = x * scale + shift``), or None when it has no running statistics (it cannot be folded)."""
    if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None or bn.running_var is None:
        return None
    scale = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.detach().double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift

