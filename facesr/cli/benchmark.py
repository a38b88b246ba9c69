"""``facesr benchmark -m MODEL ... -i DIR ... [--protocol P ...] [-o DIR]``: every method under one or
several protocols: table, grids, attention maps and plots."""
from __future__ import annotations

import sys

from .common import add_scoring_inputs, check_device, nonneg_int, pos_int
from .eval import DEVICE_HELP


def add_parser(sub):
    p = sub.add_parser("benchmark", help="all methods on test folders: quality, face and cost table, grids, plots",
                       description="Score models and bicubic on folders of HR faces (PSNR/SSIM/MS-SSIM per "
                                   "protocol, landmark and identity metrics) and cost them (parameters, GFLOPs, "
                                   "latency at batch 1 and throughput at batch 16, measured in the same "
                                   "interleaved rounds; peak memory). Writes results.md/.csv/.json, comparison "
                                   "grids, attention maps and plots to -o.")
    add_scoring_inputs(p, "PSNR/SSIM/MS-SSIM columns each", "outputs/benchmark",
                       "folder for tables, grids and plots (default outputs/benchmark)")
    p.add_argument("--max-images", type=nonneg_int, default=0, metavar="N",
                   help="score only the first N faces of each folder (file-name order; default 0: all)")
    p.add_argument("--no-face", action="store_true", help="skip landmark/identity metrics (dlib)")
    p.add_argument("--no-cost", action="store_true", help="skip params/FLOPs/latency/memory")
    p.add_argument("--timing-rounds", type=pos_int, default=10, metavar="N",
                   help="interleaved rounds (batch 1, then batch 16) behind latency and throughput (default 10)")
    p.add_argument("--device", default="cpu", help=DEVICE_HELP)
    p.add_argument("--no-record-command", dest="record_command", action="store_false",
                   help="do not write the command line at the top of results.md")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines or bars (warnings still go to stderr): the table only")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    import shlex

    from ..evaluation.benchmark import run_benchmark

    command = "facesr benchmark " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if args.record_command else None
    res = run_benchmark(args.model, args.data, args.output, protocol=args.protocol, face=not args.no_face,
                        cost=not args.no_cost, max_images=args.max_images, device=check_device(args.device), command=command,
                        progress=not args.quiet, timing_rounds=args.timing_rounds)
    print(res["markdown"])
    if not args.quiet:
        print(f"results, grids, attention maps and plots written to {args.output}")
    return 0
