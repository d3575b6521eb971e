"""Solvers on problems with known minimisers, agreement between solvers, the run loop."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invrestore.functionals import (
    L21,
    DataFidelity,
    GradientTikhonov,
    KullbackLeibler,
    NonNegative,
    SquaredL2,
    Tikhonov,
    Zero,
)
from invrestore.operators import Blur, Gradient, Identity
from invrestore.solvers import (
    ADMM,
    FISTA,
    HQS,
    PDHG,
    DivergenceWarning,
    DouglasRachford,
    RichardsonLucy,
    dpir_schedule,
    wiener,
)
from invrestore.solvers.splitting import dihedral

RNG = np.random.default_rng(11)
X = RNG.random((24, 20))
K = np.outer([1, 4, 6, 4, 1], [1, 2, 1.0])
K /= K.sum()
H = Blur(K, X.shape)
Y = H @ X + 0.02 * RNG.standard_normal(X.shape)
LAM = 0.05


def _tikhonov_reference():
    # argmin 1/2|Hx - y|^2 + lam/2 |x|^2 = (H^T H + lam I)^-1 H^T y, exact by FFT
    return H.solve_normal(H.H @ Y, LAM)


def _gradient_tikhonov_reference():
    # argmin 1/2|Hx - y|^2 + lam/2 |Dx|^2 with circular H and D: diagonal in the DFT
    Kf = H.transfer_function()
    n0, n1 = X.shape
    lap = (2 - 2 * np.cos(2 * np.pi * np.arange(n0) / n0))[:, None] + \
          (2 - 2 * np.cos(2 * np.pi * np.arange(n1) / n1))[None, :]
    return np.fft.ifft2(np.conj(Kf) * np.fft.fft2(Y) / (np.abs(Kf) ** 2 + LAM * lap)).real


@pytest.mark.parametrize("make", [
    lambda f, g: FISTA(f, g, np.zeros_like(X)),
    lambda f, g: FISTA(f, g, np.zeros_like(X), backtracking=True, step=10.0),
    lambda f, g: ADMM(f, g, np.zeros_like(X), rho=0.1),
    lambda f, g: DouglasRachford(f, g, np.zeros_like(X), tau=2.0),
], ids=["fista", "fista_backtracking", "admm", "douglas_rachford"])
def test_tikhonov_known_minimiser(make):
    f = DataFidelity(SquaredL2(Y), H)
    res = make(f, LAM * Tikhonov()).run(max_iter=3000, tol=1e-12)
    ref = _tikhonov_reference()
    assert np.linalg.norm(res.x - ref) <= 1e-6 * np.linalg.norm(ref)


def test_pdhg_tikhonov_known_minimiser():
    terms = [(SquaredL2(Y), H), (LAM * SquaredL2(np.zeros_like(X)), Identity(X.shape))]
    res = PDHG(Zero(), terms, np.zeros_like(X)).run(max_iter=5000, tol=1e-13)
    ref = _tikhonov_reference()
    assert np.linalg.norm(res.x - ref) <= 1e-5 * np.linalg.norm(ref)


def test_gradient_tikhonov_known_minimiser():
    f = DataFidelity(SquaredL2(Y), H)
    g = LAM * GradientTikhonov(boundary="circular")
    ref = _gradient_tikhonov_reference()
    for solver in (FISTA(f, g, np.zeros_like(X)), ADMM(f, g, np.zeros_like(X), rho=0.1)):
        res = solver.run(max_iter=5000, tol=1e-13)
        assert np.linalg.norm(res.x - ref) <= 1e-6 * np.linalg.norm(ref)


def test_fista_admm_pdhg_agree_on_a_tv_problem():
    import invrestore.functionals as F

    if not hasattr(F, "TotalVariation"):
        pytest.skip("TotalVariation not available")
    tv = F.TotalVariation
    lam = 0.02
    f = DataFidelity(SquaredL2(Y), H)
    prior = tv(max_iter=500, tol=1e-9)
    D = Gradient(X.shape)

    def objective(x):
        return f(x) + lam * L21()(D @ x)

    runs = {
        "fista": FISTA(f, lam * prior, Y.copy()).run(max_iter=1500, tol=1e-10),
        "admm": ADMM(f, lam * prior, Y.copy(), rho=0.05).run(max_iter=1500, tol=1e-10),
        "pdhg": PDHG(Zero(), [(SquaredL2(Y), H), (lam * L21(), D)], Y.copy()).run(
            max_iter=8000, tol=1e-11),
    }
    values = {k: objective(r.x) for k, r in runs.items()}
    best = min(values.values())
    for k, v in values.items():
        assert (v - best) <= 1e-4 * best, (k, values)


def test_richardson_lucy_decreases_the_poisson_objective():
    y = np.maximum(H @ X, 0) + 0.01
    res = RichardsonLucy(y, H).run(max_iter=50, tol=0)
    obj = np.array(res.history["objective"])
    assert np.all(np.diff(obj) <= 1e-9 * np.abs(obj[:-1]))
    assert res.x.min() >= 0


def test_pdhg_poisson_data_with_tv():
    y = RNG.poisson(50 * np.maximum(H @ X, 0)).astype(float) / 50
    kl = KullbackLeibler(y)
    terms = [(kl, H), (0.01 * L21(), Gradient(X.shape))]
    res = PDHG(NonNegative(), terms, np.full_like(X, y.mean())).run(max_iter=300, tol=1e-6)
    obj = res.history["objective"]
    assert obj[-1] < obj[0] and res.x.min() >= 0


def test_wiener_is_the_tikhonov_solution():
    np.testing.assert_allclose(wiener(Y, H, LAM), _tikhonov_reference(), atol=1e-12)


def test_hqs_and_dpir_schedule():
    sigmas, mus = dpir_schedule(0.01, n_iter=8)
    assert len(sigmas) == 8 and sigmas[0] == pytest.approx(49 / 255)
    assert sigmas[-1] == pytest.approx(0.01)
    np.testing.assert_allclose(mus, 0.23 * 0.01 ** 2 / sigmas ** 2)
    hqs = HQS.plug_and_play(DataFidelity(SquaredL2(Y), H), Tikhonov(), Y, sigma=0.01)
    # the prior's prox step equals the denoiser variance at every iteration
    np.testing.assert_allclose(hqs.lam / np.array(hqs.mus), sigmas ** 2)
    res = hqs.run()
    assert res.n_iter == 8 and np.isfinite(res.x).all()


def test_history_callback_and_reference_metrics():
    f = DataFidelity(SquaredL2(Y), H)
    seen = []

    def cb(solver, k):
        seen.append(k)
        return k == 7

    res = FISTA(f, LAM * Tikhonov(), np.zeros_like(X)).run(max_iter=100, x_true=X, callback=cb)
    assert res.n_iter == 7 and seen == list(range(1, 8)) and not res.converged
    for key in ("rel_change", "time", "objective", "psnr", "ssim"):
        assert len(res.history[key]) == 7
    assert res.history["psnr"][-1] > res.history["psnr"][0]
    assert res.info["solver"] == "fista"


def test_max_iter_zero_returns_the_start():
    res = FISTA(DataFidelity(SquaredL2(Y), H), Tikhonov(), Y).run(max_iter=0)
    assert res.n_iter == 0 and np.array_equal(res.x, Y)


def test_divergence_is_detected_and_the_last_finite_iterate_returned():
    f = DataFidelity(SquaredL2(Y), H)
    solver = FISTA(f, Zero(), Y.copy(), step=50.0, backtracking=False, restart=False)
    with pytest.warns(DivergenceWarning):
        res = solver.run(max_iter=2000, tol=0)
    assert res.diverged and not res.converged and np.isfinite(res.x).all()


def test_no_warning_on_a_healthy_run():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FISTA(DataFidelity(SquaredL2(Y), H), LAM * Tikhonov(), Y).run(max_iter=20)


def test_pdhg_rejects_mismatched_terms():
    with pytest.raises(ValueError, match="takes"):
        PDHG(Zero(), [(SquaredL2(Y), H)], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least one"):
        PDHG(Zero(), [], X)


@given(h=st.integers(1, 7), w=st.integers(1, 7), c=st.sampled_from([None, 1, 3]),
       t=st.integers(0, 7))
def test_dihedral_is_a_group_action_with_inverse(h, w, c, t):
    x = RNG.random((h, w) if c is None else (h, w, c))
    y = dihedral(x, t)
    assert y.flags.c_contiguous and y.shape[2:] == x.shape[2:]
    assert y.shape[:2] == (x.shape[:2] if t % 2 == 0 else x.shape[1::-1])
    np.testing.assert_array_equal(dihedral(y, t, inverse=True), x)
    # the 8 transforms are distinct on a generic image
    if h == w > 1:
        seen = {dihedral(x, s).tobytes() for s in range(8)}
        assert len(seen) == 8


def test_hqs_transforms_feed_the_prior_turned_images():
    # A prior that records what it sees: iteration k gets dihedral(x, k mod 8), and the
    # result is turned back (a prior that commutes with the transforms gives the same
    # iterates with and without them).
    seen = []

    class Probe(Tikhonov):
        def _prox(self, v, tau):
            seen.append(v.shape)
            return super()._prox(v, tau)

    f = DataFidelity(SquaredL2(Y), H)
    ref = HQS.plug_and_play(f, Tikhonov(), Y, sigma=0.01, transforms=False).run().x
    hqs = HQS.plug_and_play(f, Probe(), Y, sigma=0.01)
    assert hqs.transforms and hqs.info()["transforms"]
    np.testing.assert_allclose(hqs.run().x, ref, atol=1e-12)
    assert seen == [X.shape if k % 2 == 0 else X.shape[::-1] for k in range(8)]
    with pytest.raises(TypeError, match="transforms must be a bool"):
        HQS(f, Tikhonov(), Y, lam=1.0, mus=[1.0], transforms=1)
    for bad in (8, -1, 1.5, True):
        with pytest.raises(ValueError, match="t must be an integer in 0..7"):
            dihedral(Y, bad)
    with pytest.raises(ValueError, match=r"x must be an image \(H, W\)"):
        dihedral(np.zeros(5), 1)
