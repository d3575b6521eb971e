"""Classical baselines: Richardson-Lucy and the Wiener (regularised inverse) filter."""

from __future__ import annotations

from ..backend import check_scalar, get_xp
from .base import Solver

__all__ = ["RichardsonLucy", "wiener"]


class RichardsonLucy(Solver):
    """Richardson-Lucy deconvolution for Poisson data ``y ~ P(H x)`` with ``H >= 0``.

    .. math:: x_{k+1} = \\frac{x_k}{H^T 1} \\odot H^T \\frac{y}{H x_k}

    (the EM algorithm for the Poisson likelihood; multiplicative, keeps ``x >= 0``).

    Parameters
    ----------
    y : ndarray
        Non-negative observation.
    operator : LinearOperator
        Non-negative forward model (a blur with a non-negative kernel, a mask, ...).
    x0 : ndarray, optional
        Positive start; default the constant ``mean(y)``.
    eps : float
        Guards the division where ``H x`` vanishes.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Blur
    >>> H = Blur(np.ones((3, 3)) / 9, (16, 16))
    >>> x = np.zeros((16, 16)); x[8, 8] = 1.0; x += 0.1
    >>> res = RichardsonLucy(H @ x, H).run(max_iter=300, tol=0)
    >>> float(res.x[8, 8]) > 0.5
    True
    """

    def __init__(self, y, operator, x0=None, *, eps=1e-12):
        xp = get_xp(y)
        if float(y.min()) < 0:
            raise ValueError("y must be non-negative for Richardson-Lucy")
        self.y, self.H, self.eps = y, operator, eps
        self.x = xp.full(operator.in_shape, float(y.mean()), dtype=y.dtype) if x0 is None \
            else x0.copy()
        self._norm = operator.apply_adjoint(xp.ones(operator.out_shape, dtype=y.dtype))
        self._norm = xp.maximum(self._norm, eps)

    def step(self):
        xp = get_xp(self.x)
        hx = self.H.apply(self.x, check=False)
        ratio = self.y / xp.maximum(hx, self.eps)
        self.x = self.x * self.H.apply_adjoint(ratio, check=False) / self._norm

    def objective(self):
        xp = get_xp(self.x)
        hx = xp.maximum(self.H.apply(self.x, check=False), self.eps)
        return float((hx - self.y * xp.log(hx)).sum())

    def info(self):
        return {"solver": "richardson_lucy"}


def wiener(y, operator, nsr):
    """Wiener / Tikhonov regularised inverse ``x = (H^T H + nsr I)^{-1} H^T y``.

    ``nsr`` is the noise-to-signal power ratio (``sigma^2 / signal variance``). One exact
    ``solve_normal`` for circular blur (the classical frequency-domain Wiener filter with a
    white signal spectrum), symmetric blur with reflective boundaries, masks and
    super-resolution; conjugate gradient otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Blur
    >>> H = Blur(np.ones((3, 3)) / 9, (16, 16))
    >>> x = np.random.default_rng(0).random((16, 16))
    >>> bool(np.abs(wiener(H @ x, H, 1e-8) - x).max() < 1e-3)
    True
    """
    nsr = check_scalar(nsr, "nsr", positive=True)
    return operator.solve_normal(operator.apply_adjoint(y), nsr, tol=1e-8, max_iter=1000)
