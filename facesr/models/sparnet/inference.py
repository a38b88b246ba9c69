"""SPARNet / SPARNetHD's own inference rewrite: an eval-only copy computing the same function.

:func:`inference_rewrite` (reached through ``SPARNet.inference_rewrite`` / ``SPARNetHD.inference_rewrite``,
which :mod:`facesr.deploy` calls for its ``torch`` back-end and its exporters) returns a NEW module; the model
handed in is not touched. Outputs agree with ``model.eval()`` to float rounding (max abs difference < 1e-4
on the [0, 1] outputs, tested in tests/test_sparnet_inference.py). The rewrites, each exact algebra:

* eval BatchNorm after a conv folded into the conv (in float64, stored in the model's dtype); the FAU's
  pre-activation BatchNorm becomes a per-channel affine;
* nearest x2 upsampling + reflection pad + 3x3 conv computed at low resolution, as one transposed conv
  (kernel 4, stride 2) on the replicate-padded input (``up_mode='transposed'``), or kept as it is
  (``'nearest'``);
* one reflection pad shared by convs that read the same input (FAU shortcut and conv1; hourglass skip and
  down);
* spectral norm materialised with its stored vectors; InstanceNorm kept (computed in place on
  channels_last tensors);
* optionally channels_last activations and weights, and oneDNN convolutions called directly with weights
  packed once per input shape and the activation (or the attention sigmoid) fused (``mkldnn``; float32 CPU).

While traced or exported (TorchScript, ONNX, ``torch.export``) the module uses out-of-place standard ops
only. Use the returned module under ``torch.no_grad()`` or ``torch.inference_mode()``; its parameters have
``requires_grad=False``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from ..common import SRModel, bn_affine

__all__ = ["inference_rewrite", "rewrite_for", "OptimizedSR", "OptimizedBody", "OptimizedFAU", "OptimizedHourglass",
           "OptimizedConv", "mkldnn_available", "UP_MODES"]


def _has_op(name: str) -> bool:
    try:
        getattr(torch.ops.mkldnn, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def mkldnn_available() -> bool:
    """Whether oneDNN's fused, pre-packed convolution ops can be used in this torch build."""
    try:
        return bool(torch.backends.mkldnn.is_available() and _has_op("_convolution_pointwise")
                    and hasattr(torch._C._nn, "mkldnn_reorder_conv2d_weight"))
    except Exception:  # pragma: no cover - exotic builds
        return False


def _mkldnn_transposed_available() -> bool:
    return mkldnn_available() and _has_op("_convolution_transpose_pointwise") \
        and _has_op("_reorder_convolution_transpose_weight")


_tracing_state = torch._C._get_tracing_state
try:
    from torch.compiler import is_compiling as _is_compiling
except ImportError:  # pragma: no cover - torch < 2.3
    try:
        from torch._dynamo import is_compiling as _is_compiling
    except ImportError:
        def _is_compiling() -> bool:
            return False


def _functional() -> bool:
    """True while tracing (TorchScript, and so the TorchScript ONNX exporter) or compiling (dynamo,
    torch.export): use out-of-place, export-friendly ops only. Called several times per conv, so it
    checks the two flags directly (``torch.onnx.is_in_onnx_export()`` imports on every call: ~2 us)."""
    return _tracing_state() is not None or _is_compiling()


def _version(t: torch.Tensor) -> int:
    """``t``'s in-place version counter (0 for inference tensors, which have none)."""
    try:
        return t._version
    except RuntimeError:
        return 0


@dataclass(frozen=True)
class _Opts:
    fold_bn: bool = True
    up_mode: str = "transposed"
    mkldnn: bool = False
    channels_last: bool = False


