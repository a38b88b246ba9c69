"""The ``torch`` back-end: an eval-only PyTorch module computing a model's function, for any model.

A model that owns an inference rewrite (a method ``inference_rewrite(target)`` on its class, returning a
new eval-only module; SPARNet's is :mod:`facesr.models.sparnet.inference`) gets it; any other model gets
the generic path of :func:`generic_rewrite`. :func:`build_torch` wraps the result for eager runs;
:func:`export_module` is the graph that the exporters (ONNX, ncnn) trace.
"""
from __future__ import annotations

import copy
import weakref

import torch
from torch import nn

from ..models.common import bn_affine

__all__ = ["TorchSR", "build_torch", "export_module", "generic_rewrite", "fold_batchnorm", "strip_weight_norms",
           "TARGETS"]

TARGETS = ("torch", "onnx", "ncnn")
"""What a rewrite is for: eager runs (``torch``) or the graph an exporter traces (``onnx``, ``ncnn``)."""

_FOLD_TOLERANCE = 1e-5  # relative to the output's largest magnitude (at least 1)


def _on_cpu_f32(model: nn.Module) -> bool:
    p = next(model.parameters(), None)
    return p is None or (p.device.type == "cpu" and p.dtype == torch.float32)


def example_inputs(model: nn.Module) -> tuple:
    """Positional inputs for one forward: ``model.example_inputs(1)`` when the model defines it, else one
    random LR face ``1 x 3 x lr_size x lr_size`` in [0, 1] on the model's device."""
    if hasattr(model, "example_inputs"):
        return tuple(model.example_inputs(1))
    p = next(model.parameters(), None)
    lr = int(getattr(model, "lr_size", 16))
    return (torch.rand(1, 3, lr, lr, generator=torch.Generator().manual_seed(0)).to(
        p.device if p is not None else "cpu", p.dtype if p is not None else torch.float32),)


def strip_weight_norms(model: nn.Module) -> None:
    """Replace every spectral / weight norm (old-style hooks and ``parametrize``) by the weight it computes
    in eval mode, in place. Call on an eval-mode copy."""
    from torch.nn.utils import parametrize

    for m in list(model.modules()):
        for hook in list(m._forward_pre_hooks.values()):
            kind = type(hook).__name__
            if kind == "SpectralNorm":
                torch.nn.utils.remove_spectral_norm(m, hook.name)
            elif kind == "WeightNorm":
                torch.nn.utils.remove_weight_norm(m, hook.name)
        if parametrize.is_parametrized(m):
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)


def _out_axis(conv: nn.Module) -> int | None:
    """The weight axis of output channels of a conv-like module, or None when BN cannot fold into it."""
    if isinstance(conv, nn.Conv2d):
        return 0
    if isinstance(conv, nn.ConvTranspose2d):
        return 1 if conv.groups == 1 else None
    w, b = getattr(conv, "weight", None), getattr(conv, "bias", None)
    if (not list(conv.children()) and isinstance(w, nn.Parameter) and w.ndim == 4
            and isinstance(b, nn.Parameter) and b.ndim == 1 and b.shape[0] == w.shape[0]):
        return 0  # a conv written by hand (e.g. an equalised-lr conv scaling its weight by a constant)
    return None


def _pairs(model: nn.Module, inputs: tuple) -> dict[nn.Module, nn.Module]:
    """{BatchNorm2d: conv} for every eval BatchNorm2d whose input, on every call, is the unmodified output
    of the same conv-like module, each conv feeding one BatchNorm only (found by running ``inputs``)."""
    produced: dict[int, tuple] = {}
    seen: dict[nn.Module, nn.Module | None] = {}

    def after_conv(mod, _inp, out):
        if isinstance(out, torch.Tensor):
            produced[id(out)] = (weakref.ref(out), mod, out._version)

    def before_bn(mod, inp):
        x = inp[0] if inp else None
        hit = produced.get(id(x))
        # the very tensor the conv returned, not modified in place since (an in-place activation between)
        conv = hit[1] if hit is not None and hit[0]() is x and x._version == hit[2] else None
        if mod in seen and seen[mod] is not conv:
            seen[mod] = None
        else:
            seen[mod] = conv

    handles = []
    for m in model.modules():
        if _out_axis(m) is not None:
            handles.append(m.register_forward_hook(after_conv))
        elif isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.running_var is not None:
            handles.append(m.register_forward_pre_hook(before_bn))
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()
    pairs = {bn: conv for bn, conv in seen.items() if conv is not None}
    uses: dict[nn.Module, int] = {}
    for conv in pairs.values():
        uses[conv] = uses.get(conv, 0) + 1
    return {bn: conv for bn, conv in pairs.items() if uses[conv] == 1}


