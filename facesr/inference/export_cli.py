"""``facesr export``: write a model as ONNX and check it with ONNX Runtime.

    facesr export -m MODEL -o FILE.onnx [--opset N] [--no-check] [--random-weights] [--plain]

``MODEL`` is a registry name with shipped weights or a facesr ``.safetensors`` model file;
``--random-weights`` builds the registry preset untrained instead (for presets whose weights do not
ship: the export and its check still exercise the whole graph).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import FacesrError

__all__ = ["add_export_parser", "cmd_export"]


def add_export_parser(subparsers):
    """Register the ``export`` sub-command on an ``argparse`` sub-parsers object; returns its parser."""
    p = subparsers.add_parser(
        "export", help="export a model to ONNX (LR [0,1] NCHW, dynamic batch -> SR [0,1]) and check it",
        description="Export a model to ONNX: input 'lr' (N x 3 x lr x lr, [0,1]), output 'sr' "
                    "(N x 3 x hr x hr, [0,1]); then compare ONNX Runtime with PyTorch at batch 1 and 3.")
    p.add_argument("-m", "--model", default="default", help="registry name or .safetensors model file")
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="do not compare ONNX Runtime with PyTorch")
    p.add_argument("--random-weights", action="store_true",
                   help="export the registry preset with untrained weights (facesr.build) instead of loading")
    p.add_argument("--plain", action="store_true",
                   help="export the layer graph as it is (no BatchNorm folding / sub-pixel up-convs)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed (default 1e-4)")
    p.set_defaults(fn=cmd_export)
    return p


def _model(args):
    import facesr

    if args.random_weights:
        if Path(args.model).suffix == ".safetensors" or Path(args.model).is_file():
            raise FacesrError(f"--random-weights needs a registry name, not a file ({args.model})")
        return facesr.build(args.model).eval()
    return facesr.load(args.model)


def cmd_export(args) -> int:
    """Handler of ``facesr export``: 0 on success, 2 (one line on stderr) on a user error or a failed check."""
    try:
        from .export import export_onnx

        out = Path(args.output)
        if out.suffix.lower() != ".onnx":
            raise FacesrError(f"the output file must end in .onnx: {out}")
        if out.is_dir():
            raise FacesrError(f"the output is a folder, not a file: {out}")
        if args.opset < 11:
            raise FacesrError(f"--opset {args.opset} is too old: the graph needs opset 11 or newer (default 17)")
        model = _model(args)
        res = export_onnx(model, out, opset=args.opset, check=not args.no_check, optimize=not args.plain,
                          tolerance=args.tolerance)
        lr, hr = res["lr_size"], res["hr_size"]
        print(f"wrote {res['path']} ({res['bytes'] / 1e6:.1f} MB, opset {res['opset']}): "
              f"lr N x 3 x {lr} x {lr} in [0,1] -> sr N x 3 x {hr} x {hr} in [0,1]")
        if not res["checked"]:
            print(f"not checked: {res.get('reason', '')}")
            return 0
        diffs = ", ".join(f"batch {b}: {d:.2e}" for b, d in res["diffs"].items())
        verdict = "OK" if res["ok"] else "FAILED"
        print(f"ONNX Runtime {res['onnxruntime']} vs PyTorch: max abs diff {res['max_abs_diff']:.2e} "
              f"({diffs}; tolerance {res['tolerance']:.0e}) {verdict}")
        if not res["ok"]:
            print(f"facesr: error: ONNX Runtime output differs from PyTorch by {res['max_abs_diff']:.2e} "
                  f"> {res['tolerance']:.0e}", file=sys.stderr)
            return 2
        return 0
    except FacesrError as e:
        print(f"facesr: error: {e}", file=sys.stderr)
        return 2
