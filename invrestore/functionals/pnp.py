"""Plug-and-play: any denoiser as a prior (the one bridge from denoisers to functionals)."""

from __future__ import annotations

import math

from ..backend import check_scalar
from .base import Prior

__all__ = ["DenoiserPrior"]


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
