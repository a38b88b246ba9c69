"""Tests for `facesr enhance`: alignment geometry, paste-back, the enhance() API and the CLI on bad inputs.

dlib-backed tests are skipped when dlib / face-recognition-models are not installed.
"""
from __future__ import annotations

import argparse
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesr.enhance.align import (
    CROP_SPECS,
    apply_affine,
    calibrate_landmark_square,
    crop_face,
    crop_transform,
    five_points,
    invert_affine,
)
from facesr.enhance.paste import feather_mask, paste_faces, upscale_background

TINY = {"channels": [4, 8, 8, 8], "res_depth": 1, "hg_mid": 4}


def _dlib_ok() -> bool:
    from facesr.faces.dlib_models import dlib_available

    return dlib_available()


needs_dlib = pytest.mark.skipif(not _dlib_ok(), reason="dlib / face-recognition-models not installed "
                                                      "(pip install 'facesr[faces]')")


@pytest.fixture(scope="module")
def tiny_model():
    import facesr

    return facesr.build("sparnet", **TINY).eval()


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


# ------------------------------------------------------------------ synthetic faces (no dlib)
def _synthetic_landmarks(cx, cy, eye_dist, roll_deg):
    """68 points with the eyes, nose tip and mouth corners where align.py reads them."""
    t = np.deg2rad(roll_deg)
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    d = eye_dist

    def at(x, y):
        return np.array([cx, cy]) + R @ np.array([x, y])

    L = np.zeros((68, 2))
    ring = [np.array([np.cos(a), np.sin(a)]) * 0.1 * d for a in np.linspace(0, 2 * np.pi, 6, endpoint=False)]
    for k in range(6):
        L[36 + k] = at(-d / 2 + ring[k][0], ring[k][1])
        L[42 + k] = at(d / 2 + ring[k][0], ring[k][1])
    L[30] = at(0, 0.55 * d)
    L[48] = at(-0.4 * d, 1.05 * d)
    L[54] = at(0.4 * d, 1.05 * d)
    for i in range(68):  # the rest: somewhere on the face
        if not L[i].any():
            L[i] = at(np.cos(i) * 0.8 * d, 0.5 * d + np.sin(i) * 0.8 * d)
    return L


