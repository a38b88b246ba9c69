"""Stateless schedules: learning rate by step, loss weights by epoch. Being functions of the step
(or epoch) alone, they need no state in checkpoints, so resume stays exact."""
from __future__ import annotations

import math

from ..errors import ConfigError


def lr_at(step: int, base_lr: float, sched: dict, total: int) -> float:
    """Learning rate at ``step`` (0-based): warm-up, then constant, cosine to ``min_lr`` or step decay."""
    warm = int(sched.get("warmup", 0))
    if warm and step < warm:
        return base_lr * (step + 1) / warm
    name = sched.get("name", "constant")
    if name == "constant":
        return base_lr
    if name == "cosine":
        lo = float(sched.get("min_lr", 0.0))
        t = (step - warm) / max(1, total - warm)
        return lo + 0.5 * (base_lr - lo) * (1.0 + math.cos(math.pi * min(1.0, t)))
    if name == "step":
        k = sum(step >= m for m in sched.get("milestones", []))
        return base_lr * float(sched.get("gamma", 0.5)) ** k
    raise ConfigError(f"unknown scheduler {name!r} (constant, cosine, step)")


def check_weight_schedule(spec, where: str) -> None:
    """A loss-weight schedule is a number, or a list of [epoch, value] points with non-decreasing epochs."""
    if isinstance(spec, bool):
        raise ConfigError(f"{where} must be a number or a list of [epoch, value] points, got {spec!r}")
    if isinstance(spec, (int, float)):
        return
    ok = isinstance(spec, list) and spec and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                            for v in p) for p in spec)
    if not ok:
        raise ConfigError(f"{where} must be a number or a list of [epoch, value] points, got {spec!r}")
    xs = [float(p[0]) for p in spec]
    if any(b < a for a, b in zip(xs, xs[1:])):
        raise ConfigError(f"{where}: the epochs of its points must not decrease, got {xs}")


def weight_at(spec, epoch: float) -> float:
    """Value of a loss-weight schedule at a (fractional) epoch.

    A number is constant. Points ``[[e0, v0], [e1, v1], ...]`` are linear between neighbours, held at
    ``v0`` before ``e0`` and at the last value after the last point; two points at the same epoch make
    a jump there (the later one holds from that epoch on). KDFSRNet's feature weight
    ``10 * (10 - epoch) / 10`` for the first 10 epochs, 0 after, is ``[[0, 10], [10, 0]]``.
    """
    if isinstance(spec, (int, float)):
        return float(spec)
    pts = [(float(e), float(v)) for e, v in spec]
    if epoch < pts[0][0]:
        return pts[0][1]
    for (e0, v0), (e1, v1) in zip(pts, pts[1:]):
        if e0 <= epoch < e1:
            return v0 + (v1 - v0) * (epoch - e0) / (e1 - e0)
    return pts[-1][1]