# ----------------------------------------------------------------------------------------- helpers
def _conv_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The weight the conv uses in eval mode (spectral norm materialised with its stored u, v)."""
    with torch.no_grad():
        for hook in conv._forward_pre_hooks.values():
            if type(hook).__name__ == "SpectralNorm":  # torch.nn.utils.spectral_norm (old-style hook)
                return hook.compute_weight(conv, do_power_iteration=False).detach().clone()
        return conv.weight.detach().clone()  # plain, or parametrizations.* (no power iteration in eval)


class _Act(nn.Module):
    """An activation applied in place (the tensors it is given are fresh), or fused into the conv."""

    def __init__(self, act: nn.Module):
        super().__init__()
        self.kind, self.slope, self.module = "module", 0.0, None
        if isinstance(act, nn.LeakyReLU):
            self.kind, self.slope = "leaky", float(act.negative_slope)
        elif isinstance(act, nn.ReLU):
            self.kind = "relu"
        elif isinstance(act, nn.Identity):
            self.kind = "none"
        else:  # PReLU or anything else: run the module (copied) as it is
            self.module = copy.deepcopy(act)

    def mkldnn_attr(self):
        """(attr, scalars) of oneDNN's post-op for this activation, or None."""
        if self.kind == "leaky":
            return "leaky_relu", [self.slope]
        if self.kind == "relu":
            return "relu", []
        if self.kind == "none":
            return "none", []
        return None

    def forward(self, x):
        if self.kind == "none":
            return x
        if _functional():
            return F.leaky_relu(x, self.slope) if self.kind == "leaky" else \
                torch.relu(x) if self.kind == "relu" else self.module(x)
        if self.kind == "leaky":
            return F.leaky_relu_(x, self.slope)
        if self.kind == "relu":
            return torch.relu_(x)
        return self.module(x)


class _InstanceNorm(nn.Module):
    """Eval ``InstanceNorm2d`` without running statistics, in place on a channels_last tensor:
    ``d = x - mean(x)``, ``var = mean(d * d)`` (per sample and channel), ``d * (w / sqrt(var + eps)) + b``.
    While traced / exported it runs the module itself (ONNX: InstanceNormalization)."""

    def __init__(self, norm: nn.InstanceNorm2d):
        super().__init__()
        self.module = copy.deepcopy(norm)

    def forward(self, x):
        if _functional():
            return self.module(x)
        d = x - x.mean(dim=(2, 3), keepdim=True)
        scale = torch.rsqrt((d * d).mean(dim=(2, 3), keepdim=True) + self.module.eps)
        w, b = self.module.weight, self.module.bias
        if w is not None:
            scale = scale * w.view(1, -1, 1, 1)
        if torch.is_grad_enabled():  # autograd may track this: no in-place ops, no out=
            return d * scale if b is None else torch.addcmul(b.view(1, -1, 1, 1), d, scale)
        if b is None:
            return d.mul_(scale)
        return torch.addcmul(b.view(1, -1, 1, 1), d, scale, out=d)


def _eval_norm(norm: nn.Module):
    """A norm that could not be folded, for eval: None for Identity, :class:`_InstanceNorm` for an
    InstanceNorm2d that normalises by the input's own statistics, otherwise a copy of the module."""
    if isinstance(norm, nn.Identity):
        return None
    if isinstance(norm, nn.InstanceNorm2d) and not norm.track_running_stats:
        return _InstanceNorm(norm)
    return copy.deepcopy(norm)


