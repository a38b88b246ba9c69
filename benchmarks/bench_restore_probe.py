"""How fast restoration-network variants learn: N steps of one config from scratch each, then PSNR on
held-out degraded faces. A cheap way to choose a CPU preset's layout before spending hours on it.

    python benchmarks/bench_restore_probe.py --steps 150 [-c sparnethd_lite] [--cache-dir /work/runs/cache] \\
        --variants 'A={"min_feat": 16, "channels": [16, 32, 64, 128]}' 'B={"min_feat": 32, "channels": [16, 32, 64]}'

Each ``LABEL=JSON`` variant updates ``model.settings`` of the config (the preset's own settings still
apply underneath), trains ``--steps`` steps with the config's recipe, batch and seed (no validation, no
checkpoints; run folders under a temporary directory), and its **raw** weights (not the EMA, which
still carries its start after a few hundred steps) are scored as ``bench_restore_ablation.py`` scores
models: Helen-50 HR faces (128 px) through the held-out chain ``holdout_moderate`` (seed = face index),
project PSNR / SSIM (Y, rounded). Also reported: parameters and training seconds (wall, this machine,
nothing else running only if the machine was otherwise idle). Writes benchmarks/results/restore_probe.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


from _report import command, missing, write_report  # noqa: E402  (benchmarks/, next to this script)
from bench_restore_ablation import holdout_faces  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-c", "--config", default="sparnethd_lite")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--variants", nargs="+", required=True, help='LABEL=JSON model.settings updates ("{}": the preset)')
    ap.add_argument("--cache-dir", default=None, help="where the config's cache files are (default: the config's)")
    ap.add_argument("--data", default=str(DATA / "helen_test50_fsrnet"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "restore_probe.md"))
    args = ap.parse_args(argv)
    why = missing(args.data, DATA / "lfw_deepfunneled" / "images")
    if why:
        print(f"skipped: {why}")
        return 0
    variants = []
    for spec in args.variants:
        label, _, js = spec.partition("=")
        try:
            settings = json.loads(js or "{}")
        except json.JSONDecodeError as e:
            raise SystemExit(f"error: variant {label!r}: not JSON ({e})") from None
        if not isinstance(settings, dict):
            raise SystemExit(f"error: variant {label!r}: settings must be a JSON object")
        variants.append((label, settings))

    import torch

    from facesr.checkpoint import hardware
    from facesr.inference.sr import super_resolve
    from facesr.metrics import evaluate
    from facesr.training.config import load_config
    from facesr.training.trainer import make_trainer

    torch.set_num_threads(args.threads)
    set_name, hrs, lq = holdout_faces(args.data)
    m0 = evaluate(lq, hrs)
    rows = [("degraded input", "-", "-", m0["psnr"], m0["ssim"])]
    print(f"input {m0['psnr']:.2f} dB", flush=True)
    lfw = str(DATA / "lfw_deepfunneled" / "images")
    with tempfile.TemporaryDirectory() as tmp:
        for label, settings in variants:
            over = [f"name=probe_{len(rows)}", f"output_dir={tmp}", f"train.steps={args.steps}", "log.val_every=0",
                    f"log.ckpt_every={args.steps * 10}", f"data.train.root={lfw}", f"data.val.root={lfw}"]
            cfg = load_config(args.config, over)
            if args.cache_dir:
                for part in ("train", "val"):
                    if cfg["data"][part].get("cache"):
                        cfg["data"][part]["cache"] = str(Path(args.cache_dir) / Path(cfg["data"][part]["cache"]).name)
            cfg["model"]["settings"].update(settings)
            t0 = time.perf_counter()
            tr = make_trainer(cfg, progress=False)
            n = sum(p.numel() for p in tr.model.parameters())
            tr.fit()
            secs = time.perf_counter() - t0
            m = evaluate(super_resolve(lq, tr.model.eval(), batch_size=8), hrs)
            rows.append((label, f"{n:,}", f"{secs:.0f}", m["psnr"], m["ssim"]))
            print(f"{label}: {n:,} params, {secs:.0f} s, {m['psnr']:.2f} dB", flush=True)
    lines = [f"# Learning speed of restoration variants: {args.steps} steps of `{args.config}` each", "",
             f"{hardware()}, {args.threads} thread(s). Raw weights after {args.steps} steps from scratch (config's "
             f"recipe, batch, seed); {set_name} ({len(hrs)} faces, 128 px) through `holdout_moderate`; project PSNR / "
             f"SSIM. Seconds: wall time of building + training.", "", "```", command("bench_restore_probe.py", argv),
             "```", "", "| variant | model.settings | params | train s | PSNR (dB) | SSIM |", "|---|---|---|---|---|---|"]
    specs = dict(variants)
    for label, n, secs, p, q in rows:
        js = json.dumps(specs[label]) if label in specs else "-"
        lines.append(f"| {label} | `{js}` | {n} | {secs} | {p:.2f} | {q:.4f} |")
    write_report(args.output, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
