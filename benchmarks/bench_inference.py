"""CPU inference speed of registry models: eager vs the optimised path vs ONNX Runtime vs ncnn, in one run.

    python benchmarks/bench_inference.py [--models sparnet sparnet-tiny] [--all] [--repeats 7]
                                         [--threads N] [--ablation] [--no-onnx] [--no-ncnn]

For every preset with 16x16 input (``--all`` adds sparnethd, 512 px) and random weights (by default
:func:`facesr.deploy.perturb.perturb_weights`, so that outputs spread over [0, 1] and max|diff| shows real
rounding differences; ``--init default`` keeps the model's own init, under which SPARNet maps every face
to 0.5 +- 2e-4 and every path agrees to ~1e-7):

* eager      ``model.eval()`` forward under ``torch.no_grad()`` (the plain PyTorch path)
* optimised  the ``torch`` back-end's rewrite (:func:`facesr.deploy.torch_backend.rewrite`) under ``torch.inference_mode()``
* ORT        the ``onnxruntime`` inference back-end (:class:`facesr.deploy.onnx_backend.OrtSR`: the
             optimised graph exported to ONNX, run by ONNX Runtime's CPU provider), same number of threads
* ncnn       the ``ncnn`` inference back-end (:class:`facesr.deploy.ncnn_backend.NcnnSR`: the model
             converted by pnnx, run by ncnn's CPU engine in float32, one face at a time), same number of
             threads (ncnn's own OpenMP runtime; ``--no-ncnn`` skips it)

Latency at batch 1 and throughput at batch 16, median of ``--repeats`` rounds after warm-up; in each
round every path runs once, in turn (the order rotating), so that load from other processes hits all
of them alike; ONNX Runtime runs without spinning threads, which would otherwise steal the cores from the
PyTorch paths. The
speed-ups are ratios within the run. ``--ablation`` adds, at batch 1, the optimised path built up one
step at a time (BN folding only; + up-convs at low resolution; + channels_last; + oneDNN called directly
with pre-packed weights and fused activations = the default), the alternatives that were measured and
not kept (sub-pixel instead of transposed up-convs; TorchScript freeze of the plain graph and of the
optimised one). Writes benchmarks/results/inference.md and prints it.

OpenMP threads wait passively (``OMP_WAIT_POLICY=PASSIVE`` unless set): on a machine shared with
another job, spin-waiting 2-thread PyTorch ran the same forward anywhere from 0.4 s to 9 s, which makes
ratios meaningless. Passive waiting is not neutral, though: every parallel op then wakes a sleeping
thread, which slows the op-heavy eager path (893 top-level torch ops per SPARNet forward, several with
more than one parallel region) far more than the optimised one (441; both counted by
benchmarks/bench_onednn_share.py): SPARNet eager 171 -> 323 ms, optimised 100 -> 178 ms, sparnet-tiny
eager 84 -> 210 ms (results/inference_omp_default.md vs results/inference.md, one run each; the two
previous pairs of runs gave 197 -> 375, 114 -> 181, 93 -> 165 and 182 -> 282, 109 -> 137, 61 -> 156 ms). Passive ratios are therefore
larger than a user's process sees, and ONNX Runtime (its own thread pool, unaffected) looks faster next
to PyTorch than it is. ``--omp-default`` leaves the policy at OpenMP's default (spin a while, then
sleep), as a user's process has it: the figures to quote for users; run it on idle cores.

``--device cuda`` runs the same comparison on a GPU (each call timed up to ``torch.cuda.synchronize()``):
eager and optimised in float32, plus ``optimised fp16`` (the optimised module and its input in half
precision; its max|diff| says how far fp16 moves the output). ONNX Runtime is not run there (the
``onnxruntime`` back-end is CPU-only).
"""
from __future__ import annotations

import os
import sys

if "--omp-default" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede the first torch import

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

