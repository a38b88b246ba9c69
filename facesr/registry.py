"""Registry of architectures and named presets (in the spirit of timm's model registry).

* An **architecture** is a builder function registered under a name (``@register_arch("sparnet")``)
  that takes keyword settings and returns an :class:`~facesr.models.common.SRModel`.
* A **preset** is a named, documented choice of architecture + settings + data conventions (LR
  synthesis, face crop) and optionally shipped weights. ``facesr.build(NAME)`` builds a preset untrained;
  ``facesr.load(NAME_OR_PATH)`` builds it and loads weights (shipped ones, or a checkpoint file).
* ``default`` is an alias for the shipped default model.

No central model list: each paper's package under ``facesr/models/`` (``facesr.models.sparnet``, ...)
registers its own architectures and presets when imported, and every such sub-package is imported on
the first lookup (:func:`model_packages`). Adding a model = adding a package there.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ModelNotFoundError

ASSETS = Path(__file__).resolve().parent / "assets"

_ARCHS: dict[str, Callable[..., Any]] = {}
_PRESETS: dict[str, "Preset"] = {}
_ALIASES: dict[str, str] = {}
# every sub-package of this package registers its architectures and presets when imported
MODELS_PACKAGE = "facesr.models"
_loaded = False


@dataclass(frozen=True)
class Preset:
    name: str
    arch: str
    settings: dict = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    lr_size: int = 16
    hr_size: int = 128
    # how training/test LR faces are made from HR (see facesr.data.degrade.make_degradation)
    degradation: dict = field(default_factory=lambda: {"kind": "bicubic"})
    # the face geometry the model was trained on: a key of facesr.inference.align.CROP_SPECS or a spec
    # dict; `facesr enhance` crops faces from photos this way ("fsrnet": the FSRNet/CelebA test crops)
    crop: str | dict = "fsrnet"
    weights: str | None = None  # file name under facesr/assets
    config: str | None = None  # training recipe under facesr/configs


def register_arch(name: str):
    def deco(fn):
        if name in _ARCHS:
            raise ValueError(f"architecture {name!r} registered twice")
        _ARCHS[name] = fn
        return fn

    return deco


def register_lazy_arch(name: str, target: str) -> None:
    """Register architecture ``name`` as the class (or function) ``target`` = ``"package.module:Name"``,
    imported only when a network is built, so that registering it costs no torch import."""
    mod, _, attr = target.partition(":")

    def build(**settings):
        return getattr(importlib.import_module(mod), attr)(**settings)

    build.__doc__ = f"Build {target} (architecture {name!r})."
    register_arch(name)(build)


def lazy_exports(module: str, names) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that loads ``names`` from ``module`` on first access (a model
    package exposes its network classes without importing torch when it registers its presets)."""
    names = frozenset(names)

    def __getattr__(attr: str):
        if attr in names:
            return getattr(importlib.import_module(module), attr)
        raise AttributeError(f"module {module.rsplit('.', 1)[0]!r} has no attribute {attr!r}")

    return __getattr__


def register_preset(preset: Preset) -> Preset:
    if preset.name in _PRESETS:
        raise ValueError(f"preset {preset.name!r} registered twice")
    _PRESETS[preset.name] = preset
    return preset


def register_alias(alias: str, target: str) -> None:
    _ALIASES[alias] = target


def model_packages() -> list[str]:
    """Names of the model packages: every sub-package of ``facesr.models`` (``facesr.models.sparnet``,
    ...), sorted; plain modules there (``common.py``, ``perturb.py``) are helpers, not model packages."""
    pkg = importlib.import_module(MODELS_PACKAGE)
    return sorted(f"{MODELS_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if m.ispkg)


def _ensure_loaded() -> None:
    """Import every model package once (each registers its own architectures and presets when imported;
    a package's ``__init__`` must stay light: no torch at import time)."""
    global _loaded
    if not _loaded:
        for m in model_packages():
            importlib.import_module(m)
        _loaded = True


def list_presets() -> list[Preset]:
    _ensure_loaded()
    return [_PRESETS[k] for k in sorted(_PRESETS)]


def list_aliases() -> dict[str, str]:
    _ensure_loaded()
    return dict(_ALIASES)


def get_preset(name: str) -> Preset:
    _ensure_loaded()
    name = _ALIASES.get(name, name)
    if name not in _PRESETS:
        close = difflib.get_close_matches(name, list(_PRESETS) + list(_ALIASES), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ModelNotFoundError(f"unknown model {name!r}{hint}; `facesr models` lists them")
    return _PRESETS[name]


def build_arch(arch: str, settings: dict | None = None):
    _ensure_loaded()
    if arch not in _ARCHS:
        raise ModelNotFoundError(f"unknown architecture {arch!r}; known: {', '.join(sorted(_ARCHS))}")
    return _ARCHS[arch](**(settings or {}))


def build(name: str, **overrides):
    """The untrained ``nn.Module`` of a preset (``overrides`` change its settings)."""
    p = get_preset(name)
    settings = {**p.settings, **overrides}
    model = build_arch(p.arch, settings)
    model.facesr_meta = {"preset": p.name, "arch": p.arch, "settings": settings,
                         "lr_size": getattr(model, "lr_size", None), "hr_size": getattr(model, "hr_size", None)}
    return model


def weights_path(preset: Preset) -> Path | None:
    return ASSETS / preset.weights if preset.weights else None


def _load_file(path: Path, device):
    from .checkpoint import read_meta, read_weights

    meta = read_meta(path)
    model = build_arch(meta["arch"], meta.get("settings", {}))
    state = read_weights(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelNotFoundError(f"{path}: weights do not fit architecture {meta['arch']!r} "
                                 f"(missing {len(missing)}, unexpected {len(unexpected)} tensors)")
    model.facesr_meta = meta
    return model.to(device).eval()


def load(name_or_path: str | Path = "default", device: str = "cpu"):
    """A model with weights, in eval mode: a registry name with shipped weights, or a model file."""
    path = Path(name_or_path)
    if path.suffix == ".safetensors" or path.is_file():
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {path}")
        return _load_file(path, device)
    p = get_preset(str(name_or_path))
    w = weights_path(p)
    if w is None:
        cfg = f" (facesr train -c {p.config})" if p.config else ""
        raise ModelNotFoundError(
            f"no trained weights ship with {p.name!r}; train it{cfg} and pass the checkpoint path, "
            f"or use facesr.build({p.name!r}) for an untrained network")
    if not w.is_file():
        raise ModelNotFoundError(f"weights of {p.name!r} are missing from the installation: {w}")
    return _load_file(w, device)
