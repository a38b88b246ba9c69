"""Peak training memory (CPU resident set) of a bundled recipe per batch size.

    python benchmarks/bench_train_memory.py [-c sparnethd_lite] [--batches 1 2 4 8] [--steps 2]

Each batch size runs in its own process: the recipe's trainer is built from the bundled config (with
``train.batch_size`` overridden, the data from ../shared/data, its cache under ``--cache-dir``), then
``--steps`` training steps run (generator and discriminator, losses, Adam, EMA). Reported: the peak
resident set (``ru_maxrss``) after building and after the steps; their difference is what the steps
need (activations, gradients, optimiser moments). A straight-line fit over batch sizes gives the
memory per image. Writes benchmarks/results/train_memory_<config>.md. Skips cleanly without the data.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import command, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "data" / "lfw_deepfunneled" / "images"


def child(config: str, batch: int, steps: int, cache_dir: str, out: str) -> None:
    import resource

    import torch

    from facesr.training.config import load_config
    from facesr.training.trainer import make_trainer

    torch.set_num_threads(2)
    over = [f"train.batch_size={batch}", f"train.steps={steps}", f"output_dir={out}", "name=mem",
            f"data.train.root={LFW}", f"data.val.root={LFW}", "log.val_every=0", "log.ckpt_every=100000",
            "log.every=1", "log.progress=false", "log.tensorboard=false"]
    cfg = load_config(config, over)
    for part in ("train", "val"):  # the config's own cache files, looked for in --cache-dir
        name = Path(cfg["data"][part]["cache"]).name if cfg["data"][part].get("cache") else f"{part}_{config}.npy"
        over.append(f"data.{part}.cache={cache_dir}/{name}")
    tr = make_trainer(load_config(config, over))
    built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB
    tr.fit()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(json.dumps({"batch": batch, "built_gb": built, "peak_gb": peak}))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-c", "--config", default="sparnethd_lite")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--cache-dir", default=str(ROOT / "cache"), help="where the config's cache files are (or go)")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    ap.add_argument("-o", "--output", default=None)
    args = ap.parse_args(argv)
    if not LFW.is_dir():
        print(f"skipped: LFW not found at {LFW}")
        return 0
    if args.child is not None:
        child(args.config, args.child, args.steps, args.cache_dir, args.out)
        return 0
    from facesr.checkpoint import hardware

    rows = []
    for b in args.batches:
        with tempfile.TemporaryDirectory() as tmp:
            r = subprocess.run([sys.executable, __file__, "-c", args.config, "--child", str(b), "--steps",
                                str(args.steps), "--cache-dir", args.cache_dir, "--out", tmp],
                               capture_output=True, text=True)
        if r.returncode:
            print(r.stderr[-2000:])
            return 1
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    import numpy as np

    b = np.array([r["batch"] for r in rows], float)
    need = np.array([r["peak_gb"] - r["built_gb"] for r in rows])
    slope, icpt = np.polyfit(b, need, 1) if len(rows) > 1 else (float("nan"), float("nan"))
    cmd = command("bench_train_memory.py", argv)
    lines = [f"# Training memory of `{args.config}` (CPU, peak resident set)", "",
             f"{hardware()}, torch on 2 threads, {args.steps} steps per batch size, one process each.", "",
             "```", cmd, "```", "",
             "| batch | after building (GB) | peak (GB) | steps need (GB) |", "|---|---|---|---|"]
    for r, n in zip(rows, need):
        lines.append(f"| {r['batch']} | {r['built_gb']:.2f} | {r['peak_gb']:.2f} | {n:.2f} |")
    lines += ["", f"Straight-line fit: {slope:.3f} GB per image + {icpt:.2f} GB."]
    write_report(args.output or ROOT / "benchmarks" / "results" / f"train_memory_{args.config}.md", lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
