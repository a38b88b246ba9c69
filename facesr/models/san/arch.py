"""The SR network of the style-based attentive face hallucination paper (Luo, Ma, Huang, He): global
attention residual blocks (GARB) followed by local attention residual blocks (LARB).

The paper gives the two attention modules (its eqs. 7-11) and the order (GARBs first: "global
priority", then LARBs fill in local texture) but no layout, width, depth, upsampler or input
convention; no code was released. Our choices, each a setting:

* layout (EDSR-like, post-upsampling, everything at the LR size): head conv3 3 -> ``width``;
  ``n_garb`` GARBs then ``n_larb`` LARBs; conv3; long skip from the head; upsampler of ``log2(scale)``
  x [conv3 ``width`` -> 4 ``width``, pixel shuffle x2]; tail conv3 ``width`` -> 3. Defaults 64 channels and
  8 + 8 blocks: with both modules off (Table 4's first row) it is EDSR-baseline's body (16 blocks of
  64 channels, residual scaling 1, no BN), so the ablation adds attention to a known network.
* ``input_skip`` (default True): the output is the PIL-bicubic upsampled LR plus the network's
  residual (the network learns only the missing detail, as facesr's other CPU presets with a global
  skip). False: the network's output alone (EDSR's convention).
* residual block body: conv3, ReLU, conv3 (EDSR's), scaled by ``res_scale`` (1).
* GARB: ``x + GA(body(x))`` with GA the SAGAN self-attention of eqs. 7-9 (``y = x + gamma * o``,
  gamma a learnable scalar initialised at 0): at initialisation GA is the identity and a GARB is a plain
  residual block. ``ga=False`` (Table 4) leaves the plain block.
* LARB: ``x + conv3(LA(ReLU(conv3(x))))``: the local relation layer aggregates the block's hidden
  features between its two convolutions (where Local Relation Networks put it: in place of a spatial
  aggregation inside a residual unit). ``la=False`` (Table 4) leaves the plain block.
* GA projections: query/key 1x1 ``C -> C / ga_reduction`` (8), value ``h`` 1x1 ``C -> ga_value_channels``
  (C), output ``v`` 1x1 back to C (the paper's ``W_v``), all with biases.
* LA: window ``la_window`` (7), ``la_groups`` (8) channel groups sharing aggregation weights,
  query/key 1x1 ``C -> la_qk_channels`` (C / 8, so one scalar query and key per group and eq. 11's
  ``-(q - k)^2`` is literal; more channels per group sum the squared differences), a geometry prior over
  the window's relative positions (``la_geometry``: ``mlp``, a 2 -> ``la_geometry_hidden`` (16) -> groups
  1x1 network of the normalised offsets, Local Relation Networks' form; ``table``, one learned value per
  group and offset; ``none``), softmax over the window (positions outside the image are left out), and the
  weighted sum of the input features themselves (no value transform: the following conv is one).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..baselines.arch import ResidualBlock, Upsampler, conv3
from ..common import SRModel

__all__ = ["GlobalAttention", "LocalRelation", "GARB", "LARB", "ResidualBlock", "Upsampler", "SAN"]


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return v


class GlobalAttention(nn.Module):
    """SAGAN self-attention (the paper's GA module, eqs. 7-9).

    ``s_ij = f(x_i)^T g(x_j)``; ``beta_ji = softmax_i(s_ij)`` (over the attended positions i, for each
    output position j); ``o_j = v(sum_i beta_ji h(x_i))``; ``y = x + gamma * o``. ``f``, ``g``: 1x1 convs
    ``C -> C // reduction``; ``h``: 1x1 ``C -> value_channels`` (default C); ``v``: 1x1 back to C.
    ``gamma`` is a learnable scalar initialised at 0 (``y = x`` at initialisation). Works at any H x W
    (memory grows as (H W)^2: an LR feature map of 32 x 32 is a 1024 x 1024 attention matrix).
    """

    def __init__(self, channels: int, reduction: int = 8, value_channels: int | None = None):
        super().__init__()
        _positive_int("ga_reduction", reduction)
        qk = channels // reduction
        if qk < 1:
            raise ValueError(f"ga_reduction {reduction} leaves no query/key channels of {channels}")
        cv = channels if value_channels is None else _positive_int("ga_value_channels", value_channels)
        self.f = nn.Conv2d(channels, qk, 1)
        self.g = nn.Conv2d(channels, qk, 1)
        self.h = nn.Conv2d(channels, cv, 1)
        self.v = nn.Conv2d(cv, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``N x HW x HW`` matrix ``beta[n, i, j]``: the weight of position i in output position j
        (each column sums to 1)."""
        q = self.f(x).flatten(2)  # N x c' x HW
        k = self.g(x).flatten(2)
        s = torch.bmm(q.transpose(1, 2), k)  # N x HW_i x HW_j
        return torch.softmax(s.float(), dim=1).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, hgt, wid = x.shape
        beta = self.attention(x)
        o = torch.bmm(self.h(x).flatten(2), beta).view(n, -1, hgt, wid)
        return x + self.gamma.to(x.dtype) * self.v(o)


class LocalRelation(nn.Module):
    """Local relation layer (the paper's LA module, eqs. 10-11; Hu et al., Local Relation Networks).

    For each target pixel p' and each source pixel p in the ``window`` x ``window`` neighbourhood of p'
    and each of ``groups`` channel groups g:
    ``w_g(p', p) = softmax_p(-sum_{c in g} (q_c(p') - k_c(p))^2 + G_g(p - p'))`` and the output channels
    of group g at p' are ``sum_p w_g(p', p) x_c(p)`` for the input channels c of that group. ``q``, ``k``:
    1x1 convs ``C -> qk_channels`` (default ``C // 8``, at least ``groups``; a multiple of ``groups``).
    ``G``: the geometry prior (``geometry``: ``mlp`` | ``table`` | ``none``, see the module docstring).
    Neighbours outside the image are left out of the softmax. The output at p' depends only on inputs
    within the window around p'.

    Implemented as a loop over the window's offsets (slices of the zero-padded maps), so no unfolded
    ``C x window^2`` copy of the features is held for the backward pass.
    """

    def __init__(self, channels: int, window: int = 7, groups: int = 8, qk_channels: int | None = None,
                 geometry: str = "mlp", geometry_hidden: int = 16):
        super().__init__()
        _positive_int("la_window", window)
        _positive_int("la_groups", groups)
        if window % 2 == 0:
            raise ValueError(f"la_window must be odd (a window centred on its pixel), got {window}")
        if channels % groups:
            raise ValueError(f"la_groups ({groups}) must divide the width ({channels})")
        qk = max(groups, channels // 8) if qk_channels is None else _positive_int("la_qk_channels", qk_channels)
        if qk % groups:
            raise ValueError(f"la_qk_channels ({qk}) must be a multiple of la_groups ({groups})")
        if geometry not in ("mlp", "table", "none"):
            raise ValueError(f"la_geometry must be mlp, table or none, got {geometry!r}")
        self.window, self.groups, self.qk = window, groups, qk
        self.query = nn.Conv2d(channels, qk, 1)
        self.key = nn.Conv2d(channels, qk, 1)
        self.geometry = geometry
        r = window // 2
        # relative offsets (dy, dx) of the window, row-major, scaled to [-1, 1]
        ys, xs = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-r, r + 1), indexing="ij")
        offsets = torch.stack([ys, xs]).float().view(1, 2, window, window) / max(1, r)
        self.register_buffer("offsets", offsets, persistent=False)
        if geometry == "mlp":
            _positive_int("la_geometry_hidden", geometry_hidden)
            self.geo = nn.Sequential(nn.Conv2d(2, geometry_hidden, 1), nn.ReLU(), nn.Conv2d(geometry_hidden, groups, 1))
        elif geometry == "table":
            self.geo_table = nn.Parameter(torch.zeros(groups, window * window))

    def geometry_prior(self) -> torch.Tensor | None:
        """``groups x window^2`` prior added to the composability (row-major offsets), or None."""
        if self.geometry == "mlp":
            return self.geo(self.offsets).view(self.groups, -1)
        if self.geometry == "table":
            return self.geo_table
        return None

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """Aggregation weights ``N x groups x window^2 x H x W`` (softmax over the window axis)."""
        n, _, h, w = x.shape
        k, m, r = self.window, self.groups, self.window // 2
        d = self.qk // m
        q = self.query(x).view(n, m, d, h, w)
        kp = F.pad(self.key(x), (r, r, r, r)).view(n, m, d, h + 2 * r, w + 2 * r)
        inside = F.pad(x.new_ones(1, 1, h, w), (r, r, r, r)) > 0
        geo = self.geometry_prior()
        logits, valid = [], []
        for j in range(k * k):
            dy, dx = divmod(j, k)
            lj = -(q - kp[..., dy:dy + h, dx:dx + w]).pow(2).sum(2)  # N x m x H x W
            if geo is not None:
                lj = lj + geo[:, j].view(1, m, 1, 1).to(lj.dtype)
            logits.append(lj)
            valid.append(inside[..., dy:dy + h, dx:dx + w])
        logits = torch.stack(logits, 2)  # N x m x k^2 x H x W
        valid = torch.stack(valid, 2)  # 1 x 1 x k^2 x H x W (the centre is always inside)
        # neighbours outside the image: an additive -1e4 (exp underflows to exactly 0 in float32 beside the
        # window's largest logit, which is always inside: its centre), not masked_fill, which ncnn lacks
        logits = logits.float() + (valid.float() - 1.0) * 1e4
        return torch.softmax(logits, dim=2).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        k, m, r = self.window, self.groups, self.window // 2
        wts = self.weights(x)
        xp = F.pad(x, (r, r, r, r)).view(n, m, c // m, h + 2 * r, w + 2 * r)
        out = None
        for j in range(k * k):
            dy, dx = divmod(j, k)
            term = xp[..., dy:dy + h, dx:dx + w] * wts[:, :, j:j + 1]
            out = term if out is None else out + term
        return out.reshape(n, c, h, w)


class GARB(ResidualBlock):
    """Global attention residual block: ``x + res_scale * GA(conv3(ReLU(conv3(x))))``; without GA
    (``ga=False``) a plain :class:`ResidualBlock`. With GA's gamma at 0 (its initial value) the block
    equals the plain block with the same convolutions."""

    def __init__(self, c: int, ga: bool = True, reduction: int = 8, value_channels: int | None = None,
                 res_scale: float = 1.0):
        super().__init__(c, res_scale)
        self.ga = GlobalAttention(c, reduction, value_channels) if ga else None

    def residual(self, x):
        r = super().residual(x)
        return self.ga(r) if self.ga is not None else r


class LARB(ResidualBlock):
    """Local attention residual block: ``x + res_scale * conv3(LA(ReLU(conv3(x))))``; without LA
    (``la=False``) a plain :class:`ResidualBlock`."""

    def __init__(self, c: int, la: bool = True, window: int = 7, groups: int = 8, qk_channels: int | None = None,
                 geometry: str = "mlp", geometry_hidden: int = 16, res_scale: float = 1.0):
        super().__init__(c, res_scale)
        self.la = LocalRelation(c, window, groups, qk_channels, geometry, geometry_hidden) if la else None

    def residual(self, x):
        h = F.relu(self.conv1(x))
        if self.la is not None:
            h = self.la(h)
        return self.conv2(h)


class SAN(SRModel):
    """The style-based attentive SR network (GARBs then LARBs); see the module docstring for the layout.

    Settings: ``scale`` (4 or 8: any power of two), ``hr_size`` (128; ``lr_size = hr_size // scale``),
    ``width`` (64), ``n_garb`` / ``n_larb`` (8 / 8), ``ga`` / ``la`` (Table 4's switches), ``ga_reduction``
    (8), ``ga_value_channels`` (None: ``width``), ``la_window`` (7), ``la_groups`` (8), ``la_qk_channels``
    (None: ``width // 8``), ``la_geometry`` (``mlp`` | ``table`` | ``none``), ``la_geometry_hidden`` (16),
    ``res_scale`` (1.0), ``input_skip`` (True: add the PIL-bicubic upsampled LR).

    ``forward(lr)``: N x 3 x lr_size x lr_size in [0, 1] -> N x 3 x hr_size x hr_size (clamped to [0, 1]
    in eval mode).
    """

    def __init__(self, scale: int = 4, hr_size: int = 128, width: int = 64, n_garb: int = 8, n_larb: int = 8,
                 ga: bool = True, la: bool = True, ga_reduction: int = 8, ga_value_channels: int | None = None,
                 la_window: int = 7, la_groups: int = 8, la_qk_channels: int | None = None,
                 la_geometry: str = "mlp", la_geometry_hidden: int = 16, res_scale: float = 1.0,
                 input_skip: bool = True):
        super().__init__()
        _positive_int("scale", scale)
        _positive_int("hr_size", hr_size)
        _positive_int("width", width)
        for name, v in (("n_garb", n_garb), ("n_larb", n_larb)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a whole number >= 0, got {v!r}")
        if hr_size % scale:
            raise ValueError(f"hr_size ({hr_size}) must be a multiple of scale ({scale})")
        self.lr_size, self.hr_size = hr_size // scale, hr_size
        self.input_skip = bool(input_skip)
        c = width
        self.head = conv3(3, c)
        self.body = nn.Sequential(
            *[GARB(c, ga, ga_reduction, ga_value_channels, res_scale) for _ in range(n_garb)],
            *[LARB(c, la, la_window, la_groups, la_qk_channels, la_geometry, la_geometry_hidden, res_scale)
              for _ in range(n_larb)])
        self.body_tail = conv3(c, c)
        self.up = Upsampler(c, scale)
        self.tail = conv3(c, 3)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        h = self.head(lr)
        h = h + self.body_tail(self.body(h))
        out = self.tail(self.up(h))
        if self.input_skip:
            out = out + self.upsample_input(lr).to(out.dtype)
        return self.finish(out)
