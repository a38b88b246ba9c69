"""Inference back-ends: one call turns any facesr SR model into a module that computes the same function.

    net = facesr.load("sparnet")
    fast = inference_model(net, backend="torch")   # one of BACKENDS
    sr = fast(lr)                                  # same contract: LR N x 3 x lr x lr in [0, 1] -> SR in [0, 1]

Back-ends (each works for every registry model; outputs within 1e-4 of ``model.eval()``, tested):

* ``eager``        the model itself, in eval mode.
* ``torch``        :func:`facesr.deploy.torch_backend.build_torch`: the model's own inference rewrite when
                   its class has a method ``inference_rewrite(target)`` (SPARNet's:
                   :mod:`facesr.models.sparnet.inference`), else the generic one (weight norms materialised,
                   BatchNorm folded into the conv before it, channels_last on float32 CPU), run under
                   ``torch.inference_mode()``. Any device.
* ``onnxruntime``  the ``torch`` back-end's graph (``target="onnx"``) exported to ONNX in memory and run by
                   ONNX Runtime on the CPU (float32 CPU models; ``pip install 'facesr[onnx]'``).
* ``ncnn``         the ``torch`` back-end's graph (``target="ncnn"``) converted by pnnx and run by ncnn on
                   the CPU, one face at a time; converted once per weights into ``$FACESR_CACHE/ncnn`` and
                   checked on load (``pip install 'facesr[ncnn]'``).
* ``auto``         ``torch``.

A model package may add a back-end with :func:`register_backend`. Figures: docs/performance.md. This module
imports no torch (the command line builds its parser from ``BACKENDS``).
"""
from __future__ import annotations

__all__ = ["BACKENDS", "inference_model", "register_backend"]

_BUILDERS = {
    "eager": None,
    "torch": "facesr.deploy.torch_backend:build_torch",
    "onnxruntime": "facesr.deploy.onnx_backend:OrtSR",
    "ncnn": "facesr.deploy.ncnn_backend:cached_ncnn",
}
_THREADED = {"onnxruntime", "ncnn"}  # builders that take ``threads=``

BACKENDS = ("auto",) + tuple(_BUILDERS)
"""Names accepted by :func:`inference_model` (``auto`` first)."""


def register_backend(name: str, builder: str, threaded: bool = False) -> None:
    """Add back-end ``name``: ``builder`` is ``"module:callable"``, called as ``callable(model)`` (plus
    ``threads=`` when ``threaded``) and returning the module. ``ValueError`` if ``name`` is taken."""
    global BACKENDS
    if name in BACKENDS:
        raise ValueError(f"inference back-end {name!r} registered twice")
    _BUILDERS[name] = builder
    if threaded:
        _THREADED.add(name)
    BACKENDS = BACKENDS + (name,)


def inference_model(model, backend: str = "auto", device=None, threads: int | None = None):
    """``model`` (an SR ``nn.Module``) behind ``backend``, one of :data:`BACKENDS`.

    ``eager`` returns ``model`` itself in eval mode; the other back-ends build a new module (same
    input/output contract and ``lr_size`` / ``hr_size`` / ``facesr_meta`` attributes) and leave ``model``
    as it was. ``device``: where the result runs (None: the model's own device; the model is moved there
    first). ``threads``: CPU threads of back-ends with their own thread pool (None: torch's count). Raises
    :class:`~facesr.errors.FacesrError` (one line) for an unknown back-end name, a missing optional
    package or a model the back-end cannot run (a teacher, which needs more than the LR face).
    """
    import importlib

    from ..errors import FacesrError

    if backend == "auto":
        backend = "torch"
    if backend not in _BUILDERS:
        raise FacesrError(f"unknown inference back-end {backend!r}; choose one of {', '.join(BACKENDS)}")
    if _BUILDERS[backend] is not None:
        from ..models.common import require_lr_only

        require_lr_only(model, "the back-ends")
    if device is not None:
        model = model.to(device)
    if _BUILDERS[backend] is None:
        return model.eval()
    mod, _, fn = _BUILDERS[backend].partition(":")
    build = getattr(importlib.import_module(mod), fn)
    kw = {"threads": threads} if backend in _THREADED else {}
    return build(model, **kw).eval()
