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

from .errors import FacesrError, ModelNotFoundError

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
    # the face geometry the model was trained on: a key of facesr.enhance.align.CROP_SPECS or a spec
    # dict; `facesr enhance` crops faces from photos this way ("fsrnet": the FSRNet/CelebA test crops)
    crop: str | dict = "fsrnet"
    weights: str | None = None  # file name under facesr/assets
    config: str | None = None  # training recipe under facesr/configs
    # what a user would pick it for, in one plain line (shown by `facesr serve` next to the models that
    # can enhance photos); empty for presets without shipped weights or that are not meant for photos
    use: str = ""


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


# Settings read from a model file are bounded before anything is built: no architecture setting
# (channels, sizes, depths, counts) is legitimately above MAX_SETTING_INT, and no settings object holds
# more than MAX_SETTING_VALUES numbers / strings in all.
MAX_SETTING_INT = 1 << 20
MAX_SETTING_VALUES = 1 << 16


def _check_settings_bounds(path, settings: dict, verdict: str = "the file is corrupt",
                           error: type = ModelNotFoundError) -> None:
    """Refuse absurd settings from a file (``res_depth: 1e12``, a million-entry channel list) with one
    line, before any network is built: integers beyond ``MAX_SETTING_INT``, non-finite floats, more than
    ``MAX_SETTING_VALUES`` values in all."""
    import math

    count = 0
    stack = [(k, v) for k, v in settings.items()]
    while stack:
        key, v = stack.pop()
        count += 1
        if count > MAX_SETTING_VALUES:
            raise error(f"{path}: its settings hold more than {MAX_SETTING_VALUES} values; {verdict}")
        if isinstance(v, dict):
            stack.extend((key, x) for x in v.values())
        elif isinstance(v, list):
            stack.extend((key, x) for x in v)
        elif isinstance(v, bool):
            continue
        elif isinstance(v, int) and abs(v) > MAX_SETTING_INT:
            raise error(f"{path}: setting {key!r} has the absurd value {v} (limit {MAX_SETTING_INT}); {verdict}")
        elif isinstance(v, float) and not math.isfinite(v):
            raise error(f"{path}: setting {key!r} is {v}; {verdict}")


class _OverBudget(Exception):
    pass


def _meta_build(arch: str, settings: dict, path: Path, max_numel: int, max_tensors: int, max_modules: int):
    """Build ``arch`` on torch's ``meta`` device (shapes and dtypes, no memory) and abort with
    :class:`_OverBudget` as soon as it registers more than ``max_numel`` tensor values, ``max_tensors``
    tensors or ``max_modules`` sub-modules (a corrupt file's settings cannot run the builder away)."""
    import threading

    import torch
    from torch.nn.modules import module as M

    me = threading.get_ident()
    used = {"numel": 0, "tensors": 0, "modules": 0}

    def on_tensor(module, name, t):
        if t is not None and threading.get_ident() == me:
            used["numel"] += t.numel()
            used["tensors"] += 1
            if used["numel"] > max_numel or used["tensors"] > max_tensors:
                raise _OverBudget(f"{used['numel']} values in {used['tensors']} tensors")

    def on_module(module, name, sub):
        if threading.get_ident() == me:
            used["modules"] += 1
            if used["modules"] > max_modules:
                raise _OverBudget(f"{used['modules']} modules")

    handles = [M.register_module_parameter_registration_hook(on_tensor),
               M.register_module_buffer_registration_hook(on_tensor),
               M.register_module_module_registration_hook(on_module)]
    try:
        with torch.device("meta"):
            return _ARCHS[arch](**settings)
    finally:
        for h in handles:
            h.remove()


#: the largest network a config may ask to train (parameters + buffers, as counted on the meta device)
MAX_BUILD_VALUES = 1 << 31


def check_buildable(name: str, settings: dict, where: str, max_values: int = MAX_BUILD_VALUES) -> None:
    """Refuse, with one ConfigError line naming ``where``, settings for preset ``name`` that are absurd
    (:data:`MAX_SETTING_INT`) or that build a network of more than ``max_values`` values, before any
    memory is committed: the network is first built on torch's ``meta`` device within that budget."""
    from .errors import ConfigError

    p = get_preset(name)
    full = {**p.settings, **settings}
    _check_settings_bounds(where, full, verdict="refused", error=ConfigError)
    try:
        _meta_build(p.arch, full, Path(where), max_values, max_values, 1 << 22)
    except _OverBudget as e:
        raise ConfigError(f"{where}: these settings build a network of over {max_values:,} values ({e}); "
                          f"refused") from None


