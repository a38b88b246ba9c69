import numpy as np
import pytest

from facesr.metrics.face import auc, cosine_similarity, frechet_distance, nme


def test_nme_known_answer():
    ref = np.array([[0, 0], [10, 0], [10, 40], [0, 40]], float)  # bbox 10 x 40 -> sqrt = 20
    pred = ref + np.array([3.0, 4.0])  # every point off by 5 px
    assert nme(pred, ref) == pytest.approx(5 / 20)
    assert nme(ref, ref) == 0.0


def test_auc_known_answers():
    assert auc([0.0, 0.0]) == pytest.approx(1.0, abs=1e-3)
    assert auc([0.2, 0.5]) == pytest.approx(0.0)
    # all errors at 5 %: the CED is 0 up to 0.05 then 1 -> half the area
    assert auc([0.05] * 4) == pytest.approx(0.5, abs=1e-3)
    # half the faces perfect, half failed -> 0.5
    assert auc([0.0, 1.0]) == pytest.approx(0.5, abs=1e-3)


def test_cosine_and_frechet():
    rng = np.random.default_rng(0)
    v = rng.normal(size=128)
    assert cosine_similarity(v, v) == pytest.approx(1.0)
    assert cosine_similarity(v, -v) == pytest.approx(-1.0)
    x = rng.normal(size=(200, 8))
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    # shifting the mean by d adds |d|^2
    assert frechet_distance(x, x + 2.0) == pytest.approx(4.0 * 8, rel=1e-6)
