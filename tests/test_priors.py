"""Landmark and parsing priors: heatmaps peak on their landmarks, parsing maps put each part where its
landmarks are, real label folders load, dlib annotates aligned crops (when dlib is installed)."""
import numpy as np
import pytest

from facesr.errors import FacesrError
from facesr.priors.landmarks import render_heatmaps
from facesr.priors.parsing import CLASSES, LABEL, load_label_folder, overlay, parsing_from_landmarks, parsing_maps


def synthetic_landmarks(size=128):
    """A frontal 68-point face drawn by hand (iBUG layout) in a size x size crop."""
    s = size / 128.0
    jaw = [(24 + 80 * i / 16, 60 + 50 * np.sin(np.pi * i / 16)) for i in range(17)]
    r_brow = [(34 + 6 * i, 46 - 2 * np.sin(np.pi * i / 4)) for i in range(5)]
    l_brow = [(70 + 6 * i, 46 - 2 * np.sin(np.pi * i / 4)) for i in range(5)]
    bridge = [(64, 54 + 5 * i) for i in range(4)]
    base = [(56 + 4 * i, 74) for i in range(5)]
    def eye(cx):
        return [(cx - 8, 58), (cx - 4, 55), (cx + 4, 55), (cx + 8, 58), (cx + 4, 61), (cx - 4, 61)]
    outer = [(50 + 28 * (0.5 - 0.5 * np.cos(np.pi * i / 6)), 90 - 4 * np.sin(np.pi * i / 6)) for i in range(7)]
    outer += [(78 - 28 * (0.5 - 0.5 * np.cos(np.pi * i / 6)), 90 + 6 * np.sin(np.pi * i / 6)) for i in range(1, 6)]
    inner = [(54, 90), (60, 89), (64, 89), (68, 89), (74, 90), (68, 92), (64, 92), (60, 92)]
    pts = np.array(jaw + r_brow + l_brow + bridge + base + eye(44) + eye(84) + outer + inner, np.float64)
    assert pts.shape == (68, 2)
    return pts * s


def test_heatmaps_peak_at_their_landmarks_at_any_size():
    lm = synthetic_landmarks(128)
    hm = render_heatmaps(lm[None], 64, 128, sigma=1.5)
    assert hm.shape == (1, 68, 64, 64) and hm.dtype == np.float32
    for k in (0, 30, 36, 48):
        y, x = np.unravel_index(hm[0, k].argmax(), (64, 64))
        ex, ey = (lm[k] + 0.5) / 2 - 0.5
        assert abs(x - ex) <= 0.5 and abs(y - ey) <= 0.5
    assert hm.max() <= 1.0 and hm[0, 30].max() > 0.8


def test_parsing_from_landmarks_labels_each_part_where_it_is():
    lm = synthetic_landmarks(128)
    lab = parsing_from_landmarks(lm, 128)
    assert lab.shape == (128, 128) and lab.dtype == np.uint8
    at = lambda p: CLASSES[lab[int(round(p[1])), int(round(p[0]))]]  # noqa: E731
    assert at(lm[36:42].mean(0)) == "r_eye" and at(lm[42:48].mean(0)) == "l_eye"  # subject's right = image left
    assert at(lm[19]) == "r_brow" and at(lm[24]) == "l_brow"
    assert at(lm[30] - [0, 3]) == "nose"
    assert at(lm[51] + [0, 1]) == "u_lip" and at(lm[57] - [0, 1]) == "l_lip"
    assert at(lm[60:68].mean(0)) == "mouth"
    assert at((lm[2] + lm[30]) / 2) == "skin"
    assert at([2, 2]) == "background" and at([64, 36]) == "skin"  # the forehead above the brows is skin
    # at half size the same layout, scaled
    small = parsing_from_landmarks(lm, 64, src_size=128)
    assert CLASSES[small[int(lm[36:42].mean(0)[1] / 2), int(lm[36:42].mean(0)[0] / 2)]] == "r_eye"
    assert parsing_maps(lm[None].repeat(3, 0), 32, 128).shape == (3, 32, 32)


