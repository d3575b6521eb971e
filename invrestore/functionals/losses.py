"""Data terms: losses on the measurement space and their composition with an operator."""

from __future__ import annotations

import numpy as np

from ..backend import check_finite, check_scalar, get_xp, vdot
from .base import Functional

__all__ = ["SquaredL2", "L1", "KullbackLeibler", "DataFidelity"]


class SquaredL2(Functional):
    """``f(z) = 1/2 ||z - y||^2``: Gaussian noise.

    ``prox(v, tau) = (v + tau y) / (1 + tau)``; gradient ``z - y``, Lipschitz constant 1.
    """

    smooth = True
    lipschitz = 1.0

    def __init__(self, y):
        self.y = check_finite(y, "y")

    def _value(self, z):
        r = z - self.y
        return 0.5 * vdot(r, r)

    def _grad(self, z):
        return z - self.y

    def _prox(self, v, tau):
        return (v + tau * self.y) / (1.0 + tau)


class L1(Functional):
    """``f(z) = ||z - y||_1``: impulse (salt-and-pepper, Laplacian) noise.

    ``prox(v, tau) = y + soft(v - y, tau)`` with ``soft(t, a) = sign(t) max(|t| - a, 0)``.
    """

    def __init__(self, y):
        self.y = check_finite(y, "y")

    def _value(self, z):
        return float(get_xp(z).abs(z - self.y).sum())

    def _prox(self, v, tau):
        xp = get_xp(v)
        d = v - self.y
        return self.y + xp.sign(d) * xp.maximum(xp.abs(d) - tau, 0.0)


class KullbackLeibler(Functional):
    """Poisson negative log-likelihood ``f(z) = sum(z - y log z)`` (``+inf`` where ``z <= 0``
    and ``y > 0``), with counts ``y >= 0``.

    Notes
    -----
    The prox is the positive root of ``x^2 + (tau - v) x - tau y = 0``,
    ``x = (v - tau + sqrt((v - tau)^2 + 4 tau y)) / 2`` (Combettes & Pesquet 2011). The value
    drops the constant ``sum(y log y - y)``, so it equals the KL divergence up to a constant.
    """

    def __init__(self, y):
        y = check_finite(y, "y")
        if float(get_xp(y).min(y)) < 0:
            raise ValueError("y must be non-negative for a Poisson (Kullback-Leibler) data term")
        self.y = y

    def _value(self, z):
        xp = get_xp(z)
        pos = self.y > 0
        if bool((z[pos] <= 0).any()) or bool((z < 0).any()):
            return np.inf
        return float(z.sum() - (self.y[pos] * xp.log(z[pos])).sum())

    def _prox(self, v, tau):
        xp = get_xp(v)
        t = v - tau
        return 0.5 * (t + xp.sqrt(t * t + 4.0 * tau * self.y))


class DataFidelity(Functional):
    """``D(x) = loss(H x)``: a measurement-space loss composed with a forward operator.

    Parameters
    ----------
    loss : Functional
        Loss on the measurement space, e.g. :class:`SquaredL2` ``(y)``.
    operator : LinearOperator
        Forward model ``H``; ``loss`` is evaluated on arrays of ``H.out_shape``.

    Notes
    -----
    - Gradient (smooth losses): ``H^T grad loss(H x)``, Lipschitz ``||H||^2 L_loss``.
    - Prox: for :class:`SquaredL2`, ``prox(v, tau) = (H^T H + I / tau)^{-1} (H^T y + v / tau)``,
      i.e. one ``H.solve_normal`` (exact and O(N log N) for the structured operators). For other
      losses the prox exists in closed form only when ``H`` is diagonal (identity, mask); use a
      splitting solver (PDHG, ADMM) that handles ``loss`` and ``H`` separately otherwise.
    """

    def __init__(self, loss, operator):
        self.loss = loss
        self.operator = operator
        self.smooth = loss.smooth
        y = getattr(loss, "y", None)
        if y is not None and tuple(y.shape) != operator.out_shape:
            raise ValueError(f"y has shape {tuple(y.shape)} but {operator!r} produces "
                             f"{operator.out_shape}")
        self._lipschitz = None
        # H^T y is constant: computed once, not in every prox (an ADMM x-step would redo it)
        self._hty = operator.apply_adjoint(y) if isinstance(loss, SquaredL2) else None

    @property
    def lipschitz(self):
        if not self.smooth:
            return None
        if self._lipschitz is None:  # computed once on first use (a power iteration)
            self._lipschitz = self.loss.lipschitz * self.operator.norm() ** 2
        return self._lipschitz

    def _value(self, x):
        return self.loss._value(self.operator.apply(x, check=False))

    def _grad(self, x):
        H = self.operator
        return H.apply_adjoint(self.loss._grad(H.apply(x, check=False)), check=False)

    def _prox(self, v, tau, x0=None):
        H = self.operator
        if isinstance(self.loss, SquaredL2):
            b = self._hty + v / tau
            return H.solve_normal(b, 1.0 / tau, x0=x0)
        from ..operators import Identity

        if isinstance(H, Identity):
            return self.loss._prox(v, tau)
        raise NotImplementedError(f"no closed-form prox of {type(self.loss).__name__} composed "
                                  f"with {H!r}; use solver='pdhg' or 'admm'")

    def prox(self, v, tau, *, x0=None):
        """Prox of ``tau loss(H .)``; ``x0`` warm-starts the conjugate-gradient path."""
        tau = check_scalar(tau, "tau", positive=True)
        return self._prox(v, tau, x0=x0)

    def __repr__(self):
        return f"DataFidelity({type(self.loss).__name__}, {self.operator!r})"
