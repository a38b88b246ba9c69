"""Self-describing model files: safetensors weights + JSON metadata in the safetensors header.

A ``.safetensors`` file written by :func:`save_model` carries, under the header key ``"facesr"``::

    {"format": 1, "preset": "sparnet-tiny", "arch": "sparnet", "settings": {...},
     "lr_size": 16, "hr_size": 128, "provenance": {...}, "metrics": {...}}

so ``facesr.load(path)`` rebuilds the architecture without any flag. Loading never unpickles:
weights come from safetensors, training state (optimiser, RNG) from ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from .errors import ModelNotFoundError
from .fsutil import atomic_write

FORMAT_VERSION = 1
META_KEY = "facesr"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def state_dict_for_save(module) -> dict:
    """Contiguous, de-aliased CPU tensors (safetensors refuses shared storage)."""
    out = {}
    for k, v in module.state_dict().items():
        out[k] = v.detach().to("cpu").contiguous().clone()
    return out


def save_model(module, path, meta: dict[str, Any]) -> Path:
    """Write ``module``'s weights and ``meta`` atomically to ``path``; returns ``Path(path)``.

    ``meta`` must be a JSON-serialisable dict with ``"arch"`` (a registered architecture name) and
    optionally ``"settings"`` (a dict of its keyword settings): what :func:`read_meta` requires back.
    A ``ValueError`` / ``TypeError`` otherwise (a programming error, nothing is written).
    """
    from safetensors.torch import save

    if not isinstance(meta, dict) or not isinstance(meta.get("arch"), str) or not meta["arch"]:
        raise ValueError("save_model needs meta with an 'arch' name (e.g. the model's facesr_meta)")
    if not isinstance(meta.get("settings", {}), dict):
        raise ValueError(f"save_model: meta['settings'] must be a dict, got {type(meta['settings']).__name__}")
    meta = dict(meta)
    meta.setdefault("format", FORMAT_VERSION)
    blob = save(state_dict_for_save(module), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    atomic_write_bytes(path, blob)
    return Path(path)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _open_error(path: Path, e: BaseException) -> ModelNotFoundError:
    """The one-line error for a file that safetensors cannot open (not safetensors, truncated, corrupt)."""
    why = _first_line(e)
    if "not fully covered" in why or "incomplete" in why:
        return ModelNotFoundError(f"{path} is truncated or corrupt (its safetensors header describes more "
                                  f"bytes than the file holds); copy or download it again")
    return ModelNotFoundError(f"{path} is not a safetensors model file ({why})")


def read_meta(path) -> dict[str, Any]:
    """The facesr metadata of a model file (a JSON object), without reading the weights.

    Guarantees ``meta["arch"]`` is a non-empty string and ``meta.get("settings", {})`` a JSON object.
    Raises :class:`~facesr.errors.ModelNotFoundError` (one line naming the file) when the file is
    missing, is not a complete safetensors file, or its facesr metadata is absent, not JSON, not an
    object, or lacks those entries.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except Exception as e:  # safetensors raises its own error types for a bad header
        raise _open_error(path, e) from None
    if raw is None:
        raise ModelNotFoundError(f"{path} has no facesr metadata (was it written by facesr?); "
                                 "build the model with facesr.build(NAME) and load its state dict yourself")
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise ModelNotFoundError(f"{path}: its facesr metadata is not valid JSON ({_first_line(e)})") from None
    if not isinstance(meta, dict):
        raise ModelNotFoundError(f"{path}: its facesr metadata is a JSON {type(meta).__name__}, "
                                 "not an object with 'arch' and 'settings'")
    arch = meta.get("arch")
    if not isinstance(arch, str) or not arch:
        what = "has no 'arch' entry" if arch is None else f"has an invalid 'arch' ({arch!r}, not a name)"
        raise ModelNotFoundError(f"{path}: its facesr metadata {what}; the file cannot say which "
                                 "network to build")
    settings = meta.get("settings", {})
    if not isinstance(settings, dict):
        raise ModelNotFoundError(f"{path}: its facesr 'settings' must be a JSON object of architecture "
                                 f"settings, got {type(settings).__name__}")
    return meta


