import json
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

pack_cache = load_script(Path(__file__).resolve().parents[1] / "tools" / "pack_cache.py")


def _faces(n=6, size=32):
    from skimage import data
    from PIL import Image

    img = np.asarray(Image.fromarray(data.astronaut()).resize((size * 3, size * 2)))
    return np.stack([img[(i // 3) * size:(i // 3 + 1) * size, (i % 3) * size:(i % 3 + 1) * size]
                     for i in range(n)])


def test_pack_cache_round_trip(tmp_path):
    faces = _faces()
    np.save(tmp_path / "c.npy", faces)
    (tmp_path / "c.json").write_text(json.dumps({"fingerprint": "abc", "count": 6}))
    r = pack_cache.pack(tmp_path / "c.npy", tmp_path / "c.webpz", quality=101, threads=2)
    assert r["faces"] == 6 and r["psnr_db"] == float("inf")
    pack_cache.unpack(tmp_path / "c.webpz", tmp_path / "out" / "c.npy", threads=2)
    assert np.array_equal(np.load(tmp_path / "out" / "c.npy"), faces)  # lossless is exact
    meta = json.loads((tmp_path / "out" / "c.json").read_text())
    assert meta["count"] == 6 and "fingerprint" not in meta and meta["unpacked_from"]["webp_quality"] == 101
    lossy = pack_cache.pack(tmp_path / "c.npy", tmp_path / "l.webpz", quality=92, threads=2)
    assert 30 < lossy["psnr_db"] < 60 and lossy["bytes"] < r["bytes"]
    pack_cache.unpack(tmp_path / "l.webpz", tmp_path / "l.npy")
    got = np.load(tmp_path / "l.npy").astype(float)
    assert 10 * np.log10(255 ** 2 / np.mean((got - faces) ** 2)) > 30


def test_unpack_refuses_foreign_files(tmp_path):
    (tmp_path / "x.webpz").write_bytes(b"garbage")
    with pytest.raises(SystemExit, match="not a file written by"):
        pack_cache.unpack(tmp_path / "x.webpz", tmp_path / "x.npy")
    assert not (tmp_path / "x.npy").exists()
