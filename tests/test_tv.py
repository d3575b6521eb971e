"""Total variation: the FGP prox kernel (Numba and array versions) and the TotalVariation prior."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

from invrestore.functionals import TotalVariation
from invrestore.kernels import tv_duality_gap, tv_norm, tv_objective, tv_prox
from invrestore.operators import Gradient

DTYPES = (np.float32, np.float64)
SHAPES = ((9, 11), (9, 11, 3))


def _rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def _dual_reference(v, w, isotropic):
    """Solve the dual ``min_{p in P} 1/2 ||v - w D^T p||^2`` with SciPy's SLSQP (brute force)."""
    D = Gradient(v.shape)
    shape = (2,) + v.shape

    def f(z):
        r = v - w * D.apply_adjoint(z.reshape(shape))
        return 0.5 * float(r.ravel() @ r.ravel()), -w * D.apply(r).ravel()

    n = int(np.prod(shape))
    if isotropic:
        def ball(z):
            p = z.reshape(shape)
            n2 = (p ** 2).sum(axis=0)
            return 1.0 - (n2.sum(axis=-1) if v.ndim == 3 else n2).ravel()

        res = minimize(f, np.zeros(n), jac=True, method="SLSQP",
                       constraints=[{"type": "ineq", "fun": ball}],
                       options={"maxiter": 2000, "ftol": 1e-15})
    else:
        res = minimize(f, np.zeros(n), jac=True, method="L-BFGS-B", bounds=[(-1, 1)] * n,
                       options={"maxiter": 5000, "ftol": 1e-16, "gtol": 1e-12})
    return v - w * D.apply_adjoint(res.x.reshape(shape))


@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize("shape", [(4, 4), (3, 4, 2)])
def test_prox_matches_brute_force_dual_solve(shape, isotropic):
    v = _rand(shape, seed=1)
    w = 0.15
    ref = _dual_reference(v, w, isotropic)
    x = tv_prox(v, w, isotropic=isotropic, max_iter=5000, tol=1e-13)
    assert np.abs(x - ref).max() < 1e-5
    assert tv_objective(x, v, w, isotropic=isotropic) <= \
        tv_objective(ref, v, w, isotropic=isotropic) + 1e-9
    # and no random perturbation does better (primal brute force)
    rng = np.random.default_rng(2)
    f0 = tv_objective(x, v, w, isotropic=isotropic)
    for _ in range(200):
        d = 1e-3 * rng.standard_normal(shape)
        assert tv_objective(x + d, v, w, isotropic=isotropic) >= f0 - 1e-12


