"""PFSR networks (Kim et al., BMVC 2019): the progressive generator, its discriminator and the distilled
FAN landmark-heatmap network.

Layer lists and parameter counts follow ``IMPLEMENTATION_NOTES.md`` §1 (read from the authors' released
code); the implementation here is our own.

* :class:`PFSRGenerator` (8,969,097 parameters at the default width): 16x16 LR -> 32 / 64 / 128 px in
  three steps; ``forward(lr, stage, alpha)``.
* :class:`PFSRDiscriminator` (8,065,537): the mirror image, with a minibatch-stddev channel and a
  two-layer linear head; ``forward(img, stage, alpha)`` -> N x 1 logits.
* :class:`DistilledFAN` (321,412): five stride-1 convolutions, 68 heatmaps at the input resolution.
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from ..common import SRModel

__all__ = ["EqualConv2d", "PFSRResBlock", "PFSRGenerator", "PFSRDiscriminator", "DistilledFAN", "N_STAGES"]

N_STAGES = 3


def _check_stage(stage, alpha) -> tuple[int, float]:
    stage = N_STAGES - 1 if stage is None else stage
    if isinstance(stage, bool) or not isinstance(stage, int) or not 0 <= stage < N_STAGES:
        raise ValueError(f"stage must be 0, 1 or 2 (0-based: 32, 64, 128 px at x8), got {stage!r}")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return stage, alpha


class EqualConv2d(nn.Module):
    """Convolution with an equalised learning rate: the stored ``weight`` is N(0, 1) at init and is
    multiplied by ``sqrt(2 / fan_in)`` (fan_in = cin x k x k) on every forward; ``bias`` starts at 0.
    Stride 1, zero padding ``padding``."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = math.sqrt(2.0 / (cin * kernel_size * kernel_size))
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, padding={self.padding}, scale={self.scale:.5f}"


