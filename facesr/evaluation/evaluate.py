"""Evaluate SR models (and the bicubic baseline) on a test folder under named metric protocols.

A test set is a folder of HR faces (or a folder with an ``HR/`` sub-folder, the FSRNet layout). LR
inputs are regenerated from HR, never taken from pre-made files, and each model gets LR made by its own
LR synthesis (:func:`model_degradation`: PIL bicubic 128 -> 16 for SPARNet, PIL bilinear halvings for
PFSR-style models, ...). Models that share an LR synthesis share one set of LR faces; the bicubic
baseline is scored once per distinct LR synthesis. Randomised syntheses (blind pipelines) draw from
``numpy.random.default_rng(i)`` for the i-th face, so every run and every model with that synthesis sees
the same LR faces.

Model outputs reach the metric protocols as float32 images in [0, 1]: a protocol quantises them its own
way (``sparnet`` truncates, ``facesr`` rounds, ``kdfsr``/``pfsr`` keep floats). The bicubic baseline is
PIL's uint8 output (already quantised).
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

__all__ = ["TestSet", "hr_priors", "LRSynthesis", "MethodResult", "load_test_set", "model_degradation", "synthesize_lr",
           "bicubic_outputs", "to_uint8", "run_eval", "results_table", "save_results"]


@dataclass
class TestSet:
    name: str
    files: list[Path]
    hr: list[np.ndarray]
    #: per-face priors of the HR faces by key (``parsing``: uint8 N x S x S), built on first need
    priors: dict = field(default_factory=dict)


def hr_priors(test: TestSet, keys) -> dict:
    """The HR faces' priors a teacher needs (``keys``, e.g. ``("parsing",)``), built once per test set:
    ``parsing`` = maps rasterised from dlib's 68 landmarks of each HR face (as the training caches'
    ``priors: {parsing: auto}``; needs ``facesr[faces]``). Raises FacesrError for an unknown key."""
    for k in keys:
        if k in test.priors:
            continue
        if k != "parsing":
            raise FacesrError(f"no way to build {k!r} maps of test faces (known: parsing)")
        from ..priors.landmarks import dlib_teacher
        from ..priors.parsing import parsing_maps

        lm, _ = dlib_teacher(np.stack(test.hr))
        test.priors[k] = parsing_maps(lm, int(test.hr[0].shape[0]))
    return {k: test.priors[k] for k in keys}


def load_test_set(path, hr_size: int = 128, max_images: int = 0, progress: bool = False) -> TestSet:
    """The HR faces of a folder (or of its ``HR/`` sub-folder), resized to ``hr_size`` (uint8 HxWx3), in
    file-name order; ``max_images`` > 0 keeps the first ones; ``progress``: a bar on stderr while they
    load. Raises FacesrError for a missing/empty folder."""
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
    bar = _bar(progress, len(files), f"{root.name}: loading", "face")
    hr = []
    for f in files:
        hr.append(load_hr(f, crop))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return TestSet(root.name, files, hr)


def _bar(progress: bool, total: int, desc: str, unit: str):
    """A tqdm bar on stderr (closed by the caller), or None when ``progress`` is off or there is no work."""
    if not progress or total <= 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False)


def model_degradation(model) -> dict:
    """The LR synthesis spec of a loaded model: the ``degradation`` entry of its ``facesr_meta`` if it has
    one, else its registry preset's ``degradation`` (``facesr_meta["preset"]``), else ``{"kind":
    "bicubic"}``. ``lr_size`` is not part of the result (it is the model's own ``lr_size``)."""
    meta = getattr(model, "facesr_meta", None) or {}
    if meta.get("degradation"):
        d = meta["degradation"]
        return {"kind": d} if isinstance(d, str) else dict(d)
    if meta.get("preset"):
        from ..errors import ModelNotFoundError
        from ..registry import get_preset

        try:
            return dict(get_preset(meta["preset"]).degradation)
        except ModelNotFoundError:
            pass
    return {"kind": "bicubic"}


@dataclass
class LRSynthesis:
    """One way of making LR faces from a test set's HR faces, and the LR faces it made."""

    key: str  # canonical JSON of the degradation's spec (equal keys: same LR faces)
    kind: str
    description: str  # Degradation.describe(hr_size), e.g. "PIL bicubic 128->16"
    lr_size: int
    lrs: list[np.ndarray]
    label: str = ""  # short name for the bicubic row: the kind, or the description where kinds repeat


def _spec_key(deg, fallback: dict) -> str:
    try:
        spec = deg.spec()
    except NotImplementedError:
        spec = fallback
    return json.dumps(spec, sort_keys=True, default=str)


def _describe(deg, kind: str, hr_size: int) -> str:
    try:
        return str(deg.describe(hr_size))
    except (AttributeError, NotImplementedError, TypeError):
        return kind


def _synthesis(spec, lr_size: int, hr_size: int) -> tuple:
    spec = {"kind": spec} if isinstance(spec, str) else dict(spec)
    deg = make_degradation(spec, lr_size=lr_size)
    kind = str(spec.get("kind"))
    return deg, _spec_key(deg, {**spec, "lr_size": lr_size}), kind, _describe(deg, kind, hr_size)


def synthesize_lr(hr: Sequence[np.ndarray], spec, lr_size: int) -> LRSynthesis:
    """LR faces of ``hr`` by the degradation ``spec`` (``lr_size`` unless the spec sets its own); the
    i-th face draws its randomness from ``numpy.random.default_rng(i)``. Raises ConfigError for an unknown
    degradation."""
    hr_size = int(hr[0].shape[0]) if len(hr) else 0
    deg, key, kind, desc = _synthesis(spec, lr_size, hr_size)
    lrs = [deg(h, np.random.default_rng(i)) for i, h in enumerate(hr)]
    return LRSynthesis(key, kind, desc, int(lrs[0].shape[0]) if lrs else lr_size, lrs)


@dataclass
class MethodResult:
    method: str
    outputs: list[np.ndarray]  # float32 in [0, 1] (models) or uint8 (bicubic), HxWx3 at the HR size
    metrics: dict = field(default_factory=dict)  # protocol -> {psnr, ssim, ms_ssim, ...}
    lr: str = ""  # the LR synthesis this method was given (LRSynthesis.description)
    synthesis: LRSynthesis | None = None  # ... and its LR faces

    def images(self) -> list[np.ndarray]:
        """The outputs as uint8 (rounded), for grids and uint8-only metrics."""
        return [to_uint8(o) for o in self.outputs]


def to_uint8(img: np.ndarray) -> np.ndarray:
    """uint8 as is; a float image in [0, 1] -> round(clip(x, 0, 1) * 255) as uint8, in float32 (the same
    bytes as :func:`facesr.inference.sr.super_resolve`'s uint8 output)."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    return np.round(np.clip(a.astype(np.float32), 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)


def bicubic_outputs(lrs: Sequence[np.ndarray], hr_size: int) -> list[np.ndarray]:
    return [pil_resize(lr, hr_size, "bicubic") for lr in lrs]


def _label_syntheses(syntheses: list[LRSynthesis]) -> None:
    kinds = [s.kind for s in syntheses]
    for s in syntheses:
        s.label = s.kind if kinds.count(s.kind) == 1 else s.description


def run_eval(models: dict, test: TestSet, protocols: Sequence[str], degradation=None, lr_size: int | None = None,
             batch_size: int = 16, include_bicubic: bool = True, progress: bool = False) -> list[MethodResult]:
    """Score ``models`` (display name -> loaded model) and the bicubic baseline on ``test``.

    Each model gets LR faces made by its own synthesis (:func:`model_degradation`, at the model's
    ``lr_size``); ``degradation`` (a spec) replaces that for every model, and ``lr_size`` the LR size of
    the bicubic baseline when there are no models (16 by default). LR faces are made once per distinct
    synthesis; a teacher (a model with ``extra_inputs``, e.g. PKDN's) also gets the HR faces' priors
    (:func:`hr_priors`: parsing maps from dlib's landmarks), as in the papers' teacher rows; with
    ``include_bicubic`` the baseline ("Bicubic", or "Bicubic (LABEL)" when several
    syntheses are used) comes first for each synthesis, in the order the models first use them. Model
    outputs are scored as float32 images. Returns one :class:`MethodResult` per row, each naming its LR
    synthesis in ``lr`` (and holding it, LR faces included, in ``synthesis``). ``progress``: bars on
    stderr over the faces super-resolved and the (method, protocol) scores computed. Raises FacesrError
    when a model's HR size differs from the test faces' size.
    """
    from ..inference.sr import super_resolve

    protocols = list(protocols)
    for p in protocols:
        get_protocol(p)
    hr_size = int(test.hr[0].shape[0])
    syntheses: dict[str, LRSynthesis] = {}
    plan: list[tuple[str, object, LRSynthesis]] = []
    for name, model in models.items():
        if int(getattr(model, "hr_size", hr_size)) != hr_size:
            raise FacesrError(f"{name}: makes {model.hr_size} px faces but the test faces of {test.name} are "
                              f"{hr_size} px")
        spec = degradation if degradation is not None else model_degradation(model)
        key = _synthesis(spec, int(model.lr_size), hr_size)[1]
        if key not in syntheses:
            syntheses[key] = synthesize_lr(test.hr, spec, int(model.lr_size))
        plan.append((name, model, syntheses[key]))
    if not syntheses and include_bicubic:
        syn = synthesize_lr(test.hr, degradation or {"kind": "bicubic"}, lr_size or 16)
        syntheses[syn.key] = syn
    _label_syntheses(list(syntheses.values()))
    results = []
    if include_bicubic:
        for syn in syntheses.values():
            name = "Bicubic" if len(syntheses) == 1 else f"Bicubic ({syn.label})"
            results.append(MethodResult(name, bicubic_outputs(syn.lrs, hr_size), lr=syn.description, synthesis=syn))
    n = len(test.hr)
    bar = _bar(progress, n * len(plan), f"{test.name}: super-resolving", "face")
    for name, model, syn in plan:
        outs = []
        priors = hr_priors(test, tuple(getattr(model, "extra_inputs", ())))  # {} for LR-only models
        for start in range(0, n, batch_size):  # the batches super_resolve would make, one bar step each
            pri = {k: v[start:start + batch_size] for k, v in priors.items()} or None
            outs += super_resolve(syn.lrs[start:start + batch_size], model, batch_size=batch_size, as_float=True,
                                  priors=pri)
            if bar is not None:
                bar.update(len(syn.lrs[start:start + batch_size]))
        results.append(MethodResult(name, outs, lr=syn.description, synthesis=syn))
    if bar is not None:
        bar.close()
    bar = _bar(progress, len(results) * len(protocols), f"{test.name}: scoring", "table")
    for r in results:
        for p in protocols:
            m = metric_evaluate(r.outputs, test.hr, p)
            r.metrics[p] = {k: m[k] for k in ("psnr", "ssim", "ms_ssim")}
            r.metrics[p]["psnr_per_image"] = list(map(float, m["psnr_per_image"]))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return results


def results_table(results: list[MethodResult], protocols: Sequence[str], dataset: str) -> str:
    """Markdown: one row per method, its LR synthesis, PSNR (2 decimals) and SSIM (4) per protocol."""
    head = "| Method | LR | " + " | ".join(f"PSNR ({p}) | SSIM ({p})" for p in protocols) + " |"
    sep = "|---|---|" + "---|---|" * len(protocols)
    lines = [f"**{dataset}** ({len(results[0].outputs)} faces)", "", head, sep]
    for r in results:
        cells = " | ".join(f"{r.metrics[p]['psnr']:.2f} | {r.metrics[p]['ssim']:.4f}" for p in protocols)
        lines.append(f"| {r.method} | {r.lr} | {cells} |")
    return "\n".join(lines) + "\n"


def save_results(results: list[MethodResult], protocols: Sequence[str], dataset: str, out_dir) -> dict:
    """Write DATASET.md (the table), DATASET.csv (method, lr, protocol, PSNR to 4 decimals, SSIM and
    MS-SSIM to 5) and DATASET.json (every metric, per-image PSNR) under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md = results_table(results, protocols, dataset)
    (out / f"{dataset}.md").write_text(md)
    with open(out / f"{dataset}.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "lr", "protocol", "psnr", "ssim", "ms_ssim"])
        for r in results:
            for p in protocols:
                m = r.metrics[p]
                w.writerow([r.method, r.lr, p, f"{m['psnr']:.4f}", f"{m['ssim']:.5f}", f"{m['ms_ssim']:.5f}"])
    js = {r.method: {"lr": r.lr, **{p: dict(r.metrics[p]) for p in protocols}} for r in results}
    (out / f"{dataset}.json").write_text(json.dumps(js, indent=1))
    return {"markdown": md, "dir": str(out)}
