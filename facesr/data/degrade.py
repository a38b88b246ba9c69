"""HR -> LR synthesis: seedable, composable degradations declared by JSON-able specs.

Kinds (``make_degradation(spec)``, ``spec`` a kind name or a dict with ``kind`` and options):

* ``bicubic``: PIL antialiased bicubic HR -> LR in one step (SPARNet, DIC, KDFSRNet, PKDN).
* ``bilinear``: PIL antialiased bilinear in one step.
* ``bilinear_cascade``: PIL bilinear halving steps, 128 -> 64 -> 32 -> 16 (PFSR's data code); its
  :meth:`~Degradation.outputs` also returns every intermediate image as ``hr{size}`` (``hr64``,
  ``hr32``), PFSR's targets for its earlier steps. Test inputs of PFSR models must be made the same way.
* ``pipeline``: ``{"kind": "pipeline", "steps": [op, ...], "lr_size": N}``, random ops applied in order
  (blur, resize, noise, jpeg, grey, resize_to: see :mod:`facesr.data.blind`), then a PIL bicubic resize
  to ``lr_size`` if the result has another size. Without ``lr_size`` the output keeps what the steps
  make (``resize_to: lr`` then means the input's size).
* ``sparnethd_blind`` / ``sparnethd_paper``: named pipelines (SPARNetHD's released degradation and
  its paper's eq. 14, see :mod:`facesr.data.blind`); their output has the input's size unless
  ``lr_size`` is given. ``sparnethd_blind`` takes ``size_range`` ([32, 128] by default).
* ``learned``: ``{"kind": "learned", "checkpoint": FILE, "device": "cpu", "size": N}``, a trained
  facesr network that maps an HR face to a degraded LR face (see :class:`Learned`); ``checkpoint`` is a
  model file or a registry name with shipped weights (``stylevae-x8``).
* ``mixture``: ``{"kind": "mixture", "of": [spec, ...], "p": [p, ...]}``, one of the listed degradations
  per image, drawn with probabilities ``p`` (uniform when omitted; normalised to sum to 1), as
  Real-ESRGAN-style trainers mix clean and degraded pairs. ``lr_size`` passes down to members without one.

Every degradation works on uint8 ``H x W x 3`` arrays and draws its randomness only from the
``numpy.random.Generator`` passed in; ``rng=None`` means ``np.random.default_rng(0)``, so calls without
a generator are deterministic too. ``spec()`` round-trips: ``make_degradation(d.spec())`` behaves as ``d``.
"""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FacesrError
from .resize import pil_resize

__all__ = ["Degradation", "Bicubic", "Bilinear", "BilinearCascade", "Pipeline", "Learned", "Mixture",
           "KINDS", "make_degradation"]


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng(0) if rng is None else rng


def _check_hr(hr) -> np.ndarray:
    hr = np.asarray(hr)
    if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
        raise ValueError(f"degradations take uint8 H x W x 3 arrays, got {hr.dtype} {hr.shape}")
    return np.ascontiguousarray(hr)


def _check_size(kind: str, key: str, v, allow_none: bool) -> int | None:
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"degradation {kind!r}: {key} must be a positive integer, got {v!r}")
    return v


