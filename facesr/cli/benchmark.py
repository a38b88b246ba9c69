"""``facesr benchmark -m MODEL ... --data DIR ... [--protocol P] [-o DIR]``: every method on one protocol:
table, grids, attention maps and plots."""
from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser("benchmark", help="all methods on one protocol: table, grids, attention maps, plots")
    p.add_argument("-m", "--model", nargs="+", default=["default"])
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--protocol", default="facesr")
    p.add_argument("-o", "--output", default="outputs/benchmark")
    p.add_argument("--max-images", type=int, default=0)
    p.add_argument("--no-face", action="store_true", help="skip landmark/identity metrics (dlib)")
    p.add_argument("--no-cost", action="store_true", help="skip params/FLOPs/latency/memory")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-record-command", dest="record_command", action="store_false")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    import shlex

    from ..evaluation.benchmark import run_benchmark

    command = "facesr benchmark " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if args.record_command else None
    res = run_benchmark(args.model, args.data, args.output, protocol=args.protocol, face=not args.no_face,
                        cost=not args.no_cost, max_images=args.max_images, device=args.device, command=command)
    print(res["markdown"])
    print(f"results, grids, attention maps and plots written to {args.output}")
    return 0
