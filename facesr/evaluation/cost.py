"""Cost of a model: parameters, FLOPs/MACs at its input size, latency, throughput, peak memory."""
from __future__ import annotations

import contextlib
import statistics
import time

import torch


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _extra(model, x) -> list:
    """Stand-in inputs for a model's ``extra_inputs`` (a teacher's parsing map: all background), so that a
    teacher's cost is measured on the same call as its evaluation (cost does not depend on the values)."""
    n = x.shape[0]
    hr = int(getattr(model, "hr_size", x.shape[-1]))
    return [torch.zeros(n, hr, hr, dtype=torch.long, device=x.device) for _ in getattr(model, "extra_inputs", ())]


def count_flops(model, batch: int = 1) -> int:
    """FLOPs of one forward at the model's LR input size (torch's FlopCounterMode: 2 FLOPs per MAC,
    convolutions and matmuls, which includes the in-model PIL-bicubic resize)."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(batch, 3, model.lr_size, model.lr_size, device=next(model.parameters()).device)
    was = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x, *_extra(model, x))
    model.train(was)
    return int(fc.get_total_flops())


def sync(device: torch.device) -> None:
    """Wait for ``device``'s queued work (a no-op on the CPU), so that a wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _load() -> dict | None:
    """The 1-minute load average and the CPU count (None where the OS has no load average)."""
    import os

    try:
        return {"load1": os.getloadavg()[0], "cpus": os.cpu_count() or 1}
    except (AttributeError, OSError):
        return None


def measure_speed(model, batch: int = 16, rounds: int = 10, warmup: int = 2) -> dict:
    """Latency at batch 1 and throughput at ``batch``, measured in the same interleaved rounds.

    Each round times one forward of one random LR face, then one forward of ``batch`` faces (inference
    mode, the device synchronised around each), so that both figures see the same machine load; the
    first ``warmup`` rounds are not counted. Returns ``latency_ms`` (median ms of the batch-1
    forwards), ``throughput`` (``batch`` / median seconds of the batch forwards, images/s),
    ``throughput_batch``, ``rounds``, ``latency_spread_ms`` (min, max), and ``load``: the 1-minute load
    average before and after and the CPU count (None where the OS has none)."""
    dev = next(model.parameters()).device
    x1 = torch.rand(1, 3, model.lr_size, model.lr_size, device=dev)
    xb = torch.rand(batch, 3, model.lr_size, model.lr_size, device=dev)
    e1, eb = _extra(model, x1), _extra(model, xb)
    was = model.training
    model.eval()
    t1, tb = [], []
    before = _load()
    with torch.inference_mode():
        for i in range(warmup + rounds):
            for x, extra, times in ((x1, e1, t1), (xb, eb, tb)):
                sync(dev)
                t = time.perf_counter()
                model(x, *extra)
                sync(dev)
                if i >= warmup:
                    times.append(time.perf_counter() - t)
    after = _load()
    model.train(was)
    load = None
    if before and after:
        load = {"load1_before": before["load1"], "load1_after": after["load1"], "cpus": after["cpus"]}
    return {"latency_ms": statistics.median(t1) * 1000.0, "throughput": batch / statistics.median(tb),
            "throughput_batch": batch, "rounds": rounds, "latency_spread_ms": (min(t1) * 1000.0, max(t1) * 1000.0),
            "load": load, "threads": torch.get_num_threads()}


def speed_warning(name: str, speed: dict) -> str | None:
    """One line when the batched throughput of ``speed`` (from :func:`measure_speed`) is less than half
    the rate the batch-1 latency implies (1000 / ``latency_ms`` images/s): a batch should never make a
    face more than twice as slow, so the machine was busy or short of memory. None when they agree
    (batched throughput above the batch-1 rate, as on a GPU, is expected and not flagged)."""
    lat, thr = speed.get("latency_ms"), speed.get("throughput")
    if not lat or not thr:
        return None
    rate1 = 1000.0 / lat
    if thr * 2.0 >= rate1:
        return None
    load = speed.get("load")
    busy = (f"; 1-min load average {load['load1_before']:.1f} -> {load['load1_after']:.1f} on {load['cpus']} CPUs"
            if load else "")
    return (f"{name}: throughput at batch {speed.get('throughput_batch', '?')} ({thr:.1f} img/s) is under half the "
            f"batch-1 rate (1000 / {lat:.1f} ms = {rate1:.1f} img/s): the machine was probably busy or short of "
            f"memory{busy}; rerun on an idle machine for figures that compare")


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to the null device for the block: the profiler's C++ side prints
    ``profiler_start`` / ``profiler_stop`` lines there that mean nothing to a user. Python exceptions
    still propagate; where descriptor 2 cannot be redirected the block runs as is."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 2)
        finally:
            os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


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
            model(x, *_extra(model, x))
        return (torch.cuda.max_memory_allocated(dev) - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), torch.inference_mode(), \
            profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x, *_extra(model, x))
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
    """Parameters, GFLOPs (one LR face), latency (ms, batch 1) and throughput (images/s at
    ``throughput_batch``) from ``latency_repeats`` interleaved rounds of :func:`measure_speed`, peak
    memory (MB, batch 1), the device, and ``speed``: the full :func:`measure_speed` result."""
    speed = measure_speed(model, batch=throughput_batch, rounds=latency_repeats)
    return {
        "params": count_params(model),
        "gflops": count_flops(model) / 1e9,
        "latency_ms": speed["latency_ms"],
        "throughput": speed["throughput"],
        "peak_mem_mb": peak_memory_mb(model),
        "device": str(next(model.parameters()).device),
        "speed": speed,
    }
