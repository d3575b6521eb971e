"""Conjugate gradient for symmetric positive-definite operators, written against ``xp``."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..backend import get_xp, vdot

__all__ = ["CGInfo", "conjugate_gradient"]


@dataclass(frozen=True)
class CGInfo:
    """Outcome of :func:`conjugate_gradient`.

    Attributes
    ----------
    n_iter : int
        Iterations run (each one applies the operator once).
    residual : float
        Final relative residual ``||b - A x|| / ||b||`` (as tracked by the recurrence).
    converged : bool
        Whether ``residual <= tol`` was reached within ``max_iter``.
    """

    n_iter: int
    residual: float
    converged: bool


def _dot(xp, a, b) -> float:
    return vdot(a, b)


def conjugate_gradient(apply_A, b, *, x0=None, tol=1e-6, max_iter=500):
    """Solve ``A x = b`` for symmetric positive-definite ``A`` by conjugate gradient.

    Parameters
    ----------
    apply_A : callable
        ``x -> A x`` on arrays shaped like ``b``.
    b : ndarray
        Right-hand side (NumPy or CuPy; the iteration runs where ``b`` lives).
    x0 : ndarray, optional
        Initial guess (warm start). Zeros by default.
    tol : float
        Stop when ``||b - A x|| <= tol ||b||``.
    max_iter : int
        Iteration cap.

    Returns
    -------
    x : ndarray
        Approximate solution, same shape and dtype as ``b``.
    info : CGInfo
        Iterations, final relative residual and convergence flag.

    Notes
    -----
    Standard Hestenes-Stiefel recurrence; one application of ``A`` per iteration. Each scalar
    product is brought to the host, which synchronises a GPU once per inner product.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([1.0, 2.0, 4.0])
    >>> x, info = conjugate_gradient(lambda v: d * v, np.ones(3), tol=1e-12)
    >>> np.allclose(x, 1 / d), info.converged
    (True, True)
    """
    xp = get_xp(b)
    b_norm = math.sqrt(_dot(xp, b, b))
    if b_norm == 0.0:
        return xp.zeros_like(b), CGInfo(0, 0.0, True)
    if x0 is None:
        x = xp.zeros_like(b)
        r = b.copy()
    else:
        x = xp.array(x0, dtype=b.dtype, copy=True)
        r = b - apply_A(x)
    p = r.copy()
    rr = _dot(xp, r, r)
    it = 0
    while it < max_iter and math.sqrt(rr) > tol * b_norm:
        Ap = apply_A(p)
        pAp = _dot(xp, p, Ap)
        if pAp <= 0.0 or not math.isfinite(pAp):
            break  # breakdown: A not positive definite on p, or round-off exhausted
        alpha = rr / pAp
        x += alpha * p
        r -= alpha * Ap
        rr_new = _dot(xp, r, r)
        p *= rr_new / rr
        p += r
        rr = rr_new
        it += 1
    res = math.sqrt(rr) / b_norm
    return x, CGInfo(it, res, res <= tol)
