"""Training throughput (images/s) of registry models on this machine, batch 16, one run.

    python benchmarks/bench_train.py [--models sparnet sparnet-tiny] [--steps 5] [--threads 2]
                                     [--device cuda] [--precision fp32|bf16|fp16] [--channels-last]

Each model does `warmup` untimed steps then `steps` timed steps of the real SR recipe step (forward,
L1, backward, Adam) on random 16x16 -> 128x128 batches; the median step time gives images/s.
Writes benchmarks/results/train_throughput.md. Run it alone: another job on the cores skews it.

On a GPU (``--device cuda``) each step is timed up to ``torch.cuda.synchronize()``; ``--precision``
runs the forward and loss under autocast as the trainer does (``bf16``; ``fp16`` with a gradient
scaler, CUDA only) and ``--channels-last`` puts model and batches in NHWC, the trainer's switches of
the same names.
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
from facesr.evaluation.cost import sync


def bench(name: str, batch: int, steps: int, warmup: int, device: str = "cpu", precision: str = "fp32",
          channels_last: bool = False) -> dict:
    dev = torch.device(device)
    if precision == "fp16" and dev.type != "cuda":
        raise SystemExit("--precision fp16 needs --device cuda (it uses a CUDA gradient scaler)")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = facesr.build(name).to(dev, memory_format=fmt).train()
    opt = torch.optim.Adam(model.parameters(), 2e-4, betas=(0.9, 0.99))
    x = torch.rand(batch, 3, model.lr_size, model.lr_size, device=dev).contiguous(memory_format=fmt)
    y = torch.rand(batch, 3, model.hr_size, model.hr_size, device=dev).contiguous(memory_format=fmt)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    times = []
    for i in range(warmup + steps):
        sync(dev)
        t = time.perf_counter()
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.l1_loss(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        sync(dev)
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
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--both-formats", action="store_true",
                    help="time every model in NCHW and in channels_last (one after the other) and give the ratio")
    ap.add_argument("-o", "--output", default=str(Path(__file__).parent / "results" / "train_throughput.md"))
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {a.device}: this torch build sees no CUDA GPU")
    formats = [False, True] if a.both_formats else [a.channels_last]
    rows = []
    for m in a.models:
        for cl in formats:
            rows.append(dict(bench(m, a.batch, a.steps, a.warmup, a.device, a.precision, cl), channels_last=cl))
            print(f"{m} {'channels_last' if cl else 'NCHW'}: {rows[-1]['images_per_s']:.2f} images/s", file=sys.stderr)
    ref = rows[0]["images_per_s"]
    fmt_note = ("each model in NCHW and then in channels_last" if a.both_formats
                else "channels_last" if a.channels_last else "NCHW")
    lines = [f"Training throughput, batch {a.batch}, median of {a.steps} steps after {a.warmup} warm-up, "
             f"{torch.get_num_threads()} threads, {hardware()}; device {a.device}, precision {a.precision}, "
             f"{fmt_note}.", "",
             "```", "python benchmarks/bench_train.py " + " ".join(sys.argv[1:]), "```", "",
             "| model | format | params | ms/step | images/s | vs first row | channels_last vs NCHW |",
             "|---|---|---|---|---|---|---|"]
    nchw = {r["model"]: r["images_per_s"] for r in rows if not r["channels_last"]}
    for r in rows:
        gain = (f"{r['images_per_s'] / nchw[r['model']]:.2f}x" if r["channels_last"] and r["model"] in nchw else "")
        lines.append(f"| {r['model']} | {'channels_last' if r['channels_last'] else 'NCHW'} | {r['params']:,} | "
                     f"{r['s_per_step'] * 1e3:.1f} | {r['images_per_s']:.2f} | {r['images_per_s'] / ref:.2f}x | {gain} |")
    text = "\n".join(lines) + "\n"
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    Path(a.output).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
