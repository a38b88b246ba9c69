"""``facesr train -c CONFIG [--resume | --overwrite] [--steps N] [--device D] [key=value ...]``: train from a
YAML config.

Imports only the training side of facesr (no inference back-ends).
"""
from __future__ import annotations

from .common import pos_int


def add_parser(sub):
    p = sub.add_parser("train", help="train from a YAML config")
    p.add_argument("-c", "--config", required=True, help="config file or bundled config name")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the config's output_dir/name from its last checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh although output_dir/name holds an earlier run (moved aside to "
                        "NAME.old-TIMESTAMP, not deleted)")
    p.add_argument("--steps", type=pos_int, default=None, help="stop after this many more steps")
    p.add_argument("--device", default=None,
                   help="auto, cpu, cuda or cuda:N (overrides the config's device)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar (the final line is still printed)")
    p.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.steps=500")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    from ..errors import ConfigError
    from ..training.config import load_config
    from ..training.distributed import shutdown
    from ..training.trainer import make_trainer

    if args.resume and args.overwrite:
        raise ConfigError("--resume continues the run and --overwrite starts it afresh: pass one of them")
    cfg = load_config(args.config, args.overrides)
    if args.device is not None:
        cfg["device"] = args.device
    tr = make_trainer(cfg, resume=args.resume, progress=not args.quiet, overwrite=args.overwrite)
    res = tr.fit(steps=args.steps)
    shutdown(tr.dist)
    if not tr.dist.is_main:
        return 0
    print(summary(tr.run_dir, tr.step, res))
    return 0


def summary(run_dir, step: int, val: dict | None) -> str:
    """The closing line of a run: its folder, step and last validation, whatever the recipe scores
    (PSNR / SSIM of an SR model, NME of a landmark network, ...)."""
    parts = []
    for k, v in (val or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append(f"{k} {v:.3f}" if k != "ssim" else f"{k} {v:.4f}")
    return f"run {run_dir}: step {step}" + (", val " + ", ".join(parts) if parts else "")