# Phase a of a nearest-x2 upsampled axis, as a map from the 3 taps of the 3x3 kernel to the offsets
# (0, 1) of a 2x2 kernel on the replicate-padded low-res input; phase a of the result is rows a..a+H-1
# of the 2x2 conv's (H+1)-row output.
# ----------------------------------------------------------------------------------------- layers
# The tap sums of nearest-x2 upsampling + 3x3 conv as a transposed conv (kernel 4, stride 2, padding 3,
# on the replicate-padded low-res input): K[t] = w2, w1 + w2, w0 + w1, w0 for t = 0..3 per axis.
_TRANSPOSED = [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def _transposed_weight(w: torch.Tensor) -> torch.Tensor:
    """(cout, cin, 3, 3) -> (cin, cout, 4, 4) transposed-conv weight, float64."""
    k = torch.tensor(_TRANSPOSED, dtype=torch.float64, device=w.device)
    return torch.einsum("ak,ockl,bl->coab", k, w.double(), k).contiguous()


UP_MODES = ("transposed", "nearest")


class OptimizedConv(nn.Module):
    """An eval-only ``ConvLayer``: [up] -> reflection pad -> conv -> norm -> act, norm folded.

    ``forward(x)`` pads itself; ``forward_padded(xp)`` takes an input the caller padded (a pad shared
    between two convs). ``up`` layers (nearest x2 -> reflect pad -> 3x3 conv) are computed at low
    resolution on the replicate-padded input (``pad_mode == 'replicate'``) as one transposed conv
    (``up_mode='transposed'``: kernel 4, stride 2); ``'nearest'`` keeps the original formulation.
    ``post_sigmoid`` (set by the hourglass for its output conv) appends a sigmoid.
    """

    MAX_PACKINGS = 4  # oneDNN weight packings kept per conv (one per input shape and thread count)

    def __init__(self, layer: nn.Module, opts: _Opts = _Opts()):
        super().__init__()
        conv: nn.Conv2d = layer.conv
        like = getattr(conv, "weight_orig", None)
        like = conv.weight if like is None else like
        k = conv.kernel_size[0]
        self.up = bool(layer.up)
        self.pad = tuple(layer.pad.padding) if isinstance(layer.pad, nn.ReflectionPad2d) else (0, 0, 0, 0)
        self.stride = conv.stride[0]
        w = _conv_weight(conv).double()
        b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64,
                                                                                   device=w.device)
        aff = bn_affine(layer.norm) if opts.fold_bn else None
        if aff is not None:
            s, t = aff
            w = w * s.view(-1, 1, 1, 1)
            b = b * s + t
            self.norm = None
        else:
            self.norm = _eval_norm(layer.norm)
        self.cout = w.shape[0]
        mode = "nearest"
        if (self.up and k == 3 and self.stride == 1 and self.pad == (1, 1, 1, 1) and conv.dilation == (1, 1)
                and conv.groups == 1):
            mode = opts.up_mode
        self.mode = mode if self.up else "none"
        if self.mode == "transposed":
            w = _transposed_weight(w)
        fmt = torch.channels_last if opts.channels_last else torch.contiguous_format
        self.weight = nn.Parameter(w.to(like.dtype).contiguous(memory_format=fmt), requires_grad=False)
        self.bias = nn.Parameter(b.to(like.dtype), requires_grad=False)
        act = _Act(layer.act)
        # with the norm folded the activation runs on the conv output directly (fused into the conv)
        self.act_in_conv = self.norm is None
        self.act = act
        self.post_sigmoid = False
        self.use_mkldnn = bool(opts.mkldnn) and conv.groups == 1 and conv.dilation == (1, 1) and (
            self.mode != "transposed" or _mkldnn_transposed_available())
        # oneDNN call plans and packed weights, made on first use, never pickled or deep-copied
        self._plans, self._packs, self._plans_for = {}, {}, None

    def __getstate__(self):
        d = self.__dict__.copy()
        d["_plans"], d["_packs"], d["_plans_for"] = {}, {}, None
        return d

    @property
    def low_res(self) -> bool:
        """An up layer computed at low resolution (on the replicate-padded input)."""
        return self.mode == "transposed"

    @property
    def pad_mode(self) -> str:
        return "replicate" if self.low_res else "reflect"

    def pad_input(self, x):
        if self.low_res:
            return F.pad(x, (1, 1, 1, 1), mode="replicate")
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if any(self.pad):
            x = F.pad(x, self.pad, mode="reflect")
        return x

    # ---- the convolution itself (+ activation / sigmoid, fused where possible)
    def _fused_attr(self, with_act: bool):
        if self.post_sigmoid:
            if with_act and self.act.kind != "none":
                return None
            return "sigmoid", []
        return self.act.mkldnn_attr() if with_act else ("none", [])

    def _pack(self, xp):
        """The weight reordered into oneDNN's blocked layout for inputs shaped like ``xp``."""
        w = self.weight.detach().contiguous()
        if self.mode == "transposed":
            return torch.ops.mkldnn._reorder_convolution_transpose_weight(
                w, [3, 3], [0, 0], [2, 2], [1, 1], 1, list(xp.shape))
        return torch._C._nn.mkldnn_reorder_conv2d_weight(
            w.to_mkldnn(), [0, 0], [self.stride, self.stride], [1, 1], 1, list(xp.shape))

    def _mkldnn_plan(self, xp, with_act: bool):
        """(op overload, packed weight, trailing args, fused?) of the oneDNN call for this input.

        Weights are packed per (input shape, thread count), as oneDNN chooses its layout for both; a conv
        keeps its last ``MAX_PACKINGS`` packings and drops them all when its weight tensor is replaced or
        modified in place (``load_state_dict``).
        """
        wkey = (self.weight.data_ptr(), _version(self.weight), self.weight.dtype, self.weight.device)
        if self._plans_for != wkey:
            self._plans, self._packs, self._plans_for = {}, {}, wkey
        pkey = (torch.get_num_threads(), tuple(xp.shape))
        key = (with_act,) + pkey
        plan = self._plans.get(key)
        if plan is None:
            packed = self._packs.get(pkey)
            if packed is None:
                if len(self._packs) >= self.MAX_PACKINGS:  # forget the oldest packing and its plans
                    old = list(self._packs)[0]
                    self._packs.pop(old, None)
                    self._plans = {k: p for k, p in list(self._plans.items()) if k[1:] != old}
                packed = self._packs[pkey] = self._pack(xp)
            attr = self._fused_attr(with_act)
            fused = attr is not None
            name, scalars = attr or ("none", [])
            if self.mode == "transposed":
                op = torch.ops.mkldnn._convolution_transpose_pointwise.default
                args = ([3, 3], [0, 0], [2, 2], [1, 1], 1, name, scalars, None)
            else:
                op = torch.ops.mkldnn._convolution_pointwise.default
                args = ([0, 0], [self.stride, self.stride], [1, 1], 1, name, scalars, None)
            plan = self._plans[key] = (op, packed, args, fused)
        return plan

    def _conv(self, xp, with_act: bool):
        """conv(xp) + bias, then (if ``with_act``) the activation, then the optional sigmoid."""
        if self.use_mkldnn and xp.dtype is torch.float32 and xp.device.type == "cpu" and not _functional():
            op, w, args, fused = self._mkldnn_plan(xp, with_act)
            y = op(xp, w, self.bias, *args)
            if fused:
                return y
        elif self.mode == "transposed":
            y = F.conv_transpose2d(xp, self.weight, self.bias, stride=2, padding=3)
        else:
            y = F.conv2d(xp, self.weight, self.bias, self.stride)  # up modes only arise at stride 1
        if with_act:
            y = self.act(y)
        if self.post_sigmoid:
            y = torch.sigmoid(y) if _functional() else torch.sigmoid_(y)
        return y

    def forward_padded(self, xp):
        if self.act_in_conv:
            return self._conv(xp, with_act=True)
        else:
            out = self._conv(xp, with_act=False)
        if self.norm is not None:
            out = self.norm(out)
        return out if self.act_in_conv else self.act(out)

    def forward(self, x):
        return self.forward_padded(self.pad_input(x))

    def forward_add_(self, x, acc):
        """``acc + self(x)``, computed in place into ``acc`` (a fresh tensor the caller owns)."""
        y = self.forward(x)
        return acc + y if _functional() else acc.add_(y)


