"""Image reading and writing for facesr.

Everything the toolkit reads goes through :func:`read_image`, which always
returns ``uint8`` ``H x W x 3`` RGB whatever the file holds, and reports every
problem as one :class:`~facesr.errors.ImageReadError` line naming the file.
Everything it writes goes through :func:`write_image`, which is atomic.

Documented choices
------------------
* **Orientation**: the EXIF Orientation tag is applied
  (``ImageOps.exif_transpose``), so photos come back the way viewers show
  them. A broken EXIF block is ignored rather than failing the read.
* **Transparency** (RGBA, LA, PA, premultiplied RGBa/La, P or L or RGB with a
  ``transparency`` key): composited onto **white**,
  ``out = (rgb * a + 255 * (255 - a) + 127) // 255`` in integers (exact
  rounding, opaque pixels unchanged, alpha 0 -> 255). Face datasets are photos
  on light backgrounds; black would make cut-outs look like shadows.
* **Greyscale** (L, 1-bit, 16-bit, float): replicated to 3 channels.
* **16-bit** (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``, ``I``): reduced with
  ``v >> 8`` (keep the high byte; 65535 -> 255, 65280 -> 255, 257 -> 1,
  255 -> 0). This is what Pillow itself does for 16-bit RGB/RGBA PNG and TIFF
  (which it decodes straight to 8-bit RGB), so 16-bit grey and 16-bit colour
  files of the same picture give the same 8-bit values. Mode ``I`` (32-bit
  int) is taken to hold 16-bit data (how Pillow loads some 16-bit files),
  clipped to [0, 65535] first.
* **Float ``F``**: if every finite value is <= 1.0 it is read as [0, 1],
  otherwise as [0, 255] (Pillow's own convention); then clipped and rounded.
  NaN/-inf become 0, +inf the maximum.
* **CMYK** (e.g. print JPEGs), YCbCr, palette: Pillow's ``convert("RGB")``.
  ICC colour profiles are not applied (every image is treated as sRGB).
* **Multi-frame** files (GIF, multi-page TIFF): the first frame.
* **Size limit**: images with more than ``max_pixels`` pixels are refused
  *before* decoding. Pillow's own decompression-bomb warning/error is
  suppressed and replaced by this check (``max_pixels=None`` disables it).
* EPS is never opened (Pillow would run Ghostscript on it).

:func:`write_image` writes to a hidden temporary file in the target folder
(``.facesr-<random>.tmp``, short so that any allowed name can be written), fsyncs it and ``os.replace``-s it over the target,
so an interrupted run never leaves a half-written image. JPEG and WebP are
written at quality 95 (JPEG with 4:4:4 chroma, i.e. no chroma subsampling,
so face colour detail is not blurred); PNG, BMP and TIFF are lossless.
"""
from __future__ import annotations

import contextlib
import os
import stat
import struct
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facesr.errors import ImageReadError, ImageWriteError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "IMAGE_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "output_ext",
    "read_image",
    "read_image_float",
    "write_image",
    "list_images",
    "to_tensor",
    "to_numpy_image",
]

PathLike = Union[str, "os.PathLike[str]"]

#: Extensions (lower case, with the dot) that :func:`list_images` picks up.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_MAX_PIXELS = 100_000_000

# suffix -> (Pillow format, save options)
_WRITE_FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95}),
    ".bmp": ("BMP", {}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
}

#: Extensions (lower case, with the dot) that :func:`write_image` can write.
WRITE_EXTENSIONS: tuple[str, ...] = tuple(_WRITE_FORMATS)

# Formats never handed to Pillow: EPS runs Ghostscript on the input.
_NEVER_OPEN = frozenset({"EPS"})

# Guards the rare temporary change of Image.MAX_IMAGE_PIXELS (see _open_decoded).
_PIL_LIMIT_LOCK = threading.Lock()

# Magic numbers, only to word "corrupt X file" vs "not an image file".
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


# --------------------------------------------------------------------------- reading


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return msg or type(e).__name__


def _fail(path: Path, reason: str) -> ImageReadError:
    return ImageReadError(f"cannot read image '{path}': {reason}")


