"""Half-quadratic splitting (with a penalty schedule) and Douglas-Rachford."""

from __future__ import annotations

import numpy as np

from ..backend import check_scalar
from ..functionals import DataFidelity
from .base import Solver

__all__ = ["HQS", "DouglasRachford", "dihedral", "dpir_schedule"]


def dihedral(x, t, *, inverse=False):
    """The ``t``-th of the 8 flips and quarter turns of an image ``(H, W[, C])``, or its inverse.

    ``t = 4 f + r`` turns by ``r`` quarter turns (``rot90`` over the first two axes) and then,
    when ``f = 1``, flips left-right. ``t = 0`` is the identity. The result is C-contiguous (a
    copy unless ``t = 0``); NumPy or CuPy, as the input.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(6.0).reshape(2, 3)
    >>> all(np.array_equal(dihedral(dihedral(x, t), t, inverse=True), x) for t in range(8))
    True
    >>> dihedral(x, 1).shape
    (3, 2)
    """
    if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < 8:
        raise ValueError(f"t must be an integer in 0..7, got {t!r}")
    if getattr(x, "ndim", 0) not in (2, 3):
        raise ValueError(f"x must be an image (H, W) or (H, W, C), got shape "
                         f"{getattr(x, 'shape', None)}")
    if t == 0:
        return x
    from ..backend import get_xp

    xp = get_xp(x)
    r, f = t % 4, t >= 4
    if inverse:
        if f:
            x = x[:, ::-1]
        return xp.ascontiguousarray(xp.rot90(x, -r, axes=(0, 1)))
    x = xp.rot90(x, r, axes=(0, 1))
    return xp.ascontiguousarray(x[:, ::-1] if f else x)


def dpir_schedule(sigma, *, n_iter=8, sigma_max=49 / 255, lam=0.23):
    """The plug-and-play schedule of DPIR (Zhang et al. 2021).

    Returns ``(sigmas, mus)``: denoiser levels log-spaced from ``max(sigma_max, sigma)`` down to
    ``sigma`` over ``n_iter`` iterations, and the penalties ``mu_k = lam sigma^2 / sigma_k^2``
    of the x-step ``argmin 1/2 ||H x - y||^2 + mu_k / 2 ||x - z||^2``.
    """
    sigma = check_scalar(sigma, "sigma", positive=True)
    n_iter = check_scalar(n_iter, "n_iter", integer=True, positive=True)
    sigmas = np.logspace(np.log10(max(sigma_max, sigma)), np.log10(sigma), n_iter)
    return sigmas, lam * sigma ** 2 / sigmas ** 2


