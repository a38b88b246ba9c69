"""Adversarial losses: GAN objectives, WGAN-GP gradient penalty, discriminator feature matching.

Discriminator outputs ("out") come in one of two shapes:

* a tensor of logits (any shape, e.g. N x 1 or an N x 1 x H x W patch map), or
* a list over discriminator scales (pix2pixHD / SPARNetHD multi-scale style) whose elements are
  each a logit tensor or a list of that scale's features whose **last** element is the logit map.

(A single-scale discriminator that returns features is written ``[[f1, f2, ..., logits]]``.)
Every loss here is computed per scale and **averaged over scales**, so SPARNetHD's "/num_D" is
already included.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from . import register_loss
from .base import LossModule

GAN_KINDS = ("hinge", "wgan", "nonsaturating", "lsgan")

Out = Any  # torch.Tensor | Sequence[torch.Tensor | Sequence[torch.Tensor]]


def _scales(out: Out) -> list[tuple[list[torch.Tensor], torch.Tensor]]:
    """``[(features, logits)]`` per discriminator scale."""
    if isinstance(out, torch.Tensor):
        return [([], out)]
    if not isinstance(out, (list, tuple)) or len(out) == 0:
        raise TypeError(f"discriminator output must be a tensor or a non-empty list, got {type(out).__name__}")
    res = []
    for s in out:
        if isinstance(s, torch.Tensor):
            res.append(([], s))
        elif isinstance(s, (list, tuple)) and len(s) > 0:
            res.append((list(s[:-1]), s[-1]))
        else:
            raise TypeError("each discriminator scale must be a tensor or a non-empty list of tensors")
    return res


def _logits(out: Out) -> list[torch.Tensor]:
    return [s[1].float() for s in _scales(out)]


def _pair(real_out: Out, fake_out: Out):
    r, f = _scales(real_out), _scales(fake_out)
    if len(r) != len(f):
        raise ValueError(f"real and fake outputs have {len(r)} and {len(f)} discriminator scales")
    return r, f


@register_loss("gan")
class GANLoss(LossModule):
    """GAN objective ``kind`` for the discriminator (:meth:`d_loss`) and the generator (:meth:`g_loss`).

    Per scale, with r = D(real) and f = D(fake) logits (means over all elements):

    ==============  ==========================================  ======================
    kind            d_loss                                      g_loss
    ==============  ==========================================  ======================
    hinge           0.5 * (mean relu(1 - r) + mean relu(1 + f))  -mean f
    wgan            mean f - mean r                              -mean f
    nonsaturating   mean softplus(-r) + mean softplus(f)         mean softplus(-f)
    lsgan           0.5 * (mean (r - 1)^2 + mean f^2)            mean (f - 1)^2
    ==============  ==========================================  ======================

    ``drift`` >= 0 adds ``drift * mean r^2`` to d_loss (PFSR/ProGAN's WGAN drift term: 0.001; any
    kind accepts it).  Both losses are averaged over discriminator scales and computed in float32.
    ``forward(fake_out)`` is :meth:`g_loss` (the term the registered weight multiplies); WGAN's
    gradient penalty is the separate :func:`gradient_penalty`.
    """

    kind = "gan"

    def __init__(self, kind: str = "hinge", drift: float = 0.0):
        super().__init__()
        if kind not in GAN_KINDS:
            raise ValueError(f"GAN kind must be one of {', '.join(GAN_KINDS)}, got {kind!r}")
        drift = float(drift)
        if drift < 0:
            raise ValueError(f"drift must be >= 0, got {drift}")
        # the instance keeps the objective as ``gan_kind``: ``kind`` is the class's call category
        self.gan_kind = kind
        self.drift = drift
        self._set_options(kind=kind, drift=drift)

    def d_loss(self, real_out: Out, fake_out: Out) -> torch.Tensor:
        """Discriminator loss of D(real) and D(fake) logits, averaged over scales."""
        r_s, f_s = _pair(real_out, fake_out)
        total = 0.0
        for (_, r), (_, f) in zip(r_s, f_s):
            r, f = r.float(), f.float()
            k = self.gan_kind
            if k == "hinge":
                loss = 0.5 * (F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean())
            elif k == "wgan":
                loss = f.mean() - r.mean()
            elif k == "nonsaturating":
                loss = F.softplus(-r).mean() + F.softplus(f).mean()
            else:  # lsgan
                loss = 0.5 * ((r - 1.0).pow(2).mean() + f.pow(2).mean())
            if self.drift:
                loss = loss + self.drift * r.pow(2).mean()
            total = total + loss
        return total / len(r_s)

    def g_loss(self, fake_out: Out) -> torch.Tensor:
        """Generator loss of D(fake) logits, averaged over scales."""
        fs = _logits(fake_out)
        total = 0.0
        for f in fs:
            k = self.gan_kind
            if k in ("hinge", "wgan"):
                loss = -f.mean()
            elif k == "nonsaturating":
                loss = F.softplus(-f).mean()
            else:  # lsgan
                loss = (f - 1.0).pow(2).mean()
            total = total + loss
        return total / len(fs)

    def forward(self, fake_out: Out) -> torch.Tensor:
        return self.g_loss(fake_out)



def gradient_penalty(d_fn: Callable[[torch.Tensor], Out], real: torch.Tensor, fake: torch.Tensor,
                     weight: float = 10.0, one_sided: bool = False) -> torch.Tensor:
    """WGAN-GP penalty ``weight * mean_i (||grad_x D(x_i)||_2 - 1)^2`` on random interpolates.

    ``x_i = a_i * real_i + (1 - a_i) * fake_i`` with ``a_i ~ U(0, 1)`` per sample (both inputs are
    detached).  ``d_fn(x)`` returns logits or a multi-scale output (see the module docstring); for a
    patch map the gradient of the sum of a sample's logits is used, and the penalty is averaged over
    scales.  ``one_sided=True`` penalises only norms above 1: ``relu(||g|| - 1)^2``.  The graph is
    kept (``create_graph=True``) so the penalty can be back-propagated into D.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    a = torch.rand(shape, device=real.device, dtype=real.dtype)
    x = (a * real.detach() + (1.0 - a) * fake.detach()).requires_grad_(True)
    logits = _logits(d_fn(x))
    total = 0.0
    for i, lg in enumerate(logits):
        (g,) = torch.autograd.grad(lg.sum(), x, create_graph=True, retain_graph=True)
        dev = g.float().flatten(1).norm(2, dim=1) - 1.0
        if one_sided:
            dev = F.relu(dev)
        total = total + dev.pow(2).mean()
    return weight * total / len(logits)


