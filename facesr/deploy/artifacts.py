"""What the converting back-ends share: a cache folder, a key of what a converted file is made from, the
sha256 of files, and the check of a converted model against the PyTorch model it came from."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable

import torch

__all__ = ["cache_dir", "ensure_folder", "model_sizes", "model_key", "file_sha256", "package_versions",
           "compare_outputs"]


def cache_dir(kind: str) -> Path:
    """``$FACESR_CACHE/<kind>``, else ``$XDG_CACHE_HOME/facesr/<kind>``, else ``~/.cache/facesr/<kind>``."""
    root = os.environ.get("FACESR_CACHE")
    if not root:
        root = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
                            "facesr")
    return Path(root) / kind


def ensure_folder(folder: Path, what: str, error: type[Exception]) -> None:
    """Create ``folder`` (and its parents), or raise ``error`` saying which ``what`` could not be made."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise error(f"cannot create the {what} {folder}: {e.strerror or e}") from None


def model_sizes(model: torch.nn.Module) -> tuple[int, int]:
    """(``lr_size``, ``hr_size``) of an SR model (16 and ``lr_size`` when it does not say)."""
    lr = int(getattr(model, "lr_size", 16))
    return lr, int(getattr(model, "hr_size", lr))


def package_versions(*names: str) -> dict[str, str]:
    """{name: installed version or "-"} for torch and each of ``names`` (distribution names)."""
    from importlib import metadata

    out = {"torch": torch.__version__}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "-"
    return out


def model_key(model: torch.nn.Module, *extra) -> str:
    """A 24-hex-digit key of the model's class, sizes, weights (every state-dict tensor) and ``extra``
    (the converter's settings and package versions: anything that changes the converted file)."""
    h = hashlib.sha256()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}|{model_sizes(model)}|"
             f"{'|'.join(str(e) for e in extra)}".encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def file_sha256(path) -> str:
    """The sha256 (hex) of the file at ``path``; ``OSError`` when it cannot be read."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def compare_outputs(model: torch.nn.Module, run: Callable[[torch.Tensor], object], lr_size: int,
                    batch_sizes: Iterable[int], seed: int = 0, what: str = "the converted model") -> dict[int, float]:
    """{batch: max abs difference} between ``run(x)`` and ``model(x)`` (eval mode, no grad) on random LR
    faces in [0, 1] of each batch size; ``run`` may return a tensor or an array. Raises ``ValueError`` when
    the shapes differ."""
    gen = torch.Generator().manual_seed(seed)
    p = next(model.parameters(), None)
    diffs = {}
    with torch.no_grad():
        for b in batch_sizes:
            x = torch.rand(int(b), 3, lr_size, lr_size, generator=gen)
            ref = model(x if p is None else x.to(p.device)).float().cpu()
            out = torch.as_tensor(run(x)).float()
            if tuple(out.shape) != tuple(ref.shape):
                raise ValueError(f"{what}'s output has shape {tuple(out.shape)}, PyTorch's {tuple(ref.shape)} "
                                 f"(batch {b})")
            diffs[int(b)] = float((out - ref).abs().max())
    return diffs
