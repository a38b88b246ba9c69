"""``facesr train`` and careless or hostile configs, flags and run folders (issue 17, items 8, 9, 10).

Every bad value is refused before any training with one line ``facesr: error: ...`` on stderr, exit
status 2 and no traceback. Interrupted runs: a kill between the two renames of the checkpoint swap (or
while a checkpoint is written) leaves a checkpoint that ``--resume`` finds, a new run never starts over
an earlier one unless asked (and then moves it aside), and a resumed run's log equals the straight
run's. All runs go through ``facesr.cli.main`` on a tiny SPARNet and the ``face_folder`` fixture.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import yaml

from facesr.checkpoint import read_weights
from facesr.cli import main
from facesr.training import rundir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import TINY_SPARNET  # noqa: E402


def write_cfg(tmp_path, face_folder, name="tiny.yaml", **sections) -> str:
    """A small SPARNet config (6 steps, checkpoint every 2) in ``tmp_path``; ``sections`` replace keys."""
    raw = {
        "name": "tiny", "output_dir": str(tmp_path / "runs"), "seed": 3, "device": "cpu",
        "model": {"name": "sparnet", "settings": dict(TINY_SPARNET)},
        "data": {"train": {"root": str(face_folder), "split": "train", "val_fraction": 0.3,
                           "scale_range": [1.0, 1.3]},
                 "val": {"root": str(face_folder), "split": "val", "val_fraction": 0.3, "hflip": False,
                         "max_images": 4}},
        "train": {"batch_size": 2, "steps": 6, "ema": 0.0, "optimizer": {"lr": 1e-3},
                  "scheduler": {"name": "cosine", "warmup": 2}},
        "log": {"every": 2, "val_every": 0, "ckpt_every": 2, "progress": False, "tensorboard": False},
    }
    raw.update(sections)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(raw))
    return str(p)


def run_dir(tmp_path) -> Path:
    return tmp_path / "runs" / "tiny"


def fails(capsys, argv, *fragments) -> str:
    """Run ``facesr ARGV``; it must exit 2 with exactly one stderr line ``facesr: error: ...`` holding every
    fragment. Returns that line."""
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert rc == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("facesr: error: "), err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def train(cfg, *extra):
    return main(["train", "-q", "-c", cfg, *extra])


def log_records(tmp_path) -> list[dict]:
    return [json.loads(x) for x in (run_dir(tmp_path) / "log.jsonl").read_text().splitlines()]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = read_weights(a), read_weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ---- item 8: config values, refused up front -------------------------------------------------------------

@pytest.mark.parametrize("override, fragments", [
    ("train.steps=-5", ["train.steps must be at least 1", "-5"]),
    ("train.steps=0", ["train.steps must be at least 1"]),
    ("train.batch_size=-2", ["train.batch_size must be at least 1", "-2"]),
    ("train.batch_size=0", ["train.batch_size"]),
    ("train.batch_size=2.5", ["train.batch_size", "whole number"]),
    ("train.accum_steps=0", ["train.accum_steps"]),
    ("log.every=0", ["log.every"]),
    ("log.ckpt_every=0", ["log.ckpt_every"]),
    ("log.val_every=-1", ["log.val_every"]),
    ("train.optimizer.lr=-1", ["train.optimizer.lr must be positive"]),
    ("train.optimizer.lr=0", ["train.optimizer.lr"]),
    ("train.optimizer.lr=.nan", ["train.optimizer.lr", "finite"]),
    ("train.steps=.inf", ["train.steps", "finite"]),
    ("train.optimizer.betas=[1]", ["train.optimizer.betas"]),
    ("train.optimizer.betas=[0.9,2]", ["train.optimizer.betas"]),
    ("train.optimizer.weight_decay=-1", ["train.optimizer.weight_decay"]),
    ("train.scheduler.gamma=0", ["train.scheduler.gamma"]),
    ("train.scheduler.warmup=-1", ["train.scheduler.warmup"]),
    ("train.ema=1", ["train.ema"]),
    ("train.ema=-0.5", ["train.ema"]),
    ("seed=-1", ["seed"]),
    ("train.threads=-1", ["train.threads"]),
    ("train.grad_clip=-1", ["train.grad_clip"]),
    ("data.train.workers=-1", ["data.train.workers"]),
    ("data.train.val_fraction=2", ["data.train.val_fraction"]),
    # values of the wrong type
    ("train.steps=abc", ["train.steps", "must be a number"]),
    ("train.batch_size=[1]", ["train.batch_size", "must be a number"]),
    ("log.progress=3", ["log.progress", "true/false"]),
    ("name=[a]", ["'name'", "string"]),
    ("model.name=123", ["model.name"]),
    ("model.settings=5", ["model.settings", "mapping"]),
    ("data=5", ["'data'", "mapping"]),
    ("data.train.resized_crop=5", ["data.train.resized_crop"]),
    ("train.optimizer.betas=abc", ["train.optimizer.betas", "list"]),
    ("device=true", ["device"]),
    # typos
    ("train.stepz=5", ["train.stepz", "did you mean train.steps"]),
    ("recipe=gann", ["gann", "did you mean gan"]),
])
def test_bad_config_values_are_one_line_errors_before_any_work(capsys, tmp_path, face_folder, override, fragments):
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), override], *fragments)
    assert not run_dir(tmp_path).exists()  # nothing written, no untrained model


@pytest.mark.parametrize("overrides, fragments", [
    (["gan.n_critic=0"], ["gan.n_critic"]),
    (["train.optimizer_d.lr=-1"], ["train.optimizer_d.lr"]),
    (["train.optimizer_d.betas=[1,1]"], ["train.optimizer_d.betas"]),
    (["train.scheduler_d.gamma=-1"], ["train.scheduler_d.gamma"]),
    (["gan.loss=foo"], ["gan.loss"]),
])
def test_recipe_sections_are_checked(capsys, tmp_path, face_folder, overrides, fragments):
    cfg = write_cfg(tmp_path, face_folder)
    fails(capsys, ["train", "-q", "-c", cfg, "recipe=gan", "gan.discriminator.name=sparnethd-d", *overrides],
          *fragments)


@pytest.mark.parametrize("override, fragments", [
    ("model.settings.res_dpth=1", ["model.settings", "res_dpth"]),   # a typo inside model.settings
    ("model.settings.channels=[4,8]", ["model.settings", "channels"]),
    ("model.settings.hg_mid=-1", ["model.settings"]),
    ("model.name=nosuchmodel", ["nosuchmodel"]),
    ("data.train.root=/nonexistent/faces", ["/nonexistent/faces"]),
    ("data.val.root=/nonexistent/val", ["/nonexistent/val"]),
])
def test_bad_model_settings_and_data_folders_are_one_line_errors(capsys, tmp_path, face_folder, override,
                                                                 fragments):
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), override], *fragments)
    assert not (run_dir(tmp_path) / "log.jsonl").exists()


def test_an_empty_val_folder_is_one_line(capsys, tmp_path, face_folder):
    (tmp_path / "empty").mkdir()
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), f"data.val.root={tmp_path / 'empty'}",
                   "data.val.split=all", "log.val_every=2"], "data.val", "no images")


@pytest.mark.parametrize("content, fragments", [
    ("a: [1, 2\n", ["not valid YAML"]),
    ("- 1\n- 2\n", ["mapping at the top level"]),
    ("just a sentence\n", ["mapping at the top level"]),
    ("key: value\n\tfoo: 1\n", ["not valid YAML"]),
    (b"\x84\x00\xff\xfe garbage", ["not a YAML text file"]),
    ("", ["model.name"]),
])
def test_a_config_that_is_not_yaml_or_not_a_mapping(capsys, tmp_path, content, fragments):
    p = tmp_path / "bad.yaml"
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    fails(capsys, ["train", "-c", str(p)], *fragments)


def test_a_missing_config_file(capsys, tmp_path):
    fails(capsys, ["train", "-c", str(tmp_path / "nope.yaml")], "config file not found")


def test_steps_flag_must_be_positive(capsys, tmp_path, face_folder):
    with pytest.raises(SystemExit) as e:  # argparse's own usage error
        main(["train", "-c", write_cfg(tmp_path, face_folder), "--steps", "-5"])
    assert e.value.code == 2
    assert "--steps" in capsys.readouterr().err
    assert not run_dir(tmp_path).exists()


# ---- item 10: devices ------------------------------------------------------------------------------------

def test_device_flag_foo_is_one_line(capsys, tmp_path, face_folder):
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), "--device", "foo"], "unknown device 'foo'")


def test_device_in_the_config_is_checked_too(capsys, tmp_path, face_folder):
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), "device=foo"], "unknown device 'foo'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("dev", ["cuda", "cuda:0"])
def test_device_cuda_without_cuda_is_one_line(capsys, tmp_path, face_folder, dev):
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), "--device", dev], "no CUDA GPU")


def test_device_flag_overrides_the_config(tmp_path, face_folder):
    cfg = write_cfg(tmp_path, face_folder, device="foo")
    assert train(cfg, "--device", "cpu", "train.steps=2") == 0
    assert yaml.safe_load((run_dir(tmp_path) / "config.yaml").read_text())["device"] == "cpu"


# ---- item 8: resuming the wrong thing --------------------------------------------------------------------

def test_resume_with_nothing_to_resume(capsys, tmp_path, face_folder):
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), "--resume"], "nothing to resume")


def test_resume_and_overwrite_together(capsys, tmp_path, face_folder):
    fails(capsys, ["train", "-q", "-c", write_cfg(tmp_path, face_folder), "--resume", "--overwrite"],
          "--resume", "--overwrite")


@pytest.fixture
def two_step_run(tmp_path, face_folder):
    """A finished 2-step run in tmp_path/runs/tiny; returns its config file."""
    cfg = write_cfg(tmp_path, face_folder, train={"batch_size": 2, "steps": 2, "optimizer": {"lr": 1e-3}})
    assert train(cfg) == 0
    assert (run_dir(tmp_path) / "checkpoints" / "last" / rundir.MARKER).is_file()
    return cfg


def test_resume_with_a_different_model(capsys, tmp_path, two_step_run):
    fails(capsys, ["train", "-q", "-c", two_step_run, "--resume", "model.settings.channels=[4,8,8,16]",
                   "train.steps=4"], "cannot resume", "model.safetensors", "has shape")


def test_resume_with_ema_the_run_did_not_have(capsys, tmp_path, two_step_run):
    fails(capsys, ["train", "-q", "-c", two_step_run, "--resume", "train.ema=0.9", "train.steps=4"],
          "ema.safetensors is missing")


def test_resume_with_another_recipe(capsys, tmp_path, two_step_run):
    fails(capsys, ["train", "-q", "-c", two_step_run, "--resume", "recipe=gan",
                   "gan.discriminator.name=sparnethd-d", "train.steps=4"], "recipe 'sr'")


@pytest.mark.parametrize("garbage", [b"\x80\x02garbage that is not a torch file" * 10, b"", "list"])
def test_garbage_state_pt(capsys, tmp_path, two_step_run, garbage):
    state = run_dir(tmp_path) / "checkpoints" / "last" / "state.pt"
    if garbage == "list":
        torch.save([1, 2, 3], state)  # a valid torch file that is not a training state
    else:
        state.write_bytes(garbage)
    line = fails(capsys, ["train", "-q", "-c", two_step_run, "--resume", "train.steps=4"],
                 "is not a facesr training state", "state.pt")
    assert "weights_only" not in line


def test_a_state_missing_its_keys(capsys, tmp_path, two_step_run):
    state = run_dir(tmp_path) / "checkpoints" / "last" / "state.pt"
    st = torch.load(state, weights_only=True)
    del st["sampler"]
    torch.save(st, state)
    fails(capsys, ["train", "-q", "-c", two_step_run, "--resume", "train.steps=4"],
          "is not a facesr training state", "sampler")


def test_garbage_weights_in_a_checkpoint(capsys, tmp_path, two_step_run):
    (run_dir(tmp_path) / "checkpoints" / "last" / "model.safetensors").write_bytes(b"not safetensors" * 20)
    fails(capsys, ["train", "-q", "-c", two_step_run, "--resume", "train.steps=4"], "model.safetensors")


# ---- item 9: never start over a run by accident ---------------------------------------------------------

def test_a_new_run_over_an_earlier_one_is_refused(capsys, tmp_path, two_step_run):
    before = (run_dir(tmp_path) / "log.jsonl").read_bytes()
    fails(capsys, ["train", "-q", "-c", two_step_run], "already holds a run", "--resume", "--overwrite")
    assert (run_dir(tmp_path) / "log.jsonl").read_bytes() == before


def test_hidden_checkpoint_copies_count_as_a_run(capsys, tmp_path, face_folder):
    cfg = write_cfg(tmp_path, face_folder)
    tmp = run_dir(tmp_path) / "checkpoints" / ".last.tmp12345"
    tmp.mkdir(parents=True)
    (tmp / "model.safetensors").write_bytes(b"half written")
    fails(capsys, ["train", "-q", "-c", cfg], "already holds a run", "checkpoints")
    assert tmp.is_dir()  # not touched


def test_overwrite_moves_the_earlier_run_aside(tmp_path, two_step_run):
    old_weights = read_weights(run_dir(tmp_path) / "final.safetensors")
    assert train(two_step_run, "--overwrite", "train.steps=4") == 0
    aside = sorted(p for p in (tmp_path / "runs").iterdir() if p.name.startswith("tiny.old-"))
    assert len(aside) == 1
    kept = read_weights(aside[0] / "final.safetensors")
    assert all(torch.equal(old_weights[k], kept[k]) for k in old_weights)
    assert [json.loads(x)["step"] for x in (aside[0] / "log.jsonl").read_text().splitlines()] == [2]
    assert [r["step"] for r in log_records(tmp_path)] == [2, 4]  # the new run's own log only


# ---- item 9: a kill in the checkpoint swap ----------------------------------------------------------------

def _crash_in_swap_at(monkeypatch, step_to_crash: int, first_rename: bool = True):
    """Make the checkpoint swap of ``step_to_crash`` stop between its two renames (as a SIGKILL would)."""
    real = rundir.swap_in

    def swap(tmp, ckpt_dir):
        if rundir.checkpoint_step(tmp) != step_to_crash:
            return real(tmp, ckpt_dir)
        last = Path(ckpt_dir) / rundir.LAST
        if first_rename and last.exists():
            os.replace(last, Path(ckpt_dir) / f"{rundir.TEMP_PREFIX}old{os.getpid()}")
        raise KeyboardInterrupt

    monkeypatch.setattr(rundir, "swap_in", swap)


@pytest.fixture
def straight_run(tmp_path_factory, face_folder):
    """The 6-step run uninterrupted: (final weights file, log records)."""
    d = tmp_path_factory.mktemp("straight")
    assert train(write_cfg(d, face_folder)) == 0
    return run_dir(d) / "final.safetensors", log_records(d)


def test_kill_between_the_renames_resumes_from_the_newest_copy(monkeypatch, capsys, tmp_path, face_folder,
                                                               straight_run):
    cfg = write_cfg(tmp_path, face_folder)
    _crash_in_swap_at(monkeypatch, 4)
    assert train(cfg) == 130
    ckpt = run_dir(tmp_path) / "checkpoints"
    assert not (ckpt / "last").exists()
    copies = rundir.temp_copies(ckpt)
    assert sorted(rundir.checkpoint_step(p) for p in copies) == [2, 4]
    monkeypatch.undo()
    capsys.readouterr()
    fails(capsys, ["train", "-q", "-c", cfg], "already holds a run")  # never silently from step 0
    assert train(cfg, "--resume") == 0
    assert rundir.temp_copies(ckpt) == []
    assert rundir.checkpoint_step(ckpt / "last") == 6
    final, log = straight_run
    assert same_weights(final, run_dir(tmp_path) / "final.safetensors")
    assert [r["step"] for r in log_records(tmp_path)] == [r["step"] for r in log]


def test_kill_before_the_first_swap_resumes_from_the_written_copy(monkeypatch, tmp_path, face_folder,
                                                                  straight_run):
    cfg = write_cfg(tmp_path, face_folder)
    _crash_in_swap_at(monkeypatch, 2)
    assert train(cfg) == 130
    ckpt = run_dir(tmp_path) / "checkpoints"
    assert [rundir.checkpoint_step(p) for p in rundir.temp_copies(ckpt)] == [2]
    monkeypatch.undo()
    assert train(cfg, "--resume") == 0
    assert same_weights(straight_run[0], run_dir(tmp_path) / "final.safetensors")


def test_a_half_written_copy_is_not_used_and_is_cleaned_up(monkeypatch, tmp_path, face_folder, straight_run):
    cfg = write_cfg(tmp_path, face_folder)
    _crash_in_swap_at(monkeypatch, 4)
    assert train(cfg) == 130
    monkeypatch.undo()
    ckpt = run_dir(tmp_path) / "checkpoints"
    newest = max(rundir.temp_copies(ckpt), key=rundir.checkpoint_step)
    (newest / rundir.MARKER).unlink()  # killed before the marker: step 4's copy is incomplete
    assert not rundir.is_complete(newest)
    assert train(cfg, "--resume") == 0  # from step 2's copy
    assert rundir.temp_copies(ckpt) == []
    assert same_weights(straight_run[0], run_dir(tmp_path) / "final.safetensors")
    assert [r["step"] for r in log_records(tmp_path)] == [r["step"] for r in straight_run[1]]


def test_only_incomplete_copies_mean_nothing_to_resume(capsys, tmp_path, face_folder):
    cfg = write_cfg(tmp_path, face_folder)
    tmp = run_dir(tmp_path) / "checkpoints" / ".last.tmp4242"
    tmp.mkdir(parents=True)
    (tmp / "state.pt").write_bytes(b"")
    fails(capsys, ["train", "-q", "-c", cfg, "--resume"], "nothing to resume")
    assert not tmp.exists()  # a partial write, removed


def test_stale_copies_beside_last_are_removed_on_resume(tmp_path, two_step_run):
    ckpt = run_dir(tmp_path) / "checkpoints"
    stale = ckpt / ".last.old999"
    stale.mkdir()
    (stale / "state.pt").write_bytes(b"old")
    assert train(two_step_run, "--resume", "train.steps=4") == 0
    assert rundir.temp_copies(ckpt) == []
    assert rundir.checkpoint_step(ckpt / "last") == 4


# ---- item 9: resumed logs do not repeat steps ------------------------------------------------------------

def test_resumed_log_equals_the_straight_log(monkeypatch, tmp_path, face_folder):
    from facesr.training.recipes.sr import SRRecipe

    log = {"every": 3, "val_every": 4, "ckpt_every": 4, "progress": False, "tensorboard": False}
    tr = {"batch_size": 2, "steps": 8, "ema": 0.0, "optimizer": {"lr": 1e-3}, "scheduler": {"name": "cosine"}}
    a = tmp_path / "a"
    a.mkdir()
    assert train(write_cfg(a, face_folder, log=log, train=tr)) == 0
    straight = log_records(a)
    assert [r["step"] for r in straight] == [3, 4, 6, 8, 8]

    b = tmp_path / "b"
    b.mkdir()
    cfg = write_cfg(b, face_folder, log=log, train=tr)
    real = SRRecipe.training_step

    def killed_at_step_7(self, batch):  # after the log record of step 6, the checkpoint of step 4
        if self.step == 6:
            raise KeyboardInterrupt
        return real(self, batch)

    monkeypatch.setattr(SRRecipe, "training_step", killed_at_step_7)
    assert train(cfg) == 130
    assert [r["step"] for r in log_records(b)] == [3, 4, 6]
    with open(run_dir(b) / "log.jsonl", "a") as f:
        f.write('{"step": 7, "loss": 0.1')  # a record cut short by the kill
    monkeypatch.undo()
    assert train(cfg, "--resume") == 0
    resumed = log_records(b)
    assert [r["step"] for r in resumed] == [r["step"] for r in straight]
    for ra, rb in zip(straight, resumed):
        ra.pop("images_per_s", None)
        rb.pop("images_per_s", None)
        assert ra == rb  # loss averaged over the same steps, same lr, same validation


# ---- the run-folder helpers ------------------------------------------------------------------------------

def test_truncate_log_keeps_records_up_to_the_step(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_text('{"step": 1}\n{"note": "x"}\n{"step": 2, "val_psnr": 20}\n{"step": 3}\n{"step": 4')
    assert rundir.truncate_log(p, 2) == 2
    assert p.read_text() == '{"step": 1}\n{"note": "x"}\n{"step": 2, "val_psnr": 20}\n'
    assert rundir.truncate_log(p, 2) == 0
    assert rundir.truncate_log(tmp_path / "none.jsonl", 5) == 0


def test_a_marker_cut_short_is_incomplete(tmp_path):
    d = tmp_path / ".last.tmp1"
    d.mkdir()
    (d / "state.pt").write_bytes(b"x")
    (d / "model.safetensors").write_bytes(b"x")
    (d / "config.yaml").write_text("x")
    (d / rundir.MARKER).write_text('{"step": 3, "fi')
    assert not rundir.is_complete(d)
    rundir.write_marker(d, 3, ["model.safetensors", "state.pt", "config.yaml"])
    assert rundir.is_complete(d) and rundir.checkpoint_step(d) == 3
    (d / "model.safetensors").unlink()
    assert not rundir.is_complete(d)
