"""Bad model files (issue 17, items 5 and 7): each is refused by ``facesr.load`` with one line naming the
file (and the tensor or setting at fault), and by ``facesr sr -m FILE`` with exit 2 and one stderr line.

Every file here starts from a real tiny SPARNet saved by :func:`facesr.checkpoint.save_model` and is then
corrupted: its metadata JSON, its tensors, or its bytes.
"""
from __future__ import annotations

import json
import struct
import tracemalloc

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import facesr
from facesr.checkpoint import (check_header, dtype_kind, read_header, read_meta, read_weights, save_model)
from facesr.errors import FacesrError, ModelNotFoundError
from facesr.models.common import check_finite_output

TINY = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return facesr.build("sparnet", **TINY).eval()


@pytest.fixture
def good_file(tiny, tmp_path):
    return save_model(tiny, tmp_path / "good.safetensors", tiny.facesr_meta)


def write(path, state, meta):
    """A safetensors file with ``state`` and the facesr metadata ``meta`` (a dict, or raw text)."""
    raw = meta if isinstance(meta, str) else json.dumps(meta)
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(path), metadata={"facesr": raw})
    return path


def refused(path, *fragments):
    """Assert ``facesr.load(path)`` raises a one-line ModelNotFoundError naming the file and containing
    every fragment; return the message."""
    with pytest.raises(ModelNotFoundError) as ei:
        facesr.load(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(path) in msg
    for f in fragments:
        assert f in msg, msg
    return msg


def with_settings(tiny, **changes):
    m = json.loads(json.dumps(tiny.facesr_meta))
    m["settings"].update(changes)
    return m


def test_good_file_loads_and_matches(tiny, good_file):
    m = facesr.load(good_file)
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(m(x), tiny(x))
    assert m.facesr_meta["arch"] == "sparnet"


# ---- item 5: non-float / non-finite weights ---------------------------------------------------------

def _first_weight(tiny):
    return next(k for k, v in tiny.state_dict().items() if v.is_floating_point() and v.numel() > 1)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_non_finite_weight_refused(tiny, tmp_path, bad):
    state = dict(tiny.state_dict())
    keys = [k for k, v in state.items() if v.is_floating_point()]
    k = keys[len(keys) // 2]
    state[k] = state[k].clone()
    state[k].view(-1)[-1] = float(bad)
    refused(write(tmp_path / "m.safetensors", state, tiny.facesr_meta), repr(k), "1 NaN/Inf value(s)")


def test_first_bad_tensor_named(tiny, tmp_path):
    state = dict(tiny.state_dict())
    floats = [k for k, v in state.items() if v.is_floating_point()]
    for k in (floats[3], floats[7]):
        state[k] = torch.full_like(state[k], float("nan"))
    msg = refused(write(tmp_path / "m.safetensors", state, tiny.facesr_meta), repr(floats[3]))
    assert floats[7] not in msg


@pytest.mark.parametrize("dtype", [torch.bool, torch.int8, torch.uint8, torch.int64])
def test_non_float_weight_refused(tiny, tmp_path, dtype):
    state = dict(tiny.state_dict())
    k = _first_weight(tiny)
    state[k] = state[k].to(dtype)
    refused(write(tmp_path / "m.safetensors", state, tiny.facesr_meta), repr(k), "floating-point weights")


def test_every_weight_bool_refused(tiny, tmp_path):
    state = {k: (v.bool() if v.is_floating_point() else v) for k, v in tiny.state_dict().items()}
    refused(write(tmp_path / "m.safetensors", state, tiny.facesr_meta), "BOOL")


def test_integer_buffer_must_stay_integer(tiny, tmp_path):
    state = dict(tiny.state_dict())
    k = next(k for k in state if k.endswith("num_batches_tracked"))
    state[k] = state[k].float()
    refused(write(tmp_path / "m.safetensors", state, tiny.facesr_meta), repr(k), "integer")


def test_half_precision_weights_load(tiny, tmp_path):
    """Another floating dtype is not an error: the values are cast to the network's dtype."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in tiny.state_dict().items()}
    m = facesr.load(write(tmp_path / "m.safetensors", state, tiny.facesr_meta))
    k = _first_weight(tiny)
    assert m.state_dict()[k].dtype == torch.float32
    assert torch.equal(m.state_dict()[k], tiny.state_dict()[k].half().float())


def test_read_weights_checks_finiteness_and_like(tiny, tmp_path):
    state = dict(tiny.state_dict())
    k = _first_weight(tiny)
    state[k] = state[k].to(torch.int8)
    p = write(tmp_path / "m.safetensors", state, tiny.facesr_meta)
    assert read_weights(p)[k].dtype == torch.int8  # no reference: only finiteness is checked
    with pytest.raises(ModelNotFoundError, match="floating-point"):
        read_weights(p, like=tiny)
    state[k] = torch.full(state[k].shape, float("inf"))
    p = write(tmp_path / "m2.safetensors", state, tiny.facesr_meta)
    with pytest.raises(ModelNotFoundError, match="NaN/Inf"):
        read_weights(p)


def test_dtype_kind():
    assert [dtype_kind(c) for c in ("F32", "BF16", "F8_E4M3", "I64", "U8", "BOOL", "C64")] == \
        ["float", "float", "float", "int", "int", "bool", "complex"]
    assert [dtype_kind(d) for d in (torch.float16, torch.int64, torch.uint8, torch.bool)] == \
        ["float", "int", "int", "bool"]


def test_check_finite_output():
    x = torch.rand(2, 3, 4, 4)
    assert check_finite_output(x, "m") is x
    assert check_finite_output(torch.zeros(3, dtype=torch.uint8)) is not None
    for bad in (float("nan"), float("inf")):
        y = x.clone()
        y[1, 2, 3, 3] = bad
        y[0, 0, 0, 0] = bad
        with pytest.raises(FacesrError, match=r"^model 'x' on a\.png produced 2 NaN/Inf value\(s\) of 96 ") as ei:
            check_finite_output(y, "model 'x' on a.png")
        assert "\n" not in str(ei.value)
    a = np.ones((1, 3, 2, 2), np.float32)
    a[0, 0, 0, 0] = np.nan
    with pytest.raises(FacesrError, match="1 NaN/Inf value"):
        check_finite_output(a, "onnx")


def test_nan_model_output_caught(tiny):
    """A network that is finite on disk can still emit NaN (e.g. overflow): the output check sees it
    through the eval clamp (clamp keeps NaN)."""
    import copy

    m = copy.deepcopy(tiny)
    with torch.no_grad():
        m.net.tail.conv.bias.fill_(float("nan"))
        y = m(torch.rand(1, 3, 16, 16))
    with pytest.raises(FacesrError, match="NaN/Inf"):
        check_finite_output(y, "sparnet")


# ---- item 7: metadata ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2, 3]", "JSON list, not an object"),
    ('"sparnet"', "JSON str, not an object"),
    ("null", "JSON NoneType, not an object"),
    ('{"settings": {}}', "no 'arch' entry"),
    ('{"arch": 3}', "invalid 'arch'"),
    ('{"arch": ""}', "invalid 'arch'"),
    ('{"arch": "sparnet", "settings": [1]}', "'settings' must be a JSON object"),
    ('{"arch": "sparnett"}', "unknown architecture 'sparnett' (did you mean sparnet"),
])
def test_bad_metadata(tiny, tmp_path, raw, fragment):
    refused(write(tmp_path / "m.safetensors", tiny.state_dict(), raw), fragment)


def test_no_facesr_metadata(tiny, tmp_path):
    p = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in tiny.state_dict().items()}, str(p))
    refused(p, "no facesr metadata")


@pytest.mark.parametrize("changes, fragment", [
    ({"foo": 1}, "unknown setting 'foo'"),
    ({"res_depth": "1"}, "TypeError"),
    ({"res_depth": 1e9}, "TypeError"),
    ({"res_depth": -1}, "ValueError: hg_depths needs 5 entries"),
    ({"attention": "nope"}, "do not build architecture 'sparnet'"),
    ({"norm": 5}, "do not build architecture 'sparnet'"),
    ({"channels": [4, 8]}, "channels needs 4 entries"),
    ({"channels": "abc"}, "do not build architecture 'sparnet'"),
    ({"channels": [4, 8, 8, 16]}, "has shape [8, 8, 3, 3] but architecture 'sparnet' with these settings needs"),
    ({"res_depth": 2}, "weights do not fit architecture 'sparnet'"),
])
def test_bad_settings(tiny, tmp_path, changes, fragment):
    refused(write(tmp_path / "m.safetensors", tiny.state_dict(), with_settings(tiny, **changes)), fragment)


@pytest.mark.parametrize("changes, fragment", [
    ({"res_depth": 10 ** 9}, "absurd value 1000000000"),
    ({"res_depth": 100_000}, "far larger than the file's tensors"),
    ({"channels": [4096, 8192, 8192, 8192]}, "far larger than the file's tensors"),
    ({"channels": [1 << 19] * 4}, "far larger than the file's tensors"),
    ({"hg_depths": [1] * 70_000}, "more than"),
])
def test_huge_settings_fail_without_allocating(tiny, tmp_path, changes, fragment):
    """Settings that would build a multi-GB (or million-module) network are refused before anything
    real is built: peak Python allocation during the load stays small."""
    p = write(tmp_path / "m.safetensors", tiny.state_dict(), with_settings(tiny, **changes))
    tracemalloc.start()
    try:
        refused(p, fragment)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, peak


def test_huge_settings_never_built_for_real(tiny, tmp_path, monkeypatch):
    """A runaway setting is refused by the meta-device build alone: the builder never runs on a real
    device (where 8192-channel convolutions would allocate GBs)."""
    from facesr import registry

    registry._ensure_loaded()
    devices = []
    real = registry._ARCHS["sparnet"]

    def spy(**settings):
        devices.append(torch.get_default_device().type)
        return real(**settings)

    monkeypatch.setitem(registry._ARCHS, "sparnet", spy)
    for i, changes in enumerate([{"channels": [8192] * 4}, {"res_depth": 100_000}]):
        refused(write(tmp_path / f"m{i}.safetensors", tiny.state_dict(), with_settings(tiny, **changes)),
                "far larger")
    assert devices == ["meta", "meta"]
    facesr.load(write(tmp_path / "ok.safetensors", tiny.state_dict(), tiny.facesr_meta))
    assert devices == ["meta", "meta", "meta", "cpu"]  # a good file: checked on meta, then built for real


def test_every_registry_architecture_builds_on_meta():
    """The load path meta-builds a file's architecture first: it must work for every preset."""
    from facesr import registry

    for p in registry.list_presets():
        with torch.device("meta"):
            m = registry.build_arch(p.arch, p.settings)
        sd = m.state_dict()
        assert sd and all(t.is_meta for t in sd.values()), p.name


# ---- item 7: tensors and bytes ------------------------------------------------------------------------

def test_wrong_tensor_shape(tiny, tmp_path):
    state = dict(tiny.state_dict())
    k = _first_weight(tiny)
    state[k] = torch.zeros(*state[k].shape[:-1], state[k].shape[-1] + 1)
    refused(write(tmp_path / "m.safetensors", state, tiny.facesr_meta), repr(k), "has shape")


def test_missing_and_extra_tensors(tiny, tmp_path):
    state = dict(tiny.state_dict())
    k = _first_weight(tiny)
    del state[k]
    refused(write(tmp_path / "a.safetensors", state, tiny.facesr_meta), "missing 1", repr(k))
    state = {**tiny.state_dict(), "extra.weight": torch.zeros(3)}
    refused(write(tmp_path / "b.safetensors", state, tiny.facesr_meta), "unexpected 1", "'extra.weight'")


@pytest.mark.parametrize("keep", [0, 5, 8, 60, 0.5, -1])
def test_truncated_file(good_file, keep):
    data = good_file.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    good_file.write_bytes(data[:n])
    msg = refused(good_file)
    if n > 8 + struct.unpack("<Q", data[:8])[0]:  # the header is intact: the data is short
        assert "truncated" in msg


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", b"\x89PNG\r\n\x1a\n" + bytes(200),
                                     b"\xff" * 64])
