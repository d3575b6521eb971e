"""MATLAB bicubic downscaling (``imresize(x, 1/s)``, antialiased) as a linear operator.

The super-resolution benchmarks make their low-resolution images with MATLAB's ``imresize``;
restoring them with a blur-then-decimate model would fit a different forward map near every
edge of the image. On float images ``imresize`` is linear and separable,
``y = R_h x R_w^T`` with the sparse row-stochastic matrices of
:func:`invrestore.degradations.resize.resize_weights` (symmetric boundary folded in), so its
adjoint is ``R_h^T y R_w`` and the ADMM/HQS x-step has a closed form through the
eigendecompositions ``R_h^T R_h = U_h diag(a) U_h^T``, ``R_w^T R_w = U_w diag(b) U_w^T``:

    (H^T H + rho I)^{-1} v = U_h [(U_h^T v U_w) / (a b^T + rho)] U_w^T.

Examples
--------
>>> import numpy as np
>>> from invrestore.bench.sr_operator import BicubicDownsample
>>> from invrestore.degradations import imresize
>>> x = np.random.default_rng(0).random((24, 30))
>>> H = BicubicDownsample((24, 30), 3)
>>> bool(np.allclose(H @ x, imresize(x, 1 / 3)))
True
"""

from __future__ import annotations

import math

import numpy as np

from ..degradations.resize import resize_weights
from ..operators import LinearOperator

__all__ = ["BicubicDownsample", "resize_matrix"]


def resize_matrix(n_in, n_out, scale):
    """Dense ``(n_out, n_in)`` matrix of one MATLAB bicubic pass (boundary folded in)."""
    w, idx = resize_weights(n_in, n_out, scale, antialiasing=True)
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), w.shape[1]), idx.ravel()), w.ravel())
    return m


class BicubicDownsample(LinearOperator):
    """``x -> imresize(x, 1 / scale)`` on float images of ``shape`` (H, W) or (H, W, C).

    Parameters
    ----------
    shape : tuple of int
        Image shape; the output is ``(ceil(H / scale), ceil(W / scale)[, C])``.
    scale : int
        Downscaling factor (>= 2).

    Notes
    -----
    Exact ``solve_normal`` by the two eigendecompositions above (``O(H^3 + W^3)`` once, two
    dense products per solve), so :func:`invrestore.restore` runs ADMM / HQS with an exact
    x-step. NumPy only.
    """

    exact_solve = True

    def __init__(self, shape, scale):
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3):
            raise ValueError(f"shape must be (H, W) or (H, W, C), got {shape!r}")
        if int(scale) != scale or scale < 2:
            raise ValueError(f"scale must be an integer >= 2, got {scale!r}")
        self.scale = int(scale)
        h, w = shape[:2]
        oh, ow = (max(1, math.ceil(n / self.scale - 1e-9)) for n in (h, w))
        super().__init__(shape, (oh, ow) + shape[2:], np.float64)
        self._rh = resize_matrix(h, oh, 1.0 / self.scale)
        self._rw = resize_matrix(w, ow, 1.0 / self.scale)
        self._eig = None  # computed by the first solve

    def _eigen(self):
        if self._eig is None:
            ah, uh = np.linalg.eigh(self._rh.T @ self._rh)
            aw, uw = np.linalg.eigh(self._rw.T @ self._rw)
            self._eig = (uh, uw, np.maximum(ah, 0.0)[:, None] * np.maximum(aw, 0.0)[None, :])
        return self._eig

    @staticmethod
    def _sandwich(a, x, b):
        """``a @ x @ b`` over the two spatial axes, channels (if any) carried along."""
        if x.ndim == 2:
            return a @ x @ b
        return np.einsum("ih,hwc,wj->ijc", a, x, b, optimize=True)

    def _forward(self, x):
        return self._sandwich(self._rh, x, self._rw.T).astype(x.dtype, copy=False)

    def _adjoint(self, y):
        return self._sandwich(self._rh.T, y, self._rw).astype(y.dtype, copy=False)

    def _solve_normal_exact(self, b, rho):
        uh, uw, ab = self._eigen()
        c = self._sandwich(uh.T, b, uw)
        d = ab + rho
        c = c / (d if c.ndim == 2 else d[..., None])
        return self._sandwich(uh, c, uw.T).astype(b.dtype, copy=False)

    def _repr_args(self):
        return f"{self.in_shape}, scale={self.scale}"
