"""Primal-dual hybrid gradient (Chambolle-Pock) for ``f(x) + sum_i g_i(K_i x)``."""

from __future__ import annotations

import math

from ..backend import check_scalar, vdot
from .base import Solver

__all__ = ["PDHG"]


def _sq(a) -> float:
    return vdot(a, a)


class PDHG(Solver):
    """Chambolle-Pock for ``min_x f(x) + sum_i g_i(K_i x)``.

    Parameters
    ----------
    f : Functional
        Term used through its prox (e.g. a box constraint, or
        :class:`~invrestore.functionals.Zero`).
    terms : list of (Functional, LinearOperator)
        The pairs ``(g_i, K_i)``; each ``g_i`` is used through ``prox_conj``. For example
        ``[(KullbackLeibler(y), H), (lam * L21(), Gradient(shape))]`` for Poisson TV deblurring.
    x0 : ndarray
        Starting point.
    tau, sigma : float, optional
        Primal and dual steps. By default ``tau = sigma = 0.99 / L`` with
        ``L = sqrt(sum_i ||K_i||^2)`` from power iterations, which satisfies
        ``tau sigma ||K||^2 < 1``.

    Notes
    -----
    .. math:: x_{k+1} = \\mathrm{prox}_{\\tau f}(x_k - \\tau \\textstyle\\sum_i K_i^T y_i),
              \\quad y_i \\leftarrow \\mathrm{prox}_{\\sigma g_i^*}(y_i + \\sigma K_i
              (2 x_{k+1} - x_k)).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import SquaredL2, Zero
    >>> from invrestore.operators import Identity
    >>> y = np.ones((4, 4))
    >>> res = PDHG(Zero(), [(SquaredL2(y), Identity((4, 4)))], np.zeros((4, 4))).run(
    ...     max_iter=500, tol=1e-12)
    >>> np.allclose(res.x, 1.0)
    True
    """

    def __init__(self, f, terms, x0, *, tau=None, sigma=None):
        if not terms:
            raise ValueError("terms must hold at least one (functional, operator) pair")
        for g, K in terms:
            if K.in_shape != tuple(x0.shape):
                raise ValueError(f"{K!r} takes {K.in_shape} but x0 has shape {x0.shape}")
        self.f, self.terms = f, list(terms)
        if tau is None or sigma is None:
            L = math.sqrt(sum(K.norm() ** 2 for _, K in self.terms))
            tau = 0.99 / L if tau is None else tau
            sigma = 0.99 / L if sigma is None else sigma
        self.tau = check_scalar(tau, "tau", positive=True)
        self.sigma = check_scalar(sigma, "sigma", positive=True)
        self.x = x0.copy()
        self.y = [K.apply(x0, check=False) * 0.0 for _, K in self.terms]
        self._dual_change = math.inf

    def _kty(self):
        out = None
        for (_, K), y in zip(self.terms, self.y):
            v = K.apply_adjoint(y, check=False)
            out = v if out is None else out + v
        return out

    def step(self):
        x_old = self.x
        x = self.f.prox(x_old - self.tau * self._kty(), self.tau)
        xbar = 2.0 * x - x_old
        y_new = [g.prox_conj(y + self.sigma * K.apply(xbar, check=False), self.sigma)
                 for (g, K), y in zip(self.terms, self.y)]
        num = math.sqrt(sum(_sq(a - b) for a, b in zip(y_new, self.y)))
        den = math.sqrt(sum(_sq(b) for b in self.y))
        self._dual_change = num / den if den > 0 else (math.inf if num > 0 else 0.0)
        self.y = y_new
        self.x = x

    def _other_change(self):
        return self._dual_change

    def objective(self):
        return self.f(self.x) + sum(g(K.apply(self.x, check=False)) for g, K in self.terms)

    def info(self):
        return {"solver": "pdhg", "tau": self.tau, "sigma": self.sigma}
