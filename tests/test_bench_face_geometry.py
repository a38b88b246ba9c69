"""The geometry behind benchmarks/bench_face_geometry.py: eye centres and distances from 68 landmarks, and
the photo box that moves one set's mean face to where another set's mean face sits."""
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_face_geometry.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(_PATH)


def _face(left_eye, right_eye, mouth):
    lm = np.zeros((68, 2))
    lm[36:42], lm[42:48], lm[48:68] = left_eye, right_eye, mouth
    return lm


def test_geometry_reads_eyes_and_mouth(bench):
    g = bench.geometry(np.stack([_face((40, 50), (80, 50), (60, 95)), _face((50, 40), (74, 40), (62, 76))]))
    np.testing.assert_allclose(g["iod"], [40, 24])
    np.testing.assert_allclose(g["eye_mouth"], [45, 36])
    np.testing.assert_allclose(g["x"], [60, 62])
    np.testing.assert_allclose(g["y"], [50, 40])


def test_matched_box_moves_the_mean_face(bench):
    """Cutting the photo with the returned box and resizing it to the frame puts the source's eye centre
    and IOD exactly where the target's are."""
    src = bench.geometry(_face((40, 50), (80, 50), (60, 95))[None])  # in a 128 px frame cut from a 136 px box
    dst = bench.geometry(_face((35, 30), (85, 30), (60, 80))[None])
    left, top, right, bottom = bench.matched_box(src, dst, (57.0, 57.0, 136.0), 128)
    assert right - left == pytest.approx(bottom - top)
    k0, k = 136.0 / 128, (right - left) / 128
    eye = np.array([57.0 + 60 * k0, 57.0 + 50 * k0])  # the source's eye centre in photo pixels
    np.testing.assert_allclose([(eye[0] - left) / k, (eye[1] - top) / k], [60, 30])
    assert 40 * k0 / k == pytest.approx(50)  # the source's IOD, in the new frame, is the target's
