"""Distillation losses (kind "feature"): a student matched to a frozen teacher (KDFSRNet / PKDN).

The teacher side never receives gradient (it is detached here).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from . import register_loss
from .base import LossModule


class _FeatureLoss(LossModule):
    """``loss(student_feats, teacher_feats)``: the mean over pairs of ``criterion(s_i, t_i)`` for two
    equally long sequences of equally shaped tensors (KDFSRNet: the 9 stage features)."""

    kind = "feature"
    criterion = staticmethod(F.l1_loss)

    def forward(self, student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]) -> torch.Tensor:
        name = self.name
        if isinstance(student, torch.Tensor) or isinstance(teacher, torch.Tensor):
            raise TypeError(f"{name} takes sequences of feature tensors (use output_l1 for one tensor)")
        if len(student) != len(teacher) or len(student) == 0:
            raise ValueError(f"{name} needs equally many features, got {len(student)} and {len(teacher)}")
        total = 0.0
        for s, t in zip(student, teacher):
            if s.shape != t.shape:
                raise ValueError(f"student/teacher feature shapes differ: {tuple(s.shape)} vs {tuple(t.shape)}")
            total = total + self.criterion(s.float(), t.detach().float())
        return total / len(student)


@register_loss("feature_l1")
class FeatureL1Loss(_FeatureLoss):
    """Mean over feature pairs of ``mean |s_i - t_i|`` (teacher detached)."""

    criterion = staticmethod(F.l1_loss)


@register_loss("feature_mse")
class FeatureMSELoss(_FeatureLoss):
    """Mean over feature pairs of ``mean (s_i - t_i)^2`` (teacher detached)."""

    criterion = staticmethod(F.mse_loss)


@register_loss("output_l1")
class OutputL1Loss(LossModule):
    """``loss(student_out, teacher_out) = mean |student_out - teacher_out|`` (teacher detached)."""

    kind = "feature"

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        if student.shape != teacher.shape:
            raise ValueError(f"student/teacher outputs differ in shape: {tuple(student.shape)} vs {tuple(teacher.shape)}")
        return F.l1_loss(student.float(), teacher.detach().float())