def _finite_with_poison(model: nn.Module, inputs: tuple, pairs: dict) -> bool:
    """Run ``inputs`` with each conv of ``pairs`` returning NaNs and its BatchNorm reading the real output
    instead: the output stays finite only if nothing but those BatchNorms reads those convs' outputs."""
    convs = {conv: bn for bn, conv in pairs.items()}
    real: dict[int, tuple] = {}

    def poison(mod, _inp, out):
        if mod in convs and isinstance(out, torch.Tensor):
            bad = torch.full_like(out, float("nan"))
            real[id(bad)] = (weakref.ref(bad), out)
            return bad
        return None

    def restore(mod, inp):
        hit = real.get(id(inp[0])) if inp else None
        if mod in pairs and hit is not None and hit[0]() is inp[0]:
            return (hit[1],) + tuple(inp[1:])
        return None

    handles = [c.register_forward_hook(poison) for c in convs] + \
        [b.register_forward_pre_hook(restore) for b in pairs]
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    outs = [out] if isinstance(out, torch.Tensor) else [o for o in out if isinstance(o, torch.Tensor)]
    return all(bool(torch.isfinite(o).all()) for o in outs)


def _shared(model: nn.Module, inputs: tuple, pairs: dict) -> list:
    """The BatchNorms of ``pairs`` whose conv's output is read elsewhere too (bisection on
    :func:`_finite_with_poison`)."""
    if not pairs or _finite_with_poison(model, inputs, pairs):
        return []
    if len(pairs) == 1:
        return list(pairs)
    items = list(pairs.items())
    half = len(items) // 2
    return _shared(model, inputs, dict(items[:half])) + _shared(model, inputs, dict(items[half:]))


def fold_batchnorm(model: nn.Module, inputs: tuple) -> int:
    """Fold, in place, each eval BatchNorm2d that is the only reader of a conv's output into that conv
    (weights in float64, stored in their dtype) and replace it by ``nn.Identity``; the pairs are found by
    running ``inputs`` through ``model``. ``model`` must be an eval-mode copy
    without weight norms (:func:`strip_weight_norms`). Returns the number of BatchNorms folded."""
    pairs = _pairs(model, inputs)
    for bn in _shared(model, inputs, pairs):
        del pairs[bn]
    for bn, conv in pairs.items():
        scale, shift = bn_affine(bn)
        w = conv.weight
        shape = [1] * w.ndim
        shape[_out_axis(conv)] = -1
        bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(scale)
        with torch.no_grad():
            w.copy_((w.detach().double() * scale.view(shape)).to(w.dtype))
            new_bias = (bias * scale + shift).to(w.dtype)
            if conv.bias is None:
                conv.bias = nn.Parameter(new_bias)
            else:
                conv.bias.copy_(new_bias)
    for m in model.modules():
        for name, child in list(m._modules.items()):
            if child in pairs:
                m._modules[name] = nn.Identity()
    return len(pairs)


def _max_diff(a, b) -> tuple[float, float]:
    if isinstance(a, torch.Tensor):
        return float((a.float() - b.float()).abs().max()), float(b.float().abs().max())
    worst = (0.0, 0.0)
    for x, y in zip(a, b):
        d = _max_diff(x, y)
        worst = (max(worst[0], d[0]), max(worst[1], d[1]))
    return worst


def generic_rewrite(model: nn.Module, target: str = "torch") -> nn.Module:
    """An eval-only copy of ``model`` (not modified): weight norms materialised, BatchNorm folded into the
    conv before it (kept only when the copy's output on :func:`example_inputs` stays within 1e-5 relative
    of the model's; models whose forward needs other inputs keep their BatchNorms), ``requires_grad`` off,
    and for ``target == "torch"`` on a float32 CPU model, channels_last weights."""
    was_training = model.training
    model.eval()
    try:
        new = copy.deepcopy(model).eval()
        strip_weight_norms(new)
        try:
            inputs = example_inputs(model)
            with torch.no_grad():
                ref = model(*inputs)
        except (RuntimeError, ValueError, TypeError):
            inputs = None
        if inputs is not None:
            folded = copy.deepcopy(new)
            if fold_batchnorm(folded, inputs):
                with torch.no_grad():
                    diff, size = _max_diff(folded(*inputs), ref)
                if diff <= _FOLD_TOLERANCE * max(1.0, size):
                    new = folded
    finally:
        model.train(was_training)
    for q in new.parameters():
        q.requires_grad_(False)
    if target == "torch" and _on_cpu_f32(new):
        new = new.to(memory_format=torch.channels_last)
    return new


