"""Tests for facesr.data.io and facesr.errors (tiny images made in tmp_path)."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesr.data.io import (
    IMAGE_EXTENSIONS,
    list_images,
    read_image,
    read_image_float,
    to_numpy_image,
    to_tensor,
    write_image,
)
from facesr.errors import (
    FacesrError,
    ImageReadError,
    ImageWriteError,
    MissingDependencyError,
    require,
)


def _rng_rgb(h=12, w=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _png16_rgb(arr: np.ndarray) -> bytes:
    """Hand-made 16-bit RGB PNG (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw))
            + _png_chunk(b"IEND", b""))


def _expect_read_error(path, **kw) -> str:
    with pytest.raises(ImageReadError) as ei:
        read_image(path, **kw)
    err = ei.value
    msg = str(err)
    assert Path(path).name in msg
    assert "\n" not in msg
    assert isinstance(err, FacesrError)
    assert err.__cause__ is None  # no chained PIL traceback
    assert err.__context__ is None or err.__suppress_context__
    return msg


def _tmp_leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- reading kinds


def test_rgb_png_roundtrip_exact_and_float(tmp_path):
    from skimage import data

    img = np.ascontiguousarray(data.astronaut()[100:164, 180:228])  # 64x48 face crop
    out = write_image(tmp_path / "a.png", img)
    assert out == tmp_path / "a.png"
    back = read_image(out)
    assert back.dtype == np.uint8 and back.shape == (64, 48, 3)
    np.testing.assert_array_equal(back, img)
    f = read_image_float(out)
    assert f.dtype == np.float32 and f.shape == (64, 48, 3)
    np.testing.assert_allclose(f, img / 255.0, atol=1e-7)
    assert 0.0 <= f.min() and f.max() <= 1.0


def test_exif_orientation_is_applied(tmp_path):
    # 16 high x 32 wide: left half red, right half blue. Orientation 6 = "rotate 90 CW to view".
    img = np.zeros((16, 32, 3), np.uint8)
    img[:, :16] = (255, 0, 0)
    img[:, 16:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "rot.jpg")
    assert out.shape == (32, 16, 3)
    # After a 90 deg clockwise turn the left (red) half is on top.
    top, bottom = out[4, 8].astype(int), out[-4, 8].astype(int)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_rgba_composited_on_white(tmp_path):
    a = np.zeros((2, 3, 4), np.uint8)
    a[0, 0] = (10, 20, 30, 0)  # transparent -> white
    a[0, 1] = (10, 20, 30, 255)  # opaque -> unchanged
    a[0, 2] = (100, 0, 200, 128)  # half -> exact integer blend with white
    Image.fromarray(a, "RGBA").save(tmp_path / "rgba.png")
    out = read_image(tmp_path / "rgba.png")
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 1]) == (10, 20, 30)
    blend = [(c * 128 + 255 * 127 + 127) // 255 for c in (100, 0, 200)]
    assert tuple(out[0, 2]) == tuple(blend)
    assert (out[1] == 255).all()  # all-zero RGBA row was fully transparent


def test_la_and_palette_transparency(tmp_path):
    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 0] = 40
    la[0, :, 1] = 255
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = read_image(tmp_path / "la.png")
    assert out.shape == (2, 2, 3)
    assert (out[0] == 40).all() and (out[1] == 255).all()

    p = Image.new("P", (2, 1), 0)
    p.putpalette([0, 255, 0, 9, 8, 7] + [0] * 762)
    p.putpixel((1, 0), 1)
    p.info["transparency"] = 0
    p.save(tmp_path / "pt.png")
    out = read_image(tmp_path / "pt.png")
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[0, 1]) == (9, 8, 7)

    p2 = Image.new("P", (2, 1), 1)
    p2.putpalette([0, 255, 0, 9, 8, 7] + [0] * 762)
    p2.save(tmp_path / "p.gif")
    assert tuple(read_image(tmp_path / "p.gif")[0, 0]) == (9, 8, 7)


def test_greyscale_and_1bit_replicated(tmp_path):
    g = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(g).save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    assert out.shape == (3, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], g)

    b = Image.new("1", (3, 2), 0)
    b.putpixel((1, 1), 1)
    b.save(tmp_path / "b.png")
    out = read_image(tmp_path / "b.png")
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert tuple(out[1, 1]) == (255, 255, 255) and tuple(out[0, 0]) == (0, 0, 0)


V16 = np.array([[0, 255, 256, 257], [32768, 65280, 65534, 65535]], dtype=np.uint16)
V8 = V16 >> 8  # documented: keep the high byte


def test_16bit_grey_png_I16(tmp_path):
    Image.fromarray(V16).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    out = read_image(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out[..., 0], V8)
    np.testing.assert_array_equal(out[..., 0], [[0, 0, 1, 1], [128, 255, 255, 255]])
    np.testing.assert_array_equal(out[..., 2], V8)


