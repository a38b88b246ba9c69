"""ONNX export of facesr models, checked against PyTorch with ONNX Runtime.

The exported graph's contract is the models' own: input ``lr`` = the LR face tensor in [0, 1], NCHW,
float32, ``N x 3 x lr_size x lr_size`` with a dynamic batch ``N``; output ``sr`` = the SR face in
[0, 1] (clamped), ``N x 3 x hr_size x hr_size``. The PIL-bicubic input upsampling of SPARNet is part of
the graph (two MatMuls with constant weights).

By default the graph is what the ``torch`` back-end builds for ``target="onnx"``
(:func:`facesr.deploy.torch_backend.export_module`: the model's own inference rewrite, else the generic
one, in plain NCHW ops); ``optimize=False`` exports the model's layer graph as it is.

Uses the TorchScript-based exporter (``dynamo=False``): it needs only ``onnx`` (for the checker)
and, for the check, ``onnxruntime`` -- ``pip install 'facesr[onnx]'``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from ..errors import FacesrError, require
from .torch_backend import export_module
from ..models.common import SRModel
from .artifacts import compare_outputs, model_sizes

__all__ = ["export_onnx", "ExportError", "ort_session", "OrtSR", "DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = 1e-4
_HINT = "'facesr[onnx]'"


class ExportError(FacesrError):
    """The model cannot be exported, or the exported graph does not match PyTorch."""


def ort_session(path, threads: int | None = None, optimization: str = "all", spinning: bool = False):
    """An ONNX Runtime CPU session for ``path`` (a file, or the model's bytes; ``threads`` intra-op
    threads; None = runtime default).

    ``spinning=False`` stops ORT's worker threads from busy-waiting between runs (its default), which on
    a small machine takes the cores away from everything else, PyTorch included.
    """
    ort = require("onnxruntime", _HINT, purpose="running ONNX models")
    so = ort.SessionOptions()
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[optimization]
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    src = path if isinstance(path, (bytes, bytearray)) else str(path)
    return ort.InferenceSession(src, sess_options=so, providers=["CPUExecutionProvider"])


def export_onnx(model, path, opset: int = 17, check: bool = True, *, optimize: bool = True,
                batch_sizes=(1, 3), tolerance: float = DEFAULT_TOLERANCE, seed: int = 0) -> dict:
    """Export ``model`` (LR in [0,1] -> SR in [0,1], dynamic batch) to ``path`` as ONNX.

    With ``check`` and ``onnxruntime`` installed, runs the file with ONNX Runtime on random LR inputs
    at each of ``batch_sizes`` and compares with the PyTorch model in eval mode. Returns a dict:
    ``path, opset, input, output, lr_size, hr_size, optimized, checked`` and, when checked,
    ``max_abs_diff`` (over all batch sizes), ``diffs`` ({batch: diff}), ``tolerance``, ``ok``
    (``max_abs_diff <= tolerance``) and ``onnxruntime`` (its version); ``reason`` says why not checked.
    Does not raise on a failed comparison (``ok`` is False); raises :class:`ExportError` when the
    export itself fails and :class:`~facesr.errors.MissingDependencyError` without ``onnx``.
    """
    onnx = require("onnx", _HINT, purpose="ONNX export")
    path = Path(path)
    lr_size, hr_size = model_sizes(model)
    p = next(model.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        net = export_module(model, "onnx", optimize).eval()
        example = torch.rand(1, 3, lr_size, lr_size, device=device)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ExportError(f"cannot create the output folder {path.parent}: {e.strerror or e}") from None
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
                torch.onnx.export(net, (example,), str(path), dynamo=False, opset_version=int(opset),
                                  input_names=["lr"], output_names=["sr"],
                                  dynamic_axes={"lr": {0: "batch"}, "sr": {0: "batch"}},
                                  do_constant_folding=True)
        except OSError as e:
            raise ExportError(f"cannot write {path}: {e.strerror or e}") from None
        except (RuntimeError, ValueError, TypeError) as e:
            msg = " ".join(str(e).split())[:300]
            raise ExportError(f"ONNX export (opset {opset}) failed: {msg}") from None
        try:
            onnx.checker.check_model(str(path))
        except Exception as e:  # onnx.checker.ValidationError and friends
            raise ExportError(f"the exported file {path} is not valid ONNX: {' '.join(str(e).split())[:300]}") \
                from None
        info = {"path": str(path), "opset": int(opset), "input": "lr", "output": "sr",
                "input_shape": ["batch", 3, lr_size, lr_size], "output_shape": ["batch", 3, hr_size, hr_size],
                "lr_size": lr_size, "hr_size": hr_size, "optimized": bool(optimize),
                "bytes": os.path.getsize(path), "checked": False}
        if not check:
            info["reason"] = "check disabled"
            return info
        try:
            ort = require("onnxruntime", _HINT, purpose="checking the ONNX export")
        except ImportError as e:
            info["reason"] = str(e)
            return info
        sess = ort_session(path)
        try:
            diffs = compare_outputs(model, lambda x: sess.run(["sr"], {"lr": x.numpy()})[0], lr_size, batch_sizes,
                                    seed, what="ONNX Runtime")
        except ValueError as e:
            raise ExportError(str(e)) from None
        worst = max(diffs.values()) if diffs else 0.0
        info.update(checked=True, diffs=diffs, max_abs_diff=worst, tolerance=float(tolerance),
                    ok=bool(worst <= tolerance), onnxruntime=ort.__version__)
        return info
    finally:
        model.train(was_training)


class OrtSR(SRModel):
    """The ``onnxruntime`` back-end: the ONNX graph of :func:`export_module` run by ONNX Runtime's CPU
    provider, its worker threads not spinning between runs. LR ``N x 3 x lr x lr`` in [0, 1] -> SR in
    [0, 1], CPU float tensors, any batch size; safe to call from several threads at once. Carries
    ``lr_size``, ``hr_size`` and ``facesr_meta``. Raises :class:`ExportError` for a model that is not a
    float32 CPU model or cannot be exported, ``MissingDependencyError`` without ``onnxruntime``."""

    backend = "onnxruntime"

    def __init__(self, model: torch.nn.Module, threads: int | None = None, opset: int = 17):
        super().__init__()
        import io

        self.lr_size, self.hr_size = model_sizes(model)
        if hasattr(model, "facesr_meta"):
            self.facesr_meta = model.facesr_meta
        p = next(model.parameters(), None)
        if p is not None and (p.device.type != "cpu" or p.dtype != torch.float32):
            raise ExportError("the onnxruntime back-end runs float32 models on the CPU; use backend='torch' "
                              f"for a model on {p.device} / {p.dtype}")
        require("onnxruntime", _HINT, purpose="running ONNX models")
        was_training = model.training
        model.eval()
        buf = io.BytesIO()
        try:
            net = export_module(model, "onnx").eval()
            example = torch.rand(1, 3, self.lr_size, self.lr_size)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
                torch.onnx.export(net, (example,), buf, dynamo=False, opset_version=int(opset),
                                  input_names=["lr"], output_names=["sr"],
                                  dynamic_axes={"lr": {0: "batch"}, "sr": {0: "batch"}}, do_constant_folding=True)
        except (RuntimeError, ValueError, TypeError) as e:
            raise ExportError(f"cannot export the model for onnxruntime: {' '.join(str(e).split())[:300]}") \
                from None
        finally:
            model.train(was_training)
        self.session = ort_session(buf.getvalue(), threads=threads or torch.get_num_threads())

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        x = lr.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(["sr"], {"lr": x})[0])
