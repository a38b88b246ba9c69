"""``facesr export``: write a model as ONNX (checked with ONNX Runtime) or for ncnn (checked with ncnn).

    facesr export -m MODEL -o FILE.onnx [--opset N] [--no-check] [--random-weights] [--plain]
    facesr export -m MODEL -o FILE.param [--no-check] [--random-weights]

The format follows the suffix: ``.onnx`` (:func:`facesr.deploy.onnx_backend.export_onnx`) or ``.param``
(:func:`facesr.deploy.ncnn_backend.export_ncnn`: ``FILE.param`` + ``FILE.bin`` for the ncnn runtime, one
face ``3 x lr x lr`` in, checked with ncnn). Both export what the ``torch`` back-end runs (the model's own
inference rewrite, or the generic one: BatchNorm folded); ``--plain`` exports the layer graph as it is.

``MODEL`` is a registry name with shipped weights or a facesr ``.safetensors`` model file;
``--random-weights`` builds the registry preset with random weights instead (for presets whose weights
do not ship: the export and its check still exercise the whole graph). They come from
:func:`facesr.deploy.perturb.perturb_weights`, not the model's own init, under which SPARNet maps every
face to about 0.5 and the check would compare nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import FacesrError

__all__ = ["add_parser", "add_export_parser", "cmd_export", "run"]


def add_export_parser(subparsers):
    """Register the ``export`` sub-command on an ``argparse`` sub-parsers object; returns its parser."""
    p = subparsers.add_parser(
        "export", help="export a model to ONNX or ncnn (LR [0,1] -> SR [0,1]) and check it",
        description="Export a model to ONNX (FILE.onnx: input 'lr' (N x 3 x lr x lr, [0,1]), output 'sr' "
                    "(N x 3 x hr x hr, [0,1]), dynamic batch; checked with ONNX Runtime at batch 1 and 3) or "
                    "convert it for ncnn "
                    "(FILE.param + FILE.bin: blob 'in0' (3 x lr x lr, [0,1]) -> 'out0' (3 x hr x hr, [0,1]), "
                    "one face per run; float32; checked with ncnn at batch 1 and 3).")
    p.add_argument("-m", "--model", default="default", help="registry name or .safetensors model file")
    p.add_argument("-o", "--output", required=True, help="the .onnx or .param (ncnn) file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="do not compare the exported file's outputs with PyTorch")
    p.add_argument("--random-weights", action="store_true",
                   help="export the registry preset with random weights (perturb_weights) instead of loading")
    p.add_argument("--plain", action="store_true",
                   help="ONNX only: export the layer graph as it is (no inference rewrite, no BatchNorm folding)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed (default 1e-4)")
    p.set_defaults(fn=cmd_export)
    return p


add_parser = add_export_parser


def _model(args):
    import facesr

    if args.random_weights:
        if Path(args.model).suffix == ".safetensors" or Path(args.model).is_file():
            raise FacesrError(f"--random-weights needs a registry name, not a file ({args.model})")
        from ..deploy.perturb import perturb_weights

        net = perturb_weights(facesr.build(args.model))
    else:
        net = facesr.load(args.model)
    from ..models.common import require_lr_only

    require_lr_only(net, "ONNX and ncnn files")
    return net


def _export_ncnn(args, out: Path) -> int:
    from ..deploy.ncnn_backend import export_ncnn

    if args.plain:
        raise FacesrError("--plain does not apply to ncnn files (converted from the rewritten graph, one face per run)")
    model = _model(args)
    print(f"converting for ncnn into {out} and {out.with_suffix('.bin')} (about 10 s for SPARNet) ...",
          file=sys.stderr)
    res = export_ncnn(model, out, check=not args.no_check, tolerance=args.tolerance)
    lr, hr = res["lr_size"], res["hr_size"]
    print(f"wrote {res['path']} + {Path(res['bin']).name} ({res['bytes'] / 1e6:.1f} MB, converted in "
          f"{res['convert_s']:.0f} s): blob {res['input']} 3 x {lr} x {lr} in [0,1] -> {res['output']} 3 x {hr} x "
          f"{hr} in [0,1]")
    return _report_check(res, "ncnn")


def _report_check(res: dict, what: str) -> int:
    """Print the comparison with PyTorch of an export result; 0 when it passed (or was not run), else 2."""
    if not res["checked"]:
        print(f"not checked: {res.get('reason', '')}")
        return 0
    diffs = ", ".join(f"batch {b}: {d:.2e}" for b, d in res["diffs"].items())
    print(f"{what} vs PyTorch: max abs diff {res['max_abs_diff']:.2e} ({diffs}; tolerance "
          f"{res['tolerance']:.0e}) {'OK' if res['ok'] else 'FAILED'}")
    if not res["ok"]:
        print(f"facesr: error: {what}'s output differs from PyTorch by {res['max_abs_diff']:.2e} "
              f"> {res['tolerance']:.0e}", file=sys.stderr)
        return 2
    return 0


def cmd_export(args) -> int:
    """Handler of ``facesr export``: 0 on success, 2 (one line on stderr) on a user error or a failed check."""
    try:
        from ..deploy.onnx_backend import export_onnx

        out = Path(args.output)
        if out.suffix.lower() not in (".onnx", ".param"):
            raise FacesrError(f"the output file must end in .onnx (ONNX) or .param (ncnn): {out}")
        if out.is_dir():
            raise FacesrError(f"the output is a folder, not a file: {out}")
        if out.suffix.lower() == ".param":
            return _export_ncnn(args, out)
        if args.opset < 11:
            raise FacesrError(f"--opset {args.opset} is too old: the graph needs opset 11 or newer (default 17)")
        model = _model(args)
        res = export_onnx(model, out, opset=args.opset, check=not args.no_check, optimize=not args.plain,
                          tolerance=args.tolerance)
        lr, hr = res["lr_size"], res["hr_size"]
        print(f"wrote {res['path']} ({res['bytes'] / 1e6:.1f} MB, opset {res['opset']}): "
              f"lr N x 3 x {lr} x {lr} in [0,1] -> sr N x 3 x {hr} x {hr} in [0,1]")
        return _report_check(res, f"ONNX Runtime {res.get('onnxruntime', '')}".strip())
    except FacesrError as e:
        print(f"facesr: error: {e}", file=sys.stderr)
        return 2


run = cmd_export
