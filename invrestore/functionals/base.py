"""Functionals: the data terms and priors of ``argmin_x D(H x, y) + lam R(x)``.

A :class:`Functional` ``f`` offers its value ``f(x)``, its gradient when it is smooth, and its
proximal operator

    prox(v, tau) = argmin_x  tau f(x) + 1/2 ||x - v||^2,

from which the conjugate's prox follows by Moreau's identity,
``prox_conj(v, tau) = v - tau prox(v / tau, 1 / tau)``. A :class:`Prior` also works as a
denoiser ``prior.denoise(x, sigma)``, with a documented mapping from the noise level to the
prox step.
"""

from __future__ import annotations

import numbers

from ..backend import check_scalar

__all__ = ["Functional", "Prior", "Zero"]


class Functional:
    """A function ``f`` from arrays to the extended reals, with a prox.

    Subclasses implement ``_value(x)`` and ``_prox(v, tau)``, and ``_grad(x)`` when
    ``smooth`` is True. Scalar multiplication ``lam * f`` gives the scaled functional
    (``prox(v, tau) = f.prox(v, lam tau)``).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import SquaredL2
    >>> f = 2.0 * SquaredL2(np.zeros(3))        # x -> ||x||^2
    >>> float(f(np.ones(3))), f.prox(np.ones(3), 0.5).tolist()
    (3.0, [0.5, 0.5, 0.5])
    """

    #: True when ``grad`` is available (and Lipschitz with constant ``lipschitz``).
    smooth = False
    #: Lipschitz constant of the gradient, when known.
    lipschitz = None

    def __call__(self, x) -> float:
        return float(self._value(x))

    def grad(self, x):
        """Gradient at ``x`` (smooth functionals only)."""
        if not self.smooth:
            raise TypeError(f"{self!r} is not differentiable; use its prox")
        return self._grad(x)

    def prox(self, v, tau):
        """``argmin_x tau f(x) + 1/2 ||x - v||^2`` for a step ``tau > 0``."""
        tau = check_scalar(tau, "tau", positive=True)
        return self._prox(v, tau)

    def prox_conj(self, v, tau):
        """Prox of the convex conjugate ``f*``, by Moreau's identity."""
        tau = check_scalar(tau, "tau", positive=True)
        return v - tau * self._prox(v / tau, 1.0 / tau)

    def _value(self, x):
        raise NotImplementedError

    def _grad(self, x):
        raise NotImplementedError

    def _prox(self, v, tau):
        raise NotImplementedError

    def __mul__(self, lam):
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real):
            return NotImplemented
        return _Scaled(lam, self)

    __rmul__ = __mul__

    def __repr__(self):
        return f"{type(self).__name__}()"


class _Scaled(Functional):
    def __init__(self, lam, f):
        self.lam = check_scalar(lam, "lam", nonnegative=True)
        self.f = f
        self.smooth = f.smooth
        self.lipschitz = None if f.lipschitz is None else self.lam * f.lipschitz

    def _value(self, x):
        return self.lam * self.f._value(x)

    def _grad(self, x):
        return self.lam * self.f._grad(x)

    def _prox(self, v, tau):
        if self.lam == 0.0:
            return v.copy()
        return self.f._prox(v, self.lam * tau)

    def __repr__(self):
        return f"{self.lam!r} * {self.f!r}"


class Zero(Functional):
    """``f(x) = 0`` (no prior); its prox is the identity."""

    smooth = True
    lipschitz = 0.0

    def _value(self, x):
        return 0.0

    def _grad(self, x):
        return 0.0 * x

    def _prox(self, v, tau):
        return v.copy()


class Prior(Functional):
    """A regulariser ``R`` that is also a denoiser ``(x, sigma) -> x``.

    ``denoise(x, sigma) = prox(x, denoise_step(sigma))``: the MAP estimate for
    ``x + N(0, sigma^2)`` under the prior ``exp(-R / s)`` for the calibrated scale of each prior.
    Subclasses document their ``denoise_step`` and how its constant was chosen.
    """

    def denoise_step(self, sigma):
        """Prox step used by :meth:`denoise` at noise level ``sigma`` (default ``sigma**2``)."""
        return sigma * sigma

    def denoise(self, x, sigma):
        """Denoise ``x`` corrupted by Gaussian noise of std ``sigma`` (on the [0, 1] scale)."""
        sigma = check_scalar(sigma, "sigma", nonnegative=True)
        if sigma == 0.0:
            return x.copy()
        return self.prox(x, self.denoise_step(sigma))

    __call__ = Functional.__call__