class _PreAct(nn.Module):
    """FAU pre-activation: eval BN as a per-channel affine, then the activation."""

    def __init__(self, seq: nn.Sequential, opts: _Opts = _Opts()):
        super().__init__()
        norm, act = seq[0], seq[1]
        aff = bn_affine(norm) if opts.fold_bn else None
        if aff is not None:
            like = norm.running_mean
            self.register_buffer("scale", aff[0].to(like.dtype).view(1, -1, 1, 1))
            self.register_buffer("shift", aff[1].to(like.dtype).view(1, -1, 1, 1))
            self.norm = None
        else:
            self.scale = self.shift = None
            self.norm = _eval_norm(norm)
        self.act = _Act(act)

    @property
    def pointwise(self) -> bool:
        """Acts on each pixel on its own (so it commutes with padding)?"""
        return self.norm is None

    def forward(self, x):
        if self.scale is not None:
            if _functional():  # plain ops: exporters (pnnx for ncnn) need not know addcmul
                return self.act(x * self.scale + self.shift)
            return self.act(torch.addcmul(self.shift, x, self.scale))
        if self.norm is not None:
            return self.act(self.norm(x))
        # no norm: an in-place activation would overwrite the caller's x (the shortcut needs it)
        return self.act(x.clone()) if self.act.kind in ("leaky", "relu") else self.act(x)


