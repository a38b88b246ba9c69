"""Face datasets: image folders with a crop policy, identity splits, a decoded uint8 cache, and
deterministic training samples (HR + LR + aligned landmarks/priors) with SPARNet's augmentations.

Training on 2 CPU cores must not be bound by JPEG decoding, so HR faces are decoded and cropped once
into a uint8 memmap (``facesr data``); batches then read from it. Everything random is drawn from
generators seeded by ``(seed, epoch, index)``, so the batch at any step can be reproduced, which is
what makes ``--resume`` continue bit for bit.

A sample (:meth:`FaceDataset.item`) is a dict of numpy arrays; :func:`collate` stacks a list of them
into tensors. Config sections are turned into arrays by :mod:`facesr.data.sources`.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FacesrError
from .io import list_images, read_image
from .resize import pil_resize, resize_np

__all__ = ["CropPolicy", "load_hr", "identity_split", "build_cache", "open_cache", "Augment", "IBUG68_FLIP",
           "resize_map", "FaceDataset", "UnpairedSource", "PairDataset", "EpochSampler", "collate"]


@dataclass(frozen=True)
class CropPolicy:
    """How an HR face is taken from a stored image.

    ``kind='none'``: use the image as it is (FSRNet/CelebA test crops), resized to ``size`` if needed.
    ``kind='center'``: crop a centred ``crop`` x ``crop`` square (e.g. 136 px of a 250 px LFW
    deep-funneled image, which puts the face at the scale of the FSRNet crops), then resize to ``size``.
    Resizing uses PIL's antialiased ``interp`` kernel: bicubic (SPARNet, KDFSRNet) or bilinear (PFSR's
    data code resizes its crops to 128 with PIL bilinear).
    """

    kind: str = "none"
    crop: int = 0
    size: int = 128
    interp: str = "bicubic"

    def __post_init__(self):
        from .resize import KERNELS

        if self.kind not in ("none", "center"):
            raise ConfigError(f"crop kind must be 'none' or 'center', got {self.kind!r}")
        if self.interp not in KERNELS:
            raise ConfigError(f"crop interp must be one of {', '.join(sorted(KERNELS))}, got {self.interp!r}")

    def apply(self, img: np.ndarray) -> np.ndarray:
        if self.kind == "center":
            h, w = img.shape[:2]
            c = min(self.crop or min(h, w), h, w)
            top, left = (h - c) // 2, (w - c) // 2
            img = img[top:top + c, left:left + c]
        if img.shape[0] != self.size or img.shape[1] != self.size:
            img = pil_resize(np.ascontiguousarray(img), self.size, self.interp)
        return np.ascontiguousarray(img)


def load_hr(path, crop: CropPolicy) -> np.ndarray:
    return crop.apply(read_image(path))


def _in_val(identity: str, val_fraction: float, salt: str) -> bool:
    h = int(hashlib.sha1(f"{salt}:{identity}".encode()).hexdigest()[:8], 16)
    return (h % 100000) < val_fraction * 100000


def identity_split(root, val_fraction: float = 0.02, salt: str = "facesr") -> tuple[list[Path], list[Path]]:
    """Split an ``identity/image`` folder tree (LFW's layout) by identity, stably (hash of the name).

    No person appears in both parts. Returns (train_files, val_files), each sorted.
    """
    root = Path(root)
    files = list_images(root, recursive=True)
    train, val = [], []
    for f in files:
        ident = f.relative_to(root).parts[0] if len(f.relative_to(root).parts) > 1 else f.stem
        (val if _in_val(ident, val_fraction, salt) else train).append(f)
    return train, val


def _fingerprint(files: list[Path], crop: CropPolicy) -> str:
    spec = asdict(crop)
    if spec["interp"] == "bicubic":  # the default: caches made before the option existed stay valid
        del spec["interp"]
    h = hashlib.sha1(json.dumps(spec, sort_keys=True).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def build_cache(files: list[Path], crop: CropPolicy, out_path, progress: bool = True) -> Path:
    """Decode and crop ``files`` into ``out_path`` (a ``.npy`` uint8 array N x S x S x 3) + ``.json``.

    Reuses an existing cache whose fingerprint (file list, sizes, mtimes, crop) matches. Files that
    cannot be read are skipped and listed in the JSON; the cache is written to a temporary name first.
    """
    out_path = Path(out_path)
    meta_path = out_path.with_suffix(".json")
    fp = _fingerprint(files, crop)
    if out_path.is_file() and meta_path.is_file():
        try:
            if json.loads(meta_path.read_text()).get("fingerprint") == fp:
                return out_path
        except json.JSONDecodeError:
            pass
    if not files:
        raise FacesrError("no images to cache")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # a name of this process's own: two runs that build the same cache at once (two trainings started
    # together) each write their copy and the last os.replace wins, both complete
    tmp = out_path.with_name(f"{out_path.name}.{os.getpid()}.tmp.npy")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), crop.size, crop.size, 3))
    kept, skipped = [], []
    it = files
    if progress:
        from tqdm import tqdm

        it = tqdm(files, desc=f"caching {out_path.name}", unit="img")
    for f in it:
        try:
            arr[len(kept)] = load_hr(f, crop)
            kept.append(str(f))
        except FacesrError as e:
            skipped.append(f"{f}: {e}")
    arr.flush()
    del arr
    if len(kept) != len(files):  # shrink to the readable ones
        full = np.load(tmp, mmap_mode="r")[: len(kept)]
        np.save(tmp, np.ascontiguousarray(full))
    os.replace(tmp, out_path)
    meta = {"fingerprint": fp, "crop": asdict(crop), "count": len(kept), "files": kept, "skipped": skipped}
    tmp_meta = meta_path.with_name(f"{meta_path.name}.{os.getpid()}.tmp")
    tmp_meta.write_text(json.dumps(meta, indent=1))
    os.replace(tmp_meta, meta_path)
    return out_path


def open_cache(path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


# ------------------------------------------------------------------ augmentation
#: iBUG 68-point index of each point's mirror image (jaw, brows, nose, eyes, mouth swap left <-> right)
IBUG68_FLIP = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65])


def _nearest(img: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """Nearest-neighbour resize of any ``H x W [x C]`` array (source pixel of centre ``(i + 0.5) * in/out``)."""
    ih, iw = img.shape[:2]
    r = np.minimum(((np.arange(oh) + 0.5) * ih / oh).astype(np.int64), ih - 1)
    c = np.minimum(((np.arange(ow) + 0.5) * iw / ow).astype(np.int64), iw - 1)
    return img[r][:, c]


def resize_map(img: np.ndarray, size, interp: str) -> np.ndarray:
    """Resize an ``H x W`` or ``H x W x C`` array to ``size`` (int or (h, w)) keeping its dtype.

    ``interp``: ``nearest`` (any dtype; label maps), or a PIL kernel name (``bicubic``, ``bilinear``,
    ``box``): uint8 ``H x W x 3`` images go through PIL itself, anything else through PIL's weights in
    float64 (:func:`facesr.data.resize.resize_np`), rounded and clipped back for integer dtypes.
    """
    oh, ow = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if img.shape[:2] == (oh, ow):
        return img
    if interp == "nearest":
        return _nearest(img, oh, ow)
    if img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return pil_resize(np.ascontiguousarray(img), size if isinstance(size, (int, np.integer)) else (oh, ow),
                          interp)
    out = resize_np(img, (oh, ow), interp)
    if np.issubdtype(img.dtype, np.integer):
        info = np.iinfo(img.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(img.dtype)
    return out.astype(img.dtype)


@dataclass(frozen=True)
class Augment:
    """Geometric augmentation drawn once per sample and applied alike to images, maps and landmarks.

    * ``hflip``: horizontal flip with p 0.5.
    * ``scale_range``: SPARNet's zoom-in: factor ``s`` uniform in the range, the image resized (bicubic)
      to ``round(S * s)`` and a random ``S x S`` window cropped (only when the range's top is > 1).
    * ``resized_crop``: ``None`` or ``{"area": [lo, hi], "ratio": [lo, hi]}``, torchvision's
      RandomResizedCrop (a crop of a random area fraction and aspect ratio, resized back to ``S x S``;
      10 tries, then a centre crop), used *instead of* the ``scale_range`` zoom when given.
    * ``rot90``: rotation by a random multiple of 90 degrees (``np.rot90``, counter-clockwise).

    :meth:`params` draws from the generator, in this order: ``rng.random()`` (flip, if ``hflip``); the
    zoom's ``rng.uniform`` then ``rng.integers(0, big - S + 1, size=2)`` (only when the zoomed size
    ``big`` > S), or the resized crop's uniforms and integers; ``rng.integers(0, 4)`` (if ``rot90``).
    Landmark coordinates follow dlib's pixel-index convention (the centre of pixel column ``i`` is
    ``x = i``), so a flip maps ``x`` to ``S - 1 - x``.
    """

    hflip: bool = True
    scale_range: tuple = (1.0, 1.0)
    rot90: bool = False
    resized_crop: dict | None = None

    def __post_init__(self):
        lo, hi = (float(v) for v in self.scale_range)
        if lo > hi:
            raise ConfigError(f"scale_range must be [lo, hi] with lo <= hi, got {list(self.scale_range)}")
        object.__setattr__(self, "scale_range", (lo, hi))
        if self.resized_crop is not None:
            rc = dict(self.resized_crop)
            bad = sorted(set(rc) - {"area", "ratio"})
            if bad:
                raise ConfigError(f"resized_crop has no option {', '.join(map(repr, bad))}; valid: area, ratio")
            area = [float(v) for v in rc.get("area", (0.08, 1.0))]
            ratio = [float(v) for v in rc.get("ratio", (3 / 4, 4 / 3))]
            if len(area) != 2 or not 0.0 < area[0] <= area[1] <= 1.0:
                raise ConfigError(f"resized_crop.area must be [lo, hi] with 0 < lo <= hi <= 1, got {area}")
            if len(ratio) != 2 or not 0.0 < ratio[0] <= ratio[1]:
                raise ConfigError(f"resized_crop.ratio must be [lo, hi] with 0 < lo <= hi, got {ratio}")
            object.__setattr__(self, "resized_crop", {"area": area, "ratio": ratio})

    def params(self, rng: np.random.Generator, size: int) -> dict:
        """Everything random for one ``size x size`` sample: ``{"size", "flip", "zoom": (big, y, x) | None,
        "crop": (top, left, h, w) | None, "rot": k}``."""
        p = {"size": int(size), "flip": False, "zoom": None, "crop": None, "rot": 0}
        if self.hflip:
            p["flip"] = bool(rng.random() < 0.5)
        if self.resized_crop is not None:
            p["crop"] = self._crop_box(rng, size)
        else:
            lo, hi = self.scale_range
            if hi > 1.0:
                s = rng.uniform(lo, hi)
                big = max(size, int(round(size * s)))
                if big > size:
                    y, x = rng.integers(0, big - size + 1, size=2)
                    p["zoom"] = (big, int(y), int(x))
        if self.rot90:
            p["rot"] = int(rng.integers(0, 4))
        return p

    def _crop_box(self, rng, size):
        area = size * size
        (a0, a1), (r0, r1) = self.resized_crop["area"], self.resized_crop["ratio"]
        for _ in range(10):
            target = area * rng.uniform(a0, a1)
            aspect = math.exp(rng.uniform(math.log(r0), math.log(r1)))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= size and 0 < h <= size:
                top = int(rng.integers(0, size - h + 1))
                left = int(rng.integers(0, size - w + 1))
                return top, left, h, w
        if r0 > 1.0:  # fallback: the centre crop of the nearest allowed aspect
            h, w = int(round(size / r0)), size
        elif r1 < 1.0:
            h, w = size, int(round(size * r1))
        else:
            h = w = size
        return (size - h) // 2, (size - w) // 2, h, w

    def apply(self, p: dict, img: np.ndarray, interp: str = "bicubic") -> np.ndarray:
        """The transform ``p`` applied to one ``S x S [x C]`` array (resampled with ``interp``)."""
        size = p["size"]
        if img.shape[0] != size or img.shape[1] != size:
            raise ValueError(f"augment params are for {size}x{size}, got an array of {img.shape[:2]}")
        if p["flip"]:
            img = img[:, ::-1]
        if p["crop"] is not None:
            t, l_, h, w = p["crop"]
            img = resize_map(np.ascontiguousarray(img[t:t + h, l_:l_ + w]), size, interp)
        elif p["zoom"] is not None:
            big, y, x = p["zoom"]
            img = resize_map(np.ascontiguousarray(img), big, interp)
            img = img[y:y + size, x:x + size]
        if p["rot"]:
            img = np.rot90(img, p["rot"])
        return np.ascontiguousarray(img)

    def apply_points(self, p: dict, pts: np.ndarray, flip_perm: np.ndarray | None = None) -> np.ndarray:
        """The transform ``p`` applied to ``K x 2`` points ``(x, y)`` (pixel-index convention, float64 out).

        ``flip_perm``: index of each point's mirror image, applied on flips (e.g. :data:`IBUG68_FLIP`).
        """
        size = p["size"]
        q = np.array(pts, dtype=np.float64, copy=True).reshape(-1, 2)
        if p["flip"]:
            q[:, 0] = size - 1 - q[:, 0]
            if flip_perm is not None:
                q = q[flip_perm]
        if p["crop"] is not None:
            t, l_, h, w = p["crop"]
            q[:, 0] = (q[:, 0] - l_ + 0.5) * size / w - 0.5
            q[:, 1] = (q[:, 1] - t + 0.5) * size / h - 0.5
        elif p["zoom"] is not None:
            big, y, x = p["zoom"]
            f = big / size
            q[:, 0] = (q[:, 0] + 0.5) * f - 0.5 - x
            q[:, 1] = (q[:, 1] + 0.5) * f - 0.5 - y
        for _ in range(p["rot"]):
            q = np.stack([q[:, 1], size - 1 - q[:, 0]], axis=1)
        return q

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw the parameters and apply them to one image (bicubic)."""
        return self.apply(self.params(rng, img.shape[0]), img)


