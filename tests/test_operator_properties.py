"""Property-based checks over shapes, dtypes, kernels and rho."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from invrestore.operators import Blur, Downsample, Gradient, Mask
from invrestore.testing import check_adjoint, check_normal_solve

TOL = {np.float64: 1e-10, np.float32: 1e-5}


@st.composite
def image_shapes(draw, min_side=4, max_side=33):
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    c = draw(st.sampled_from([None, 1, 3]))
    return (h, w) if c is None else (h, w, c)


@st.composite
def kernels(draw, shape):
    kh = draw(st.integers(1, min(9, shape[0])))
    kw = draw(st.integers(1, min(9, shape[1])))
    seed = draw(st.integers(0, 2**31))
    k = np.random.default_rng(seed).random((kh, kw)) + 0.01
    if draw(st.booleans()):  # doubly symmetric, exercises the DCT path under "reflect"
        k = k + k[::-1] + k[:, ::-1] + k[::-1, ::-1]
    return k / k.sum()


@given(data=st.data(), shape=image_shapes(),
       boundary=st.sampled_from(["circular", "reflect", "zero", "valid"]),
       dtype=st.sampled_from([np.float64, np.float32]),
       rho=st.floats(1e-3, 10.0))
def test_blur_contracts(data, shape, boundary, dtype, rho):
    k = data.draw(kernels(shape))
    op = Blur(k, shape, boundary=boundary)
    assert check_adjoint(op, dtype=dtype) < TOL[dtype]
    if dtype == np.float64:
        kwargs = {} if op.exact_solve else {"tol": 1e-10, "max_iter": 5000}
        assert check_normal_solve(op, rho, **kwargs) < 1e-8


@given(shape=image_shapes(min_side=6), f0=st.integers(1, 4), f1=st.integers(1, 4),
       data=st.data(), rho=st.floats(1e-3, 10.0))
def test_decimation_after_blur_contracts(shape, f0, f1, data, rho):
    o0, o1 = data.draw(st.integers(0, f0 - 1)), data.draw(st.integers(0, f1 - 1))
    shape = (shape[0] - shape[0] % f0 or f0, shape[1] - shape[1] % f1 or f1) + shape[2:]
    k = data.draw(kernels(shape))
    op = Downsample((f0, f1), shape, offset=(o0, o1)) @ Blur(k, shape)
    assert op.exact_solve
    assert check_adjoint(op) < 1e-10
    assert check_normal_solve(op, rho) < 1e-9
    assert check_normal_solve(op.H, rho) < 1e-9


@given(shape=image_shapes(), rho=st.floats(1e-4, 100.0), seed=st.integers(0, 1000),
       boundary=st.sampled_from(["neumann", "circular"]))
def test_mask_and_gradient_exact_solves(shape, rho, seed, boundary):
    m = np.random.default_rng(seed).random(shape)
    for op in (Mask(m), Mask(m > 0.5), Gradient(shape, boundary=boundary)):
        assert check_adjoint(op) < 1e-10
        assert check_normal_solve(op, rho) < 1e-9