def test_16bit_I16B_and_I_tiff(tmp_path):
    Image.frombytes("I;16B", (4, 2), V16.astype(">u2").tobytes()).save(tmp_path / "b.tif")
    assert Image.open(tmp_path / "b.tif").mode == "I;16B"
    np.testing.assert_array_equal(read_image(tmp_path / "b.tif")[..., 1], V8)

    i32 = np.array([[0, 300, 65535, 70000, -5]], dtype=np.int32)
    Image.fromarray(i32).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    out = read_image(tmp_path / "i.tif")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 255, 0])  # clipped to 16 bit, then >> 8


def test_16bit_rgb_png(tmp_path):
    rgb = np.stack([V16, V16[::-1], 65535 - V16], axis=-1)
    (tmp_path / "rgb16.png").write_bytes(_png16_rgb(rgb))
    out = read_image(tmp_path / "rgb16.png")
    assert out.dtype == np.uint8 and out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out, rgb >> 8)


def test_float_F_mode(tmp_path):
    unit = np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)
    Image.fromarray(unit).save(tmp_path / "u.tif")
    assert Image.open(tmp_path / "u.tif").mode == "F"
    out = read_image(tmp_path / "u.tif")
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255, 0])  # [0,1] scale, NaN -> 0

    wide = np.array([[0.0, 100.4, 254.6, 300.0, -3.0]], dtype=np.float32)
    Image.fromarray(wide).save(tmp_path / "w.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "w.tif")[0, :, 1], [0, 100, 255, 255, 0])


def test_cmyk_jpeg(tmp_path):
    colour = (200, 30, 40)
    Image.new("RGB", (16, 16), colour).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    out = read_image(tmp_path / "c.jpg")
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert np.abs(out[8, 8].astype(int) - colour).max() <= 8


# ----------------------------------------------------------------------------- read errors


def test_error_missing_file(tmp_path):
    assert "does not exist" in _expect_read_error(tmp_path / "nope.png")


def test_error_directory(tmp_path):
    d = tmp_path / "folder.png"
    d.mkdir()
    assert "directory" in _expect_read_error(d)


def test_error_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert "empty" in _expect_read_error(tmp_path / "empty.jpg")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_error_truncated(tmp_path, suffix):
    full = tmp_path / f"full{suffix}"
    Image.fromarray(_rng_rgb(64, 64)).save(full)
    data = full.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    assert "truncated" in _expect_read_error(cut)


def test_error_corrupt_header(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    assert "corrupt" in _expect_read_error(bad)


def test_error_not_an_image(tmp_path):
    txt = tmp_path / "notes.png"
    txt.write_text("hello, I am text\n")
    assert "not an image" in _expect_read_error(txt)


def test_error_zero_size_png(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 0, 5, 8, 2, 0, 0, 0)
    z = tmp_path / "zero.png"
    z.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b""))
                  + _png_chunk(b"IEND", b""))
    assert "zero size" in _expect_read_error(z)


def test_error_too_many_pixels(tmp_path):
    Image.fromarray(_rng_rgb(40, 50)).save(tmp_path / "big.png")
    msg = _expect_read_error(tmp_path / "big.png", max_pixels=1999)
    assert "too large" in msg and "50x40" in msg
    assert read_image(tmp_path / "big.png", max_pixels=2000).shape == (40, 50, 3)
    assert read_image(tmp_path / "big.png", max_pixels=None).shape == (40, 50, 3)


def test_pil_bomb_limit_replaced_and_silent(tmp_path, monkeypatch):
    Image.fromarray(_rng_rgb(40, 50)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL would warn at 100 and raise at 200
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert read_image(tmp_path / "big.png").shape == (40, 50, 3)  # our limit (1e8) decides
        msg = _expect_read_error(tmp_path / "big.png", max_pixels=150)
    assert "too large" in msg
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert Image.MAX_IMAGE_PIXELS == 100  # restored


# ----------------------------------------------------------------------------- writing


def test_write_float_clip_round_and_grey(tmp_path):
    f = np.array([[[-0.5, 0.5, 2.0], [0.1, 1.0, 0.0]]], dtype=np.float32)
    out = read_image(write_image(tmp_path / "f.png", f))
    np.testing.assert_array_equal(out, [[[0, 128, 255], [26, 255, 0]]])

    g = np.array([[0, 7], [200, 255]], np.uint8)
    p = write_image(tmp_path / "g.png", g)
    assert Image.open(p).mode == "L"
    np.testing.assert_array_equal(read_image(p)[..., 2], g)


def test_write_torch_tensors(tmp_path):
    import torch

    img = _rng_rgb(6, 5)
    chw = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "chw.png", chw)), img)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "nchw.png", chw[None])), img)
    u8 = torch.from_numpy(img).permute(2, 0, 1).contiguous()
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "u8.png", u8)), img)
    with pytest.raises(ValueError):
        write_image(tmp_path / "batch.png", chw[None].repeat(2, 1, 1, 1))


@pytest.mark.parametrize("name", ["x.bmp", "x.tif", "x.TIFF", "x.PNG"])
def test_write_lossless_formats_exact(tmp_path, name):
    img = _rng_rgb()
    np.testing.assert_array_equal(read_image(write_image(tmp_path / name, img)), img)


