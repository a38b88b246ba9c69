"""Pack a decoded uint8 face cache (``facesr data``'s N x S x S x 3 ``.npy``) into one small file of
WebP-encoded faces, and unpack it back into a ``.npy`` cache, to move a training set to a remote GPU
machine whose upload is limited (the LFW training cache: 575 MB as .npy, ~40 MB packed at quality 92).

WebP at quality < 101 is lossy: the unpacked faces differ from the originals by about 42 dB PSNR (printed
by ``pack``), far above the 23-28 dB that x8 face SR reaches, but not bit-identical. ``--quality 101`` is
lossless (and ~10x larger).

    python tools/pack_cache.py pack cache/lfw_train_c136_128.npy lfw_train.webpz [--quality 92]
    python tools/pack_cache.py unpack lfw_train.webpz cache/lfw_train_c136_128.npy
"""
from __future__ import annotations

import argparse
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def _encode(img: np.ndarray, quality: int) -> bytes:
    b = io.BytesIO()
    if quality > 100:
        Image.fromarray(img).save(b, "WEBP", lossless=True, method=6)
    else:
        Image.fromarray(img).save(b, "WEBP", quality=quality, method=6)
    return b.getvalue()


def _decode(buf: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(buf)).convert("RGB"))


def pack(src: Path, dst: Path, quality: int = 92, threads: int = 0) -> dict:
    arr = np.load(src, mmap_mode="r")
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise SystemExit(f"{src}: expected a uint8 N x S x S x 3 cache, got {arr.dtype} {arr.shape}")
    with ThreadPoolExecutor(threads or os.cpu_count()) as ex:
        bufs = list(ex.map(lambda i: _encode(np.asarray(arr[i]), quality), range(len(arr))))
    offsets = np.cumsum([0] + [len(b) for b in bufs]).astype(np.int64)
    meta = {"source": src.name, "shape": list(arr.shape), "quality": quality}
    side = src.with_suffix(".json")
    if side.is_file():  # the cache's own description (files, crop) travels with it
        meta["cache_meta"] = json.loads(side.read_text())
    with open(dst, "wb") as f:
        np.savez(f, data=np.frombuffer(b"".join(bufs), np.uint8), offsets=offsets,
                 meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    # fidelity of the round trip on a sample
    idx = np.linspace(0, len(arr) - 1, min(200, len(arr))).astype(int)
    mse = np.mean([np.mean((_decode(bufs[i]).astype(np.float64) - arr[i]) ** 2) for i in idx])
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)
    return {"faces": len(arr), "bytes": int(offsets[-1]), "psnr_db": psnr}


def unpack(src: Path, dst: Path, threads: int = 0) -> dict:
    try:  # never unpickles (allow_pickle stays False)
        with np.load(src) as z:
            data, offsets = z["data"], z["offsets"]
            meta = json.loads(z["meta"].tobytes().decode())
        shape = tuple(meta["shape"])
    except (OSError, ValueError, KeyError, AttributeError, TypeError, json.JSONDecodeError) as e:
        raise SystemExit(f"{src}: not a file written by 'pack_cache.py pack' ({type(e).__name__}: {e})") from None
    if len(offsets) != shape[0] + 1 or int(offsets[-1]) != len(data):
        raise SystemExit(f"{src}: truncated or damaged ({len(offsets) - 1} offsets for {shape[0]} faces)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp.npy")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)

    def one(i):
        try:
            out[i] = _decode(data[offsets[i]:offsets[i + 1]].tobytes())
        except (OSError, ValueError) as e:
            raise SystemExit(f"{src}: face {i} does not decode ({e})") from None

    with ThreadPoolExecutor(threads or os.cpu_count()) as ex:
        list(ex.map(one, range(shape[0])))
    out.flush()
    del out
    os.replace(tmp, dst)
    side = dict(meta.get("cache_meta") or {})
    side["unpacked_from"] = {"file": src.name, "webp_quality": meta["quality"]}
    side.pop("fingerprint", None)  # the faces are WebP round-trips, not the files' own decode
    dst.with_suffix(".json").write_text(json.dumps(side, indent=1))
    return {"faces": shape[0], "shape": shape}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--quality", type=int, default=92, help="WebP quality 1-100, or 101 for lossless")
    u = sub.add_parser("unpack")
    u.add_argument("src", type=Path)
    u.add_argument("dst", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "pack":
        r = pack(a.src, a.dst, a.quality)
        print(f"{r['faces']} faces -> {a.dst} ({r['bytes'] / 2**20:.1f} MiB); round trip {r['psnr_db']:.2f} dB PSNR")
    else:
        r = unpack(a.src, a.dst)
        print(f"{r['faces']} faces -> {a.dst} {r['shape']}")


if __name__ == "__main__":
    main()
