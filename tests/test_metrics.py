import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from skimage.metrics import structural_similarity

from invrestore.metrics import psnr, rgb2y, shave, ssim


def test_psnr_hand_computation():
    ref = np.zeros((4, 5))
    x = ref.copy()
    x[0, 0] = 0.5  # MSE = 0.25 / 20
    assert psnr(x, ref) == pytest.approx(10 * math.log10(1 / (0.25 / 20)), rel=1e-14)
    assert psnr(x, ref, data_range=255) == pytest.approx(10 * math.log10(255**2 / (0.25 / 20)))
    # the changed pixel is in the border: shaving it gives identical images
    assert psnr(x, ref, shave=1) == math.inf
    assert psnr(ref, ref) == math.inf
    assert isinstance(psnr(x, ref), float)


@given(sigma=st.floats(1e-3, 0.5), seed=st.integers(0, 100), dtype=st.sampled_from(["f4", "f8"]))
def test_psnr_matches_mse_formula(sigma, seed, dtype):
    rng = np.random.default_rng(seed)
    ref = rng.random((10, 9, 3)).astype(dtype)
    x = (ref + sigma * rng.standard_normal(ref.shape)).astype(dtype)
    mse = np.mean((x.astype(np.float64) - ref.astype(np.float64)) ** 2)
    assert psnr(x, ref) == pytest.approx(-10 * math.log10(mse), rel=1e-12)


def test_psnr_integer_inputs_use_values_as_given():
    ref = np.full((4, 4), 100, dtype=np.uint8)
    x = ref + np.uint8(5)
    assert psnr(x, ref, data_range=255) == pytest.approx(10 * math.log10(255**2 / 25))


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(ValueError, match=r"\(16, 16\).*\(16, 17\)"):
        fn(np.zeros((16, 16)), np.zeros((16, 17)))


@pytest.mark.parametrize("fn", [psnr, ssim])
@pytest.mark.parametrize("x, ref, kwargs, exc, match", [
    (np.array([[np.nan] * 12] * 12), np.zeros((12, 12)), {}, ValueError, "x contains NaN"),
    (np.zeros((12, 12)), np.full((12, 12), np.inf), {}, ValueError, "ref contains NaN"),
    (np.zeros(12), np.zeros(12), {}, ValueError, "shape"),
    (np.zeros((12, 12)), np.zeros((12, 12)), {"data_range": 0}, ValueError, "data_range"),
    (np.zeros((12, 12)), np.zeros((12, 12)), {"shave": -1}, ValueError, "shave"),
    (np.zeros((12, 12)), np.zeros((12, 12)), {"shave": 6}, ValueError, "shave"),
    ([[0.0]], np.zeros((1, 1)), {}, TypeError, "x must be"),
    (np.zeros((12, 12), dtype=complex), np.zeros((12, 12)), {}, TypeError, "real"),
])
def test_metric_errors(fn, x, ref, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(x, ref, **kwargs)


@pytest.mark.parametrize("shape", [(40, 33), (40, 33, 3)])
def test_ssim_matches_skimage_wang_convention(shape):
    rng = np.random.default_rng(0)
    ref = rng.random(shape)
    x = np.clip(ref + 0.1 * rng.standard_normal(shape), 0, 1)
    expected = structural_similarity(
        x, ref, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        channel_axis=-1 if len(shape) == 3 else None)
    assert ssim(x, ref) == pytest.approx(expected, rel=1e-12)
    assert ssim(ref, ref) == pytest.approx(1.0)
    expected_shaved = structural_similarity(
        x[3:-3, 3:-3], ref[3:-3, 3:-3], data_range=1.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, channel_axis=-1 if len(shape) == 3 else None)
    assert ssim(x, ref, shave=3) == pytest.approx(expected_shaved, rel=1e-12)
    assert isinstance(ssim(x, ref), float)


def test_ssim_float32_and_small_image_error():
    rng = np.random.default_rng(1)
    ref = rng.random((20, 20))
    x = ref + 0.05
    assert ssim(x.astype(np.float32), ref.astype(np.float32)) == pytest.approx(ssim(x, ref), rel=1e-6)
    with pytest.raises(ValueError, match="11 x 11"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))


@pytest.mark.parametrize("rgb, y255", [
    ((0, 0, 0), 16.0),
    ((1, 1, 1), 235.0),
    ((1, 0, 0), 16 + 65.481),
    ((0, 1, 0), 16 + 128.553),
    ((0, 0, 1), 16 + 24.966),
    ((0.5, 0.5, 0.5), 16 + 219 / 2),
])
def test_rgb2y_known_colours(rgb, y255):
    x = np.array(rgb, dtype=np.float64).reshape(1, 1, 3)
    y = rgb2y(x)
    assert y.shape == (1, 1) and y.dtype == np.float64
    assert float(y[0, 0]) * 255 == pytest.approx(y255, abs=1e-10)
    y32 = rgb2y(x.astype(np.float32))
    assert y32.dtype == np.float32
    assert float(y32[0, 0]) * 255 == pytest.approx(y255, abs=1e-4)


def test_rgb2y_uint8_matches_float():
    x = np.random.default_rng(2).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    y = rgb2y(x)
    assert y.dtype == np.float64 and y.shape == (7, 5)
    np.testing.assert_allclose(y, rgb2y(x / 255.0), rtol=1e-15)
    r, g, b = (x[..., i].astype(np.float64) for i in range(3))
    np.testing.assert_allclose(y * 255, 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255,
                               rtol=1e-13)


@pytest.mark.parametrize("x, exc", [
    (np.zeros((4, 4)), ValueError),
    (np.zeros((4, 4, 4)), ValueError),
    (np.zeros((4, 4, 3), dtype=np.int32), TypeError),
    (np.full((4, 4, 3), np.nan), ValueError),
])
def test_rgb2y_errors(x, exc):
    with pytest.raises(exc, match="x"):
        rgb2y(x)


def test_shave():
    x = np.arange(60.0).reshape(6, 10)
    np.testing.assert_array_equal(shave(x, 2), x[2:4, 2:8])
    assert shave(x, 0) is x
    assert shave(np.zeros((9, 8, 3)), 1).shape == (7, 6, 3)
    with pytest.raises(ValueError, match="border"):
        shave(x, 3)
    with pytest.raises(ValueError, match="border"):
        shave(x, -1)
    with pytest.raises(ValueError, match="border"):
        shave(x, 1.5)
    with pytest.raises(ValueError, match="shape"):
        shave(np.zeros(5), 1)
