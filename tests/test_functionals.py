"""Every functional through the shared checks: prox optimality, Moreau, non-expansiveness,
gradients."""

import numpy as np
import pytest

from .functional_registry import FUNCTIONALS, SMOOTH

SHAPE = (5, 6)
NAMES = sorted(FUNCTIONALS)


def _objective(f, x, v, tau):
    return tau * f(x) + 0.5 * float(np.sum((x - v) ** 2))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tau", [0.05, 0.7])
def test_prox_is_a_minimiser(name, tau):
    """Brute force: no random perturbation of prox(v) lowers tau f(x) + 1/2 |x - v|^2."""
    f, shape = FUNCTIONALS[name](SHAPE)
    rng = np.random.default_rng(0)
    v = rng.random(shape)
    p = f.prox(v, tau)
    best = _objective(f, p, v, tau)
    assert np.isfinite(best)
    for scale in (1e-1, 1e-2, 1e-3):
        for _ in range(20):
            q = p + scale * rng.standard_normal(shape)
            assert _objective(f, q, v, tau) >= best - 1e-7 * max(1.0, abs(best))


@pytest.mark.parametrize("name", NAMES)
def test_prox_is_firmly_non_expansive(name):
    f, shape = FUNCTIONALS[name](SHAPE)
    rng = np.random.default_rng(1)
    for _ in range(5):
        a, b = rng.random(shape), rng.random(shape)
        pa, pb = f.prox(a, 0.3), f.prox(b, 0.3)
        assert np.linalg.norm(pa - pb) <= np.linalg.norm(a - b) * (1 + 1e-6)
        # firm non-expansiveness: |pa - pb|^2 <= <pa - pb, a - b>
        assert np.sum((pa - pb) ** 2) <= np.sum((pa - pb) * (a - b)) + 1e-6


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("tau", [0.1, 2.0])
def test_moreau_identity(name, tau):
    """v = prox_{tau f}(v) + tau prox_{f*/tau}(v / tau)."""
    f, shape = FUNCTIONALS[name](SHAPE)
    v = np.random.default_rng(2).standard_normal(shape)
    recon = f.prox(v, tau) + tau * f.prox_conj(v / tau, 1.0 / tau)
    np.testing.assert_allclose(recon, v, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SMOOTH & set(NAMES)))
def test_gradient_matches_finite_differences(name):
    f, shape = FUNCTIONALS[name](SHAPE)
    rng = np.random.default_rng(3)
    x, d = rng.random(shape), rng.standard_normal(shape)
    h = 1e-6
    fd = (f(x + h * d) - f(x - h * d)) / (2 * h)
    assert abs(fd - float(np.sum(f.grad(x) * d))) <= 1e-5 * max(1.0, abs(fd))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prox_keeps_shape_and_dtype(name, dtype):
    f, shape = FUNCTIONALS[name](SHAPE)
    v = np.random.default_rng(4).random(shape).astype(dtype)
    out = f.prox(v, 0.5)
    assert out.shape == shape
    if name not in {"squared_l2", "l1", "kl", "data_l2_blur", "data_l2_mask"}:
        assert out.dtype == dtype  # data terms mix in their float64 observation


@pytest.mark.parametrize("tau", [0, -1.0, np.nan])
def test_prox_step_must_be_positive(tau):
    f, shape = FUNCTIONALS["tikhonov"](SHAPE)
    with pytest.raises(ValueError, match="tau must be"):
        f.prox(np.zeros(shape), tau)


def test_scaling_rules():
    from invrestore.functionals import Tikhonov

    with pytest.raises(ValueError, match="lam must be >= 0"):
        -1.0 * Tikhonov()
    x = np.ones(4)
    assert (3.0 * Tikhonov())(x) == pytest.approx(6.0)
    np.testing.assert_allclose((3.0 * Tikhonov()).prox(x, 1.0), x / 4)
    np.testing.assert_allclose((0.0 * Tikhonov()).prox(x, 1.0), x)


def test_non_smooth_gradient_is_refused():
    from invrestore.functionals import L1

    with pytest.raises(TypeError, match="not differentiable"):
        L1(np.zeros(3)).grad(np.zeros(3))


def test_kl_rejects_negative_counts_and_is_infinite_off_domain():
    from invrestore.functionals import KullbackLeibler

    with pytest.raises(ValueError, match="non-negative"):
        KullbackLeibler(np.array([-1.0, 1.0]))
    f = KullbackLeibler(np.array([1.0, 2.0]))
    assert f(np.array([0.0, 1.0])) == np.inf
    assert np.all(f.prox(np.array([-5.0, -5.0]), 1.0) > 0)


def test_data_fidelity_shape_check():
    from invrestore.functionals import DataFidelity, SquaredL2
    from invrestore.operators import Identity

    with pytest.raises(ValueError, match=r"y has shape \(4, 4\)"):
        DataFidelity(SquaredL2(np.zeros((4, 4))), Identity((5, 5)))


def test_box_bounds():
    from invrestore.functionals import Box

    with pytest.raises(ValueError, match="lower must not exceed upper"):
        Box(1.0, 0.0)
    assert Box(0, 1)(np.array([0.5, 2.0])) == np.inf