def test_label_folder_loads_matching_names_and_refuses_bad_files(tmp_path):
    from PIL import Image

    lab = np.zeros((64, 64), np.uint8)
    lab[10:20, 10:20] = LABEL["nose"]
    Image.fromarray(lab).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(np.full((8, 8), 40, np.uint8)).save(tmp_path / "big.png")
    out = load_label_folder(tmp_path, ["faces/a.jpg"], 32)
    assert out.shape == (1, 32, 32) and out[0, 7, 7] == LABEL["nose"] and out[0, 0, 0] == 0
    for name, msg in (("b.jpg", "no parsing map"), ("rgb.jpg", "not a label map"), ("big.jpg", "outside")):
        with pytest.raises(FacesrError, match=msg):
            load_label_folder(tmp_path, [name], 32)


def test_overlay_tints_only_labelled_pixels():
    img = np.full((4, 4, 3), 100, np.uint8)
    lab = np.zeros((4, 4), np.uint8)
    lab[0, 0] = LABEL["skin"]
    out = overlay(img, lab)
    assert (out[1:, :] == 100).all() and not (out[0, 0] == 100).all()


def test_dlib_annotates_an_aligned_crop():
    pytest.importorskip("dlib")
    from facesr.priors.landmarks import annotate_faces

    from PIL import Image
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "facesr" / "assets" / "sample_face_hr128.png"
    img = np.asarray(Image.open(sample).convert("RGB"))
    lm, found = annotate_faces(img[None])
    assert lm.shape == (1, 68, 2)
    # eyes above the mouth, the nose tip between them, all inside the crop
    assert lm[0, 36:48, 1].mean() < lm[0, 30, 1] < lm[0, 48:60, 1].mean()
    assert (lm > -8).all() and (lm < 136).all()  # the chin may sit just below the crop
    lab = parsing_from_landmarks(lm[0], 128)
    assert {LABEL["skin"], LABEL["l_eye"], LABEL["r_eye"], LABEL["nose"]} <= set(np.unique(lab).tolist())


def test_a_mirrored_face_has_its_left_and_right_labels_swapped():
    from facesr.data.datasets import IBUG68_FLIP, Augment
    from facesr.priors.parsing import flip_labels

    lm = synthetic_landmarks(128)
    lab = parsing_from_landmarks(lm, 128)
    p = {"size": 128, "flip": True, "zoom": None, "crop": None, "rot": 0}
    aug = Augment()
    mirrored = aug.apply(p, flip_labels(lab), "nearest")
    # rasterising the mirrored landmarks gives the mirrored, relabelled map (up to polygon edge pixels)
    direct = parsing_from_landmarks(aug.apply_points(p, lm, IBUG68_FLIP), 128)
    assert (mirrored == direct).mean() > 0.97
    assert (flip_labels(flip_labels(lab)) == lab).all()


def test_trainer_builds_landmark_and_parsing_priors_from_its_cache(face_folder, tmp_path):
    """``landmarks: auto`` and ``priors: {parsing: auto}``: annotated once per HR cache, reused, aligned
    row by row, and a mirrored sample's parsing map has its left/right labels swapped."""
    pytest.importorskip("dlib")
    from facesr.training.config import load_config
    from facesr.training.trainer import make_trainer

    from conftest import TINY_SPARNET

    raw = {"name": "p", "output_dir": str(tmp_path / "runs"), "model": {"name": "sparnet", "settings": TINY_SPARNET},
           "data": {"train": {"root": str(face_folder), "cache": str(tmp_path / "c.npy"), "landmarks": "auto",
                              "priors": {"parsing": "auto"}}},
           "train": {"batch_size": 2, "steps": 1},
           "log": {"progress": False, "tensorboard": False, "val_every": 0}}
    tr = make_trainer(load_config(raw=raw))
    assert (tmp_path / "c_lm68.npy").is_file() and (tmp_path / "c_parsing.npy").is_file()
    lm = np.load(tmp_path / "c_lm68.npy")
    maps = np.load(tmp_path / "c_parsing.npy")
    assert lm.shape == (24, 68, 2) and maps.shape == (24, 128, 128)
    assert (maps[3] == parsing_from_landmarks(lm[3], 128)).all()
    s = tr.train_set.item(3)  # no rng: no augmentation
    assert (s["parsing"] == maps[3]).all() and np.allclose(s["landmarks"], lm[3])
    from facesr.priors.parsing import FLIP_PAIRS

    assert tr.train_set.label_flips == {"parsing": [tuple(p) for p in FLIP_PAIRS]}
