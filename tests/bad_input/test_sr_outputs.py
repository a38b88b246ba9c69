"""``facesr sr`` and careless or hostile output options (issue 17, items 1, 2, 4, 6, 10, 11): outputs never
replace inputs, names are unique and stay inside -o, unwritable formats and bad devices are refused before
any work, large inputs draw one warning, unusable folder entries are skipped. Every error is one line
``facesr: error: ...`` with exit status 2 and no traceback."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import facesr
from facesr.checkpoint import save_model
from facesr.cli import main
from facesr.data.io import read_image
from facesr.inference.sr import super_resolve

from cli_checks import one_error

TINY = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    net = facesr.build("sparnet", **TINY).eval()
    return save_model(net, tmp_path_factory.mktemp("model") / "tiny.safetensors", net.facesr_meta)


def face(path, side=16, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)
    return Path(path)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) -> sha256 of its bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def sr(model_file, capsys, *argv):
    rc = main(["sr", "-m", str(model_file), *map(str, argv)])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


# ---- item 1: an output that resolves to an input is refused before any work -----------------------------

def test_output_onto_inputs_refused(model_file, tmp_path, capsys):
    d = tmp_path / "faces"
    d.mkdir()
    face(d / "a.jpg", 16, 0)
    face(d / "b.png", 16, 1)
    before = snapshot(tmp_path)
    rc, _, err = sr(model_file, capsys, "-i", d, "-o", d)  # same folder, same names
    assert rc == 2
    one_error(err, "would replace the input")
    rc, _, err = sr(model_file, capsys, "-i", d / "a.jpg", "-o", d / "a.jpg")  # same file
    assert rc == 2
    one_error(err, "would replace the input")
    (tmp_path / "link").symlink_to(d, target_is_directory=True)  # another path to the same folder
    rc, _, err = sr(model_file, capsys, "-i", d, "-o", tmp_path / "link")
    assert rc == 2
    one_error(err, "would replace the input")
    rc, _, err = sr(model_file, capsys, "-i", d / "a.jpg", "-o", d / "sub" / ".." / "a.jpg")
    assert rc == 2
    one_error(err, "would replace the input")
    rc, _, err = sr(model_file, capsys, "-i", d, "-o", d, "--ext", "jpg")  # a.jpg -> a.jpg collides
    assert rc == 2
    one_error(err, "would replace the input")
    assert snapshot(tmp_path) == before  # nothing written, nothing replaced
    # the same folder is fine when no output name is an input's
    (d / "b.png").unlink()
    rc, out, _ = sr(model_file, capsys, "-i", d, "-o", d, "--ext", "png")
    assert rc == 0 and "1 image(s) written" in out
    assert snapshot(d)["a.jpg"] == before["faces/a.jpg"]
    assert Image.open(d / "a.png").size == (128, 128)


# ---- item 2: unique output names, a true count -----------------------------------------------------------

@pytest.mark.parametrize("extra", [["--ext", ".png"], ["--compare"], ["--ext", "png", "--compare"]])
def test_output_names_unique(model_file, tmp_path, capsys, extra):
    d = tmp_path / "in"
    d.mkdir()
    face(d / "a.jpg", 16, 0)
    face(d / "a.png", 16, 1)
    out = tmp_path / "out"
    rc, stdout, _ = sr(model_file, capsys, "-i", d, "-o", out, "--batch-size", "2", *extra)
    assert rc == 0 and "2 image(s) written" in stdout
    written = sorted(p.name for p in out.iterdir())
    ext = ".png" if "--ext" in extra else None
    first, second = ("a" + (ext or ".jpg")), ("a_png" + (ext or ".png"))
    expect = {first, second} | ({"a_cmp.png", "a_png_cmp.png"} if "--compare" in extra else set())
    assert set(written) == expect
    net = facesr.load(model_file)
    for src, dst in ((d / "a.jpg", out / first), (d / "a.png", out / second)):
        want = super_resolve(read_image(src), net)[0]
        if dst.suffix == ".png":  # lossless: the exact model output
            assert np.array_equal(read_image(dst), want)


# ---- item 4: names stay inside -o; png and .png both accepted -----------------------------------------

@pytest.mark.parametrize("ext", ["/../../y.png", "../y.png", "..\\y.png", "x/y.png", "gif", ".foo", ""])
def test_bad_ext_refused_before_work(model_file, tmp_path, capsys, ext):
    d = tmp_path / "in"
    d.mkdir()
    face(d / "a.png")
    before = snapshot(tmp_path)
    rc, _, err = sr(model_file, capsys, "-i", d, "-o", tmp_path / "o" / "p", "--ext", ext)
    assert rc == 2
    one_error(err, "--ext")
    assert snapshot(tmp_path) == before and not (tmp_path / "o").exists()


@pytest.mark.parametrize("ext", ["png", ".png", "PNG", "jpg"])
def test_ext_with_or_without_dot(model_file, tmp_path, capsys, ext):
    face(tmp_path / "a.png")
    rc, _, _ = sr(model_file, capsys, "-i", tmp_path / "a.png", "-o", tmp_path / "o", "--ext", ext)
    assert rc == 0
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["a." + ext.lstrip(".").lower()]


# ---- item 11: formats, existing files as -o, symlink loops, long names -------------------------------

def test_unwritable_formats(model_file, tmp_path, capsys):
    src = face(tmp_path / "a.png")
    rc, _, err = sr(model_file, capsys, "-i", src, "-o", tmp_path / "out.gif")  # an output file facesr can't write
    assert rc == 2 and not (tmp_path / "out.gif").exists()
    one_error(err, "-o", "cannot write")
    Image.open(src).save(tmp_path / "g.gif")  # an input facesr can read but not write: .png, said once
    rc, out, err = sr(model_file, capsys, "-i", tmp_path / "g.gif", "-o", tmp_path / "o")
    assert rc == 0 and "1 image(s) written" in out
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["g.png"]
    assert err.count("writing .png instead") == 1 and "error" not in err


def test_existing_file_as_output_folder(model_file, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    face(d / "a.png")
    face(d / "b.png", seed=1)
    (tmp_path / "notes.txt").write_text("keep me")
    rc, out, err = sr(model_file, capsys, "-i", d, "-o", tmp_path / "notes.txt")
    assert rc == 2 and out == ""
    one_error(err, "notes.txt", "existing file")
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_symlink_loop_skipped(model_file, tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    face(d / "a.png")
    face(d / "c.png", seed=1)
    (d / "loop.png").symlink_to("loop.png")  # points at itself
    (d / "gone.jpg").symlink_to("missing.jpg")  # dangling
    for recursive in ([], ["--recursive"]):
        out = tmp_path / f"o{len(recursive)}"
        rc, stdout, err = sr(model_file, capsys, "-i", d, "-o", out, *recursive)
        assert rc == 1 and "2 image(s) written" in stdout and "2 failed" in stdout
        lines = [ln for ln in err.splitlines() if ln.startswith("facesr:")]
        assert any("loop.png" in ln and "symbolic link loop" in ln for ln in lines), err
        assert any("gone.jpg" in ln and "broken symbolic link" in ln for ln in lines), err
        assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]


def test_long_file_name(model_file, tmp_path, capsys):
    name = "f" * 246 + ".png"  # 250 bytes: as long as names get on most file systems, less 5
    d = tmp_path / "in"
    d.mkdir()
    face(d / name)
    rc, _, err = sr(model_file, capsys, "-i", d, "-o", tmp_path / "o")
    assert rc == 0, err
    assert [p.name for p in (tmp_path / "o").iterdir()] == [name]  # no temp file left either


# ---- item 6: large inputs warned about, the comparison labelled truthfully --------------------------------

def test_large_input_warning_and_label(model_file, tmp_path, capsys, monkeypatch):
    import facesr.inference.visual as visual

    labels = []
    real_grid = visual.comparison_grid
    monkeypatch.setattr(visual, "comparison_grid", lambda rows, lab, **kw: labels.append(lab) or real_grid(rows, lab, **kw))
    d = tmp_path / "in"
    d.mkdir()
    face(d / "big.png", 512)
    face(d / "big2.png", 300, seed=1)
    face(d / "small.png", 16, seed=2)
    rc, _, err = sr(model_file, capsys, "-i", d, "-o", tmp_path / "o", "--compare")
    assert rc == 0
    warnings = [ln for ln in err.splitlines() if ln.startswith("facesr: warning:")]
    assert len(warnings) == 1, err  # one line, once per run
    assert "512x512" in warnings[0] and "16 px" in warnings[0] and "facesr enhance" in warnings[0]
    assert "restoration model" in warnings[0]
    assert [lab[0] for lab in labels] == ["input 512x512 -> LR 16px", "input 300x300 -> LR 16px", "input (LR)"]
    rc, _, err = sr(model_file, capsys, "-i", d / "small.png", "-o", tmp_path / "o2")
    assert rc == 0 and "warning" not in err


# ---- item 10: --device ---------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["foo", "cuda", "cuda:7", "gpu0"])
def test_bad_device(model_file, tmp_path, capsys, device):
    if device.startswith("cuda") and torch.cuda.is_available() and device == "cuda":
        pytest.skip("this machine has CUDA")
    src = face(tmp_path / "a.png")
    rc, _, err = sr(model_file, capsys, "-i", src, "-o", tmp_path / "o", "--device", device)
    assert rc == 2 and not (tmp_path / "o").exists()
    one_error(err, "--device", repr(device))


def test_temp_names_are_short():
    from facesr.fsutil import temp_name

    names = {temp_name() for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith(".facesr-") and n.endswith(".tmp") and len(n.encode()) == 20 for n in names)


def test_sr_takes_several_inputs_like_enhance(model_file, tmp_path, capsys):
    """-i takes files and folders together (as enhance's -i does); every face gets its own output."""
    a, b = tmp_path / "in_a", tmp_path / "in_b"
    a.mkdir()
    b.mkdir()
    face(a / "x.png")
    face(a / "y.png", seed=1)
    face(b / "x.png", seed=2)  # the same name in another folder: its output gets a unique name
    single = tmp_path / "z.png"
    face(single, seed=3)
    out = tmp_path / "out"
    rc, _, err = sr(model_file, capsys, "-i", a, b, single, "-o", out)
    assert rc == 0, err
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 4 and "z.png" in written and "x.png" in written
