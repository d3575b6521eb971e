"""Forward finite differences (the discrete gradient used by total variation)."""

from __future__ import annotations

import numpy as np

from ..backend import get_xp, get_xsp
from .base import LinearOperator, as_image_shape

__all__ = ["Gradient"]

_BOUNDARIES = {"neumann": "neumann", "reflect": "neumann", "symmetric": "neumann",
               "circular": "circular", "periodic": "circular"}


class Gradient(LinearOperator):
    """Forward differences along the two spatial axes, stacked on a new first axis.

    Parameters
    ----------
    shape : tuple
        Image shape (H, W) or (H, W, C); channels are differenced independently.
    boundary : {"neumann", "circular"}
        ``"neumann"`` (alias "reflect"): the difference across the last row/column is zero, the
        standard choice for TV (Chambolle 2004). ``"circular"``: it wraps around.

    Notes
    -----
    Output shape ``(2,) + shape``, with

    .. math:: (D x)_0[i, j] = x[i+1, j] - x[i, j], \\quad (D x)_1[i, j] = x[i, j+1] - x[i, j],

    and ``x[H, j]`` taken as ``x[H-1, j]`` (neumann) or ``x[0, j]`` (circular). The adjoint is
    minus the divergence, ``D^T p = -div p``. ``D^T D`` is the negative Laplacian, diagonalised by
    the DCT-II (neumann) or the DFT (circular), so ``solve_normal`` is exact with eigenvalues
    ``sum_axis 2 - 2 cos(pi k / N)`` and ``2 - 2 cos(2 pi k / N)`` respectively.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Gradient
    >>> D = Gradient((3, 3))
    >>> (D @ np.arange(9.0).reshape(3, 3))[0].tolist()
    [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0], [0.0, 0.0, 0.0]]
    """

    exact_solve = True

    def __init__(self, shape, *, boundary="neumann"):
        shape = as_image_shape(shape)
        if not isinstance(boundary, str) or boundary.lower() not in _BOUNDARIES:
            raise ValueError(f"boundary must be 'neumann' or 'circular', got {boundary!r}")
        super().__init__(shape, (2,) + shape, np.float64)
        self.boundary = _BOUNDARIES[boundary.lower()]
        H, W = shape[:2]
        # Eigenvalues of D^T D per axis; kept 1-D (and on the host) so that a solve on any
        # device moves only H + W numbers and broadcasts them.
        if self.boundary == "neumann":
            self._eig = (2.0 - 2.0 * np.cos(np.pi * np.arange(H) / H),
                         2.0 - 2.0 * np.cos(np.pi * np.arange(W) / W))
        else:
            self._eig = (2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(H) / H),
                         2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(W // 2 + 1) / W))

    def _forward(self, x):
        xp = get_xp(x)
        out = xp.zeros((2,) + x.shape, dtype=x.dtype)
        if self.boundary == "neumann":
            out[0, :-1] = x[1:] - x[:-1]
            out[1, :, :-1] = x[:, 1:] - x[:, :-1]
        else:
            out[0] = xp.roll(x, -1, axis=0) - x
            out[1] = xp.roll(x, -1, axis=1) - x
        return out

    def _adjoint(self, p):
        xp = get_xp(p)
        if self.boundary == "neumann":
            out = xp.zeros(p.shape[1:], dtype=p.dtype)
            out[:-1] -= p[0, :-1]
            out[1:] += p[0, :-1]
            out[:, :-1] -= p[1, :, :-1]
            out[:, 1:] += p[1, :, :-1]
            return out
        return (xp.roll(p[0], 1, axis=0) - p[0]) + (xp.roll(p[1], 1, axis=1) - p[1])

    def _solve_normal_exact(self, b, rho):
        xp, f = get_xp(b), get_xsp(b).fft
        e0, e1 = (xp.asarray(e, dtype=b.dtype) for e in self._eig)
        extra = (None,) * (b.ndim - 2)
        lam = e0[(slice(None), None) + extra] + (e1[(None, slice(None)) + extra] + rho)
        if self.boundary == "neumann":
            bh = f.dctn(b, type=2, norm="ortho", axes=(0, 1))
            return f.idctn(bh / lam, type=2, norm="ortho", axes=(0, 1))
        return f.irfft2(f.rfft2(b, axes=(0, 1)) / lam, s=b.shape[:2], axes=(0, 1))

    def _repr_args(self):
        return f"shape={self.in_shape}, boundary={self.boundary!r}"
