"""KDFSRNet (teacher and student) and PKDN (teacher and student) networks.

All four share one encoder-decoder skeleton at 64 channels (``width``): the LR face is PIL-bicubic
upsampled to 128 px, a head conv lifts it to ``width`` channels, four down stages (inverse
pixel-shuffle x2 + conv) go to 64, 32, 16 and 8 px, a bottleneck stage stays at 8 px, four up stages
(conv + pixel-shuffle x2) return to 16, 32, 64 and 128 px, and a tail conv gives the RGB face (no
global skip). The output of each of the 9 stages is a distillation feature (``return_features=True``);
teacher and student of one family have equal feature shapes stage by stage.

Parsing maps (teachers only) are ``N x C x H x W`` float maps with ``C = prior_channels`` or
``N x H x W`` integer label maps (CelebAMask-HQ order, 0 = background, ``num_classes`` labels),
converted by :func:`parsing_to_channels`; any size, resized (nearest) to where they are used.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import SRModel

__all__ = ["ChannelAttention", "RCAB", "RCAG", "DownBlock", "UpBlock", "MeanShift", "ParsingFusionBlock",
           "FeatureFusionBlock", "KDFSRNet", "PKDN", "parsing_to_channels", "label_palette"]

# RCAN's RGB mean (DIV2K), the values its MeanShift layers use (rgb_range 1, std 1)
RCAN_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def label_palette(num_classes: int = 19) -> torch.Tensor:
    """``num_classes x 3`` colours in [0, 1]: the PASCAL-VOC bit palette (label 0, background, is black;
    label k spreads its bits over the high bits of R, G, B). Used for the 3-channel parsing-map form."""
    pal = torch.zeros(num_classes, 3)
    for k in range(num_classes):
        c, rgb = k, [0, 0, 0]
        for j in range(8):
            for ch in range(3):
                rgb[ch] |= ((c >> ch) & 1) << (7 - j)
            c >>= 3
        pal[k] = torch.tensor(rgb, dtype=torch.float32) / 255.0
    return pal


def parsing_to_channels(parsing: torch.Tensor, channels: int, size: int | None = None,
                        num_classes: int = 19) -> torch.Tensor:
    """A parsing map as an ``N x channels x size x size`` float tensor.

    * ``N x C x H x W`` float: used as is (``C`` must equal ``channels``).
    * ``N x H x W`` labels (any dtype; rounded to integers in ``[0, num_classes)``): ``channels ==
      num_classes`` -> one-hot; ``channels == 3`` -> colours of :func:`label_palette` (the 3-channel
      colour form); ``channels == 1`` -> ``label / (num_classes - 1)``.

    The map is resized with nearest neighbour to ``size`` (when given). Raises ``ValueError`` for other
    shapes or channel counts.
    """
    if parsing.ndim == 3:
        lab = parsing.round().long() if parsing.is_floating_point() else parsing.long()
        if int(lab.min()) < 0 or int(lab.max()) >= num_classes:
            raise ValueError(f"parsing labels must lie in [0, {num_classes}), got [{int(lab.min())}, {int(lab.max())}]")
        if channels == num_classes:
            x = F.one_hot(lab, num_classes).permute(0, 3, 1, 2).float()
        elif channels == 3:
            x = label_palette(num_classes).to(lab.device)[lab].permute(0, 3, 1, 2)
        elif channels == 1:
            x = lab[:, None].float() / max(1, num_classes - 1)
        else:
            raise ValueError(f"cannot turn label maps into {channels} channels (use 1, 3 or {num_classes})")
    elif parsing.ndim == 4:
        if parsing.shape[1] != channels:
            raise ValueError(f"parsing map has {parsing.shape[1]} channels, the network takes {channels}")
        x = parsing.float()
    else:
        raise ValueError(f"parsing map must be N x C x H x W or N x H x W, got {tuple(parsing.shape)}")
    if size is not None and x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="nearest")
    return x


def conv3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ChannelAttention(nn.Module):
    """x * sigmoid(1x1 conv(ReLU(1x1 conv(GAP(x))))), squeezing ``c -> max(1, c // reduction) -> c``."""

    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        m = max(1, c // reduction)
        self.body = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, m, 1), nn.ReLU(), nn.Conv2d(m, c, 1),
                                  nn.Sigmoid())

    def forward(self, x):
        return x * self.body(x)


