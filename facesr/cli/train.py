"""``facesr train -c CONFIG [--resume] [--steps N] [key=value ...]``: train from a YAML config.

Imports only the training side of facesr (no inference back-ends).
"""
from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser("train", help="train from a YAML config")
    p.add_argument("-c", "--config", required=True, help="config file or bundled config name")
    p.add_argument("--resume", action="store_true", help="continue the run in OUTPUT_DIR/NAME")
    p.add_argument("--steps", type=int, default=None, help="stop after this many more steps")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.steps=500")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    from ..training.config import load_config
    from ..training.distributed import shutdown
    from ..training.trainer import make_trainer

    cfg = load_config(args.config, args.overrides)
    tr = make_trainer(cfg, resume=args.resume, progress=not args.quiet)
    res = tr.fit(steps=args.steps)
    shutdown(tr.dist)
    if not tr.dist.is_main:
        return 0
    print(f"run {tr.run_dir}: step {tr.step}" + (f", val PSNR {res['psnr']:.3f} dB SSIM {res['ssim']:.4f}"
                                                 if res else ""))
    return 0