def _blob_image(h, w, pts, sigma):
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w), np.float64)
    for x, y in pts:
        img += np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2))
    return np.repeat(np.clip(img * 255, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _centroid(img, x, y, r):
    g = img[..., 0].astype(np.float64)
    x0, x1 = max(int(x - r), 0), min(int(x + r) + 1, g.shape[1])
    y0, y1 = max(int(y - r), 0), min(int(y + r) + 1, g.shape[0])
    w = g[y0:y1, x0:x1]
    w = np.where(w > 0.2 * w.max(), w, 0)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return np.array([(w * xx).sum() / w.sum(), (w * yy).sum() / w.sum()])


@pytest.mark.parametrize("eye_dist,roll,spec", [(30.0, 15.0, "lfw"), (160.0, -25.0, "fsrnet"),
                                                (60.0, 5.0, "fsrnet_aligned5")])
def test_alignment_round_trip(eye_dist, roll, spec):
    """Blobs drawn at landmarks land where the affine says in the crop, and map back within 1 px."""
    h, w = 700, 640
    L = _synthetic_landmarks(330.0, 300.0, eye_dist, roll)
    P = five_points(L)
    sigma = max(2.0, eye_dist / 25)
    img = _blob_image(h, w, P, sigma)
    crop, M = crop_face(img, L, spec, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    pc = apply_affine(M, P)
    assert np.all((pc > 0) & (pc < 127)), "landmarks must lie inside the crop"
    scale = np.sqrt(abs(np.linalg.det(M[:, :2])))  # crop px per photo px
    found = np.stack([_centroid(crop, x, y, max(3.0, 3 * sigma * scale)) for x, y in pc])
    back = apply_affine(invert_affine(M), found)
    err_photo = np.abs(back - P).max()
    err_crop = np.abs(found - pc).max()
    assert err_crop < 0.5, err_crop
    assert err_photo < 1.0 or (scale < 1 and err_crop < 0.5), (err_photo, err_crop)
    if spec != "fsrnet_aligned5":  # rotated upright: the two eyes are level in the crop
        assert abs(found[0, 1] - found[1, 1]) < 0.5


def test_crop_transform_geometry():
    L = _synthetic_landmarks(200.0, 150.0, 40.0, 0.0)
    spec = CROP_SPECS["lfw"]
    M = crop_transform(L, spec, 128)
    # calibrating on crops made with a spec gives that spec back
    crops_L = [apply_affine(crop_transform(_synthetic_landmarks(200.0, 150.0, 40.0 + k, k - 3.0), spec, 128),
                            _synthetic_landmarks(200.0, 150.0, 40.0 + k, k - 3.0)) for k in range(7)]
    cal = calibrate_landmark_square(crops_L, 128)
    assert cal["n"] == 7 and cal["shift_x"] == pytest.approx(spec["shift_x"], abs=1e-3)
    redo = crop_transform(L, {**cal}, 128)
    assert np.allclose(apply_affine(redo, five_points(L)), apply_affine(M, five_points(L)), atol=1e-6)
    with pytest.raises(ValueError):
        crop_transform(L, {"kind": "nope"}, 128)
    with pytest.raises(ValueError):
        crop_transform(np.zeros((68, 2)), "lfw", 128)


def test_paste_leaves_background_far_from_faces():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    photo = np.asarray(Image.fromarray(small).resize((400, 300), Image.BICUBIC))
    L = _synthetic_landmarks(200.0, 140.0, 30.0, 10.0)
    M = crop_transform(L, "lfw", 128)
    face = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    bg = upscale_background(photo, 2)
    out = paste_faces(bg, [face], [M], photo.shape[:2])
    assert out.shape == bg.shape == (600, 800, 3)
    # the crop's footprint in the output, plus 2 px
    quad = apply_affine(invert_affine(M), np.array([[-0.5, -0.5], [127.5, -0.5], [-0.5, 127.5], [127.5, 127.5]]))
    quad = (quad + 0.5) * 2 - 0.5
    yy, xx = np.mgrid[:600, :800]
    far = (xx < quad[:, 0].min() - 2) | (xx > quad[:, 0].max() + 2) | (yy < quad[:, 1].min() - 2) | \
          (yy > quad[:, 1].max() + 2)
    assert far.sum() > 0.5 * far.size
    assert np.array_equal(out[far], bg[far])
    # the face centre is the restored face (mask ~1 there)
    c = apply_affine(invert_affine(M), np.array([[63.5, 63.5]]))[0] * 2 + 0.5
    assert not np.array_equal(out[int(c[1]) - 5:int(c[1]) + 5, int(c[0]) - 5:int(c[0]) + 5],
                              bg[int(c[1]) - 5:int(c[1]) + 5, int(c[0]) - 5:int(c[0]) + 5])
    m = feather_mask(128)
    assert m[0].max() < 0.01 and m[64, 64] > 0.99
    # a face identical to the warped background changes nothing noticeable (no seam from the blend)
    same = crop_face(bg, apply_affine(np.array([[2.0, 0, 0.5], [0, 2.0, 0.5]]), L), "lfw", 128)[0]
    out2 = paste_faces(bg, [same], [M], photo.shape[:2])
    assert np.abs(out2.astype(int) - bg.astype(int)).mean() < 2.0


# ------------------------------------------------------------------ face-size policy (no dlib)
def test_face_modes_thresholds():
    from facesr.enhance import face_modes

    net = argparse.Namespace(lr_size=16, hr_size=128)
    assert face_modes([8, 16.4, 16.6, 40, 63.4, 63.6, 400], net) == \
        ["sr", "sr", "fused", "fused", "fused", "kept", "kept"]
    assert face_modes([8, 60, 400], net, fusion=False) == ["sr"] * 3
    # a restoration model (input size = output size) restores every face up to twice its size
    rest = argparse.Namespace(lr_size=128, hr_size=128)
    assert face_modes([8, 60, 256.4, 256.6, 900], rest) == ["sr", "sr", "sr", "kept", "kept"]
    assert face_modes([8, 900], rest, fusion=False) == ["sr", "sr"]
    from facesr.enhance.choose import SIZE_NOTE, size_note

    note = size_note([100, 300], ["sr", "kept"], rest)
    assert SIZE_NOTE in note and "256 px" in note and "300 px" in note


def test_fuse_detail_keeps_the_photo_band():
    from facesr.data.resize import pil_resize
    from facesr.enhance.paste import fuse_detail

    rng = np.random.default_rng(0)
    photo = pil_resize(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), 128, "bicubic")  # a 32 px face
    restored = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)  # detail of its own at every scale
    assert np.array_equal(fuse_detail(restored, photo, 130, 16), photo)  # the photo has it all
    assert np.array_equal(fuse_detail(restored, photo, 12, 16), restored)  # the model saw it all
    out = fuse_detail(restored, photo, 32, 16)

    def low(a):
        return pil_resize(a, 32, "bicubic").astype(np.float64)

    # at the photo's own resolution the result is the photo (up to the resampler), not the model output
    # (white noise as the "model output" is the worst case for the bicubic band split)
    assert np.abs(low(out) - low(photo)).mean() < 0.2 * np.abs(low(restored) - low(photo)).mean()
    # above it, the result carries the model's detail
    hi_out = out.astype(np.float64) - pil_resize(pil_resize(out, 32, "bicubic"), 128, "bicubic")
    hi_res = restored.astype(np.float64) - pil_resize(pil_resize(restored, 32, "bicubic"), 128, "bicubic")
    assert np.corrcoef(hi_out.ravel(), hi_res.ravel())[0, 1] > 0.9


def test_fusion_beats_bicubic_and_the_model_alone():
    """The shipped model on the bundled sample face shown at 24 px: fused > bicubic > model fed 16 px."""
    from facesr.data.io import read_image
    from facesr.data.resize import pil_resize
    from facesr.enhance.paste import fuse_detail
    from facesr.inference.sr import super_resolve
    from facesr.registry import ASSETS

    hr = read_image(ASSETS / "sample_face_hr128.png")

    def psnr(a):
        return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - hr) ** 2))

    x = pil_resize(hr, 24, "bicubic")
    bic = pil_resize(x, 128, "bicubic")
    sr = super_resolve([x], "default")[0]
    fused = fuse_detail(sr, bic, 24, 16)
    assert psnr(fused) > psnr(bic) + 0.3 and psnr(fused) > psnr(sr) + 0.3


