import numpy as np
import pytest

from facesr.data.datasets import CropPolicy, EpochSampler, PairDataset, build_cache, identity_split, open_cache
from facesr.data.degrade import make_degradation
from facesr.errors import ConfigError
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


def _build_in_child(args):
    files, out = args
    from facesr.data.datasets import CropPolicy, build_cache

    return str(build_cache(files, CropPolicy("center", 100, 64), out, progress=False))


def test_two_processes_building_one_cache_both_finish(face_folder, tmp_path):
    # two trainings started together build the same cache: each writes its own temporary file (they shared
    # one name before, and the second os.replace found it gone) and both end with the complete cache
    import multiprocessing as mp

    tr, _ = identity_split(face_folder, 0.3)
    out = tmp_path / "shared.npy"
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_build_in_child, [(tr, out), (tr, out)])
    assert results == [str(out), str(out)]
    from facesr.data.datasets import load_hr

    arr = open_cache(out)
    assert arr.shape == (len(tr), 64, 64, 3) and np.array_equal(arr[0], load_hr(tr[0], CropPolicy("center", 100, 64)))
    assert sorted(x.name for x in tmp_path.iterdir() if "tmp" in x.name) == []  # no temporary left behind


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


# ------------------------------------------------------------------ augmentation, samples, collate
from facesr.data.datasets import IBUG68_FLIP, Augment, FaceDataset, UnpairedSource, collate  # noqa: E402


def _old_augment(img, rng, hflip=True, scale_range=(1.0, 1.0), rot90=False):
    """PairDataset.augment as it was before FaceDataset (the regression reference)."""
    size = img.shape[0]
    if hflip and rng.random() < 0.5:
        img = img[:, ::-1]
    lo, hi = scale_range
    if hi > 1.0:
        s = rng.uniform(lo, hi)
        big = max(size, int(round(size * s)))
        if big > size:
            img = pil_resize(np.ascontiguousarray(img), big, "bicubic")
            y, x = rng.integers(0, big - size + 1, size=2)
            img = img[y:y + size, x:x + size]
    if rot90:
        img = np.rot90(img, int(rng.integers(0, 4)))
    return np.ascontiguousarray(img)


@pytest.mark.parametrize("opts", [dict(hflip=True, scale_range=(1.0, 1.3), rot90=True),
                                  dict(hflip=False, scale_range=(1.0, 1.3), rot90=False),
                                  dict(hflip=True, scale_range=(1.0, 1.0), rot90=True)])
def test_augment_is_bit_identical_to_the_old_pair_augment(opts):
    hr = np.random.default_rng(3).integers(0, 256, (6, 128, 128, 3), dtype=np.uint8)
    ds = FaceDataset(hr, make_degradation("bicubic"), Augment(**opts))
    old = PairDataset(hr, make_degradation("bicubic"), **opts)
    for seed in range(20):
        r_old, r_new = np.random.default_rng(seed), np.random.default_rng(seed)
        ref = _old_augment(hr[seed % 6], r_old, **opts)
        s = ds.item(seed % 6, r_new)
        assert np.array_equal(s["hr"], ref)
        assert r_old.random() == r_new.random()  # the same number of draws
        assert np.array_equal(s["lr"], pil_resize(ref, 16))
        lr, h = old.item(seed % 6, np.random.default_rng(seed))
        assert np.array_equal(h, ref) and np.array_equal(lr, s["lr"])


def _blob_sample(size=64, at=(27.0, 24.0)):
    """Mid-grey HR with a Gaussian blob at ``at`` (x, y), a label map and a float map marking the same spot."""
    yy, xx = np.mgrid[0:size, 0:size]
    g = np.exp(-((xx - at[0]) ** 2 + (yy - at[1]) ** 2) / (2 * 2.0**2))
    hr = np.repeat((100 + 120 * g)[:, :, None], 3, axis=2).round().astype(np.uint8)
    label = ((xx - at[0]) ** 2 + (yy - at[1]) ** 2 <= 9).astype(np.uint8) * 5
    fmap = np.stack([g, 1 - g], axis=2).astype(np.float32)
    return hr, label, fmap


