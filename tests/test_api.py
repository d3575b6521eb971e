"""restore() / denoise(): end to end on real content, defaults, bad input."""

import numpy as np
import pytest
from skimage import data

import invrestore as ir
from invrestore.degradations import add_gaussian_noise, gaussian_kernel
from invrestore.metrics import psnr
from invrestore.operators import Blur, Downsample, Identity, Mask

X = data.camera()[::4, ::4] / 255.0  # 128x128
RNG = np.random.default_rng(5)
K = gaussian_kernel(1.6, size=13)


PRIORS = list(ir.available_priors())


@pytest.mark.parametrize("prior", PRIORS)
def test_denoise_improves_psnr(prior):
    noisy = add_gaussian_noise(X, 0.1, rng=0)
    out = ir.denoise(noisy, 0.1, method=prior)
    assert out.shape == X.shape and out.dtype == X.dtype
    # a scalar shrinkage (tikhonov) can only gain a little; the others gain a lot
    margin = 0.0 if prior == "tikhonov" else 1.0
    assert psnr(np.clip(out, 0, 1), X) > psnr(np.clip(noisy, 0, 1), X) + margin


def test_denoise_estimates_sigma_and_converts_integers():
    noisy = np.clip(add_gaussian_noise(X, 0.05, rng=1), 0, 1)
    as_uint8 = (noisy * 255).round().astype(np.uint8)
    out = ir.denoise(as_uint8, method="gradient_tikhonov")
    assert out.dtype == np.float32
    assert psnr(np.clip(out, 0, 1), X) > psnr(noisy, X)


def _problems():
    shape = X.shape
    mask = RNG.random(shape) > 0.3
    return {
        "blur": (Blur(K, shape), 0.01),
        "blur_reflect": (Blur(K, shape, boundary="reflect"), 0.01),
        "blur_valid": (Blur(K, shape, boundary="valid"), 0.01),
        "mask": (Mask(mask), 0.01),
        "sr": (Downsample(2, shape) @ Blur(K, shape), 0.01),
        "all_in_one": (Mask(mask[::2, ::2]) @ Downsample(2, shape) @ Blur(K, shape), 0.01),
    }


@pytest.mark.parametrize("name", list(_problems()))
@pytest.mark.parametrize("prior", [p for p in ("tv", "gradient_tikhonov") if p in PRIORS])
def test_restore_improves_on_the_starting_point(name, prior):
    H, sigma = _problems()[name]
    y = add_gaussian_noise(H @ X, sigma, rng=2)
    # lam=None: the fixed default (the automatic rules have their own tests)
    res = ir.restore(y, H, prior=prior, sigma=sigma, lam=None, full_output=True, max_iter=60)
    start = ir.api.initial_guess(y, H)
    assert res.x.shape == X.shape
    assert psnr(np.clip(res.x, 0, 1), X) > psnr(np.clip(start, 0, 1), X) + 0.3
    assert res.info["lam"] > 0 and res.info["sigma"] == sigma


def test_restore_reports_its_choices():
    H = Blur(K, X.shape)
    y = add_gaussian_noise(H @ X, 0.02, rng=3)
    res = ir.restore(y, H, prior="gradient_tikhonov", full_output=True, x_true=X, max_iter=10)
    assert res.info["solver"] == "admm"  # exact x-step available
    assert abs(res.info["sigma"] - 0.02) < 0.01  # estimated from y
    assert res.info["sigma_estimated"] and res.info["lam_rule"] == "gcv"
    # the chosen weight is the best-scoring one tried (a parabola refinement is tried too)
    assert res.info["lam"] == res.info["lam_tried"][int(np.argmin(res.info["lam_scores"]))]
    assert len(res.history["psnr"]) == res.n_iter
    Z = Blur(K, X.shape, boundary="zero")
    res = ir.restore(Z @ X, Z, prior="gradient_tikhonov", sigma=0.01, full_output=True,
                     max_iter=5, lam=None)
    assert res.info["solver"] == "fista"  # no closed form: gradient steps instead of CG


def test_restore_poisson_data_uses_pdhg():
    H = Blur(K, X.shape)
    y = RNG.poisson(100 * (H @ X)).astype(float) / 100
    res = ir.restore(y, H, prior="gradient_tikhonov", data="poisson", sigma=0.05,
                     full_output=True, max_iter=50)
    assert res.info["solver"] == "pdhg" and np.isfinite(res.x).all()


