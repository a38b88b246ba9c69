"""Training throughput (images/s) of registry models on this machine, batch 16, one run.

    python benchmarks/bench_train.py [--models sparnet sparnet-tiny] [--steps 5] [--threads 2]

Each model does `warmup` untimed steps then `steps` timed steps of the real SR recipe step (forward,
L1, backward, Adam) on random 16x16 -> 128x128 batches; the median step time gives images/s.
Writes benchmarks/results/train_throughput.md. Run it alone: another job on the cores skews it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

import facesr
from facesr.checkpoint import hardware


def bench(name: str, batch: int, steps: int, warmup: int) -> dict:
    model = facesr.build(name).train()
    opt = torch.optim.Adam(model.parameters(), 2e-4, betas=(0.9, 0.99))
    x = torch.rand(batch, 3, model.lr_size, model.lr_size)
    y = torch.rand(batch, 3, model.hr_size, model.hr_size)
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        loss = torch.nn.functional.l1_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"model": name, "params": sum(p.numel() for p in model.parameters()), "s_per_step": med,
            "images_per_s": batch / med}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["sparnet", "sparnet-tiny", "sparnet-light-3d", "sparnet-baseline"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("-o", "--output", default=str(Path(__file__).parent / "results" / "train_throughput.md"))
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = [bench(m, a.batch, a.steps, a.warmup) for m in a.models]
    ref = rows[0]["images_per_s"]
    lines = [f"Training throughput, batch {a.batch}, median of {a.steps} steps after {a.warmup} warm-up, "
             f"{torch.get_num_threads()} threads, {hardware()}.", "",
             "```", "python benchmarks/bench_train.py " + " ".join(sys.argv[1:]), "```", "",
             "| model | params | s/step | images/s | vs first |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params']:,} | {r['s_per_step']:.2f} | {r['images_per_s']:.2f} | "
                     f"{r['images_per_s'] / ref:.2f}x |")
    text = "\n".join(lines) + "\n"
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    Path(a.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
