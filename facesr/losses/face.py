"""Face-prior losses of PFSR: heatmap loss (kind "heatmap") and facial attention loss (kind "attention").

Heatmaps are N x K x h x w landmark heatmaps (PFSR: the 68 maps of its distilled FAN) of any value
range; the HR side is a target (no gradient flows into it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import register_loss
from .base import LossModule

EPS = 1e-8


def minmax_per_sample(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``(x - min) / max(max - min, eps)`` with min/max per sample over all other dims (float32)."""
    x = x.float()
    flat = x.flatten(1)
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    lo = flat.amin(1).view(shape)
    hi = flat.amax(1).view(shape)
    return (x - lo) / (hi - lo).clamp_min(eps)


def attention_map(hr_heatmaps: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
    """PFSR's facial attention map: channel-wise max of the heatmaps (N x 1 x h x w), bilinearly
    resized to ``size`` (H, W) if given and different, then min-max normalised per sample to [0, 1]."""
    m = hr_heatmaps.detach().float().amax(1, keepdim=True)
    if size is not None and tuple(m.shape[-2:]) != tuple(size):
        m = F.interpolate(m, size=tuple(size), mode="bilinear", align_corners=False)
    return minmax_per_sample(m)


@register_loss("heatmap")
class HeatmapLoss(LossModule):
    """``loss(sr_heatmaps, hr_heatmaps) = mean (n(sr_heatmaps) - n(hr_heatmaps))^2`` where ``n`` is
    :func:`minmax_per_sample` (each sample normalised over (K, h, w) by its own min and max)."""

    kind = "heatmap"

    def forward(self, sr_heatmaps: torch.Tensor, hr_heatmaps: torch.Tensor) -> torch.Tensor:
        if sr_heatmaps.shape != hr_heatmaps.shape:
            raise ValueError(f"heatmaps differ in shape: {tuple(sr_heatmaps.shape)} vs {tuple(hr_heatmaps.shape)}")
        return F.mse_loss(minmax_per_sample(sr_heatmaps), minmax_per_sample(hr_heatmaps.detach()))


@register_loss("attention")
class AttentionLoss(LossModule):
    """PFSR's facial attention loss: ``loss(sr, hr, hr_heatmaps) = mean(M * |sr - hr|)`` over
    N x C x H x W, with ``M`` = :func:`attention_map` of the HR heatmaps at the image size (N x 1 x H x W,
    in [0, 1], no gradient)."""

    kind = "attention"

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, hr_heatmaps: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"sr and hr must have the same shape, got {tuple(sr.shape)} and {tuple(hr.shape)}")
        if hr_heatmaps.ndim != 4 or hr_heatmaps.shape[0] != sr.shape[0]:
            raise ValueError(f"hr_heatmaps must be N x K x h x w with N={sr.shape[0]}, got {tuple(hr_heatmaps.shape)}")
        m = attention_map(hr_heatmaps, tuple(sr.shape[-2:]))
        return (m * (sr.float() - hr.float()).abs()).mean()
