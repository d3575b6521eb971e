r"""Wavelet sparsity prior: the l1 norm of orthonormal wavelet detail coefficients."""

from __future__ import annotations

import warnings

import numpy as np

from ..backend import check_image, check_scalar, get_xp
from .base import Prior

__all__ = ["WaveletL1"]

#: Deepest decomposition chosen automatically (see ``WaveletL1.levels_for``): on Train400
#: (180x180, db4) 3 levels denoise best, by 0.05-0.2 dB over 4 or 5
#: (``python -m benchmarks.calibrate_denoisers``, section "wavelet levels").
MAX_AUTO_LEVELS = 3

#: Reference noise level of the ``denoise_step`` law (25/255).
SIGMA_REF = 25.0 / 255.0
#: ``denoise_step(sigma) = C * sigma * (sigma / SIGMA_REF) ** ALPHA``: soft threshold, fitted on
#: 50 Train400 images at sigma = 15, 25, 50 /255 by ``python -m benchmarks.calibrate_denoisers``
#: (which prints the PSNR table); the best threshold grows clearly faster than sigma.
C_WAVELET, ALPHA_WAVELET = 1.53, 0.46
#: The same law for cycle-spun priors (``cycle_spin > 0``), fitted with ``cycle_spin=3``.
C_WAVELET_SPIN, ALPHA_WAVELET_SPIN = 1.51, 0.33


def _soft(c, t):
    xp = get_xp(c)
    return xp.sign(c) * xp.maximum(xp.abs(c) - t, 0)


