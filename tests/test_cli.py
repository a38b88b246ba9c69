import numpy as np
import pytest
from PIL import Image

import facesr
from facesr.checkpoint import save_model
from facesr.cli import main
from facesr.data.io import read_image

from conftest import HELEN, TINY_SPARNET


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    m = facesr.build("sparnet", **TINY_SPARNET).eval()
    p = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    save_model(m, p, m.facesr_meta)
    return p


def test_sr_folder_keeps_names_sizes_and_survives_bad_files(tmp_path, tiny_model, capsys):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(src / "a.png")
    Image.fromarray(rng.integers(0, 256, (50, 40, 3), dtype=np.uint8)).save(src / "b.jpg")
    (src / "broken.png").write_bytes(b"\x89PNG garbage")
    rc = main(["sr", "-i", str(src), "-o", str(tmp_path / "out"), "-m", str(tiny_model), "-q", "--compare"])
    assert rc == 1  # one failure
    err = capsys.readouterr().err
    assert "broken.png" in err and "Traceback" not in err
    assert read_image(tmp_path / "out" / "a.png").shape == (128, 128, 3)
    assert read_image(tmp_path / "out" / "b.jpg").shape == (128, 128, 3)
    assert (tmp_path / "out" / "a_cmp.png").is_file()


def test_sr_single_file_and_clear_errors(tmp_path, tiny_model, capsys):
    src = tmp_path / "x.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(src)
    assert main(["sr", "-i", str(src), "-o", str(tmp_path / "y.png"), "-m", str(tiny_model), "-q"]) == 0
    assert read_image(tmp_path / "y.png").shape == (128, 128, 3)
    assert main(["sr", "-i", str(src), "-o", str(tmp_path / "z"), "-m", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["train", "-c", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_models_lists_presets(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("sparnet", "sparnet-3d", "sparnet-light-3d", "sparnet-baseline", "sparnet-tiny (default)"):
        assert name in out


def test_eval_bicubic_on_helen(tmp_path, tiny_model, capsys):
    if not HELEN.exists():
        pytest.skip("Helen-50 not present")
    rc = main(["eval", "-m", str(tiny_model), "--data", str(HELEN), "--protocol", "facesr", "dic",
               "-o", str(tmp_path), "--max-images", "50"])
    assert rc == 0
    md = (tmp_path / "helen_test50_fsrnet.md").read_text()
    row = [line for line in md.splitlines() if line.startswith("| Bicubic")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "PIL bicubic 128->16"
    assert cells[2] == "23.65" and cells[3] == "0.6620"  # the notes' bicubic baseline (Y, rounded, no crop)


def _run_python(code: str) -> str:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_help_and_models_import_no_torch():
    out = _run_python(
        "import sys, contextlib, io\n"
        "from facesr.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as f:\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    assert main(['models']) == 0\n"
        "assert 'sparnet-tiny' in f.getvalue() and 'enhance' in f.getvalue()\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    assert out.strip() == "[]"


def test_param_counts_on_meta_equal_real_builds():
    from facesr.cli.models import count_params

    for name in ("sparnet-tiny", "sparnethd"):
        real = sum(p.numel() for p in facesr.build(name).parameters())
        assert count_params(name) == real
    assert count_params("sparnethd") == 85_793_412


def test_models_params_column(capsys):
    assert main(["models", "--params"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert " 3,618,865 " in rows["sparnet-tiny"] and " 85,793,412 " in rows["sparnethd"]


def test_train_imports_no_inference_or_backend_modules(tmp_path, face_folder):
    import yaml

    cfg = {"name": "t", "output_dir": str(tmp_path / "runs"), "seed": 1,
           "model": {"name": "sparnet", "settings": TINY_SPARNET},
           "data": {"train": {"root": str(face_folder)}, "val": {"root": str(face_folder)}},
           "train": {"batch_size": 2, "steps": 2},
           "log": {"every": 1, "val_every": 2, "ckpt_every": 2, "progress": False, "tensorboard": False}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    out = _run_python(
        "import sys\n"
        "from facesr.cli import main\n"
        f"assert main(['train', '-c', {str(tmp_path / 'c.yaml')!r}, '-q']) == 0\n"
        "print(sorted(m for m in sys.modules if m.startswith(('facesr.inference', 'facesr.deploy.', "
        "'facesr.enhance'))))\n")
    assert out.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "runs" / "t" / "checkpoints" / "last").is_dir()


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["sr", "-i", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("facesr: error: ") and err.count("\n") == 1


def test_train_summary_reports_whatever_the_recipe_validates():
    """The closing line names the recipe's own validation figures: a landmark network has no PSNR (a
    heatmap run used to end in a KeyError traceback after saving its model)."""
    from facesr.cli.train import summary

    assert summary("runs/a", 2000, {"nme64": 4.2631, "nme128": 16.6294}) == (
        "run runs/a: step 2000, val nme64 4.263, nme128 16.629")
    assert summary("runs/b", 10, {"psnr": 27.123456, "ssim": 0.81234}) == "run runs/b: step 10, val psnr 27.123, ssim 0.8123"
    assert summary("runs/c", 0, {}) == "run runs/c: step 0"
