"""Bad input gets a clear ValueError/TypeError that names the parameter."""

import numpy as np
import pytest

from invrestore.operators import Blur, Downsample, Gradient, Identity, Mask

K = np.ones((3, 3)) / 9


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_image(bad):
    x = np.zeros((8, 8))
    x[3, 4] = bad
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        Blur(K, (8, 8)) @ x
    with pytest.raises(ValueError, match="b contains NaN or Inf"):
        Blur(K, (8, 8)).solve_normal(x, 1.0)
    with pytest.raises(ValueError, match="y contains NaN or Inf"):
        Identity((8, 8)).apply_adjoint(x)


def test_nan_kernel():
    with pytest.raises(ValueError, match="kernel contains NaN"):
        Blur(np.array([[1.0, np.nan]]), (8, 8))


def test_kernel_larger_than_image():
    with pytest.raises(ValueError, match=r"kernel of shape \(9, 3\) is larger than the image"):
        Blur(np.ones((9, 3)), (8, 8))


def test_kernel_summing_to_zero():
    with pytest.raises(ValueError, match="kernel sums to zero"):
        Blur(np.array([[1.0, -1.0]]), (8, 8))


def test_kernel_wrong_ndim_and_dtype():
    with pytest.raises(ValueError, match="kernel must be a 2-D array"):
        Blur(np.ones(3), (8, 8))
    with pytest.raises(TypeError, match="kernel must hold real numbers"):
        Blur(np.ones((3, 3), complex), (8, 8))


def test_unknown_boundary():
    with pytest.raises(ValueError, match="boundary must be one of"):
        Blur(K, (8, 8), boundary="mirror")
    with pytest.raises(ValueError, match="boundary must be"):
        Gradient((8, 8), boundary="zero")


def test_mask_of_wrong_shape():
    with pytest.raises(ValueError, match=r"mask has shape \(4, 4\).*image shape \(8, 8\)"):
        Mask(np.ones((4, 4), bool), (8, 8))
    with pytest.raises(ValueError, match="mask must be"):
        Mask(np.ones(4, bool))
    with pytest.raises(ValueError, match="mask contains NaN"):
        Mask(np.full((4, 4), np.nan))


@pytest.mark.parametrize("factor", [1.5, "2", None])
def test_non_integer_factor(factor):
    with pytest.raises(TypeError, match="factor must be an integer"):
        Downsample(factor, (8, 8))


def test_integral_float_factor_is_accepted():
    assert Downsample(2.0, (8, 8)).factor == (2, 2)
    assert Downsample((np.int64(2), 4.0), (8, 8)).factor == (2, 4)


@pytest.mark.parametrize("factor", [0, -2, (2, 0)])
def test_factor_below_one(factor):
    with pytest.raises(ValueError, match="factor must be >= 1"):
        Downsample(factor, (8, 8))


def test_offset_not_below_factor():
    with pytest.raises(ValueError, match="offset must be smaller than factor"):
        Downsample(2, (8, 8), offset=2)


@pytest.mark.parametrize("shape", [(8,), (8, 8, 3, 2), ()])
def test_wrong_ndim_shape(shape):
    with pytest.raises(ValueError, match=r"shape must be \(H, W\) or \(H, W, C\)|shape must"):
        Blur(K, shape)


@pytest.mark.parametrize("shape", [(8, 0), (8, -1)])
def test_non_positive_shape(shape):
    with pytest.raises(ValueError, match="shape must hold positive integers"):
        Identity(shape)


def test_float_shape_is_a_type_error():
    with pytest.raises(TypeError, match="shape must be a tuple of positive integers"):
        Identity((8.0, 8))


def test_input_of_wrong_shape_dtype_or_type():
    A = Blur(K, (8, 8))
    with pytest.raises(ValueError, match=r"x must have shape \(8, 8\), got \(8, 9\)"):
        A @ np.zeros((8, 9))
    with pytest.raises(ValueError, match=r"x must have shape \(8, 8\), got \(8, 8, 3\)"):
        A @ np.zeros((8, 8, 3))
    with pytest.raises(TypeError, match="x must be float32 or float64"):
        A @ np.zeros((8, 8), dtype=np.uint8)
    with pytest.raises(TypeError, match="x must be a NumPy or CuPy array"):
        A @ [[0.0] * 8] * 8


def test_shape_mismatch_in_composition_and_sum():
    with pytest.raises(ValueError, match=r"cannot compose .*out_shape \(4, 4\).*in_shape \(8, 8\)"):
        Blur(K, (8, 8)) @ Downsample(2, (8, 8))
    with pytest.raises(ValueError, match="cannot add"):
        Identity((8, 8)) + Identity((8, 9))


def test_operator_times_operator_is_refused():
    with pytest.raises(TypeError, match="use A @ B to compose"):
        Identity((4, 4)) * Identity((4, 4))
    with pytest.raises(TypeError):
        Identity((4, 4)) * "2"


@pytest.mark.parametrize("rho", [0, -1.0, np.nan, np.inf])
def test_rho_must_be_positive_and_finite(rho):
    for op in (Blur(K, (8, 8)), Blur(K, (8, 8), boundary="zero")):
        with pytest.raises(ValueError, match="rho must be"):
            op.solve_normal(np.zeros((8, 8)), rho)


def test_rho_of_wrong_type():
    with pytest.raises(TypeError, match="rho must be a real number"):
        Identity((4, 4)).solve_normal(np.zeros((4, 4)), "1")
