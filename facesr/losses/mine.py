"""Mutual-information lower bounds estimated with a statistics network (MINE, Belghazi et al. 2018),
registered as loss ``mine``: the styleVAE's MI term between real and generated LR faces. Its kind is
``"gan"``, the kind of the terms computed from a critic network's outputs that only the recipes which
run that network can call.

Given a statistics network's scores on samples of the joint distribution (``t_joint``: matched pairs)
and of the product of the marginals (``t_marginal``: mismatched pairs), ``loss(t_joint, t_marginal)``
returns ``(loss, estimate)``: ``loss`` (to minimise) is minus the estimator's objective, whose gradient
both the statistics network and the networks that made the samples follow to *raise* the mutual
information; ``estimate`` (detached) is the Donsker-Varadhan bound on the batch,
``mean(t_joint) - log mean exp(t_marginal)`` in nats (the paper's eq. 5), whatever the estimator.

Estimators (``estimator``):

* ``dv_ma`` (default): the Donsker-Varadhan bound with MINE's moving-average bias correction. The
  batch term ``log mean exp(T)`` has a biased gradient (its denominator is a batch mean); MINE replaces
  that denominator by a moving average ``m`` of ``mean exp(T)`` (``m <- (1 - ma_rate) m + ma_rate mean
  exp(T)``, kept in log space). The objective ``mean(t_joint) - (exp(lme - log m) - 1 + log m)`` (``lme``
  the batch's log-mean-exp) has exactly that corrected gradient and never exceeds the batch's DV bound.
  The average is updated only when called with ``update=True`` (the statistics network's step); it is
  recipe state (:meth:`MINELoss.state` / :meth:`MINELoss.load_state`), not a tensor of the module.
* ``dv``: the plain DV bound on the batch (biased gradient).
* ``nwj``: the f-divergence (Nguyen-Wainwright-Jordan) bound ``mean(t_joint) - mean(exp(t_marginal - 1))``:
  unbiased gradients, no state, more variance.
* ``jsd``: the Jensen-Shannon surrogate of Deep InfoMax, ``-softplus(-t_joint) - softplus(t_marginal)``:
  the most stable, not itself a bound in nats (``estimate`` is still the DV bound).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from . import register_loss
from .base import LossModule

ESTIMATORS = ("dv_ma", "dv", "nwj", "jsd")


def log_mean_exp(t: torch.Tensor) -> torch.Tensor:
    """``log(mean(exp(t)))`` over all elements, computed stably."""
    return torch.logsumexp(t.flatten(), 0) - math.log(t.numel())


def dv_bound(t_joint: torch.Tensor, t_marginal: torch.Tensor) -> torch.Tensor:
    """The Donsker-Varadhan lower bound ``mean(t_joint) - log mean exp(t_marginal)`` (nats)."""
    return t_joint.float().mean() - log_mean_exp(t_marginal.float())


@register_loss("mine")
class MINELoss(LossModule):
    """MINE's mutual-information term; see the module docstring. Options: ``estimator`` (``dv_ma`` |
    ``dv`` | ``nwj`` | ``jsd``) and ``ma_rate`` (the moving average's rate for ``dv_ma``, in (0, 1]).

    ``forward(t_joint, t_marginal, update=True) -> (loss, estimate)``: scores of any shape (one per
    pair); ``loss`` is minus the objective (minimise it to raise the MI), ``estimate`` the batch's DV
    bound in nats, detached.
    """

    kind = "gan"  # a term of a critic's (the statistics network's) outputs, called by its recipe

    def __init__(self, estimator: str = "dv_ma", ma_rate: float = 0.01):
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
        if isinstance(ma_rate, bool) or not isinstance(ma_rate, (int, float)) or not 0.0 < float(ma_rate) <= 1.0:
            raise ValueError(f"ma_rate must be a number in (0, 1], got {ma_rate!r}")
        self.estimator, self.ma_rate = estimator, float(ma_rate)
        self._set_options(estimator=estimator, ma_rate=float(ma_rate))
        self.log_ma: float | None = None  # log of the moving average of mean exp(t_marginal) (dv_ma)

    def state(self) -> dict[str, Any]:
        """What resuming needs (the moving average of ``dv_ma``)."""
        return {"log_ma": self.log_ma}

    def load_state(self, st: dict[str, Any]) -> None:
        v = st.get("log_ma")
        self.log_ma = None if v is None else float(v)

    def forward(self, t_joint: torch.Tensor, t_marginal: torch.Tensor, update: bool = True):
        tj, tm = t_joint.float(), t_marginal.float()
        estimate = dv_bound(tj, tm).detach()
        if self.estimator == "dv":
            objective = dv_bound(tj, tm)
        elif self.estimator == "nwj":
            objective = tj.mean() - torch.exp(tm - 1.0).mean()
        elif self.estimator == "jsd":
            objective = -F.softplus(-tj).mean() - F.softplus(tm).mean()
        else:  # dv_ma
            lme = log_mean_exp(tm)
            now = float(lme.detach())
            if update:
                if self.log_ma is None:
                    self.log_ma = now
                else:  # log((1 - r) m + r mean exp(t)), in log space
                    r = self.ma_rate
                    old = math.log1p(-r) + self.log_ma if r < 1.0 else -math.inf
                    new = math.log(r) + now
                    hi = max(old, new)
                    self.log_ma = hi + math.log(math.exp(old - hi) + math.exp(new - hi))
            ref = self.log_ma if self.log_ma is not None else now
            objective = tj.mean() - (torch.exp(lme - ref) - 1.0 + ref)
        return -objective, estimate