class RCAB(nn.Module):
    """Residual channel-attention block: x + CA(conv3(ReLU(conv3(x))))."""

    def __init__(self, c: int = 64, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(conv3(c, c), nn.ReLU(), conv3(c, c), ChannelAttention(c, reduction))

    def forward(self, x):
        return x + self.body(x)


class RCAG(nn.Module):
    """Residual channel-attention group: x + conv3(RCAB^n(x)) (RCAN's residual group)."""

    def __init__(self, c: int = 64, n_rcab: int = 6, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(*[RCAB(c, reduction) for _ in range(n_rcab)], conv3(c, c))

    def forward(self, x):
        return x + self.body(x)


class DownBlock(nn.Sequential):
    """Inverse pixel-shuffle x2 (c -> 4c channels, half size) + conv3 4c -> c."""

    def __init__(self, c: int = 64):
        super().__init__(nn.PixelUnshuffle(2), conv3(4 * c, c))


class UpBlock(nn.Sequential):
    """conv3 c -> 4c + pixel-shuffle x2 (double size, c channels)."""

    def __init__(self, c: int = 64):
        super().__init__(conv3(c, 4 * c), nn.PixelShuffle(2))


class MeanShift(nn.Conv2d):
    """A fixed 1x1 conv adding ``sign x mean`` per RGB channel (RCAN/EDSR's MeanShift; not trained:
    ``requires_grad`` is off, but its 12 values are parameters, as in those models)."""

    def __init__(self, mean=RCAN_RGB_MEAN, sign: int = -1):
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(sign * torch.tensor(mean, dtype=torch.float32))
        for p in self.parameters():
            p.requires_grad_(False)


class _Skeleton(SRModel):
    """Head conv, 4 down stages, bottleneck, 4 up stages, tail conv; subclasses fill the stages."""

    n_down = 4

    @property
    def extra_inputs(self) -> tuple:
        return ("parsing",) if self.prior_channels else ()

    def _check_parsing(self, lr, parsing):
        self.check_input(lr)
        if self.prior_channels and parsing is None:
            raise ValueError(f"{type(self).__name__} is a teacher: forward(lr, parsing) needs the parsing map")
        if not self.prior_channels and parsing is not None:
            raise ValueError(f"{type(self).__name__} takes only the LR face (prior_channels=0)")


class KDFSRNet(_Skeleton):
    """KDFSRNet: student (``prior_channels=0``) or teacher (head on concat(LR_up, parsing map)).

    Settings: ``n_rcab`` RCABs per stage (student 6, teacher 2), ``width`` channels (64),
    ``prior_channels`` (0 student; 3 teacher: the 3-channel parsing-map form), ``num_classes`` of label
    maps (19), ``reduction`` of channel attention (16), ``mean_shift``: RCAN-style fixed mean
    subtraction at the input and addition at the output (two 1x1 convs, 24 parameters).

    ``forward(lr, parsing=None, return_features=False)``: ``lr`` N x 3 x 16 x 16 in [0, 1]; ``parsing``
    (teacher only) see :func:`parsing_to_channels`; returns the SR face N x 3 x 128 x 128, or
    ``(sr, [9 stage features])`` (N x width x {64, 32, 16, 8, 8, 16, 32, 64, 128}^2).
    """

    def __init__(self, n_rcab: int = 6, width: int = 64, prior_channels: int = 0, num_classes: int = 19,
                 reduction: int = 16, mean_shift: bool = False, lr_size: int = 16, hr_size: int = 128):
        super().__init__()
        self.lr_size, self.hr_size = lr_size, hr_size
        self.prior_channels, self.num_classes = prior_channels, num_classes
        c = width
        self.sub_mean = MeanShift(sign=-1) if mean_shift else None
        self.add_mean = MeanShift(sign=1) if mean_shift else None
        self.head = conv3(3 + prior_channels, c)

        def stage():
            return nn.Sequential(*[RCAB(c, reduction) for _ in range(n_rcab)])

        self.down = nn.ModuleList(nn.Sequential(DownBlock(c), stage()) for _ in range(self.n_down))
        self.bottleneck = stage()
        self.up = nn.ModuleList(nn.Sequential(UpBlock(c), stage()) for _ in range(self.n_down))
        self.tail = conv3(c, 3)

    def forward(self, lr, parsing=None, return_features: bool = False):
        self._check_parsing(lr, parsing)
        x = self.upsample_input(lr)
        if self.sub_mean is not None:
            x = self.sub_mean(x)
        if self.prior_channels:
            x = torch.cat([x, parsing_to_channels(parsing, self.prior_channels, self.hr_size, self.num_classes)
                           .to(x.dtype)], 1)
        h = self.head(x)
        feats = []
        for blk in self.down:
            h = blk(h)
            feats.append(h)
        h = self.bottleneck(h)
        feats.append(h)
        for blk in self.up:
            h = blk(h)
            feats.append(h)
        out = self.tail(h)
        if self.add_mean is not None:
            out = self.add_mean(out)
        out = self.finish(out)
        return (out, feats) if return_features else out


class ParsingFusionBlock(nn.Module):
    """PKDN's parsing-map fusion block (PFB): ``F + fuse2([CA(u), SA(u)])`` with
    ``u = ReLU(fuse1([conv3(F), conv3(P)]))`` and ``P`` the parsing map resized (nearest) to F's size.

    CA: channel attention (:class:`ChannelAttention`); SA: spatial attention ``u * sigmoid(conv7([mean_c(u),
    max_c(u)]))``; fuse1 conv3 2c -> c, fuse2 1x1 conv 2c -> c. ``forward(f, p)`` with ``p`` N x Cp x H x W.
    """

    def __init__(self, c: int, prior_channels: int, reduction: int = 16):
        super().__init__()
        self.proj_f, self.proj_p = conv3(c, c), conv3(prior_channels, c)
        self.fuse1 = conv3(2 * c, c)
        self.ca = ChannelAttention(c, reduction)
        self.sa = nn.Conv2d(2, 1, 7, padding=3)
        self.fuse2 = nn.Conv2d(2 * c, c, 1)

    def forward(self, f, p):
        p = F.interpolate(p, size=f.shape[-2:], mode="nearest") if p.shape[-2:] != f.shape[-2:] else p
        u = F.relu(self.fuse1(torch.cat([self.proj_f(f), self.proj_p(p.to(f.dtype))], 1)))
        sa = u * torch.sigmoid(self.sa(torch.cat([u.mean(1, keepdim=True), u.amax(1, keepdim=True)], 1)))
        return f + self.fuse2(torch.cat([self.ca(u), sa], 1))


class FeatureFusionBlock(nn.Module):
    """PKDN's feature fusion block (FFB): ``CA(F + proj(F - F_p))`` with ``F_p`` the retained encoder
    feature of the same size, and ``proj`` a same-scale projection unit (error feedback):
    ``h0 = ReLU(conv3(d))``, ``e = ReLU(conv3(h0)) - d``, ``proj(d) = h0 + ReLU(conv3(e))``."""

    def __init__(self, c: int, reduction: int = 16):
        super().__init__()
        self.c1, self.c2, self.c3 = conv3(c, c), conv3(c, c), conv3(c, c)
        self.ca = ChannelAttention(c, reduction)

    def forward(self, f, fp):
        d = f - fp
        h0 = F.relu(self.c1(d))
        e = F.relu(self.c2(h0)) - d
        return self.ca(f + h0 + F.relu(self.c3(e)))


class PKDN(_Skeleton):
    """PKDN teacher (``prior_channels > 0``) or student (``prior_channels=0``).

    Stages: encoder ``[Down, RCAG(, PFB)]`` x4 (64, 32, 16, 8 px), bottleneck ``RCAG(, PFB)``, decoder
    ``[Up(, FFB with the retained encoder feature of that size: 8 -> 16 uses the 16 px encoder output,
    ..., 128 uses the head output), RCAG(, PFB)]`` x4; PFBs only in a teacher with ``pfb=True``.
    A teacher with ``pfb=False`` (Table 2's first row) takes the parsing map at the head instead
    (concat(LR_up, parsing), as KDFSRNet's teacher); with ``pfb=True`` the head sees LR_up only.

    Settings: ``n_rcab`` RCABs per RCAG (6), ``width`` (64), ``prior_channels`` (0 student, 3 teacher),
    ``pfb``, ``ffb`` (True), ``num_classes`` (19), ``reduction`` (16), ``global_skip`` (False: the paper's
    network, no global skip, as KDFSRNet; True: the tail's output is added to the bicubic-upsampled LR,
    so the network learns the residual, which converges in far fewer steps: the CPU presets; no parameters).
    ``forward(lr, parsing=None, return_features=False)`` as :class:`KDFSRNet` (9 stage features).
    """

    def __init__(self, n_rcab: int = 6, width: int = 64, prior_channels: int = 0, pfb: bool = True,
                 ffb: bool = True, num_classes: int = 19, reduction: int = 16, global_skip: bool = False,
                 lr_size: int = 16, hr_size: int = 128):
        super().__init__()
        self.global_skip = global_skip
        self.lr_size, self.hr_size = lr_size, hr_size
        self.prior_channels, self.num_classes = prior_channels, num_classes
        self.use_pfb = bool(pfb and prior_channels)
        self.use_ffb = ffb
        c = width
        self.head = conv3(3 + (0 if self.use_pfb else prior_channels), c)
        n = 2 * self.n_down + 1
        self.downs = nn.ModuleList(DownBlock(c) for _ in range(self.n_down))
        self.ups = nn.ModuleList(UpBlock(c) for _ in range(self.n_down))
        self.groups = nn.ModuleList(RCAG(c, n_rcab, reduction) for _ in range(n))
        self.pfbs = nn.ModuleList(ParsingFusionBlock(c, prior_channels, reduction) for _ in range(n)) \
            if self.use_pfb else None
        self.ffbs = nn.ModuleList(FeatureFusionBlock(c, reduction) for _ in range(self.n_down)) if ffb else None
        self.tail = conv3(c, 3)

    def _stage(self, i, h, p):
        h = self.groups[i](h)
        return self.pfbs[i](h, p) if self.pfbs is not None else h

    def forward(self, lr, parsing=None, return_features: bool = False):
        self._check_parsing(lr, parsing)
        x = x_up = self.upsample_input(lr)
        p = None
        if self.prior_channels:
            p = parsing_to_channels(parsing, self.prior_channels, self.hr_size, self.num_classes).to(x.dtype)
            if not self.use_pfb:
                x = torch.cat([x, p], 1)
        h = self.head(x)
        kept, feats = [h], []
        for i, down in enumerate(self.downs):
            h = self._stage(i, down(h), p)
            kept.append(h)
            feats.append(h)
        h = self._stage(self.n_down, h, p)
        feats.append(h)
        for j, up in enumerate(self.ups):
            h = up(h)
            if self.ffbs is not None:
                h = self.ffbs[j](h, kept[self.n_down - 1 - j])
            h = self._stage(self.n_down + 1 + j, h, p)
            feats.append(h)
        out = self.tail(h)
        out = self.finish(out + x_up if self.global_skip else out)
        return (out, feats) if return_features else out