def test_not_safetensors(tmp_path, content):
    p = tmp_path / "m.safetensors"
    p.write_bytes(content)
    refused(p, "not a safetensors model file")


def test_not_safetensors_any_suffix(tmp_path):
    p = tmp_path / "weights.pth"
    p.write_bytes(b"PK\x03\x04" + bytes(100))  # a zip, like a torch.save file
    refused(p, "not a safetensors model file")


def test_directory_and_missing(tmp_path):
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        facesr.load(tmp_path / "nope.safetensors")
    d = tmp_path / "dir.safetensors"
    d.mkdir()
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        facesr.load(d)


def test_header_helpers(tiny, good_file):
    h = read_header(good_file)
    sd = tiny.state_dict()
    assert set(h) == set(sd)
    assert all(h[k][1] == tuple(sd[k].shape) for k in sd)
    check_header(good_file, h, sd, "sparnet")  # no error
    with torch.device("meta"):
        skeleton = facesr.build("sparnet", **TINY)
    check_header(good_file, h, skeleton.state_dict(), "sparnet")
    assert read_meta(good_file)["settings"] == json.loads(json.dumps(tiny.facesr_meta["settings"]))


def test_save_model_needs_arch(tiny, tmp_path):
    with pytest.raises(ValueError, match="arch"):
        save_model(tiny, tmp_path / "m.safetensors", {"settings": {}})
    with pytest.raises(ValueError, match="settings"):
        save_model(tiny, tmp_path / "m.safetensors", {"arch": "sparnet", "settings": [1]})
    assert not (tmp_path / "m.safetensors").exists()


