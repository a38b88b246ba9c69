"""Pictures of a training run: the loss curve and the validation PSNR from a run's ``log.jsonl``."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import FacesrError, require


def read_log(path) -> dict[str, list[tuple[int, float]]]:
    """``{series: [(step, value), ...]}`` from a run folder or its ``log.jsonl`` (one JSON object a line).

    Training records give ``loss`` (and each loss term); validation records give ``val_psnr`` and
    ``val_ssim``. A resumed run appends to the same file, so a step logged twice keeps its last value.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "log.jsonl"
    if not p.is_file():
        raise FacesrError(f"no training log at {p}")
    series: dict[str, dict[int, float]] = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            raise FacesrError(f"{p}:{n}: not a JSON record") from None
        step = rec.get("step")
        if not isinstance(step, int):
            continue
        for k, v in rec.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool):
                series.setdefault(k, {})[step] = float(v)
    return {k: sorted(v.items()) for k, v in series.items()}


def plot_log(path, out, title: str | None = None, batch_size: int | None = None) -> Path:
    """Write ``out`` (PNG): training loss per logged window (left axis, log scale) and validation PSNR
    (right axis) against the step; with ``batch_size`` the top axis counts images seen."""
    series = read_log(path)
    if "loss" not in series:
        raise FacesrError(f"{path}: the log holds no training loss records")
    require("matplotlib", "'facesr[plots]'", purpose="plots")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps, loss = zip(*series["loss"])
    ax.plot(steps, loss, color="tab:blue", lw=1, label="training loss")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (mean per logged window)", color="tab:blue")
    if "val_psnr" in series:
        ax2 = ax.twinx()
        vs, vp = zip(*series["val_psnr"])
        ax2.plot(vs, vp, "o-", color="tab:red", label="validation PSNR")
        ax2.set_ylabel("validation PSNR (dB)", color="tab:red")
    if batch_size:
        top = ax.secondary_xaxis("top", functions=(lambda s: s * batch_size / 1e3, lambda k: k * 1e3 / batch_size))
        top.set_xlabel("images seen (thousands)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
