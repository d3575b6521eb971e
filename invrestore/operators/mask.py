"""Pixel-wise masking: missing pixels (inpainting) or per-pixel weights."""

from __future__ import annotations

import numpy as np

from ..backend import check_finite, device_of, get_xp, to_device
from .base import LinearOperator, as_image_shape

__all__ = ["Mask"]


class Mask(LinearOperator):
    """Diagonal operator ``x -> m * x``: missing pixels (boolean mask) or weights.

    Parameters
    ----------
    mask : array_like, (H, W) or (H, W, C)
        Boolean (True = observed pixel) or real weights; NumPy or CuPy (it decides where the
        operator lives).
    shape : tuple, optional
        Image shape. Defaults to ``mask.shape``. A 2-D mask with ``shape=(H, W, C)`` applies the
        same mask to every channel.

    Notes
    -----
    ``(M x)[i] = m[i] x[i]``; the output has the input's shape with missing pixels set to zero.
    ``M^T = M`` and the normal equations are diagonal, solved exactly:
    ``(M^T M + rho I)^{-1} b = b / (m^2 + rho)``.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Mask
    >>> M = Mask(np.array([[True, False], [False, True]]))
    >>> (M @ np.ones((2, 2))).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    exact_solve = True
    exact_solve_adjoint = True

    def __init__(self, mask, shape=None):
        if not hasattr(mask, "ndim"):
            mask = np.asarray(mask)
        if mask.dtype.kind not in "biuf":
            raise TypeError(f"mask must be boolean or real weights, got dtype {mask.dtype}")
        if mask.ndim not in (2, 3):
            raise ValueError(f"mask must be (H, W) or (H, W, C), got shape {tuple(mask.shape)}")
        shape = tuple(mask.shape) if shape is None else as_image_shape(shape)
        mshape = tuple(mask.shape)
        if not (mshape == shape or (mask.ndim == 2 and len(shape) == 3
                                    and mshape == shape[:2])):
            raise ValueError(f"mask has shape {mshape}, which does not match the image shape "
                             f"{shape} (expected {shape} or {shape[:2]})")
        super().__init__(shape, shape, np.float64)
        w = check_finite(mask.astype(np.float64), "mask")
        if w.ndim == 2 and len(shape) == 3:
            w = w[:, :, None]
        self.mask = mask
        self.device = device_of(mask)
        self._w = {np.dtype(np.float64): w, np.dtype(np.float32): w.astype(np.float32)}
        self._w2 = {k: v * v for k, v in self._w.items()}

    def _forward(self, x):
        return self._w[np.dtype(x.dtype)] * x

    _adjoint = _forward

    def _solve_normal_exact(self, b, rho):
        return b / (self._w2[np.dtype(b.dtype)] + rho)

    _solve_normal_adjoint_exact = _solve_normal_exact

    @property
    def observed_fraction(self) -> float:
        """Fraction of non-zero weights."""
        xp = get_xp(self.mask)
        return float(xp.count_nonzero(self.mask)) / self.mask.size

    def to(self, device):
        return Mask(to_device(self.mask, device), self.in_shape)

    def _repr_args(self):
        return f"shape={self.in_shape}, observed={self.observed_fraction:.3g}"
