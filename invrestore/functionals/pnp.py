"""Plug-and-play: any denoiser as a prior (the one bridge from denoisers to functionals)."""

from __future__ import annotations

import math

from ..backend import check_scalar
from .base import Prior

__all__ = ["DenoiserPrior", "RED"]


class DenoiserPrior(Prior):
    """A prior defined implicitly by a denoiser ``D(x, sigma)`` (plug-and-play).

    Parameters
    ----------
    denoiser : Denoiser, Prior or callable
        ``D(x, sigma) -> x`` (see :mod:`invrestore.denoisers`).
    scale : float
        Multiplies the noise level handed to the denoiser (default 1: the MAP mapping below).

    Notes
    -----
    If ``R = -log p`` for an image density ``p``, the MAP denoiser of ``v = x + N(0, s^2)`` is
    ``argmin_x R(x) + ||x - v||^2 / (2 s^2) = prox_{s^2 R}(v)``. Read backwards, the prox of
    step ``tau`` is the denoiser at level ``sqrt(tau)``:

    .. math:: \\mathrm{prox}_{\\tau R}(v) := D(v, \\mathrm{scale} \\cdot \\sqrt{\\tau}).

    So with a weight ``lam`` and a penalty ``rho`` (ADMM / HQS x-z splitting), the prior's step
    is ``lam / rho`` and the denoiser sees ``sqrt(lam / rho)``: the step is a *variance*, not a
    standard deviation (mixing the two is the classic plug-and-play scaling bug).
    ``denoise(x, sigma)`` is ``D(x, sigma)``. The prior has no explicit value: ``R(x)`` is
    reported as 0, so recorded objectives hold the data term only.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import DenoiserPrior
    >>> seen = []
    >>> R = DenoiserPrior(lambda x, s: (seen.append(round(s, 6)), x)[1])
    >>> _ = R.prox(np.zeros((4, 4)), 0.01)
    >>> seen
    [0.1]
    """

    def __init__(self, denoiser, *, scale=1.0):
        from ..denoisers import as_denoiser

        self.denoiser = as_denoiser(denoiser)
        self.scale = check_scalar(scale, "scale", positive=True)

    def _value(self, x):
        return 0.0

    def _prox(self, v, tau):
        return self.denoiser(v, self.scale * math.sqrt(tau))

    def denoise_step(self, sigma):
        return sigma * sigma

    def denoise(self, x, sigma):
        sigma = check_scalar(sigma, "sigma", nonnegative=True)
        return self.denoiser(x, self.scale * sigma) if sigma > 0 else x.copy()

    def __repr__(self):
        return f"DenoiserPrior({self.denoiser!r})"


class RED(Prior):
    """Regularisation by denoising (Romano, Elad & Milanfar 2017).

    ``R(x) = 1/2 <x, x - D(x, sigma_d)>`` with a fixed denoiser level ``sigma_d``.

    Parameters
    ----------
    denoiser : Denoiser, Prior or callable
        ``D(x, sigma) -> x``.
    sigma_d : float
        Noise level given to the denoiser (on the [0, 1] scale); default 5/255.
    inner : int
        Fixed-point iterations of the prox (see Notes).

    Notes
    -----
    For a locally homogeneous denoiser with a symmetric Jacobian, ``grad R(x) = x - D(x)``; RED
    uses this gradient for any denoiser, so ``grad`` is exact only under those conditions and
    ``R`` is reported for information. The prox ``argmin_v tau R(v) + 1/2 ||v - w||^2`` solves
    ``tau (v - D(v)) + v - w = 0``, approximated by ``inner`` fixed-point steps
    ``v <- (w + tau D(v)) / (1 + tau)`` from ``v = w`` (RED's ADMM variant). ``grad`` is
    Lipschitz with constant at most 2 when ``D`` is non-expansive, so gradient methods
    (FISTA) apply too.

    Examples
    --------
    >>> import numpy as np
    >>> R = RED(lambda x, s: 0.5 * x)      # D shrinks by half
    >>> R.grad(np.ones((1, 2))).tolist()   # x - D(x)
    [[0.5, 0.5]]
    """

    smooth = True
    lipschitz = 2.0

    def __init__(self, denoiser, *, sigma_d=5 / 255, inner=1):
        from ..denoisers import as_denoiser

        self.denoiser = as_denoiser(denoiser)
        self.sigma_d = check_scalar(sigma_d, "sigma_d", positive=True)
        self.inner = check_scalar(inner, "inner", integer=True, positive=True)

    def _D(self, x):
        return self.denoiser(x, self.sigma_d)

    def _value(self, x):
        return 0.5 * float((x * (x - self._D(x))).sum())

    def _grad(self, x):
        return x - self._D(x)

    def _prox(self, w, tau):
        v = w
        for _ in range(self.inner):
            v = (w + tau * self._D(v)) / (1.0 + tau)
        return v

    def denoise_step(self, sigma):
        # MAP with data 1/(2 sigma^2)||x - y||^2 and weight 1: the step equals the variance.
        return sigma * sigma

    def __repr__(self):
        return f"RED({self.denoiser!r}, sigma_d={self.sigma_d:.4g})"