class PFSRResBlock(nn.Module):
    """``x + [EqualConv3x3, BN, ReLU, EqualConv3x3, BN, ReLU](x)`` (ReLU after the second BN, before
    the sum, as in the released code)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(EqualConv2d(c, c), nn.BatchNorm2d(c), nn.ReLU(),
                                  EqualConv2d(c, c), nn.BatchNorm2d(c), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _up_block(c: int) -> list[nn.Module]:
    """ConvTranspose 4x4 stride 2 pad 1 (c -> c/2, plain) + BN + ReLU: doubles the size."""
    return [nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1), nn.BatchNorm2d(c // 2), nn.ReLU()]


class PFSRGenerator(SRModel):
    """PFSR generator, x8 in three x2 steps.

    ``forward(lr, stage=2, alpha=1.0)``: ``lr`` N x 3 x 16 x 16 in [0, 1] (mapped to [-1, 1] inside);
    returns stage ``stage``'s image (0-based: 32, 64 or 128 px at the default sizes) in [0, 1]
    (the network's [-1, 1] output mapped back linearly; no tanh; clamped only in eval mode). For
    ``stage`` > 0 and ``alpha`` < 1 the output fades in:
    ``(1 - alpha) * nearest_up2(to_rgb[stage-1](h_prev)) + alpha * to_rgb[stage](step[stage](h_prev))``.

    Layout: ``steps[0]`` = stem (plain Conv3x3 3->w + BN + ReLU) + ResBlock(w) + up block (w -> w/2);
    ``steps[1]``, ``steps[2]`` = ResBlock + up block at w/2 and w/4; ``to_rgb[i]`` = plain Conv1x1 -> 3.
    ResBlock convs are :class:`EqualConv2d`; stem, ConvTranspose and to-RGB are plain (PyTorch default
    init). ``width`` 512 gives the paper's 8,969,097 parameters; it must be divisible by 8.
    Raises ValueError for a wrong input shape, stage or alpha.
    """

    def __init__(self, width: int = 512, lr_size: int = 16):
        super().__init__()
        if width < 8 or width % 8:
            raise ValueError(f"width must be a positive multiple of 8, got {width}")
        self.lr_size, self.hr_size = int(lr_size), int(lr_size) * 2 ** N_STAGES
        w = int(width)
        stem = [nn.Conv2d(3, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
        chans = [w, w // 2, w // 4]
        self.steps = nn.ModuleList()
        for i, c in enumerate(chans):
            self.steps.append(nn.Sequential(*(stem if i == 0 else []), PFSRResBlock(c), *_up_block(c)))
        self.to_rgb = nn.ModuleList([nn.Conv2d(c // 2, 3, 1) for c in chans])

    num_stages = N_STAGES

    def stage_size(self, stage: int) -> int:
        """Output side of a (0-based) stage: ``lr_size * 2 ** (stage + 1)``."""
        return self.lr_size * 2 ** (stage + 1)

    def forward(self, lr: torch.Tensor, stage: int | None = N_STAGES - 1, alpha: float = 1.0) -> torch.Tensor:
        self.check_input(lr)
        stage, alpha = _check_stage(stage, alpha)
        h = lr * 2.0 - 1.0
        for i in range(stage):
            h = self.steps[i](h)
        new = self.to_rgb[stage](self.steps[stage](h))
        if stage > 0 and alpha < 1.0:
            old = F.interpolate(self.to_rgb[stage - 1](h), scale_factor=2, mode="nearest")
            new = (1.0 - alpha) * old + alpha * new
        return self.finish((new + 1.0) * 0.5)


class _DBlock(nn.Sequential):
    """[EqualConv3x3 cin->cout, LReLU 0.2, EqualConv3x3 cout->cout, LReLU 0.2, AvgPool2]."""

    def __init__(self, cin: int, cout: int):
        super().__init__(EqualConv2d(cin, cout), nn.LeakyReLU(0.2), EqualConv2d(cout, cout), nn.LeakyReLU(0.2),
                         nn.AvgPool2d(2))


def minibatch_stddev(x: torch.Tensor) -> torch.Tensor:
    """One scalar: the standard deviation over the batch (unbiased) of ``x``, averaged over the rest;
    0 for a batch of one (where the unbiased estimate is undefined)."""
    if x.shape[0] < 2:
        return x.new_zeros(())
    return x.std(dim=0).mean()


class PFSRDiscriminator(nn.Module):
    """PFSR discriminator (WGAN critic).

    ``forward(img, stage=2, alpha=1.0)``: ``img`` N x 3 x S x S in [0, 1] with S = ``stage_size(stage)``
    (32, 64, 128 px; mapped to [-1, 1] inside); returns N x 1 logits. Stage ``s`` enters through
    ``from_rgb[s]`` (plain Conv1x1, no activation) and ``blocks[s]``, then runs ``blocks[s-1] ... blocks[0]``
    down to ``base`` px (16). Fade-in on the input side for ``s`` > 0 and ``alpha`` < 1:
    ``(1 - alpha) * from_rgb[s-1](avgpool2(img)) + alpha * blocks[s](from_rgb[s](img))``. Then one channel
    holding :func:`minibatch_stddev` of the input image ([-1, 1], the whole batch) is appended, followed by
    EqualConv3x3 (8w+1 -> 8w), a global average pool (AvgPool16 at the default sizes), Linear 8w -> hidden,
    Linear hidden -> 1, with no activation after the last conv nor between the linears. No normalisation.
    ``width`` 64, ``hidden`` 2048 give the paper's 8,065,537 parameters.
    Raises ValueError for a wrong input shape, stage or alpha.
    """

    def __init__(self, width: int = 64, hidden: int = 2048, base: int = 16):
        super().__init__()
        w, self.base = int(width), int(base)
        rgb = [4 * w, 2 * w, w]  # from-RGB channels of stages 0, 1, 2 (32, 64, 128 px)
        self.from_rgb = nn.ModuleList([nn.Conv2d(3, c, 1) for c in rgb])
        self.blocks = nn.ModuleList([_DBlock(c, 2 * c) for c in rgb])
        self.final_conv = EqualConv2d(8 * w + 1, 8 * w)
        self.linear = nn.Linear(8 * w, hidden)
        self.linear2 = nn.Linear(hidden, 1)

    num_stages = N_STAGES

    def stage_size(self, stage: int) -> int:
        return self.base * 2 ** (stage + 1)

    def forward(self, img: torch.Tensor, stage: int | None = N_STAGES - 1, alpha: float = 1.0) -> torch.Tensor:
        stage, alpha = _check_stage(stage, alpha)
        s = self.stage_size(stage)
        if img.ndim != 4 or img.shape[1] != 3 or img.shape[-2:] != (s, s):
            raise ValueError(f"PFSRDiscriminator stage {stage} expects N x 3 x {s} x {s}, got {tuple(img.shape)}")
        x = img * 2.0 - 1.0
        h = self.blocks[stage](self.from_rgb[stage](x))
        if stage > 0 and alpha < 1.0:
            h = (1.0 - alpha) * self.from_rgb[stage - 1](F.avg_pool2d(x, 2)) + alpha * h
        for i in range(stage - 1, -1, -1):
            h = self.blocks[i](h)
        std = minibatch_stddev(x).expand(h.shape[0], 1, *h.shape[-2:]).to(h.dtype)
        h = self.final_conv(torch.cat([h, std], dim=1))
        h = h.mean(dim=(2, 3))
        return self.linear2(self.linear(h))


class DistilledFAN(nn.Module):
    """PFSR's distilled face-alignment network: 68 landmark heatmaps at the input resolution.

    ``forward(img)``: N x 3 x H x W in [0, 1] (used as is) -> N x 68 x H x W. Layers, all stride 1:
    Conv5x5 3->32 (pad 2, no activation); Conv3x3 32->64, 64->128, 128->128, each + BN + LeakyReLU(0.01);
    Conv3x3 128->68 + LeakyReLU(0.01). 321,412 parameters. Fully convolutional: ``lr_size`` = ``hr_size``
    = 64 only record the size it is trained at (64x64 targets of PFSR's step 2).
    """

    lr_size = 64
    hr_size = 64

    def __init__(self, n_landmarks: int = 68):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 32, 5, padding=2)]
        for cin, cout in ((32, 64), (64, 128), (128, 128)):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.01)]
        layers += [nn.Conv2d(128, n_landmarks, 3, padding=1), nn.LeakyReLU(0.01)]
        self.body = nn.Sequential(*layers)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"DistilledFAN expects N x 3 x H x W, got {tuple(img.shape)}")
        return self.body(img)
