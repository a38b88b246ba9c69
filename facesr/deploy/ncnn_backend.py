"""ncnn: a facesr model converted for Tencent's ncnn inference runtime (``X.param`` + ``X.bin`` +
``X.facesr.json``).

    info = export_ncnn(facesr.load("sparnet"), "sparnet.param")   # + sparnet.bin, sparnet.facesr.json; checked
    sr = NcnnSR("sparnet.param")(lr)                               # LR in [0, 1] -> SR in [0, 1]
    fast = inference_model(net, backend="ncnn")                    # converted once, then cached

What is converted is the graph of :func:`facesr.deploy.torch_backend.export_module` for ``target="ncnn"``
(the model's own rewrite, else the generic one), input scaling, upsampling and final clamp included:
input blob ``in0`` = one LR face ``3 x lr x lr`` in [0, 1], output ``out0`` = ``3 x hr x hr`` in [0, 1].
The conversion traces it with TorchScript and runs the ``pnnx`` converter (``pip install 'facesr[ncnn]'``),
weights in float32. ``X.facesr.json`` records the sizes, the blob names, the sha256 of ``X.param`` and
``X.bin``, the key of what they were made from (weights, converter settings, package versions) and the
check against PyTorch; :class:`NcnnSR` validates every field and both hashes before loading.

:class:`NcnnSR` runs the files on the CPU, one face at a time, with every reduced precision of ncnn
switched off (float16 / bfloat16 storage and arithmetic, int8).
"""
from __future__ import annotations

import json
import os
import re
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
from .artifacts import cache_dir, compare_outputs, ensure_folder, file_sha256, model_key, model_sizes, \
    package_versions
from .torch_backend import export_module

__all__ = ["NcnnError", "NcnnSR", "export_ncnn", "cached_ncnn", "ncnn_cache_dir", "read_meta", "source_key",
           "DEFAULT_TOLERANCE"]

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


def _convert(model: torch.nn.Module, param: Path, binf: Path) -> float:
    """Trace ``export_module(model, "ncnn")`` and convert it with pnnx into ``param`` / ``binf``; returns
    seconds."""
    pnnx = require("pnnx", _HINT, purpose="converting models for ncnn")

    lr_size, _ = model_sizes(model)
    net = export_module(model, "ncnn").eval()
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
                batch_sizes=(1, 3), seed: int = 0, threads: int | None = None) -> dict:
    """Convert ``model`` (a float32 CPU SR model) into ncnn's ``X.param`` + ``X.bin`` (``path`` is
    ``X.param``) and write ``X.facesr.json``. With ``check`` the files are loaded with ncnn and compared
    with ``model.eval()`` on random LR faces (each of ``batch_sizes``). Returns a dict like
    :func:`facesr.deploy.onnx_backend.export_onnx`'s: ``path, bin, bytes, lr_size, hr_size, input, output,
    convert_s, checked`` and, when checked, ``diffs``, ``max_abs_diff``, ``tolerance``, ``ok``.
    ``X.facesr.json`` also holds the sha256 of both files and :func:`source_key`. Does not raise on a
    failed comparison (``ok`` is False); raises :class:`NcnnError` when the conversion fails and
    :class:`~facesr.errors.MissingDependencyError` without ``pnnx`` / ``ncnn``.
    """
    p = next(model.parameters(), None)
    if p is not None and (p.device.type != "cpu" or p.dtype != torch.float32):
        raise NcnnError(f"facesr converts float32 CPU models for ncnn; this one is on {p.device} / {p.dtype}")
    param, binf, meta_path = _files(path)
    lr_size, hr_size = model_sizes(model)
    was_training = model.training
    model.eval()
    try:
        seconds = _convert(model, param, binf)
        meta = {"format": FORMAT, "lr_size": lr_size, "hr_size": hr_size, "input": INPUT, "output": OUTPUT,
                "input_shape": [3, lr_size, lr_size], "output_shape": [3, hr_size, hr_size],
                "value_range": [0.0, 1.0], "source_key": source_key(model), "versions": _versions(),
                "sha256": {"param": file_sha256(param), "bin": file_sha256(binf)}}
        meta["digest"] = meta_digest(meta)
        src = getattr(model, "facesr_meta", None) or {}
        for key in ("arch", "preset"):  # what the weights are, when they came from a facesr checkpoint
            if src.get(key):
                meta[key] = str(src[key])
        info = {"path": str(param), "bin": str(binf), "meta": str(meta_path),
                "bytes": os.path.getsize(param) + os.path.getsize(binf), "lr_size": lr_size, "hr_size": hr_size,
                "input": INPUT, "output": OUTPUT, "convert_s": seconds, "checked": False}
        if check:
            runner = NcnnSR(param, threads=threads, lr_size=lr_size, hr_size=hr_size, meta=meta)
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