def rewrite(model: nn.Module, target: str = "torch") -> nn.Module:
    """The model's own ``inference_rewrite(target)`` when its class has one, else :func:`generic_rewrite`."""
    if target not in TARGETS:
        raise ValueError(f"unknown inference target {target!r}; choose one of {', '.join(TARGETS)}")
    own = getattr(model, "inference_rewrite", None)
    new = own(target) if callable(own) else generic_rewrite(model, target)
    if hasattr(model, "facesr_meta") and not hasattr(new, "facesr_meta"):
        new.facesr_meta = copy.deepcopy(model.facesr_meta)
    return new


def _plain(out):
    """A normal (non-inference) NCHW-contiguous copy of each tensor in ``out``."""
    if isinstance(out, torch.Tensor):
        return out.clone(memory_format=torch.contiguous_format)
    if isinstance(out, (tuple, list)):
        return type(out)(_plain(o) for o in out)
    return out


class TorchSR(nn.Module):
    """The ``torch`` back-end's module: ``net`` (a rewrite) run under ``torch.inference_mode()`` with 4-D
    inputs made channels_last when its weights are; same positional / keyword inputs and outputs as the
    source model (outputs are ordinary contiguous tensors). Carries the source's ``lr_size``, ``hr_size``
    and ``facesr_meta``."""

    backend = "torch"

    def __init__(self, net: nn.Module, source: nn.Module):
        super().__init__()
        self.net = net
        for k in ("lr_size", "hr_size", "facesr_meta"):
            if hasattr(source, k):
                setattr(self, k, getattr(source, k))
        w = next((p for p in net.parameters() if p.ndim == 4), None)
        self.channels_last = bool(w is not None and w.is_contiguous(memory_format=torch.channels_last)
                                  and not w.is_contiguous())

    @property
    def scale(self) -> int:
        return int(self.hr_size) // int(self.lr_size)

    def check_input(self, lr: torch.Tensor) -> None:
        if hasattr(self.net, "check_input"):
            self.net.check_input(lr)

    def attention_maps(self, lr):
        """The rewrite's attention maps (``AttributeError`` when it has none)."""
        with torch.inference_mode():
            return _plain(self.net.attention_maps(lr))

    def forward(self, *args, **kwargs):
        with torch.inference_mode():
            if self.channels_last:
                args = tuple(a.contiguous(memory_format=torch.channels_last)
                             if isinstance(a, torch.Tensor) and a.ndim == 4 else a for a in args)
            out = self.net(*args, **kwargs)
        return _plain(out)


def build_torch(model: nn.Module) -> TorchSR:
    """The ``torch`` back-end: ``model``'s rewrite (:func:`rewrite`) wrapped in a :class:`TorchSR`."""
    return TorchSR(rewrite(model, "torch"), model).eval()


class LROnly(nn.Module):
    """``model`` called with the LR face alone, so that tracing sees one tensor input and the model's other
    arguments keep their Python defaults (a progressive generator's ``stage``/``alpha``: the full model);
    the output is clamped to [0, 1] when ``clamp`` (models that are not facesr ``SRModel``s)."""

    def __init__(self, model, clamp: bool = False):
        super().__init__()
        self.m = model
        self.clamp = clamp

    def forward(self, x):
        y = self.m(x)
        return y.clamp(0.0, 1.0) if self.clamp else y


def export_module(model: nn.Module, target: str, optimize: bool = True) -> nn.Module:
    """The module an exporter traces for ``target`` (``onnx`` / ``ncnn``): the rewrite for that target
    (``optimize=False``: ``model`` itself) taking the LR face alone, its output clamped to [0, 1] unless
    ``model`` is an ``SRModel`` (which clamps its own)."""
    from ..models.common import SRModel

    net = rewrite(model, target) if optimize else model
    return LROnly(net, clamp=not isinstance(model, SRModel))
