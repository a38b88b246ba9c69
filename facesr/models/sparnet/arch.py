"""SPARNet and SPARNetHD (Chen et al., "Learning Spatial Attention for Face Super-Resolution", TIP 2020).

A Face Attention Unit (FAU) is a pre-activation residual block whose residual is gated by a spatial
attention map predicted by a small hourglass:

    out = shortcut(x) + h * sigmoid(Attn(h)),   h = conv2(conv1(act(norm(x))))

``attention='spar'`` predicts one map per position (2-D), ``'spar3d'`` one per channel and position
(3-D), ``'none'`` removes the branch (the paper's Baseline). SPARNet x8 works on the bicubic-upsampled
128 x 128 LR face in [-1, 1]; :class:`SPARNet` wraps that convention so callers hand it the 16 x 16 LR
face in [0, 1].

Paper vs released code: the paper uses PReLU; the released code LeakyReLU(0.2). Both are offered
(``act='prelu' | 'leakyrelu'``); the registry's default presets follow the released code, which is what
the parameter counts in the implementation notes were measured on. For the S_M ablation
(``bottleneck=M``) the paper attends in every unit, the released code drops the branch where the
hourglass depth is 0 (``depth0_attention=True | False``, see :class:`SPARNetBody`).
"""
from __future__ import annotations

import math

import torch
from torch import nn
import torch.nn.functional as F

from ..common import ConvLayer, SRModel, act_layer, norm_layer

__all__ = ["HourGlassAttention", "FaceAttentionUnit", "SPARNetBody", "SPARNet", "SPARNetHD", "init_sparnet_weights",
           "converge_spectral_norm", "collect_attention_maps", "PatchDiscriminator", "SPARNetHDDiscriminator"]


class HourGlassAttention(nn.Module):
    """Recursive hourglass of ``depth`` levels with ``mid`` channels -> conv -> sigmoid attention map.

    At each level: skip = ConvLayer(c, mid); low = ConvLayer(c, mid, down) -> (next level, or one more
    ConvLayer at the bottom) -> ConvLayer(mid, mid, up); result = skip + low. ``depth=0`` has no level:
    the bottom ConvLayer(cin, mid) works at the input's resolution (the paper's S_M branch in a unit whose
    features are already M x M). Output: ``N x cout x H x W`` in (0, 1).
    """

    def __init__(self, depth: int, cin: int, cout: int, mid: int = 64, norm: str = "bn",
                 act: str = "leakyrelu", spectral: bool = False):
        super().__init__()
        if depth < 0:
            raise ValueError("hourglass depth must be >= 0")
        self.depth = depth
        kw = dict(norm=norm, act=act, spectral=spectral)
        self.skip = nn.ModuleList()
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for level in range(depth):
            c = cin if level == 0 else mid
            self.skip.append(ConvLayer(c, mid, **kw))
            self.down.append(ConvLayer(c, mid, "down", **kw))
            self.up.append(ConvLayer(mid, mid, "up", **kw))
        self.bottom = ConvLayer(mid if depth else cin, mid, **kw)
        self.out = ConvLayer(mid, cout, spectral=spectral)
        self.last_map: torch.Tensor | None = None
        self.keep_map = False

    def _level(self, i: int, x):
        skip = self.skip[i](x)
        low = self.down[i](x)
        low = self._level(i + 1, low) if i + 1 < self.depth else self.bottom(low)
        up = self.up[i](low)
        if up.shape[-2:] != skip.shape[-2:]:
            up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
        return skip + up

    def forward(self, x):
        m = torch.sigmoid(self.out(self._level(0, x) if self.depth else self.bottom(x)))
        if self.keep_map:
            self.last_map = m.detach()
        return m


