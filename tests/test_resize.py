import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invrestore import datasets
from invrestore.degradations import imresize, modcrop
from invrestore.degradations.resize import cubic, resize_weights
from invrestore.metrics import psnr, rgb2y

# Hand-derived MATLAB weights. Shrinking by 2 with antialiasing uses h(t) = cubic(t / 2) / 2 at
# distances +-0.5, +-1.5, +-2.5, +-3.5 (output pixel i sits at u = 2 i - 1/2):
# cubic(0.25) = 111/128, cubic(0.75) = 29/128, cubic(1.25) = -9/128, cubic(1.75) = -3/128.
DOWN2 = np.array([-3, -9, 29, 111, 111, 29, -9, -3]) / 256
# Enlarging by 2: u = i / 2 + 1/4, distances 1.75, 0.75, -0.25, -1.25 for odd outputs.
UP2 = np.array([-3, 29, 111, -9]) / 128
# Shrinking by 2 without antialiasing: plain cubic at distances 1.5, 0.5: -1/16, 9/16.
DOWN2_NOAA = np.array([-1, 9, 9, -1]) / 16


def reference_resize_1d(v, out_len, scale, antialiasing=True):
    """Slow scalar transcription of MATLAB's definition, one output pixel at a time."""
    n = len(v)
    s = scale if (scale < 1 and antialiasing) else 1.0
    width = 4.0 / s
    out = np.empty(out_len)
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        total, acc = 0.0, 0.0
        for j in range(left, left + math.ceil(width) + 2):
            w = s * float(cubic(s * (u - j)))
            jj = j
            while not 1 <= jj <= n:  # mirror with the edge pixel repeated
                jj = 1 - jj if jj < 1 else 2 * n + 1 - jj
            total += w
            acc += w * v[jj - 1]
        out[i - 1] = acc / total
    return out


def test_cubic_kernel_values():
    np.testing.assert_allclose(cubic([0, 0.25, 0.5, 0.75, 1, 1.25, 1.75, 2, 2.5]),
                               [1, 111 / 128, 0.5625, 29 / 128, 0, -9 / 128, -3 / 128, 0, 0])


def test_weights_shrink_by_two_antialiased():
    w, idx = resize_weights(16, 8, 0.5)
    np.testing.assert_allclose(w[3], DOWN2, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(idx[3], np.arange(3, 11))
    # first output pixel: taps -2..5 (0-based) mirrored with the edge pixel repeated
    np.testing.assert_array_equal(idx[0], [2, 1, 0, 0, 1, 2, 3, 4])
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-15)


def test_weights_enlarge_by_two_and_no_antialiasing():
    w, idx = resize_weights(8, 16, 2.0)
    np.testing.assert_allclose(w[4], UP2, atol=1e-15)
    np.testing.assert_allclose(w[5], UP2[::-1], atol=1e-15)
    np.testing.assert_array_equal(idx[4], [0, 1, 2, 3])
    w, _ = resize_weights(16, 8, 0.5, antialiasing=False)
    np.testing.assert_allclose(w[3], DOWN2_NOAA, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 3)])
def test_identity_at_scale_one(dtype, shape):
    x = (np.random.default_rng(0).random(shape) * (255 if dtype == np.uint8 else 1)).astype(dtype)
    y = imresize(x, 1.0)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(imresize(x, output_shape=shape[:2]), x)


@given(h=st.integers(1, 30), w=st.integers(1, 30), scale=st.floats(0.1, 5.0),
       value=st.floats(0, 1), aa=st.booleans())
def test_constant_image_stays_constant(h, w, scale, value, aa):
    x = np.full((h, w), value)
    y = imresize(x, scale, antialiasing=aa)
    assert y.shape == (math.ceil(scale * h - 1e-9), math.ceil(scale * w - 1e-9))
    np.testing.assert_allclose(y, value, atol=1e-12)


def test_constant_uint8_stays_exact():
    x = np.full((20, 14, 3), 137, dtype=np.uint8)
    for s in (0.5, 1 / 3, 0.25, 2, 3):
        np.testing.assert_array_equal(imresize(x, s), 137)


