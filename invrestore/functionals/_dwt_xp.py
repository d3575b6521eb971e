"""Periodized orthogonal 2-D wavelet transform in array code (NumPy or CuPy).

The same transform as :func:`pywt.wavedec2` / :func:`pywt.waverec2` with
``mode="periodization"`` over the first two axes, for even sizes at every level (what
:class:`~invrestore.functionals.WaveletL1` passes after its extension), written with gathers
and scatters of the array module so that it runs on the GPU for CuPy arrays.

Analysis along an axis of length ``N`` with the decomposition filters ``lo``, ``hi`` of length
``F``:

    a[n] = sum_j lo[j] x[(2n + F/2 - j) mod N],   d[n] = sum_j hi[j] x[(2n + F/2 - j) mod N],

``n = 0 .. N/2 - 1`` (PyWavelets' indexing, checked against it in the tests, also when the
filter is longer than the signal and wraps around). For an orthogonal wavelet this is an
orthonormal map and the synthesis is its adjoint: for each ``j`` the indices
``(2n + F/2 - j) mod N`` are distinct, so it is one scatter-add per tap.

The detail bands of a level are returned in PyWavelets' order ``(cH, cV, cD)`` = detail along
axis 0 / axis 1 / both.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_xp

__all__ = ["wavedec2", "waverec2"]


_TAPS = {}


def _taps(xp, n_out, F, N):
    """Index arrays ``(2n + F/2 - j) mod N``, one per tap ``j``, on ``xp``'s device (cached:
    uploading them at every call would cost a host-to-device copy per tap)."""
    key = (xp.__name__, _device_id(xp), n_out, F, N)
    idx = _TAPS.get(key)
    if idx is None:
        n = np.arange(n_out)
        idx = [xp.asarray((2 * n + F // 2 - j) % N) for j in range(F)]
        if len(_TAPS) > 256:
            _TAPS.clear()
        _TAPS[key] = idx
    return idx


def _device_id(xp):
    return None if xp is np else xp.cuda.Device().id


def _analysis(x, lo, hi, axis):
    xp = get_xp(x)
    x = xp.moveaxis(x, axis, 0)
    N = x.shape[0]
    if N % 2:
        raise ValueError(f"wavelet analysis needs an even length, got {N}")
    a = d = None
    for j, idx in enumerate(_taps(xp, N // 2, len(lo), N)):
        xs = x[idx]
        a = lo[j] * xs if a is None else a + lo[j] * xs
        d = hi[j] * xs if d is None else d + hi[j] * xs
    return xp.moveaxis(a, 0, axis), xp.moveaxis(d, 0, axis)


def _synthesis(a, d, lo, hi, axis):
    xp = get_xp(a)
    a = xp.moveaxis(a, axis, 0)
    d = xp.moveaxis(d, axis, 0)
    N = 2 * a.shape[0]
    out = xp.zeros((N,) + a.shape[1:], dtype=a.dtype)
    for j, idx in enumerate(_taps(xp, N // 2, len(lo), N)):
        out[idx] += lo[j] * a + hi[j] * d  # distinct indices: a plain add
    return xp.moveaxis(out, 0, axis)


def wavedec2(x, wavelet, levels):
    """``[cA_L, (cH_L, cV_L, cD_L), ..., (cH_1, cV_1, cD_1)]`` of ``x`` (first two axes)."""
    lo = [float(v) for v in wavelet.dec_lo]
    hi = [float(v) for v in wavelet.dec_hi]
    details = []
    cur = x
    for _ in range(levels):
        a0, d0 = _analysis(cur, lo, hi, 0)
        aa, ad = _analysis(a0, lo, hi, 1)
        da, dd = _analysis(d0, lo, hi, 1)
        details.insert(0, (da, ad, dd))
        cur = aa
    return [cur, *details]


def waverec2(coeffs, wavelet):
    """Inverse of :func:`wavedec2` (its adjoint: the transform is orthonormal)."""
    lo = [float(v) for v in wavelet.dec_lo]
    hi = [float(v) for v in wavelet.dec_hi]
    cur = coeffs[0]
    for ch, cv, cd in coeffs[1:]:
        a0 = _synthesis(cur, cv, lo, hi, 1)
        d0 = _synthesis(ch, cd, lo, hi, 1)
        cur = _synthesis(a0, d0, lo, hi, 0)
    return cur
