import os
from pathlib import Path

import numpy as np
import pytest


def _pin_kernel_isa():
    """Run torch's CPU kernels at AVX2 on every x86 machine that has it, before anything imports torch.

    The reproducibility tests (tests/test_sparnet_regression.py's logged loss curve, test_distributed's
    two-processes-equal-one) compare training runs to 1e-5 / 1e-4. Torch picks its vectorised kernels and
    oneDNN its convolution algorithms by the CPU's widest ISA, and an AVX-512 machine sums in another order
    than the AVX2 machine the reference was logged on: over 12 steps that float noise grew to 1 % (CI on
    an AVX-512 EPYC failed both tests; the same code and pins pass there). Pinning both dispatchers to AVX2
    makes every CI machine compute the reference's floats. An explicit setting in the environment wins."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return
    if " avx2" in flags:
        os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
        # MKL (torch's BLAS) takes its AVX-512 paths on Intel CPUs only: pinned too, the two-process GAN test
        # holds on an Intel Xeon with AVX-512/AMX (1.7e-3 apart without it, under 1e-4 with it; 2026-12-02)
        os.environ.setdefault("MKL_ENABLE_INSTRUCTIONS", "AVX2")


_pin_kernel_isa()

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
HELEN = DATA / "helen_test50_fsrnet"
CELEBA = DATA / "celeba_test1000_fsrnet"
LFW = DATA / "lfw_deepfunneled" / "images"

# a tiny SPARNet (same code path as the paper's) for fast training tests
TINY_SPARNET = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}


def need(path: Path):
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


def load_script(path: Path):
    """A script of benchmarks/ or tools/ imported as a module, with its own folder on sys.path while it
    loads (the benchmark scripts import ``_report`` from beside them)."""
    import importlib.util
    import sys

    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(path.parent))
    return mod


@pytest.fixture(scope="session")
def face_folder(tmp_path_factory):
    """24 128x128 crops of skimage's astronaut in 6 'identity' folders (LFW layout)."""
    from PIL import Image
    from skimage import data

    a = data.astronaut()
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for i in range(24):
        y, x = rng.integers(0, 512 - 200, size=2)
        s = int(rng.integers(128, 200))
        crop = Image.fromarray(a[y:y + s, x:x + s]).resize((128, 128), Image.BICUBIC)
        d = root / f"person_{i % 6}"
        d.mkdir(exist_ok=True)
        crop.save(d / f"img_{i:03d}.png")
    return root


def pytest_configure(config):
    # FACESR_TEST_THREADS=1 keeps tests from fighting a training job for the same cores
    import os

    n = int(os.environ.get("FACESR_TEST_THREADS", "0") or 0)
    if n > 0:
        import torch

        torch.set_num_threads(n)


def snapshot(tr):
    """Copies of every trained network, the EMA and every optimiser moment of trainer ``tr`` (for exact-resume
    comparisons)."""
    import torch

    out = {}
    for name, net in tr.nets.items():
        out.update({f"{name}.{k}": v.clone() for k, v in net.state_dict().items()})
    if tr.ema is not None:
        out.update({f"ema.{k}": v.clone() for k, v in tr.ema.state_dict().items()})
    for name, opt in tr.optimizers.items():
        for i, st in opt.state_dict()["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v):
                    out[f"opt.{name}.{i}.{k}"] = v.clone()
    return out