def _centroid(w):
    w = np.clip(np.asarray(w, np.float64), 0, None)
    yy, xx = np.mgrid[0:w.shape[0], 0:w.shape[1]]
    return np.array([(w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()])


@pytest.mark.parametrize("aug", [Augment(True, (1.0, 1.4), True),
                                 Augment(True, rot90=True, resized_crop={"area": [0.5, 1.0], "ratio": [0.75, 1.33]})])
def test_hr_priors_and_landmarks_move_together(aug):
    hr, label, fmap = _blob_sample()
    lm = np.full((68, 2), 40.0)
    lm[36] = (27.0, 24.0)  # the image-left eye's outer corner, on the blob
    ds = FaceDataset(hr[None], make_degradation("bicubic"), aug, landmarks=lm[None],
                     priors={"parsing": label[None], "heat": fmap[None]})
    flips = checked = 0
    for seed in range(24):
        p = aug.params(np.random.default_rng(seed), 64)
        s = ds.item(0, np.random.default_rng(seed))
        pt = s["landmarks"][45 if p["flip"] else 36]  # the point was renumbered on flips
        assert s["landmarks"].dtype == np.float32 and s["landmarks"].shape == (68, 2)
        if not (8 <= pt.min() and pt.max() <= 55):
            continue  # the blob is cut by the border: its centroid is not its centre
        checked += 1
        flips += p["flip"]
        assert np.abs(_centroid(s["hr"][..., 0].astype(float) - 100) - pt).max() < 0.08
        assert np.abs(_centroid(s["heat"][..., 0]) - pt).max() < 0.08
        assert s["parsing"].dtype == np.uint8 and set(np.unique(s["parsing"])) <= {0, 5}
        assert np.abs(_centroid(s["parsing"] == 5) - pt).max() < 0.6
        assert s["lr"].shape == (16, 16, 3) and s["heat"].shape == (64, 64, 2)
    assert checked >= 12 and 0 < flips < checked


def test_a_landmark_on_a_bright_pixel_stays_on_it_under_flips_and_rotations():
    hr = np.zeros((32, 32, 3), np.uint8)
    hr[5, 9] = 255  # row 5, column 9: (x, y) = (9, 5)
    lm = np.zeros((1, 68, 2))
    lm[0, 36] = (9, 5)
    aug = Augment(hflip=True, rot90=True)
    ds = FaceDataset(hr[None], make_degradation("bicubic"), aug, landmarks=lm)
    for seed in range(12):
        p = aug.params(np.random.default_rng(seed), 32)
        s = ds.item(0, np.random.default_rng(seed))
        x, y = s["landmarks"][45 if p["flip"] else 36]
        assert s["hr"][int(y), int(x), 0] == 255 and x == int(x) and y == int(y)


def test_ibug_flip_permutation_swaps_sides():
    assert sorted(IBUG68_FLIP) == list(range(68)) and np.array_equal(IBUG68_FLIP[IBUG68_FLIP], np.arange(68))
    assert IBUG68_FLIP[0] == 16 and IBUG68_FLIP[36] == 45 and IBUG68_FLIP[39] == 42 and IBUG68_FLIP[48] == 54
    assert all(IBUG68_FLIP[i] == i for i in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66))
    # a symmetric face: flipping its points and renumbering gives the same points back
    pts = np.random.default_rng(0).uniform(0, 63, (68, 2))
    for i, j in enumerate(IBUG68_FLIP):
        if i < j:
            pts[j] = (63 - pts[i, 0], pts[i, 1])
        elif i == j:
            pts[i, 0] = 31.5
    aug = Augment(hflip=True)
    p = {"size": 64, "flip": True, "zoom": None, "crop": None, "rot": 0}
    assert np.allclose(aug.apply_points(p, pts, IBUG68_FLIP), pts)


