"""Data-parallel training with 2 CPU processes on gloo equals 1 process with the same global batch."""
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp

from facesr.checkpoint import read_weights
from facesr.training.config import load_config
from facesr.training.trainer import make_trainer

import dist_worker

# instance norm is per-sample, so a split batch computes the same function as the whole batch
# (BatchNorm would not: its batch statistics are per process unless SyncBN, which torch has for GPUs only)
SETTINGS = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4, "norm": "in"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# SGD, not Adam: parameters whose true gradient is ~0 (a conv bias right before instance norm) get
# float-noise gradients that Adam would normalise into full-size steps, hiding the comparison.
def raw_cfg(face_folder, out, name):
    return {
        "name": name, "output_dir": str(out), "seed": 1,
        "model": {"name": "sparnet", "settings": SETTINGS},
        "data": {"train": {"root": str(face_folder), "cache": str(out / "cache.npy"), "scale_range": [1.0, 1.2]}},
        "train": {"batch_size": 4, "steps": 4, "optimizer": {"name": "sgd", "lr": 0.01}, "ema": 0.0},
        "log": {"every": 1, "val_every": 0, "ckpt_every": 1, "progress": False, "tensorboard": False},
    }


def spawn(raw, steps=None, resume=False, world=2, deadline_s=180.0):
    """Run ``world`` gloo ranks; a run that hangs (ranks waiting on each other) fails after ``deadline_s``."""
    ctx = mp.start_processes(dist_worker.run, args=(world, free_port(), raw, steps, resume), nprocs=world,
                             join=False, start_method="spawn")
    end = time.monotonic() + deadline_s
    while not ctx.join(timeout=1.0):
        if time.monotonic() > end:
            for p in ctx.processes:
                p.kill()
            pytest.fail(f"the {world}-process run did not finish in {deadline_s:.0f} s (ranks deadlocked?)")


def weights(out, name):
    return read_weights(out / name / "checkpoints" / "last" / "model.safetensors")


def max_diff(a, b):
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@pytest.fixture(scope="module")
def single(face_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    torch.set_num_threads(1)
    tr = make_trainer(load_config(raw=raw_cfg(face_folder, out, "one")))
    init = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.fit()
    w = weights(out, "one")
    assert max_diff(w, init) > 3e-3  # training moved the weights 30x more than the tolerance below
    return w


def test_two_gloo_processes_match_one_process(face_folder, tmp_path, single):
    spawn(raw_cfg(face_folder, tmp_path, "two"))
    two = weights(tmp_path, "two")
    assert two.keys() == single.keys()
    # same global batch, gradients all-reduced: equal up to float summation order (about 1e-6 after one
    # step on the output bias, whose gradient sums over every pixel; it grows a little with each step)
    assert max_diff(two, single) < 1e-4


def test_resume_across_world_sizes(face_folder, tmp_path, single):
    raw = raw_cfg(face_folder, tmp_path, "mixed")
    spawn(raw, steps=2)  # 2 steps on 2 processes
    make_trainer(load_config(raw=raw), resume=True, progress=False).fit()  # 2 more on 1 process
    assert max_diff(weights(tmp_path, "mixed"), single) < 1e-4


def test_time_limit_stops_every_rank_at_the_same_step(face_folder, tmp_path, single):
    raw = raw_cfg(face_folder, tmp_path, "timed")
    # only rank 0 runs out of time (after its first step); rank 1's limit is far off, so it must learn
    # from rank 0 that the run stops (else it would wait in DDP's next all-reduce for good)
    spawn(dict(raw, max_minutes_by_rank=[1e-9, 1e9]))
    st = torch.load(tmp_path / "timed" / "checkpoints" / "last" / "state.pt", weights_only=True)
    assert st["step"] == 1
    make_trainer(load_config(raw=raw), resume=True, progress=False).fit()  # the other 3 steps, 1 process
    assert max_diff(weights(tmp_path, "timed"), single) < 1e-4


def test_gan_recipe_two_processes_match_one(face_folder, tmp_path):
    """Both networks of the GAN recipe stay in step across processes: G through DDP, the discriminator
    (not DDP-wrapped) through the trainer's own gradient averaging. Hinge + feature matching, SGD for
    both, per-sample (instance) norms everywhere, so 2 x 2 faces compute what 4 faces do."""
    def cfg(name):
        raw = raw_cfg(face_folder, tmp_path, name)
        raw["recipe"] = "gan"
        raw["gan"] = {"discriminator": {"name": "sparnethd-d", "settings": {"base": 4, "max_ch": 8, "n_layers": 2}},
                      "loss": "hinge", "feature_matching": 1.0}
        raw["train"] = {**raw["train"], "steps": 2, "optimizer_d": {"name": "sgd", "lr": 0.01},
                        "losses": {"l1": 1.0}}
        return raw

    torch.set_num_threads(1)
    one = make_trainer(load_config(raw=cfg("gan_one")), progress=False)
    d0 = {k: v.clone() for k, v in one.nets["d"].state_dict().items()}
    one.fit()
    spawn(cfg("gan_two"))
    last = lambda name, f: read_weights(tmp_path / name / "checkpoints" / "last" / f)  # noqa: E731
    g1, g2 = last("gan_one", "model.safetensors"), last("gan_two", "model.safetensors")
    d1, d2 = last("gan_one", "d.safetensors"), last("gan_two", "d.safetensors")
    assert max_diff(d1, d0) > 1e-3  # the discriminator trained
    # equal up to float summation order; two steps, because the adversarial game amplifies that noise
    # (8.5e-4 on G after three steps in one run) far faster than plain SR training does
    assert max_diff(g2, g1) < 1e-4 and max_diff(d2, d1) < 1e-4

