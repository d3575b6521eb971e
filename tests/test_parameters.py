"""Automatic weights: Monte-Carlo divergence, SURE / projected SURE / GCV / discrepancy, and
``lam="auto"`` through restore(), denoise() and the CLI."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import invrestore as ir
from invrestore.degradations import add_gaussian_noise, gaussian_kernel
from invrestore.functionals import GradientTikhonov, Tikhonov, TotalVariation
from invrestore.metrics import psnr
from invrestore.operators import Blur, Identity, Mask
from invrestore.parameters import (
    choose_lam,
    gcv_score,
    lam_path,
    mc_divergence,
    sure_score,
)

RNG = np.random.default_rng(0)
X = np.kron(RNG.random((8, 8)), np.ones((8, 8)))  # 64x64 piecewise constant
K = gaussian_kernel(1.2, size=9)


@settings(max_examples=20, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_divergence_of_a_diagonal_linear_map_is_exact(h, w, seed):
    # Rademacher probes: b^T D b = trace(D) exactly, whatever the probe
    d = np.random.default_rng(seed).random((h, w))
    y = np.random.default_rng(seed + 1).standard_normal((h, w))
    div = mc_divergence(lambda v: d * v, y, d * y, eps=1e-3, seed=seed)
    assert div == pytest.approx(d.sum(), rel=1e-9)


def test_divergence_is_restricted_to_observed_entries():
    y = np.ones((10, 10))
    obs = np.zeros((10, 10), bool)
    obs[:, :4] = True
    assert mc_divergence(lambda v: 2 * v, y, 2 * y, eps=0.1, observed=obs) == \
        pytest.approx(80.0)


def test_sure_is_unbiased_for_a_linear_shrinkage():
    # f(y) = c y: div = c N, and SURE matches the true risk up to its (small) spread
    x = np.kron(RNG.random((32, 32)), np.ones((8, 8)))
    sigma, c = 0.1, 0.7
    errs = []
    for seed in range(5):
        y = add_gaussian_noise(x, sigma, rng=seed)
        res = float(((y - c * y) ** 2).sum())
        est = sure_score(res, c * y.size, sigma, y.size)
        errs.append(est - float(((c * y - x) ** 2).mean()))
    assert abs(np.mean(errs)) < 2e-4


def test_gcv_of_the_identity_estimator_is_infinite_free():
    # df = m: 1 - df/m -> clamped, no division by zero
    assert np.isfinite(gcv_score(0.0, 100.0, 100))


@pytest.mark.parametrize("rule", ["sure", "gcv"])
def test_choose_lam_for_tikhonov_denoising_is_near_the_oracle(rule):
    # a smoothing (gradient) Tikhonov on a smooth image: for a scalar shrinkage y / (1 + lam)
    # GCV is flat
    i, j = np.mgrid[:64, :64] / 64.0
    x = 0.5 + 0.3 * np.sin(6 * i) * np.cos(4 * j)
    y = add_gaussian_noise(x, 0.1, rng=1)
    R = GradientTikhonov()
    choice = choose_lam(y, lambda v, t, x0, n: (R.prox(v, t), 1), 0.5, rule=rule, sigma=0.1)
    grid = 0.5 * 2.0 ** np.arange(-6, 7, 0.5)
    best = max(psnr(R.prox(y, t), x) for t in grid)
    assert psnr(choice.x, x) > best - 0.2
    assert choice.rule == rule and choice.n_solves >= 3
    assert choice.lam in choice.lams or min(choice.lams) < choice.lam < max(choice.lams)


def test_choose_lam_is_deterministic_for_a_seed():
    y = add_gaussian_noise(X, 0.1, rng=2)
    tv = TotalVariation()

    def solve(v, t, x0, n):
        return tv.prox(v, t), 1

    a = choose_lam(y, solve, 0.05, sigma=0.1, seed=3)
    b = choose_lam(y, solve, 0.05, sigma=0.1, seed=3)
    assert a.lam == b.lam and np.array_equal(a.x, b.x)


def test_discrepancy_meets_its_target():
    H = Blur(K, X.shape)
    y = add_gaussian_noise(H @ X, 0.02, rng=3)
    res = ir.restore(y, H, prior="tv", sigma=0.02, lam="discrepancy", full_output=True)
    r = float(((H @ res.x - y) ** 2).sum()) / (y.size * 0.02 ** 2)
    assert res.info["lam_rule"] == "discrepancy"
    assert abs(r - 1.0) < 0.05


@pytest.mark.parametrize("rule", ["gsure", "sure", "gcv"])
def test_rules_choose_a_good_tv_deblurring_weight(rule):
    H = Blur(K, X.shape)
    y = add_gaussian_noise(H @ X, 0.02, rng=4)
    res = ir.restore(y, H, prior="tv", sigma=0.02, lam=rule, full_output=True)
    grid = res.info["lam"] * 2.0 ** np.arange(-3, 3.5, 0.5)
    best = max(psnr(np.clip(ir.restore(y, H, prior="tv", sigma=0.02, lam=t), 0, 1), X)
               for t in grid)
    assert psnr(np.clip(res.x, 0, 1), X) > best - 0.5
    assert res.info["lam_rule"] == rule and len(res.info["lam_tried"]) >= 3


def test_auto_rule_depends_on_operator_prior_and_sigma():
    H = Blur(K, X.shape)
    y = add_gaussian_noise(H @ X, 0.02, rng=5)
    res = ir.restore(y, H, prior="tv", full_output=True)
    assert res.info["lam_rule"] == "gcv" and res.info["sigma_estimated"]  # sigma-free rule
    assert np.isfinite(res.x).all()
    res = ir.restore(y, H, prior="tv", sigma=0.02, full_output=True)
    assert res.info["lam_rule"] == "gsure" and not res.info["sigma_estimated"]
    Z = Blur(K, X.shape, boundary="zero")  # no closed-form normal solve
    res = ir.restore(Z @ X + 0.02, Z, prior="tv", sigma=0.02, full_output=True, max_iter=30)
    assert res.info["lam_rule"] == "sure"
    res = ir.restore(H @ X, H, prior="tv", sigma=0.0, full_output=True)  # noise-free
    assert res.info["lam_rule"] == "default"
    res = ir.restore(y, Identity(X.shape), prior="tv", sigma=0.02, full_output=True)
    assert res.info["lam_rule"] == "default"
    assert ir.restore(y, H, prior="tv", sigma=0.02, lam=0.01,
                      full_output=True).info["lam_rule"] == "fixed"


def test_auto_through_a_mask_uses_observed_pixels_only():
    M = Mask(RNG.random(X.shape) > 0.3)
    y = add_gaussian_noise(M @ X, 0.02, rng=6) * M.mask
    res = ir.restore(y, M, prior="tv", sigma=0.02, full_output=True)
    assert res.info["lam_rule"] == "gsure"
    assert psnr(np.clip(res.x, 0, 1), X) > psnr(np.clip(ir.api.initial_guess(y, M), 0, 1), X)


def test_denoise_rules_and_info():
    y = add_gaussian_noise(X, 0.1, rng=7)
    out, info = ir.denoise(y, method="tv", lam="sure", full_output=True)
    assert info["lam_rule"] == "sure" and info["sigma_estimated"]
    assert psnr(np.clip(out, 0, 1), X) > psnr(np.clip(y, 0, 1), X) + 3
    out2, info2 = ir.denoise(y, 0.1, method="tv", full_output=True)
    assert info2["lam_rule"] == "default" and not info2["sigma_estimated"]
    assert np.array_equal(out2, ir.denoise(y, 0.1, method="tv"))
    assert np.array_equal(out2, ir.denoise(y, 0.1, method="tv", lam=None))  # as in restore()
    out3, info3 = ir.denoise(y, 0.1, method="tv", lam=info2["lam"], full_output=True)
    assert info3["lam_rule"] == "fixed" and np.allclose(out3, out2)


def test_lam_path_lists_every_score():
    y = add_gaussian_noise(X, 0.1, rng=8)
    R = Tikhonov()
    out = lam_path(y, lambda v, t, x0, n: (R.prox(v, t), 1), [0.1, 0.3, 1.0], sigma=0.1,
                   prior=R, x_true=X)
    assert out["lam"] == [0.1, 0.3, 1.0]
    for key in ("residual", "prior", "sure", "gcv", "discrepancy", "mse"):
        assert len(out[key]) == 3 and np.isfinite(out[key]).all()
    # the residual grows and the prior value falls with the weight
    assert out["residual"][0] < out["residual"][2] and out["prior"][0] > out["prior"][2]


def test_bad_rules_and_arguments():
    y = add_gaussian_noise(X, 0.1, rng=9)
    R = Tikhonov()

    def solve(v, t, x0, n):
        return R.prox(v, t), 1

    with pytest.raises(ValueError, match="unknown lam rule"):
        choose_lam(y, solve, 0.1, rule="oracle", sigma=0.1)
    with pytest.raises(ValueError, match="needs the noise level"):
        choose_lam(y, solve, 0.1, rule="sure")
    with pytest.raises(ValueError, match="needs noise"):
        choose_lam(y, solve, 0.1, rule="discrepancy", sigma=0.0)
    with pytest.raises(ValueError, match="factor must exceed 1"):
        choose_lam(y, solve, 0.1, sigma=0.1, factor=1.0)
    with pytest.raises(ValueError, match="needs the operator"):
        choose_lam(y, solve, 0.1, rule="gsure", sigma=0.1)
    with pytest.raises(ValueError, match="eps must be > 0"):
        choose_lam(y, solve, 0.1, sigma=0.1, eps=0.0)
    with pytest.raises(ValueError, match="eps must be > 0"):
        mc_divergence(lambda v: v, y, y, eps=-1.0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        choose_lam(y, solve, 0.1, rule="discrepancy", sigma=0.1, tau=-1.0)
    with pytest.raises(ValueError, match="lam0 must be > 0"):
        choose_lam(y, solve, -0.1, sigma=0.1)
    bad = y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        choose_lam(bad, solve, 0.1, sigma=0.1)
    with pytest.raises(ValueError, match="lams must be > 0"):
        lam_path(y, solve, [0.1, -1.0], sigma=0.1)
    with pytest.raises(ValueError, match="at least one weight"):
        lam_path(y, solve, [], sigma=0.1)
    H = Blur(K, X.shape)
    with pytest.raises(ValueError, match="unknown lam 'best'"):
        ir.restore(H @ X, H, lam="best")
    with pytest.raises(ValueError, match="assumes Gaussian noise"):
        ir.restore(np.abs(H @ X), H, lam="sure", data="poisson", sigma=0.05)
    with pytest.raises(ValueError, match="unknown lam 'gsure' for denoise"):
        ir.denoise(y, lam="gsure")


def test_cli_auto_reports_its_choices(tmp_path, capsys):
    from invrestore import cli
    from invrestore.io import imwrite

    path = tmp_path / "x.png"
    imwrite(path, X)
    rc = cli.main(["restore", str(path), str(tmp_path / "o.png"), "--simulate", "--blur",
                   "gaussian:1.2", "--noise", "0.02", "--auto"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "(estimated)" in out and "chosen by gcv" in out and "lam search (gcv" in out


def test_auto_on_colour_images_and_plug_and_play():
    H = Blur(K, X.shape + (3,))
    xc = np.stack([X, X[::-1], X[:, ::-1]], axis=-1)
    y = add_gaussian_noise(H @ xc, 0.02, rng=10)
    res = ir.restore(y, H, prior="tv", sigma=0.02, full_output=True)
    assert res.x.shape == xc.shape and res.info["lam_rule"] == "gsure"
    assert psnr(np.clip(res.x, 0, 1), xc) > psnr(np.clip(y, 0, 1), xc) + 1
    H = Blur(K, X.shape)
    y = add_gaussian_noise(H @ X, 0.02, rng=11)
    res = ir.restore(y, H, prior="nlm", sigma=0.02, full_output=True)
    assert res.info["lam_rule"] == "gsure" and res.info["solver"] == "hqs"
    assert np.isfinite(res.x).all() and res.info["lam"] > 0


def test_lam_search_shows_progress(capsys):
    H = Blur(K, X.shape)
    y = add_gaussian_noise(H @ X, 0.02, rng=12)
    res = ir.restore(y, H, prior="gradient_tikhonov", sigma=0.02, lam="gsure", progress=True,
                     full_output=True)
    err = capsys.readouterr().err
    assert "lam (gsure)" in err and res.info["lam_solves"] >= 3


@settings(max_examples=30, deadline=None)
@given(centre=st.floats(-6, 6), max_evals=st.integers(1, 12))
def test_search_returns_the_best_weight_it_tried(centre, max_evals):
    # a convex score in log lam, minimum anywhere (also beyond what max_evals can reach)
    from invrestore.parameters import _search_min

    tried = {}

    def score(lam):
        tried[lam] = (np.log2(lam) - centre) ** 2
        return tried[lam]

    lam = _search_min(score, 1.0, factor=2.0, max_evals=max_evals)
    assert tried[lam] == min(tried.values())
    if abs(centre) < max_evals - 2:
        assert abs(np.log2(lam) - centre) <= 0.5


def test_bad_lam_on_the_command_line_and_in_denoise(tmp_path, capsys):
    from invrestore import cli
    from invrestore.io import imwrite

    path = tmp_path / "x.png"
    imwrite(path, X)
    out = tmp_path / "o.png"
    rc = cli.main(["restore", str(path), str(out), "--blur", "gaussian:1.2", "--lam", "best"])
    assert rc == 2 and not out.exists()
    assert "--lam: expected a number >= 0 or one of auto" in capsys.readouterr().err
    with pytest.raises(ValueError, match="lam must be >= 0"):
        ir.denoise(X, 0.1, lam=-1.0)