def test_shrink_by_two_matches_hand_weights():
    x = np.random.default_rng(1).random((16, 12))
    y = imresize(x, 0.5)
    assert y.shape == (8, 6)
    # interior output (3, 2) (0-based) sits at u = (7.5, 5.5) (1-based): DOWN2 over rows 3..10
    # and columns 1..8 (0-based)
    np.testing.assert_allclose(y[3, 2], DOWN2 @ x[3:11, 1:9] @ DOWN2, rtol=1e-12)


@given(n=st.integers(4, 40), scale=st.floats(1.0, 6.0))
def test_enlarging_reproduces_linear_ramps_inside(n, scale):
    # Keys' kernel reproduces polynomials of degree <= 2: away from the borders the output of
    # a ramp v_j = j is the source coordinate u_i itself
    v = np.arange(1, n + 1, dtype=np.float64)
    x = np.tile(v[:, None], (1, 3))
    y = imresize(x, (scale, 1.0))[:, 0]
    i = np.arange(1, len(y) + 1)
    u = i / scale + 0.5 * (1 - 1 / scale)
    inside = (u > 3) & (u < n - 2)
    np.testing.assert_allclose(y[inside], u[inside], atol=1e-9)


@given(n=st.integers(1, 25), scale=st.floats(0.15, 4.0), aa=st.booleans(),
       seed=st.integers(0, 100))
