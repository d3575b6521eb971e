"""restore() and denoise() with every prior on CuPy against NumPy (skipped without a GPU)."""

import numpy as np
import pytest

import invrestore as ir
from invrestore.backend import to_device, to_numpy
from invrestore.degradations import add_gaussian_noise, gaussian_kernel
from invrestore.operators import Blur, Downsample, Mask

pytestmark = pytest.mark.gpu

N = 48
_RNG = np.random.default_rng(0)
_M = _RNG.random((N, N)) > 0.3


def _models():
    k = gaussian_kernel(1.2, size=9)
    return {
        "blur": Blur(k, (N, N)),
        "mask": Mask(_M),
        "sr": Downsample(2, (N, N)) @ Blur(k, (N, N)),
        "all_in_one": Mask(_M[::2, ::2]) @ Downsample(2, (N, N)) @ Blur(k, (N, N)),
    }


@pytest.mark.parametrize("prior", [p for p in ir.available_priors() if p != "pnp"])
@pytest.mark.parametrize("model", ["blur", "mask", "sr", "all_in_one"])
def test_restore_on_cupy_matches_numpy(prior, model):
    x = np.clip(0.5 + 0.3 * np.sin(np.arange(N)[:, None] / 5.0) * np.cos(np.arange(N) / 7.0),
                0, 1)
    H = _models()[model]
    y = add_gaussian_noise(H @ x, 0.01, rng=1)
    a = ir.restore(y, H, prior=prior, sigma=0.01, lam=None, max_iter=10, tol=0)
    b = ir.restore(to_device(y, "cupy"), H.to("cupy"), prior=prior, sigma=0.01, lam=None,
                   max_iter=10, tol=0)
    assert type(b).__module__.startswith("cupy")
    np.testing.assert_allclose(to_numpy(b), a, atol=1e-3)


@pytest.mark.parametrize("prior", [p for p in ir.available_priors() if p != "pnp"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_denoise_on_cupy_matches_numpy(prior, dtype):
    y = add_gaussian_noise(np.full((N, N), 0.5), 0.1, rng=2).astype(dtype)
    a = ir.denoise(y, 0.1, method=prior)
    b = ir.denoise(to_device(y, "cupy"), 0.1, method=prior)
    assert b.dtype == a.dtype
    np.testing.assert_allclose(to_numpy(b), a, atol=1e-3 if dtype == np.float32 else 1e-6)