import facesr  # noqa: E402
from facesr.checkpoint import hardware  # noqa: E402
from facesr.errors import FacesrError  # noqa: E402
from facesr.evaluation.cost import sync  # noqa: E402
from facesr.deploy.torch_backend import rewrite as optimize_for_inference  # noqa: E402
from facesr.models.sparnet.inference import inference_rewrite as sparnet_rewrite  # noqa: E402
from facesr.deploy.perturb import perturb_weights  # noqa: E402
from facesr.registry import list_presets  # noqa: E402


def _loadavg() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _ort(model, threads: int):
    """The onnxruntime back-end exactly as facesr runs it (facesr.deploy.onnx_backend.OrtSR)."""
    from facesr.deploy import inference_model

    try:
        return inference_model(model, "onnxruntime", threads=threads)
    except ImportError as e:  # onnx / onnxruntime missing (MissingDependencyError)
        print(f"ONNX Runtime skipped: {e}", file=sys.stderr)
        return None


def _ncnn(model, threads: int):
    """The ncnn back-end exactly as facesr runs it (facesr.deploy.ncnn_backend.NcnnSR), converted afresh
    into a temporary folder (so that build s is the conversion, not a cache hit)."""
    import tempfile

    from facesr.deploy.ncnn_backend import cached_ncnn

    try:
        with tempfile.TemporaryDirectory() as tmp:  # ncnn holds the loaded model in memory: the files can go
            return cached_ncnn(model, threads=threads, cache_dir=tmp, progress=None)
    except (ImportError, FacesrError) as e:  # ncnn / pnnx missing, or the conversion failed its 1e-4 check
        print(f"ncnn skipped: {e}", file=sys.stderr)
        return None


def add_init_argument(ap) -> None:
    """``--init``: which random weights a benchmark uses (shared with bench_aoti.py)."""
    ap.add_argument("--init", choices=["perturbed", "default"], default="perturbed",
                    help="random weights: perturb_weights (default) or the model's own init")


def random_model(name: str, init: str) -> torch.nn.Module:
    """The registry preset ``name`` in eval mode with ``--init``'s random weights."""
    model = facesr.build(name).eval()
    return perturb_weights(model) if init == "perturbed" else model


def init_label(init: str) -> str:
    return "perturb_weights" if init == "perturbed" else "the model's own init"


def paired_speedup(ref: list[float], times: list[float], n_boot: int = 2000, seed: int = 0):
    """(median, lo, hi): the median over rounds of ``ref[i] / times[i]`` (both timed in the same round) and
    a 95 % percentile-bootstrap interval of that median (None, None with fewer than 5 rounds).

    Pairing each round's times cancels drifts in machine load that hit both paths of a round alike."""
    ratios = [a / b for a, b in zip(ref, times)]
    med = statistics.median(ratios)
    if len(ratios) < 5:
        return med, None, None
    rng = random.Random(seed)
    boots = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(n_boot))
    return med, boots[int(0.025 * n_boot)], boots[int(0.975 * n_boot) - 1]


def _timed(paths: dict, x: torch.Tensor, repeats: int, warmup: int):
    """Per-round seconds per call of each path and its max abs difference to the first (eager)."""
    outs = {}
    with torch.inference_mode():
        for name, fn in paths.items():
            for _ in range(warmup):
                outs[name] = fn(x)
        ref = outs[next(iter(paths))]
        diffs = {k: float((v.float() - ref).abs().max()) for k, v in outs.items()}
        times = {k: [] for k in paths}
        names = list(paths)
        for i in range(repeats):
            for name in names[i % len(names):] + names[:i % len(names)]:  # rotate the order every round
                sync(x.device)
                t = time.perf_counter()
                paths[name](x)
                sync(x.device)
                times[name].append(time.perf_counter() - t)
    return times, diffs