# ---- through the CLI -----------------------------------------------------------------------------------

def _bad_files(tiny, tmp_path):
    state = dict(tiny.state_dict())
    k = _first_weight(tiny)
    nan = {**state, k: torch.full_like(state[k], float("nan"))}
    i8 = {**state, k: state[k].to(torch.int8)}
    shape = {**state, k: torch.zeros(1)}
    good = save_model(tiny, tmp_path / "good.safetensors", tiny.facesr_meta)
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(good.read_bytes()[:-64])
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a model")
    no_arch = {k2: v for k2, v in tiny.facesr_meta.items() if k2 != "arch"}
    return {
        "nan": write(tmp_path / "nan.safetensors", nan, tiny.facesr_meta),
        "int8": write(tmp_path / "i8.safetensors", i8, tiny.facesr_meta),
        "shape": write(tmp_path / "shape.safetensors", shape, tiny.facesr_meta),
        "no_arch": write(tmp_path / "noarch.safetensors", state, no_arch),
        "not_json": write(tmp_path / "notjson.safetensors", state, "{oops"),
        "not_object": write(tmp_path / "list.safetensors", state, "[]"),
        "unknown_setting": write(tmp_path / "unk.safetensors", state, with_settings(tiny, foo=1)),
        "mistyped_setting": write(tmp_path / "typ.safetensors", state, with_settings(tiny, res_depth="x")),
        "huge_setting": write(tmp_path / "huge.safetensors", state, with_settings(tiny, res_depth=10 ** 9)),
        "huge_channels": write(tmp_path / "ch.safetensors", state,
                               with_settings(tiny, channels=[8192, 8192, 8192, 8192])),
        "truncated": trunc,
        "junk": junk,
    }


