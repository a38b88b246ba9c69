"""`facesr export` writes checked ONNX and ncnn files of any model file, and refuses what it cannot do in
one line."""
import pytest

from facesr.checkpoint import save_model
from facesr.cli import main
from facesr.deploy.perturb import perturb_weights
from facesr.registry import build

from conftest import TINY_SPARNET


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    net = perturb_weights(build("sparnet", **TINY_SPARNET))
    path = tmp_path_factory.mktemp("m") / "tiny.safetensors"
    save_model(net, path, net.facesr_meta)
    return path


def test_export_onnx_is_checked_against_pytorch(tiny_file, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "tiny.onnx"
    assert main(["export", "-m", str(tiny_file), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "OK" in text and "max abs diff" in text


def test_export_ncnn_is_checked_with_ncnn(tiny_file, tmp_path, capsys):
    pytest.importorskip("ncnn")
    pytest.importorskip("pnnx")
    out = tmp_path / "tiny.v1.param"
    assert main(["export", "-m", str(tiny_file), "-o", str(out)]) == 0
    assert out.is_file() and (tmp_path / "tiny.v1.bin").is_file() and "OK" in capsys.readouterr().out


@pytest.mark.parametrize("args, msg", [
    (["-o", "x.pt2"], "must end in .onnx"),
    (["-o", "x.param", "--plain"], "--plain does not apply"),
    (["-o", "x.onnx", "--opset", "9"], "too old"),
])
def test_export_refuses_in_one_line(tiny_file, tmp_path, capsys, args, msg):
    args = [a if not a.startswith("x.") else str(tmp_path / a) for a in args]
    assert main(["export", "-m", str(tiny_file)] + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("facesr: error:") and msg in err[0]
