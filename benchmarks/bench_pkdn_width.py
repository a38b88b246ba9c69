"""What one PKDN training step costs on this machine, full size (pkdn-teacher / pkdn) against the CPU
presets (pkdn-teacher-lite / pkdn-lite), for the three runs of the teacher > distilled > plain comparison:
the figures behind the choice of the lite pair for CPU training.

    python benchmarks/bench_pkdn_width.py [--reps 5] [--warmup 2] [--threads 2]

Each run is the real recipe of its bundled config (``pkdn_teacher_lite_lfw``: the teacher, L1 on LR +
parsing map; ``pkdn_lite_lfw``: the student distilled from a frozen teacher; ``pkdn_lite_plain_lfw``:
the student, L1 only) with ``model.name`` (and the distilled run's teacher) set to the full-size or the
lite networks: data, forward, backward, Adam, EMA. ``warmup`` untimed then ``reps`` timed steps of
batch 8; the median is reported, with the hours the configs' 2,400 steps take at that rate. Networks are
randomly initialised (same cost as trained ones). Needs the LFW caches with parsing maps
(``facesr data -c pkdn_teacher_lite_lfw``, built on first use). Run it alone: another job on the cores
skews it. Writes benchmarks/results/pkdn_width.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _report import command, median_step_seconds, missing, write_report  # noqa: E402  (benchmarks/, next to this script)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

SIZES = {"full (pkdn-teacher / pkdn)": ("pkdn-teacher", "pkdn"),
         "lite (pkdn-teacher-lite / pkdn-lite)": ("pkdn-teacher-lite", "pkdn-lite")}
RUNS = ("teacher", "distilled student", "plain student")


def _config(run: str, teacher: str, student: str, teacher_file: Path, out: Path):
    from facesr.training.config import load_config

    common = [f"output_dir={out}", "log.progress=false", "log.tensorboard=false"]
    if run == "teacher":
        return load_config("pkdn_teacher_lite_lfw", [f"model.name={teacher}", *common])
    if run == "distilled student":
        return load_config("pkdn_lite_lfw", [f"model.name={student}", f"distill.teacher={teacher_file}", *common])
    return load_config("pkdn_lite_plain_lfw", [f"model.name={student}", *common])


def time_steps(cfg, reps: int, warmup: int) -> float:
    """Median seconds of one training step (data, forward, backward, optimiser) after ``warmup``."""
    from facesr.training.trainer import make_trainer

    tr = make_trainer(cfg, progress=False)
    for net in tr.nets.values():
        net.train()
    return median_step_seconds(tr, reps, warmup)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "pkdn_width.md"))
    args = ap.parse_args(argv)
    why = missing(DATA / "lfw_deepfunneled" / "images", dlib=True)
    if why:
        print(f"skipped: {why}")
        return 0
    import torch

    import facesr
    from facesr.checkpoint import hardware, save_model
    from facesr.evaluation.cost import count_flops, count_params
    from facesr.training.config import load_config

    torch.set_num_threads(args.threads)
    steps = load_config("pkdn_lite_lfw")["train"]["steps"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in args.sizes:
            teacher, student = SIZES[label]
            torch.manual_seed(0)
            t_net = facesr.build(teacher)
            t_file = save_model(t_net, Path(tmp) / f"{teacher}.safetensors", t_net.facesr_meta)
            s_net = facesr.build(student)
            info = (count_params(t_net), count_params(s_net), count_flops(s_net) / 1e9)
            for run in RUNS:
                print(f"{label}, {run} ...", file=sys.stderr, flush=True)
                secs = time_steps(_config(run, teacher, student, t_file, Path(tmp) / "runs"), args.reps, args.warmup)
                rows.append((label, info, run, secs))
    lite = {r[2]: r[3] for r in rows if r[0].startswith("lite")}
    lines = [
        "# PKDN: seconds per training step, full size against the CPU presets",
        "",
        f"`{command('bench_pkdn_width.py', argv)}`",
        "",
        f"Machine: {hardware()}, {args.threads} threads; batch 8; median of {args.reps} steps after "
        f"{args.warmup} untimed; the real recipes of `pkdn_teacher_lite_lfw` / `pkdn_lite_lfw` / "
        f"`pkdn_lite_plain_lfw` (data, forward, backward, Adam, EMA; the distilled step adds the frozen "
        f"teacher's forward). 'h / run': the configs' {steps:,} steps at that rate. GFLOPs: one forward of the "
        "student on a 16x16 face.",
        "",
        "| networks | teacher / student params | student GFLOPs | run | s / step | h / run | x lite |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, (pt, ps, gf), run, secs in rows:
        ratio = "" if label.startswith("lite") or run not in lite else f"{secs / lite[run]:.1f}"
        lines.append(f"| {label} | {pt:,} / {ps:,} | {gf:.2f} | {run} | {secs:.2f} | {steps * secs / 3600:.2f} "
                     f"| {ratio} |")
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
