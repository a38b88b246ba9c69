"""Pixel losses (kind "image"): ``loss(sr, hr) -> scalar``, mean over every element.

``PIXEL_LOSSES[name](sr, hr)`` are the plain functions; the registered modules ``l1``, ``mse`` and
``charbonnier`` (option ``eps``) wrap them for :func:`facesr.losses.build_loss`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import register_loss
from .base import LossModule


def l1(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """mean |sr - hr|."""
    return F.l1_loss(sr, hr)


def mse(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """mean (sr - hr)^2."""
    return F.mse_loss(sr, hr)


def charbonnier(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """mean sqrt((sr - hr)^2 + eps^2): L1 with a smooth minimum of ``eps`` at zero error."""
    return torch.sqrt((sr - hr) ** 2 + eps * eps).mean()


PIXEL_LOSSES = {"l1": l1, "mse": mse, "charbonnier": charbonnier}


@register_loss("l1")
class L1Loss(LossModule):
    """mean |sr - hr|."""

    kind = "image"

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return l1(sr, hr)


@register_loss("mse")
class MSELoss(LossModule):
    """mean (sr - hr)^2."""

    kind = "image"

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return mse(sr, hr)


@register_loss("charbonnier")
class CharbonnierLoss(LossModule):
    """mean sqrt((sr - hr)^2 + eps^2); ``eps`` > 0 (default 1e-3)."""

    kind = "image"

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        eps = float(eps)
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.eps = eps
        self._set_options(eps=eps)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return charbonnier(sr, hr, self.eps)
