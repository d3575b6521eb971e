"""FISTA: accelerated proximal gradient with backtracking and adaptive restart."""

from __future__ import annotations

import math

from ..backend import check_scalar, vdot
from ..kernels.solver_updates import fista_update
from .base import Solver

__all__ = ["FISTA"]


_vdot = vdot


class FISTA(Solver):
    """Minimise ``f(x) + g(x)`` with ``f`` smooth and ``g`` prox-friendly.

    Parameters
    ----------
    f : Functional
        Smooth term (``f.grad``), typically a :class:`~invrestore.functionals.DataFidelity`.
    g : Functional
        Term used through its prox, typically ``lam * prior``.
    x0 : ndarray
        Starting point.
    step : float, optional
        Step ``t``; default ``1 / f.lipschitz`` (a power iteration for data terms), or
        backtracking from 1 when no Lipschitz constant is known.
    backtracking : bool, optional
        Shrink ``t`` by ``eta`` until the quadratic upper bound holds (default: only when no
        Lipschitz constant is known).
    restart : bool
        Adaptive restart (O'Donoghue & Candes 2015): reset the momentum when
        ``<y_k - x_{k+1}, x_{k+1} - x_k> > 0``.

    Notes
    -----
    Beck & Teboulle (2009):

    .. math:: x_{k+1} = \\mathrm{prox}_{t g}(y_k - t \\nabla f(y_k)), \\quad
              t_{k+1} = \\tfrac{1 + \\sqrt{1 + 4 t_k^2}}{2}, \\quad
              y_{k+1} = x_{k+1} + \\tfrac{t_k - 1}{t_{k+1}} (x_{k+1} - x_k).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import SquaredL2, Tikhonov
    >>> y = np.ones(4)
    >>> res = FISTA(SquaredL2(y), 1.0 * Tikhonov(), np.zeros(4)).run(max_iter=200, tol=1e-12)
    >>> np.allclose(res.x, 0.5)  # argmin 1/2|x - 1|^2 + 1/2|x|^2
    True
    """

    def __init__(self, f, g, x0, *, step=None, backtracking=None, restart=True, eta=0.5):
        self.f, self.g = f, g
        if step is None:
            L = f.lipschitz
            if L is None or L <= 0:
                step, backtracking = 1.0, True if backtracking is None else backtracking
            else:
                step = 1.0 / L
        self.t_step = check_scalar(step, "step", positive=True)
        self.backtracking = bool(backtracking)
        self.restart = restart
        self.eta = eta
        self.x = x0.copy()
        self.y = x0.copy()
        self.momentum = 1.0
        self.n_restarts = 0

    def step(self):
        x_old, y = self.x, self.y
        grad = self.f.grad(y)
        t = self.t_step
        while True:
            if self.backtracking:
                v = y - t * grad  # grad is needed again if the step shrinks
            else:
                v = grad  # fresh array: update in place, no temporary
                v *= -t
                v += y
            x = self.g.prox(v, t)
            if not self.backtracking:
                break
            d = x - y
            bound = self.f(y) + _vdot(grad, d) + _vdot(d, d) / (2.0 * t)
            if self.f(x) <= bound * (1 + 1e-12) + 1e-15:
                break
            t *= self.eta
        self.t_step = t
        m_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * self.momentum ** 2))
        # the extrapolated point, |x - x_old| and the restart test's inner products in one
        # pass (kernels.solver_updates); the point is dropped on a restart
        y_next, dd, yd, xd = fista_update(x, x_old, y, (self.momentum - 1.0) / m_new)
        self._last_step_norm = math.sqrt(max(dd, 0.0))
        # <y - x, x - x_old> > 0: the momentum points uphill
        if self.restart and yd - xd > 0:
            self.momentum, m_new = 1.0, 1.0
            self.n_restarts += 1
            self.y = x
        else:
            self.y = y_next
        self.momentum = m_new
        self.x = x

    def objective(self):
        return self.f(self.x) + self.g(self.x)

    def info(self):
        return {"solver": "fista", "step": self.t_step, "restarts": self.n_restarts}
