"""Pixel losses shared by every recipe (perceptual, adversarial and prior losses come with their models).

``LOSSES[name](sr, hr)`` -> scalar. A recipe's config weighs them: ``train.losses: {l1: 1.0}``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def l1(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(sr, hr)


def mse(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(sr, hr)


def charbonnier(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((sr - hr) ** 2 + eps * eps).mean()


PIXEL_LOSSES = {"l1": l1, "mse": mse, "charbonnier": charbonnier}
