"""The array-code periodized wavelet transform (the GPU path of WaveletL1) against PyWavelets."""

import warnings

import numpy as np
import pytest
import pywt
from hypothesis import given
from hypothesis import strategies as st

from invrestore.functionals import WaveletL1, _dwt_xp


def _pywt_dec(x, w, levels):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Level value", category=UserWarning)
        return pywt.wavedec2(x, w, mode="periodization", level=levels, axes=(0, 1))


@given(name=st.sampled_from(["haar", "db2", "db4", "sym8", "coif2"]),
       levels=st.integers(1, 3), hm=st.integers(1, 4), wm=st.integers(1, 4),
       channels=st.sampled_from([0, 1, 3]), seed=st.integers(0, 2**16))
def test_matches_pywavelets_and_inverts(name, levels, hm, wm, channels, seed):
    w = pywt.Wavelet(name)
    shape = (hm * 2 ** levels, wm * 2 ** levels) + ((channels,) if channels else ())
    x = np.random.default_rng(seed).standard_normal(shape)
    ref = _pywt_dec(x, w, levels)
    got = _dwt_xp.wavedec2(x, w, levels)
    assert len(got) == len(ref)
    np.testing.assert_allclose(got[0], ref[0], atol=1e-12)
    for g, r in zip(got[1:], ref[1:], strict=True):
        for gb, rb in zip(g, r, strict=True):
            np.testing.assert_allclose(gb, rb, atol=1e-12)
    np.testing.assert_allclose(_dwt_xp.waverec2(got, w), x, atol=1e-12)


def test_float32_stays_float32():
    w = pywt.Wavelet("db4")
    x = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    coeffs = _dwt_xp.wavedec2(x, w, 2)
    assert all(b.dtype == np.float32 for d in coeffs[1:] for b in d)
    assert _dwt_xp.waverec2(coeffs, w).dtype == np.float32


def test_odd_length_is_refused():
    with pytest.raises(ValueError, match="even"):
        _dwt_xp.wavedec2(np.zeros((6, 5)), pywt.Wavelet("haar"), 1)


@pytest.mark.parametrize("cycle_spin", [0, 2])
@pytest.mark.parametrize("shape", [(32, 24), (21, 30, 3)])
def test_wavelet_prior_same_with_array_transforms(monkeypatch, cycle_spin, shape):
    """WaveletL1's prox and value through the array-code transforms (its CuPy path)."""
    v = np.random.default_rng(1).random(shape)
    R = WaveletL1("db4", cycle_spin=cycle_spin)
    ref_prox, ref_val = R.prox(v, 0.05), R(v)
    monkeypatch.setattr(WaveletL1, "_dec", lambda self, x, lv: _dwt_xp.wavedec2(x, self._w, lv))
    monkeypatch.setattr(WaveletL1, "_rec", lambda self, c: _dwt_xp.waverec2(c, self._w))
    np.testing.assert_allclose(R.prox(v, 0.05), ref_prox, atol=1e-12)
    assert R(v) == pytest.approx(ref_val, rel=1e-12)
