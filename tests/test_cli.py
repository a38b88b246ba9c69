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
