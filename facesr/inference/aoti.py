"""AOTInductor packages: a facesr model compiled ahead of time into native code (a ``.pt2`` file).

    info = compile_aoti(facesr.load("sparnet"), "sparnet.pt2")     # ~1 min; checked against PyTorch
    sr = AotiSR("sparnet.pt2")(lr)                                   # LR in [0, 1] -> SR in [0, 1]
    fast = inference_model(net, backend="aoti")                      # compiled once, then cached

What is compiled is the graph of :func:`facesr.inference.optimize.optimize_for_inference` (BatchNorm
folded, up-convs at low resolution), exported with ``torch.export`` and compiled by
``torch._inductor.aoti_compile_and_package`` with inductor's freezing on: weights become constants,
convolutions call oneDNN with pre-packed weights and fused activations, and padding and element-wise
work run as generated C++ loops, with no Python between the ops. The package runs without Python too
(PyTorch's C++ ``AOTIModelPackageLoader``).

Measured on the 2-core test CPU, SPARNet, OpenMP's default wait policy, one run each
(benchmarks/results/aoti_static_b1.md, aoti_dynamic.md): a batch-1 package ran 1.18x as fast as the
``torch`` back-end at batch 1; an any-batch package 1.09x at batch 1 and 1.19x at batch 16; compiling
took 57 and 70 s. ``compile_aoti(..., winograd=2)`` computes the 3x3 convs with 128 or more channels as
Winograd F(2x2, 3x3) (:func:`facesr.inference.optimize.optimize_for_inference`): in one run
(benchmarks/results/aoti_winograd.md, SPARNet, perturbed random weights) 1.21x the ``torch`` back-end
against the plain package's 1.14x, but compiling took 216 s instead of 49 s, so the back-end and
``facesr export`` leave it off.

Costs and limits:

* compiling needs a C++ compiler (``c++``/``g++``/``clang++`` on ``PATH``, or ``$CXX``) and torch >= 2.6,
  and takes about a minute for SPARNet; :func:`cached_aoti` keeps packages under ``$FACESR_CACHE/aoti``
  (default ``~/.cache/facesr/aoti``), keyed by the weights, the torch version, the thread count and the
  batch mode, so each is compiled once;
* a package is fixed to the CPU kind, the torch version and the number of OpenMP threads it was built
  with, and a static package to its batch size;
* a package is a native library: loading one runs its code. Load only packages you compiled yourself.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import torch

from ..errors import FacesrError
from ..models.common import SRModel
from .artifacts import cache_dir, compare_outputs, ensure_folder, model_key, model_sizes

__all__ = ["AotiError", "AotiSR", "aoti_unavailable_reason", "compile_aoti", "cached_aoti", "aoti_cache_dir"]

DEFAULT_TOLERANCE = 1e-4
_MIN_TORCH = (2, 6)


class AotiError(FacesrError):
    """AOTInductor compilation is unavailable here, failed, or a package cannot be loaded or used."""


def _torch_version() -> tuple[int, int]:
    parts = torch.__version__.split("+")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return (0, 0)


def _compiler() -> str | None:
    cxx = os.environ.get("CXX")
    if cxx and shutil.which(cxx):
        return cxx
    for name in ("c++", "g++", "clang++"):
        if shutil.which(name):
            return name
    return None


def _torch_too_old() -> str | None:
    if _torch_version() < _MIN_TORCH:
        return (f"AOTInductor packages need torch >= {_MIN_TORCH[0]}.{_MIN_TORCH[1]} "
                f"(this is {torch.__version__}); use backend 'torch' or 'onnxruntime'")
    return None


def aoti_unavailable_reason() -> str | None:
    """Why models cannot be compiled with AOTInductor here (None: they can)."""
    too_old = _torch_too_old()
    if too_old:
        return too_old
    if _compiler() is None:
        return ("AOTInductor needs a C++ compiler and none was found (c++, g++ or clang++ on PATH, or $CXX); "
                "install one (e.g. 'apt install g++') or use backend 'torch' or 'onnxruntime'")
    return None


def aoti_cache_dir() -> Path:
    """``$FACESR_CACHE/aoti``, else ``$XDG_CACHE_HOME/facesr/aoti``, else ``~/.cache/facesr/aoti``."""
    return cache_dir("aoti")


def compile_aoti(model: torch.nn.Module, path, *, batch: int | None = None, check: bool = True,
                 tolerance: float = DEFAULT_TOLERANCE, seed: int = 0, **optimize_kw) -> dict:
    """Compile ``model`` (a float32 CPU SR model) into the AOTInductor package ``path`` (``.pt2``).

    ``batch=None`` compiles for any batch size (1 to 1024); ``batch=N`` for batch N only (faster at run
    time: see the module docstring). With ``check`` the package is loaded and compared with
    ``model.eval()`` on random LR faces (batch 1 and 3, or N). Returns a dict like
    :func:`facesr.inference.export.export_onnx`'s: ``path, bytes, lr_size, hr_size, batch, compile_s,
    checked`` and, when checked, ``diffs`` ({batch: max abs diff}), ``max_abs_diff``, ``tolerance``, ``ok``.
    ``optimize_kw`` go to :func:`facesr.inference.optimize.optimize_for_inference` (e.g. ``winograd=2``)
    and are written into the package's metadata.
    Raises :class:`AotiError` when compiling is unavailable or fails.
    """
    reason = aoti_unavailable_reason()
    if reason:
        raise AotiError(reason)
    from torch._inductor import aoti_compile_and_package

    from .optimize import optimize_for_inference

    p = next(model.parameters(), None)
    if p is not None and (p.device.type != "cpu" or p.dtype != torch.float32):
        raise AotiError(f"facesr compiles float32 CPU models with AOTInductor; this one is on {p.device} / {p.dtype}")
    if batch is not None and not 1 <= int(batch) <= 1024:
        raise AotiError(f"the static batch size must be 1-1024, got {batch}")
    path = Path(path)
    lr_size, hr_size = model_sizes(model)
    was_training = model.training
    model.eval()
    try:
        net = optimize_for_inference(model, **optimize_kw)
        n = 2 if batch is None else int(batch)
        example = torch.rand(n, 3, lr_size, lr_size)
        shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if batch is None else None
        meta = {"facesr_lr_size": str(lr_size), "facesr_hr_size": str(hr_size),
                "facesr_batch": "dynamic" if batch is None else str(int(batch)),
                "facesr_threads": str(torch.get_num_threads()), "facesr_torch": torch.__version__}
        meta.update({f"facesr_opt_{k}": str(v) for k, v in sorted(optimize_kw.items())})
        src = getattr(model, "facesr_meta", None) or {}
        for key in ("arch", "preset"):  # what the weights are, when they came from a facesr checkpoint
            if src.get(key):
                meta[f"facesr_{key}"] = str(src[key])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise AotiError(f"cannot create the output folder {path.parent}: {e.strerror or e}") from None
        t = time.perf_counter()
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ep = torch.export.export(net, (example,), dynamic_shapes=shapes)
                aoti_compile_and_package(ep, package_path=str(path),
                                         inductor_configs={"freezing": True, "aot_inductor.metadata": meta})
        except OSError as e:
            raise AotiError(f"cannot write {path}: {e.strerror or e}") from None
        except Exception as e:  # export / inductor / C++ compiler failures come in many types
            msg = " ".join(str(e).split())[:300]
            raise AotiError(f"AOTInductor compilation failed: {type(e).__name__}: {msg}") from None
        info = {"path": str(path), "bytes": os.path.getsize(path), "lr_size": lr_size, "hr_size": hr_size,
                "batch": "dynamic" if batch is None else int(batch), "compile_s": time.perf_counter() - t,
                "checked": False}
        if not check:
            info["reason"] = "check disabled"
            return info
        runner = AotiSR(path)
        try:
            diffs = compare_outputs(model, runner, lr_size, (1, 3) if batch is None else (int(batch),), seed,
                                    what="the package")
        except ValueError as e:
            raise AotiError(str(e)) from None
        worst = max(diffs.values())
        info.update(checked=True, diffs=diffs, max_abs_diff=worst, tolerance=float(tolerance),
                    ok=bool(worst <= tolerance))
        return info
    finally:
        model.train(was_training)


class AotiSR(SRModel):
    """An SR model compiled by :func:`compile_aoti`: LR ``N x 3 x lr x lr`` in [0, 1] -> SR in [0, 1].

    Loading runs the package's native code: load only packages you compiled yourself."""

    backend = "aoti"

    def __init__(self, path):
        super().__init__()
        reason = _torch_too_old()  # loading needs no compiler, only a recent torch
        if reason:
            raise AotiError(reason)
        path = Path(path)
        if not path.is_file():
            raise AotiError(f"no AOTInductor package at {path}")
        from torch._inductor import aoti_load_package

        try:
            self.runner = aoti_load_package(str(path))
            meta = dict(self.runner.get_metadata())
        except Exception as e:  # a corrupt or foreign file, or one built by another torch
            raise AotiError(f"cannot load the AOTInductor package {path}: {' '.join(str(e).split())[:300]}") \
                from None
        if "facesr_lr_size" not in meta:
            raise AotiError(f"{path} is not a facesr package (no facesr metadata); compile it with "
                            "facesr export -o FILE.pt2")
        self.path = str(path)
        self.lr_size, self.hr_size = int(meta["facesr_lr_size"]), int(meta["facesr_hr_size"])
        self.batch = None if meta.get("facesr_batch", "dynamic") == "dynamic" else int(meta["facesr_batch"])
        self.metadata = {k: v for k, v in meta.items() if k.startswith("facesr_")}

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        if self.batch is not None and lr.shape[0] != self.batch:
            raise ValueError(f"this AOTInductor package was compiled for batch {self.batch}, got {lr.shape[0]}")
        return self.runner(lr.detach().to("cpu", torch.float32).contiguous())