class WaveletL1(Prior):
    r"""``R(x) = ||W x||_1`` over the detail coefficients of an orthonormal 2-D wavelet transform.

    Parameters
    ----------
    wavelet : str
        Name of an *orthogonal* PyWavelets wavelet ("db4", "haar", "sym8", "coif2", ...).
    levels : int, optional
        Decomposition depth; by default ``levels_for(shape)`` = the largest depth PyWavelets
        allows for the filter length and ``min(H, W)``, capped at ``MAX_AUTO_LEVELS`` (3), and
        at least 1.
    cycle_spin : int
        Largest circular shift per axis; the prox is averaged over the ``(cycle_spin + 1)^2``
        shifts ``(s0, s1)``, ``0 <= s0, s1 <= cycle_spin`` (as ``max_shifts`` of
        :func:`skimage.restoration.cycle_spin`). 0 disables it.

    Notes
    -----
    ``W`` is :func:`pywt.wavedec2` with ``mode="periodization"`` over the two spatial axes, each
    channel of an ``(H, W, C)`` image separately. For ``H`` and ``W`` divisible by
    ``2^levels`` it is orthonormal (``W^T W = I``), and then

    .. math:: R(x) = \sum_{\text{detail bands } b} \|(W x)_b\|_1, \qquad
              \operatorname{prox}_{\tau R}(v) = W^\top S_\tau(W v)

    exactly, with :math:`S_\tau(c) = \operatorname{sign}(c) \max(|c| - \tau, 0)` applied to the
    detail coefficients and the approximation band kept (not penalised).

    Other sizes are extended symmetrically (bottom and right) to the next multiple of
    ``2^levels`` by ``E`` and ``R(x) = ||W E x||_1``; the prox is then computed as
    ``crop(W^T S_tau(W E v))``, which is not the exact prox of that ``R`` (``E`` is not an
    isometry) but is the usual wavelet shrinkage estimator.

    With cycle spinning, ``R(x) = mean_s ||W E S_s x||_1`` over the circular shifts ``S_s``
    (of the extended image) and the prox is replaced by the average of the shifted exact
    proxes, ``mean_s S_s^T prox_{tau ||W .||_1}(S_s v)``: an approximation (the prox of a
    mean is not the mean of the proxes), documented as such; it is translation invariant and
    removes the blocky artefacts of plain shrinkage (Coifman & Donoho 1995).

    As a denoiser, ``denoise(y, sigma)`` soft-thresholds at
    :math:`\tau(\sigma) = c\,\sigma\,(\sigma / \sigma_\mathrm{ref})^{\alpha}` with
    :math:`\sigma_\mathrm{ref} = 25/255`, ``(c, alpha) = (C_WAVELET, ALPHA_WAVELET)``, or
    ``(C_WAVELET_SPIN, ALPHA_WAVELET_SPIN)`` with cycle spinning, fitted on Train400.

    Device: NumPy input uses PyWavelets; CuPy input runs the same periodized transform written
    in array code (:mod:`invrestore.functionals._dwt_xp`, equal to PyWavelets' to rounding) on
    the GPU, with no copy to the host.

    References
    ----------
    D. Donoho and I. Johnstone, "Ideal spatial adaptation by wavelet shrinkage",
    Biometrika 81, 1994. R. Coifman and D. Donoho, "Translation-invariant de-noising", 1995.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import WaveletL1
    >>> R = WaveletL1("haar", levels=1)
    >>> x = np.zeros((4, 4)); x[:, 2:] = 1.0          # one edge between Haar blocks: sparse
    >>> float(R(x))
    0.0
    >>> y = R.prox(x + 0.1 * np.eye(4), 0.05)          # small wiggles are shrunk
    >>> bool(np.abs(y - x).max() < 0.1)
    True
    """

    def __init__(self, wavelet="db4", *, levels=None, cycle_spin=0):
        import pywt  # optional at import time of invrestore

        try:
            w = pywt.Wavelet(wavelet)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"wavelet must be a PyWavelets wavelet name, got {wavelet!r}") \
                from exc
        if not w.orthogonal:
            raise ValueError(f"wavelet must be orthogonal (W^T W = I), got {wavelet!r}; "
                             "try 'db4', 'haar', 'sym8' or 'coif2'")
        self.wavelet = wavelet
        self._w = w
        if levels is not None:
            levels = check_scalar(levels, "levels", integer=True, positive=True)
        self.levels = levels
        self.cycle_spin = check_scalar(cycle_spin, "cycle_spin", integer=True, nonnegative=True)

    def __repr__(self):
        return (f"WaveletL1({self.wavelet!r}, levels={self.levels!r}, "
                f"cycle_spin={self.cycle_spin!r})")

    def levels_for(self, shape):
        """Decomposition depth used for an image of ``shape``."""
        if self.levels is not None:
            return self.levels
        import pywt

        return max(1, min(MAX_AUTO_LEVELS, pywt.dwt_max_level(min(shape[:2]), self._w.dec_len)))

    # -- transforms (PyWavelets for NumPy, array code for CuPy) ------------------------------
    def _extend(self, x, levels):
        m = 2 ** levels
        H, W = x.shape[:2]
        pad = ((0, -H % m), (0, -W % m)) + ((0, 0),) * (x.ndim - 2)
        return get_xp(x).pad(x, pad, mode="symmetric") if pad[0][1] or pad[1][1] else x

    def _shifts(self):
        n = self.cycle_spin + 1
        return [(a, b) for a in range(n) for b in range(n)]

    def _dec(self, x, levels):
        if get_xp(x) is not np:
            from ._dwt_xp import wavedec2

            return wavedec2(x, self._w, levels)
        import pywt

        with warnings.catch_warnings():
            # periodization stays orthonormal when the filter outgrows the coarse bands
            warnings.filterwarnings("ignore", message="Level value", category=UserWarning)
            return pywt.wavedec2(x, self._w, mode="periodization", level=levels, axes=(0, 1))

    def _rec(self, coeffs):
        if get_xp(coeffs[0]) is not np:
            from ._dwt_xp import waverec2

            return waverec2(coeffs, self._w)
        import pywt

        return pywt.waverec2(coeffs, self._w, mode="periodization", axes=(0, 1))

    # -- Functional interface --------------------------------------------------------------
    def _value(self, x):
        x = check_image(x, "x")
        xp = get_xp(x)
        levels = self.levels_for(x.shape)
        xe = self._extend(x, levels)
        total = 0.0
        for s in self._shifts():
            coeffs = self._dec(xp.roll(xe, s, axis=(0, 1)), levels)
            total += sum(float(xp.abs(band).sum(dtype=np.float64))
                         for detail in coeffs[1:] for band in detail)
        return total / len(self._shifts())

    def _prox(self, v, tau):
        v = check_image(v, "v")
        xp = get_xp(v)
        levels = self.levels_for(v.shape)
        ve = self._extend(v, levels)
        t = float(tau)  # a Python float keeps float32 coefficients float32
        out = xp.zeros(ve.shape, dtype=np.float64 if self.cycle_spin else v.dtype)
        for s in self._shifts():
            coeffs = self._dec(xp.roll(ve, s, axis=(0, 1)), levels)
            coeffs = [coeffs[0]] + [tuple(_soft(band, t) for band in detail)
                                    for detail in coeffs[1:]]
            rec = self._rec(coeffs)[: ve.shape[0], : ve.shape[1]]
            out += xp.roll(rec, (-s[0], -s[1]), axis=(0, 1))
        if self.cycle_spin:
            out /= len(self._shifts())
        out = out[: v.shape[0], : v.shape[1]].astype(v.dtype, copy=False)
        return xp.ascontiguousarray(out)

    def denoise_step(self, sigma):
        """Soft threshold ``C sigma (sigma / SIGMA_REF)^ALPHA`` (module constants, see Notes)."""
        if self.cycle_spin:
            return C_WAVELET_SPIN * sigma * (sigma / SIGMA_REF) ** ALPHA_WAVELET_SPIN
        return C_WAVELET * sigma * (sigma / SIGMA_REF) ** ALPHA_WAVELET