@pytest.mark.parametrize("name", ["x.jpg", "x.JPEG", "x.webp"])
def test_write_lossy_formats_close(tmp_path, name):
    from skimage import data

    img = np.ascontiguousarray(data.astronaut()[100:164, 180:244])  # 64x64 face crop
    p = write_image(tmp_path / name, img)
    assert Image.open(p).format == ("WEBP" if name.endswith("webp") else "JPEG")
    back = read_image(p)
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img).mean() < 4  # quality 95


def test_write_creates_parents_atomic_no_temp(tmp_path):
    target = tmp_path / "a" / "b" / "out.png"
    write_image(target, _rng_rgb())
    assert target.is_file()
    assert _tmp_leftovers(target.parent) == []
    write_image(target, _rng_rgb(seed=1))  # overwrite in place
    np.testing.assert_array_equal(read_image(target), _rng_rgb(seed=1))
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.png"]


def test_write_interrupted_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "keep.png"
    write_image(target, _rng_rgb())
    before = target.read_bytes()

    def broken_save(self, fp, *a, **k):
        fp.write(b"\x89PNG half written")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        write_image(target, _rng_rgb(seed=3))
    assert target.read_bytes() == before
    assert _tmp_leftovers(tmp_path) == []


def test_write_errors(tmp_path):
    with pytest.raises(ImageWriteError, match=r"out\.gif"):
        write_image(tmp_path / "out.gif", _rng_rgb())
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError):
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.int64))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ImageWriteError, match="out.png"):
        write_image(blocker / "out.png", _rng_rgb())


# ----------------------------------------------------------------------------- listing


def test_list_images(tmp_path):
    for name in ["b.PNG", "a.jpg", "c.JpEg", "d.bmp", "e.webp", "f.tif", "g.TIFF", "notes.txt",
                 ".hidden.png", "._mac.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.png").write_bytes(b"x")
    (tmp_path / "sub" / "0.jpg").write_bytes(b"x")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "x.png").write_bytes(b"x")

    flat = list_images(tmp_path)
    assert [p.name for p in flat] == ["a.jpg", "b.PNG", "c.JpEg", "d.bmp", "e.webp", "f.tif", "g.TIFF"]
    assert all(isinstance(p, Path) for p in flat)
    deep = [p.relative_to(tmp_path).as_posix() for p in list_images(str(tmp_path), recursive=True)]
    assert deep == ["a.jpg", "b.PNG", "c.JpEg", "d.bmp", "e.webp", "f.tif", "g.TIFF", "sub/0.jpg", "sub/z.png"]
    assert list_images(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]
    assert list_images(tmp_path / "sub" / "z.png") == [tmp_path / "sub" / "z.png"]
    assert ".tif" in IMAGE_EXTENSIONS
    with pytest.raises(ImageReadError, match="missing"):
        list_images(tmp_path / "missing")


# ----------------------------------------------------------------------------- tensor glue


def test_to_tensor_and_back():
    import torch

    img = _rng_rgb(7, 9)
    t = to_tensor(img)
    assert t.shape == (1, 3, 7, 9) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert torch.allclose(t[0, :, 2, 3], torch.tensor(img[2, 3] / 255.0, dtype=torch.float32))
    back = to_numpy_image(t)
    assert back.dtype == np.uint8 and back.shape == (7, 9, 3)
    np.testing.assert_array_equal(back, img)
    np.testing.assert_array_equal(to_numpy_image(t[0]), img)
    np.testing.assert_array_equal(to_numpy_image((t * 2 - 0.5).clamp(-1, 2)).min(), 0)  # clipped

    g = to_tensor(img[..., 0].astype(np.float32) / 255.0)
    assert g.shape == (1, 3, 7, 9) and torch.equal(g[0, 0], g[0, 2])
    grey = to_numpy_image(torch.rand(1, 1, 4, 5))
    assert grey.shape == (4, 5, 3) and (grey[..., 0] == grey[..., 1]).all()


def test_io_does_not_import_torch():
    code = ("import sys, numpy as np; from facesr.data import io; import tempfile, os;"
            "d = tempfile.mkdtemp(); p = io.write_image(os.path.join(d, 'x.png'), np.zeros((2, 2, 3), np.uint8));"
            "io.read_image(p); assert 'torch' not in sys.modules, 'torch imported'")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, env=env)


# ----------------------------------------------------------------------------- errors.require


def test_require():
    assert require("json", "json").dumps([1]) == "[1]"
    with pytest.raises(MissingDependencyError) as ei:
        require("facesr_no_such_module_xyz", "'facesr[faces]'", purpose="face detection")
    assert str(ei.value) == ("facesr_no_such_module_xyz is needed for face detection: "
                             "pip install 'facesr[faces]'")
    assert isinstance(ei.value, FacesrError) and isinstance(ei.value, ImportError)
    with pytest.raises(MissingDependencyError, match="conda install foo"):
        require("facesr_no_such_module_xyz", "conda install foo")
