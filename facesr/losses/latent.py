"""Latent-variable helpers (style VAE)."""
from __future__ import annotations

import torch


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(mu, exp(logvar)) || N(0, I) ) summed over the latent dims, mean over the batch (dim 0):
    ``mean_n -0.5 * sum (1 + logvar - mu^2 - exp(logvar))``."""
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar differ in shape: {tuple(mu.shape)} vs {tuple(logvar.shape)}")
    kl = -0.5 * (1.0 + logvar.float() - mu.float().pow(2) - logvar.float().exp())
    return kl.flatten(1).sum(1).mean()