@register_loss("gradient_penalty")
class GradientPenaltyLoss(LossModule):
    """:func:`gradient_penalty` with weight 1: ``loss(d_fn, real, fake)`` (the config weight is the
    penalty weight, 10 in WGAN-GP and PFSR)."""

    kind = "gan"

    def __init__(self, one_sided: bool = False):
        super().__init__()
        if not isinstance(one_sided, bool):
            raise ValueError(f"one_sided must be true or false, got {one_sided!r}")
        self.one_sided = one_sided
        self._set_options(one_sided=one_sided)

    def forward(self, d_fn: Callable[[torch.Tensor], Out], real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return gradient_penalty(d_fn, real, fake, weight=1.0, one_sided=self.one_sided)


def feature_matching(real_out: Out, fake_out: Out) -> torch.Tensor:
    """Discriminator feature matching (pix2pixHD): per scale, the sum over intermediate features
    (all but the last element) of ``mean |fake_f - real_f.detach()|``; averaged over scales.

    Both outputs must be multi-scale lists with features (``[[f1, ..., logits], ...]``) of equal
    structure; raises ``ValueError`` if they differ or no scale has intermediate features.
    """
    r_s, f_s = _pair(real_out, fake_out)
    if not any(len(f) for f, _ in r_s):
        raise ValueError("feature matching needs discriminator outputs with intermediate features")
    total = 0.0
    for (rf, _), (ff, _) in zip(r_s, f_s):
        if len(rf) != len(ff):
            raise ValueError(f"real and fake scales have {len(rf)} and {len(ff)} features")
        for r, f in zip(rf, ff):
            total = total + F.l1_loss(f.float(), r.detach().float())
    return total / len(r_s)


@register_loss("feature_matching")
class FeatureMatchingLoss(LossModule):
    """:func:`feature_matching`: ``loss(real_out, fake_out)`` (SPARNetHD weight 10)."""

    kind = "gan"

    def forward(self, real_out: Out, fake_out: Out) -> torch.Tensor:
        return feature_matching(real_out, fake_out)