# ------------------------------------------------------------------ enhance() with dlib
@needs_dlib
def test_enhance_astronaut_one_face(astronaut, tiny_model):
    from facesr.enhance import enhance

    r = enhance(astronaut, model=tiny_model)  # defaults: HOG, one upsampling, threshold 0
    assert r.num_faces == 1
    x0, y0, x1, y1 = r.boxes[0]
    assert 150 < (x0 + x1) / 2 < 290 and 60 < (y0 + y1) / 2 < 190
    assert r.final.shape == (1024, 1024, 3) and r.final.dtype == np.uint8
    assert r.cropped_faces[0].shape == r.restored_faces[0].shape == (128, 128, 3)
    assert r.landmarks[0].shape == (68, 2) and r.affines[0].shape == (2, 3)
    # the face crop is ~140 px >= half the model's 128 px output: kept, the final shows the plain upscale
    assert r.modes == ["kept"] and 128 < r.crop_sides[0] < 160
    bg = upscale_background(astronaut, 2)
    assert np.array_equal(r.final, bg) and np.array_equal(r.restored_faces[0], r.cropped_faces[0])
    assert any("kept as the upscaled photo shows them" in w for w in r.warnings)
    r_sr = enhance(astronaut, model=tiny_model, fusion=False)  # the model output pasted whatever the size
    assert r_sr.modes == ["sr"] and not np.array_equal(r_sr.final, bg)
    # a smaller copy: the face is ~40 px, between the model's input size and half its output -> fused
    from facesr.data.resize import pil_resize

    r_small = enhance(pil_resize(astronaut, 150, "bicubic"), model=tiny_model)
    assert r_small.modes == ["fused"] and 16 < r_small.crop_sides[0] < 64
    # the mission patch on the suit is a weak detection in some crops (score ~0.13); a threshold removes it
    r2 = enhance(astronaut[:, :400], model=tiny_model, det_upsample=0, det_threshold=0.3)
    assert r2.num_faces == 1
    # aligned mode: the input is a face crop
    r3 = enhance(astronaut[60:200, 150:290], model=tiny_model, aligned=True)
    assert r3.num_faces == 1 and r3.final.shape == (128, 128, 3)