class HQS(Solver):
    """Half-quadratic splitting for ``f(x) + lam R(x)`` with an increasing penalty.

    Parameters
    ----------
    f : Functional
        Data term used through its prox (``H.solve_normal`` for squared L2).
    prior : Functional
        ``R``, used through its prox.
    x0 : ndarray
        Starting point.
    lam : float
        Regularisation weight.
    mus : sequence of float
        Penalty per iteration (length = number of iterations); increasing.
    transforms : bool
        Give the prior's prox at iteration ``k`` the image flipped / turned by
        :func:`dihedral` ``k mod 8`` (and undo it on the result). Meant for denoiser priors
        (DPIR does the same): a learned denoiser's small orientation-dependent errors then
        change from one iteration to the next instead of piling up, for two image copies per
        iteration. The
        plug-and-play constructor turns it on; off by default.

    Notes
    -----
    With ``z`` an auxiliary copy of ``x`` and ``mu_k`` growing,

    .. math:: x_k = \\mathrm{prox}_{f / \\mu_k}(z_{k-1}), \\quad
              z_k = \\mathrm{prox}_{(\\lambda / \\mu_k) R}(x_k).

    HQS is a continuation method: at a fixed ``mu`` its fixed point is biased, and it
    approaches the minimiser only as ``mu_k`` grows. A denoiser ``D(., s)`` used as ``R`` through :class:`~invrestore.functionals.Prior`-style
    prox steps sees the level ``s_k = sqrt(lam / mu_k)``: :meth:`plug_and_play` builds the
    penalties from a noise schedule.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import SquaredL2, Tikhonov
    >>> hqs = HQS(SquaredL2(np.ones(3)), Tikhonov(), np.zeros(3), lam=1.0,
    ...           mus=np.geomspace(0.1, 1e4, 60))
    >>> hqs.run().x.round(1).tolist()  # minimiser 0.5, approached as mu grows
    [0.5, 0.5, 0.5]
    """

    def __init__(self, f, prior, x0, *, lam, mus, transforms=False):
        self.f, self.prior = f, prior
        if not isinstance(transforms, bool):
            raise TypeError(f"transforms must be a bool, got {transforms!r}")
        self.transforms = transforms
        self.lam = check_scalar(lam, "lam", positive=True)
        self.mus = [check_scalar(m, "mus", positive=True) for m in mus]
        if not self.mus:
            raise ValueError("mus must hold at least one penalty")
        self.x = x0.copy()
        self._k = 0
        self._x = x0.copy()

    @classmethod
    def plug_and_play(cls, f, denoiser_prior, x0, *, sigma, lam=0.23, n_iter=8,
                      sigma_max=49 / 255, transforms=True):
        """HQS with the DPIR schedule.

        The penalties are ``mu_k = lam sigma^2 / sigma_k^2`` and the prior weight is
        ``lam sigma^2``, so the prior's prox step ``(lam sigma^2) / mu_k`` is exactly the
        denoiser variance ``sigma_k^2``. ``transforms`` (on by default) cycles the
        denoiser's input through the 8 flips and turns, one per iteration.
        """
        _, mus = dpir_schedule(sigma, n_iter=n_iter, sigma_max=sigma_max, lam=lam)
        return cls(f, denoiser_prior, x0, lam=lam * sigma ** 2, mus=mus,
                   transforms=transforms)

    def step(self):
        mu = self.mus[min(self._k, len(self.mus) - 1)]
        if isinstance(self.f, DataFidelity):
            self._x = self.f.prox(self.x, 1.0 / mu, x0=self._x)
        else:
            self._x = self.f.prox(self.x, 1.0 / mu)
        if self.transforms:
            t = self._k % 8
            self.x = dihedral(self.prior.prox(dihedral(self._x, t), self.lam / mu), t,
                              inverse=True)
        else:
            self.x = self.prior.prox(self._x, self.lam / mu)
        self._k += 1

    def run(self, *, max_iter=None, tol=0.0, **kwargs):
        """As :meth:`Solver.run`; by default one iteration per penalty and no early stop."""
        return super().run(max_iter=len(self.mus) if max_iter is None else max_iter, tol=tol,
                           **kwargs)

    def objective(self):
        return self.f(self.x) + self.lam * self.prior(self.x)

    def info(self):
        return {"solver": "hqs", "lam": self.lam, "mu_first": self.mus[0],
                "mu_last": self.mus[-1], "transforms": self.transforms}


class DouglasRachford(Solver):
    """Douglas-Rachford splitting for ``f(x) + g(x)``, both through their prox.

    .. math:: x = \\mathrm{prox}_{\\tau f}(w), \\quad z = \\mathrm{prox}_{\\tau g}(2x - w),
              \\quad w \\leftarrow w + z - x.

    The estimate is ``x`` (``= z`` at convergence).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import SquaredL2, Tikhonov
    >>> dr = DouglasRachford(SquaredL2(np.ones(3)), Tikhonov(), np.zeros(3), tau=1.0)
    >>> np.allclose(dr.run(max_iter=200, tol=1e-12).x, 0.5)
    True
    """

    def __init__(self, f, g, x0, *, tau=1.0):
        self.f, self.g = f, g
        self.tau = check_scalar(tau, "tau", positive=True)
        self.w = x0.copy()
        self.x = x0.copy()

    def step(self):
        x = self.f.prox(self.w, self.tau)
        z = self.g.prox(2.0 * x - self.w, self.tau)
        self.w = self.w + z - x
        self.x = x

    def objective(self):
        return self.f(self.x) + self.g(self.x)

    def info(self):
        return {"solver": "douglas_rachford", "tau": self.tau}