def test_cli_sr_refuses_bad_model_files(tiny, tmp_path, capsys):
    from PIL import Image

    from facesr.cli import main

    img = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(img)
    for name, bad in _bad_files(tiny, tmp_path).items():
        out = tmp_path / f"out_{name}"
        capsys.readouterr()
        rc = main(["sr", "-i", str(img), "-o", str(out), "-m", str(bad), "-q"])
        err = capsys.readouterr().err
        assert rc == 2, (name, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("facesr: error: "), (name, err)
        assert str(bad) in lines[0] and "Traceback" not in err, (name, err)
        assert not out.exists() or not any(out.iterdir()), name


def test_a_model_that_outputs_nan_is_refused_not_pasted_as_black(tmp_path):
    """Weights can be finite and the output still NaN (e.g. an overflowing layer): super_resolve refuses."""
    import numpy as np
    import torch

    import facesr
    from facesr.errors import FacesrError
    from facesr.inference.sr import super_resolve

    net = facesr.build("sparnet", channels=[4, 8, 8, 8], res_depth=1, hg_mid=4).eval()
    with torch.no_grad():
        net.net.tail.conv.bias.fill_(float("nan"))
    with pytest.raises(FacesrError, match="NaN"):
        super_resolve([np.zeros((16, 16, 3), np.uint8)], net)