@needs_dlib
def test_enhance_thread_safe(astronaut, tiny_model):
    from facesr.enhance import enhance

    ref = enhance(astronaut, model=tiny_model, det_upsample=0).final
    outs = [None, None]

    def work(i):
        outs[i] = enhance(astronaut, model=tiny_model, det_upsample=0).final

    ts = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(o is not None and np.array_equal(o, ref) for o in outs)


# ------------------------------------------------------------------ the CLI on every bad-input kind
def _run_cli(argv):
    from facesr.cli import main

    return main(["enhance", *argv])


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("enh_in")
    a = astronaut[:, :400]  # 512 x 400: EXIF rotation shows in the output shape
    Image.fromarray(a).save(d / "good.jpg", quality=92)
    grey = np.asarray(Image.fromarray(a).convert("L"))
    Image.fromarray(grey).save(d / "grey.png")
    rgba = np.dstack([a, np.full(a.shape[:2], 255, np.uint8)])
    rgba[:40, :40, 3] = 0
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(d / "deep16.png")
    Image.fromarray(a).convert("CMYK").save(d / "cmyk.jpg")
    # stored rotated 90 degrees counter-clockwise, EXIF Orientation 6 says "turn it clockwise to view"
    ex = Image.Exif()
    ex[0x0112] = 6
    Image.fromarray(a).transpose(Image.Transpose.ROTATE_90).save(d / "exif_rotated.jpg", exif=ex.tobytes())
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(d / "tiny.png")
    yy, xx = np.mgrid[:150, :200]
    Image.fromarray(np.dstack([xx % 256, yy, (xx + yy) % 256]).astype(np.uint8)).save(d / "noface.png")
    (d / "empty.png").write_bytes(b"")
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    return d


GOOD = {"good": ".jpg", "grey": ".png", "rgba": ".png", "deep16": ".png", "cmyk": ".jpg", "exif_rotated": ".jpg"}
NOFACE = {"tiny": ".png", "noface": ".png"}


def _complete(path: Path, size=None):
    with Image.open(path) as im:
        im.load()  # raises on a truncated file
        if size is not None:
            assert im.size == size, (path, im.size)
        return im.mode


@needs_dlib
def test_cli_bad_inputs(bad_inputs, tmp_path, tiny_model, capsys, monkeypatch):
    from facesr.checkpoint import save_model

    # the CLI loads models by name or file: the tiny untrained SPARNet as a model file
    model_file = tmp_path / "tiny-test.safetensors"
    save_model(tiny_model, model_file, tiny_model.facesr_meta)
    out = tmp_path / "out"
    # --det-threshold 0.3: at 0, dlib also reports the astronaut's mission patch here (score ~0.13);
    # --no-fusion: these faces are ~140 px and would be kept as they are, this way the model runs on each
    argv = ["-i", str(bad_inputs), "-o", str(out), "-m", str(model_file), "--det-upsample", "0",
            "--det-threshold", "0.3", "-s", "2", "--no-fusion"]
    rc = _run_cli(argv)
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    err = cap.err
    assert "empty.png': file is empty (0 bytes)" in err
    assert "corrupt.jpg'" in err and "corrupt" in err.split("corrupt.jpg'", 1)[1].splitlines()[0]
    assert "tiny.png': no face found: the image is only 8x8 px" in err
    assert "noface.png': no face found" in err
    assert "8 image(s) done, 6 face(s) restored, 2 image(s) with no face, 2 failed" in cap.out
    for stem, ext in GOOD.items():
        size = (800, 1024)
        _complete(out / "final" / f"{stem}{ext}", size)
        assert _complete(out / "cropped_faces" / f"{stem}_00.png", (128, 128)) == "RGB"
        _complete(out / "restored_faces" / f"{stem}_00.png", (128, 128))
        _complete(out / "cmp" / f"{stem}_00.png")
        assert not (out / "cropped_faces" / f"{stem}_01.png").exists()
    _complete(out / "final" / "tiny.png", (16, 16))
    _complete(out / "final" / "noface.png", (400, 300))
    assert not (out / "final" / "empty.png").exists() and not (out / "final" / "corrupt.jpg").exists()
    assert not list(out.rglob(".*.tmp")), "temporary files left behind"

    # --skip-existing: nothing is redone, failures are reported again
    before = {p: p.stat().st_mtime_ns for p in (out / "final").iterdir()}
    rc = _run_cli(argv + ["--skip-existing", "-q"])
    cap = capsys.readouterr()
    assert rc == 1
    assert {p: p.stat().st_mtime_ns for p in (out / "final").iterdir()} == before
    assert cap.err.count("facesr: skipped") == 2 and cap.out == ""

    # a clean folder exits 0
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "one.png").write_bytes((bad_inputs / "grey.png").read_bytes())
    rc = _run_cli(["-i", str(clean), "-o", str(tmp_path / "out2"), "-m", str(model_file), "--det-upsample", "0",
                   "--det-threshold", "0.3", "--ext", "jpg", "--suffix", "x"])
    assert rc == 0
    # with the face-size policy on (the default), this ~140 px face is kept as the photo shows it
    assert "1 face(s) restored (1 kept as the photo shows them: large enough)" in capsys.readouterr().out
    assert (tmp_path / "out2" / "final" / "one_x.jpg").is_file()
    assert (tmp_path / "out2" / "restored_faces" / "one_00_x.png").is_file()