def bench_model(name: str, args) -> list[dict]:
    torch.manual_seed(0)
    dev = torch.device(args.device)
    model = random_model(name, args.init).to(dev)
    t = time.perf_counter()
    opt = optimize_for_inference(model)
    build = {"optimised": time.perf_counter() - t}

    def eager(x):
        with torch.no_grad():
            return model(x)

    paths = {"eager": eager, "optimised": opt}
    if dev.type == "cuda":
        import copy

        half = optimize_for_inference(copy.deepcopy(model).half())
        paths["optimised fp16"] = lambda x: half(x.half())
    t = time.perf_counter()
    ort = None if args.no_onnx or dev.type != "cpu" else _ort(model, torch.get_num_threads())
    if ort is not None:
        build["ORT"] = time.perf_counter() - t
        paths["ORT"] = ort
    t = time.perf_counter()
    nc = None if args.no_ncnn or dev.type != "cpu" else _ncnn(model, torch.get_num_threads())
    if nc is not None:
        build["ncnn"] = time.perf_counter() - t
        paths["ncnn"] = nc
    rows = []
    for batch, reps in ((1, args.repeats), (16, args.repeats16)):
        if reps <= 0:
            continue
        x = torch.rand(batch, 3, model.lr_size, model.lr_size,
                       generator=torch.Generator().manual_seed(batch)).to(dev)
        paths_b = dict(paths)
        if args.ablation and batch == 1:
            paths_b.update({
                "fold BN only": sparnet_rewrite(model, up_mode="nearest", channels_last=False, mkldnn=False),
                "+ low-res up-convs": sparnet_rewrite(model, channels_last=False, mkldnn=False),
                "+ channels_last": sparnet_rewrite(model, mkldnn=False),
                "+ oneDNN packed weights, fused act (= optimised)": sparnet_rewrite(model),

            })
        times, diffs = _timed(paths_b, x, reps, args.warmup)
        med = {k: statistics.median(v) for k, v in times.items()}
        for k in paths_b:
            sp, lo, hi = paired_speedup(times["eager"], times[k])
            rows.append({"model": name, "batch": batch, "path": k, "s": med[k], "diff": diffs[k],
                         "speedup": sp, "ci": (lo, hi), "repeats": reps, "build_s": build.get(k)})
        print(f"{name} batch {batch}: " + ", ".join(f"{k} {med[k] * 1e3:.1f} ms" for k in paths_b), file=sys.stderr)
    return rows


MAIN_PATHS = ("optimised", "ORT", "ncnn")  # the back-ends of the main table (eager is the reference)


def _ci(r: dict) -> str:
    lo, hi = r.get("ci", (None, None))
    return f" [{lo:.2f}, {hi:.2f}]" if lo is not None and r["path"] != "eager" else ""


