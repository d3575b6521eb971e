"""Quadratic priors (Tikhonov) and box constraints."""

from __future__ import annotations

import math

from ..backend import check_scalar, get_xp, vdot
from ..operators import Gradient
from .base import Functional, Prior

__all__ = ["Tikhonov", "GradientTikhonov", "Box", "NonNegative"]


class Tikhonov(Prior):
    """``R(x) = 1/2 ||x||^2``; ``prox(v, tau) = v / (1 + tau)``.

    As a denoiser, ``denoise(x, sigma)`` shrinks towards zero with step ``sigma^2 / m2`` where
    ``m2 = 0.25`` is a typical mean square of natural images in [0, 1]: the MSE-optimal gain
    ``m2 / (m2 + sigma^2)`` of a scalar shrinkage. It is a baseline that improves a noisy image
    only slightly, not a good denoiser.
    """

    smooth = True
    lipschitz = 1.0

    def _value(self, x):
        return 0.5 * vdot(x, x)

    def _grad(self, x):
        return x

    def _prox(self, v, tau):
        return v / (1.0 + tau)

    def denoise_step(self, sigma):
        return sigma * sigma / 0.25


class GradientTikhonov(Prior):
    """``R(x) = 1/2 ||D x||^2`` with ``D`` the forward-difference :class:`Gradient`.

    The prox solves ``(I + tau D^T D) x = v`` exactly by a DCT (Neumann) or FFT (circular)
    through ``Gradient.solve_normal``; the gradient is ``D^T D x`` (Lipschitz 8).
    As a denoiser it uses ``tau = 4 sigma`` (smoothing grows with the noise; chosen on
    Train400 images as roughly the best fixed multiple, see benchmarks).
    """

    smooth = True
    lipschitz = 8.0

    def __init__(self, *, boundary="neumann"):
        self.boundary = boundary
        self._ops = {}

    def _op(self, shape):
        op = self._ops.get(shape)
        if op is None:
            op = self._ops[shape] = Gradient(shape, boundary=self.boundary)
        return op

    def _value(self, x):
        g = self._op(x.shape).apply(x, check=False)
        return 0.5 * vdot(g, g)

    def _grad(self, x):
        return self._op(x.shape).gram(x, check=False)

    def _prox(self, v, tau):
        return self._op(v.shape).solve_normal(v / tau, 1.0 / tau)

    def denoise_step(self, sigma):
        return 4.0 * sigma


class Box(Functional):
    """Indicator of ``lower <= x <= upper`` (0 inside, ``+inf`` outside); prox = clipping."""

    def __init__(self, lower=0.0, upper=1.0):
        self.lower = check_scalar(lower, "lower") if lower is not None else -math.inf
        self.upper = check_scalar(upper, "upper") if upper is not None else math.inf
        if self.lower > self.upper:
            raise ValueError(f"lower must not exceed upper, got {lower!r} > {upper!r}")

    def _value(self, x):
        xp = get_xp(x)
        ok = bool(xp.all(x >= self.lower)) and bool(xp.all(x <= self.upper))
        return 0.0 if ok else math.inf

    def _prox(self, v, tau):
        lo = None if self.lower == -math.inf else self.lower
        hi = None if self.upper == math.inf else self.upper
        return get_xp(v).clip(v, lo, hi)

    def __repr__(self):
        return f"Box({self.lower!r}, {self.upper!r})"


class NonNegative(Box):
    """Indicator of ``x >= 0``."""

    def __init__(self):
        super().__init__(0.0, None)