def test_missing_dlib_model_message(monkeypatch, tmp_path):
    from facesr.errors import ModelNotFoundError
    from facesr.faces import dlib_models

    monkeypatch.setattr(dlib_models, "_package_models_dir", lambda: None)
    monkeypatch.setenv(dlib_models.ENV_VAR, str(tmp_path))
    with pytest.raises(ModelNotFoundError, match="shape_predictor_68_face_landmarks.dat not found.*FACESR_DLIB_MODELS"):
        dlib_models.model_path("landmarks68")


# ------------------------------------------------------------------ FaceEnhancer
def test_face_enhancer_aligned_crop_is_the_model_output(tiny_model):
    import facesr
    from facesr.enhance import FaceEnhancer
    from facesr.inference.sr import super_resolve

    crop = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    r = FaceEnhancer(tiny_model).enhance(crop, aligned=True)
    assert r.num_faces == 1 and r.modes == ["sr"] and r.final.shape == (128, 128, 3)
    crop128 = np.asarray(Image.fromarray(crop).resize((128, 128), Image.BICUBIC))
    assert np.array_equal(r.final, super_resolve([crop128], tiny_model)[0])
    # facesr.enhance() (the package, called) builds one enhancer for the call: same result
    assert np.array_equal(facesr.enhance(crop, model=tiny_model, aligned=True).final, r.final)
    # grey and RGBA arrays are converted (RGBA onto white)
    rgba = np.dstack([crop, np.zeros(crop.shape[:2], np.uint8)])
    white = FaceEnhancer(tiny_model).enhance(rgba, aligned=True).cropped_faces[0]
    assert (white == 255).all()


def test_face_enhancer_checks_options_and_holds_its_own_model(tiny_model):
    from facesr.enhance import FaceEnhancer

    for bad in ({"upscale": 0}, {"upscale": float("nan")}, {"detector": "mtcnn"}, {"batch_size": 0},
                {"color_match": "hist"}):
        with pytest.raises(ValueError):
            FaceEnhancer(tiny_model, **bad)
    a, b = FaceEnhancer("default"), FaceEnhancer("default")
    assert a.net is not b.net  # no process-global model cache: each enhancer loads its own
    assert FaceEnhancer(tiny_model).net is tiny_model  # a module is used as it is (backend "auto")
    assert FaceEnhancer(tiny_model).crop_spec == CROP_SPECS["fsrnet"]  # the sparnet preset's (CelebA crops)
    assert FaceEnhancer(tiny_model, crop="lfw").crop_spec == CROP_SPECS["lfw"]


@needs_dlib
def test_face_enhancer_equals_the_function_and_batches_across_photos(astronaut, tiny_model):
    from facesr.enhance import FaceEnhancer, enhance

    enh = FaceEnhancer(tiny_model, det_upsample=0, fusion=False)
    one = enh.enhance(astronaut)
    assert np.array_equal(one.final, enhance(astronaut, model=tiny_model, det_upsample=0, fusion=False).final)
    plans = [enh.plan(astronaut), enh.plan(astronaut[:, ::-1])]
    outs = enh.restore(plans)
    assert [len(o) for o in outs] == [1, 1]
    assert np.array_equal(enh.paste(plans[0], outs[0]).final, one.final)


