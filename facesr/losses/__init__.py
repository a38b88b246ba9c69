"""Training losses of every recipe, behind one registry.

A recipe's config names its terms and their weights::

    train:
      losses:
        l1: 10
        perceptual: {weight: 0.01, preset: pfsr}
        gan: {weight: 1, kind: wgan, drift: 0.001}

and the trainer turns each entry into a module and a weight with :func:`build_loss`.  Every loss
module has a class attribute ``kind`` that tells the trainer how to call it:

========== ===================================================================================
kind       call
========== ===================================================================================
image      ``loss(sr, hr) -> scalar``, both N x C x H x W in [0, 1] (l1, mse, charbonnier,
           perceptual, gram)
heatmap    ``loss(sr_heatmaps, hr_heatmaps) -> scalar`` (heatmap)
attention  ``loss(sr, hr, hr_heatmaps) -> scalar`` (attention)
feature    ``loss(student, teacher) -> scalar`` (feature_l1: lists of tensors; output_l1: tensors)
gan        terms of a critic network's outputs: ``gan`` (:class:`~facesr.losses.gan.GANLoss`:
           ``d_loss``, ``g_loss``), ``feature_matching(real_out, fake_out)``, ``gradient_penalty(d_fn,
           real, fake)``, ``mine(t_joint, t_marginal) -> (loss, estimate)`` (mutual information from a
           statistics network's scores, :mod:`facesr.losses.mine`)
========== ===================================================================================

Every loss module returns the *unweighted* term; the weight is the second value :func:`build_loss`
returns.  ``describe()`` gives a JSON-able record of the term (name, options, and for the VGG losses
which weights were used).  No loss module holds parameters in its ``state_dict()``.

Importing this package does not import torch: the loss modules are loaded on first use of
:data:`LOSSES`, :func:`build_loss` or any loss name.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import numbers
from typing import Any

from ..errors import ConfigError

__all__ = [
    "LOSSES", "register_loss", "build_loss", "loss_options", "PIXEL_LOSSES",
    "GANLoss", "gradient_penalty", "feature_matching", "VGGFeatures", "kl_normal",
]

#: name -> loss class; filled by :func:`register_loss` (read it as ``LOSSES``: that loads the built-ins)
_REGISTRY: dict[str, type] = {}

_BUILTIN_MODULES = ("pixel", "gan", "perceptual", "face", "distill", "mine")

# public names that live in a submodule, loaded on first access (PEP 562)
_LAZY = {
    "PIXEL_LOSSES": "pixel",
    "GANLoss": "gan", "gradient_penalty": "gan", "feature_matching": "gan",
    "VGGFeatures": "perceptual", "kl_normal": "latent",
}

_loaded = False


def _load_builtins() -> dict[str, type]:
    global _loaded
    if not _loaded:
        for m in _BUILTIN_MODULES:
            importlib.import_module(f"{__name__}.{m}")
        _loaded = True
    return _REGISTRY


def __getattr__(name: str) -> Any:
    if name == "LOSSES":
        return _load_builtins()
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_loss(name: str):
    """Class decorator: register a loss module class under ``name`` (also sets ``cls.name``).

    The class's keyword arguments (its ``__init__`` signature) are the options a config may give;
    it must define ``kind`` and ``describe()``.  Registering a taken name raises ``ValueError``.
    """

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"loss {name!r} is already registered ({_REGISTRY[name].__name__})")
        if not isinstance(getattr(cls, "kind", None), str):
            raise TypeError(f"loss class {cls.__name__} needs a class attribute 'kind'")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def loss_options(name: str) -> dict[str, Any]:
    """The options of loss ``name`` and their defaults (``inspect.Parameter.empty`` when required)."""
    cls = _lookup(name)
    return {p.name: p.default for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _lookup(name: str) -> type:
    reg = _load_builtins()
    if name not in reg:
        close = difflib.get_close_matches(str(name), list(reg), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"unknown loss {name!r}{hint}; known: {', '.join(sorted(reg))}")
    return reg[name]


def build_loss(name: str, spec: Any = 1.0):
    """Build loss ``name`` from its config entry; returns ``(module, weight)``.

    ``spec`` is the weight (a number; the options keep their defaults) or a mapping
    ``{"weight": w, **options}`` (weight defaults to 1.0).  The module returns the unweighted term.

    Raises :class:`~facesr.errors.ConfigError` (one line) for an unknown loss name (listing the known
    ones), an unknown option (listing the valid ones, with a "did you mean"), a weight that is not a
    number, or an option value the loss rejects.
    """
    cls = _lookup(name)
    if isinstance(spec, dict):
        opts = dict(spec)
        weight = opts.pop("weight", 1.0)
    else:
        weight, opts = spec, {}
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real):
        raise ConfigError(f"loss {name!r}: weight must be a number, got {weight!r}")
    valid = loss_options(name)
    for k in opts:
        if k not in valid:
            close = difflib.get_close_matches(str(k), list(valid), n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            listed = ", ".join(["weight", *valid])
            raise ConfigError(f"loss {name!r} has no option {k!r}{hint}; valid: {listed}")
    try:
        module = cls(**opts)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"loss {name!r}: {e}") from None
    return module, float(weight)
