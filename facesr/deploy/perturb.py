"""Random weights that make a network compute something: for equivalence checks and speed benchmarks.

A freshly built SPARNet (released-code init, conv weights N(0, 0.02)) maps every face to about 0.5
(tests/test_sparnet_inference.py asserts an output std < 1e-3): its activations shrink
layer by layer, so "the optimised / exported / compiled copy differs from eager by 6e-8" says little.
:func:`perturb_weights` gives every conv a gain-preserving scale, the norms random affines, and
BatchNorm running statistics from a few training-mode forwards, so that outputs spread over [0, 1]
(the same test asserts an output std > 0.1)
and rounding differences show.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["perturb_weights"]


def perturb_weights(model: nn.Module, seed: int = 0, gain: float = 0.6, forwards: int = 3) -> nn.Module:
    """Set ``model``'s weights in place and return it in eval mode: convs ~ N(0, gain^2 / fan_in), biases
    N(0, 0.1^2), norm scales 1 + N(0, 0.3^2) and shifts N(0, 0.2^2), PReLU slopes U(0, 0.4), and BatchNorm
    running statistics averaged over ``forwards`` training-mode forwards of random LR batches of 2 (none when
    the model has no BatchNorm)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                w = getattr(m, "weight_orig", m.weight)
                w.copy_(torch.randn(w.shape, generator=g) * gain / math.sqrt(w[0].numel()))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
                m.weight.copy_(1.0 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.4)
    # spectral norm divides each weight by sigma estimated from stored vectors u, v, which still belong to the
    # old weights: without re-converging them every output of SPARNetHD (and of a small spectral-norm test
    # SPARNet) was clipped to 0 or 1, and every equivalence check compared only saturated pixels
    from ..models.sparnet import converge_spectral_norm

    converge_spectral_norm(model)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:  # nothing to estimate (e.g. SPARNetHD: instance norm): skip the forwards
        return model.eval()
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = None  # cumulative average over the forwards below
    model.train()
    lr = int(getattr(model, "lr_size", 16))
    p = next(model.parameters(), None)
    kw = {} if p is None else {"device": p.device, "dtype": p.dtype}
    with torch.no_grad():
        for _ in range(forwards):
            model(torch.rand(2, 3, lr, lr, generator=g).to(**kw))
    for bn, mom in zip(bns, momenta):
        bn.momentum = mom
    return model.eval()