# ------------------------------------------------------------------ restoration models and strength
LITE_TINY = {"size": 64, "min_feat": 16, "channels": [4, 8, 8], "res_depth": 1, "hg_depths": None, "hg_mid": 4,
             "global_skip": True}


def test_strength_blend_and_colour_band():
    from facesr.enhance.restore import blend, color_sigma, restored_faces

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert blend(a, b, 1.0) is a and np.array_equal(blend(a, b, 0.0), b)
    half = blend(a, b, 0.5).astype(int)
    assert np.abs(half - (a.astype(int) + b.astype(int)) / 2).max() <= 0.5
    net_sr = argparse.Namespace(lr_size=16, hr_size=128)
    net_rest = argparse.Namespace(lr_size=128, hr_size=128)
    assert color_sigma(net_sr) == 8.0 and color_sigma(net_rest) == 8.0  # not 1 px: noise would come back
    # restored_faces: kept faces untouched by the weight, sr faces blended after colour matching
    faces = restored_faces([b, b], [100.0, 100.0], ["sr", "kept"], [a], net_rest, color_match=False, weight=0.25)
    assert np.abs(faces[0].astype(int) - (0.25 * a + 0.75 * b)).max() <= 0.5
    assert np.array_equal(faces[1], b)


def test_restoration_model_runs_on_every_face_and_strength_zero_is_the_photo(tiny_model):
    import facesr
    from facesr.enhance import FaceEnhancer
    from facesr.enhance.choose import face_modes

    net = facesr.build("sparnethd-lite", **LITE_TINY).eval()
    assert (net.lr_size, net.hr_size) == (64, 64)
    assert face_modes([10, 40, 120, 300], net) == ["sr", "sr", "sr", "kept"]  # restored up to twice its size
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="weight"):
            FaceEnhancer(net, weight=bad)
    # aligned crops: the model output at its own size; strength 0 gives the input crop back
    crop = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = FaceEnhancer(net, color_match=False).enhance(crop, aligned=True)
    assert out.final.shape == (64, 64, 3) and not np.array_equal(out.final, crop)
    r0 = FaceEnhancer(net, color_match=False, weight=0.0).enhance(crop, aligned=True)
    assert np.array_equal(r0.restored_faces[0], crop) and np.array_equal(r0.final, crop)


def test_cli_weight_option_is_checked(capsys):
    from facesr.cli import main

    with pytest.raises(SystemExit) as e:
        main(["enhance", "-i", "x.png", "-o", "out", "-w", "1.5"])
    assert e.value.code == 2 and "must be a number in [0, 1]" in capsys.readouterr().err


def test_small_model_chain_for_tiny_faces(tiny_model):
    import facesr
    from facesr.enhance import FaceEnhancer
    from facesr.enhance.choose import chain_modes
    from facesr.inference.sr import super_resolve

    rest = facesr.build("sparnethd-lite", **LITE_TINY).eval()  # 64 px restoration model
    assert chain_modes(["sr", "sr", "kept", "fused"], [10, 30, 10, 10], 24) == ["chain", "sr", "kept", "fused"]
    with pytest.raises(ValueError, match="restoration model"):
        FaceEnhancer(tiny_model, small_model=tiny_model)
    with pytest.raises(ValueError, match="SR model"):
        FaceEnhancer(rest, small_model=rest)
    enh = FaceEnhancer(rest, small_model=tiny_model, color_match=False)
    assert enh.small_below == 24.0  # 1.5 x the x8 model's 16 px input
    tiny = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    r = enh.enhance(tiny, aligned=True)
    assert r.modes == ["chain"]
    # the x8 model on the crop (the 16 px face resized to 64 and back to 16), resized to 64, then restored
    crop = np.asarray(Image.fromarray(tiny).resize((64, 64), Image.BICUBIC))
    x8 = super_resolve([crop], tiny_model)[0]
    x8 = np.asarray(Image.fromarray(x8).resize((64, 64), Image.BICUBIC))
    assert np.array_equal(r.final, super_resolve([x8], rest)[0])
    big = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert enh.enhance(big, aligned=True).modes == ["sr"]  # not tiny: the restoration model alone
