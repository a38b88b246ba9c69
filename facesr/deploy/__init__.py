"""Inference back-ends: one call turns any facesr SR model into a module that computes the same function.

    net = facesr.load("sparnet")
    fast = inference_model(net, backend="torch")   # "auto", "eager", "torch", ...: see ``BACKENDS``
    sr = fast(lr)                                  # same contract: LR N x 3 x lr x lr in [0, 1] -> SR in [0, 1]

This module imports no torch (the command line builds its parser from ``BACKENDS``); the back-ends are
imported when :func:`inference_model` is called.
"""
from __future__ import annotations

__all__ = ["BACKENDS", "inference_model"]

BACKENDS = ("auto", "eager", "torch", "onnxruntime", "aoti", "ncnn")
"""Names accepted by :func:`inference_model` (``auto`` first)."""


def inference_model(model, backend: str = "auto", device=None, threads: int | None = None):
    """``model`` (an SR ``nn.Module``) behind ``backend``, one of :data:`BACKENDS`.

    ``eager`` returns ``model`` itself in eval mode; the other back-ends build a new module (same
    input/output contract and ``lr_size`` / ``hr_size`` / ``facesr_meta`` attributes) and leave ``model``
    as it was. ``device``: where the result runs (None: the model's own device). ``threads``: CPU threads
    of back-ends with their own thread pool (None: torch's count). Raises :class:`~facesr.errors.FacesrError`
    (one line) for an unknown back-end name, a missing optional package or a model the back-end cannot run.
    """
    from ..errors import FacesrError

    if backend not in BACKENDS:
        raise FacesrError(f"unknown inference back-end {backend!r}; choose one of {', '.join(BACKENDS)}")
    if device is not None:
        model = model.to(device)
    from ..inference.runtime import inference_model as _impl

    return _impl(model, backend, threads=threads)
