"""``facesr benchmark``: every method under one or several metric protocols, in the layout of the papers'
tables.

Each method sees LR faces made by its own LR synthesis (its preset's degradation: PIL bicubic HR -> 16 x 16
for SPARNet, the SPARNet/DIC protocol; see :func:`facesr.evaluation.evaluate.model_degradation`), so
models with different LR sizes or syntheses share one table, each row naming its LR; the bicubic
baseline appears once per distinct synthesis. All are scored with the same metric protocols (model
outputs as floats) and costed on the current device. Outputs in OUT_DIR:

* ``results.md`` - one table per test set: LR synthesis, PSNR, SSIM and MS-SSIM (columns per protocol),
  landmark AUC@10 %, identity similarity, parameters, GFLOPs, latency (batch 1), throughput (batch 16),
  peak memory, then notes saying how the cost columns were measured;
* ``results.csv`` / ``results.json`` - one row per test set, protocol and method;
* ``grid_<set>.png`` - LR (one column per synthesis) | Bicubic | each method | HR for the first faces;
* ``attention_<model>.png`` - FAU attention maps of models that have them (SPARNet);
* ``psnr_vs_gflops.png``, ``psnr_hist_<set>.png`` - plots of the first protocol (matplotlib, optional).
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.io import write_image
from ..errors import FacesrError, MissingDependencyError
from ..inference.visual import comparison_grid
from .evaluate import _bar, load_test_set, run_eval


def _face_metrics_available() -> str | None:
    try:
        from ..faces import dlib_models as dm

        dm._dlib("landmark and identity metrics")
        dm.model_path("landmarks68")
        dm.model_path("recognition")
        return None
    except (MissingDependencyError, FacesrError, ImportError) as e:
        return str(e)


def attention_figure(model, lrs: Sequence[np.ndarray], n: int = 4) -> np.ndarray | None:
    """Rows: LR face | SR | attention map of each FAU (mean over channels for 3-D maps), heat-coloured."""
    import torch

    if not hasattr(model, "attention_maps"):
        return None
    x = torch.from_numpy(np.stack(lrs[:n]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    maps = model.attention_maps(x)
    if not maps:
        return None
    with torch.no_grad():
        sr = (model(x).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    rows = []
    for i in range(x.shape[0]):
        row = [lrs[i], sr[i]]
        for m in maps:
            a = m[i].mean(0).numpy()
            a = (a - a.min()) / max(1e-8, float(a.max() - a.min()))
            heat = np.stack([a, a ** 2, 1.0 - a], -1)  # simple blue->red colour map
            row.append((heat * 255).astype(np.uint8))
        rows.append(row)
    labels = ["LR", "SR"] + [f"FAU{j + 1}" for j in range(len(maps))]
    return comparison_grid(rows, labels, cell=96)


def _plots(rows: list[dict], per_image: dict, out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["plots skipped: matplotlib is not installed (pip install 'facesr[plots]')"]
    made = []
    costed: dict[str, list[dict]] = {}  # per data set, the rows with a cost
    for r in rows:
        costed.setdefault(r["dataset"], []).extend([r] if r.get("gflops") else [])
    if any(costed.values()):  # without cost (--no-cost, or only bicubic) there is nothing to plot
        fig, ax = plt.subplots(figsize=(5, 4))
        for ds, pts in costed.items():
            ax.scatter([r["gflops"] for r in pts], [r["psnr"] for r in pts], label=ds)
            for r in pts:
                ax.annotate(r["method"], (r["gflops"], r["psnr"]), fontsize=7)
        ax.set_xlabel("GFLOPs (one LR face)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_xscale("log")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "psnr_vs_gflops.png", dpi=120)
        plt.close(fig)
        made.append("psnr_vs_gflops.png")
    for ds, methods in per_image.items():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name, vals in methods.items():
            ax.hist(vals, bins=20, alpha=0.5, label=name)
        ax.set_xlabel("PSNR per image (dB)")
        ax.set_ylabel("faces")
        ax.set_title(ds)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / f"psnr_hist_{ds}.png", dpi=120)
        plt.close(fig)
        made.append(f"psnr_hist_{ds}.png")
    return made


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, flush=True)


def _speed_note(costs: dict, device: str) -> str | None:
    """What the latency and throughput columns are and how they were measured (None without costs)."""
    speeds = [c["speed"] for c in costs.values() if c.get("speed")]
    if not speeds:
        return None
    s0 = speeds[0]
    loads = [s["load"] for s in speeds if s.get("load")]
    load = (f"; 1-min load average {min(x['load1_before'] for x in loads):.1f}-"
            f"{max(x['load1_after'] for x in loads):.1f} on {loads[0]['cpus']} CPUs during the measurement"
            if loads else "")
    return (f"Latency (ms, b=1): median wall time of one forward of one LR face; Throughput (img/s, "
            f"b={s0['throughput_batch']}): {s0['throughput_batch']} / median wall time of one forward of "
            f"{s0['throughput_batch']} faces. Both from the same {s0['rounds']} interleaved rounds (each round "
            f"times batch 1, then batch {s0['throughput_batch']}, after warm-up rounds), inference mode, on "
            f"{device} with {s0['threads']} torch threads{load}. 1000 / latency is the batch-1 rate in img/s; a "
            f"warning below flags a throughput under half of it (a busy machine)")


def run_benchmark(models: Sequence[str], data_dirs: Sequence[str], out_dir, protocol: str | Sequence[str] = "facesr",
                  face: bool = True, cost: bool = True, max_images: int = 0, grid_faces: int = 6,
                  device: str = "cpu", progress: bool = True, command: str | None = None,
                  timing_rounds: int = 10) -> dict:
    """Benchmark ``models`` (registry names or model files) on the test folders ``data_dirs`` under one
    or several metric ``protocol`` names; write the outputs listed in the module docstring to
    ``out_dir``.

    ``face``: landmark/identity metrics (dlib; skipped with a note where missing); ``cost``: params,
    GFLOPs, latency and throughput (:func:`facesr.evaluation.cost.measure_speed`, ``timing_rounds``
    interleaved rounds) and peak memory; ``max_images`` > 0: the first faces of each folder;
    ``progress``: a line per model costed and per test set, and progress bars (stderr). Returns
    ``rows`` (one dict per test set, protocol and method, in that order; cost and face metrics repeated
    per protocol), ``markdown``, ``notes`` (strings), ``warnings`` (lines also printed to stderr, e.g.
    latency and throughput that disagree by more than 2x) and ``seconds``. Raises FacesrError for models
    of different HR sizes, missing test folders or unknown protocols."""
    import sys

    from ..inference.sr import resolve_model
    from ..metrics import get_protocol
    from .cost import model_cost, speed_warning

    protocols = [protocol] if isinstance(protocol, str) else list(protocol)
    if not protocols:
        raise FacesrError("no metric protocol given")
    for pr in protocols:
        get_protocol(pr)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    nets = {m: resolve_model(m, device) for m in models}
    hr_sizes = sorted({int(n.hr_size) for n in nets.values()})
    if len(hr_sizes) > 1:
        raise FacesrError(f"models with different HR sizes cannot share one table: {hr_sizes}")
    hr_size = hr_sizes[0] if hr_sizes else 128
    notes, warnings = [], []
    face_off = _face_metrics_available() if face else "disabled"
    if face and face_off:
        notes.append(f"landmark/identity metrics skipped: {face_off}")
    t0 = time.time()
    costs = {}
    for m, net in (nets.items() if cost else ()):
        _say(progress, f"cost of {m}: parameters, GFLOPs, latency/throughput ({timing_rounds} rounds), memory")
        costs[m] = model_cost(net, latency_repeats=timing_rounds)
        w = speed_warning(m, costs[m]["speed"])
        if w:
            warnings.append(w)
            print(f"facesr: warning: {w}", file=sys.stderr, flush=True)
    if cost:
        notes.append(f"cost measurement took {time.time() - t0:.0f} s")
    rows, per_image = [], {}
    for d in data_dirs:
        t_set = time.time()
        test = load_test_set(d, hr_size=hr_size, max_images=max_images, progress=progress)
        _say(progress, f"{test.name}: {len(test.hr)} faces, {len(nets)} model(s), protocol(s) {', '.join(protocols)}")
        res = run_eval(nets, test, protocols, progress=progress)
        if face and not face_off:
            from ..metrics.face import face_metrics

            hr_cache: dict = {}
            bar = _bar(progress, len(res), f"{test.name}: landmarks/identity", "method")
            for r in res:
                r.metrics["face"] = face_metrics(r.images(), test.hr, hr_cache)
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
        per_image[test.name] = {r.method: r.metrics[protocols[0]]["psnr_per_image"] for r in res}
        for pr in protocols:
            for r in res:
                m = r.metrics[pr]
                row = {"dataset": test.name, "protocol": pr, "method": r.method, "lr": r.lr, "n": len(test.hr),
                       "psnr": m["psnr"], "ssim": m["ssim"], "ms_ssim": m["ms_ssim"]}
                f = r.metrics.get("face")
                if f:
                    row.update({k: f.get(k) for k in ("auc10", "nme", "identity", "id_dist", "same_id", "fid_dlib")})
                c = costs.get(r.method)
                if c:
                    row.update({k: c[k] for k in ("params", "gflops", "latency_ms", "throughput", "peak_mem_mb")})
                rows.append(row)
        # comparison grid: the LR faces of each synthesis, every method, HR
        syns = []
        for r in res:
            if r.synthesis is not None and all(r.synthesis is not s for s in syns):
                syns.append(r.synthesis)
        k = min(grid_faces, len(test.hr))
        imgs = [r.images() for r in res]
        grid_rows = [[s.lrs[i] for s in syns] + [im[i] for im in imgs] + [test.hr[i]] for i in range(k)]
        lr_labels = ["LR"] if len(syns) == 1 else [f"LR ({s.label})" for s in syns]
        write_image(out / f"grid_{test.name}.png",
                    comparison_grid(grid_rows, lr_labels + [r.method for r in res] + ["HR"], cell=128))
        own_lr = {r.method: r.synthesis.lrs for r in res if r.synthesis is not None}
        for m, net in nets.items():
            fig = attention_figure(net, own_lr[m][:4])
            if fig is not None:
                write_image(out / f"attention_{Path(m).stem}_{test.name}.png", fig)
        notes.append(f"{test.name}: {len(test.hr)} faces in {time.time() - t_set:.0f} s")
    elapsed = time.time() - t0
    speed_note = _speed_note(costs, device)
    if speed_note:
        notes.insert(0, speed_note)
    notes += [f"warning: {w}" for w in warnings]
    notes += _plots([r for r in rows if r["protocol"] == protocols[0]], per_image, out)
    md = results_markdown(rows, protocols, costs, command, notes, elapsed)
    (out / "results.md").write_text(md)
    with open(out / "results.csv", "w", newline="") as f:
        keys = ["dataset", "protocol", "method", "lr", "n", "psnr", "ssim", "ms_ssim", "auc10", "nme", "identity",
                "id_dist", "same_id", "fid_dlib", "params", "gflops", "latency_ms", "throughput", "peak_mem_mb"]
        w = csv.DictWriter(f, keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)
    (out / "results.json").write_text(json.dumps({"rows": rows, "protocols": protocols, "notes": notes}, indent=1,
                                                 default=float))
    return {"rows": rows, "markdown": md, "notes": notes, "warnings": warnings, "seconds": elapsed}


def _fmt(v, spec):
    return "–" if v is None else format(v, spec)


def results_markdown(rows, protocols, costs, command, notes, elapsed) -> str:
    """The ``results.md`` text: the command, what the columns are, one table per test set (a line per
    method; PSNR/SSIM/MS-SSIM columns per protocol, headed by the protocol's name when there are
    several), then the notes as a list."""
    from ..checkpoint import hardware

    protocols = [protocols] if isinstance(protocols, str) else list(protocols)
    lines = []
    if command:
        lines += ["```", command, "```", ""]
    named = ", ".join(f"`{p}`" for p in protocols)
    lines.append(f"Protocol{'s' if len(protocols) > 1 else ''} {named} (see facesr.metrics.PROTOCOLS), on float "
                 f"outputs; LR: each method's own "
                 f"LR synthesis (column LR; the bicubic baseline once per synthesis). AUC@10%: NME of dlib's 68 "
                 f"landmarks on SR vs on HR (same face box), normalised by sqrt(w·h) of the HR landmarks' box "
                 f"(the paper used FAN). Identity: dlib ResNet descriptors of SR and HR: cosine (the paper used "
                 f"SphereFace), L2 distance, and the share under dlib's 0.6 same-person threshold. FID-dlib: "
                 f"Fréchet distance of those descriptors (not FID). Cost on {hardware()}. Ran in {elapsed:.0f} s.")
    lines.append("")
    sets = []
    for r in rows:
        if r["dataset"] not in sets:
            sets.append(r["dataset"])
    tag = (lambda p: f" ({p})") if len(protocols) > 1 else (lambda p: "")
    thr_b = next((c["speed"]["throughput_batch"] for c in costs.values() if c.get("speed")), 16)
    for ds in sets:
        rs = [r for r in rows if r["dataset"] == ds]
        by = {(r["protocol"], r["method"]): r for r in rs}
        methods = [r["method"] for r in rs if r["protocol"] == protocols[0]]
        lines.append(f"**{ds}** ({rs[0]['n']} faces)")
        lines.append("")
        quality = " | ".join(f"PSNR{tag(p)} | SSIM{tag(p)} | MS-SSIM{tag(p)}" for p in protocols)
        lines.append(f"| Method | LR | {quality} | AUC@10% | Identity (cos) | ID dist (L2) | Same ID (%) | "
                     f"FID-dlib | Params | GFLOPs | Latency (ms, b=1) | Throughput (img/s, b={thr_b}) | "
                     f"Peak mem (MB) |")
        lines.append("|---|---|" + "---|" * (3 * len(protocols) + 10))
        for name in methods:
            r = by[(protocols[0], name)]
            q = " | ".join(f"{by[(p, name)]['psnr']:.2f} | {by[(p, name)]['ssim']:.4f} | {by[(p, name)]['ms_ssim']:.4f}"
                           for p in protocols)
            p = r.get("params")
            lines.append(
                f"| {name} | {r.get('lr', '')} | {q} | "
                f"{_fmt(r.get('auc10'), '.2f')} | {_fmt(r.get('identity'), '.4f')} | {_fmt(r.get('id_dist'), '.4f')} | "
                f"{_fmt(r.get('same_id'), '.1f')} | {_fmt(r.get('fid_dlib'), '.4f')} | "
                f"{'–' if p is None else f'{p / 1e6:.2f}M'} | {_fmt(r.get('gflops'), '.2f')} | "
                f"{_fmt(r.get('latency_ms'), '.1f')} | {_fmt(r.get('throughput'), '.1f')} | "
                f"{_fmt(r.get('peak_mem_mb'), '.1f')} |")
        lines.append("")
    for n in notes:
        if not n.endswith(".png"):
            lines.append(f"- {n}")
    return "\n".join(lines) + "\n"
