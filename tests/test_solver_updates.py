"""The one-pass solver updates (``invrestore.kernels.solver_updates``) against plain array code."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invrestore.kernels.solver_updates import admm_update, fista_update


def _sums64(*pairs):
    return [float(np.sum(a.astype(np.float64) * b.astype(np.float64))) for a, b in pairs]


shapes = st.sampled_from([(1,), (7,), (5, 3), (16, 17), (4, 6, 3)])
dtypes = st.sampled_from([np.float32, np.float64])


@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**16), view=st.booleans())
def test_admm_update_matches_array_code(shape, dtype, seed, view):
    rng = np.random.default_rng(seed)
    v, z, x, zp = (rng.standard_normal(shape).astype(dtype) for _ in range(4))
    if view:  # a non-contiguous operand: the array-code path
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    u_ref = v - z
    ref = _sums64((x, x), (x, z), (z, z), (z, zp), (u_ref, u_ref))
    v_in = v.copy()
    u, *sums = admm_update(v_in, z, x, zp)
    assert u is v_in  # in place
    np.testing.assert_array_equal(u, u_ref)  # same float arithmetic as v - z
    np.testing.assert_allclose(sums, ref, rtol=1e-12, atol=1e-12)


def test_admm_update_overlapping_operands():
    v = np.arange(6.0)
    u, *_ = admm_update(v, v, v.copy(), v.copy())
    np.testing.assert_array_equal(u, 0.0)
    np.testing.assert_array_equal(v, np.arange(6.0))  # z (= v) not overwritten


@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2**16), view=st.booleans(),
       c=st.floats(0.0, 1.0))
def test_fista_update_matches_array_code(shape, dtype, seed, view, c):
    rng = np.random.default_rng(seed)
    x, x_old, y = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    if view:
        y = np.repeat(y, 2, axis=-1)[..., ::2]
    d = x - x_old
    y_ref = d * dtype(c) + x
    ref = _sums64((d, d), (y, d), (x, d))
    x_before = x.copy()
    y_next, *sums = fista_update(x, x_old, y, c)
    np.testing.assert_array_equal(y_next, y_ref)
    np.testing.assert_allclose(sums, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(x, x_before)
    assert y_next is not x and y_next is not x_old and y_next is not y


@pytest.mark.parametrize("solver", ["admm", "fista"])
def test_solvers_same_iterates_with_array_code(solver, monkeypatch):
    # The fused path and the array-code path give the same iterates (only float64 sums
    # differ in order), so a solver's result cannot depend on which one ran.
    from invrestore.functionals import SquaredL2, TotalVariation
    from invrestore.kernels import solver_updates as _fused
    from invrestore.solvers import ADMM, FISTA

    rng = np.random.default_rng(0)
    y = rng.random((24, 20))
    f, g = SquaredL2(y), 0.1 * TotalVariation(max_iter=30, tol=0.0)

    def run():
        s = ADMM(f, g, y.copy(), rho=1.0) if solver == "admm" else FISTA(f, g, y.copy())
        return s.run(max_iter=15, tol=0.0).x

    fused = run()
    monkeypatch.setattr(_fused, "_flat", lambda arrays: None)
    np.testing.assert_allclose(run(), fused, rtol=0, atol=1e-12)