class FaceAttentionUnit(nn.Module):
    """One FAU: ``cin`` channels at H x W -> ``cout`` channels at H x W (``scale='none'``), H/2 (``'down'``)
    or 2H (``'up'``). ``hg_depth``: levels of the attention hourglass (0: no down/up step, see
    :class:`HourGlassAttention`); ``None`` or ``attention='none'``: no attention branch."""

    def __init__(self, cin: int, cout: int, scale: str = "none", hg_depth: int | None = 2, attention: str = "spar",
                 norm: str = "bn", act: str = "leakyrelu", spectral: bool = False, hg_mid: int = 64):
        super().__init__()
        if scale == "none" and cin == cout:
            self.shortcut = nn.Identity()
        else:
            self.shortcut = ConvLayer(cin, cout, scale, spectral=spectral)
        self.preact = nn.Sequential(norm_layer(norm, cin), act_layer(act, cin))
        s1, s2 = {"down": ("none", "down"), "up": ("up", "none"), "none": ("none", "none")}[scale]
        self.conv1 = ConvLayer(cin, cout, s1, norm=norm, act=act, spectral=spectral)
        self.conv2 = ConvLayer(cout, cout, s2, norm=norm, act="none", spectral=spectral)
        if attention == "none" or hg_depth is None:
            self.attn = None
        elif attention in ("spar", "spar3d"):
            c_att = 1 if attention == "spar" else cout
            self.attn = HourGlassAttention(hg_depth, cout, c_att, hg_mid, norm, act, spectral)
        else:
            raise ValueError(f"attention must be spar, spar3d or none, got {attention!r}")

    def forward(self, x):
        h = self.conv2(self.conv1(self.preact(x)))
        if self.attn is not None:
            h = h * self.attn(h)
        return self.shortcut(x) + h