def test_resized_crop_and_label_flips():
    hr = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    aug = Augment(hflip=False, scale_range=(1.0, 1.3), resized_crop={"area": [0.3, 0.6]})
    boxes = set()
    for seed in range(10):
        p = aug.params(np.random.default_rng(seed), 64)
        assert p["zoom"] is None  # resized_crop replaces the zoom
        t, l_, h, w = p["crop"]
        assert 0.2 < h * w / 64**2 < 0.7 and 0 <= t <= 64 - h and 0 <= l_ <= 64 - w
        assert 0.75 - 0.1 < w / h < 4 / 3 + 0.1
        boxes.add(p["crop"])
        out = aug.apply(p, hr[0])
        assert np.array_equal(out, pil_resize(np.ascontiguousarray(hr[0, t:t + h, l_:l_ + w]), 64))
    assert len(boxes) == 10
    with pytest.raises(ConfigError, match="valid: area, ratio"):
        Augment(resized_crop={"scale": [0.5, 1]})
    # a parsing map's left/right classes are swapped on flips
    lab = np.zeros((1, 8, 8), np.uint8)
    lab[0, :, :4], lab[0, :, 4:] = 4, 5  # 4: image-left eye, 5: image-right eye
    ds = FaceDataset(np.zeros((1, 8, 8, 3), np.uint8), make_degradation("bicubic", lr_size=4), Augment(hflip=True),
                     priors={"parsing": lab}, label_flips={"parsing": [[4, 5]]})
    for seed in range(6):
        p = Augment(hflip=True).params(np.random.default_rng(seed), 8)
        out = ds.item(0, np.random.default_rng(seed))["parsing"]
        assert np.array_equal(out, lab[0])  # flipped and swapped: the same map


def test_dataset_inputs_are_checked():
    hr = np.zeros((3, 16, 16, 3), np.uint8)
    with pytest.raises(ConfigError, match="landmarks"):
        FaceDataset(hr, make_degradation("bicubic"), landmarks=np.zeros((2, 68, 2)))
    with pytest.raises(ConfigError, match="prior 'p'"):
        FaceDataset(hr, make_degradation("bicubic"), priors={"p": np.zeros((3, 8, 8), np.uint8)})
    with pytest.raises(ConfigError, match="reserved"):
        FaceDataset(hr, make_degradation("bicubic"), priors={"hr64": np.zeros((3, 16, 16), np.uint8)})


def test_samples_carry_cascade_targets_and_collate_types():
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (4, 128, 128, 3), dtype=np.uint8)
    ds = FaceDataset(hr, make_degradation("bilinear_cascade"), Augment(True, (1.0, 1.3)),
                     landmarks=rng.uniform(0, 127, (4, 68, 2)).astype(np.float32),
                     priors={"parsing": rng.integers(0, 19, (4, 128, 128), dtype=np.uint8),
                             "heat": rng.random((4, 128, 128, 5), dtype=np.float32)},
                     unpaired=UnpairedSource(rng.integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)))
    s = ds.item(2, np.random.default_rng(9))
    assert sorted(s) == ["heat", "hr", "hr32", "hr64", "landmarks", "lr", "parsing", "real_lr"]
    assert np.array_equal(s["hr64"], pil_resize(s["hr"], 64, "bilinear"))
    assert np.array_equal(s["hr32"], pil_resize(s["hr64"], 32, "bilinear"))
    b = collate([ds.item(i, np.random.default_rng(i)) for i in range(3)])
    shapes = {k: (tuple(v.shape), str(v.dtype)) for k, v in b.items()}
    assert shapes == {"hr": ((3, 3, 128, 128), "torch.float32"), "lr": ((3, 3, 16, 16), "torch.float32"),
                      "hr64": ((3, 3, 64, 64), "torch.float32"), "hr32": ((3, 3, 32, 32), "torch.float32"),
                      "parsing": ((3, 128, 128), "torch.int64"), "heat": ((3, 5, 128, 128), "torch.float32"),
                      "landmarks": ((3, 68, 2), "torch.float32"), "real_lr": ((3, 3, 16, 16), "torch.float32")}
    s0 = ds.item(0, np.random.default_rng(0))
    assert np.allclose(b["hr"][0].numpy().transpose(1, 2, 0) * 255, s0["hr"], atol=1e-3)
    assert np.array_equal(b["parsing"][0].numpy(), s0["parsing"])
    assert np.allclose(b["heat"][0].numpy().transpose(1, 2, 0), s0["heat"])
    # no generator: no augmentation, fixed per image
    a, c = ds.item(1), ds.item(1)
    assert np.array_equal(a["hr"], hr[1]) and np.array_equal(a["real_lr"], c["real_lr"])