def test_restore_bad_input():
    H = Blur(K, X.shape)
    y = H @ X
    bad = y.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        ir.restore(bad, H)
    with pytest.raises(ValueError, match=r"y has shape \(64, 64\)"):
        ir.restore(np.zeros((64, 64)), H)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        ir.restore(y, H, lam=-1.0, prior="tikhonov")
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        ir.restore(y, H, sigma=-0.1, prior="tikhonov")
    with pytest.raises(ValueError, match="unknown prior 'bm4d'"):
        ir.restore(y, H, prior="bm4d")
    with pytest.raises(ValueError, match="unknown solver"):
        ir.restore(y, H, prior="tikhonov", solver="newton")
    with pytest.raises(ValueError, match="unknown data term"):
        ir.restore(y, H, prior="tikhonov", data="cauchy")
    with pytest.raises(TypeError, match="operator must be an invrestore LinearOperator"):
        ir.restore(y, np.eye(3))
    with pytest.raises(ValueError, match="x0 has shape"):
        ir.restore(y, H, prior="tikhonov", x0=np.zeros((3, 3)))


def test_denoise_bad_input():
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        ir.denoise(X, -0.1, method="tikhonov")
    with pytest.raises(ValueError, match="unknown prior"):
        ir.denoise(X, 0.1, method="nope")
    with pytest.raises(ValueError, match="image contains NaN"):
        ir.denoise(np.full((8, 8), np.nan), 0.1)
    with pytest.raises(ValueError, match="image must be"):
        ir.denoise(np.zeros(8), 0.1, method="tikhonov")


def test_estimate_sigma_accuracy_and_mask():
    for s in (0.02, 0.05, 0.1):
        y = add_gaussian_noise(np.full((256, 256), 0.5), s, rng=4)
        assert abs(ir.estimate_sigma(y) - s) < 0.05 * s
    y = add_gaussian_noise(np.full((256, 256), 0.5), 0.05, rng=5)
    m = RNG.random(y.shape) > 0.5
    assert abs(ir.estimate_sigma(y * m, observed=m) - 0.05) < 0.005
    assert ir.estimate_sigma(y * m) > 0.1  # holes read as edges without the mask


def test_estimate_sigma_with_scattered_missing_pixels():
    # 25% missing at random leaves almost no fully observed 7x7 patch: the 3x3 PCA fallback
    # must beat the wavelet MAD, which textures bias upward (~20% at 5/255 on this image)
    from skimage import data, transform

    x = transform.resize(data.camera() / 255.0, (256, 256), anti_aliasing=True)
    rng = np.random.default_rng(0)
    m = rng.random(x.shape) > 0.25
    for s in (5 / 255, 10 / 255):
        y = (x + s * rng.standard_normal(x.shape)) * m
        est = ir.estimate_sigma(y, observed=m)
        mad = ir.estimate_sigma(y, observed=m, method="mad")
        assert abs(est / s - 1) < 0.2
        assert abs(est / s - 1) < abs(mad / s - 1)


def test_estimate_sigma_pca_bad_parameters():
    from invrestore.estimation import estimate_sigma_pca

    y = np.random.default_rng(1).random((32, 32))
    for kw, name in (({"min_patches": -1}, "min_patches"), ({"patch_size": 0}, "patch_size"),
                     ({"stride": 1.5}, "stride")):
        with pytest.raises(ValueError, match=name):
            estimate_sigma_pca(y, **kw)


def test_identity_restore_equals_denoise_for_exact_prox():
    y = add_gaussian_noise(X, 0.05, rng=6)
    a = ir.denoise(y, 0.05, method="gradient_tikhonov")
    b = ir.restore(y, Identity(X.shape), prior="gradient_tikhonov", sigma=0.05, tol=1e-10,
                   max_iter=500)
    assert np.abs(a - b).max() < 1e-3


def test_noise_estimate_uses_the_outer_mask_of_a_composition():
    m = RNG.random((64, 64)) > 0.3
    H = Mask(m) @ Downsample(2, X.shape) @ Blur(K, X.shape)
    y = add_gaussian_noise(H @ X, 0.02, rng=8) * m
    res = ir.restore(y, H, prior="gradient_tikhonov", full_output=True, max_iter=3)
    assert abs(res.info["sigma"] - 0.02) < 0.006


def test_get_prior_checks_the_device_for_every_prior():
    import invrestore as ir

    for name in ("tv", "learned"):
        with pytest.raises(ValueError, match="device must be one of"):
            ir.get_prior(name, device="tpu")
    assert ir.get_prior("learned", device="cpu").denoiser.device == "numpy"
