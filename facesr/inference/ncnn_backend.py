"""ncnn: a facesr model converted for Tencent's ncnn inference runtime (``.param`` + ``.bin``).

    info = export_ncnn(facesr.load("sparnet"), "sparnet.param")   # + sparnet.bin; ~10 s; checked
    sr = NcnnSR("sparnet.param")(lr)                               # LR in [0, 1] -> SR in [0, 1]
    fast = inference_model(net, backend="ncnn")                    # converted once, then cached

ncnn is the runtime that phones, embedded boards and the ``*-ncnn-vulkan`` builds of Real-ESRGAN /
GFPGAN run super-resolution with, and on x86 CPUs it is also the fastest facesr back-end at batch 1: its
3x3 stride-1 convolutions run as Winograd F(6x6, 3x3) / F(4x4, 3x3) (about a fifth / a quarter of the
multiplications of a direct convolution), in float32 here. On the 2-core AVX2 test machine, with
OpenMP's default waiting, one SPARNet face took 84.5 ms against 124.9 ms for the ``torch`` back-end and
194.4 ms eager (2.38x eager; benchmarks/results/inference_sparnet_omp_default.md). ncnn's own OpenMP
runtime reads ``OMP_WAIT_POLICY`` too: under ``PASSIVE`` every one of its ~600 layers wakes a sleeping
thread, and it is no faster than ``torch`` (benchmarks/results/inference.md).

What is converted is the graph of :func:`facesr.inference.optimize.optimize_for_inference` with
BatchNorm folded into the convs and the nearest-x2 up-convs kept at full resolution (``up_mode='nearest'``:
ncnn runs those as Winograd convolutions, which measured faster than its transposed convolutions), the
PIL-bicubic input upsampling (two matrix products), the [0, 1] <-> [-1, 1] scaling and the final clamp
included: the files are the whole model, input ``in0`` = one LR face ``3 x lr x lr`` in [0, 1], output
``out0`` = ``3 x hr x hr`` in [0, 1]. The conversion traces that module with TorchScript and runs the
``pnnx`` converter (``pip install 'facesr[ncnn]'``); weights are written in float32 (pnnx's default
would halve them to float16, which moved a single conv's output by 1e-3). A ``<name>.facesr.json`` next to
the files records the sizes, the blob names, where the weights came from and the check against PyTorch.

:class:`NcnnSR` runs the files with ncnn's Python binding on the CPU, one face at a time (ncnn blobs have
no batch axis), with ``threads`` OpenMP threads (default: torch's intra-op count) and every reduced
precision switched off (float16 / bfloat16 storage and arithmetic, int8), so the outputs stay within 1e-4
of PyTorch (tested). ncnn brings its own OpenMP runtime; it and PyTorch's take turns, they do not share
threads.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import FacesrError, require
from ..models.common import SRModel
from .artifacts import cache_dir, compare_outputs, ensure_folder, model_key, model_sizes

__all__ = ["NcnnError", "NcnnSR", "export_ncnn", "cached_ncnn", "ncnn_cache_dir", "DEFAULT_TOLERANCE"]

DEFAULT_TOLERANCE = 1e-4
_HINT = "'facesr[ncnn]'"
INPUT, OUTPUT = "in0", "out0"  # pnnx's blob names for the traced module's input and output
_REDUCED = ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed",
            "use_int8_inference", "use_int8_storage", "use_int8_packed", "use_int8_arithmetic")


class NcnnError(FacesrError):
    """The model cannot be converted for ncnn, or ncnn files cannot be loaded or used."""


def _files(path) -> tuple[Path, Path, Path]:
    """(``X.param``, ``X.bin``, ``X.facesr.json``) for ``X.param`` (or ``X``)."""
    path = Path(path)
    stem = str(path.with_suffix("") if path.suffix.lower() == ".param" else path)  # keeps dots: a.v2.param
    return Path(stem + ".param"), Path(stem + ".bin"), Path(stem + ".facesr.json")


def _tail(text: str, n: int = 300) -> str:
    return " ".join((text or "").split())[-n:]


def _convert(model: torch.nn.Module, param: Path, binf: Path, up_mode: str) -> float:
    """Trace the optimised ``model`` and convert it with pnnx into ``param`` / ``binf``; returns seconds."""
    pnnx = require("pnnx", _HINT, purpose="converting models for ncnn")
    from .optimize import optimize_for_inference

    lr_size, _ = model_sizes(model)
    net = optimize_for_inference(model, fold_bn=True, up_mode=up_mode, mkldnn=False, channels_last=False).eval()
    example = torch.rand(1, 3, lr_size, lr_size)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="facesr-pnnx-") as tmp:
        pt = os.path.join(tmp, "model.pt")
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
                torch.jit.trace(net, (example,), check_trace=False).save(pt)
        except (RuntimeError, ValueError, TypeError) as e:
            raise NcnnError(f"cannot trace the model for ncnn: {_tail(str(e))}") from None
        out = {k: os.path.join(tmp, f"model.{k}") for k in ("pnnxparam", "pnnxbin", "pnnxpy", "pnnxonnx",
                                                            "ncnnparam", "ncnnbin", "ncnnpy")}
        cmd = [pnnx.EXEC_PATH, pt, f"inputshape=[1,3,{lr_size},{lr_size}]f32", "device=cpu", "fp16=0"]
        cmd += [f"{k}={v}" for k, v in out.items()]
        try:
            res = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as e:
            raise NcnnError(f"cannot run the pnnx converter ({pnnx.EXEC_PATH}): {e}") from None
        if res.returncode != 0 or not os.path.isfile(out["ncnnparam"]) or not os.path.isfile(out["ncnnbin"]):
            raise NcnnError(f"pnnx could not convert the model (exit {res.returncode}): "
                            f"{_tail(res.stderr or res.stdout)}")
        try:
            param.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out["ncnnparam"], param)
            shutil.copyfile(out["ncnnbin"], binf)
        except OSError as e:
            raise NcnnError(f"cannot write {param} / {binf}: {e.strerror or e}") from None
    return time.perf_counter() - t


def export_ncnn(model: torch.nn.Module, path, *, check: bool = True, tolerance: float = DEFAULT_TOLERANCE,
                batch_sizes=(1, 3), seed: int = 0, up_mode: str = "nearest", threads: int | None = None) -> dict:
    """Convert ``model`` (a float32 CPU SR model) into ncnn's ``X.param`` + ``X.bin`` (``path`` is
    ``X.param``) and write ``X.facesr.json``. With ``check`` the files are loaded with ncnn and compared
    with ``model.eval()`` on random LR faces (each of ``batch_sizes``). Returns a dict like
    :func:`facesr.inference.export.export_onnx`'s: ``path, bin, bytes, lr_size, hr_size, input, output,
    convert_s, checked`` and, when checked, ``diffs``, ``max_abs_diff``, ``tolerance``, ``ok``.
    Does not raise on a failed comparison (``ok`` is False); raises :class:`NcnnError` when the conversion
    fails and :class:`~facesr.errors.MissingDependencyError` without ``pnnx`` / ``ncnn``.
    """
    p = next(model.parameters(), None)
    if p is not None and (p.device.type != "cpu" or p.dtype != torch.float32):
        raise NcnnError(f"facesr converts float32 CPU models for ncnn; this one is on {p.device} / {p.dtype}")
    param, binf, meta_path = _files(path)
    lr_size, hr_size = model_sizes(model)
    was_training = model.training
    model.eval()
    try:
        seconds = _convert(model, param, binf, up_mode)
        meta = {"format": "facesr-ncnn", "lr_size": lr_size, "hr_size": hr_size, "input": INPUT, "output": OUTPUT,
                "input_shape": [3, lr_size, lr_size], "output_shape": [3, hr_size, hr_size],
                "value_range": [0.0, 1.0], "up_mode": up_mode, "torch": torch.__version__}
        src = getattr(model, "facesr_meta", None) or {}
        for key in ("arch", "preset"):  # what the weights are, when they came from a facesr checkpoint
            if src.get(key):
                meta[key] = str(src[key])
        info = {"path": str(param), "bin": str(binf), "meta": str(meta_path),
                "bytes": os.path.getsize(param) + os.path.getsize(binf), "lr_size": lr_size, "hr_size": hr_size,
                "input": INPUT, "output": OUTPUT, "convert_s": seconds, "checked": False}
        if check:
            runner = NcnnSR(param, threads=threads, lr_size=lr_size, hr_size=hr_size)
            try:
                diffs = compare_outputs(model, runner, lr_size, batch_sizes, seed, what="ncnn")
            except ValueError as e:
                raise NcnnError(str(e)) from None
            worst = max(diffs.values())
            info.update(checked=True, diffs=diffs, max_abs_diff=worst, tolerance=float(tolerance),
                        ok=bool(worst <= tolerance))
            meta["check"] = {"max_abs_diff": worst, "tolerance": float(tolerance), "ok": info["ok"],
                             "batch_sizes": list(diffs), "ncnn": runner.ncnn_version}
        else:
            info["reason"] = "check disabled"
        try:
            meta_path.write_text(json.dumps(meta, indent=1) + "\n")
        except OSError as e:
            raise NcnnError(f"cannot write {meta_path}: {e.strerror or e}") from None
        return info
    finally:
        model.train(was_training)


class NcnnSR(SRModel):
    """ncnn files (:func:`export_ncnn`) run on the CPU: LR ``N x 3 x lr x lr`` in [0, 1] -> SR in [0, 1].

    ``lr_size`` / ``hr_size`` come from ``X.facesr.json`` when it is there (else they must be given, or the
    defaults 16 / 128 apply). Float32 throughout: ncnn's float16 / bfloat16 / int8 modes are switched off.
    """

    backend = "ncnn"

    def __init__(self, param, *, threads: int | None = None, lr_size: int | None = None,
                 hr_size: int | None = None):
        super().__init__()
        ncnn = require("ncnn", _HINT, purpose="running ncnn models")
        param, binf, meta_path = _files(param)
        for f in (param, binf):
            if not f.is_file():
                raise NcnnError(f"no ncnn file at {f} (an ncnn model is a .param and a .bin of the same name)")
        meta = {}
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError) as e:
                raise NcnnError(f"cannot read {meta_path}: {e}") from None
        self.lr_size = int(lr_size or meta.get("lr_size", 16))
        self.hr_size = int(hr_size or meta.get("hr_size", 128))
        self.input_name, self.output_name = meta.get("input", INPUT), meta.get("output", OUTPUT)
        self.metadata = meta
        self.path = str(param)
        self.ncnn_version = getattr(ncnn, "__version__", "?")
        self.threads = int(threads or torch.get_num_threads())
        net = ncnn.Net()
        net.opt.num_threads = self.threads
        for opt in _REDUCED:
            if hasattr(net.opt, opt):
                setattr(net.opt, opt, False)
        # ncnn returns non-zero (and prints to stderr) for a file it cannot parse
        if net.load_param(str(param)) != 0:
            raise NcnnError(f"{param} is not an ncnn .param file ncnn {self.ncnn_version} can read")
        if net.load_model(str(binf)) != 0:
            raise NcnnError(f"cannot load the weights {binf} (truncated, or not the .bin of {param.name}?)")
        self._ncnn, self.net = ncnn, net

    def _one(self, face: np.ndarray) -> np.ndarray:
        ex = self.net.create_extractor()
        # a Mat made from an array borrows its memory without a reference count, and a graph whose first layer
        # works in place (SPARNetHD's x * 2 - 1) then crashed ncnn (segfault): give it a copy it owns
        ex.input(self.input_name, self._ncnn.Mat(face).clone())
        ret, out = ex.extract(self.output_name)
        if ret != 0:
            raise NcnnError(f"ncnn failed to run {self.path} (error {ret})")
        y = np.array(out)
        if y.shape != (3, self.hr_size, self.hr_size):
            raise NcnnError(f"{self.path} returned {y.shape}, expected (3, {self.hr_size}, {self.hr_size})")
        return y

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        self.check_input(lr)
        x = lr.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(np.stack([self._one(np.ascontiguousarray(face)) for face in x]))


def ncnn_cache_dir() -> Path:
    """``$FACESR_CACHE/ncnn``, else ``~/.cache/facesr/ncnn`` (see :func:`facesr.inference.artifacts.cache_dir`)."""
    return cache_dir("ncnn")


def cached_ncnn(model: torch.nn.Module, *, threads: int | None = None, cache_dir=None, up_mode: str = "nearest",
                progress=print) -> NcnnSR:
    """``model`` converted with :func:`export_ncnn` into the cache (once per weights and ``up_mode``) and
    loaded as an :class:`NcnnSR`; ``progress`` gets one line before a conversion. A conversion whose check
    fails is not cached (:class:`NcnnError`)."""
    require("ncnn", _HINT, purpose="running ncnn models")
    folder = Path(cache_dir) if cache_dir is not None else ncnn_cache_dir()
    key = model_key(model, "ncnn", up_mode)
    param = folder / f"{key}.param"
    if not all(f.is_file() for f in _files(param)):
        ensure_folder(folder, "ncnn cache folder", NcnnError)
        if progress is not None:
            progress(f"converting the model for ncnn into {param} (about 10 s for SPARNet; once)")
        tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=folder))
        try:
            info = export_ncnn(model, tmp / "model.param", threads=threads, up_mode=up_mode)
            if not info["ok"]:
                raise NcnnError(f"the ncnn model differs from PyTorch by {info['max_abs_diff']:.2e} > "
                                f"{info['tolerance']:.0e}; not cached")
            for src, dst in zip(_files(tmp / "model.param"), _files(param)):
                os.replace(src, dst)  # the .facesr.json last: its presence marks a complete entry
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    runner = NcnnSR(param, threads=threads)
    if hasattr(model, "facesr_meta"):
        runner.facesr_meta = model.facesr_meta
    return runner
