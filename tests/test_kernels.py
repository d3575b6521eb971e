import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invrestore.degradations import (
    anisotropic_gaussian_kernel,
    disk_kernel,
    gaussian_kernel,
    motion_kernel,
    uniform_kernel,
    validate_kernel,
)


def _centroid(k):
    rows, cols = np.indices(k.shape)
    return (rows * k).sum(), (cols * k).sum()


def _check_kernel(k):
    assert isinstance(k, np.ndarray) and k.dtype == np.float64 and k.ndim == 2
    assert np.all(np.isfinite(k))
    assert abs(k.sum() - 1.0) < 1e-12


@given(sigma=st.floats(0.3, 6.0))
def test_gaussian_kernel_default_size_sum_symmetry(sigma):
    k = gaussian_kernel(sigma)
    _check_kernel(k)
    n = 2 * math.ceil(3 * sigma) + 1
    assert k.shape == (n, n)
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)
    assert k[n // 2, n // 2] == k.max()


def test_gaussian_kernel_matches_formula_and_variance():
    k = gaussian_kernel(2.0, size=(7, 9))
    assert k.shape == (7, 9)
    y, x = np.mgrid[-3:4, -4:5]
    g = np.exp(-(x**2 + y**2) / 8.0)
    np.testing.assert_allclose(k, g / g.sum(), rtol=1e-13)
    big = gaussian_kernel(2.0, size=41)
    _, cols = np.indices(big.shape)
    assert abs(((cols - 20) ** 2 * big).sum() - 4.0) < 1e-6


def test_anisotropic_gaussian_orientation():
    k0 = anisotropic_gaussian_kernel(4.0, 1.0)
    # sigma_x along the horizontal axis: the middle row holds more mass than the middle column
    c = k0.shape[0] // 2
    assert k0[c, :].sum() > 3 * k0[:, c].sum()
    np.testing.assert_allclose(anisotropic_gaussian_kernel(4.0, 1.0, angle=90), k0.T, atol=1e-15)
    # 45 degrees counter-clockwise: mass along the anti-diagonal (bottom-left to top-right)
    k45 = anisotropic_gaussian_kernel(4.0, 1.0, angle=45)
    anti = np.fliplr(k45)
    assert np.trace(anti) > 3 * np.trace(k45)
    np.testing.assert_allclose(anisotropic_gaussian_kernel(2.0, 2.0, angle=33),
                               gaussian_kernel(2.0), atol=1e-15)


@given(sx=st.floats(0.5, 4), sy=st.floats(0.5, 4), angle=st.floats(-360, 360))
def test_anisotropic_gaussian_properties(sx, sy, angle):
    k = anisotropic_gaussian_kernel(sx, sy, angle=angle)
    _check_kernel(k)
    assert k.shape[0] % 2 == 1 and k.shape[0] == k.shape[1]
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-14)
    np.testing.assert_allclose(anisotropic_gaussian_kernel(sx, sy, angle=angle + 180), k,
                               atol=1e-14)


def test_motion_kernel_axis_aligned_like_matlab():
    np.testing.assert_allclose(motion_kernel(9, 0), np.full((1, 9), 1 / 9), rtol=1e-14)
    np.testing.assert_allclose(motion_kernel(9, 90), np.full((9, 1), 1 / 9), rtol=1e-14)
    np.testing.assert_allclose(motion_kernel(9, 180), np.full((1, 9), 1 / 9), rtol=1e-14)
    # even length: the end pixels are half covered
    expected = np.array([[0.5] + [1.0] * 9 + [0.5]]) / 10
    np.testing.assert_allclose(motion_kernel(10, 0), expected, rtol=1e-14)
    np.testing.assert_allclose(motion_kernel(1, 37), [[1.0]])


def test_motion_kernel_direction_counter_clockwise():
    k = motion_kernel(15, 45)
    h, w = k.shape
    assert h == w and h % 2 == 1
    # top-right and bottom-left corners carry mass, the other two do not
    q = h // 2
    assert k[:q, q + 1:].sum() > 0.3 and k[q + 1:, :q].sum() > 0.3
    assert k[:q, :q].sum() < 1e-3 and k[q + 1:, q + 1:].sum() < 1e-3