class OptimizedHourglass(nn.Module):
    def __init__(self, hg: nn.Module, opts: _Opts = _Opts()):
        super().__init__()
        self.depth = hg.depth
        self.skip = nn.ModuleList([OptimizedConv(m, opts) for m in hg.skip])
        self.down = nn.ModuleList([OptimizedConv(m, opts) for m in hg.down])
        self.up = nn.ModuleList([OptimizedConv(m, opts) for m in hg.up])
        self.bottom = OptimizedConv(hg.bottom, opts)
        self.out = OptimizedConv(hg.out, opts)
        self.out.post_sigmoid = True
        self.keep_map = False
        self.last_map: torch.Tensor | None = None

    def _level(self, i: int, x):
        skip_c, down_c = self.skip[i], self.down[i]
        if skip_c.pad_mode == down_c.pad_mode and skip_c.pad == down_c.pad and not skip_c.up and not down_c.up:
            xp = skip_c.pad_input(x)
            skip, low = skip_c.forward_padded(xp), down_c.forward_padded(xp)
        else:
            skip, low = skip_c(x), down_c(x)
        low = self._level(i + 1, low) if i + 1 < self.depth else self.bottom(low)
        if low.shape[-1] * 2 == skip.shape[-1] and low.shape[-2] * 2 == skip.shape[-2]:
            return self.up[i].forward_add_(low, skip)
        up = self.up[i](low)
        if up.shape[-2:] != skip.shape[-2:]:
            up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
        return skip + up

    def forward(self, x):
        m = self.out(self._level(0, x) if self.depth else self.bottom(x))
        if self.keep_map:
            self.last_map = m.detach()
        return m


class OptimizedFAU(nn.Module):
    def __init__(self, fau: nn.Module, opts: _Opts = _Opts()):
        super().__init__()
        self.shortcut = None if isinstance(fau.shortcut, nn.Identity) else OptimizedConv(fau.shortcut, opts)
        self.preact = _PreAct(fau.preact, opts)
        self.conv1 = OptimizedConv(fau.conv1, opts)
        self.conv2 = OptimizedConv(fau.conv2, opts)
        self.attn = None if fau.attn is None else OptimizedHourglass(fau.attn, opts)
        # pad x once for the shortcut and (through the per-pixel pre-activation) for conv1
        sc, c1 = self.shortcut, self.conv1
        self.share_pad = bool(sc is not None and self.preact.pointwise and sc.pad_mode == c1.pad_mode
                              and sc.pad == c1.pad and sc.up == c1.up and (not c1.up or c1.low_res))

    def forward(self, x):
        if self.share_pad:
            xp = self.shortcut.pad_input(x)
            s = self.shortcut.forward_padded(xp)
            h = self.conv1.forward_padded(self.preact(xp))
        else:
            s = x if self.shortcut is None else self.shortcut(x)
            h = self.conv1(self.preact(x))
        h = self.conv2(h)
        if _functional():
            return s + h if self.attn is None else s + h * self.attn(h)
        if self.attn is None:
            return h.add_(s)  # h is a fresh tensor; s may be the caller's x
        if self.shortcut is None:
            return torch.addcmul(s, h, self.attn(h))
        return s.addcmul_(h, self.attn(h))


class OptimizedBody(nn.Module):
    """Eval-only :class:`~facesr.models.sparnet.SPARNetBody` (same input/output convention)."""

    def __init__(self, body: nn.Module, opts: _Opts = _Opts()):
        super().__init__()
        self.head = OptimizedConv(body.head, opts)
        self.units = nn.Sequential(*[OptimizedFAU(u, opts) for u in body.units])
        self.tail = OptimizedConv(body.tail, opts)
        self.channels_last = opts.channels_last

    def forward(self, x):
        if self.channels_last and not _functional():
            x = x.contiguous(memory_format=torch.channels_last)
            return self.tail(self.units(self.head(x))).contiguous()
        return self.tail(self.units(self.head(x)))

    def attention_units(self):
        return [u for u in self.units if u.attn is not None]


