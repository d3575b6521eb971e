"""ADMM with the x-step through the data term's prox (exact for structured operators)."""

from __future__ import annotations

import math

from ..backend import check_scalar, vdot
from ..functionals import DataFidelity
from ..kernels.solver_updates import admm_update
from .base import Solver

__all__ = ["ADMM"]


class ADMM(Solver):
    """Minimise ``f(x) + g(x)`` by the alternating direction method of multipliers.

    Parameters
    ----------
    f : Functional
        First term through its prox, typically the data term; for
        :class:`~invrestore.functionals.DataFidelity` with a squared-L2 loss this is one
        ``H.solve_normal`` (exact FFT/DCT/diagonal solves, warm-started CG otherwise).
    g : Functional
        Second term through its prox, typically ``lam * prior``.
    x0 : ndarray
        Starting point.
    rho : float
        Penalty parameter.
    adaptive : bool
        Residual balancing (Boyd et al. 2011, Sec. 3.4.1): multiply ``rho`` by 2 when the
        primal residual exceeds ten times the dual one, divide by 2 in the opposite case
        (rescaling the dual variable), at most every ``adapt_every`` iterations.

    Notes
    -----
    Scaled form for ``min f(x) + g(z) s.t. x = z``:

    .. math:: x \\leftarrow \\mathrm{prox}_{f/\\rho}(z - u), \\quad
              z \\leftarrow \\mathrm{prox}_{g/\\rho}(x + u), \\quad u \\leftarrow u + x - z.

    The estimate is ``z`` (it satisfies the prior's constraints). Residuals: primal
    ``||x - z|| / ||z||``, dual ``rho ||z - z_prev|| / ||rho u||``.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import SquaredL2, Tikhonov
    >>> res = ADMM(SquaredL2(np.ones(4)), Tikhonov(), np.zeros(4), rho=1.0).run(tol=1e-10)
    >>> np.allclose(res.x, 0.5)
    True
    """

    def __init__(self, f, g, x0, *, rho=1.0, adaptive=True, adapt_every=5):
        self.f, self.g = f, g
        self.rho = check_scalar(rho, "rho", positive=True)
        self.adaptive = adaptive
        self.adapt_every = adapt_every
        self.x = x0.copy()
        self._x = x0.copy()
        self.u = 0.0 * x0  # owned: updated in place
        self._res = {}
        self._k = 0
        self._zz, self._zz_of = None, None  # |z|^2 and the array z it belongs to

    def _prox_f(self, v):
        if isinstance(self.f, DataFidelity):  # warm start for its conjugate-gradient path
            return self.f.prox(v, 1.0 / self.rho, x0=self._x)
        return self.f.prox(v, 1.0 / self.rho)

    def step(self):
        z_prev = self.x
        self._x = self._prox_f(z_prev - self.u)
        v = self._x + self.u
        z = self.g.prox(v, 1.0 / self.rho)
        # u + x - z in v's memory and the residuals' inner products, in one pass
        # (kernels.solver_updates):
        # ||x - z||^2 = |x|^2 - 2<x, z> + |z|^2 and ||z - z_prev||^2 likewise, with |z_prev|^2
        # kept from the previous step; |z| also serves the run loop. Accumulated in float64,
        # relative changes down to ~1e-7 are resolved, far below any stopping tolerance in use.
        self.u, xx, xz, zz, zzp, uu = admm_update(v, z, self._x, z_prev)
        self.x = z
        self._k += 1
        pp = self._zz if self._zz_of is z_prev else vdot(z_prev, z_prev)
        self._zz, self._zz_of = zz, z
        primal = math.sqrt(max(xx - 2.0 * xz + zz, 0.0))
        self._last_step_norm = math.sqrt(max(zz - 2.0 * zzp + pp, 0.0))
        self._last_x_norm = math.sqrt(zz)
        dual = self.rho * self._last_step_norm
        self._res = {"primal": primal / max(self._last_x_norm, 1e-30),
                     "dual": dual / max(self.rho * math.sqrt(max(uu, 0.0)), 1e-30),
                     "rho": self.rho}
        if self.adaptive and self._k % self.adapt_every == 0:
            if primal > 10.0 * dual:
                self.rho *= 2.0
                self.u /= 2.0
            elif dual > 10.0 * primal:
                self.rho /= 2.0
                self.u *= 2.0

    def residuals(self):
        return self._res

    def objective(self):
        return self.f(self.x) + self.g(self.x)

    def info(self):
        return {"solver": "admm", "rho": self.rho}
