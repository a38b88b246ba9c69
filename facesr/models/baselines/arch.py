"""Generic SR baselines: SRCNN (Dong et al., TPAMI 2016) and EDSR-baseline (Lim et al., CVPRW 2017),
the two networks of the style-based paper's plug-and-play experiment (its Table 2: each trained on
bicubic LR, "-B", and on styleVAE LR, "-S").

Both follow facesr's SR contract: ``forward(lr)`` takes the LR face in [0, 1] at ``lr_size`` and returns
the face at ``hr_size`` (clamped to [0, 1] in eval mode). Conventions of the originals that do not carry
over, and our choices:

* SRCNN: 9-1-5 convolutions with 64 / 32 channels and ReLUs on the PIL-bicubic upsampled LR (the
  original's input). The original works on the luminance (Y) only and convolves without padding on 33 px
  training patches; ours pads each convolution (``padding_mode``, default ``replicate``, as its MATLAB
  test code filters with ``'same'`` borders) so the whole face comes out, and takes RGB (``channels=3``,
  20,099 parameters) or, with ``channels=1``, the BT.601 Y channel (8,129 parameters; Cb and Cr are the
  bicubic upsampled ones).
* EDSR-baseline: head conv3 3 -> 64, 16 residual blocks ``x + res_scale * conv3(ReLU(conv3(x)))`` with
  ``res_scale`` 1 and no BN, conv3, long skip, pixel-shuffle upsampler (log2(scale) x [conv3 64 -> 256,
  shuffle x2]), tail conv3 64 -> 3. EDSR subtracts the DIV2K RGB mean at the input and adds it back at the
  output (``mean_shift``, default True; a fixed buffer here, not two frozen 1x1 convs, so the parameter
  count is that of the trained layers: 1,517,571 at x4).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..common import SRModel

__all__ = ["conv3", "ResidualBlock", "Upsampler", "SRCNN", "EDSR", "rgb_to_ycbcr", "ycbcr_to_rgb", "DIV2K_RGB_MEAN",
           "RGB2YCBCR", "YCBCR_OFFSET"]

#: the RGB mean of DIV2K that EDSR's MeanShift subtracts (in [0, 1])
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return v


def conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ResidualBlock(nn.Module):
    """``x + res_scale * conv3(ReLU(conv3(x)))`` (EDSR's block, no BN). Subclasses change
    :meth:`residual`."""

    def __init__(self, c: int, res_scale: float = 1.0):
        super().__init__()
        self.conv1, self.conv2 = conv3(c, c), conv3(c, c)
        self.res_scale = float(res_scale)

    def residual(self, x):
        return self.conv2(F.relu(self.conv1(x)))

    def forward(self, x):
        return x + self.res_scale * self.residual(x)


class Upsampler(nn.Sequential):
    """``log2(scale)`` x [conv3 c -> 4c, pixel shuffle x2] (EDSR's upsampler for powers of two)."""

    def __init__(self, c: int, scale: int):
        n = int(round(math.log2(scale))) if isinstance(scale, int) and scale >= 1 else -1
        if n < 1 or 2 ** n != scale:
            raise ValueError(f"scale must be a power of two >= 2, got {scale!r}")
        layers = []
        for _ in range(n):
            layers += [conv3(c, 4 * c), nn.PixelShuffle(2)]
        super().__init__(*layers)


# BT.601 studio range (MATLAB's rgb2ycbcr), values in [0, 1]: ycbcr = RGB2YCBCR @ rgb + YCBCR_OFFSET
RGB2YCBCR = ((65.481 / 255, 128.553 / 255, 24.966 / 255),
             (-37.797 / 255, -74.203 / 255, 112.0 / 255),
             (112.0 / 255, -93.786 / 255, -18.214 / 255))
YCBCR_OFFSET = (16.0 / 255, 128.0 / 255, 128.0 / 255)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """BT.601 studio-range YCbCr (MATLAB's ``rgb2ycbcr`` / 255) of N x 3 x H x W RGB in [0, 1]."""
    m = torch.tensor(RGB2YCBCR, dtype=x.dtype, device=x.device)
    off = torch.tensor(YCBCR_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return torch.einsum("ij,njhw->nihw", m, x) + off


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`."""
    m = torch.linalg.inv(torch.tensor(RGB2YCBCR, dtype=torch.float64)).to(x.dtype).to(x.device)
    off = torch.tensor(YCBCR_OFFSET, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return torch.einsum("ij,njhw->nihw", m, x - off)


class SRCNN(SRModel):
    """SRCNN 9-1-5 on the bicubic-upsampled LR face (see the module docstring).

    Settings: ``scale`` (4), ``hr_size`` (128; ``lr_size = hr_size // scale``), ``channels`` (3: RGB; 1: Y
    only), ``n1`` / ``n2`` (64 / 32 filters), ``f1`` / ``f2`` / ``f3`` (9 / 1 / 5 kernel sizes),
    ``padding_mode`` (``replicate`` | ``zeros`` | ``reflect``).
    """

    def __init__(self, scale: int = 4, hr_size: int = 128, channels: int = 3, n1: int = 64, n2: int = 32,
                 f1: int = 9, f2: int = 1, f3: int = 5, padding_mode: str = "replicate"):
        super().__init__()
        for name, v in (("scale", scale), ("hr_size", hr_size), ("n1", n1), ("n2", n2), ("f1", f1), ("f2", f2),
                        ("f3", f3)):
            _positive_int(name, v)
        if hr_size % scale:
            raise ValueError(f"hr_size ({hr_size}) must be a multiple of scale ({scale})")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 3 (RGB) or 1 (Y of YCbCr), got {channels!r}")
        if padding_mode not in ("replicate", "zeros", "reflect"):
            raise ValueError(f"padding_mode must be replicate, zeros or reflect, got {padding_mode!r}")
        for name, f in (("f1", f1), ("f2", f2), ("f3", f3)):
            if f % 2 == 0:
                raise ValueError(f"{name} must be odd (a centred filter), got {f}")
        self.lr_size, self.hr_size = hr_size // scale, hr_size
        self.channels = channels

        def conv(cin, cout, k):
            return nn.Conv2d(cin, cout, k, padding=k // 2, padding_mode=padding_mode)

        self.conv1, self.conv2, self.conv3 = conv(channels, n1, f1), conv(n1, n2, f2), conv(n2, channels, f3)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        x = self.upsample_input(lr)
        if self.channels == 1:
            ycc = rgb_to_ycbcr(x)
            y = self.conv3(F.relu(self.conv2(F.relu(self.conv1(ycc[:, :1])))))
            out = ycbcr_to_rgb(torch.cat([y, ycc[:, 1:]], 1))
        else:
            out = self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))
        return self.finish(out)


class EDSR(SRModel):
    """EDSR (baseline by default; see the module docstring).

    Settings: ``scale`` (4; a power of two), ``hr_size`` (128; ``lr_size = hr_size // scale``), ``width``
    (64), ``n_resblocks`` (16), ``res_scale`` (1.0), ``mean_shift`` (True: subtract / add the DIV2K RGB
    mean), ``input_skip`` (False; True adds the PIL-bicubic upsampled LR to the output).
    """

    def __init__(self, scale: int = 4, hr_size: int = 128, width: int = 64, n_resblocks: int = 16,
                 res_scale: float = 1.0, mean_shift: bool = True, input_skip: bool = False):
        super().__init__()
        _positive_int("scale", scale)
        _positive_int("hr_size", hr_size)
        _positive_int("width", width)
        if isinstance(n_resblocks, bool) or not isinstance(n_resblocks, int) or n_resblocks < 0:
            raise ValueError(f"n_resblocks must be a whole number >= 0, got {n_resblocks!r}")
        if hr_size % scale:
            raise ValueError(f"hr_size ({hr_size}) must be a multiple of scale ({scale})")
        self.lr_size, self.hr_size = hr_size // scale, hr_size
        self.input_skip = bool(input_skip)
        mean = torch.tensor(DIV2K_RGB_MEAN if mean_shift else (0.0, 0.0, 0.0)).view(1, 3, 1, 1)
        self.register_buffer("rgb_mean", mean, persistent=False)
        c = width
        self.head = conv3(3, c)
        self.body = nn.Sequential(*[ResidualBlock(c, res_scale) for _ in range(n_resblocks)])
        self.body_tail = conv3(c, c)
        self.up = Upsampler(c, scale)
        self.tail = conv3(c, 3)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        mean = self.rgb_mean.to(lr.dtype)
        h = self.head(lr - mean)
        h = h + self.body_tail(self.body(h))
        out = self.tail(self.up(h))
        # the mean comes back at the output; with the input skip the upsampled LR brings it
        out = out + (self.upsample_input(lr).to(out.dtype) if self.input_skip else mean)
        return self.finish(out)