def dtype_kind(dtype) -> str:
    """``"float"``, ``"int"``, ``"bool"`` or ``"complex"`` for a torch dtype or a safetensors dtype code
    (``"F32"``, ``"BF16"``, ``"F8_E4M3"``, ``"I64"``, ``"U8"``, ``"BOOL"``, ``"C64"``, ...); ``"other"``
    for anything else."""
    if not isinstance(dtype, str):
        import torch

        if dtype == torch.bool:
            return "bool"
        if dtype.is_complex:
            return "complex"
        if dtype.is_floating_point:
            return "float"
        return "int" if str(dtype).startswith(("torch.int", "torch.uint")) else "other"
    code = dtype.upper()
    if code == "BOOL":
        return "bool"
    if code.startswith(("F", "BF")):
        return "float"
    if code.startswith(("I", "U")):
        return "int"
    if code.startswith("C"):
        return "complex"
    return "other"


def read_header(path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{tensor name: (safetensors dtype code, shape)}`` of a model file, from its header alone (no
    tensor data is read). Raises :class:`~facesr.errors.ModelNotFoundError` for a file that is missing,
    not safetensors, or truncated (safetensors checks that the header's byte ranges fit the file)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            out = {}
            for k in f.keys():
                sl = f.get_slice(k)
                out[k] = (str(sl.get_dtype()), tuple(int(d) for d in sl.get_shape()))
    except Exception as e:
        raise _open_error(path, e) from None
    return out


def check_header(path, header: dict[str, tuple[str, tuple[int, ...]]], expected: dict[str, Any],
                 arch: str = "the architecture") -> None:
    """Check a file's tensors (``header``: :func:`read_header`) against ``expected``, the state dict of
    the network they are for (tensors on any device, ``meta`` included: only names, shapes and dtypes
    are read): the same names, the same shapes, and the same dtype kind (floating-point weights stay
    floating-point; integer buffers such as BatchNorm's ``num_batches_tracked`` stay integer).

    Raises :class:`~facesr.errors.ModelNotFoundError`, one line naming ``path`` and the first tensor at
    fault (in ``expected``'s order).
    """
    missing = [k for k in expected if k not in header]
    unexpected = [k for k in header if k not in expected]
    if missing or unexpected:
        first = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise ModelNotFoundError(f"{path}: weights do not fit architecture {arch!r} (missing {len(missing)}, "
                                 f"unexpected {len(unexpected)} tensors; first: {first})")
    for k, ref in expected.items():
        code, shape = header[k]
        if tuple(shape) != tuple(ref.shape):
            raise ModelNotFoundError(f"{path}: tensor {k!r} has shape {list(shape)} but architecture {arch!r} "
                                     f"with these settings needs {list(ref.shape)}")
        want, got = dtype_kind(ref.dtype), dtype_kind(code)
        if got != want:
            need = {"float": "floating-point weights", "int": "an integer tensor", "bool": "a bool tensor",
                    "complex": "a complex tensor"}.get(want, f"a {ref.dtype} tensor")
            raise ModelNotFoundError(f"{path}: tensor {k!r} is {code} ({got}) but architecture {arch!r} needs "
                                     f"{need} there; the file is corrupt or was not written by facesr")


def check_finite_state(path, state: dict) -> None:
    """Raise :class:`~facesr.errors.ModelNotFoundError` naming ``path`` and the first tensor (in
    ``state``'s order) whose floating-point values include NaN or +-Inf; other dtypes are skipped."""
    import torch

    for k, t in state.items():
        if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
            n = int((~torch.isfinite(t)).sum())
            raise ModelNotFoundError(f"{path}: tensor {k!r} holds {n} NaN/Inf value(s) of {t.numel()}; the "
                                     "weights are corrupt (or training diverged): use another checkpoint")


def read_weights(path, like: dict | None = None) -> dict:
    """The tensors of a model file (CPU), checked: every floating-point tensor finite, and when ``like``
    (a state dict or an ``nn.Module``) is given, names, shapes and dtype kinds as in ``like``
    (:func:`check_header`, done from the header before any tensor data is read).

    Raises :class:`~facesr.errors.ModelNotFoundError` (one line naming the file and the tensor at fault).
    """
    from safetensors.torch import load_file

    path = Path(path)
    if like is not None:
        ref = like.state_dict() if hasattr(like, "state_dict") else like
        check_header(path, read_header(path), ref, type(like).__name__ if hasattr(like, "state_dict")
                     else "the architecture")
    elif not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    try:
        state = load_file(str(path))
    except Exception as e:
        raise _open_error(path, e) from None
    if like is not None:  # check in the network's order, so the first tensor named is the first at fault
        state = {k: state[k] for k in ref}
    check_finite_state(path, state)
    return state


def git_commit(default: str = "unknown") -> str:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5)
        return out.stdout.strip() or default
    except Exception:
        return default


def hardware() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda}), torch {torch.__version__}"
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
