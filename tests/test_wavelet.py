"""WaveletL1: exact soft-thresholding prox for orthonormal periodised wavelets."""

import warnings

import numpy as np
import pytest
import pywt
from hypothesis import given
from hypothesis import strategies as st

from invrestore.functionals import WaveletL1
from invrestore.functionals import wavelet as wavelet_module


def _rand(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def _coeffs(x, wavelet, levels):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Level value", category=UserWarning)
        return pywt.wavedec2(x, wavelet, mode="periodization", level=levels, axes=(0, 1))


@pytest.mark.parametrize("wavelet,levels,shape", [("db4", 2, (32, 24)), ("haar", 3, (16, 16, 3)),
                                                  ("sym4", 1, (8, 12))])
def test_prox_is_soft_thresholding_of_details(wavelet, levels, shape):
    v = _rand(shape, seed=1)
    tau = 0.07
    x = WaveletL1(wavelet, levels=levels).prox(v, tau)
    cv, cx = _coeffs(v, wavelet, levels), _coeffs(x, wavelet, levels)
    np.testing.assert_allclose(cx[0], cv[0], atol=1e-12)  # approximation band untouched
    for dv, dx in zip(cv[1:], cx[1:]):
        for bv, bx in zip(dv, dx):
            soft = np.sign(bv) * np.maximum(np.abs(bv) - tau, 0.0)
            np.testing.assert_allclose(bx, soft, atol=1e-12)


@given(h=st.integers(1, 5), w=st.integers(1, 5), c=st.sampled_from([None, 2]),
       dtype=st.sampled_from([np.float32, np.float64]), levels=st.integers(1, 3))
def test_perfect_reconstruction_and_dtype(h, w, c, dtype, levels):
    shape = (h * 8, w * 8) if c is None else (h * 8, w * 8, c)
    v = _rand(shape, dtype)
    x = WaveletL1("db2", levels=levels).prox(v, 1e-12)
    assert x.dtype == dtype and x.shape == shape
    np.testing.assert_allclose(x, v, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_prox_optimality_brute_force():
    R = WaveletL1("db2", levels=2)
    v = _rand((8, 8), seed=2)
    tau = 0.05
    x = R.prox(v, tau)

    def obj(z):
        return tau * R(z) + 0.5 * np.sum((z - v) ** 2)

    f0 = obj(x)
    rng = np.random.default_rng(3)
    for _ in range(300):
        assert obj(x + 1e-3 * rng.standard_normal(v.shape)) >= f0 - 1e-12


def test_value_is_l1_of_detail_coefficients():
    v = _rand((16, 16), seed=4)
    c = _coeffs(v, "db4", 2)
    expected = sum(np.abs(b).sum() for d in c[1:] for b in d)
    assert WaveletL1(levels=2)(v) == pytest.approx(expected)
    assert WaveletL1(levels=2)(np.full((16, 16), 0.7)) == pytest.approx(0.0, abs=1e-12)


def test_nonexpansive_and_moreau():
    R = WaveletL1(levels=2)
    rng = np.random.default_rng(5)
    for _ in range(5):
        a, b = rng.random((16, 16)), rng.random((16, 16))
        assert np.linalg.norm(R.prox(a, 0.1) - R.prox(b, 0.1)) <= np.linalg.norm(a - b) + 1e-12
    v, tau = rng.random((16, 16)), 0.2
    np.testing.assert_allclose(R.prox(v, tau) + tau * R.prox_conj(v / tau, 1 / tau), v,
                               atol=1e-12)
    # conjugate prox = projection onto {W^T c : |c_detail| <= 1, c_approx = 0}
    u = R.prox_conj(v / tau, 1 / tau)
    cu = _coeffs(u, "db4", 2)
    assert np.abs(cu[0]).max() < 1e-10
    assert max(np.abs(b).max() for d in cu[1:] for b in d) <= 1 + 1e-10


def test_colour_is_per_channel():
    v = _rand((16, 16, 3), seed=6)
    R = WaveletL1(levels=2)
    x = R.prox(v, 0.1)
    for ch in range(3):
        np.testing.assert_allclose(x[..., ch], R.prox(v[..., ch].copy(), 0.1), atol=1e-12)


def test_cycle_spin_averages_shifted_proxes():
    v = _rand((16, 16), seed=7)
    plain = WaveletL1("haar", levels=2)
    spun = WaveletL1("haar", levels=2, cycle_spin=1)
    expected = np.mean([np.roll(plain.prox(np.roll(v, s, axis=(0, 1)), 0.1), (-s[0], -s[1]),
                                axis=(0, 1)) for s in [(0, 0), (0, 1), (1, 0), (1, 1)]], axis=0)
    np.testing.assert_allclose(spun.prox(v, 0.1), expected, atol=1e-12)
    np.testing.assert_allclose(WaveletL1("haar", levels=2, cycle_spin=0).prox(v, 0.1),
                               plain.prox(v, 0.1))
    assert spun.prox(v.astype(np.float32), 0.1).dtype == np.float32


def test_sizes_not_divisible_are_padded():
    v = _rand((13, 17, 2), np.float32, seed=8)
    R = WaveletL1(levels=3)
    x = R.prox(v, 1e-9)
    assert x.shape == v.shape and x.dtype == np.float32
    np.testing.assert_allclose(x, v, atol=1e-5)   # the extension is cropped exactly
    assert R(v) > 0


def test_default_levels_and_denoise():
    R = WaveletL1()
    assert R.levels_for((180, 180)) == 3 and R.levels_for((512, 512)) == 3
    assert R.levels_for((10, 40)) == 1              # filter longer than the image: still 1
    assert WaveletL1("haar").levels_for((8, 8)) == 3
    s = 25 / 255
    assert R.denoise_step(s) == pytest.approx(wavelet_module.C_WAVELET * s)
    rng = np.random.default_rng(9)
    x = np.zeros((64, 64))
    x[16:48, 16:48] = 1.0
    y = x + s * rng.standard_normal(x.shape)
    for prior in (R, WaveletL1(cycle_spin=1)):
        out = prior.denoise(y, s)
        assert np.linalg.norm(out - x) < 0.7 * np.linalg.norm(y - x)


def test_bad_input():
    with pytest.raises(ValueError, match="orthogonal"):
        WaveletL1("bior2.2")
    with pytest.raises(ValueError, match="wavelet"):
        WaveletL1("nope")
    with pytest.raises(ValueError, match="levels"):
        WaveletL1(levels=0)
    with pytest.raises(ValueError, match="cycle_spin"):
        WaveletL1(cycle_spin=-1)
    with pytest.raises(ValueError, match="cycle_spin"):
        WaveletL1(cycle_spin=1.5)
    R = WaveletL1()
    with pytest.raises(TypeError, match="float32 or float64"):
        R.prox(np.zeros((8, 8), np.uint8), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        R.prox(np.full((8, 8), np.nan), 0.1)
    with pytest.raises(ValueError, match="ndim"):
        R.prox(np.zeros(8), 0.1)
    with pytest.raises(ValueError, match="tau"):
        R.prox(np.zeros((8, 8)), -1.0)