class OptimizedSR(SRModel):
    """Eval-only SPARNet / SPARNetHD: same input (LR in [0, 1]) and output (SR in [0, 1], clamped).

    The PIL-bicubic input upsampling is the same two matmuls as :func:`facesr.data.resize.resize`, with
    the weight matrices kept as buffers (so the module traces / exports as a plain graph).
    """

    def __init__(self, model: nn.Module, opts: _Opts = _Opts()):
        super().__init__()
        from ...data.resize import weight_matrix

        self.lr_size, self.hr_size = int(model.lr_size), int(model.hr_size)
        self.kind = type(model).__name__
        self.global_skip = bool(getattr(model, "global_skip", False))
        self.net = OptimizedBody(model.net, opts)
        like = next(model.parameters())
        up_h = up_wt = None
        if self.lr_size != self.hr_size:
            up_h = torch.tensor(weight_matrix(self.lr_size, self.hr_size, "bicubic"), dtype=like.dtype,
                                device=like.device)
            up_wt = up_h.t().contiguous()
        self.register_buffer("up_h", up_h, persistent=False)
        self.register_buffer("up_wt", up_wt, persistent=False)

    def upsample_input(self, lr):
        if self.up_h is None:
            return lr
        return torch.matmul(self.up_h, torch.matmul(lr, self.up_wt))

    def forward(self, lr):
        if self.kind == "SPARNetHD":
            if lr.ndim != 4 or lr.shape[1] != 3:
                raise ValueError(f"SPARNetHD expects N x 3 x H x W, got {tuple(lr.shape)}")
            if lr.shape[-1] == self.hr_size:
                x = lr
            elif lr.shape[-1] == self.lr_size and lr.shape[-2] == self.lr_size:
                x = self.upsample_input(lr)
            else:
                from ...data.resize import resize

                x = resize(lr, self.hr_size, "bicubic")
            x = x * 2.0 - 1.0
            y = self.net(x)
            if self.global_skip:
                y = y + x
            return ((y + 1.0) * 0.5).clamp(0.0, 1.0)
        if not _functional():
            self.check_input(lr)
        x = self.upsample_input(lr) * 2.0 - 1.0
        y = self.net(x)
        if self.global_skip:
            y = y + x
        return ((y + 1.0) * 0.5).clamp(0.0, 1.0)

    def attention_maps(self, lr) -> list[torch.Tensor]:
        from .arch import collect_attention_maps

        return collect_attention_maps(self, lr)




def inference_rewrite(model: nn.Module, *, fold_bn: bool = True, up_mode: str = "transposed",
                      channels_last: bool | None = None, mkldnn: bool = True) -> nn.Module:
    """An eval-only :class:`OptimizedSR` (or :class:`OptimizedBody`) computing ``model.eval()``'s function.

    ``model``: a SPARNet / SPARNetHD (or their ``SPARNetBody``); it is not modified (its train/eval mode is
    restored). ``fold_bn``: fold eval BatchNorm into the preceding convs. ``up_mode``: one of
    :data:`UP_MODES`. ``channels_last`` (None: on for float32 CPU models) and ``mkldnn`` (direct oneDNN
    calls; float32 CPU only, ignored where this torch build lacks the ops) apply to eager runs; exporters
    pass ``channels_last=False, mkldnn=False``. Raises ``TypeError`` for any other model and ``ValueError``
    for an unknown ``up_mode``.
    """
    from .arch import SPARNet, SPARNetBody, SPARNetHD

    if up_mode not in UP_MODES:
        raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
    p = next(model.parameters(), None)
    on_cpu_f32 = p is None or (p.device.type == "cpu" and p.dtype == torch.float32)
    if channels_last is None:
        channels_last = on_cpu_f32
    opts = _Opts(fold_bn=fold_bn, up_mode=up_mode, mkldnn=bool(mkldnn) and on_cpu_f32 and mkldnn_available(),
                 channels_last=bool(channels_last))
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, (SPARNet, SPARNetHD)) and isinstance(model.net, SPARNetBody):
            new = OptimizedSR(model, opts)
        elif isinstance(model, SPARNetBody):
            new = OptimizedBody(model, opts)
        else:
            raise TypeError(f"inference_rewrite takes a SPARNet / SPARNetHD, not {type(model).__name__}")
    finally:
        model.train(was_training)
    new.eval()
    for q in new.parameters():
        q.requires_grad_(False)
    if hasattr(model, "facesr_meta"):
        new.facesr_meta = copy.deepcopy(model.facesr_meta)
    return new


def rewrite_for(model: nn.Module, target: str = "torch") -> nn.Module:
    """:func:`inference_rewrite` with the settings for ``target``: ``"torch"`` (eager runs: defaults),
    ``"onnx"`` (plain ops, NCHW, low-resolution transposed up-convs) or ``"ncnn"`` (plain ops, NCHW,
    up-convs kept at full resolution, which ncnn runs as Winograd convolutions). ``ValueError`` otherwise."""
    if target == "torch":
        return inference_rewrite(model)
    if target == "onnx":
        return inference_rewrite(model, channels_last=False, mkldnn=False)
    if target == "ncnn":
        return inference_rewrite(model, up_mode="nearest", channels_last=False, mkldnn=False)
    raise ValueError(f"unknown inference target {target!r}; choose one of torch, onnx, ncnn")
