"""A faster, numerically equivalent inference copy of a facesr model.

:func:`optimize_for_inference` returns a NEW module (the model handed in is not touched) that computes
the same function as ``model.eval()`` up to float rounding (tested: max abs difference < 1e-4 on the
[0, 1] outputs; in float64 the two agree to ~1e-12 relative, so every rewrite below is exact algebra).
What it does to SPARNet / SPARNetHD:

* **Conv -> BatchNorm folding.** Every ``ConvLayer`` is reflection pad -> conv -> norm -> act. Eval BN
  is ``y = x * s + t`` per channel (``s = gamma / sqrt(var + eps)``, ``t = beta - mean * s``), so
  ``BN(conv(x; W))`` is ``conv(x; W * s) + t`` (folded in float64, stored in the model's dtype).
* **Pre-activation BN** (FAU: BN -> act -> conv) cannot cross the nonlinearity into the conv; it
  becomes the per-channel affine ``addcmul(t, x, s)`` (which is all eval BN is), the act in place.
* **Nearest x2 upsampling + reflection pad + 3x3 conv at low resolution.** Reflection padding after
  nearest upsampling equals replicate padding before it, and a pixel of the upsampled image sees only
  2x2 distinct input pixels, so the layer is one conv on ``replicate_pad(x)`` whose taps are sums of the
  3x3 taps: a transposed conv with a 4x4 kernel and stride 2 (``up_mode='transposed'``, default;
  per axis the taps are ``w2, w1+w2, w0+w1, w0``) or, equivalently, a 2x2 conv with ``4 * cout``
  filters whose four phase outputs are interleaved (``'subpixel'``; in the hourglass the interleave is
  fused with ``skip + up``). Either way 16/36 of the multiply-adds and no upsampled/padded full-size
  tensor.
* **Shared padding.** Reflection padding commutes with per-pixel ops, so a FAU pads its input once for
  its shortcut conv and (through the pre-activation affine + act) for ``conv1``; each hourglass level
  pads once for its ``skip`` and ``down`` convs.
* **channels_last** (NHWC) activations and weights: oneDNN's native layout, no per-call reorders.
* **Spectral norm** (SPARNetHD) is materialised: in eval its weight is ``W / sigma(u, v)`` with the
  stored ``u, v``, computed once. InstanceNorm depends on the input and is kept, computed in place on
  the channels_last tensor (:class:`_InstanceNorm`).
* Identity shortcuts / norms / activations disappear; ``shortcut + h * attention`` is one in-place
  ``addcmul``; the PIL-bicubic input upsampling keeps its two matmuls, weight matrices as buffers.
* **oneDNN called directly** (``mkldnn=True``, the default on float32 CPU models where this torch build
  has the ops): weights reordered once into oneDNN's blocked layout, the activation (or the attention
  sigmoid) fused into the convolution.

Options measured and left off by default (see :func:`optimize_for_inference`): TorchScript
``freeze`` + ``optimize_for_inference`` (``jit=True``), and Winograd F(2x2, 3x3) convolutions in export /
compile graphs (``winograd=2``; in an AOTInductor package of SPARNet 5 % faster at batch 1 for 4.4x the
compile time: benchmarks/results/aoti_winograd.md).

Use the returned module under ``torch.inference_mode()`` (its parameters have ``requires_grad=False``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from ..models.common import SRModel

__all__ = ["optimize_for_inference", "OptimizedSR", "OptimizedBody", "OptimizedFAU", "OptimizedHourglass",
           "OptimizedConv", "mkldnn_available"]


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
    winograd: int = 0  # output tile m of Winograd F(m x m, 3 x 3) in the compiled graph (0: off)
    winograd_min_channels: int = 128


# ----------------------------------------------------------------------------------------- helpers
def _conv_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The weight the conv uses in eval mode (spectral norm materialised with its stored u, v)."""
    with torch.no_grad():
        for hook in conv._forward_pre_hooks.values():
            if type(hook).__name__ == "SpectralNorm":  # torch.nn.utils.spectral_norm (old-style hook)
                return hook.compute_weight(conv, do_power_iteration=False).detach().clone()
        return conv.weight.detach().clone()  # plain, or parametrizations.* (no power iteration in eval)


