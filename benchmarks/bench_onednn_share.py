"""Where the optimised path's batch-1 time goes: oneDNN's convolution kernels vs everything else.

    python benchmarks/bench_onednn_share.py [--model sparnet] [--repeats 15] [--omp-passive]

For one registry model with random weights at batch 1: the median wall time of eager and of the optimised
path (``optimize_for_inference``), the number of top-level torch ops each runs per forward (torch
profiler), and, for the optimised path, the sum of oneDNN's own execution times of its convolution
primitives over one forward (``ONEDNN_VERBOSE``-style log, read from the process's stdout). The
difference between the optimised wall time and that sum is per-op dispatch, padding, element-wise ops
and Python. Prints a few lines; writes nothing.
"""
from __future__ import annotations

import os
import sys

if "--omp-passive" in sys.argv:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # must precede the first torch import

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

import facesr  # noqa: E402
from facesr.checkpoint import hardware  # noqa: E402
from facesr.deploy.torch_backend import rewrite as optimize_for_inference  # noqa: E402


def _median_ms(fn, x, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _top_level_ops(fn, x) -> int:
    from torch.profiler import profile

    with profile() as p:
        fn(x)
    return sum(1 for e in p.events() if e.cpu_parent is None and "::" in e.name)


def _onednn_conv_ms(fn, x) -> tuple[float, int]:
    """(summed exec ms, primitive count) of oneDNN (de)convolutions in one call, from its verbose log."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as log:
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn(x)
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        rows = [r.strip().split(",") for r in log if r.startswith("onednn_verbose") and ",exec,cpu," in r]
    convs = [r for r in rows if len(r) > 5 and r[5] in ("convolution", "deconvolution")]
    return sum(float(r[-1]) for r in convs), len(convs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sparnet")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--omp-passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE (as bench_inference)")
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    model = facesr.build(a.model).eval()
    opt = optimize_for_inference(model)
    x = torch.rand(1, 3, model.lr_size, model.lr_size)
    with torch.inference_mode():
        for _ in range(2):
            model(x), opt(x)
        eager_ms, opt_ms = _median_ms(model, x, a.repeats), _median_ms(opt, x, a.repeats)
        eager_ops, opt_ops = _top_level_ops(model, x), _top_level_ops(opt, x)
        conv_ms, n_conv = _onednn_conv_ms(opt, x)
    print(f"{a.model}, batch 1, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY', '(default)')}, {hardware()}, median of {a.repeats}")
    print(f"eager:     {eager_ms:7.1f} ms, {eager_ops} top-level torch ops per forward")
    print(f"optimised: {opt_ms:7.1f} ms, {opt_ops} top-level torch ops per forward ({eager_ms / opt_ms:.2f}x)")
    print(f"  oneDNN (de)convolution kernels: {conv_ms:.1f} ms over {n_conv} primitives; "
          f"everything else: {opt_ms - conv_ms:.1f} ms")
    print(f"  with zero time outside those kernels the path would be {eager_ms / conv_ms:.2f}x eager")
    return 0


if __name__ == "__main__":
    sys.exit(main())
