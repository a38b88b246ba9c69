"""Cost of a model: parameters, FLOPs/MACs at its input size, latency, throughput, peak memory."""
from __future__ import annotations

import statistics
import time

import torch


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model, batch: int = 1) -> int:
    """FLOPs of one forward at the model's LR input size (torch's FlopCounterMode: 2 FLOPs per MAC,
    convolutions and matmuls, which includes the in-model PIL-bicubic resize)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(batch, 3, model.lr_size, model.lr_size, device=next(model.parameters()).device)
    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    model.train(was)
    return int(fc.get_total_flops())


def sync(device: torch.device) -> None:
    """Wait for ``device``'s queued work (a no-op on the CPU), so that a wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(model, batch: int = 1, repeats: int = 10, warmup: int = 2) -> dict:
    """Median wall time of a forward (inference mode) at ``batch``; returns ms and images/s."""
    dev = next(model.parameters()).device
    x = torch.rand(batch, 3, model.lr_size, model.lr_size, device=dev)
    was = model.training
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            sync(dev)
            t = time.perf_counter()
            model(x)
            sync(dev)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    model.train(was)
    med = statistics.median(times)
    return {"batch": batch, "ms": med * 1000.0, "images_per_s": batch / med}


def peak_memory_mb(model, batch: int = 1) -> float:
    """Peak memory of one inference forward: CUDA allocator peak on GPU; on CPU the peak of the running
    sum of tensor allocations and frees recorded by the profiler (activations + workspace, not weights)."""
    dev = next(model.parameters()).device
    x = torch.rand(batch, 3, model.lr_size, model.lr_size, device=dev)
    model.eval()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        with torch.inference_mode():
            model(x)
        return (torch.cuda.max_memory_allocated(dev) - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    events = []
    for e in prof.events():
        mem = getattr(e, "self_cpu_memory_usage", 0) or 0
        if mem:
            events.append((e.time_range.start, mem))
    events.sort()
    cur = peak = 0
    for _, m in events:
        cur += m
        peak = max(peak, cur)
    return peak / 2**20


def model_cost(model, latency_repeats: int = 10, throughput_batch: int = 16) -> dict:
    lat = time_forward(model, 1, repeats=latency_repeats)
    thr = time_forward(model, throughput_batch, repeats=max(2, latency_repeats // 3), warmup=1)
    return {
        "params": count_params(model),
        "gflops": count_flops(model) / 1e9,
        "latency_ms": lat["ms"],
        "throughput": thr["images_per_s"],
        "peak_mem_mb": peak_memory_mb(model),
        "device": str(next(model.parameters()).device),
    }