@contextlib.contextmanager
def _quiet_pil() -> Iterator[None]:
    """Keep Pillow's warnings (decompression bomb, odd EXIF, palette notes) to ourselves."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
        yield


def _sniff_unidentified(path: Path) -> str:
    """Reason text for a file Pillow could not identify."""
    try:
        with open(path, "rb") as f:
            head = f.read(32)
    except OSError as e:  # pragma: no cover - raced with deletion etc.
        return _one_line(e)
    if head.startswith(b"\x89PNG\r\n\x1a\n") and len(head) >= 24 and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        if w == 0 or h == 0:
            return f"image has zero size ({w}x{h})"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "corrupt or unsupported WEBP file"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return f"corrupt or unsupported {name} file"
    return "not an image file (unrecognised format)"


def _check_size(path: Path, im: Image.Image, max_pixels: int | None) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise _fail(path, f"image has zero size ({w}x{h})")
    if max_pixels is not None and w * h > max_pixels:
        raise _fail(
            path,
            f"image is too large ({w}x{h} = {w * h:,} pixels, limit max_pixels={max_pixels:,})",
        )


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[..., :3].astype(np.uint32)
    a = rgba[..., 3:4].astype(np.uint32)
    out = (rgb * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _grey_to_rgb(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[..., None], 3, axis=2)


def _pil_to_rgb_uint8(im: Image.Image) -> np.ndarray:
    """Pillow image (already loaded) -> uint8 HxWx3 RGB, per the module's documented rules."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        v = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        g = (v >> 8).astype(np.uint8)
        key = im.info.get("transparency")
        if isinstance(key, int) and not isinstance(key, bool):
            g[v == key] = 255  # 16-bit grey tRNS key: fully transparent -> white
        return _grey_to_rgb(g)
    if mode == "F":
        v = np.asarray(im, dtype=np.float32)
        finite = v[np.isfinite(v)]
        peak = float(finite.max()) if finite.size else 0.0
        scale = 255.0 if peak <= 1.0 else 1.0
        v = np.nan_to_num(v, nan=0.0, posinf=255.0 / scale, neginf=0.0)
        return _grey_to_rgb(np.rint(np.clip(v * scale, 0.0, 255.0)).astype(np.uint8))
    if mode == "1":
        return _grey_to_rgb(np.asarray(im.convert("L")))
    if im.has_transparency_data:
        return _composite_on_white(np.asarray(im.convert("RGBA")))
    if mode == "L":
        return _grey_to_rgb(np.asarray(im))
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im)


def _exif_upright(im: Image.Image) -> Image.Image:
    try:
        out = ImageOps.exif_transpose(im)
    except Exception:  # broken EXIF must not make an otherwise good image unreadable
        return im
    return out if out is not None else im


def _decode(path: Path, max_pixels: int | None) -> np.ndarray:
    formats = [f for f in Image.ID if f not in _NEVER_OPEN]
    with Image.open(path, formats=formats) as im:
        _check_size(path, im, max_pixels)
        try:
            im.load()
        except Image.DecompressionBombError:
            raise
        except MemoryError:
            w, h = im.size
            raise _fail(path, f"not enough memory to decode a {w}x{h} image") from None
        except Exception as e:
            raise _fail(path, f"file is truncated or corrupt ({_one_line(e)})") from None
        im2 = _exif_upright(im)
        _check_size(path, im2, max_pixels)
        try:
            return np.ascontiguousarray(_pil_to_rgb_uint8(im2))
        except Exception as e:
            raise _fail(path, f"unsupported image mode {im2.mode} ({_one_line(e)})") from None