def _cache_key(model, batch) -> str:
    return model_key(model, batch, torch.__version__, torch.get_num_threads(),
                     torch.backends.cpu.get_cpu_capability())


def cached_aoti(model: torch.nn.Module, *, batch: int | None = None, cache_dir=None, progress=print) -> AotiSR:
    """``model`` compiled with :func:`compile_aoti` into the cache (once per weights, torch version, thread
    count and ``batch``), loaded as an :class:`AotiSR`; ``progress`` gets one line before a compile."""
    reason = _torch_too_old()
    if reason:
        raise AotiError(reason)
    folder = Path(cache_dir) if cache_dir is not None else aoti_cache_dir()
    path = folder / f"{_cache_key(model, batch)}.pt2"
    if not path.is_file():
        reason = aoti_unavailable_reason()  # a cached package loads without a compiler
        if reason:
            raise AotiError(reason)
        ensure_folder(folder, "AOTInductor cache folder", AotiError)
        if progress is not None:
            progress(f"compiling the model with AOTInductor into {path} (about a minute for SPARNet; once)")
        fd, tmp = tempfile.mkstemp(suffix=".pt2", dir=folder)
        os.close(fd)
        try:
            info = compile_aoti(model, tmp, batch=batch, check=True)
            if not info["ok"]:
                raise AotiError(f"the compiled package differs from PyTorch by {info['max_abs_diff']:.2e} "
                                f"> {info['tolerance']:.0e}; not cached")
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    runner = AotiSR(path)
    if hasattr(model, "facesr_meta"):
        runner.facesr_meta = model.facesr_meta
    return runner
