"""Face datasets: image folders with a crop policy, identity splits, a decoded uint8 cache, and
deterministic HR/LR pair sampling with SPARNet's augmentations.

Training on 2 CPU cores must not be bound by JPEG decoding, so HR faces are decoded and cropped once
into a uint8 memmap (``facesr data``); batches then read from it. Everything random is drawn from
generators seeded by ``(seed, epoch, index)``, so the batch at any step can be reproduced, which is
what makes ``--resume`` continue bit for bit.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, FacesrError
from .io import list_images, read_image
from .resize import pil_resize

__all__ = ["CropPolicy", "load_hr", "identity_split", "build_cache", "open_cache", "PairDataset",
           "EpochSampler", "collate"]


@dataclass(frozen=True)
class CropPolicy:
    """How an HR face is taken from a stored image.

    ``kind='none'``: use the image as it is (FSRNet/CelebA test crops), resized to ``size`` if needed.
    ``kind='center'``: crop a centred ``crop`` x ``crop`` square (e.g. 136 px of a 250 px LFW
    deep-funneled image, which puts the face at the scale of the FSRNet crops), then resize to ``size``.
    Resizing uses PIL's antialiased bicubic.
    """

    kind: str = "none"
    crop: int = 0
    size: int = 128

    def __post_init__(self):
        if self.kind not in ("none", "center"):
            raise ConfigError(f"crop kind must be 'none' or 'center', got {self.kind!r}")

    def apply(self, img: np.ndarray) -> np.ndarray:
        if self.kind == "center":
            h, w = img.shape[:2]
            c = min(self.crop or min(h, w), h, w)
            top, left = (h - c) // 2, (w - c) // 2
            img = img[top:top + c, left:left + c]
        if img.shape[0] != self.size or img.shape[1] != self.size:
            img = pil_resize(np.ascontiguousarray(img), self.size, "bicubic")
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
    h = hashlib.sha1(json.dumps(asdict(crop), sort_keys=True).encode())
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
    tmp = out_path.with_name(out_path.name + ".tmp.npy")
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
    meta_path.write_text(json.dumps(meta, indent=1))
    return out_path


def open_cache(path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


class PairDataset:
    """HR faces (uint8 array or list of arrays) -> augmented (LR, HR) pairs as float32 CHW in [0, 1].

    Augmentations (SPARNet): horizontal flip (p 0.5), random zoom-in by s in [scale_min, scale_max]
    (resize by s, random crop back), optional rot90 (the paper's 90/180/270 rotations).
    ``item(i, rng)`` is deterministic given the generator.
    """

    def __init__(self, hr, degradation, hflip: bool = True, scale_range=(1.0, 1.0), rot90: bool = False):
        self.hr = hr
        self.degradation = degradation
        self.hflip = hflip
        self.scale_range = tuple(scale_range)
        self.rot90 = rot90

    def __len__(self):
        return len(self.hr)

    def augment(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        size = img.shape[0]
        if self.hflip and rng.random() < 0.5:
            img = img[:, ::-1]
        lo, hi = self.scale_range
        if hi > 1.0:
            s = rng.uniform(lo, hi)
            big = max(size, int(round(size * s)))
            if big > size:
                img = pil_resize(np.ascontiguousarray(img), big, "bicubic")
                y, x = rng.integers(0, big - size + 1, size=2)
                img = img[y:y + size, x:x + size]
        if self.rot90:
            img = np.rot90(img, int(rng.integers(0, 4)))
        return np.ascontiguousarray(img)

    def item(self, i: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        hr = np.asarray(self.hr[i])
        if rng is not None:
            hr = self.augment(hr, rng)
        lr = self.degradation(hr, rng)
        return lr, hr


def collate(pairs) -> dict:
    import torch

    lr = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2)
    hr = np.stack([p[1] for p in pairs]).transpose(0, 3, 1, 2)
    return {"lr": torch.from_numpy(lr.astype(np.float32) / 255.0),
            "hr": torch.from_numpy(hr.astype(np.float32) / 255.0)}


class EpochSampler:
    """Deterministic shuffled batches: epoch ``e`` uses permutation ``rng(seed, e)``, sample ``i`` of it
    augments with ``rng(seed, e, i)``. State is ``(epoch, position)`` so a resumed run sees the same data.
    Incomplete last batches are dropped (as BatchNorm training prefers).

    ``workers`` > 0 makes the upcoming ``prefetch`` batches in that many threads while the caller trains
    (PIL's resizes release the GIL); each sample still depends only on its own generator, so the batches,
    and ``state_dict`` (what was handed out, not what was made ahead), are those of ``workers=0``.
    """

    def __init__(self, dataset: PairDataset, batch_size: int, seed: int = 0, augment: bool = True,
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
