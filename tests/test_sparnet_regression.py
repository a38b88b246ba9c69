"""The SPARNet recipe trains as it did before the trainer became a loop plus recipes: the same loss
curve for the same seed (reference logged by the old trainer, tests/data/sparnet_tiny_loss_ref.json)."""
import json
from pathlib import Path

import numpy as np
import pytest

from facesr.training.config import load_config
from facesr.training.trainer import make_trainer

REF = Path(__file__).parent / "data" / "sparnet_tiny_loss_ref.json"


def astronaut_faces(root: Path) -> Path:
    from PIL import Image
    from skimage import data

    a = data.astronaut()
    rng = np.random.default_rng(0)
    for i in range(48):
        y, x = rng.integers(0, 512 - 200, size=2)
        s = int(rng.integers(128, 200))
        d = root / f"person_{i % 8}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a[y:y + s, x:x + s]).resize((128, 128), Image.BICUBIC).save(d / f"img_{i:03d}.png")
    return root


def test_sparnet_tiny_recipe_reproduces_the_old_trainers_loss_curve(tmp_path):
    root = astronaut_faces(tmp_path / "faces")
    cfg = load_config("sparnet_tiny", [
        f"data.train.root={root}", f"data.val.root={root}", f"output_dir={tmp_path}/runs",
        f"data.train.cache={tmp_path}/c_train.npy", f"data.val.cache={tmp_path}/c_val.npy",
        "data.train.val_fraction=0.2", "data.val.split=all", "data.val.max_images=8", "train.steps=12",
        "train.batch_size=4", "log.every=1", "log.val_every=0", "log.progress=false", "log.tensorboard=false",
        "train.scheduler.warmup=3"])  # the config runs on 2 threads, as the reference did
    import torch

    threads = torch.get_num_threads()
    try:
        tr = make_trainer(cfg)
        tr.fit()
    finally:
        torch.set_num_threads(threads)
    got = [r["loss"] for r in tr.history if "loss" in r]
    ref = json.loads(REF.read_text())["loss"]
    assert len(got) == len(ref) == 12
    # same batches, same initial weights, same updates: equal up to float noise of the thread count on the
    # kind of CPU the reference was logged on (AMD, AVX2 kernels; tests/conftest.py pins the ISA). Intel's
    # MKL and oneDNN sum in another order even at AVX2, and over 12 steps that noise grows to 0.15-0.9 %
    # (an Intel Xeon, 2026-12-02): there the first loss (same batch, same initial weights, no update yet)
    # must still match to 1e-5 and the curve to 2 %.
    if _cpu_vendor() in ("AuthenticAMD", None):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=0)
    else:
        np.testing.assert_allclose(got[:1], ref[:1], rtol=1e-5, atol=0)
        np.testing.assert_allclose(got, ref, rtol=2e-2, atol=0)


def _cpu_vendor():
    """The CPU vendor id of /proc/cpuinfo (AuthenticAMD, GenuineIntel, ...), or None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None
