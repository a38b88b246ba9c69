import numpy as np
import pytest
import torch
from PIL import Image

from facesr.data.resize import KERNELS, pil_resize, resize, resize_np, resize_uint8, weight_matrix

SIZES = [((128, 128), (16, 16)), ((16, 16), (128, 128)), ((128, 128), (64, 64)), ((37, 53), (100, 19)),
         ((250, 250), (128, 128)), ((7, 5), (7, 9))]


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear", "box"])
@pytest.mark.parametrize("src,dst", SIZES)
def test_uint8_bit_exact_against_pil(kernel, src, dst):
    rng = np.random.default_rng(hash((kernel, src, dst)) % 2**32)
    a = rng.integers(0, 256, src + (3,), dtype=np.uint8)
    ref = np.asarray(Image.fromarray(a).resize(dst[::-1], resample=KERNELS[kernel][2]))
    assert np.array_equal(resize_uint8(a, dst, kernel), ref)


@pytest.mark.parametrize("kernel", ["bicubic", "bilinear"])
@pytest.mark.parametrize("src,dst", SIZES)
def test_float_matches_pil_mode_F(kernel, src, dst):
    rng = np.random.default_rng(1)
    f = rng.random(src).astype(np.float32)
    ref = np.asarray(Image.fromarray(f, mode="F").resize(dst[::-1], KERNELS[kernel][2]))
    t = resize(torch.from_numpy(f)[None, None].double(), dst, kernel)[0, 0].numpy()
    assert np.abs(t - ref).max() < 1e-5
    assert np.abs(resize_np(f, dst, kernel) - ref).max() < 1e-5


def test_torch_resize_is_batched_and_differentiable():
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    y = resize(x, 128)
    assert y.shape == (2, 3, 128, 128)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # each image resized independently
    assert torch.allclose(resize(x[1:], 128), y[1:], atol=1e-6)


def test_resize_after_inference_mode_still_records_gradients():
    """The cached weights first made under inference_mode must not turn later resizes into errors."""
    with torch.inference_mode():
        resize(torch.rand(1, 3, 12, 12), 40)
    x = torch.rand(1, 3, 12, 12, requires_grad=True)
    resize(x, 40).sum().backward()
    assert x.grad is not None


def test_weights_rows_sum_to_one_and_antialias_widens_support():
    W = weight_matrix(128, 16, "bicubic")
    assert np.allclose(W.sum(1), 1.0)
    assert (W[5] != 0).sum() == 32  # support 2 * scale 8 on each side
    assert np.array_equal(pil_resize(np.zeros((8, 8, 3), np.uint8), 4), np.zeros((4, 4, 3), np.uint8))


def test_unknown_kernel():
    with pytest.raises(ValueError, match="bicubic"):
        weight_matrix(4, 2, "lanczos7")