class Degradation:
    """Base class. Subclasses implement :meth:`_lr` (or override :meth:`outputs` for extra outputs)."""

    kind = "base"

    def __call__(self, hr: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The LR image (uint8 ``h x w x 3``) of a uint8 ``H x W x 3`` HR image."""
        return self.outputs(hr, rng)["lr"]

    def outputs(self, hr: np.ndarray, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        """``{"lr": LR, ...extra images}``; the base class returns only ``lr``."""
        return {"lr": self._lr(_check_hr(hr), _rng(rng))}

    def _lr(self, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def spec(self) -> dict:
        """A JSON-able dict that :func:`make_degradation` turns back into an equivalent degradation."""
        raise NotImplementedError

    def describe(self, hr_size: int | None = None) -> str:
        """One short line for results tables, e.g. ``PIL bicubic 128->16``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class _Resize(Degradation):
    interp = "bicubic"

    def __init__(self, lr_size: int | None = 16):
        self.lr_size = 16 if lr_size is None else _check_size(self.kind, "lr_size", lr_size, False)

    def _lr(self, hr, rng):
        return pil_resize(hr, self.lr_size, self.interp)

    def spec(self):
        return {"kind": self.kind, "lr_size": self.lr_size}

    def describe(self, hr_size=None):
        return f"PIL {self.interp} {hr_size or ''}->{self.lr_size}"


class Bicubic(_Resize):
    kind = "bicubic"
    interp = "bicubic"


class Bilinear(_Resize):
    kind = "bilinear"
    interp = "bilinear"


class BilinearCascade(_Resize):
    """PIL bilinear halvings while the half is still >= ``lr_size``, then one bilinear step to ``lr_size``
    if needed. ``outputs`` also holds each intermediate image as ``hr{size}``."""

    kind = "bilinear_cascade"
    interp = "bilinear"

    def outputs(self, hr, rng=None):
        x = _check_hr(hr)
        size = x.shape[0]
        out = {}
        while size // 2 >= self.lr_size:
            size //= 2
            x = pil_resize(x, size, "bilinear")
            if size != self.lr_size:
                out[f"hr{size}"] = x
        if size != self.lr_size:
            x = pil_resize(x, self.lr_size, "bilinear")
        return {"lr": x, **out}

    def describe(self, hr_size=None):
        if hr_size:
            sizes = [hr_size]
            while sizes[-1] // 2 >= self.lr_size:
                sizes.append(sizes[-1] // 2)
            if sizes[-1] != self.lr_size:
                sizes.append(self.lr_size)
            return "PIL bilinear cascade " + "->".join(map(str, sizes))
        return f"PIL bilinear cascade ->{self.lr_size}"


class Pipeline(Degradation):
    """Random ops applied in order (see :mod:`facesr.data.blind`), then a PIL bicubic resize to
    ``lr_size`` when it is set and the result has another size. ``name`` labels a preset."""

    kind = "pipeline"

    def __init__(self, steps, lr_size: int | None = None, name: str | None = None):
        from .blind import make_op

        if not isinstance(steps, (list, tuple)) or not steps:
            raise ConfigError("degradation 'pipeline' needs a non-empty list of steps")
        self.ops = [make_op(s) for s in steps]
        self.lr_size = _check_size("pipeline", "lr_size", lr_size, True)
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"degradation 'pipeline': name must be a string, got {name!r}")
        self.name = name

    def _lr(self, hr, rng):
        ctx = {"target": (self.lr_size, self.lr_size) if self.lr_size else hr.shape[:2]}
        x = hr
        for op in self.ops:
            x = op(x, rng, ctx)
        if self.lr_size and x.shape[:2] != (self.lr_size, self.lr_size):
            x = pil_resize(np.ascontiguousarray(x), self.lr_size, "bicubic")
        return np.ascontiguousarray(x)

    def spec(self):
        out = {"kind": "pipeline", "steps": [op.spec() for op in self.ops], "lr_size": self.lr_size}
        if self.name:
            out["name"] = self.name
        return out

    def describe(self, hr_size=None):
        from .blind import PRESETS

        to = f"{hr_size or ''}->{self.lr_size or hr_size or 'same size'}"
        if self.name in PRESETS:
            return f"{PRESETS[self.name][1]} {to}"
        head = f"{self.name}: " if self.name else ""
        return head + ", ".join(op.describe() for op in self.ops) + f" {to}"


class Learned(Degradation):
    """A trained facesr network mapping HR faces to degraded LR faces.

    ``checkpoint`` is a facesr model file (:func:`facesr.registry.load`), loaded on first use (a missing
    or unreadable file is a :class:`~facesr.errors.ConfigError` then). The HR face is resized with PIL
    bicubic to the network's ``lr_size`` (its input size) if it differs, converted to ``1 x 3 x H x W``
    in [0, 1] and run under ``torch.no_grad``: ``model.degrade(x, generator)`` when the network has that
    method (``generator`` a ``torch.Generator`` seeded with ``rng.integers(2**63)``, drawn on every
    call), else ``model(x)``. The output is clamped to [0, 1], rounded to uint8 and, when ``size`` is
    set, resized to ``size`` with PIL bicubic.
    """

    kind = "learned"

    def __init__(self, checkpoint, device: str = "cpu", size: int | None = None):
        if not isinstance(checkpoint, (str, Path)) or not str(checkpoint):
            raise ConfigError(f"degradation 'learned' needs a checkpoint file, got {checkpoint!r}")
        self.checkpoint = str(checkpoint)
        self.device = str(device)
        self.size = _check_size("learned", "size", size, True)
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        """The network (loaded on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from .. import registry

                    try:
                        path = registry.model_file(self.checkpoint)  # a model file or a name with weights
                    except FacesrError as e:
                        raise ConfigError(f"learned degradation: {e}") from None
                    try:
                        self._model = registry.load(path, device=self.device).eval()
                    except FacesrError as e:
                        raise ConfigError(f"learned degradation: cannot load {self.checkpoint}: {e}") from None
        return self._model

    def _lr(self, hr, rng):
        import torch

        model = self.model
        seed = int(rng.integers(2**63))
        n = getattr(model, "lr_size", None)
        if n and hr.shape[:2] != (n, n):
            hr = pil_resize(hr, n, "bicubic")
        dev = next(iter(model.parameters()), torch.empty(0)).device
        x = torch.from_numpy(hr.transpose(2, 0, 1).astype(np.float32) / 255.0)[None].to(dev)
        with torch.no_grad():
            if callable(getattr(model, "degrade", None)):
                g = torch.Generator(device=dev).manual_seed(seed)
                y = model.degrade(x, g)
            else:
                y = model(x)
        out = (y[0].float().clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        if self.size and out.shape[:2] != (self.size, self.size):
            out = pil_resize(np.ascontiguousarray(out), self.size, "bicubic")
        return np.ascontiguousarray(out)

    def spec(self):
        return {"kind": "learned", "checkpoint": self.checkpoint, "device": self.device, "size": self.size}

    def describe(self, hr_size=None):
        return f"learned {Path(self.checkpoint).name} {hr_size or ''}->{self.size or 'net size'}"


class Mixture(Degradation):
    """One of several degradations per image: member ``i`` with probability ``p[i]``.

    The choice is the first draw from the image's ``rng``; the chosen member then draws from the same
    generator, so a seeded call repeats. Members must make LR images of one size for batches to stack
    (not checked here: a learned member's size is known only once loaded).
    """

    kind = "mixture"

    def __init__(self, of, p=None, lr_size: int | None = None):
        if not isinstance(of, (list, tuple)) or len(of) < 2:
            raise ConfigError(f"degradation 'mixture' needs a list of at least two degradations in 'of', got {of!r}")
        self.members = [make_degradation(m, lr_size) for m in of]
        if p is None:
            p = [1.0] * len(of)
        if (not isinstance(p, (list, tuple)) or len(p) != len(of)
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in p) or sum(p) <= 0):
            raise ConfigError(f"degradation 'mixture': p must be {len(of)} non-negative numbers with a positive "
                              f"sum (one per member of 'of'), got {p!r}")
        self.p = [float(v) / float(sum(p)) for v in p]

    def outputs(self, hr, rng=None):
        rng = _rng(rng)
        i = int(rng.choice(len(self.members), p=self.p))
        return self.members[i].outputs(hr, rng)

    def spec(self):
        return {"kind": "mixture", "of": [m.spec() for m in self.members], "p": list(self.p)}

    def describe(self, hr_size=None):
        return "mixture of " + ", ".join(f"{m.describe(hr_size)} ({p:.0%})" for m, p in zip(self.members, self.p))


KINDS: dict[str, type] = {c.kind: c for c in (Bicubic, Bilinear, BilinearCascade, Pipeline, Learned, Mixture)}


def _known() -> list[str]:
    from .blind import PRESETS

    return sorted(list(KINDS) + list(PRESETS))


def _options(kind: str, spec: dict, valid: list[str]) -> None:
    bad = sorted(set(spec) - set(valid))
    if bad:
        raise ConfigError(f"degradation {kind!r} has no option {', '.join(map(repr, bad))}; "
                          f"valid: {', '.join(valid) or '(none)'}")


def make_degradation(spec, lr_size: int | None = None) -> Degradation:
    """A :class:`Degradation` from a kind name or a spec dict (or a Degradation, returned as is).

    ``lr_size`` is the LR side used when the spec has no ``lr_size`` of its own: for ``bicubic``,
    ``bilinear`` and ``bilinear_cascade`` it defaults to 16; pipelines and blind presets without one
    keep the input's size; for ``learned`` it is the output ``size`` when the spec has none.
    Unknown kinds and options raise :class:`~facesr.errors.ConfigError` listing the valid ones.
    """
    from .blind import PRESETS, preset_steps

    if isinstance(spec, Degradation):
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ConfigError(f"a degradation must be a kind name or a mapping with 'kind' "
                          f"({', '.join(_known())}), got {spec!r}")
    spec = dict(spec)
    kind = spec.pop("kind")
    if kind not in KINDS and kind not in PRESETS:
        raise ConfigError(f"unknown degradation {kind!r}; known: {', '.join(_known())}")
    if kind in PRESETS:
        size = spec.pop("lr_size", lr_size)
        return Pipeline(preset_steps(kind, **spec), lr_size=size, name=kind)
    if kind == "learned":
        _options(kind, spec, ["checkpoint", "device", "size"])
        if "checkpoint" not in spec:
            raise ConfigError("degradation 'learned' needs a checkpoint file (checkpoint: PATH)")
        spec.setdefault("size", lr_size)
        return Learned(**spec)
    if kind == "mixture":
        _options(kind, spec, ["of", "p", "lr_size"])
        return Mixture(spec.get("of"), spec.get("p"), spec.get("lr_size", lr_size))
    if kind == "pipeline":
        _options(kind, spec, ["steps", "lr_size", "name"])
        spec.setdefault("lr_size", lr_size)
        return Pipeline(spec.get("steps"), spec["lr_size"], spec.get("name"))
    _options(kind, spec, ["lr_size"])
    return KINDS[kind](lr_size=spec.get("lr_size", lr_size))