def _bn_affine(bn: nn.Module):
    """(scale, shift) in float64 of an eval-mode BatchNorm2d, or None when it cannot be folded."""
    if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None or bn.running_var is None:
        return None
    scale = torch.rsqrt(bn.running_var.detach().double() + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.detach().double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift


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

    def tiled(self, reps: int) -> "_Act":
        """The same activation for ``reps`` stacked copies of the channels (PReLU slopes repeated)."""
        out = copy.deepcopy(self)
        if isinstance(self.module, nn.PReLU) and self.module.weight.numel() > 1:
            w = self.module.weight.detach().repeat(reps)
            out.module = nn.PReLU(w.numel()).to(w.device, w.dtype)
            with torch.no_grad():
                out.module.weight.copy_(w)
        return out


class _InstanceNorm(nn.Module):
    """Eval ``InstanceNorm2d`` without running statistics on a channels_last tensor, in place:
    ``d = x - mean(x)``, ``var = mean(d * d)`` (per sample and channel), ``d * (w / sqrt(var + eps)) + b``.
    Torch's ``instance_norm`` copies a channels_last input to NCHW and back around a batch-norm call
    (SPARNetHD at 512 px: 19 % of the optimised forward), and ``var_mean`` over H, W of an NHWC tensor is
    slow (1.3-10x the two means at 512 px to 32 px; same precision, ~1e-6 against float64; both measured
    once, ad hoc, on the 2-core test machine).
    The export path (tracing) uses the module itself, which ONNX exports as InstanceNormalization."""

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
_PHASE = ([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _subpixel_weight(w: torch.Tensor) -> torch.Tensor:
    """(cout, cin, 3, 3) -> (4 * cout, cin, 2, 2): phase-major (a, b) 2x2 kernels, float64."""
    w = w.double()
    ph = [torch.tensor(p, dtype=torch.float64, device=w.device) for p in _PHASE]
    return torch.cat([torch.einsum("ik,ockl,jl->ocij", ph[a], w, ph[b]) for a in (0, 1) for b in (0, 1)], 0)


def _interleave_functional(y: torch.Tensor, c: int) -> torch.Tensor:
    """Export-friendly interleave: Slice x4 -> Concat -> Reshape -> Transpose -> Reshape."""
    h, w = y.shape[-2] - 1, y.shape[-1] - 1
    ph = [y[:, p * c:(p + 1) * c, a:a + h, b:b + w] for p, (a, b) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1)))]
    z = torch.stack(ph, 2).reshape(-1, 4 * c, h, w)  # channel k*4 + (2a + b)
    return F.pixel_shuffle(z, 2)


# ----------------------------------------------------------------------------------------- layers
# The tap sums of nearest-x2 upsampling + 3x3 conv as a transposed conv (kernel 4, stride 2, padding 3,
# on the replicate-padded low-res input): K[t] = w2, w1 + w2, w0 + w1, w0 for t = 0..3 per axis.
_TRANSPOSED = [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


def _transposed_weight(w: torch.Tensor) -> torch.Tensor:
    """(cout, cin, 3, 3) -> (cin, cout, 4, 4) transposed-conv weight, float64."""
    k = torch.tensor(_TRANSPOSED, dtype=torch.float64, device=w.device)
    return torch.einsum("ak,ockl,bl->coab", k, w.double(), k).contiguous()


UP_MODES = ("transposed", "subpixel", "nearest")

# Winograd F(m x m, 3 x 3) (Lavin & Gray 2016): y = A^T [ (G g G^T) . (B^T d B) ] A per (m+2)^2 input tile d.
# Rows of B^T, G, A^T for the interpolation points 0, 1, -1 and infinity (m = 2). F(4x4, 3x3) (points
# 0, +-1, +-2) was tried and left out: in the SPARNet AOTInductor package it ran slower than the plain
# package and took 44 min to compile, and hand-written transforms beat the pre-packed oneDNN conv only
# at 128 channels (figures and commands: README, "Fast inference and export").
# (inductor's "vr must not be None" on F(4x4) came from an up-conv's replicate pad reading the
# Winograd output through a clamped index; a pad written as concatenated slices compiles.)
_WINOGRAD = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
}
WINOGRAD_TILES = (0, 2)


