import numpy as np
import pytest

from facesr.data.datasets import CropPolicy, EpochSampler, PairDataset, build_cache, identity_split, open_cache
from facesr.data.degrade import make_degradation
from facesr.data.resize import pil_resize

from conftest import LFW


def test_identity_split_has_no_shared_person(face_folder):
    tr, va = identity_split(face_folder, 0.3)
    assert tr and va and len(tr) + len(va) == 24
    assert not {f.parent.name for f in tr} & {f.parent.name for f in va}
    assert identity_split(face_folder, 0.3) == (tr, va)  # stable


def test_lfw_split_by_identity():
    if not LFW.exists():
        pytest.skip("LFW not present")
    tr, va = identity_split(LFW, 0.02)
    assert 0.005 < len(va) / (len(tr) + len(va)) < 0.05
    assert not {f.parent.name for f in tr} & {f.parent.name for f in va}


def test_cache_matches_direct_decoding_and_is_reused(face_folder, tmp_path):
    tr, _ = identity_split(face_folder, 0.3)
    crop = CropPolicy("center", 100, 64)
    p = build_cache(tr, crop, tmp_path / "c.npy", progress=False)
    arr = open_cache(p)
    from facesr.data.datasets import load_hr

    assert arr.shape == (len(tr), 64, 64, 3) and arr.dtype == np.uint8
    assert np.array_equal(arr[3], load_hr(tr[3], crop))
    mtime = p.stat().st_mtime_ns
    build_cache(tr, crop, p, progress=False)
    assert p.stat().st_mtime_ns == mtime  # fingerprint matched: not rebuilt


def test_degradations_reproduce_pil():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert np.array_equal(make_degradation("bicubic")(hr), pil_resize(hr, 16, "bicubic"))
    casc = make_degradation("bilinear_cascade")(hr)
    ref = pil_resize(pil_resize(pil_resize(hr, 64, "bilinear"), 32, "bilinear"), 16, "bilinear")
    assert np.array_equal(casc, ref)
    assert not np.array_equal(casc, pil_resize(hr, 16, "bilinear"))


def test_sampler_is_deterministic_and_resumable(face_folder):
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (10, 128, 128, 3), dtype=np.uint8)
    ds = PairDataset(hr, make_degradation("bicubic"), hflip=True, scale_range=(1.0, 1.3), rot90=True)
    a = EpochSampler(ds, 3, seed=5)
    batches = [a.next_batch() for _ in range(7)]  # crosses epoch boundaries (3 batches per epoch)
    b = EpochSampler(ds, 3, seed=5)
    for _ in range(4):
        b.next_batch()
    c = EpochSampler(ds, 3, seed=5)
    c.load_state_dict(b.state_dict())
    for x, y in zip(batches[4:], [c.next_batch() for _ in range(3)]):
        assert np.array_equal(x["hr"].numpy(), y["hr"].numpy())
    assert batches[0]["lr"].shape == (3, 3, 16, 16) and batches[0]["hr"].shape == (3, 3, 128, 128)
    # the LR really is the bicubic of the (augmented) HR
    h = (batches[0]["hr"][0].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
    l_ = (batches[0]["lr"][0].numpy().transpose(1, 2, 0) * 255).round().astype(np.uint8)
    assert np.array_equal(pil_resize(h, 16), l_)


def test_threaded_prefetch_gives_the_same_batches_and_state():
    rng = np.random.default_rng(1)
    hr = rng.integers(0, 256, (10, 128, 128, 3), dtype=np.uint8)
    ds = PairDataset(hr, make_degradation("bicubic"), hflip=True, scale_range=(1.0, 1.3), rot90=True)
    inline = EpochSampler(ds, 3, seed=2)
    threaded = EpochSampler(ds, 3, seed=2, workers=3, prefetch=2)
    for _ in range(5):  # crosses an epoch boundary (3 batches per epoch)
        x, y = inline.next_batch(), threaded.next_batch()
        assert np.array_equal(x["hr"].numpy(), y["hr"].numpy()) and np.array_equal(x["lr"].numpy(), y["lr"].numpy())
        assert inline.state_dict() == threaded.state_dict()  # what was handed out, not what was made ahead
    # setting the state drops the batches made ahead: it goes on from the new position
    threaded.load_state_dict({"epoch": 0, "pos": 1})
    fresh = EpochSampler(ds, 3, seed=2)
    fresh.load_state_dict({"epoch": 0, "pos": 1})
    assert np.array_equal(threaded.next_batch()["hr"].numpy(), fresh.next_batch()["hr"].numpy())


def test_sharding_splits_a_global_batch():
    hr = np.zeros((12, 128, 128, 3), np.uint8)
    hr[:, 0, 0, 0] = np.arange(12)
    ds = PairDataset(hr, make_degradation("bicubic"), hflip=False)
    full = EpochSampler(ds, 4, seed=1, augment=False).next_batch()["hr"][:, 0, 0, 0]
    r0 = EpochSampler(ds, 2, seed=1, augment=False, rank=0, world_size=2).next_batch()["hr"][:, 0, 0, 0]
    r1 = EpochSampler(ds, 2, seed=1, augment=False, rank=1, world_size=2).next_batch()["hr"][:, 0, 0, 0]
    assert sorted((np.concatenate([r0, r1]) * 255).round().tolist()) == sorted((full * 255).round().tolist())
