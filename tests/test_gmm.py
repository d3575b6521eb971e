"""Gaussian-mixture patch prior, EM fitting, patch kernels and EPLL."""

import numpy as np
import pytest

from invrestore.denoisers import EPLLDenoiser, GaussianMixture, fit_gmm, load_gmm
from invrestore.denoisers.epll import flat_tail_tables
from invrestore.kernels.patches import (
    _aggregate_reference,
    _extract_reference,
    aggregate_patches,
    extract_patches,
    patch_counts,
    patch_positions,
)
from invrestore.metrics import psnr


@pytest.fixture(scope="module")
def gmm():
    return load_gmm()


def _test_image(n=48, seed=0):
    """Piecewise-smooth image with edges and a texture stripe, values in [0.1, 0.9]."""
    i, j = np.mgrid[0:n, 0:n] / n
    x = 0.3 + 0.3 * i + 0.2 * (j > 0.5) + 0.1 * ((i - 0.3) ** 2 + (j - 0.7) ** 2 < 0.05)
    x[: n // 4] += 0.1 * np.sin(2 * np.pi * 6 * j[: n // 4])
    return np.clip(x, 0.1, 0.9)


# ------------------------------------------------------------------------------------ EM
def test_em_recovers_two_component_mixture():
    c1 = np.array([[4.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.1]])
    c2 = np.array([[0.1, 0.0, 0.0], [0.0, 0.5, 0.2], [0.0, 0.2, 2.0]])
    true = GaussianMixture([0.3, 0.7], [c1, c2], dc_removed=False)
    y, _ = true.sample(20000, rng=1)
    fit = fit_gmm(y, 2, remove_dc=False, seed=0, tol=1e-7, reg_covar=0.0)
    order = np.argsort(fit.weights)
    np.testing.assert_allclose(fit.weights[order], [0.3, 0.7], atol=0.02)
    for k, c in zip(order, (c1, c2)):
        np.testing.assert_allclose(fit.covariances[k], c, atol=0.1 * np.abs(c).max())
    assert np.all(np.diff(fit.log_likelihood_) > -1e-6)  # EM never decreases it


def test_em_on_mean_removed_patches():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((16, 16))
    true = GaussianMixture([0.5, 0.5], [a @ a.T / 16, np.eye(16) * 0.01])
    y, lab = true.sample(5000, rng=2)
    y = y + rng.uniform(0, 1, (5000, 1))  # a DC per patch: ignored by the model
    fit = fit_gmm(y, 2, seed=0)
    assert fit.eigvals.shape == (2, 15) and fit.patch_shape == (4, 4)
    pred = fit.predict(y)
    agree = max(np.mean(pred == lab), np.mean(pred != lab))
    assert agree > 0.99


def test_em_reproducible_with_seed():
    rng = np.random.default_rng(3)
    y = rng.standard_normal((3000, 16)) * rng.uniform(0.1, 1, (3000, 1))
    a = fit_gmm(y, 4, seed=7, max_iter=5, n_threads=1, chunk_size=500)
    b = fit_gmm(y, 4, seed=7, max_iter=5, n_threads=2, chunk_size=500)
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.eigvals, b.eigvals)
    np.testing.assert_array_equal(a.log_likelihood_, b.log_likelihood_)


def test_fit_bad_input():
    with pytest.raises(ValueError, match="at least n_components"):
        fit_gmm(np.ones((3, 4)), 5)
    with pytest.raises(ValueError, match="NaN"):
        fit_gmm(np.full((10, 4), np.nan), 2)
    with pytest.raises(ValueError, match="non-constant"):
        fit_gmm(np.ones((10, 4)), 2)
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture([1.0], [np.zeros((4, 4))])