def _open_decoded(path: Path, max_pixels: int | None) -> np.ndarray:
    Image.init()
    try:
        with _quiet_pil():
            return _decode(path, max_pixels)
    except Image.DecompressionBombError:
        pass
    # Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS) is lower than ours, or it
    # fired before we saw the size: lift it for this read only, our own check decides.
    with _PIL_LIMIT_LOCK, _quiet_pil():
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return _decode(path, max_pixels)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def read_image(path: PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as ``uint8`` ``H x W x 3`` RGB.

    See the module docstring for how orientation, transparency (onto white),
    greyscale, 16-bit (``v >> 8``), float, CMYK and palette images are handled.

    Raises :class:`~facesr.errors.ImageReadError` (one line, naming the file)
    when the path is missing, a directory or not a regular file, the file is
    empty, truncated, corrupt or not an image, the image has zero size, or it
    has more than ``max_pixels`` pixels (``None``: no limit).
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _fail(p, "file does not exist") from None
    except PermissionError:
        raise _fail(p, "permission denied") from None
    except OSError as e:
        raise _fail(p, _one_line(e)) from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(p, "is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(p, "not a regular file")
    if st.st_size == 0:
        raise _fail(p, "file is empty (0 bytes)")
    try:
        return _open_decoded(p, max_pixels)
    except ImageReadError:
        raise
    except UnidentifiedImageError:
        raise _fail(p, _sniff_unidentified(p)) from None
    except PermissionError:
        raise _fail(p, "permission denied") from None
    except MemoryError:
        raise _fail(p, "not enough memory to decode it") from None
    except Exception as e:  # anything else Pillow raises while parsing headers
        raise _fail(p, f"corrupt or unsupported image ({_one_line(e)})") from None


def read_image_float(path: PathLike, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """:func:`read_image` as ``float32`` ``H x W x 3`` in [0, 1] (``uint8 / 255``)."""
    return read_image(path, max_pixels=max_pixels).astype(np.float32) / np.float32(255.0)


# --------------------------------------------------------------------------- conversion


def _is_tensor(x: Any) -> bool:
    torch_mod = sys.modules.get("torch")  # a tensor can only exist if torch is imported
    return torch_mod is not None and isinstance(x, torch_mod.Tensor)


def _tensor_to_array(t: "torch.Tensor") -> np.ndarray:
    """Tensor ``1xCxHxW`` / ``CxHxW`` (C = 1 or 3) / ``HxW`` -> numpy ``HxWxC`` or ``HxW``."""
    shape = tuple(t.shape)
    if t.ndim == 4:
        if shape[0] != 1:
            raise ValueError(f"expected one image (1xCxHxW), got a batch of shape {shape}; pass t[i]")
        t = t[0]
    if t.ndim == 3:
        if t.shape[0] not in (1, 3):
            raise ValueError(f"expected a CxHxW tensor with C = 1 or 3, got shape {shape}")
        t = t.permute(1, 2, 0)
    elif t.ndim != 2:
        raise ValueError(f"expected an image tensor (1xCxHxW, CxHxW or HxW), got shape {shape}")
    t = t.detach().cpu()
    if t.is_floating_point():
        t = t.float()
    return t.numpy()


def _array_to_uint8(a: np.ndarray) -> np.ndarray:
    """uint8 unchanged; bool -> 0/255; float [0,1] -> clip, *255, round. Shape unchanged."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float32, copy=False), nan=0.0, posinf=1.0, neginf=0.0)
        return np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ValueError(f"image must be uint8 or float in [0, 1], got dtype {a.dtype}")


def _as_uint8_image(img: Any) -> np.ndarray:
    """Numpy/tensor image -> uint8 ``HxW`` or ``HxWx3``."""
    a = _tensor_to_array(img) if _is_tensor(img) else np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"cannot use an empty image of shape {a.shape}")
    return np.ascontiguousarray(_array_to_uint8(a))


def to_tensor(img: np.ndarray) -> "torch.Tensor":
    """``uint8`` or float ``HxWx3`` / ``HxW`` / ``HxWx1`` array -> float32 tensor ``1x3xHxW`` in [0, 1].

    uint8 is divided by 255; floats are taken to be in [0, 1] already and clipped
    to it (NaN -> 0). Greyscale is replicated to 3 channels. Always a fresh tensor.
    """
    import torch

    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = _grey_to_rgb(a)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 or HxW image, got shape {a.shape}")
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / np.float32(255.0)
    elif np.issubdtype(a.dtype, np.floating):
        f = np.clip(np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    else:
        raise ValueError(f"image must be uint8 or float in [0, 1], got dtype {a.dtype}")
    return torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1))).unsqueeze(0)


def to_numpy_image(tensor: "torch.Tensor") -> np.ndarray:
    """Tensor ``1x3xHxW`` / ``3xHxW`` (or 1-channel / ``HxW``) in [0, 1] -> ``uint8`` ``HxWx3``.

    Floats are clipped to [0, 1], scaled by 255 and rounded; a uint8 tensor is
    taken as is; one channel is replicated to three. Works on any device/dtype.
    """
    a = _as_uint8_image(tensor)
    return _grey_to_rgb(a) if a.ndim == 2 else a


# --------------------------------------------------------------------------- writing


def write_image(path: PathLike, img: Any) -> Path:
    """Write an image atomically; returns the path written.

    ``img``: numpy ``uint8`` ``HxWx3`` / ``HxW`` (``HxWx1`` too), or float in
    [0, 1] (clipped, ``*255``, rounded); or a torch tensor ``CxHxW`` /
    ``1xCxHxW`` (C = 1 or 3), float in [0, 1] or uint8. One-channel images are
    written as greyscale files. The format comes from the suffix (.png .jpg
    .jpeg .webp .bmp .tif .tiff, any case); parent folders are created.

    The data goes to a hidden temporary file in the same folder which is
    fsynced and then ``os.replace``-d over ``path``; on any error (or Ctrl-C)
    the temporary file is removed and ``path`` is left untouched.

    Raises :class:`~facesr.errors.ImageWriteError` for an unsupported suffix or
    an OS error (permissions, disk full), ``ValueError`` for a bad array.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise ImageWriteError(
            f"cannot write image '{p}': unsupported file extension '{p.suffix}' "
            f"(use one of {' '.join(sorted(_WRITE_FORMATS))})"
        )
    fmt, options = _WRITE_FORMATS[suffix]
    pil = Image.fromarray(_as_uint8_image(img))
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImageWriteError(f"cannot write image '{p}': cannot create folder ({_one_line(e)})") from None

    from ..fsutil import atomic_write

    try:
        atomic_write(p, lambda f: pil.save(f, format=fmt, **options))
    except OSError as e:
        raise ImageWriteError(f"cannot write image '{p}': {_one_line(e)}") from None
    return p


# --------------------------------------------------------------------------- listing


def output_ext(ext: str, what: str = "--ext") -> str:
    """An output extension as ``write_image`` needs it: ``"png"``, ``".png"`` and ``".PNG"`` all give
    ``".png"``. Raises :class:`~facesr.errors.ConfigError` (one line naming ``what``) for a value with a
    path separator or ``..`` in it, or a format :func:`write_image` cannot write (see
    :data:`WRITE_EXTENSIONS`)."""
    from ..errors import ConfigError
    from ..fsutil import check_name_part

    text = str(ext).strip()
    check_name_part(text, what)
    e = "." + text.lstrip(".").lower()
    if e not in _WRITE_FORMATS:
        raise ConfigError(f"{what} {ext!r}: facesr cannot write that format "
                          f"(use one of {' '.join(e.lstrip('.') for e in _WRITE_FORMATS)})")
    return e


def _is_image_name(name: str, extensions=IMAGE_EXTENSIONS) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions


def _unusable(path: Path) -> str | None:
    """Why an image-named entry cannot be read as a file (a link loop, a broken link, no permission), or
    None when it is a regular file. A folder or other non-file named like an image gives ``""``."""
    import errno

    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symbolic link loop"
        if e.errno == errno.ENOENT and os.path.islink(path):
            return "broken symbolic link"
        return f"{_one_line(e)}"
    return None if stat.S_ISREG(st.st_mode) else ""


def list_images(path: PathLike, recursive: bool = False, *, exclude: Any = (),
                on_skip: Any = None, extensions: Any = None) -> list[Path]:
    """Image files to process.

    A file gives ``[path]`` (whatever its extension: the user named it). A
    folder gives its files whose extension is one of :data:`IMAGE_EXTENSIONS`
    (case-insensitive), sorted by their path relative to the folder (so the
    order is the same on every machine); with ``recursive=True`` sub-folders
    are searched too (symbolic links to folders are not followed). Hidden
    entries (names starting with ``.``, e.g. macOS ``._x.jpg`` files,
    ``.ipynb_checkpoints`` or write_image's temp files) are skipped.

    ``exclude``: folders whose contents are never listed (compared by real
    path; e.g. an output folder inside the input folder). ``on_skip(path,
    reason)``: called for each image-named entry that cannot be used (a
    symbolic link loop, a broken link, a sub-folder that cannot be read); such
    entries are left out either way. ``extensions``: the lower-case suffixes a
    folder's files are listed by (default :data:`IMAGE_EXTENSIONS`; e.g. add
    video suffixes to list clips too). Raises
    :class:`~facesr.errors.ImageReadError` if ``path`` does not exist or
    cannot be listed.
    """
    from ..fsutil import is_within, real

    root = Path(path)
    if root.is_file():
        return [root]
    if not root.exists():
        raise ImageReadError(f"cannot list images in '{root}': no such file or folder")
    if not root.is_dir():
        raise ImageReadError(f"cannot list images in '{root}': not a file or folder")
    exts = tuple(e.lower() for e in extensions) if extensions is not None else IMAGE_EXTENSIONS
    excluded = [real(d) for d in exclude]
    if excluded and is_within(root, excluded):
        return []
    found: list[Path] = []

    def consider(full: Path) -> None:
        why = _unusable(full)
        if why is None:
            found.append(full)
        elif why and on_skip is not None:
            on_skip(full, why)

    def walk_error(e: OSError) -> None:
        if e.filename is None or Path(e.filename) == root:
            raise e
        if on_skip is not None:
            on_skip(Path(e.filename), f"cannot list this folder: {_one_line(e)}")

    try:
        if recursive:
            for dirpath, dirnames, filenames in os.walk(root, onerror=walk_error, followlinks=False):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")
                               and not (excluded and is_within(Path(dirpath) / d, excluded))]
                for name in filenames:
                    if _is_image_name(name, exts):
                        consider(Path(dirpath) / name)
        else:
            for entry in os.scandir(root):
                if _is_image_name(entry.name, exts):
                    consider(root / entry.name)
    except OSError as e:
        raise ImageReadError(f"cannot list images in '{root}': {_one_line(e)}") from None
    return sorted(found, key=lambda q: q.relative_to(root).parts)