# ------------------------------------------------------------------ samples
_RESERVED = ("hr", "lr", "landmarks", "real_lr")


class UnpairedSource:
    """Real LR faces (uint8 ``N x s x s x 3``) sampled independently of the HR faces.

    ``sample(rng)`` draws an index with ``rng.integers(N)`` then, with ``hflip``, a flip with
    ``rng.random() < 0.5``, and returns that face (a fresh array).
    """

    def __init__(self, images, hflip: bool = True):
        if len(images) == 0:
            raise ConfigError("the unpaired LR source holds no images")
        first = np.asarray(images[0])
        if first.dtype != np.uint8 or first.ndim != 3 or first.shape[2] != 3:
            raise ValueError(f"unpaired images must be uint8 s x s x 3, got {first.dtype} {first.shape}")
        self.images = images
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        img = np.asarray(self.images[int(rng.integers(len(self.images)))])
        if self.hflip and rng.random() < 0.5:
            img = img[:, ::-1]
        return np.ascontiguousarray(img)


class FaceDataset:
    """HR faces (+ aligned landmarks and prior maps) -> augmented training samples (dicts of arrays).

    * ``hr``: uint8 ``N x S x S x 3`` (a memmap is fine) or a list of ``S x S x 3`` arrays.
    * ``degradation``: a :class:`~facesr.data.degrade.Degradation` (or a spec for ``make_degradation``).
    * ``augment``: an :class:`Augment`.
    * ``landmarks``: optional ``N x K x 2`` (x, y) in HR pixels, pixel-index convention (centre of column
      ``i`` at ``x = i``, dlib's); with K = 68 (iBUG) the points are also renumbered left <-> right on flips.
    * ``priors``: optional ``{name: array}``, each ``N x S x S`` integer label maps (resampled nearest) or
      ``N x S x S x C`` maps (resampled bilinear), row ``i`` aligned with HR face ``i``.
    * ``label_flips``: optional ``{prior name: [[a, b], ...]}`` label pairs swapped on flips (left/right
      classes of a parsing map).
    * ``unpaired``: optional :class:`UnpairedSource`, drawn into ``real_lr``.

    ``item(i, rng)`` (rng a Generator) draws the augmentation, applies it to the HR face, the priors and
    the landmarks alike, then makes the LR with ``degradation.outputs(hr, rng)`` and finally draws
    ``real_lr``, all from ``rng``. It returns ``{"hr", "lr", <degradation extras, e.g. hr64>,
    <prior names>, "landmarks", "real_lr"}`` (those present). ``item(i)`` without a generator does not
    augment, and the degradation and unpaired draw use ``np.random.default_rng(i)``: fixed per image,
    different between images.
    """

    def __init__(self, hr, degradation, augment: Augment = Augment(), landmarks=None, priors=None,
                 unpaired: UnpairedSource | None = None, label_flips: dict | None = None):
        from .degrade import Degradation, make_degradation

        self.hr = hr
        self.degradation = degradation if isinstance(degradation, Degradation) else make_degradation(degradation)
        self.augment = augment
        n = len(hr)
        size = np.asarray(hr[0]).shape[:2] if n else None
        if landmarks is not None:
            lm = np.asarray(landmarks)
            if lm.ndim != 3 or lm.shape[2] != 2 or len(lm) != n:
                raise ConfigError(f"landmarks must be N x K x 2 with N = {n} HR faces, got {lm.shape}")
        self.landmarks = landmarks
        self.priors = dict(priors or {})
        for name, arr in self.priors.items():
            if name in _RESERVED or re.fullmatch(r"hr\d+", name):
                raise ConfigError(f"prior name {name!r} is reserved (hr, lr, landmarks, real_lr, hr<size>)")
            if len(arr) != n or (n and np.asarray(arr[0]).shape[:2] != size):
                raise ConfigError(f"prior {name!r} must hold {n} maps of {size}, got {len(arr)} of "
                                  f"{np.asarray(arr[0]).shape[:2] if len(arr) else '-'}")
        self.label_flips = {k: [tuple(map(int, ab)) for ab in v] for k, v in (label_flips or {}).items()}
        unknown = sorted(set(self.label_flips) - set(self.priors))
        if unknown:
            raise ConfigError(f"label_flips names unknown priors: {', '.join(unknown)}")
        self.unpaired = unpaired

    def __len__(self) -> int:
        return len(self.hr)

    @staticmethod
    def _prior_interp(a: np.ndarray) -> str:
        return "nearest" if a.ndim == 2 and np.issubdtype(a.dtype, np.integer) else "bilinear"

    def _swap_labels(self, name: str, a: np.ndarray) -> np.ndarray:
        pairs = self.label_flips.get(name)
        if not pairs:
            return a
        out = a.copy()
        for x, y in pairs:
            out[a == x] = y
            out[a == y] = x
        return out

    def item(self, i: int, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
        hr = np.asarray(self.hr[i])
        priors = {k: np.asarray(v[i]) for k, v in self.priors.items()}
        lm = None if self.landmarks is None else np.asarray(self.landmarks[i], dtype=np.float64)
        if rng is not None:
            p = self.augment.params(rng, hr.shape[0])
            hr = self.augment.apply(p, hr)
            priors = {k: self.augment.apply(p, self._swap_labels(k, v) if p["flip"] else v, self._prior_interp(v))
                      for k, v in priors.items()}
            if lm is not None:
                lm = self.augment.apply_points(p, lm, IBUG68_FLIP if len(lm) == 68 else None)
            drng = rng
        else:
            hr = np.ascontiguousarray(hr)
            drng = np.random.default_rng(i)
        out = self.degradation.outputs(hr, drng)
        sample = {"hr": hr, **out, **priors}
        if lm is not None:
            sample["landmarks"] = lm.astype(np.float32)
        if self.unpaired is not None:
            sample["real_lr"] = self.unpaired.sample(drng)
        return sample


class PairDataset(FaceDataset):
    """Deprecated: (LR, HR) tuples of a :class:`FaceDataset` with SPARNet's augmentations; kept while
    ``facesr.training`` still uses it."""

    def __init__(self, hr, degradation, hflip: bool = True, scale_range=(1.0, 1.0), rot90: bool = False):
        super().__init__(hr, degradation, Augment(hflip, tuple(scale_range), rot90))

    def item(self, i, rng=None):
        s = super().item(i, rng)
        return s["lr"], s["hr"]


def collate(samples) -> dict:
    """Stack samples into tensors: uint8 ``H x W x C`` images -> float32 ``N x C x H x W`` in [0, 1];
    integer ``H x W`` label maps -> int64 ``N x H x W``; float ``H x W x C`` maps -> float32
    ``N x C x H x W``; other float arrays (landmarks ``K x 2``, ``H x W`` maps) stacked as float32.
    (``(lr, hr)`` tuples, the deprecated :class:`PairDataset`'s items, give ``{"lr", "hr"}``.)"""
    import torch

    if samples and isinstance(samples[0], tuple):
        samples = [{"lr": lr, "hr": hr} for lr, hr in samples]
    out = {}
    for k in samples[0]:
        a = np.stack([np.asarray(s[k]) for s in samples])
        if a.dtype == np.uint8 and a.ndim == 4:
            t = torch.from_numpy(a.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        elif np.issubdtype(a.dtype, np.integer) and a.ndim == 3:
            t = torch.from_numpy(a.astype(np.int64))
        elif np.issubdtype(a.dtype, np.floating):
            a = a.transpose(0, 3, 1, 2) if a.ndim == 4 else a
            t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        else:
            t = torch.from_numpy(np.ascontiguousarray(a))
        out[k] = t
    return out


class EpochSampler:
    """Deterministic shuffled batches: epoch ``e`` uses permutation ``rng(seed, e)``, sample ``i`` of it
    augments with ``rng(seed, e, i)``. State is ``(epoch, position)`` so a resumed run sees the same data.
    Incomplete last batches are dropped (as BatchNorm training prefers).

    ``workers`` > 0 makes the upcoming ``prefetch`` batches in that many threads while the caller trains
    (PIL's resizes release the GIL); each sample still depends only on its own generator, so the batches,
    and ``state_dict`` (what was handed out, not what was made ahead), are those of ``workers=0``.
    """

    def __init__(self, dataset: FaceDataset, batch_size: int, seed: int = 0, augment: bool = True,
                 rank: int = 0, world_size: int = 1, workers: int = 0, prefetch: int = 2):
        if len(dataset) < batch_size * world_size:
            raise ConfigError(f"dataset has {len(dataset)} images, fewer than one global batch "
                              f"({batch_size} x {world_size})")
        self.ds, self.bs, self.seed, self.augment = dataset, batch_size, seed, augment
        self.rank, self.world = rank, world_size
        self.epoch, self.pos = 0, 0
        self.workers, self.prefetch = int(workers), max(1, int(prefetch))
        self._pool = None
        self._ahead: list = []  # [((epoch, pos), [future per sample])], in hand-out order

    @property
    def batches_per_epoch(self) -> int:
        return len(self.ds) // (self.bs * self.world)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, st: dict) -> None:
        self.epoch, self.pos = int(st["epoch"]), int(st["pos"])  # next_batch drops batches made ahead

    def _drop_ahead(self) -> None:
        for _, futs in self._ahead:
            for f in futs:
                f.cancel()
        self._ahead = []

    def _normalise(self, epoch: int, pos: int) -> tuple[int, int]:
        return (epoch + 1, 0) if pos >= self.batches_per_epoch else (epoch, pos)

    def _samples(self, epoch: int, pos: int):
        """(dataset index, generator) of each sample of this rank's batch ``pos`` of ``epoch``."""
        perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.ds))
        start = pos * self.bs * self.world + self.rank * self.bs
        for i in perm[start:start + self.bs]:
            yield int(i), (np.random.default_rng([self.seed, epoch, int(i)]) if self.augment else None)

    def next_batch(self) -> dict:
        self.epoch, self.pos = self._normalise(self.epoch, self.pos)
        if self.workers <= 0:
            pairs = [self.ds.item(i, rng) for i, rng in self._samples(self.epoch, self.pos)]
        else:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="facesr-data")
            if self._ahead and self._ahead[0][0] != (self.epoch, self.pos):  # state set by load_state_dict
                self._drop_ahead()
            key = (self.epoch, self.pos)
            while len(self._ahead) < self.prefetch + 1:
                self._ahead.append((key, [self._pool.submit(self.ds.item, i, rng)
                                          for i, rng in self._samples(*key)]))
                key = self._normalise(key[0], key[1] + 1)
            _, futs = self._ahead.pop(0)
            pairs = [f.result() for f in futs]
        self.pos += 1
        return collate(pairs)