@given(length=st.floats(1, 25), angle=st.floats(-180, 180))
def test_motion_kernel_properties(length, angle):
    k = motion_kernel(length, angle)
    _check_kernel(k)
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    assert np.all(k >= 0)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-14)
    r, c = _centroid(k)
    assert abs(r - (k.shape[0] - 1) / 2) < 1e-9 and abs(c - (k.shape[1] - 1) / 2) < 1e-9
    # support spans about `length` pixels along the longer side
    assert max(k.shape) <= math.ceil(length) + 2


def test_motion_kernel_explicit_size():
    k = motion_kernel(5, 0, size=9)
    assert k.shape == (9, 9)
    np.testing.assert_allclose(k[4, 2:7], 0.2)
    assert k.sum() == pytest.approx(1.0)


def test_uniform_kernel():
    np.testing.assert_array_equal(uniform_kernel(3), np.full((3, 3), 1 / 9))
    assert uniform_kernel((2, 5)).shape == (2, 5)
    _check_kernel(uniform_kernel(4))


@given(radius=st.floats(0.3, 12))
def test_disk_kernel_properties(radius):
    k = disk_kernel(radius)
    _check_kernel(k)
    n = 2 * math.ceil(radius) + 1
    assert k.shape == (n, n)
    assert np.all(k >= 0)
    np.testing.assert_allclose(k, k.T, atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, :], atol=1e-15)


def test_disk_kernel_areas():
    # the raw areas sum to pi r^2: recover them from the normalised kernel
    for r in (0.5, 1.0, 2.5, 5.0):
        k = disk_kernel(r)
        area = k * math.pi * r * r
        # a fully covered pixel has area 1
        assert area.max() == pytest.approx(1.0, abs=1e-12) or r <= 0.5
    # radius 0.5: the disk fits inside the centre pixel
    np.testing.assert_allclose(disk_kernel(0.5), [[0, 0, 0], [0, 1, 0], [0, 0, 0]], atol=1e-15)
    k = disk_kernel(3)
    # interior pixels are equal, the edge is anti-aliased (strictly between 0 and the interior)
    assert k[3, 3] == pytest.approx(k[3, 4]) == pytest.approx(k[2, 2])
    assert 0 < k[0, 3] < k[3, 3] and 0 < k[0, 2] < k[0, 3]


@pytest.mark.parametrize("fn, args, match", [
    (gaussian_kernel, (0.0,), "sigma"),
    (gaussian_kernel, (-1.0,), "sigma"),
    (gaussian_kernel, (float("nan"),), "sigma"),
    (anisotropic_gaussian_kernel, (1.0, -2.0), "sigma_y"),
    (motion_kernel, (0.5, 0.0), "length"),
    (disk_kernel, (0,), "radius"),
    (uniform_kernel, (0,), "size"),
    (uniform_kernel, ((3, 3, 3),), "size"),
])
def test_generator_errors(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


def test_generator_type_errors():
    with pytest.raises(TypeError, match="sigma"):
        gaussian_kernel("2")
    with pytest.raises(ValueError, match="size"):
        gaussian_kernel(1.0, size=2.5)


def test_validate_kernel_ok_and_copy():
    k = np.ones((3, 3), dtype=np.float32)
    out = validate_kernel(k)
    assert out.dtype == np.float64 and out.shape == (3, 3)
    out[0, 0] = 5
    assert k[0, 0] == 1
    assert validate_kernel([[1, 2]]).tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("bad, match", [
    (np.ones(3), "2-D"),
    (np.ones((2, 2, 2)), "2-D"),
    (np.ones((0, 3)), "empty"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[1.0, np.inf]]), "NaN or Inf"),
    (np.array([[1.0, -1.0]]), "sum"),
    (np.zeros((3, 3)), "sum"),
])
def test_validate_kernel_errors(bad, match):
    with pytest.raises(ValueError, match=match) as info:
        validate_kernel(bad, name="psf")
    assert "psf" in str(info.value)


def test_validate_kernel_type_errors():
    with pytest.raises(TypeError, match="kernel"):
        validate_kernel(np.ones((2, 2), dtype=complex))
    with pytest.raises(TypeError, match="kernel"):
        validate_kernel(np.array([["a"]]))