def test_unpaired_sampling_is_deterministic_and_independent_of_the_hr_index():
    imgs = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    src = UnpairedSource(imgs)
    for seed in range(10):
        r = np.random.default_rng(seed)
        i, flip = int(r.integers(5)), r.random() < 0.5
        out = src.sample(np.random.default_rng(seed))
        assert np.array_equal(out, imgs[i, :, ::-1] if flip else imgs[i])
        assert np.array_equal(out, src.sample(np.random.default_rng(seed)))
    seen = {src.sample(np.random.default_rng(s)).tobytes() for s in range(40)}
    assert len(seen) > 5  # several faces and both orientations
    with pytest.raises(ConfigError):
        UnpairedSource(np.zeros((0, 16, 16, 3), np.uint8))


def test_blind_validation_samples_differ_between_images_but_are_fixed():
    hr = np.repeat(np.random.default_rng(0).integers(0, 256, (1, 128, 128, 3), dtype=np.uint8), 3, axis=0)
    ds = FaceDataset(hr, make_degradation("sparnethd_blind", lr_size=128), Augment(hflip=False))
    lrs = [ds.item(i)["lr"] for i in range(3)]
    assert np.array_equal(lrs[0], ds.item(0)["lr"])
    assert not np.array_equal(lrs[0], lrs[1]) and not np.array_equal(lrs[1], lrs[2])


def test_epoch_sampler_with_face_dataset():
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    ds = FaceDataset(hr, make_degradation("bicubic"), Augment(True, (1.0, 1.3), True),
                     landmarks=rng.uniform(0, 63, (7, 68, 2)))
    a = EpochSampler(ds, 2, seed=3)
    batches = [a.next_batch() for _ in range(5)]
    assert sorted(batches[0]) == ["hr", "landmarks", "lr"] and batches[0]["landmarks"].shape == (2, 68, 2)
    b = EpochSampler(ds, 2, seed=3, workers=2)
    b.load_state_dict({"epoch": 0, "pos": 2})
    for x, y in zip(batches[2:], [b.next_batch() for _ in range(3)]):
        assert all(np.array_equal(x[k].numpy(), y[k].numpy()) for k in x)


# ------------------------------------------------------------------ sources
def _count_reads(monkeypatch):
    import facesr.data.datasets as dsm

    calls = []
    real = dsm.read_image

    def counting(path, **kw):
        calls.append(str(path))
        return real(path, **kw)

    monkeypatch.setattr(dsm, "read_image", counting)
    return calls


def test_max_images_decodes_only_n_files_into_its_own_cache(face_folder, tmp_path, monkeypatch):
    from facesr.data.sources import hr_array, subset_files

    calls = _count_reads(monkeypatch)
    d = {"root": str(face_folder), "split": "all", "crop": {"kind": "center", "crop": 100},
         "cache": str(tmp_path / "faces.npy"), "max_images": 5}
    a = hr_array(d, 32, progress=False)
    assert a.shape == (5, 32, 32, 3) and len(calls) == 5
    assert (tmp_path / "faces_n5.npy").is_file() and not (tmp_path / "faces.npy").exists()
    hr_array(d, 32, progress=False)
    assert len(calls) == 5  # reused
    full = hr_array({**d, "max_images": 0}, 32, progress=False)
    assert len(full) == 24 and len(calls) == 29 and (tmp_path / "faces.npy").is_file()
    # the chosen files: spread over the identities, nested in larger choices, rows of the full cache
    from facesr.data.io import list_images

    files = list_images(face_folder, recursive=True)
    five = subset_files(files, 5, face_folder)
    assert set(five) <= set(subset_files(files, 10, face_folder))
    assert len({f.parent.name for f in subset_files(files, 8, face_folder)}) >= 3
    rows = [files.index(f) for f in five]
    assert np.array_equal(np.asarray(a), np.asarray(full)[rows])
    # without a cache: decoded directly, still only N
    calls.clear()
    b = hr_array({**d, "cache": None, "max_images": 3}, 32, progress=False)
    assert len(b) == 3 and len(calls) == 3
    # train split first, then the limit
    calls.clear()
    tr = hr_array({**d, "cache": None, "split": "train", "val_fraction": 0.3, "max_images": 4}, 32, progress=False)
    trf, _ = identity_split(face_folder, 0.3)
    assert len(tr) == 4 and set(calls) <= {str(f) for f in trf}
    # no root: the limited cache, else hashed rows of the full one
    assert np.array_equal(np.asarray(hr_array({"cache": d["cache"], "max_images": 5}, 32)), np.asarray(a))
    assert len(hr_array({"cache": d["cache"], "max_images": 7}, 32)) == 7


