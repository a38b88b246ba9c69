"""Inference back-ends: one call turns a facesr SR model into a faster module that computes the same function.

    net = facesr.load("sparnet")
    fast = inference_model(net, backend="onnxruntime")   # or "torch" (optimised PyTorch), "eager", "auto"
    sr = fast(lr)                                          # same contract: LR in [0, 1] -> SR in [0, 1]

Back-ends (all compute the model's own function; outputs within 1e-4 of ``net.eval()``, tested):

* ``eager``        the model as it is, in eval mode.
* ``torch``        :func:`facesr.inference.optimize.optimize_for_inference` (BatchNorm folded, up-convs at
                   low resolution, channels_last, oneDNN with pre-packed weights on CPUs): pure PyTorch,
                   any device, builds in under half a second for the 16x16 models.
* ``onnxruntime``  the optimised graph exported to ONNX in memory and run by ONNX Runtime's CPU provider
                   (:class:`OrtSR`), its worker threads not spinning between runs. Measured on the 2-core
                   test machine with OpenMP's default wait policy (as a user's process runs): slower than
                   ``torch`` for every 16x16 model at batch 1 (SPARNet 122 vs 100 ms); at batch 16 the two
                   are close and which one wins changed between runs (in the latest, by median time ORT was
                   faster only for sparnet-prelu, by 7 %;
                   benchmarks/results/inference_omp_default.md); faster for SPARNetHD at 512 px (8.8 vs
                   11.4 s, benchmarks/results/inference_sparnethd.md). Building it (trace + export +
                   session) takes 0.9-5 s for the 16x16 models, 21 s for SPARNetHD; needs
                   ``pip install 'facesr[onnx]'``.
* ``aoti``         the optimised graph compiled ahead of time by AOTInductor into native code
                   (:mod:`facesr.inference.aoti`; float32 CPU models): compiled once per weights into
                   ``~/.cache/facesr/aoti`` (about a minute for SPARNet; needs a C++ compiler), then loaded
                   in a fraction of a second. Any batch size. On the test machine, SPARNet: 1.09x the
                   ``torch`` back-end's speed at batch 1 and 1.19x at batch 16 (one run,
                   benchmarks/results/aoti_dynamic.md); for long jobs where the compile pays off.
* ``ncnn``         the graph converted for Tencent's ncnn runtime and run by its CPU engine
                   (:mod:`facesr.inference.ncnn_backend`): 3x3 convs as float32 Winograd. With OpenMP's
                   default waiting the fastest back-end measured on the 2-core test machine for SPARNet
                   (1.3-1.5x ``torch``, 2.0-2.4x eager at batch 1: benchmarks/results/
                   inference_omp_default.md, inference_sparnet_omp_default.md); under
                   ``OMP_WAIT_POLICY=PASSIVE`` no faster than ``torch`` (inference.md). Converted once per
                   weights into ``~/.cache/facesr/ncnn`` (3-13 s for the 16x16 models), one face at a
                   time; needs ``pip install 'facesr[ncnn]'``.
* ``auto``         ``torch``: no optional package, no conversion or cache, any device, builds in well
                   under a second; pass ``ncnn`` for the fastest CPU runs.

:class:`OrtSR` is an ``nn.Module`` (so that callers treat it like any model) with ``lr_size``, ``hr_size``,
``facesr_meta`` and ``backend`` attributes (an :class:`~facesr.models.common.SRModel`: ``scale`` and the input
check are the models' own); it takes and returns CPU float tensors, any batch size.
ONNX Runtime sessions are safe to call from several threads at once.
"""
from __future__ import annotations

import io
import warnings

import torch

from ..errors import FacesrError
from ..models.common import SRModel

__all__ = ["BACKENDS", "OrtSR", "inference_model"]

from . import BACKENDS  # noqa: E402  (defined in the torch-free package init)


class OrtSR(SRModel):
    """An SR model run by ONNX Runtime (CPU): LR ``N x 3 x lr x lr`` in [0, 1] -> SR in [0, 1]."""

    backend = "onnxruntime"

    def __init__(self, model: torch.nn.Module, threads: int | None = None, opset: int = 17):
        super().__init__()
        from .artifacts import model_sizes
        from .export import _export_module, ort_session

        self.lr_size, self.hr_size = model_sizes(model)
        if hasattr(model, "facesr_meta"):
            self.facesr_meta = model.facesr_meta
        p = next(model.parameters(), None)
        if p is not None and (p.device.type != "cpu" or p.dtype != torch.float32):
            raise FacesrError("the onnxruntime back-end runs float32 models on the CPU; use backend='torch' "
                              f"for a model on {p.device} / {p.dtype}")
        was_training = model.training
        model.eval()
        buf = io.BytesIO()
        try:
            net = _export_module(model, optimize=True).eval()
            example = torch.rand(1, 3, self.lr_size, self.lr_size)
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
                torch.onnx.export(net, (example,), buf, dynamo=False, opset_version=int(opset),
                                  input_names=["lr"], output_names=["sr"],
                                  dynamic_axes={"lr": {0: "batch"}, "sr": {0: "batch"}}, do_constant_folding=True)
        except (RuntimeError, ValueError, TypeError) as e:
            raise FacesrError(f"cannot export the model for onnxruntime: {' '.join(str(e).split())[:300]}") \
                from None
        finally:
            model.train(was_training)
        self.session = ort_session(buf.getvalue(), threads=threads or torch.get_num_threads())

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        x = lr.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(["sr"], {"lr": x})[0])


def inference_model(model: torch.nn.Module, backend: str = "auto", threads: int | None = None) -> torch.nn.Module:
    """``model`` behind ``backend`` (see the module docstring). ``eager`` returns ``model`` itself, put in
    eval mode; the other back-ends build a new module and leave ``model`` as it was."""
    if backend not in BACKENDS:
        raise FacesrError(f"unknown inference back-end {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "eager":
        return model.eval()
    if backend == "onnxruntime":
        return OrtSR(model, threads=threads).eval()
    if backend == "aoti":
        from .aoti import cached_aoti

        return cached_aoti(model).eval()
    if backend == "ncnn":
        from .ncnn_backend import cached_ncnn

        return cached_ncnn(model, threads=threads).eval()
    from .optimize import optimize_for_inference

    return optimize_for_inference(model)
