"""Helpers shared by the ``facesr`` sub-commands: bundled sample files, argument types, ``--backend``.

Torch-free: building the parser imports this module.
"""
from __future__ import annotations

import argparse
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
SAMPLE_LR = ASSETS / "sample_face_lr16.png"
SAMPLE_HR = ASSETS / "sample_face_hr128.png"
SAMPLE_PHOTO = ASSETS / "sample_photo_small.png"  # NASA public-domain astronaut photo (scikit-image), 112 px

__all__ = ["ASSETS", "SAMPLE_LR", "SAMPLE_HR", "SAMPLE_PHOTO", "positive_float", "unit_float", "nonneg_int", "pos_int",
           "add_backend_argument", "check_device", "check_output_folder"]


def positive_float(s: str) -> float:
    """``argparse`` type: a finite number > 0."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s!r}")
    return v


def unit_float(s: str) -> float:
    """``argparse`` type: a number in [0, 1]."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {s!r}")
    return v


def nonneg_int(s: str) -> int:
    """``argparse`` type: an integer >= 0."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {s!r}")
    return v


def pos_int(s: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {s!r}")
    return v


def add_backend_argument(p: argparse.ArgumentParser) -> None:
    """Add ``--backend`` (one of the inference back-end names, default ``auto``) to ``p``."""
    from ..deploy import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="how the model runs: torch (optimised PyTorch; = auto), onnxruntime (ONNX Runtime, CPU; "
                        "needs facesr[onnx]; a few seconds to build), aoti (compiled ahead of time by "
                        "AOTInductor; about a minute the first time, needs a C++ compiler, then cached), "
                        "ncnn (converted for the ncnn runtime: the fastest at batch 1 on a CPU; needs "
                        "facesr[ncnn], about 10 s the first time, then cached), eager (the model as trained)")


def check_device(name: str) -> str:
    """``--device`` checked before any work: ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto`` (CUDA when
    there is a GPU, else the CPU); returns the device string to use. Raises
    :class:`~facesr.errors.ConfigError` (one line) for an unknown device, or one this machine does not
    have. Imports torch."""
    import torch

    from ..errors import ConfigError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"--device {name!r}: unknown device (use cpu, cuda, cuda:N, mps or auto)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name!r}: this machine has no CUDA GPU that torch can use "
                              f"(use --device cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name!r}: there are only {torch.cuda.device_count()} CUDA GPU(s)")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"--device {name!r}: MPS is not available on this machine (use --device cpu)")
    elif dev.type != "cpu":
        raise ConfigError(f"--device {name!r}: unsupported device type (use cpu, cuda, cuda:N, mps or auto)")
    return str(dev)


def check_output_folder(path, what: str = "-o") -> Path:
    """``path`` as a :class:`~pathlib.Path` when it is a folder or does not exist yet (it is created when
    the first file is written); :class:`~facesr.errors.ConfigError` before any work when it is an
    existing file (or anything else that is not a folder)."""
    from ..errors import ConfigError

    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what} '{p}' is an existing file, not a folder: give a folder for the outputs")
    return p


def add_scoring_inputs(p, protocol_help: str, out_default: str, out_help: str) -> None:
    """The options ``facesr eval`` and ``facesr benchmark`` share: models, test folders, protocols, -o."""
    p.add_argument("-m", "--model", nargs="+", default=["default"],
                   help="registry names or .safetensors model files (default: default)")
    p.add_argument("-i", "--data", "--input", dest="data", nargs="+", required=True, metavar="DIR",
                   help="folders of HR faces (or with an HR/ sub-folder), one table each")
    p.add_argument("--protocol", nargs="+", default=["facesr"],
                   help=f"metric protocols, {protocol_help}: facesr (default), dic, sparnet, pfsr, kdfsr, ... "
                        f"(see facesr.metrics.PROTOCOLS)")
    p.add_argument("-o", "--output", default=out_default, help=out_help)

