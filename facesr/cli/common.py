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

__all__ = ["ASSETS", "SAMPLE_LR", "SAMPLE_HR", "SAMPLE_PHOTO", "positive_float", "nonneg_int", "pos_int",
           "add_backend_argument"]


def positive_float(s: str) -> float:
    """``argparse`` type: a finite number > 0."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not v > 0 or v != v or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s!r}")
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
    v = nonneg_int(s)
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
