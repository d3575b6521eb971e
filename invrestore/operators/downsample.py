"""Decimation, and the closed-form x-step of decimation after a circular blur."""

from __future__ import annotations

import numbers

import numpy as np

from ..backend import get_xp, get_xsp
from .base import LinearOperator, as_image_shape
from .blur import Blur

__all__ = ["Downsample"]


def _pair(value, name, *, minimum):
    vals = value if isinstance(value, tuple | list) else (value, value)
    if len(vals) != 2:
        raise ValueError(f"{name} must be an integer or a pair of integers, got {value!r}")
    out = []
    for v in vals:
        if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral | bool) \
                and float(v).is_integer():
            v = int(v)  # 2.0 is the integer 2; 1.5 is refused below
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{name} must be an integer or a pair of integers, got {value!r}")
        if v < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
        out.append(int(v))
    return tuple(out)


class Downsample(LinearOperator):
    """Decimation: keep every ``factor``-th pixel, starting at ``offset``.

    Parameters
    ----------
    factor : int or (int, int)
        Decimation factor per spatial axis, >= 1.
    shape : tuple
        Input image shape (H, W) or (H, W, C).
    offset : int or (int, int)
        Index of the first kept pixel, ``0 <= offset < factor`` (0 as in USRNet/DPIR).

    Notes
    -----
    ``(S x)[i, j] = x[o0 + f0 i, o1 + f1 j]``, output shape ``ceil((H - o0) / f0)`` by
    ``ceil((W - o1) / f1)``. ``S^T`` inserts zeros; ``S S^T = I`` and ``S^T S`` is the diagonal
    0/1 sampling pattern, so both normal equations are solved exactly.

    Composed after a circular :class:`Blur` (``Downsample(s, shape) @ Blur(k, shape)``, the
    classical super-resolution model) with ``H, W`` divisible by the factor, the normal equations
    keep a closed form (Zhao et al. 2016): with ``F`` the 2-D DFT, ``K`` the transfer function,
    ``<.>`` the average over the ``f0 x f1`` spectral blocks and ``[.]`` their replication,

    .. math:: x = \\frac{1}{\\rho} F^{-1}\\Big( \\hat b - \\bar K \\Big[\\frac{\\langle K \\hat b
              \\rangle}{\\langle |K|^2 \\rangle + \\rho}\\Big] \\Big),

    an O(N log N) x-step for super-resolution.

    References
    ----------
    N. Zhao, Q. Wei, A. Basarab, N. Dobigeon, D. Kouame, J.-Y. Tourneret, "Fast single image
    super-resolution using a new analytical solution for l2-l2 problems", IEEE TIP 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Blur, Downsample
    >>> from invrestore.degradations import gaussian_kernel
    >>> A = Downsample(2, (64, 64)) @ Blur(gaussian_kernel(1.0), (64, 64))
    >>> A.out_shape, A.exact_solve
    ((32, 32), True)
    """

    exact_solve = True
    exact_solve_adjoint = True

    def __init__(self, factor, shape, *, offset=0):
        shape = as_image_shape(shape)
        self.factor = _pair(factor, "factor", minimum=1)
        self.offset = _pair(offset, "offset", minimum=0)
        if any(o >= f for o, f in zip(self.offset, self.factor)):
            raise ValueError(f"offset must be smaller than factor, got offset={offset!r}, "
                             f"factor={factor!r}")
        H, W = shape[:2]
        (f0, f1), (o0, o1) = self.factor, self.offset
        if H - o0 < 1 or W - o1 < 1:
            raise ValueError(f"offset {self.offset} leaves no pixel of shape {shape}")
        out = (-(-(H - o0) // f0), -(-(W - o1) // f1)) + shape[2:]
        super().__init__(shape, out, np.float64)
        self._sl = (slice(o0, None, f0), slice(o1, None, f1))

    def _forward(self, x):
        return x[self._sl].copy()

    def _adjoint(self, y):
        xp = get_xp(y)
        out = xp.zeros(self.in_shape, dtype=y.dtype)
        out[self._sl] = y
        return out

    def _solve_normal_exact(self, b, rho):
        out = b / rho
        out[self._sl] = b[self._sl] / (1.0 + rho)
        return out

    def _solve_normal_adjoint_exact(self, b, rho):
        return b / (1.0 + rho)

    def _solver_for_composition(self, inner):
        H, W = self.in_shape[:2]
        f0, f1 = self.factor
        if (isinstance(inner, Blur) and inner.boundary == "circular"
                and H % f0 == 0 and W % f1 == 0):
            return _BlurDecimateSolver(inner, self.factor, self.offset)
        return None

    def _repr_args(self):
        return f"factor={self.factor}, shape={self.in_shape}, offset={self.offset}"


class _BlurDecimateSolver:
    """Closed-form normal equations of ``S K`` (decimation after circular blur)."""

    def __init__(self, blur, factor, offset):
        self.factor, self.offset = factor, offset
        K = blur.transfer_function()
        k2 = self._block_mean(K.real * K.real + K.imag * K.imag)
        if len(blur.in_shape) == 3:
            K, k2 = K[:, :, None], k2[:, :, None]
        self._K = {np.dtype(np.float64): K, np.dtype(np.float32): K.astype(np.complex64)}
        # The solution is real, so only the half spectrum feeds a (cheaper) inverse real FFT.
        self._half = blur.in_shape[1] // 2 + 1
        self._Kc = {dt: v[:, :self._half].conj() for dt, v in self._K.items()}
        self._k2 = {np.dtype(np.float64): k2, np.dtype(np.float32): k2.astype(np.float32)}
        self._fft = get_xsp(K).fft

    def _block_mean(self, Z):
        # Spectrum of a decimated signal = mean of the f0 x f1 aliased blocks of the spectrum.
        (f0, f1), (H, W) = self.factor, Z.shape[:2]
        return Z.reshape((f0, H // f0, f1, W // f1) + Z.shape[2:]).mean(axis=(0, 2))

    def _tile(self, Z):
        xp = get_xp(Z)
        return xp.tile(Z, self.factor + (1,) * (Z.ndim - 2))

    def __call__(self, b, rho):
        xp, f = get_xp(b), self._fft
        o = self.offset
        if any(o):  # S_o = S_0 R with R a circular shift that commutes with K
            b = xp.roll(b, (-o[0], -o[1]), axis=(0, 1))
        dt = np.dtype(b.dtype)
        K, k2 = self._K[dt], self._k2[dt]
        bh = f.fft2(b, axes=(0, 1))
        low = self._block_mean(K * bh) / (k2 + rho)
        h = self._half
        zh = bh[:, :h] - self._Kc[dt] * self._tile(low)[:, :h]
        zh /= rho
        x = f.irfft2(zh, s=b.shape[:2], axes=(0, 1))
        if any(o):
            x = xp.roll(x, o, axis=(0, 1))
        return x

    def solve_adjoint(self, b, rho):
        """``(S K K^T S^T + rho I)^{-1} b`` on the low-resolution grid (offset-free)."""
        f = self._fft
        dt = np.dtype(b.dtype)
        k2 = self._k2[dt][:, :b.shape[1] // 2 + 1]
        return f.irfft2(f.rfft2(b, axes=(0, 1)) / (k2 + rho), s=b.shape[:2], axes=(0, 1))
