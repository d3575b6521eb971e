import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invrestore.degradations import add_gaussian_noise, add_poisson_noise, random_mask


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gaussian_noise_statistics_dtype_shape(dtype):
    x = np.full((200, 150, 3), 0.5, dtype=dtype)
    y = add_gaussian_noise(x, 25 / 255, rng=0)
    assert y.dtype == dtype and y.shape == x.shape
    n = (y - x).astype(np.float64)
    assert abs(n.mean()) < 3 * (25 / 255) / math.sqrt(n.size) * 2
    assert n.std() == pytest.approx(25 / 255, rel=0.01)


def test_gaussian_noise_is_not_clipped():
    y = add_gaussian_noise(np.zeros((64, 64)), 0.2, rng=1)
    assert y.min() < 0 and y.max() > 0


def test_gaussian_noise_reproducible_and_same_across_dtypes():
    x = np.random.default_rng(3).random((16, 16))
    a = add_gaussian_noise(x, 0.1, rng=7)
    b = add_gaussian_noise(x, 0.1, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    c = add_gaussian_noise(x.astype(np.float32), 0.1, rng=7)
    np.testing.assert_allclose(c, a, atol=1e-6)
    expected = x + 0.1 * np.random.default_rng(7).standard_normal(x.shape)
    np.testing.assert_allclose(a, expected, rtol=0, atol=1e-15)
    assert not np.array_equal(a, add_gaussian_noise(x, 0.1, rng=8))


def test_gaussian_noise_generator_state_advances():
    rng = np.random.default_rng(0)
    x = np.zeros((8, 8))
    assert not np.array_equal(add_gaussian_noise(x, 1.0, rng=rng), add_gaussian_noise(x, 1.0, rng=rng))


def test_gaussian_noise_zero_sigma_is_identity():
    x = np.random.default_rng(0).random((5, 5))
    np.testing.assert_array_equal(add_gaussian_noise(x, 0.0, rng=0), x)


@pytest.mark.parametrize("x, sigma, rng, exc, match", [
    (np.zeros((4, 4)), -0.1, None, ValueError, "sigma"),
    (np.zeros((4, 4)), float("nan"), None, ValueError, "sigma"),
    (np.array([[0.0, np.nan]]), 0.1, None, ValueError, "NaN"),
    (np.zeros((4, 4), dtype=np.uint8), 0.1, None, TypeError, "float"),
    ([[0.0]], 0.1, None, TypeError, "array"),
    (np.zeros((4, 4)), 0.1, "seed", TypeError, "rng"),
    (np.zeros((4, 4)), 0.1, -1, ValueError, "rng"),
])
def test_gaussian_noise_errors(x, sigma, rng, exc, match):
    with pytest.raises(exc, match=match):
        add_gaussian_noise(x, sigma, rng=rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_poisson_noise_statistics(dtype):
    peak = 30.0
    x = np.full((300, 300), 0.4, dtype=dtype)
    y = add_poisson_noise(x, peak, rng=0)
    assert y.dtype == dtype and y.shape == x.shape
    assert float(y.mean()) == pytest.approx(0.4, abs=0.005)
    assert float(y.var()) == pytest.approx(0.4 / peak, rel=0.03)
    # values are counts / peak
    counts = y.astype(np.float64) * peak
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-4)


def test_poisson_noise_reproducible_and_zero_stays_zero():
    x = np.random.default_rng(0).random((32, 32))
    x[0, 0] = 0
    a, b = add_poisson_noise(x, 5.0, rng=2), add_poisson_noise(x, 5.0, rng=2)
    np.testing.assert_array_equal(a, b)
    assert a[0, 0] == 0


@pytest.mark.parametrize("x, peak, exc, match", [
    (np.full((4, 4), -0.1), 10.0, ValueError, ">= 0"),
    (np.ones((4, 4)), 0.0, ValueError, "peak"),
    (np.ones((4, 4)), -3.0, ValueError, "peak"),
    (np.array([[np.inf]]), 3.0, ValueError, "NaN"),
])
def test_poisson_noise_errors(x, peak, exc, match):
    with pytest.raises(exc, match=match):
        add_poisson_noise(x, peak)


@given(h=st.integers(1, 40), w=st.integers(1, 40), missing=st.floats(0, 1),
       seed=st.integers(0, 2**32 - 1))
def test_random_mask_exact_count(h, w, missing, seed):
    m = random_mask((h, w), missing, rng=seed)
    assert m.dtype == bool and m.shape == (h, w)
    assert int((~m).sum()) == math.floor(missing * h * w + 0.5)


@given(c=st.integers(1, 4), seed=st.integers(0, 1000))
def test_random_mask_channels_share_the_spatial_mask(c, seed):
    m = random_mask((12, 9, c), 0.4, rng=seed)
    assert m.shape == (12, 9, c)
    np.testing.assert_array_equal(m, np.repeat(m[..., :1], c, axis=2))
    np.testing.assert_array_equal(m[..., 0], random_mask((12, 9), 0.4, rng=seed))


def test_random_mask_extremes_and_reproducibility():
    assert random_mask((5, 5), 0.0, rng=0).all()
    assert not random_mask((5, 5), 1.0, rng=0).any()
    np.testing.assert_array_equal(random_mask((30, 30), 0.5, rng=4), random_mask((30, 30), 0.5, rng=4))
    assert not np.array_equal(random_mask((30, 30), 0.5, rng=4), random_mask((30, 30), 0.5, rng=5))


@pytest.mark.parametrize("shape, missing, exc, match", [
    ((5,), 0.5, ValueError, "shape"),
    ((5, 5, 3, 2), 0.5, ValueError, "shape"),
    ((5, 0), 0.5, ValueError, "shape"),
    ((5, 5.5), 0.5, ValueError, "shape"),
    (5, 0.5, TypeError, "shape"),
    ((5, 5), 1.5, ValueError, "missing"),
    ((5, 5), -0.1, ValueError, "missing"),
])
def test_random_mask_errors(shape, missing, exc, match):
    with pytest.raises(exc, match=match):
        random_mask(shape, missing)