# ----------------------------------------------------------------------------------- I/O
def test_save_load_roundtrip(tmp_path, gmm):
    small = GaussianMixture.from_eig(gmm.weights[:3], gmm.eigvals[:3], gmm.eigvecs[:3])
    small.save(tmp_path / "g.npz", dtype=np.float64)
    back = load_gmm(tmp_path / "g.npz")
    np.testing.assert_allclose(back.weights, small.weights)
    np.testing.assert_allclose(back.covariances, small.covariances, atol=1e-12)
    assert back.patch_shape == (8, 8) and back.dc_removed


def test_load_corrupt_or_wrong_file(tmp_path, gmm):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(ValueError, match="not a readable GMM"):
        load_gmm(bad)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(3))
    with pytest.raises(ValueError, match="not an invrestore GMM"):
        load_gmm(other)
    wrong = tmp_path / "wrong.npz"
    GaussianMixture.from_eig(gmm.weights[:2], gmm.eigvals[:2], gmm.eigvecs[:2]).save(wrong)
    with np.load(wrong) as f:
        data = dict(f)
    data["eigvecs"] = data["eigvecs"][:, :, :10]
    np.savez(wrong, **data)
    with pytest.raises(ValueError, match="invalid GMM file"):
        load_gmm(wrong)
    with pytest.raises(FileNotFoundError):
        load_gmm(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="invalid GMM file"):
        EPLLDenoiser(wrong)


