"""``facesr enhance`` and careless or hostile output options, interrupted runs (issue 17, items 1, 3, 4, 10,
11): no input is replaced, names stay inside -o, the output folders are never read back as inputs, options
are checked before any work, each photo is on disk as soon as its work is done, and an interrupted run
resumed with --skip-existing gives files bit-identical to an uninterrupted run. Every error is one line
``facesr: error: ...`` with exit status 2 and no traceback.

Most runs use ``--aligned`` (photos are face crops: no detector, the model runs on every photo); the
no-face case needs dlib."""
from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facesr
from facesr.checkpoint import save_model
from facesr.cli import main

from cli_checks import one_error

TINY = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}
REPO = Path(__file__).resolve().parents[2]
OUT_FOLDERS = ("final", "cropped_faces", "restored_faces", "cmp")


def _dlib_ok() -> bool:
    from facesr.faces.dlib_models import dlib_available

    return dlib_available()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    net = facesr.build("sparnet", **TINY).eval()
    return save_model(net, tmp_path_factory.mktemp("model") / "tiny.safetensors", net.facesr_meta)


def photos(folder: Path, n: int, side: int = 32, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = folder / f"p{i}.png"
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def snapshot(root: Path, hidden: bool = False) -> dict[str, str]:
    """Files under ``root`` (hidden ones only with ``hidden``) -> sha256 of their bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink() and (hidden or not p.name.startswith("."))}


def enhance(capsys, *argv):
    rc = main(["enhance", *map(str, argv)])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def finished(out: Path) -> set[str]:
    """Stems of the photos whose final/ file exists (hidden temporary files are not photos)."""
    if not (out / "final").is_dir():
        return set()
    return {p.stem for p in (out / "final").iterdir() if not p.name.startswith(".")}


# ---- item 1: inputs are never outputs; the output folders are never inputs ------------------------------

def test_input_inside_output_folders_refused(model_file, tmp_path, capsys):
    out = tmp_path / "out"
    photos(out / "final", 2)
    before = snapshot(tmp_path, hidden=True)
    for src in (out / "final", out / "final" / "p0.png"):
        rc, _, err = enhance(capsys, "-i", src, "-o", out, "-m", tmp_path / "no-such-model.safetensors",
                             "--aligned", "-q")
        assert rc == 2
        one_error(err, "inside the output folder")  # said before the (missing) model is even looked for
    assert snapshot(tmp_path, hidden=True) == before


def test_output_folder_inside_input_not_reingested(model_file, tmp_path, capsys):
    d = tmp_path / "in"
    photos(d, 3)
    before = snapshot(d)
    for run in range(2):
        rc, out, _ = enhance(capsys, "-i", d, "-o", d / "enhanced", "-m", model_file, "--aligned", "--recursive")
        assert rc == 0 and out.startswith("3 image(s) done"), out
        assert finished(d / "enhanced") == {"p0", "p1", "p2"}
    after = snapshot(d)
    assert {k: after[k] for k in before} == before  # the inputs are untouched
    d2 = tmp_path / "in2"
    photos(d2, 3, seed=1)
    before = snapshot(d2)
    for run in range(2):  # -o = -i: OUT/final, OUT/cmp, ... are left out of the listing
        rc, out, _ = enhance(capsys, "-i", d2, "-o", d2, "-m", model_file, "--aligned", "--recursive")
        assert rc == 0 and out.startswith("3 image(s) done"), out
        assert sorted(p.name for p in (d2 / "final").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    after = snapshot(d2)
    assert {k: after[k] for k in before} == before


# ---- item 4 and 11: options checked before any work -----------------------------------------------------

@pytest.mark.parametrize("opt", [["--suffix", "x/../../y"], ["--suffix", ".."], ["--suffix", "a\\b"],
                                 ["--ext", "/../../y.png"], ["--ext", "../y"], ["--ext", "gif"],
                                 ["--ext", "exe"], ["--device", "foo"], ["--device", "cuda:9"]])
def test_bad_options_refused_before_work(model_file, tmp_path, capsys, opt):
    photos(tmp_path / "in", 2)
    before = snapshot(tmp_path, hidden=True)
    rc, out, err = enhance(capsys, "-i", tmp_path / "in", "-o", tmp_path / "o" / "deep", "-m", model_file,
                           "--aligned", *opt)
    assert rc == 2 and out == ""
    one_error(err, opt[0], repr(opt[1]))
    assert snapshot(tmp_path, hidden=True) == before and not (tmp_path / "o").exists()


@pytest.mark.parametrize("ext", ["png", ".png", "JPG"])
def test_ext_with_or_without_dot(model_file, tmp_path, capsys, ext):
    photos(tmp_path / "in", 1)
    rc, _, _ = enhance(capsys, "-i", tmp_path / "in", "-o", tmp_path / "o", "-m", model_file, "--aligned",
                       "--ext", ext, "--suffix", "v2", "-q")
    assert rc == 0
    assert [p.name for p in (tmp_path / "o" / "final").iterdir()] == ["p0_v2." + ext.lstrip(".").lower()]


def test_existing_file_as_output_reported_first(tmp_path, capsys):
    photos(tmp_path / "in", 2)
    (tmp_path / "o.txt").write_text("keep")
    rc, out, err = enhance(capsys, "-i", tmp_path / "in", "-o", tmp_path / "o.txt",
                           "-m", tmp_path / "no-such-model.safetensors", "--aligned")
    assert rc == 2 and out == ""
    one_error(err, "o.txt", "existing file")
    assert (tmp_path / "o.txt").read_text() == "keep"
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "final").write_text("a file where enhance needs a folder")
    rc, _, err = enhance(capsys, "-i", tmp_path / "in", "-o", tmp_path / "o2",
                         "-m", tmp_path / "no-such-model.safetensors", "--aligned")
    assert rc == 2
    one_error(err, "final", "existing file")


@pytest.mark.parametrize("recursive", [[], ["--recursive"]])
def test_symlink_loop_skipped(model_file, tmp_path, capsys, recursive):
    d = tmp_path / "in"
    photos(d, 2)
    (d / "loop.jpg").symlink_to("loop.jpg")
    rc, out, err = enhance(capsys, "-i", d, "-o", tmp_path / "o", "-m", model_file, "--aligned", *recursive)
    assert rc == 1 and out.startswith("2 image(s) done") and "1 failed" in out
    assert any("loop.jpg" in ln and "symbolic link loop" in ln for ln in err.splitlines()), err
    assert finished(tmp_path / "o") == {"p0", "p1"}


def test_long_file_name(model_file, tmp_path, capsys):
    d = tmp_path / "in"
    photos(d, 1)
    name = "f" * 246 + ".png"  # 250 bytes; the face outputs are NAME_00.png, 253 bytes
    (d / "p0.png").rename(d / name)
    rc, _, err = enhance(capsys, "-i", d, "-o", tmp_path / "o", "-m", model_file, "--aligned")
    assert rc == 0, err
    for sub in OUT_FOLDERS:
        assert len(list((tmp_path / "o" / sub).iterdir())) == 1
    assert [p.name for p in (tmp_path / "o" / "final").iterdir()] == [name]


# ---- item 3: interrupted runs keep every finished photo; --skip-existing finishes bit-identically ---------

def interrupt_after(monkeypatch, k: int) -> None:
    """Ctrl-C while the (k+1)-th photo is read."""
    import facesr.data.io as io

    real_read, calls = io.read_image, []

    def read(path, *a, **kw):
        calls.append(path)
        if len(calls) > k:
            raise KeyboardInterrupt
        return real_read(path, *a, **kw)

    monkeypatch.setattr(io, "read_image", read)


@pytest.mark.skipif(not _dlib_ok(), reason="dlib / face-recognition-models not installed")
def test_photos_without_model_work_written_at_once(model_file, tmp_path, capsys, monkeypatch):
    src = photos(tmp_path / "in", 8, side=48)  # noise: no face found, nothing for the model to do
    argv = ["-i", tmp_path / "in", "-m", model_file, "--det-upsample", "0", "-q"]
    rc, _, _ = enhance(capsys, *argv, "-o", tmp_path / "clean")
    assert rc == 0 and finished(tmp_path / "clean") == {p.stem for p in src}
    with monkeypatch.context() as m:
        interrupt_after(m, 5)
        rc, _, err = enhance(capsys, *argv, "-o", tmp_path / "out")
    assert rc == 130 and "interrupted" in err
    assert finished(tmp_path / "out") == {p.stem for p in src[:5]}  # every photo done before the interrupt
    rc, _, _ = enhance(capsys, *argv, "-o", tmp_path / "out", "--skip-existing")
    assert rc == 0
    assert snapshot(tmp_path / "out", hidden=True) == snapshot(tmp_path / "clean", hidden=True)


def test_model_batch_photos_written_per_batch(model_file, tmp_path, capsys, monkeypatch):
    src = photos(tmp_path / "in", 8)
    argv = ["-i", tmp_path / "in", "-m", model_file, "--aligned", "--batch-size", "2", "-q"]
    rc, _, _ = enhance(capsys, *argv, "-o", tmp_path / "clean")
    assert rc == 0
    with monkeypatch.context() as m:
        interrupt_after(m, 5)
        rc, _, _ = enhance(capsys, *argv, "-o", tmp_path / "out")
    assert rc == 130
    # photos 1-4 filled two model batches and are written; photo 5 waited for its batch
    assert finished(tmp_path / "out") == {p.stem for p in src[:4]}
    rc, _, _ = enhance(capsys, *argv, "-o", tmp_path / "out", "--skip-existing", "--batch-size", "3")
    assert rc == 0
    assert snapshot(tmp_path / "out", hidden=True) == snapshot(tmp_path / "clean", hidden=True)


KILLABLE = """
import sys, time
from facesr.enhance import runner
write = runner.FolderRun.write
def slow_write(self, *a, **kw):  # time for the test to kill the run between photos or inside one
    write(self, *a, **kw)
    time.sleep(0.15)
runner.FolderRun.write = slow_write
from facesr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_then_skip_existing_is_bit_identical(model_file, tmp_path, capsys):
    src = photos(tmp_path / "in", 8)
    args = ["-i", tmp_path / "in", "-m", model_file, "--aligned", "--batch-size", "2", "-q"]
    rc, _, _ = enhance(capsys, *args, "-o", tmp_path / "clean")
    assert rc == 0
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, "enhance", *map(str, args), "-o", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while proc.poll() is None and len(finished(out)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode in (-signal.SIGKILL, 0), err.decode()
    done = finished(out)
    assert len(done) >= 2
    clean = snapshot(tmp_path / "clean")
    got = snapshot(out)
    for stem in done:  # each finished photo: every one of its files, complete and exact
        mine = {k: v for k, v in clean.items() if Path(k).name.startswith(stem + ".") or
                Path(k).name.startswith(stem + "_")}
        assert mine and all(got.get(k) == v for k, v in mine.items()), stem
    rc, _, _ = enhance(capsys, *args, "-o", out, "--skip-existing")
    assert rc == 0
    assert snapshot(out) == clean  # bit-identical to the uninterrupted run (a killed write may leave a
    assert finished(out) == {p.stem for p in src}  # hidden .facesr-*.tmp, never a partial visible file)
