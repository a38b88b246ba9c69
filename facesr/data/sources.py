"""Where training faces come from: a config section -> a uint8 array (decoded once into a cache).

``hr_array(dcfg, hr_size)`` reads a dataset section (``root``, ``split``, ``val_fraction``, ``crop``,
``cache``, ``max_images``) and ``unpaired_source(ucfg)`` an unpaired real-LR section (``root``,
``size``, ``cache``, ``max_images``).

``max_images`` = N > 0 limits what is *decoded*: after the identity split, the N files whose salted
SHA-1 of their path relative to ``root`` is smallest are kept, in their listed order. The choice is
deterministic, spread over the whole folder (not the first identities alphabetically), and nested (the
64 files of N = 64 are among those of N = 128). A limited cache gets its own file name:
``faces.npy`` -> ``faces_n64.npy`` (and ``faces_n64.json``), so it never replaces the full cache.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .datasets import CropPolicy, UnpairedSource, build_cache, identity_split, load_hr, open_cache
from .io import list_images

__all__ = ["subset_files", "subset_indices", "limited_cache_path", "hr_array", "unpaired_source"]

_SALT = "facesr-max-images"


def _key(name: str) -> str:
    return hashlib.sha1(f"{_SALT}:{name}".encode()).hexdigest()


def subset_files(files: list[Path], n: int, root=None) -> list[Path]:
    """``n`` of ``files`` chosen by the salted hash of their path (relative to ``root`` when given),
    in their original order; all of them when ``n`` <= 0 or ``n`` >= ``len(files)``."""
    if n <= 0 or n >= len(files):
        return list(files)

    def name(f: Path) -> str:
        try:
            return Path(f).relative_to(root).as_posix() if root is not None else Path(f).as_posix()
        except ValueError:
            return Path(f).as_posix()

    keep = set(sorted(range(len(files)), key=lambda i: _key(name(files[i])))[:n])
    return [f for i, f in enumerate(files) if i in keep]


def subset_indices(count: int, n: int) -> np.ndarray:
    """The rows of an already-built array of ``count`` faces that ``n`` keeps (hash of the row index),
    sorted; all rows when ``n`` <= 0 or ``n`` >= ``count``."""
    if n <= 0 or n >= count:
        return np.arange(count)
    return np.sort(np.array(sorted(range(count), key=lambda i: _key(f"row{i}"))[:n], dtype=np.int64))


def limited_cache_path(cache, n: int) -> Path:
    """``cache`` for ``n`` <= 0, else its name with ``_n{n}`` before the suffix."""
    cache = Path(cache)
    return cache if n <= 0 else cache.with_name(f"{cache.stem}_n{n}{cache.suffix or '.npy'}")


def _max_images(cfg: dict, where: str) -> int:
    n = cfg.get("max_images", 0) or 0
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"{where}.max_images must be a whole number >= 0 (0 = all), got {n!r}")
    return n


def _decode(files: list[Path], crop: CropPolicy, cache, n: int, progress: bool) -> np.ndarray:
    if cache:
        return open_cache(build_cache(files, crop, limited_cache_path(cache, n), progress=progress))
    if not files:
        return np.zeros((0, crop.size, crop.size, 3), np.uint8)
    return np.stack([load_hr(f, crop) for f in files])


def _from_cache_only(cache, n: int, where: str) -> np.ndarray:
    """A section without ``root``: the limited cache if it exists, else rows of the full one."""
    if not cache:
        raise ConfigError(f"{where} has neither root nor cache")
    limited = limited_cache_path(cache, n)
    if n > 0 and limited.is_file():
        return open_cache(limited)
    if not Path(cache).is_file():
        raise ConfigError(f"{where} has no root and its cache {str(cache)!r} does not exist")
    arr = open_cache(cache)
    return arr if n <= 0 or n >= len(arr) else arr[subset_indices(len(arr), n)]


def hr_array(dcfg: dict, hr_size: int, progress: bool = True) -> np.ndarray:
    """The HR faces of a dataset section as uint8 ``N x hr_size x hr_size x 3`` (a memmap when cached).

    ``split``: ``all`` (every image under ``root``), ``train`` or ``val`` (by identity,
    :func:`facesr.data.datasets.identity_split` with ``val_fraction``); ``crop``: a
    :class:`~facesr.data.datasets.CropPolicy` (``kind``, ``crop``); ``cache``: a ``.npy`` built on first
    use and reused while its fingerprint matches; ``max_images``: see the module docstring. Without
    ``root``, the cache must exist (its limited version when there is one, else N rows of the full one
    chosen by hash). A missing folder or cache is a :class:`~facesr.errors.ConfigError`.
    """
    crop_cfg = dcfg.get("crop") or {}
    crop = CropPolicy(crop_cfg.get("kind", "none"), int(crop_cfg.get("crop", 0)), hr_size,
                      crop_cfg.get("interp", "bicubic"))
    root, cache = dcfg.get("root"), dcfg.get("cache")
    n = _max_images(dcfg, "dataset")
    if root is None:
        return _from_cache_only(cache, n, "dataset")
    if not Path(root).exists():
        raise ConfigError(f"dataset folder not found: {root} (bundled configs look under $FACESR_DATA: export "
                          f"FACESR_DATA=/path/to/datasets, or pass data.<split>.root=PATH)")
    split = dcfg.get("split", "all")
    if split == "all":
        files = list_images(root, recursive=True)
    elif split in ("train", "val"):
        tr, va = identity_split(root, float(dcfg.get("val_fraction", 0.02)))
        files = tr if split == "train" else va
    else:
        raise ConfigError(f"split must be all, train or val, got {split!r}")
    return _decode(subset_files(files, n, root), crop, cache, n, progress)


def unpaired_source(ucfg: dict | None, progress: bool = True) -> UnpairedSource | None:
    """Real LR faces for unpaired training: every image under ``root`` (any size) resized with PIL
    bicubic to ``size`` x ``size``, cached in ``cache`` when given; ``None`` when the section has
    neither ``root`` nor ``cache``. ``max_images`` as for :func:`hr_array`."""
    ucfg = ucfg or {}
    root, cache = ucfg.get("root"), ucfg.get("cache")
    if root is None and cache is None:
        return None
    size = ucfg.get("size", 16)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"unpaired.size must be a positive integer, got {size!r}")
    n = _max_images(ucfg, "unpaired")
    if root is None:
        arr = _from_cache_only(cache, n, "unpaired")
    else:
        if not Path(root).is_dir():
            raise ConfigError(f"unpaired LR folder not found: {root}")
        files = subset_files(list_images(root, recursive=True), n, root)
        if not files:
            raise ConfigError(f"unpaired LR folder has no images: {root}")
        arr = _decode(files, CropPolicy("none", 0, size), cache, n, progress)
    if arr.shape[1:3] != (size, size):
        raise ConfigError(f"unpaired cache {cache} holds {arr.shape[1]}x{arr.shape[2]} faces, not {size}x{size}")
    return UnpairedSource(arr)