def _winograd_weight(w: torch.Tensor, m: int) -> torch.Tensor:
    """(cout, cin, 3, 3) -> (a*a, cin, cout) with a = m + 2: ``G w G^T`` per filter, float64."""
    g = torch.tensor(_WINOGRAD[m][1], dtype=torch.float64, device=w.device)
    u = torch.einsum("ai,kcij,bj->abck", g, w.double(), g)
    return u.reshape(-1, w.shape[1], w.shape[0]).contiguous()


def _lincomb(coefs, xs):
    """sum(c * x) over the nonzero ``coefs``, written as element-wise ops (fused by inductor)."""
    out = None
    for c, x in zip(coefs, xs):
        if c == 0:
            continue
        t = x if c == 1 else -x if c == -1 else x * float(c)
        out = t if out is None else out + t
    return out


def _winograd_conv(xp: torch.Tensor, u: torch.Tensor, bias: torch.Tensor, m: int) -> torch.Tensor:
    """3x3 stride-1 conv of the padded ``xp`` (N x C x (H+2) x (W+2), H and W multiples of ``m``) with
    the transformed weight ``u`` (:func:`_winograd_weight`), plus ``bias``, as Winograd F(m x m, 3 x 3):
    the input and output transforms are element-wise sums of strided views (which a compiler fuses into
    one loop each) around (m+2)^2 batched matrix products over channels. Export graphs only: in eager
    mode these are many separate ops, slower than one oneDNN convolution."""
    bt, _, at = _WINOGRAD[m]
    a = m + 2
    n, c, hp, wp = xp.shape
    th, tw = (hp - 2) // m, (wp - 2) // m
    x = xp.permute(0, 2, 3, 1)  # N x H x W x C: tiles' channels contiguous for channels_last inputs
    d = [[x[:, i:i + m * th:m, j:j + m * tw:m, :] for j in range(a)] for i in range(a)]
    rows = [[_lincomb(bt[p], [d[i][j] for i in range(a)]) for j in range(a)] for p in range(a)]
    v = torch.stack([_lincomb(bt[q], rows[p]) for p in range(a) for q in range(a)], 0)
    prod = torch.bmm(v.reshape(a * a, n * th * tw, c), u).reshape(a, a, n, th, tw, -1)
    s = [_lincomb(at[p], [prod[i] for i in range(a)]) for p in range(m)]
    y = [torch.stack([_lincomb(at[q], [s[p][j] for j in range(a)]) for q in range(m)], 3) for p in range(m)]
    y = torch.stack(y, 2).reshape(n, m * th, m * tw, -1) + bias
    return y.permute(0, 3, 1, 2)