@given(h=st.integers(1, 12), w_=st.integers(1, 12), c=st.sampled_from([None, 1, 3]),
       dtype=st.sampled_from(DTYPES), isotropic=st.booleans(),
       weight=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_numba_matches_array_reference(h, w_, c, dtype, isotropic, weight, seed):
    shape = (h, w_) if c is None else (h, w_, c)
    v = _rand(shape, dtype, seed)
    kw = {"isotropic": isotropic, "max_iter": 25, "tol": 0.0, "return_info": True}
    xn, infn = tv_prox(v, weight, impl="numba", **kw)
    xr, infr = tv_prox(v, weight, impl="xp", **kw)
    atol = 1e-5 if dtype == np.float32 else 1e-12
    assert xn.dtype == xr.dtype == dtype and xn.shape == shape
    np.testing.assert_allclose(xn, xr, atol=atol, rtol=0)
    np.testing.assert_allclose(infn.dual, infr.dual, atol=100 * atol, rtol=0)
    assert infn.n_iter == infr.n_iter == 25


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("isotropic", [True, False])
def test_converges_with_vanishing_duality_gap(shape, dtype, isotropic):
    v = _rand(shape, dtype, seed=3)
    tol = 1e-6 if dtype == np.float32 else 1e-9
    x, info = tv_prox(v, 0.2, isotropic=isotropic, tol=tol, max_iter=20000, return_info=True)
    assert info.converged and x.dtype == dtype and info.dual.dtype == dtype
    p = info.dual.astype(np.float64)
    n = np.sqrt((p ** 2).sum(axis=0).sum(axis=-1) if len(shape) == 3 else (p ** 2).sum(axis=0))
    assert (n if isotropic else np.abs(p)).max() <= 1 + 1e-6      # feasible dual
    # the returned image is the primal point of the returned dual
    x_of_p = v.astype(np.float64) - 0.2 * Gradient(shape).apply_adjoint(p)
    assert np.abs(x - x_of_p).max() < (1e-5 if dtype == np.float32 else 1e-12)
    gap = tv_duality_gap(v.astype(np.float64), 0.2, p, isotropic=isotropic)
    assert -1e-9 < gap < (1e-3 if dtype == np.float32 else 1e-6)
    # objective decreases from the input (objective of x = v is weight * TV(v))
    v64 = v.astype(np.float64)
    assert tv_objective(x.astype(np.float64), v64, 0.2, isotropic=isotropic) < \
        tv_objective(v64, v64, 0.2, isotropic=isotropic)


def test_colour_coupling_is_vectorial():
    """A channel-coupled iso TV value and a gray image repeated in C channels."""
    g = _rand((6, 7), seed=4)
    rgb = np.repeat(g[..., None], 3, axis=-1)
    assert tv_norm(rgb) == pytest.approx(np.sqrt(3) * tv_norm(g))
    assert tv_norm(rgb, isotropic=False) == pytest.approx(3 * tv_norm(g, isotropic=False))
    # the prox of C identical channels = the gray prox with weight / sqrt(C)
    x = tv_prox(rgb, 0.3, tol=1e-10, max_iter=5000)
    xg = tv_prox(g, 0.3 / np.sqrt(3), tol=1e-10, max_iter=5000)
    assert np.abs(x - xg[..., None]).max() < 1e-6


def test_same_problem_as_skimage_gray():
    from skimage.restoration import denoise_tv_chambolle

    v = _rand((12, 10), seed=5)
    xs = denoise_tv_chambolle(v, weight=0.1, eps=0.0, max_num_iter=4000)
    x = tv_prox(v, 0.1, tol=0.0, max_iter=4000)
    assert np.abs(xs - x).max() < 1e-4


@pytest.mark.parametrize("isotropic", [True, False])
def test_nonexpansive(isotropic):
    rng = np.random.default_rng(6)
    for _ in range(5):
        a, b = rng.random((8, 9, 2)), rng.random((8, 9, 2))
        pa = tv_prox(a, 0.2, isotropic=isotropic, tol=1e-10, max_iter=5000)
        pb = tv_prox(b, 0.2, isotropic=isotropic, tol=1e-10, max_iter=5000)
        assert np.linalg.norm(pa - pb) <= np.linalg.norm(a - b) * (1 + 1e-8)


def test_moreau_decomposition_and_conjugate_is_projection():
    """v = prox_{tau f}(v) + tau prox_{f*/tau}(v / tau); f* is the indicator of
    K = {D^T p : p in P}, so prox_conj is the projection onto K: check the variational
    inequality <u - P(u), k - P(u)> <= 0 on random k in K."""
    tv = TotalVariation(tol=1e-10, max_iter=5000)
    v = _rand((7, 8), seed=7)
    tau = 0.25
    u = v / tau
    proj = tv.prox_conj(u, 1.0 / tau)
    np.testing.assert_allclose(tv.prox(v, tau) + tau * proj, v, atol=1e-12)
    D = Gradient(v.shape)
    rng = np.random.default_rng(8)
    for _ in range(50):
        q = rng.standard_normal((2,) + v.shape)
        q /= np.maximum(1.0, np.sqrt((q ** 2).sum(axis=0)))
        q[0, -1] = 0.0
        q[1, :, -1] = 0.0
        k = D.apply_adjoint(q)
        assert np.vdot(u - proj, k - proj) <= 1e-6


@pytest.mark.parametrize("inplace", [False, True])
def test_warm_start_same_result_fewer_iterations(inplace, monkeypatch):
    from invrestore.kernels import _tv_numba

    if inplace:
        monkeypatch.setattr(_tv_numba, "INPLACE_FROM", 0)
    v = _rand((24, 20), np.float32, seed=9)
    _, i1 = tv_prox(v, 0.1, tol=1e-5, max_iter=2000, return_info=True)
    x2, i2 = tv_prox(v + 1e-3, 0.1, tol=1e-5, max_iter=2000, dual=i1.dual, return_info=True)
    x3, i3 = tv_prox(v + 1e-3, 0.1, tol=1e-5, max_iter=2000, return_info=True)
    assert i2.n_iter < i3.n_iter / 2
    assert np.abs(x2 - x3).max() < 2e-3
    tv = TotalVariation(warm_start=True, tol=1e-5, max_iter=2000)
    tv.prox(v, 0.1)
    first = tv.last_info.n_iter
    tv.prox(v + 1e-3, 0.1)
    assert tv.last_info.n_iter < first / 2
    tv.reset()
    assert tv.last_info is None
    # the same iterates whichever way the dual is stored (to rounding)
    monkeypatch.setattr(_tv_numba, "INPLACE_FROM", 0 if not inplace else 1 << 60)
    x4, i4 = tv_prox(v + 1e-3, 0.1, tol=1e-5, max_iter=2000, dual=i1.dual, return_info=True)
    assert i4.n_iter == i2.n_iter
    np.testing.assert_allclose(x4, x2, rtol=0, atol=1e-6)


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize("max_iter", [0, 1, 2, 3, 9])
@pytest.mark.parametrize("tol", [0.0, 1e-4])
@pytest.mark.parametrize("shape", [(7, 6), (5, 8, 3)])
def test_reused_workspace_contents_never_leak(shape, tol, max_iter, inplace, monkeypatch):
    # A reused workspace is not cleared between calls: whatever the previous call left in the
    # dual buffers (here NaN in every entry the passes may write) must not reach the result.
    # inplace: gray images of any size update the dual in place (large ones only by default)
    from invrestore.kernels import _tv_numba

    if inplace:
        monkeypatch.setattr(_tv_numba, "INPLACE_FROM", 0)
    v = _rand(shape, np.float32, seed=4)
    ref = tv_prox(v, 0.1, max_iter=max_iter, tol=tol, impl="xp")
    ws = {}
    tv_prox(v, 0.3, max_iter=2, tol=0.0, workspace=ws)
    (bufs,) = ws.values()

    def spoil():
        for j, b in enumerate(bufs):  # P0-like buffers: rows 1..H; P1-like: columns 1..W
            b[(slice(None), slice(1, None)) if j % 2 == 0 else (Ellipsis, slice(1, None))] = (
                np.nan)

    spoil()
    x = tv_prox(v, 0.1, max_iter=max_iter, tol=tol, workspace=ws)
    np.testing.assert_allclose(x, ref, atol=1e-5)
    # and from a warm start
    dual = tv_prox(v, 0.2, max_iter=3, tol=0.0, return_info=True)[1].dual
    ref = tv_prox(v, 0.1, max_iter=max_iter, tol=tol, dual=dual, impl="xp")
    spoil()
    x = tv_prox(v, 0.1, max_iter=max_iter, tol=tol, dual=dual, workspace=ws)
    np.testing.assert_allclose(x, ref, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_prior_dtype_shape_value_and_denoise(shape, dtype):
    tv = TotalVariation()
    rng = np.random.default_rng(10)
    x = np.zeros(shape, dtype)
    x[3:7, 2:8] = 1.0
    y = (x + 0.1 * rng.standard_normal(shape)).astype(dtype)
    out = tv.denoise(y, 0.1)
    assert out.dtype == dtype and out.shape == shape
    assert np.linalg.norm(out - x) < 0.6 * np.linalg.norm(y - x)
    assert tv.prox(y, 0.05).dtype == dtype
    assert isinstance(tv(x), float) and tv(x) == pytest.approx(tv_norm(x.astype(np.float64)))
    assert tv.denoise_step(25 / 255) == pytest.approx(0.76 * 25 / 255)


def test_values_by_hand():
    x = np.array([[0.0, 3.0], [4.0, 0.0]])
    # pixel (0,0): (4, 3) -> 5; (0,1): (-3, 0) -> 3; (1,0): (0, -4) -> 4; (1,1): 0
    assert tv_norm(x) == pytest.approx(12.0)
    assert tv_norm(x, isotropic=False) == pytest.approx(4 + 3 + 3 + 4)
    assert TotalVariation(isotropic=False)(x) == pytest.approx(14.0)


def test_trivial_cases():
    v = _rand((5, 6), seed=11)
    np.testing.assert_array_equal(tv_prox(v, 0.0), v)
    c = np.full((5, 6), 0.3)
    np.testing.assert_allclose(tv_prox(c, 0.5), c, atol=1e-15)
    x, info = tv_prox(v, 0.2, max_iter=0, return_info=True)
    np.testing.assert_array_equal(x, v)
    assert info.n_iter == 0 and not info.converged


def test_bad_input():
    v = _rand((5, 6))
    with pytest.raises(TypeError, match="float32 or float64"):
        tv_prox(np.zeros((5, 6), np.uint8), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        tv_prox(np.full((5, 6), np.nan), 0.1)
    with pytest.raises(ValueError, match="ndim"):
        tv_prox(np.zeros(5), 0.1)
    with pytest.raises(ValueError, match="weight"):
        tv_prox(v, -1.0)
    with pytest.raises(ValueError, match="max_iter"):
        tv_prox(v, 0.1, max_iter=-1)
    with pytest.raises(ValueError, match="tol"):
        tv_prox(v, 0.1, tol=-1.0)
    with pytest.raises(ValueError, match="dual must have shape"):
        tv_prox(v, 0.1, dual=np.zeros((2, 5, 5)))
    with pytest.raises(ValueError, match="impl"):
        tv_prox(v, 0.1, impl="cuda")
    with pytest.raises(TypeError, match="isotropic"):
        tv_prox(v, 0.1, isotropic="yes")
    with pytest.raises(ValueError, match="tau"):
        TotalVariation().prox(v, 0.0)
    with pytest.raises(ValueError, match="max_iter"):
        TotalVariation(max_iter=0)
    with pytest.raises(TypeError, match="warm_start"):
        TotalVariation(warm_start=1)
    with pytest.raises(ValueError, match="sigma"):
        TotalVariation().denoise(v, -0.1)


@given(h=st.integers(1, 14), w_=st.integers(1, 40), blocks=st.integers(1, 6),
       dtype=st.sampled_from(DTYPES), warm=st.booleans(), n_iter=st.integers(1, 9),
       seed=st.integers(0, 2**16))
def test_gray_passes_equal_general_pass(h, w_, blocks, dtype, warm, n_iter, seed):
    # Gray isotropic TV runs its own one-loop passes (a cold start's first pass, then the
    # others), out of place (three dual buffers) or in place (two: R0 = R1 = None);
    # FUSED_GRAY = False runs the general pass throughout. All must agree to rounding (the
    # compiler may fuse different multiply-adds in different loops), with any number of row
    # blocks (in place, blocks read rows their neighbours overwrite), from a cold or a warm
    # start, with or without stopping tests.
    from invrestore.kernels import _tv_numba

    v = _rand((1, h, w_), dtype, seed)
    p = None
    if warm:
        p = tv_prox(v[0], 0.1, max_iter=3, tol=0.0, return_info=True)[1].dual[:, None]
    for tol in (0.0, 1e-4):
        out = []
        for fused, inplace in ((False, False), (True, False), (True, True)):
            bufs = [np.zeros(s, dtype) for s in ((1, h + 1, w_), (1, h, w_ + 1)) * 3]
            # in place, as fgp_numba prepares them: P and Q both hold a warm start; a cold
            # start's Q (written by the first pass before it is read) holds NaN here, to
            # show that it is not read
            for j in ((0, 2) if inplace else (0,)) if p is not None else ():
                bufs[j][:, 1:] = p[0]
                bufs[j + 1][:, :, 1:] = p[1]
            if inplace:
                if p is None:
                    bufs[2][:, 1:] = np.nan
                    bufs[3][:, :, 1:] = np.nan
                bufs[4:] = [None, None]
            _tv_numba.FUSED_GRAY = fused
            try:
                k, rel, P0, P1 = _tv_numba._fgp_loop(v, *bufs, dtype(0.1), True, p is None,
                                                     n_iter, tol, 2, min(blocks, h))
            finally:
                _tv_numba.FUSED_GRAY = True
            out.append((k, P0.copy(), P1.copy(), rel))
        atol = 4e-6 if dtype == np.float32 else 1e-14
        for o in out[1:]:
            assert o[0] == out[0][0]
            # the measured change (the gray pass writes the stopping sums itself)
            np.testing.assert_allclose(o[3], out[0][3], rtol=1e-3 if dtype == np.float32
                                       else 1e-9)
            np.testing.assert_allclose(o[1], out[0][1], rtol=0, atol=atol)
            np.testing.assert_allclose(o[2], out[0][2], rtol=0, atol=atol)
