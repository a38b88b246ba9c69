"""What one PFSR training iteration costs on this machine, full width (pfsr / pfsr-d) against the CPU
presets (pfsr-lite / pfsr-lite-d), per progressive step and loss set: the figures behind the choice of
pfsr-lite for CPU training and the CPU budget of the Table 2 rows.

    python benchmarks/bench_pfsr_width.py [--reps 4] [--warmup 2] [--threads 2]

For each pair of networks and each loss set, the real recipe (``facesr train -c pfsr_lfw_cpu``: data,
G step, D step with WGAN-GP and drift, Adam) runs ``warmup`` untimed then ``reps`` timed iterations of
batch 8 at each progressive step (32 / 64 / 128 px, after the fade-in); the median is reported, and
the hours one 2,000-iteration CPU run (500 / 500 / 1,000 iterations) would take from those medians.
Loss sets: ``pixel+wgan`` (Table 2 row a), ``cpu recipe`` (pfsr_lfw_cpu.yaml: + attention and heatmap
losses from step 2, through the distilled FAN at the step's resolution) and ``+ L_feat`` (the Table 2
rows' random-weight VGG16 perceptual term on top). The FAN is randomly initialised (same cost as a
trained one). Needs the LFW training cache of pfsr_lfw_cpu.yaml (built on first use, about a minute).
Run it alone: another job on the cores skews it. Writes benchmarks/results/pfsr_width.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _report import command, median_step_seconds, missing, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

PAIRS = {"full (pfsr / pfsr-d)": ("pfsr", "pfsr-d"), "lite (pfsr-lite / pfsr-lite-d)": ("pfsr-lite", "pfsr-lite-d")}
LOSS_SETS = ("pixel+wgan", "cpu recipe", "+ L_feat")


def _config(g: str, d: str, losses: str, fan: Path, out: Path):
    from facesr.training.config import load_config

    cfg = load_config("pfsr_lfw_cpu", [f"model.name={g}", f"gan.discriminator.name={d}",
                                       f"output_dir={out}", f"progressive.heatmap_net={fan}",
                                       "log.progress=false", "log.tensorboard=false"])
    for s in cfg["progressive"]["stages"]:
        if losses == "pixel+wgan":
            s["losses"] = {"l1": s["losses"]["l1"]}
        elif losses == "+ L_feat":
            s["losses"]["perceptual"]["fallback"] = "random"
    return cfg


def time_stages(cfg, reps: int, warmup: int) -> tuple[list[float], list[int]]:
    """Median seconds per iteration at each progressive step (after its fade-in), and the steps' lengths
    in iterations (after ``progressive.step_scale``)."""
    from facesr.training.trainer import make_trainer

    tr = make_trainer(cfg, progress=False)
    for net in tr.nets.values():
        net.train()
    starts, pos = [], 0
    for s in tr.stages:
        starts.append(pos + int(s.get("fade", 0)))  # past the fade-in: the step's steady cost
        pos += int(s["steps"])
    out = []
    for start in starts:
        tr.step = start
        tr.set_lrs()
        out.append(median_step_seconds(tr, reps, warmup))
    return out, [int(s["steps"]) for s in tr.stages]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "pfsr_width.md"))
    args = ap.parse_args(argv)
    why = missing(DATA / "lfw_deepfunneled" / "images")
    if why:
        print(f"skipped: {why}")
        return 0
    import torch

    import facesr
    from facesr.checkpoint import hardware, save_model

    torch.set_num_threads(args.threads)
    rows, lens = [], None
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        fan = facesr.build("fan-distilled")
        fan_file = save_model(fan, Path(tmp) / "fan.safetensors", fan.facesr_meta)
        for label in args.pairs:
            g, d = PAIRS[label]
            params = [sum(p.numel() for p in facesr.build(n).parameters()) for n in (g, d)]
            for losses in LOSS_SETS:
                cfg = _config(g, d, losses, fan_file, Path(tmp) / "runs")
                print(f"{label}, {losses} ...", file=sys.stderr, flush=True)
                secs, lens = time_stages(cfg, args.reps, args.warmup)
                hours = sum(n * t for n, t in zip(lens, secs)) / 3600
                rows.append((label, params, losses, secs, hours))
    base = {(r[2]): r[3] for r in rows if r[0].startswith("lite")}
    lines = [
        "# PFSR: seconds per training iteration, full width against pfsr-lite",
        "",
        f"`{command('bench_pfsr_width.py', argv)}`",
        "",
        f"Machine: {hardware()}, {args.threads} threads; batch 8; median of {args.reps} iterations after "
        f"{args.warmup} untimed, at each progressive step after its fade-in; the real recipe of "
        "`pfsr_lfw_cpu.yaml` (data, G step, D step with WGAN-GP and drift, Adam). 'h / run': one CPU run of "
        f"{' / '.join(f'{n:,}' for n in (lens or []))} iterations at these rates.",
        "",
        "| networks | G / D params | losses | 32 px (s) | 64 px (s) | 128 px (s) | h / run | x lite |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, params, losses, secs, hours in rows:
        ratio = ""
        if losses in base and not label.startswith("lite"):
            lite_h = sum(n * t for n, t in zip(lens, base[losses]))
            ratio = f"{hours * 3600 / lite_h:.1f}"
        lines.append(f"| {label} | {params[0]:,} / {params[1]:,} | {losses} | "
                     + " | ".join(f"{t:.2f}" for t in secs) + f" | {hours:.2f} | {ratio} |")
    lines += ["", "Loss sets: `pixel+wgan` = L1 10 + WGAN-GP (Table 2 row a); `cpu recipe` = + attention 500/50 "
              "and heatmap 50/50 from step 2 through the distilled FAN (pfsr_lfw_cpu.yaml); `+ L_feat` = + the "
              "random-weight VGG16 perceptual term of the Table 2 rows."]
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
