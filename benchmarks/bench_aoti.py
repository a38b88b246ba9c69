"""Does ahead-of-time compilation beat the optimised path? Eager vs ``torch`` vs an AOTInductor package, one run.

    python benchmarks/bench_aoti.py [--model sparnet] [--repeats 15] [--omp-default] [--dynamic [--batches 1 16]]
                                    [--winograd 0 2] [--winograd-min-channels 128] [--init default]

Compiles :func:`facesr.inference.optimize.optimize_for_inference`'s module for one registry model (random
weights, by default :func:`facesr.models.perturb.perturb_weights`, so that outputs vary and the max |diff|
means something; ``--init default`` keeps the model's own init, under which SPARNet's output is 0.5 +- 2e-4)
with ``torch.export`` + ``torch._inductor.aoti_compile_and_package`` (inductor freezing on, so
that weights are constants and convolutions are pre-packed; a C++ compiler is needed), loads the package
and times the three paths at batch 1 in interleaved rounds (as ``bench_inference.py``; same OpenMP wait
policy switch). ``--dynamic`` compiles for any batch size instead of batch 1 (what the ``aoti`` back-end
builds) and then times every size in ``--batches``. ``--winograd 0 2`` compiles one package per
value: 0 plain convolutions, 2 the 3x3 stride-1 convs with at least ``--winograd-min-channels`` in and
out channels as Winograd F(2x2, 3x3). Prints the times, the
paired speed-ups with their 95 % bootstrap intervals, the compile time and the max |diff| to eager;
``-o FILE`` also writes them to FILE; the package goes to a temporary folder.

This path is not one of facesr's back-ends: it is how the measured case for (or against) adding one is
made.
"""
from __future__ import annotations

import bench_inference as bi  # noqa: I001  (first: sets OMP_WAIT_POLICY before torch is imported)

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from facesr.checkpoint import hardware
from facesr.inference.optimize import WINOGRAD_TILES, optimize_for_inference


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sparnet")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dynamic", action="store_true", help="compile for any batch size (default: batch 1)")
    ap.add_argument("-o", "--output", default=None, help="also write the printed lines to this file")
    ap.add_argument("--batches", type=int, nargs="+", default=[1], help="with --dynamic: batch sizes to time")
    ap.add_argument("--omp-default", action="store_true", help="OpenMP's default wait policy (see bench_inference)")
    ap.add_argument("--winograd", type=int, nargs="+", default=[0], choices=list(WINOGRAD_TILES),
                    help="one package per value: Winograd output tile (0: plain convolutions)")
    ap.add_argument("--winograd-min-channels", type=int, default=128)
    bi.add_init_argument(ap)
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import torch._inductor.config as inductor_config

    torch.manual_seed(0)
    model = bi.random_model(a.model, a.init)
    opt = optimize_for_inference(model)
    x = torch.rand(1, 3, model.lr_size, model.lr_size, generator=torch.Generator().manual_seed(1))
    inductor_config.freezing = True
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        example = torch.cat([x, x]) if a.dynamic else x
        shapes = ({0: torch.export.Dim("batch", min=1, max=1024)},) if a.dynamic else None
        packages, compile_s = {}, {}
        for m in a.winograd:
            name = "AOTInductor" if m == 0 else f"AOTI F({m}x{m},3x3)"
            net = opt if m == 0 else optimize_for_inference(model, winograd=m,
                                                            winograd_min_channels=a.winograd_min_channels)
            t = time.perf_counter()
            ep = torch.export.export(net, (example,), dynamic_shapes=shapes)
            path = torch._inductor.aoti_compile_and_package(ep, package_path=str(Path(tmp) / f"model{m}.pt2"))
            compile_s[name] = time.perf_counter() - t
            packages[name] = torch._inductor.aoti_load_package(path)

        def eager(v):
            with torch.no_grad():
                return model(v)

        paths = {"eager": eager, "torch": opt, **packages}
        results = {}
        for b in (a.batches if a.dynamic else [1]):
            xb = torch.rand(b, 3, model.lr_size, model.lr_size, generator=torch.Generator().manual_seed(b))
            reps = a.repeats if b == 1 else max(3, a.repeats // 5)
            results[b] = bi._timed(paths, xb, reps, a.warmup)
    out = []
    built = ", ".join(f"{k} {v:.0f} s" for k, v in compile_s.items())
    weights = bi.init_label(a.init)
    out.append(f"{a.model}, {hardware()}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
               f"{os.environ.get('OMP_WAIT_POLICY', '')}; AOTInductor packages "
               f"({'dynamic batch' if a.dynamic else 'batch 1'}) compiled in: {built}; random weights ({weights})")
    out.append("python benchmarks/bench_aoti.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    for b, (times, diffs) in results.items():
        out.append(f"batch {b} ({len(times['eager'])} rounds):")
        width = max(map(len, paths))
        for name in paths:
            sp, lo, hi = bi.paired_speedup(times["eager"], times[name])
            ci = f" [{lo:.2f}, {hi:.2f}]" if lo is not None and name != "eager" else ""
            out.append(f"  {name:{width}s} {statistics.median(times[name]) * 1e3:8.1f} ms  {sp:.2f}x{ci}  "
                       f"max|diff| {diffs[name]:.1e}")
        for name in packages:
            sp, lo, hi = bi.paired_speedup(times["torch"], times[name])
            out.append(f"  {name} vs torch: {sp:.2f}x" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None else ""))
    text = "\n".join(out) + "\n"
    print(text, end="")
    if a.output:
        Path(a.output).parent.mkdir(parents=True, exist_ok=True)
        Path(a.output).write_text("```\n" + text + "```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
