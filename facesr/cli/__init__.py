"""The ``facesr`` command line.

    facesr models [--params]                       list registry models (and their parameter counts)
    facesr sr -i IN -o OUT [-m MODEL]              super-resolve face crops (file or folder)
    facesr enhance -i PHOTO -o OUT [-s 2]          detect, align, super-resolve and paste back every face
    facesr demo [-o DIR]                           enhance the bundled photo, super-resolve the bundled face
    facesr train -c CONFIG [--resume] [key=value ...]
    facesr data -c CONFIG                          build a config's decoded data caches
    facesr plot -i RUN -o FILE.png                 a run's loss curve and validation PSNR
    facesr eval -m MODEL [MODEL ...] -i DIR [DIR ...] [--protocol P ...] [-o DIR] [-q]
    facesr benchmark -m MODEL [MODEL ...] -i DIR [DIR ...] [--protocol P ...] [-o DIR] [-q]
    facesr export -m MODEL -o FILE.onnx            ONNX export checked against ONNX Runtime
    facesr serve [--port 7860]                     the local web app (photos and clips, in a browser)

One module per command (``facesr/cli/<command>.py``: ``add_parser(sub)`` registers it, ``run(args)``
executes it and imports what it needs inside, so that ``facesr --help`` and ``facesr models`` load no
torch). Errors a user can fix are printed as one line (``facesr: error: ...``) with
exit status 2. ``python -m facesr.cli`` runs the same command line.
"""
from __future__ import annotations

import argparse
import sys

from ..errors import FacesrError
from . import benchmark, data, demo, enhance, eval, export, models, plot, serve, sr, train

__all__ = ["build_parser", "main", "COMMANDS"]

COMMANDS = (models, sr, enhance, demo, serve, train, plot, data, eval, benchmark, export)


def build_parser() -> argparse.ArgumentParser:
    """The ``facesr`` parser: one sub-parser per module of :data:`COMMANDS`, each setting ``fn``."""
    from .. import __version__

    ap = argparse.ArgumentParser(prog="facesr", description="Face super-resolution toolkit")
    ap.add_argument("--version", action="version", version=f"facesr {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return ap


def main(argv=None) -> int:
    """Run ``facesr`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status (0 ok, 1 some
    files failed, 2 a user error, printed as one line, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except FacesrError as e:
        print(f"facesr: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facesr: interrupted", file=sys.stderr)
        return 130
