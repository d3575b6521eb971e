"""Non-local means: Numba and array kernels against the loop reference, and the denoiser API."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from invrestore.backend import cupy_available
from invrestore.denoisers import NLMDenoiser, nlm_denoise
from invrestore.denoisers.nlm import DEFAULTS, default_parameters
from invrestore.kernels.nlm import nlm_reference, non_local_means, patch_weights
from invrestore.metrics import psnr

DTYPES = (np.float32, np.float64)
TOL = {np.float32: 3e-6, np.float64: 1e-12}


def _rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def _scene(n=48, sigma=0.1, seed=0):
    """Piecewise-smooth test image and a noisy copy."""
    i, j = np.mgrid[:n, :n] / n
    x = 0.2 + 0.5 * (i > 0.5) + 0.2 * j
    x[(i - 0.3) ** 2 + (j - 0.3) ** 2 < 0.04] = 0.9
    return x, x + sigma * np.random.default_rng(seed).standard_normal(x.shape)


@pytest.mark.parametrize("fast_mode", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(9, 11), (8, 7, 3)])
@pytest.mark.parametrize("impl", ["numba", "xp"])
def test_kernels_match_reference(impl, shape, dtype, fast_mode):
    x = _rand(shape, dtype)
    kw = {"patch_size": 3, "patch_distance": 2, "fast_mode": fast_mode}
    ref = nlm_reference(x, 0.1, 0.15, **kw)
    out = non_local_means(x, 0.1, 0.15, impl=impl, **kw)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=TOL[dtype])


@given(h=st.integers(3, 7), w=st.integers(3, 7), c=st.sampled_from([0, 1, 2]),
       ps=st.sampled_from([1, 3]), pd=st.integers(0, 3), fast_mode=st.booleans(),
       sigma=st.floats(0.0, 0.2), hh=st.floats(0.05, 1.0), seed=st.integers(0, 2 ** 16))
def test_kernels_match_reference_random_parameters(h, w, c, ps, pd, fast_mode, sigma, hh, seed):
    x = _rand((h, w, c) if c else (h, w), seed=seed)
    kw = {"patch_size": ps, "patch_distance": pd, "fast_mode": fast_mode}
    ref = nlm_reference(x, sigma, hh, **kw)
    for impl in ("numba", "xp"):
        np.testing.assert_allclose(non_local_means(x, sigma, hh, impl=impl, **kw), ref,
                                   rtol=0, atol=1e-12)


@pytest.mark.parametrize("impl", ["numba", "xp"])
def test_kernels_larger_patch_and_window_beyond_the_image(impl):
    # radius 7 > height 6: the window reaches into repeated reflections
    x = _rand((6, 9), seed=3)
    for ps, pd, fast in ((5, 3, True), (3, 7, False)):
        ref = nlm_reference(x, 0.05, 0.2, patch_size=ps, patch_distance=pd, fast_mode=fast)
        out = non_local_means(x, 0.05, 0.2, patch_size=ps, patch_distance=pd, fast_mode=fast,
                              impl=impl)
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("fast_mode", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_numba_row_blocks_match_array_version(dtype, fast_mode):
    # large enough for several parallel row blocks in the Numba kernel
    x = _rand((70, 53, 2), dtype, seed=1)
    kw = {"patch_size": 5, "patch_distance": 4, "fast_mode": fast_mode}
    a = non_local_means(x, 0.1, 0.2, impl="numba", **kw)
    b = non_local_means(x, 0.1, 0.2, impl="xp", **kw)
    np.testing.assert_allclose(a, b, rtol=0, atol=TOL[dtype])


def test_kernel_edge_cases():
    x = _rand((10, 12))
    np.testing.assert_array_equal(non_local_means(x, 0.1, 0.1, patch_distance=0), x)
    c = np.full((16, 16), 0.3)
    np.testing.assert_allclose(non_local_means(c, 0.1, 0.1, patch_size=3, patch_distance=3),
                               c, atol=1e-15)
    assert patch_weights(5).tolist() == [1.0] * 5
    g = patch_weights(5, fast_mode=False)
    assert g[2] == 1.0 and np.allclose(g, g[::-1]) and g[0] < g[1] < 1.0
    # a huge h averages the whole window uniformly (box mean over reflected neighbours)
    y = non_local_means(x, 0.0, 1e6, patch_size=3, patch_distance=1, impl="xp")
    pad = np.pad(x, 1, mode="reflect")
    box = sum(pad[a:a + 10, b:b + 12] for a in range(3) for b in range(3)) / 9
    np.testing.assert_allclose(y, box, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(20, 23), (20, 23, 3), (20, 23, 1)])
def test_denoise_preserves_shape_and_dtype(shape, dtype):
    x = _rand(shape)
    if dtype == np.uint8:
        x = (255 * x).astype(np.uint8)
    out = nlm_denoise(x.astype(dtype), 0.1, patch_distance=3)
    assert out.shape == shape
    assert out.dtype == (np.float32 if dtype == np.uint8 else dtype)


@pytest.mark.parametrize("fast_mode", [True, False])
def test_denoising_improves_psnr(fast_mode):
    x, y = _scene(sigma=0.1)
    z = nlm_denoise(y, 0.1, fast_mode=fast_mode)
    assert psnr(np.clip(z, 0, 1), x) > psnr(y, x) + 6.0
    # the defaults beat a clearly mistuned h
    worse = nlm_denoise(y, 0.1, h=1.0, fast_mode=fast_mode)   # 10 sigma: over-smoothed
    assert psnr(np.clip(z, 0, 1), x) > psnr(np.clip(worse, 0, 1), x) + 1.0


def test_colour_denoising_improves_psnr():
    x, _ = _scene(40)
    x = np.stack([x, 1 - x, 0.5 * x], axis=-1)
    y = x + 0.1 * np.random.default_rng(4).standard_normal(x.shape)
    z = nlm_denoise(y.astype(np.float32), 0.1)
    assert z.dtype == np.float32
    assert psnr(np.clip(z, 0, 1), x) > psnr(y, x) + 6.0


def test_default_parameters_table():
    sigmas = [r[0] for r in DEFAULTS]
    assert sigmas == sorted(sigmas)
    for s, ps, pd, c_fast, c_classic in DEFAULTS:
        assert ps % 2 == 1 and pd >= 1 and c_fast > 0 and c_classic > 0
        assert default_parameters(s / 255) == (ps, pd, pytest.approx(c_fast * s / 255))
        assert default_parameters(s / 255, fast_mode=False)[2] == \
            pytest.approx(c_classic * s / 255)
    assert default_parameters(1 / 255)[:2] == DEFAULTS[0][1:3]
    assert default_parameters(200 / 255)[:2] == DEFAULTS[-1][1:3]


def test_small_image_shrinks_the_default_patch():
    y = _rand((4, 30))
    assert nlm_denoise(y, 50 / 255).shape == (4, 30)    # default patch 9 -> 3
    with pytest.raises(ValueError, match="larger than the image"):
        nlm_denoise(y, 50 / 255, patch_size=5)


def test_denoiser_protocol():
    _, y = _scene(32)
    d = NLMDenoiser(patch_distance=4)
    np.testing.assert_array_equal(d(y, 0.1), nlm_denoise(y, 0.1, patch_distance=4))
    np.testing.assert_array_equal(d(y, 0.0), y)       # protocol: sigma 0 is the identity
    assert "patch_distance=4" in repr(d)
    with pytest.raises(ValueError, match="sigma"):
        d(y, -0.1)


@pytest.mark.parametrize("sigma", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        nlm_denoise(_rand((16, 16)), sigma)


def test_bad_input():
    x = _rand((12, 12))
    with pytest.raises(ValueError, match="larger than the image"):
        nlm_denoise(x, 0.1, patch_size=13)
    with pytest.raises(ValueError, match="larger than the image"):
        non_local_means(x, 0.1, 0.1, patch_size=15)
    with pytest.raises(ValueError, match="odd"):
        nlm_denoise(x, 0.1, patch_size=4)
    with pytest.raises(ValueError, match="h must be > 0"):
        nlm_denoise(x, 0.1, h=0.0)
    with pytest.raises(ValueError, match="patch_distance"):
        nlm_denoise(x, 0.1, patch_distance=-1)
    with pytest.raises(ValueError, match="NaN"):
        nlm_denoise(np.where(x > 0.5, np.nan, x), 0.1)
    with pytest.raises(ValueError, match="shape"):
        nlm_denoise(np.zeros((4, 4, 4, 4)), 0.1)
    with pytest.raises(TypeError, match="fast_mode"):
        nlm_denoise(x, 0.1, fast_mode="yes")
    with pytest.raises(ValueError, match="odd"):
        NLMDenoiser(patch_size=6)                     # refused at construction
    with pytest.raises(ValueError, match="impl"):
        non_local_means(x, 0.1, 0.1, impl="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_matches_numba(dtype):
    import cupy as cp

    _, y = _scene(40)
    y = np.stack([y, y[::-1]], axis=-1).astype(dtype)
    for fast_mode in (True, False):
        ref = nlm_denoise(y, 0.1, fast_mode=fast_mode, patch_distance=5)
        out = nlm_denoise(cp.asarray(y), 0.1, fast_mode=fast_mode, patch_distance=5)
        assert isinstance(out, cp.ndarray) and out.dtype == dtype
        np.testing.assert_allclose(cp.asnumpy(out), ref, rtol=0, atol=10 * TOL[dtype])
