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
    """Write ``module``'s weights and ``meta`` (JSON-serialisable) atomically to ``path``."""
    from safetensors.torch import save

    meta = dict(meta)
    meta.setdefault("format", FORMAT_VERSION)
    blob = save(state_dict_for_save(module), metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    atomic_write_bytes(path, blob)
    return Path(path)


def read_meta(path) -> dict[str, Any]:
    """The facesr metadata of a model file, without reading the weights."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except Exception as e:  # safetensors raises its own error types for a bad header
        raise ModelNotFoundError(f"{path} is not a safetensors model file ({str(e).splitlines()[0]})") from None
    if raw is None:
        raise ModelNotFoundError(f"{path} has no facesr metadata (was it written by facesr?); "
                                 "build the model with facesr.build(NAME) and load its state dict yourself")
    return json.loads(raw)


def read_weights(path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


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
