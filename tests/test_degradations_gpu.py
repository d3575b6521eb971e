"""CuPy vs NumPy parity for degradations and metrics (skipped without CuPy and a GPU)."""

import numpy as np
import pytest

from invrestore.backend import get_xp, to_device, to_numpy
from invrestore.degradations import (
    add_gaussian_noise,
    add_poisson_noise,
    imresize,
    modcrop,
    validate_kernel,
)
from invrestore.metrics import psnr, rgb2y, shave, ssim

pytestmark = pytest.mark.gpu


def _gpu(a):
    return to_device(a, "cupy")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(37, 29), (37, 29, 3)])
@pytest.mark.parametrize("scale", [0.5, 1 / 3, 0.37, 1.0, 2.0, 3.0, (0.5, 2.5)])
def test_imresize_parity(dtype, shape, scale):
    rng = np.random.default_rng(0)
    x = rng.random(shape)
    x = (x * 255).round().astype(np.uint8) if dtype == np.uint8 else x.astype(dtype)
    ref = imresize(x, scale)
    got = imresize(_gpu(x), scale)
    assert get_xp(got) is not np and got.dtype == ref.dtype and got.shape == ref.shape
    if dtype == np.uint8:
        # rounding of values that land within 1e-12 of .5 may differ by one level
        assert np.abs(to_numpy(got).astype(int) - ref.astype(int)).max() <= 1
        assert np.mean(to_numpy(got) != ref) < 1e-3
    else:
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(to_numpy(got), ref, atol=tol)


def test_noise_same_on_both_backends():
    x = np.random.default_rng(1).random((33, 21, 3))
    for dtype in (np.float32, np.float64):
        xd = x.astype(dtype)
        g = add_gaussian_noise(_gpu(xd), 0.1, rng=5)
        assert get_xp(g) is not np and g.dtype == dtype
        np.testing.assert_array_equal(to_numpy(g), add_gaussian_noise(xd, 0.1, rng=5))
        p = add_poisson_noise(_gpu(xd), 20.0, rng=5)
        assert get_xp(p) is not np and p.dtype == dtype
        np.testing.assert_array_equal(to_numpy(p), add_poisson_noise(xd, 20.0, rng=5))


def test_metrics_and_helpers_accept_cupy():
    rng = np.random.default_rng(2)
    ref = rng.random((40, 36, 3))
    x = np.clip(ref + 0.05 * rng.standard_normal(ref.shape), 0, 1)
    assert psnr(_gpu(x), _gpu(ref), shave=2) == pytest.approx(psnr(x, ref, shave=2), rel=1e-12)
    assert ssim(_gpu(x), _gpu(ref)) == pytest.approx(ssim(x, ref), rel=1e-12)
    y = rgb2y(_gpu(x))
    assert get_xp(y) is not np
    np.testing.assert_allclose(to_numpy(y), rgb2y(x), rtol=1e-12)
    u8 = (x * 255).round().astype(np.uint8)
    np.testing.assert_allclose(to_numpy(rgb2y(_gpu(u8))), rgb2y(u8), rtol=1e-12)
    assert shave(_gpu(x), 3).shape == (34, 30, 3)
    assert modcrop(_gpu(x), 7).shape == (35, 35, 3)
    k = validate_kernel(_gpu(np.ones((3, 3), dtype=np.float32)))
    assert get_xp(k) is not np and k.dtype == np.float64
    with pytest.raises(ValueError, match="psf"):
        validate_kernel(_gpu(np.array([[1.0, np.nan]])), name="psf")