class SPARNetBody(nn.Module):
    """The image-to-image network in its own value range ([-1, 1]) and at ``size`` in and out.

    Channels per resolution: ``clip(base_ch * 2**i, min_ch, max_ch)`` (or ``channels``, one per
    resolution). ``bottleneck`` (the paper's S_M, the smallest feature map M x M in an attention branch)
    sets each unit's hourglass depth to log2(unit resolution / M): log2(64 / M) at the first encoder unit,
    one less per down step, one more per up step (or ``hg_depths``, one per unit).

    A depth of 0 (a unit whose features are already M x M, e.g. the 16 px body units for M = 16):
    ``depth0_attention=True`` (the paper, default: attention in every unit for every S_M) gives the unit
    an attention branch without down/up steps; ``False`` (the released code) gives it no attention
    branch, so S16 leaves 11 of 16 units without attention. The two differ only where a depth is 0: the
    default ``bottleneck=4`` (and 2, 8) builds the same network either way.

    ``attention_last`` (the paper's V_N) keeps attention in the last N units only (None = all).
    """

    def __init__(self, size: int = 128, min_feat: int = 16, min_ch: int = 32, max_ch: int = 128,
                 res_depth: int = 10, attention: str = "spar", norm: str = "bn", act: str = "leakyrelu",
                 bottleneck: int = 4, attention_last: int | None = None, spectral: bool = False,
                 channels: list[int] | None = None, hg_depths: list[int] | None = None, hg_mid: int = 64,
                 depth0_attention: bool = True):
        super().__init__()
        steps = int(round(math.log2(size // min_feat)))
        if channels is None:
            clip = lambda c: max(min_ch, min(c, max_ch))  # noqa: E731
            n = clip(max_ch // (steps + 1))
            channels = [clip(n * 2 ** i) for i in range(steps + 1)]
        if len(channels) != steps + 1:
            raise ValueError(f"channels needs {steps + 1} entries for {size}->{min_feat}")
        if hg_depths is None:
            d0 = int(round(math.log2(64 / bottleneck)))
            enc = [d0 - i for i in range(steps)]
            body = enc[-1]
            dec = [body + 1 + i for i in range(steps)]
            hg_depths = enc + [body] * res_depth + dec
        n_units = 2 * steps + res_depth
        if len(hg_depths) != n_units:
            raise ValueError(f"hg_depths needs {n_units} entries")
        if any(d < 0 for d in hg_depths):
            raise ValueError(f"hourglass depths must be >= 0, got {list(hg_depths)} (is the bottleneck, "
                             f"{bottleneck}, larger than a unit's feature map?)")
        depths: list[int | None] = [d if (d > 0 or depth0_attention) else None for d in hg_depths]
        if attention_last is not None:
            depths = [d if i >= n_units - attention_last else None for i, d in enumerate(depths)]
        kw = dict(attention=attention, norm=norm, act=act, spectral=spectral, hg_mid=hg_mid)
        self.head = ConvLayer(3, channels[0], spectral=spectral)
        units = []
        k = 0
        for i in range(steps):
            units.append(FaceAttentionUnit(channels[i], channels[i + 1], "down", depths[k], **kw)); k += 1
        for _ in range(res_depth):
            units.append(FaceAttentionUnit(channels[-1], channels[-1], "none", depths[k], **kw)); k += 1
        for i in range(steps, 0, -1):
            units.append(FaceAttentionUnit(channels[i], channels[i - 1], "up", depths[k], **kw)); k += 1
        self.units = nn.Sequential(*units)
        self.tail = ConvLayer(channels[0], 3, spectral=spectral)

    def forward(self, x):
        return self.tail(self.units(self.head(x)))

    def attention_units(self):
        return [u for u in self.units if u.attn is not None]


def init_sparnet_weights(module: nn.Module, std: float = 0.02) -> None:
    """Released-code initialisation, in place: conv / linear weights N(0, std), their biases 0; BatchNorm
    weights N(1, std) and biases 0 (InstanceNorm keeps PyTorch's 1 / 0: the released code initialises
    BatchNorm only); then every spectral-norm estimate is set exactly (:func:`converge_spectral_norm`)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = getattr(m, "weight_orig", m.weight)
            nn.init.normal_(w, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    converge_spectral_norm(module)


def converge_spectral_norm(module: nn.Module) -> None:
    """Set every ``torch.nn.utils.spectral_norm`` hook in ``module`` to its fixed point, in place.

    The hook estimates sigma = u^T W v from vectors ``u, v`` that it refines by one power iteration per
    training forward; from random vectors a freshly built network in eval mode divides each weight by a
    far too small sigma (a random SPARNetHD's output layer reached a std of ~1e9). Power iteration
    converges to the top singular vectors of the weight matrix W (``out x rest``); this computes them
    directly (the top eigenvector of the smaller of W W^T / W^T W), so afterwards the hook's sigma equals
    ``torch.linalg.matrix_norm(W, 2)`` (to ~1e-6 relative in float32), the effective weight
    ``W / sigma`` is stored, and further power iterations leave ``u, v`` where they are.
    """
    from torch.nn.utils.spectral_norm import SpectralNorm

    with torch.no_grad():
        for m in module.modules():
            for hook in list(m._forward_pre_hooks.values()):
                if not isinstance(hook, SpectralNorm):
                    continue
                w = getattr(m, hook.name + "_orig")
                u_buf, v_buf = getattr(m, hook.name + "_u"), getattr(m, hook.name + "_v")
                mat = hook.reshape_weight_to_matrix(w).float()
                if mat.shape[0] <= mat.shape[1]:
                    u = torch.linalg.eigh(mat @ mat.T)[1][:, -1]
                    v = mat.T @ u
                    v = v / v.norm().clamp_min(1e-30)
                else:
                    v = torch.linalg.eigh(mat.T @ mat)[1][:, -1]
                    u = mat @ v
                    u = u / u.norm().clamp_min(1e-30)
                u_buf.copy_(u.to(u_buf.dtype))
                v_buf.copy_(v.to(v_buf.dtype))
                setattr(m, hook.name, hook.compute_weight(m, do_power_iteration=False))


class SPARNet(SRModel):
    """SPARNet x8: LR 16x16 in [0,1] -> PIL-bicubic up to 128 -> [-1,1] -> FAU network -> [0,1].

    ``global_skip=True`` (not in the paper; our CPU preset uses it) adds the bicubic input to the
    network's output, so the network learns the residual and converges in far fewer steps.
    """

    def __init__(self, lr_size: int = 16, hr_size: int = 128, global_skip: bool = False, **body_kw):
        super().__init__()
        self.lr_size, self.hr_size = lr_size, hr_size
        self.global_skip = global_skip
        self.net = SPARNetBody(size=hr_size, **body_kw)
        init_sparnet_weights(self)

    def forward(self, lr):
        self.check_input(lr)
        x = self.upsample_input(lr) * 2.0 - 1.0
        y = self.net(x)
        if self.global_skip:
            y = y + x
        return self.finish((y + 1.0) * 0.5)

    def attention_maps(self, lr) -> list[torch.Tensor]:
        """Run ``lr`` through the network and return every FAU's attention map (N x C x h x w)."""
        return collect_attention_maps(self, lr)

    def inference_rewrite(self, target: str = "torch") -> nn.Module:
        """This model's eval-only rewrite for ``target`` (``"torch"``: eager runs; ``"onnx"`` / ``"ncnn"``:
        the graph those exporters trace): :func:`facesr.models.sparnet.inference.inference_rewrite`."""
        from .inference import rewrite_for

        return rewrite_for(self, target)


def collect_attention_maps(model, lr) -> list[torch.Tensor]:
    """Forward ``lr`` through ``model`` (whose ``net`` is a SPARNet body) keeping each FAU's map."""
    units = model.net.attention_units()
    for u in units:
        u.attn.keep_map = True
    try:
        with torch.no_grad():
            model.forward(lr)
        return [u.attn.last_map for u in units]
    finally:
        for u in units:
            u.attn.keep_map = False
            u.attn.last_map = None


class SPARNetHD(SRModel):
    """SPARNetHD generator: instance norm and spectral norm on every conv; 512 px with a 32 px bottleneck
    by default (the paper's network).

    Blind restoration: its input is the degraded face resized to ``size`` (``lr_size == hr_size ==
    size``); the toolkit hands it any LR face, which it PIL-bicubic upsamples to ``size`` first.

    The defaults build the paper's generator (85,793,412 parameters with 2-D attention). ``size``,
    ``min_feat``, ``channels``, ``res_depth``, ``hg_depths`` and ``hg_mid`` shrink it for CPUs (preset
    ``sparnethd-lite``); ``hg_depths=None`` takes :class:`SPARNetBody`'s layout for that size.
    ``global_skip=True`` (ours, as in ``sparnet-tiny``; not in the paper) adds the input to the output,
    so the network learns the correction to its input rather than the whole face.
    """

    def __init__(self, lr_size: int = 512, hr_size: int = 512, attention: str = "spar", act: str = "leakyrelu",
                 res_depth: int = 9, size: int = 512, min_feat: int = 32,
                 channels: list[int] | None = (102, 204, 408, 512, 512),
                 hg_depths: list[int] | None = "paper", hg_mid: int = 64, global_skip: bool = False):
        super().__init__()
        self.global_skip = global_skip
        if size != 512 and (lr_size, hr_size) == (512, 512):
            lr_size = hr_size = size
        if not lr_size == hr_size == size:
            raise ValueError(f"SPARNetHD restores at one size: lr_size, hr_size and size must be equal, got "
                             f"{lr_size}, {hr_size}, {size}")
        if hg_depths == "paper":
            hg_depths = [4, 3, 2, 1] + [1] * res_depth + [2, 3, 4, 5]
        self.lr_size, self.hr_size = lr_size, hr_size
        self.net = SPARNetBody(size=size, min_feat=min_feat, res_depth=res_depth, attention=attention, norm="in",
                               act=act, spectral=True, channels=list(channels) if channels else None,
                               hg_depths=hg_depths, hg_mid=hg_mid)
        init_sparnet_weights(self)

    def forward(self, lr):
        if lr.ndim != 4 or lr.shape[1] != 3:
            raise ValueError(f"SPARNetHD expects N x 3 x H x W, got {tuple(lr.shape)}")
        x = lr if lr.shape[-2:] == (self.hr_size, self.hr_size) else resize(lr, self.hr_size, "bicubic")
        x = x * 2.0 - 1.0
        y = self.net(x)
        if self.global_skip:
            y = y + x
        return self.finish((y + 1.0) * 0.5)

    def inference_rewrite(self, target: str = "torch") -> nn.Module:
        """This model's eval-only rewrite for ``target`` (``"torch"``: eager runs; ``"onnx"`` / ``"ncnn"``:
        the graph those exporters trace): :func:`facesr.models.sparnet.inference.inference_rewrite`."""
        from .inference import rewrite_for

        return rewrite_for(self, target)


from ...data.resize import resize  # noqa: E402


class PatchDiscriminator(nn.Module):
    """One scale of SPARNetHD's discriminator: a fully convolutional patch critic on ``N x 3 x H x W``
    in [-1, 1].

    ``ConvLayer(3, base)`` + LeakyReLU 0.2; ``n_layers`` x [3x3 conv stride 2 + InstanceNorm (affine) +
    LeakyReLU 0.2] with ``min(base * 2**i, max_ch)`` channels (64, 128, 256, 512, 512 by default); a 3x3
    conv to one channel without padding. Every conv is spectrally normalised (``spectral``). Padding:
    the padded convs use :class:`~facesr.models.common.ConvLayer`'s reflection pad of 1 (the notes
    describe SPARNetHD's ConvLayer so; only the last conv is unpadded), so each strided conv maps
    ``h`` to ``ceil(h / 2)`` and the logit map is ``ceil(h / 2**n_layers) - 2`` pixels wide.
    Convs followed by a norm have no bias (as in the generator).

    ``forward(x)`` returns ``[feat_1, ..., feat_{n_layers+1}, logits]``: the activations after the
    first conv and after each strided block, then the ``N x 1 x h' x w'`` logit map.
    """

    def __init__(self, base: int = 64, max_ch: int = 512, n_layers: int = 4, spectral: bool = True):
        super().__init__()
        if base < 1 or max_ch < 1 or n_layers < 0:
            raise ValueError(f"PatchDiscriminator needs base, max_ch >= 1 and n_layers >= 0, got "
                             f"{base}, {max_ch}, {n_layers}")
        self.n_layers = n_layers
        chans = [min(base * 2 ** i, max_ch) for i in range(n_layers + 1)]
        self.head = ConvLayer(3, chans[0], act="leakyrelu", spectral=spectral)
        self.blocks = nn.ModuleList(
            ConvLayer(chans[i], chans[i + 1], "down", norm="in", act="leakyrelu", spectral=spectral)
            for i in range(n_layers))
        conv = nn.Conv2d(chans[-1], 1, 3)
        self.out = nn.utils.spectral_norm(conv) if spectral else conv

    def logit_size(self, size: int) -> int:
        """Side of the logit map for an input side ``size`` (<= 0: too small to run)."""
        if size < 2:  # the reflection pad of the first conv needs 2 pixels
            return 0
        for _ in range(self.n_layers):
            size = -(-size // 2)
        return size - 2

    def forward(self, x):
        feats = [self.head(x)]
        for b in self.blocks:
            feats.append(b(feats[-1]))
        return feats + [self.out(feats[-1])]


class SPARNetHDDiscriminator(nn.Module):
    """SPARNetHD's multi-scale discriminator: ``num_d`` :class:`PatchDiscriminator` s (separate weights)
    on the image at full, half, quarter ... size.

    Input: ``N x 3 x H x W`` in [0, 1] (mapped to [-1, 1] inside, the generator's range). Between scales
    the image is halved (``H // 2``) with :func:`facesr.data.resize.resize` (PIL's antialiased bicubic,
    differentiable), the notes' "bicubic". Output: a list over scales (finest first) of lists
    ``[feat_1, ..., feat_k, logits]`` (k = ``n_layers + 1``), the form the GAN recipe's losses take:
    hinge and feature matching average over scales (SPARNetHD's "/num_D").

    The preset ``sparnethd-d`` has the paper's widths (``base=64, max_ch=512, n_layers=4``, 11,750,403
    parameters for three scales); smaller settings exist for tests. Its smallest scale needs a side of
    at least ``2**(n_layers + 1) + 1`` pixels (33); :meth:`min_input_size` gives the input's
    (132 for the preset), and smaller inputs raise ``ValueError``. Initialisation: conv weights
    N(0, 0.02), biases 0, InstanceNorm 1 / 0, spectral norm set to its fixed point
    (:func:`init_sparnet_weights`).
    """

    def __init__(self, num_d: int = 3, base: int = 64, max_ch: int = 512, n_layers: int = 4, spectral: bool = True):
        super().__init__()
        if num_d < 1:
            raise ValueError(f"num_d must be at least 1, got {num_d}")
        self.scales = nn.ModuleList(PatchDiscriminator(base, max_ch, n_layers, spectral) for _ in range(num_d))
        init_sparnet_weights(self)

    @property
    def num_d(self) -> int:
        return len(self.scales)

    def scale_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        """The image size each scale sees for an ``h x w`` input."""
        out = [(h, w)]
        for _ in range(self.num_d - 1):
            h, w = h // 2, w // 2
            out.append((h, w))
        return out

    def logit_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        """The logit map size of each scale for an ``h x w`` input (a value <= 0: too small)."""
        d = self.scales[0]
        return [(d.logit_size(a), d.logit_size(b)) for a, b in self.scale_sizes(h, w)]

    def min_input_size(self) -> int:
        """The smallest square input side every scale can run on."""
        s = 1
        while min(min(hw) for hw in self.logit_sizes(s, s)) < 1:
            s += 1
        return s

    def forward(self, img):
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"{type(self).__name__} expects N x 3 x H x W, got {tuple(img.shape)}")
        h, w = img.shape[-2:]
        if min(min(hw) for hw in self.logit_sizes(h, w)) < 1:
            raise ValueError(f"{type(self).__name__} with {self.num_d} scales needs inputs of at least "
                             f"{self.min_input_size()} px, got {h}x{w}")
        x = img * 2.0 - 1.0
        outs = []
        for i, d in enumerate(self.scales):
            if i:
                x = resize(x, (x.shape[-2] // 2, x.shape[-1] // 2), "bicubic")
            outs.append(d(x))
        return outs
