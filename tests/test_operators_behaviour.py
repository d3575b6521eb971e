"""Operators against independent references (scipy), and their exact structure."""

import numpy as np
import pytest
import scipy.ndimage as ndi
import scipy.signal as sig

from invrestore.operators import Blur, Downsample, Gradient, Identity, Mask

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("ksize", [(3, 3), (5, 4), (4, 6), (1, 7)])
@pytest.mark.parametrize("boundary,mode", [("circular", "wrap"), ("reflect", "reflect"),
                                           ("zero", "constant")])
def test_blur_matches_scipy_ndimage(ksize, boundary, mode):
    x = RNG.random((23, 30))
    k = RNG.random(ksize)
    y = Blur(k, x.shape, boundary=boundary) @ x
    # ndimage.convolve also centres a kernel of size n at index n // 2, odd or even n.
    ref = ndi.convolve(x, k, mode=mode)
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_valid_blur_matches_convolve2d_and_colour_is_per_channel():
    x = RNG.random((20, 17, 3))
    k = RNG.random((5, 3))
    y = Blur(k, x.shape, boundary="valid") @ x
    assert y.shape == (16, 15, 3)
    for c in range(3):
        np.testing.assert_allclose(y[..., c], sig.convolve2d(x[..., c], k, mode="valid"),
                                   atol=1e-12)


def test_circular_blur_of_delta_is_the_centred_kernel():
    k = RNG.random((5, 3))
    x = np.zeros((16, 16))
    x[8, 8] = 1.0
    y = Blur(k, x.shape) @ x
    np.testing.assert_allclose(y[6:11, 7:10], k, atol=1e-14)
    assert abs(y.sum() - k.sum()) < 1e-12


def test_normalised_blur_preserves_constants_for_non_zero_boundaries():
    k = np.ones((5, 5)) / 25
    for b in ("circular", "reflect", "valid"):
        y = Blur(k, (12, 12), boundary=b) @ np.full((12, 12), 0.3)
        np.testing.assert_allclose(y, 0.3, atol=1e-14)


def test_reflect_exact_only_for_doubly_symmetric_odd_kernels():
    assert Blur(np.ones((3, 5)), (8, 8), boundary="reflect").exact_solve
    assert not Blur(np.ones((4, 4)), (8, 8), boundary="reflect").exact_solve
    assert not Blur(np.triu(np.ones((3, 3))), (8, 8), boundary="reflect").exact_solve
    assert not Blur(np.ones((3, 3)), (8, 8), boundary="zero").exact_solve


def test_decimation_and_its_adjoint():
    x = np.arange(30.0).reshape(5, 6)
    S = Downsample((2, 3), x.shape, offset=(1, 2))
    np.testing.assert_array_equal(S @ x, x[1::2, 2::3])
    up = S.H @ (S @ x)
    np.testing.assert_array_equal(up[1::2, 2::3], x[1::2, 2::3])
    assert up.sum() == x[1::2, 2::3].sum()
    assert S.out_shape == (2, 2)


def test_super_resolution_composition_is_exact_only_when_it_can_be():
    k = np.ones((3, 3)) / 9
    assert (Downsample(2, (16, 16)) @ Blur(k, (16, 16))).exact_solve
    assert not (Downsample(3, (16, 16)) @ Blur(k, (16, 16))).exact_solve  # 16 % 3 != 0
    assert not (Downsample(2, (16, 16)) @ Blur(k, (16, 16), boundary="zero")).exact_solve
    assert not (Mask(np.ones((8, 8), bool)) @ Downsample(2, (16, 16))
                @ Blur(k, (16, 16))).exact_solve


def test_gradient_matches_numpy_diff_and_adjoint_is_minus_divergence():
    x = RNG.random((9, 11))
    g = Gradient(x.shape) @ x
    np.testing.assert_allclose(g[0, :-1], np.diff(x, axis=0))
    np.testing.assert_allclose(g[1, :, :-1], np.diff(x, axis=1))
    assert not g[0, -1].any() and not g[1, :, -1].any()
    # D^T D is the negative 5-point Laplacian with Neumann boundaries
    lap = Gradient(x.shape).gram(x)
    ref = -ndi.convolve(x, np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0.0]]), mode="nearest")
    np.testing.assert_allclose(lap, ref, atol=1e-12)


def test_mask_weights_and_broadcast_over_channels():
    m = np.array([[True, False], [False, True]])
    M = Mask(m, (2, 2, 3))
    y = M @ np.ones((2, 2, 3))
    assert y[0, 1].sum() == 0 and y[0, 0].sum() == 3
    np.testing.assert_allclose(M.solve_normal(np.ones((2, 2, 3)), 1.0)[0, 0], 0.5)


def test_algebra():
    x = RNG.random((8, 8))
    A = Blur(RNG.random((3, 3)), (8, 8))
    np.testing.assert_allclose((2 * A) @ x, 2 * (A @ x))
    np.testing.assert_allclose((A * 2) @ x, 2 * (A @ x))
    np.testing.assert_allclose((np.float64(2.0) * A) @ x, 2 * (A @ x))
    np.testing.assert_allclose((A - A) @ x, 0, atol=1e-14)
    np.testing.assert_allclose((-A) @ x, -(A @ x))
    np.testing.assert_allclose((A @ A) @ x, A @ (A @ x))
    np.testing.assert_allclose((A @ A).H @ x, A.H @ (A.H @ x))
    assert A.H.H is A
    np.testing.assert_allclose(Identity((8, 8)) @ x, x)


def test_operator_norm_by_power_iteration():
    k = np.ones((3, 3)) / 9
    assert abs(Blur(k, (16, 16)).norm() - 1.0) < 1e-3  # |K(0)| = sum(k) = 1
    assert abs(Gradient((32, 32), boundary="circular").norm() - np.sqrt(8)) < 1e-2
    assert abs((3 * Identity((4, 4))).norm() - 3.0) < 1e-9


def test_warm_started_cg_needs_fewer_iterations():
    from invrestore.operators import conjugate_gradient

    op = Blur(np.ones((5, 5)) / 25, (24, 24), boundary="zero")
    b = RNG.standard_normal(op.in_shape)

    def A(v):
        return op.gram(v) + 0.01 * v

    x, cold = conjugate_gradient(A, b, tol=1e-10, max_iter=2000)
    _, warm = conjugate_gradient(A, b, x0=x + 1e-7 * RNG.standard_normal(x.shape), tol=1e-10)
    assert cold.converged and warm.converged and warm.n_iter < cold.n_iter / 2
    np.testing.assert_allclose(op.solve_normal(b, 0.01, tol=1e-10), x, atol=1e-8)