def render(rows: list[dict], args, cmd: str, load0: str, load1: str) -> str:
    where = "CPU" if args.device == "cpu" else f"GPU ({args.device})"
    lines = [f"# {where} inference: eager vs optimised vs ONNX Runtime vs ncnn", "",
             f"{hardware()}; {torch.get_num_threads()} intra-op threads (ORT and ncnn the same), "
             f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}; "
             f"load average (1/5/15 min) {load0} at start, {load1} at end. Random weights "
             f"({init_label(args.init)}); "
             f"median of {args.repeats} rounds at batch 1 and "
             + (f"{args.repeats16} at batch 16" if args.repeats16 > 0 else "batch 16 not run")
             + f" after {args.warmup} "
             f"warm-up calls; in each round all paths run in turn. Times are medians over rounds; a speed-up is "
             f"the median over rounds of eager's time / the path's time in the same round, with a 95 % "
             f"bootstrap interval of that median in brackets (5 rounds or more).", "",
             "```", cmd, "```", "",
             "eager = `model.eval()` under `torch.no_grad()`; optimised = `optimize_for_inference(model)` under "
             "`torch.inference_mode()` (backend `torch`); ORT = the `onnxruntime` back-end "
             "(`inference_model(model, 'onnxruntime')`: the optimised graph in ONNX Runtime, CPU); ncnn = the "
             "`ncnn` back-end (`NcnnSR`: the model converted by pnnx, run by ncnn in float32, one face at a time). "
             "max|diff| is against eager on the [0, 1] output; build s = seconds to make the back-end from the "
             "model (optimised module; trace, export, session; trace, pnnx conversion, check, load).", "",
             "| model | batch | eager ms | " + " | ".join(f"{p} ms (speed-up)" for p in MAIN_PATHS)
             + " | eager img/s | " + " | ".join(f"{p} img/s" for p in MAIN_PATHS)
             + " | max abs diff " + " / ".join(MAIN_PATHS) + " | build s " + " / ".join(MAIN_PATHS) + " |",
             "|---|---|---|" + "---|" * (3 * len(MAIN_PATHS) + 1)]
    keyed = {(r["model"], r["batch"], r["path"]): r for r in rows}
    for (model, batch) in dict.fromkeys((r["model"], r["batch"]) for r in rows):
        e = keyed.get((model, batch, "eager"))
        others = [keyed.get((model, batch, p)) for p in MAIN_PATHS]
        ms = lambda r: f"{r['s'] * 1e3:.1f}" if r else "-"  # noqa: E731
        ips = lambda r: f"{batch / r['s']:.2f}" if r else "-"  # noqa: E731
        sp = lambda r: (f"{r['s'] * 1e3:.1f} (**{r['speedup']:.2f}x**" + _ci(r) + ")") if r else "-"  # noqa: E731
        dd = " / ".join(f"{r['diff']:.1e}" if r else "-" for r in others)
        bs = " / ".join(f"{r['build_s']:.2f}" if r and r.get("build_s") is not None else "-" for r in others)
        lines.append(f"| {model} | {batch} | {ms(e)} | " + " | ".join(sp(r) for r in others) + f" | {ips(e)} | "
                     + " | ".join(ips(r) for r in others) + f" | {dd} | {bs} |")
    abl = [r for r in rows if r["path"] not in ("eager",) + MAIN_PATHS]
    if abl:
        lines += ["", "Other paths (ablation at batch 1: the first four rows add one step each, indented rows are "
                  "variants of the optimised path; on a GPU: the optimised module in fp16); speed-up vs eager:", "",
                  "| model | batch | path | ms | speed-up | max abs diff |", "|---|---|---|---|---|---|"]
        for r in abl:
            lines.append(f"| {r['model']} | {r['batch']} | {r['path']} | {r['s'] * 1e3:.1f} | {r['speedup']:.2f}x{_ci(r)} | "
                         f"{r['diff']:.1e} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=None, help="registry names (default: every 16x16 preset)")
    ap.add_argument("--all", action="store_true", help="include presets with other input sizes (sparnethd)")
    ap.add_argument("--repeats", type=int, default=9, help="timed rounds at batch 1")
    ap.add_argument("--repeats16", type=int, default=3, help="timed rounds at batch 16 (0: skip batch 16)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (default: torch's)")
    ap.add_argument("--ablation", action="store_true", help="also time each optimisation step at batch 1")
    ap.add_argument("--no-onnx", action="store_true", help="skip ONNX Runtime")
    ap.add_argument("--no-ncnn", action="store_true", help="skip ncnn")
    add_init_argument(ap)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (on a GPU: no ONNX Runtime; adds fp16)")
    ap.add_argument("--omp-default", action="store_true",
                    help="leave OpenMP's wait policy at its default (spin, then sleep) instead of PASSIVE")
    ap.add_argument("-o", "--output", default=str(Path(__file__).parent / "results" / "inference.md"))
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {a.device}: this torch build sees no CUDA GPU")
    models = a.models or [p.name for p in list_presets() if a.all or p.lr_size == 16]
    warnings.filterwarnings("ignore")
    cmd = "python benchmarks/bench_inference.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load0 = _loadavg()
    rows = []
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    for i, m in enumerate(models):
        rows += bench_model(m, a)
        text = render(rows, a, cmd.strip(), load0, _loadavg())
        if i + 1 < len(models):  # partial results survive an interrupted run
            text += f"\n(partial: {i + 1} of {len(models)} models done)\n"
        Path(a.output).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