def test_matches_scalar_reference(n, scale, aa, seed):
    v = np.random.default_rng(seed).random(n)
    out_len = math.ceil(scale * n - 1e-9)
    expected = reference_resize_1d(v, out_len, scale, aa)
    got = imresize(np.tile(v[:, None], (1, 2)), (scale, 1.0), antialiasing=aa)[:, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_and_channels(dtype):
    x = np.random.default_rng(2).random((21, 17, 3)).astype(dtype)
    y = imresize(x, 1 / 3)
    assert y.dtype == dtype and y.shape == (7, 6, 3)
    for c in range(3):
        np.testing.assert_allclose(y[..., c], imresize(x[..., c], 1 / 3),
                                   rtol=1e-6 if dtype == np.float32 else 1e-14)
    ref = imresize(x.astype(np.float64), 1 / 3)
    np.testing.assert_allclose(y, ref, atol=1e-5 if dtype == np.float32 else 0)


def test_output_shape_and_anisotropic_scale():
    x = np.random.default_rng(3).random((30, 40))
    assert imresize(x, output_shape=(17, 55)).shape == (17, 55)
    assert imresize(x, (0.5, 2)).shape == (15, 80)
    np.testing.assert_allclose(imresize(x, output_shape=(15, 20)), imresize(x, 0.5), atol=1e-14)


def _axis_pass_uint8(x, axis, scale):
    w, idx = resize_weights(x.shape[axis], math.ceil(scale * x.shape[axis] - 1e-9), scale)
    moved = np.moveaxis(x.astype(np.float64), axis, 0)
    out = np.einsum("ip,ip...->i...", w, moved[idx])
    return np.moveaxis(np.floor(np.clip(out, 0, 255) + 0.5).astype(np.uint8), 0, axis)


def test_uint8_rounds_after_each_pass_in_matlab_order():
    x = np.random.default_rng(4).integers(0, 256, (24, 18, 3), dtype=np.uint8)
    y = imresize(x, (0.5, 2.0))
    assert y.dtype == np.uint8 and y.shape == (12, 36, 3)
    # rows (smaller scale) first, then columns
    np.testing.assert_array_equal(y, _axis_pass_uint8(_axis_pass_uint8(x, 0, 0.5), 1, 2.0))
    y = imresize(x, (2.0, 0.5))
    np.testing.assert_array_equal(y, _axis_pass_uint8(_axis_pass_uint8(x, 1, 0.5), 0, 2.0))
    # equal scales: rows first
    y = imresize(x, 1 / 3)
    np.testing.assert_array_equal(y, _axis_pass_uint8(_axis_pass_uint8(x, 0, 1 / 3), 1, 1 / 3))


def test_uint8_close_to_float_and_saturated():
    # smooth content that never saturates: the per-pass rounding then costs at most ~1 level
    r, c = np.mgrid[0:32, 0:32]
    x = np.round(128 + 90 * np.sin(r / 5.0) * np.cos(c / 7.0)).astype(np.uint8)
    y8 = imresize(x, 3).astype(np.float64)
    yf = imresize(x.astype(np.float64), 3)
    assert np.abs(y8 - np.clip(yf, 0, 255)).max() <= 1.5
    # a sharp edge overshoots: float output leaves [0, 255], uint8 output saturates
    step = np.zeros((8, 8), dtype=np.uint8)
    step[:, 4:] = 255
    assert imresize(step.astype(np.float64), 4).max() > 255
    assert imresize(step, 4).max() == 255


def test_modcrop():
    x = np.zeros((10, 11, 3))
    assert modcrop(x, 3).shape == (9, 9, 3)
    assert modcrop(x, 1) is not None and modcrop(x, 1).shape == x.shape
    assert modcrop(np.zeros((8, 8), dtype=np.uint8), 4).shape == (8, 8)
    with pytest.raises(ValueError, match="scale"):
        modcrop(x, 0)
    with pytest.raises(ValueError, match="scale"):
        modcrop(x, 2.5)
    with pytest.raises(ValueError, match="smaller"):
        modcrop(x, 12)
    with pytest.raises(ValueError, match="shape"):
        modcrop(np.zeros(5), 2)


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((np.zeros(5), 0.5), {}, ValueError, "shape"),
    ((np.zeros((2, 2, 2, 2)), 0.5), {}, ValueError, "shape"),
    ((np.zeros((4, 4), dtype=np.int16), 0.5), {}, TypeError, "uint8"),
    ((np.zeros((4, 4), dtype=np.float16), 0.5), {}, TypeError, "float32"),
    ((np.array([[0.0, np.nan]]), 2), {}, ValueError, "NaN"),
    ((np.zeros((4, 4)), 0), {}, ValueError, "scale"),
    ((np.zeros((4, 4)), -2), {}, ValueError, "scale"),
    ((np.zeros((4, 4)), (1, 2, 3)), {}, ValueError, "scale"),
    ((np.zeros((4, 4)), "2"), {}, TypeError, "scale"),
    ((np.zeros((4, 4)),), {}, ValueError, "exactly one"),
    ((np.zeros((4, 4)), 2), {"output_shape": (8, 8)}, ValueError, "exactly one"),
    ((np.zeros((4, 4)),), {"output_shape": (0, 3)}, ValueError, "output_shape"),
    ((np.zeros((4, 4)),), {"output_shape": (2.5, 3)}, ValueError, "output_shape"),
    ((np.zeros((4, 4)), 2), {"antialiasing": "yes"}, TypeError, "antialiasing"),
    ((np.zeros((0, 4)), 2), {}, ValueError, "empty"),
    (([[0.0]], 2), {}, TypeError, "array"),
])
def test_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        imresize(*args, **kwargs)


needs_data = pytest.mark.skipif(datasets.data_dir() is None, reason="test data folder not found")


@pytest.mark.data
@needs_data
def test_set5_baby_x2_bicubic_y_psnr():
    # The SR protocol of benchmarks/bicubic_sr.py; 37.0260 dB is the value it reports (its Set5
    # means, 33.640 / 30.385 / 28.416 dB at x2 / x3 / x4, match the published 33.64 / 30.39 /
    # 28.42).
    path = datasets.data_dir() / "Set5" / "baby_GT.bmp"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    hr = modcrop(datasets.read_image(path), 2)
    assert hr.dtype == np.uint8
    sr = imresize(imresize(hr, 0.5), 2)
    assert sr.dtype == np.uint8 and sr.shape == hr.shape

    def y(img):
        return np.floor(rgb2y(img) * 255 + 0.5) / 255

    assert psnr(y(sr), y(hr), shave=2) == pytest.approx(37.02601, abs=1e-4)
