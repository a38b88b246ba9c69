"""Evaluate SR models (and the bicubic baseline) on a test folder under named metric protocols.

A test set is a folder of HR faces (or a folder with an ``HR/`` sub-folder, the FSRNet layout). LR
inputs are regenerated from HR with the model preset's degradation (PIL bicubic 128 -> 16 for SPARNet),
never taken from pre-made files, so every method sees the same input.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.datasets import CropPolicy, load_hr
from ..data.degrade import make_degradation
from ..data.io import list_images
from ..data.resize import pil_resize
from ..errors import FacesrError
from ..metrics import evaluate as metric_evaluate, get_protocol


@dataclass
class TestSet:
    name: str
    files: list[Path]
    hr: list[np.ndarray]


def load_test_set(path, hr_size: int = 128, max_images: int = 0, progress: bool = False) -> TestSet:
    root = Path(path)
    if not root.exists():
        raise FacesrError(f"test data not found: {root}")
    img_dir = root / "HR" if (root / "HR").is_dir() else root
    files = list_images(img_dir)
    if max_images:
        files = files[:max_images]
    if not files:
        raise FacesrError(f"no images in {img_dir}")
    crop = CropPolicy("none", 0, hr_size)
    return TestSet(root.name, files, [load_hr(f, crop) for f in files])


@dataclass
class MethodResult:
    method: str
    outputs: list[np.ndarray]
    metrics: dict = field(default_factory=dict)  # protocol -> {psnr, ssim, ms_ssim, ...}


def bicubic_outputs(lrs: Sequence[np.ndarray], hr_size: int) -> list[np.ndarray]:
    return [pil_resize(lr, hr_size, "bicubic") for lr in lrs]


def run_eval(models: dict, test: TestSet, protocols: Sequence[str], degradation="bicubic", lr_size: int = 16,
             batch_size: int = 16, include_bicubic: bool = True, progress: bool = False) -> list[MethodResult]:
    """``models``: display name -> loaded model. Returns one :class:`MethodResult` per method."""
    from ..inference.sr import super_resolve

    deg = make_degradation(degradation, lr_size=lr_size)
    lrs = [deg(h) for h in test.hr]
    hr_size = test.hr[0].shape[0]
    results = []
    if include_bicubic:
        results.append(MethodResult("Bicubic", bicubic_outputs(lrs, hr_size)))
    for name, model in models.items():
        outs = super_resolve(lrs, model, batch_size=batch_size)
        results.append(MethodResult(name, outs))
    for r in results:
        for p in protocols:
            get_protocol(p)
            m = metric_evaluate(r.outputs, test.hr, p)
            r.metrics[p] = {k: m[k] for k in ("psnr", "ssim", "ms_ssim")}
            r.metrics[p]["psnr_per_image"] = list(map(float, m["psnr_per_image"]))
    return results


def results_table(results: list[MethodResult], protocols: Sequence[str], dataset: str) -> str:
    head = "| Method | " + " | ".join(f"PSNR ({p}) | SSIM ({p})" for p in protocols) + " |"
    sep = "|---|" + "---|---|" * len(protocols)
    lines = [f"**{dataset}** (16→128, {len(results[0].outputs)} faces)", "", head, sep]
    for r in results:
        cells = " | ".join(f"{r.metrics[p]['psnr']:.2f} | {r.metrics[p]['ssim']:.4f}" for p in protocols)
        lines.append(f"| {r.method} | {cells} |")
    return "\n".join(lines) + "\n"


def save_results(results: list[MethodResult], protocols: Sequence[str], dataset: str, out_dir) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = results_table(results, protocols, dataset)
    (out / f"{dataset}.md").write_text(md)
    with open(out / f"{dataset}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "protocol", "psnr", "ssim", "ms_ssim"])
        for r in results:
            for p in protocols:
                m = r.metrics[p]
                w.writerow([r.method, p, f"{m['psnr']:.4f}", f"{m['ssim']:.5f}", f"{m['ms_ssim']:.5f}"])
    js = {r.method: {p: {k: v for k, v in r.metrics[p].items()} for p in protocols} for r in results}
    (out / f"{dataset}.json").write_text(json.dumps(js, indent=1))
    return {"markdown": md, "dir": str(out)}