def _build_from_file(arch: str, settings: dict, path: Path, meta_device: bool = False, budget=None):
    """``build_arch`` for settings read from ``path``: the builder's own complaints (an unknown or
    mistyped setting: TypeError, ValueError, ...) become one-line ``ModelNotFoundError``s naming the file."""
    try:
        if meta_device:
            return _meta_build(arch, settings, path, *budget)
        return _ARCHS[arch](**settings)
    except _OverBudget as e:
        raise ModelNotFoundError(f"{path}: its settings for {arch!r} build a network far larger than the "
                                 f"file's tensors (over {e}); the file is corrupt") from None
    except MemoryError:
        raise ModelNotFoundError(f"{path}: its settings for {arch!r} need more memory than there is; "
                                 "the file is corrupt") from None
    except Exception as e:  # noqa: BLE001  (anything the builder raises on these settings is the file's fault)
        text = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, TypeError) and "unexpected keyword argument" in text:
            bad = text.rsplit("argument", 1)[-1].strip()
            msg = f"unknown setting {bad}"
        else:
            msg = f"{type(e).__name__}: {text}" if not isinstance(e, FacesrError) else text
        if len(msg) > 300:
            msg = msg[:297] + "..."
        raise ModelNotFoundError(f"{path}: its settings do not build architecture {arch!r} ({msg})") from None


def _load_file(path: Path, device):
    """Load a self-describing model file (:mod:`facesr.checkpoint`) with every check done before real
    memory is committed: metadata (JSON object, known ``arch``, settings within bounds), then the
    network built on the ``meta`` device and compared with the file's header (same tensor names and
    shapes, floating-point weights where the network has them, integer buffers only where it has them),
    then the real network, then the weights (every floating-point value finite).

    Raises :class:`ModelNotFoundError` (one line naming the file, and the tensor or setting at fault).
    """
    from .checkpoint import check_header, read_header, read_meta, read_weights

    meta = read_meta(path)
    arch, settings = meta["arch"], meta.get("settings", {})
    _ensure_loaded()
    if arch not in _ARCHS:
        close = difflib.get_close_matches(arch, list(_ARCHS), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else f"; known: {', '.join(sorted(_ARCHS))}"
        raise ModelNotFoundError(f"{path}: unknown architecture {arch!r}{hint}")
    _check_settings_bounds(path, settings)
    header = read_header(path)
    file_numel = 0
    for shape in (s for _, s in header.values()):
        n = 1
        for d in shape:
            n *= d
        file_numel += n
    # spectral norm registers each weight twice while building (weight, then weight_orig + u + v)
    budget = (2 * file_numel + (1 << 20), 2 * len(header) + 256, 4 * len(header) + 256)
    skeleton = _build_from_file(arch, settings, path, meta_device=True, budget=budget)
    check_header(path, header, skeleton.state_dict(), arch)
    del skeleton
    model = _build_from_file(arch, settings, path)
    state = read_weights(path, like=model)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelNotFoundError(f"{path}: weights do not fit architecture {arch!r} "
                                 f"({str(e).strip().splitlines()[-1].strip()})") from None
    model.facesr_meta = meta
    return model.to(device).eval()


def model_file(name_or_path: str | Path = "default") -> Path:
    """The weights file a registry name (its shipped weights) or a model file path stands for. Raises
    :class:`ModelNotFoundError` (or FacesrError for an unknown name) with a one-line reason."""
    path = Path(name_or_path)
    if path.suffix == ".safetensors" or path.is_file():
        if not path.is_file():
            raise ModelNotFoundError(f"model file not found: {path}")
        return path
    p = get_preset(str(name_or_path))
    w = weights_path(p)
    if w is None:
        cfg = f" (facesr train -c {p.config})" if p.config else ""
        raise ModelNotFoundError(
            f"no trained weights ship with {p.name!r}; train it{cfg} and pass the checkpoint path, "
            f"or use facesr.build({p.name!r}) for an untrained network")
    if not w.is_file():
        raise ModelNotFoundError(f"weights of {p.name!r} are missing from the installation: {w}")
    return w


def load(name_or_path: str | Path = "default", device: str = "cpu"):
    """A model with weights, in eval mode: a registry name with shipped weights, or a model file."""
    return _load_file(model_file(name_or_path), device)