class OptimizedConv(nn.Module):
    """An eval-only ``ConvLayer``: [up] -> reflection pad -> conv -> norm -> act, norm folded.

    ``forward(x)`` pads itself; ``forward_padded(xp)`` takes an input the caller padded (a pad shared
    between two convs). ``up`` layers (nearest x2 -> reflect pad -> 3x3 conv) are computed at low
    resolution on the replicate-padded input (``pad_mode == 'replicate'``), as one transposed conv
    (``up_mode='transposed'``: kernel 4, stride 2) or as one 2x2 conv with 4x the filters followed by an
    interleave of the 4 phases (``'subpixel'``); ``'nearest'`` keeps the original formulation.
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
        aff = _bn_affine(layer.norm) if opts.fold_bn else None
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
        if self.mode == "subpixel":
            w, b = _subpixel_weight(w), b.repeat(4)
        elif self.mode == "transposed":
            w = _transposed_weight(w)
        fmt = torch.channels_last if opts.channels_last else torch.contiguous_format
        self.weight = nn.Parameter(w.to(like.dtype).contiguous(memory_format=fmt), requires_grad=False)
        self.bias = nn.Parameter(b.to(like.dtype), requires_grad=False)
        act = _Act(layer.act)
        # with the norm folded the activation runs on the conv output directly (fused into the conv)
        self.act_in_conv = self.norm is None
        self.act = act.tiled(4) if (self.mode == "subpixel" and self.act_in_conv) else act
        self.post_sigmoid = False
        # Winograd weights for the compiled graph (3x3, stride 1, padded by 1, wide enough to gain)
        self.wino_m = 0
        wino = None
        if (opts.winograd and self.mode == "none" and k == 3 and self.stride == 1 and self.pad == (1, 1, 1, 1)
                and conv.dilation == (1, 1) and conv.groups == 1
                and min(w.shape[0], w.shape[1]) >= opts.winograd_min_channels):
            self.wino_m = int(opts.winograd)
            wino = _winograd_weight(w, self.wino_m).to(like.dtype)
        self.register_buffer("wino_u", wino, persistent=False)
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
        return self.mode in ("subpixel", "transposed")

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

        oneDNN picks its weight layout for the input shape and the number of threads; a weight packed for
        another batch size or thread count is reordered again on every call (measured once, ad hoc, on the
        2-core test machine: batch 16 on batch-1 packing 22 % slower, 1 thread on 2-thread packing 4x
        slower), so weights are packed per
        (shape, threads). Each packing is a full copy of the weight, so a conv keeps the last
        ``MAX_PACKINGS`` of them (e.g. enhance's batches of 16 and their remainder), and all are dropped
        when the weight tensor is replaced or modified in place (``load_state_dict``).
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
        elif self.wino_m and _functional() and (xp.shape[-2] - 2) % self.wino_m == 0 \
                and (xp.shape[-1] - 2) % self.wino_m == 0:
            y = _winograd_conv(xp, self.wino_u, self.bias, self.wino_m)
        else:
            y = F.conv2d(xp, self.weight, self.bias, self.stride)  # up modes only arise at stride 1
        if with_act:
            y = self.act(y)
        if self.post_sigmoid:
            y = torch.sigmoid(y) if _functional() else torch.sigmoid_(y)
        return y

    def _interleave(self, y, out=None):
        """The 4 phases of ``y`` written into (or, with ``out``, added onto) the 2x image."""
        c = self.cout
        if _functional():
            z = _interleave_functional(y, c)
            return z if out is None else out + z
        n, _, hp, wp = y.shape
        h, w = hp - 1, wp - 1
        add = out is not None
        if out is None:
            fmt = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) and c > 1 \
                else torch.contiguous_format
            out = torch.empty((n, c, 2 * h, 2 * w), dtype=y.dtype, device=y.device, memory_format=fmt)
        # one strided view of all four phases: y[n, (2a+b)c + k, i+a, j+b] -> out[n, k, 2i+a, 2j+b]
        sn, sc, sh, sw = y.stride()
        src = y.as_strided((n, c, h, 2, w, 2), (sn, sc, sh, 2 * c * sc + sh, sw, c * sc + sw), y.storage_offset())
        on, oc, oh, ow = out.stride()
        dst = out.as_strided((n, c, h, 2, w, 2), (on, oc, 2 * oh, oh, 2 * ow, ow), out.storage_offset())
        if add:
            dst.add_(src)
        else:
            dst.copy_(src)
        return out

    def forward_padded(self, xp):
        if self.mode == "subpixel":
            out = self._interleave(self._conv(xp, with_act=self.act_in_conv))
        elif self.act_in_conv:
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
        if self.mode == "subpixel" and self.act_in_conv and not self.post_sigmoid:
            return self._interleave(self._conv(self.pad_input(x), with_act=True), out=acc)
        y = self.forward(x)
        return acc + y if _functional() else acc.add_(y)


class _PreAct(nn.Module):
    """FAU pre-activation: eval BN as a per-channel affine, then the activation."""

    def __init__(self, seq: nn.Sequential, opts: _Opts = _Opts()):
        super().__init__()
        norm, act = seq[0], seq[1]
        aff = _bn_affine(norm) if opts.fold_bn else None
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
        from ..data.resize import weight_matrix

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
                from ..data.resize import resize

                x = resize(lr, self.hr_size, "bicubic")
            return ((self.net(x * 2.0 - 1.0) + 1.0) * 0.5).clamp(0.0, 1.0)
        if not _functional():
            self.check_input(lr)
        x = self.upsample_input(lr) * 2.0 - 1.0
        y = self.net(x)
        if self.global_skip:
            y = y + x
        return ((y + 1.0) * 0.5).clamp(0.0, 1.0)

    def attention_maps(self, lr) -> list[torch.Tensor]:
        from ..models.sparnet import collect_attention_maps

        return collect_attention_maps(self, lr)


# ----------------------------------------------------------------------------------------- generic
def _replace_convlayers(module: nn.Module, opts: _Opts) -> None:
    from ..models.common import ConvLayer

    for name, child in list(module.named_children()):
        if isinstance(child, ConvLayer):
            setattr(module, name, OptimizedConv(child, opts))
        else:
            _replace_convlayers(child, opts)


def _fold_sequential_conv_bn(module: nn.Module) -> None:
    """Fold ``Conv2d`` immediately followed by ``BatchNorm2d`` inside any ``nn.Sequential``."""
    for child in module.children():
        _fold_sequential_conv_bn(child)
    if not isinstance(module, nn.Sequential):
        return
    keys = list(module._modules)
    for k0, k1 in zip(keys, keys[1:]):
        conv, bn = module._modules[k0], module._modules[k1]
        if type(conv) is nn.Conv2d and not conv._forward_pre_hooks and (aff := _bn_affine(bn)) is not None:
            s, t = aff
            w = _conv_weight(conv).double() * s.view(-1, 1, 1, 1)
            b = (conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(s)) * s + t
            new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                            conv.dilation, conv.groups, True, conv.padding_mode)
            with torch.no_grad():
                new.weight.copy_(w)
                new.bias.copy_(b)
            module._modules[k0] = new.to(conv.weight.device, conv.weight.dtype)
            module._modules[k1] = nn.Identity()


# ----------------------------------------------------------------------------------------- jit
class _JitSR(nn.Module):
    """A frozen TorchScript graph, wrapped so that ``lr_size`` etc. and the input check stay."""

    def __init__(self, eager: nn.Module, graph):
        super().__init__()
        self.graph = graph
        self.eager = eager  # the eager optimised copy (attention maps, attributes, other input shapes)
        for k in ("lr_size", "hr_size", "facesr_meta"):
            if hasattr(eager, k):
                setattr(self, k, getattr(eager, k))

    @property
    def scale(self) -> int:
        return self.hr_size // self.lr_size

    def forward(self, lr):
        if hasattr(self.eager, "check_input"):
            self.eager.check_input(lr)
        return self.graph(lr)


def _jit_freeze(model: nn.Module, example: torch.Tensor):
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings on Python shape checks; jit deprecation notices
        traced = torch.jit.trace(model, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


# ----------------------------------------------------------------------------------------- API
def optimize_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool | None = None,
                           jit: bool = False, mkldnn: bool = True, up_mode: str = "transposed",
                           winograd: int = 0, winograd_min_channels: int = 128,
                           example: torch.Tensor | None = None) -> nn.Module:
    """A new eval-mode module computing ``model.eval()``'s function faster; ``model`` is not modified.

    ``fold_bn``       fold eval BatchNorm into the preceding convs (pre-activation BN into an affine).
    ``up_mode``       how nearest-x2 + reflect pad + 3x3 conv is computed: ``'transposed'`` (one
                      stride-2 transposed conv at low resolution), ``'subpixel'`` (one 2x2 conv with 4x
                      the filters + interleave) or ``'nearest'`` (as in the model).
    ``channels_last`` NHWC activations and weights (None: on for float32 CPU models).
    ``mkldnn``        call oneDNN directly with pre-packed weights and the activation fused into the
                      conv (float32 CPU only; ignored where this torch build lacks the ops).
    ``winograd``      2: in export / compile graphs only (``torch.export``, ``torch.compile``, the AOTInductor
                      package of :func:`facesr.inference.aoti.compile_aoti`), compute each 3x3 stride-1
                      conv with at least ``winograd_min_channels`` input and output channels as
                      Winograd F(2x2, 3x3): 16 batched matrix products instead of 36 multiply-adds per
                      2x2 outputs, with the transforms left to the compiler to fuse. As accurate as the
                      direct conv in float32 (one ad hoc check, SPARNet with perturbed weights, 64 or
                      more channels: 9e-6 from the float64 eager output against the direct convs' 1.1e-5).
                      Off by default: see benchmarks/results/aoti_winograd.md for its measured gain and
                      its compile time. The eager module never uses it (one oneDNN call is faster there).
    ``jit``           also trace + ``torch.jit.freeze`` + ``torch.jit.optimize_for_inference`` (needs
                      an ``example`` LR batch, by default one random face; the result keeps the eager
                      optimised copy as ``.eager``).

    Defaults are what measured fastest on the project's 2-core AVX2 CPU (the ablation table of
    benchmarks/results/inference.md, ``python benchmarks/bench_inference.py ... --ablation``, SPARNet at
    batch 1, cores idle): each step above adds speed, ``mkldnn`` included (pre-packed weights and fused
    activations mean fewer, cheaper calls); sub-pixel up-convs and ``jit`` were slower, so they stay off.

    SPARNet / SPARNetHD become an :class:`OptimizedSR`; other modules get a deep copy with their
    ``ConvLayer``s optimised and ``Conv2d -> BatchNorm2d`` pairs in ``nn.Sequential``s folded.
    """
    from ..models.sparnet import SPARNet, SPARNetBody, SPARNetHD

    p = next(model.parameters(), None)
    on_cpu_f32 = p is None or (p.device.type == "cpu" and p.dtype == torch.float32)
    if channels_last is None:
        channels_last = on_cpu_f32
    if up_mode not in UP_MODES:
        raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
    if winograd not in WINOGRAD_TILES:
        raise ValueError(f"winograd must be one of {WINOGRAD_TILES}, got {winograd!r}")
    opts = _Opts(fold_bn=fold_bn, up_mode=up_mode, mkldnn=bool(mkldnn) and on_cpu_f32 and mkldnn_available(),
                 channels_last=bool(channels_last), winograd=int(winograd),
                 winograd_min_channels=int(winograd_min_channels))
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, (SPARNet, SPARNetHD)) and isinstance(model.net, SPARNetBody):
            new = OptimizedSR(model, opts)
        elif isinstance(model, SPARNetBody):
            new = OptimizedBody(model, opts)
        else:
            new = copy.deepcopy(model)
            _replace_convlayers(new, opts)
            if fold_bn:
                _fold_sequential_conv_bn(new)
            if channels_last:
                new = new.to(memory_format=torch.channels_last)
    finally:
        model.train(was_training)
    new.eval()
    for q in new.parameters():
        q.requires_grad_(False)
    if hasattr(model, "facesr_meta"):
        new.facesr_meta = copy.deepcopy(model.facesr_meta)
    if jit:
        if example is None:
            lr = int(getattr(model, "lr_size", 16))
            example = torch.rand(1, 3, lr, lr, device=p.device if p is not None else "cpu")
        return _JitSR(new, _jit_freeze(new, example)).eval()
    return new
