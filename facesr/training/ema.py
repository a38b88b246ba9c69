"""Exponential moving average of a model's parameters *and* floating-point buffers.

SPARNet uses BatchNorm, whose running statistics are buffers: averaging only the parameters would
pair averaged weights with the raw model's statistics. Integer buffers (``num_batches_tracked``) are
copied.
"""
from __future__ import annotations

import copy

import torch
from torch import nn


class ModelEMA:
    def __init__(self, model: nn.Module, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    def decay_at(self, step: int | None) -> float:
        """Warm-up of the decay, (1 + step) / (10 + step) capped at ``decay``, so early weights fade fast."""
        if step is None:
            return self.decay
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int | None = None) -> None:
        d = self.decay_at(step)
        src = model.state_dict()
        for k, v in self.module.state_dict().items():
            s = src[k].detach()
            if v.dtype.is_floating_point:
                v.mul_(d).add_(s, alpha=1.0 - d)
            else:
                v.copy_(s)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, sd):
        self.module.load_state_dict(sd)
