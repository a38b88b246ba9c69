"""``facesr plot -i RUN -o FILE.png``: a training run's loss curve and validation PSNR."""
from __future__ import annotations

from pathlib import Path

from .common import pos_int


def add_parser(sub):
    p = sub.add_parser("plot", help="plot a training run's loss curve and validation PSNR")
    p.add_argument("-i", "--input", required=True, help="run folder (runs/NAME) or its log.jsonl")
    p.add_argument("-o", "--output", required=True, help="PNG file to write")
    p.add_argument("--title", default=None, help="figure title (default: the run folder's name)")
    p.add_argument("--batch-size", type=pos_int, default=None,
                   help="global batch, to count images seen (default: from the run's config.yaml)")
    p.set_defaults(fn=run)
    return p


def run(args) -> int:
    import yaml

    from ..training.plots import plot_log

    run_path = Path(args.input)
    bs = args.batch_size
    cfg_file = (run_path if run_path.is_dir() else run_path.parent) / "config.yaml"
    if bs is None and cfg_file.is_file():  # the run's own config: count images seen on the top axis
        bs = (yaml.safe_load(cfg_file.read_text()) or {}).get("train", {}).get("batch_size")
    out = plot_log(run_path, args.output, title=args.title or run_path.name, batch_size=bs)
    print(f"wrote {out}")
    return 0