FORMAT = "facesr-ncnn"
MAX_SIZE = 4096  # largest lr / hr size accepted from metadata
_BLOB = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


def _versions() -> dict[str, str]:
    return package_versions("pnnx", "ncnn")


def source_key(model: torch.nn.Module) -> str:
    """Key of what an ncnn conversion of ``model`` is made from: weights, class, sizes, converter settings
    (float32, the ``ncnn`` rewrite target) and the versions of torch, pnnx and ncnn."""
    return model_key(model, "ncnn", "fp32", sorted(_versions().items()))


def read_meta(path) -> dict:
    """The JSON object in ``path`` (``X.facesr.json``), or :class:`NcnnError`."""
    try:
        meta = json.loads(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise NcnnError(f"cannot read {path}: {' '.join(str(e).split())[:200]}") from None
    if not isinstance(meta, dict):
        raise NcnnError(f"{path} is not a facesr ncnn metadata file (not a JSON object)")
    return meta


def _int_field(meta: dict, key: str, where) -> int:
    v = meta.get(key)
    if type(v) is not int or not 1 <= v <= MAX_SIZE:
        raise NcnnError(f"{where}: {key} must be an integer in [1, {MAX_SIZE}], got {v!r}")
    return v


def _check_meta(meta: dict, where) -> None:
    """Validate every field :class:`NcnnSR` uses (types, ranges, blob names, hashes), or :class:`NcnnError`."""
    if meta.get("format") != FORMAT:
        raise NcnnError(f"{where}: format must be {FORMAT!r}, got {meta.get('format')!r}")
    lr, hr = _int_field(meta, "lr_size", where), _int_field(meta, "hr_size", where)
    for key in ("input", "output"):
        v = meta.get(key)
        if not isinstance(v, str) or not _BLOB.match(v):
            raise NcnnError(f"{where}: {key} must be an ncnn blob name, got {v!r}")
    for key, want in (("input_shape", [3, lr, lr]), ("output_shape", [3, hr, hr])):
        if key in meta and meta[key] != want:
            raise NcnnError(f"{where}: {key} {meta[key]!r} does not match the sizes ({want})")
    sha = meta.get("sha256")
    if not isinstance(sha, dict) or not all(isinstance(sha.get(k), str) and re.fullmatch(r"[0-9a-f]{64}", sha[k])
                                            for k in ("param", "bin")):
        raise NcnnError(f"{where}: sha256 must hold the hex sha256 of 'param' and 'bin'")
    if meta.get("digest") != meta_digest(meta):
        raise NcnnError(f"{where}: its fields do not match its digest (edited by hand?); convert the model again")


_SIGNED = ("format", "lr_size", "hr_size", "input", "output", "sha256", "source_key")


def meta_digest(meta: dict) -> str:
    """sha256 of the canonical JSON of the fields :class:`NcnnSR` relies on (stored as ``digest``)."""
    import hashlib

    body = json.dumps({k: meta.get(k) for k in _SIGNED}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def _check_files(meta: dict, param: Path, binf: Path) -> None:
    for kind, f in (("param", param), ("bin", binf)):
        try:
            digest = file_sha256(f)
        except OSError as e:
            raise NcnnError(f"cannot read {f}: {e.strerror or e}") from None
        if digest != meta["sha256"][kind]:
            raise NcnnError(f"{f} does not match the sha256 in its .facesr.json (modified or replaced); "
                            "convert the model again")


def _check_blobs(param: Path, *names: str) -> None:
    """Each of ``names`` is a blob of the ``.param`` file (ncnn crashes on an unknown blob name)."""
    try:
        text = param.read_text(errors="replace")
    except OSError as e:
        raise NcnnError(f"cannot read {param}: {e.strerror or e}") from None
    blobs = set()
    for line in text.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
            n_in, n_out = int(parts[2]), int(parts[3])
            blobs.update(parts[4:4 + n_in + n_out])
    for n in names:
        if n not in blobs:
            raise NcnnError(f"{param} has no blob {n!r}")


class NcnnSR(SRModel):
    """ncnn files (:func:`export_ncnn`) run on the CPU: LR ``N x 3 x lr x lr`` in [0, 1] -> SR in [0, 1].

    With ``X.facesr.json`` next to the files, every field is validated (:func:`read_meta`) and the sha256 of
    ``X.param`` and ``X.bin`` must match it, else :class:`NcnnError` (one line) and nothing is loaded.
    Without it, ``lr_size`` / ``hr_size`` must be given (defaults 16 / 128) and the blobs are ``in0`` /
    ``out0``. ``meta``: the metadata to check against instead of reading the file. Float32 throughout.
    """

    backend = "ncnn"

    def __init__(self, param, *, threads: int | None = None, lr_size: int | None = None,
                 hr_size: int | None = None, meta: dict | None = None):
        super().__init__()
        ncnn = require("ncnn", _HINT, purpose="running ncnn models")
        param, binf, meta_path = _files(param)
        for f in (param, binf):
            if not f.is_file():
                raise NcnnError(f"no ncnn file at {f} (an ncnn model is a .param and a .bin of the same name)")
        if meta is None and meta_path.is_file():
            meta = read_meta(meta_path)
        if meta is not None:
            _check_meta(meta, meta_path)
            _check_files(meta, param, binf)
        meta = meta or {}
        self.lr_size = int(lr_size or meta.get("lr_size", 16))
        self.hr_size = int(hr_size or meta.get("hr_size", 128))
        self.input_name, self.output_name = meta.get("input", INPUT), meta.get("output", OUTPUT)
        _check_blobs(param, self.input_name, self.output_name)
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
    """``$FACESR_CACHE/ncnn``, else ``~/.cache/facesr/ncnn`` (see :func:`facesr.deploy.artifacts.cache_dir`)."""
    return cache_dir("ncnn")


def cached_ncnn(model: torch.nn.Module, *, threads: int | None = None, cache_dir=None,
                progress=print) -> NcnnSR:
    """``model`` converted with :func:`export_ncnn` into the cache (once per :func:`source_key`) and loaded
    as an :class:`NcnnSR`; ``progress`` gets one line before a conversion. An entry whose metadata is
    invalid, whose key differs or whose files do not match their sha256 is converted again. A conversion
    whose check fails is not cached (:class:`NcnnError`)."""
    require("ncnn", _HINT, purpose="running ncnn models")
    folder = Path(cache_dir) if cache_dir is not None else ncnn_cache_dir()
    key = source_key(model)
    param = folder / f"{key}.param"
    runner = None
    if all(f.is_file() for f in _files(param)):
        try:
            meta = read_meta(_files(param)[2])
            if meta.get("source_key") != key:
                raise NcnnError("stale entry")
            runner = NcnnSR(param, threads=threads, meta=meta)
        except NcnnError as e:
            if progress is not None:
                progress(f"the cached ncnn model {param} is invalid ({e}); converting again")
    if runner is None:
        ensure_folder(folder, "ncnn cache folder", NcnnError)
        if progress is not None:
            progress(f"converting the model for ncnn into {param} (once)")
        tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=folder))
        try:
            info = export_ncnn(model, tmp / "model.param", threads=threads)
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