def test_source_errors(tmp_path):
    from facesr.data.sources import hr_array, unpaired_source

    with pytest.raises(ConfigError, match="dataset folder not found"):
        hr_array({"root": str(tmp_path / "nope"), "crop": {}}, 32)
    with pytest.raises(ConfigError, match="does not exist"):
        hr_array({"cache": str(tmp_path / "nope.npy")}, 32)
    with pytest.raises(ConfigError, match="split must be"):
        hr_array({"root": str(tmp_path), "split": "test"}, 32)
    with pytest.raises(ConfigError, match="unpaired LR folder not found"):
        unpaired_source({"root": str(tmp_path / "nope"), "size": 16})
    assert unpaired_source({"root": None, "cache": None, "size": 16}) is None
    assert unpaired_source({}) is None


def test_unpaired_source_from_a_folder(tmp_path, monkeypatch):
    from PIL import Image

    from facesr.data.sources import unpaired_source

    rng = np.random.default_rng(0)
    for i, s in enumerate([20, 33, 17, 64, 25, 40]):
        Image.fromarray(rng.integers(0, 256, (s, s + i, 3), dtype=np.uint8)).save(tmp_path / f"lr{i}.png")
    calls = _count_reads(monkeypatch)
    u = unpaired_source({"root": str(tmp_path), "size": 16, "cache": str(tmp_path / "c" / "real.npy"),
                         "max_images": 4}, progress=False)
    assert isinstance(u, UnpairedSource) and len(u) == 4 and u.images.shape == (4, 16, 16, 3)
    assert len(calls) == 4 and (tmp_path / "c" / "real_n4.npy").is_file()
    one = sorted(calls)[0]
    from facesr.data.io import read_image

    assert any(np.array_equal(pil_resize(read_image(one), 16), u.images[k]) for k in range(4))
    assert np.array_equal(u.sample(np.random.default_rng(3)), u.sample(np.random.default_rng(3)))
    u2 = unpaired_source({"root": None, "size": 16, "cache": str(tmp_path / "c" / "real.npy"), "max_images": 4})
    assert np.array_equal(np.asarray(u2.images), np.asarray(u.images))


def test_crop_policy_resizes_with_its_kernel_and_keeps_old_cache_fingerprints(face_folder):
    """PFSR resizes its crops to 128 with PIL bilinear, SPARNet with bicubic; the default's fingerprint is
    the one caches made before the option existed carry."""
    import hashlib
    import json
    from dataclasses import asdict

    from PIL import Image

    from facesr.data.datasets import _fingerprint
    from facesr.errors import ConfigError

    f = sorted(face_folder.rglob("*.png"))[0]
    img = np.asarray(Image.open(f).convert("RGB"))
    c = img[14:114, 14:114]
    for interp, pil in (("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)):
        got = CropPolicy("center", 100, 64, interp).apply(img)
        assert np.array_equal(got, np.asarray(Image.fromarray(c).resize((64, 64), pil)))
    old = hashlib.sha1(json.dumps({"kind": "center", "crop": 100, "size": 64}, sort_keys=True).encode())
    for p in [f]:
        st = p.stat()
        old.update(f"{p}|{st.st_size}|{int(st.st_mtime)}".encode())
    assert _fingerprint([f], CropPolicy("center", 100, 64)) == old.hexdigest()[:16]
    assert _fingerprint([f], CropPolicy("center", 100, 64, "bilinear")) != old.hexdigest()[:16]
    with pytest.raises(ConfigError, match="interp"):
        CropPolicy("center", 100, 64, "bicubik")
    assert asdict(CropPolicy())["interp"] == "bicubic"