# ------------------------------------------------------------------------- patch kernels
@pytest.mark.parametrize("shape,size,stride", [((13, 17), 8, 1), ((13, 17), 8, 3),
                                               ((20, 9), 4, 4), ((8, 8), 8, 1),
                                               ((30, 31), 5, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_patch_kernels_match_reference(shape, size, stride, dtype):
    x = np.random.default_rng(0).random(shape).astype(dtype)
    rows = patch_positions(shape[0], size, stride)
    cols = patch_positions(shape[1], size, stride)
    ref = _extract_reference(x, rows, cols, size)
    z = np.random.default_rng(1).random(ref.shape).astype(dtype)
    agg = _aggregate_reference(z, shape, rows, cols, size)
    for impl in ("numba", "xp"):
        p = extract_patches(x, size, stride=stride, impl=impl)
        assert p.dtype == dtype
        np.testing.assert_array_equal(p, ref)
        np.testing.assert_allclose(aggregate_patches(z, shape, size, stride=stride, impl=impl),
                                   agg, rtol=1e-5)
        np.testing.assert_allclose(
            aggregate_patches(p, shape, size, stride=stride, average=True, impl=impl), x,
            rtol=1e-6)
    assert patch_counts(shape, size, stride=stride).min() >= 1


def test_patch_bad_input():
    with pytest.raises(ValueError, match="larger than the image"):
        extract_patches(np.zeros((5, 9)), 8)
    with pytest.raises(ValueError, match="uncovered"):
        extract_patches(np.zeros((16, 16)), 4, stride=5)
    with pytest.raises(ValueError, match="must have shape"):
        aggregate_patches(np.zeros((3, 64)), (16, 16), 8)


# ---------------------------------------------------------------------------------- EPLL
def _epll_reference(gmm, y, sigma, betas, stride):
    """Exact EPLL from the float64 mixture methods and the loop references."""
    rows = patch_positions(y.shape[0], 8, stride)
    cols = patch_positions(y.shape[1], 8, stride)
    cnt = patch_counts(y.shape, 8, stride=stride)
    x = y.copy()
    for c in betas:
        z = gmm.denoise_patches(_extract_reference(x, rows, cols, 8), np.sqrt(sigma**2 / c))
        x = (y + c * _aggregate_reference(z, y.shape, rows, cols, 8) / cnt) / (1 + c)
    return x


@pytest.mark.parametrize("impl", ["numba", "xp"])
@pytest.mark.parametrize("stride", [1, 3])
def test_epll_exact_matches_reference(gmm, impl, stride):
    x = _test_image(24)
    y = x + np.random.default_rng(0).normal(0, 0.08, x.shape)
    ref = _epll_reference(gmm, y, 0.08, (1, 4, 16), stride)
    out = EPLLDenoiser(gmm, betas=(1, 4, 16), stride=stride, rank_tol=0, n_candidates=None,
                       impl=impl)(y, 0.08)
    np.testing.assert_allclose(out, ref, atol=2e-5)


def test_epll_fast_paths_agree(gmm):
    x = _test_image(32)
    y = (x + np.random.default_rng(1).normal(0, 0.1, x.shape)).astype(np.float32)
    a = EPLLDenoiser(gmm, impl="numba", min_weight=1e-3)(y, 0.1)
    b = EPLLDenoiser(gmm, impl="xp", min_weight=1e-3)(y, 0.1)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_epll_xp_chunking_does_not_change_the_result(gmm, monkeypatch):
    from invrestore.denoisers import _epll_xp

    x = _test_image(32)
    y = (x + np.random.default_rng(2).normal(0, 0.1, x.shape)).astype(np.float32)
    den = EPLLDenoiser(gmm, impl="xp", min_weight=1e-3)
    a = den(y, 0.1)
    monkeypatch.setattr(_epll_xp, "_CHUNK", 37)  # chunk edges inside rows, uneven last chunk
    np.testing.assert_allclose(den(y, 0.1), a, atol=1e-6)


def test_flat_tail_tables_exact_when_tol_zero(gmm):
    t = flat_tail_tables(gmm, 1e-3, 0.0)
    assert t["Ut"].shape == (gmm.n_components * 63, 64)
    assert np.all(t["tail"] == 0) and np.all(t["alpha"] == 0)
    fewer = flat_tail_tables(gmm, 1e-3, 1.0)
    assert fewer["Ut"].shape[0] < 0.7 * t["Ut"].shape[0]
    assert np.all(fewer["tail"] >= 0) and np.all((fewer["alpha"] >= 0) & (fewer["alpha"] < 1))


@pytest.mark.parametrize("sigma", [5 / 255, 25 / 255, 0.2])
def test_epll_improves_psnr(sigma):
    x = _test_image(48)
    y = x + np.random.default_rng(2).normal(0, sigma, x.shape)
    out = EPLLDenoiser()(y, sigma)
    assert out.shape == x.shape and out.dtype == np.float64
    assert psnr(np.clip(out, 0, 1), x) > psnr(y, x) + 3


def test_epll_colour():
    x = np.stack([_test_image(32), _test_image(32)[::-1], _test_image(32).T], axis=-1)
    y = x + np.random.default_rng(3).normal(0, 0.1, x.shape)
    out = EPLLDenoiser(betas=(1, 4, 16))(y, 0.1)
    assert out.shape == x.shape
    assert psnr(np.clip(out, 0, 1), x) > psnr(y, x) + 5


def test_epll_bad_input():
    den = EPLLDenoiser(betas=(1,))
    y = np.full((16, 16), 0.5)
    for s in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma"):
            den(y, s)
    np.testing.assert_array_equal(den(y, 0.0), y)  # the protocol: sigma = 0 is the identity
    with pytest.raises(ValueError, match="smaller than the 8x8"):
        den(np.zeros((5, 20)), 0.1)
    y[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        den(y, 0.1)
    with pytest.raises(ValueError, match="betas"):
        EPLLDenoiser(betas=(1, -4))
    with pytest.raises(TypeError, match="gmm"):
        EPLLDenoiser(gmm=3)


@pytest.mark.gpu
def test_epll_cupy_matches_numpy(gmm):
    import cupy as cp

    x = _test_image(32)
    y = (x + np.random.default_rng(4).normal(0, 0.1, x.shape)).astype(np.float32)
    den = EPLLDenoiser(gmm, betas=(1, 4, 16))
    out = den(cp.asarray(y), 0.1)
    assert isinstance(out, cp.ndarray) and out.dtype == cp.float32
    np.testing.assert_allclose(cp.asnumpy(out), den(y, 0.1), atol=1e-4)
