"""Plug-and-play ADMM with a decreasing denoiser schedule."""

from __future__ import annotations

from ..backend import check_scalar
from .admm import ADMM
from .splitting import dpir_schedule

__all__ = ["PnPADMM"]


class PnPADMM(ADMM):
    """ADMM with a denoiser prior and the DPIR noise schedule (Chan et al. 2017; Zhang 2021).

    Parameters
    ----------
    f : Functional
        Data term (``DataFidelity``; its prox is ``H.solve_normal``).
    prior : DenoiserPrior
        The denoiser used as a prior.
    x0 : ndarray
        Starting point.
    sigma : float
        Noise level of the observation (the schedule's end point).
    lam : float
        Trade-off weight, as in :func:`~invrestore.solvers.dpir_schedule` (default 0.23).
    n_iter : int
        Length of the schedule; later iterations keep its last penalty.
    sigma_max : float
        First denoiser level.

    Notes
    -----
    Scaled-form ADMM for ``f(x) + (lam sigma^2) R(z)`` s.t. ``x = z`` with the penalty
    ``rho_k = lam sigma^2 / sigma_k^2`` at iteration ``k``, so the prior's prox step
    ``lam sigma^2 / rho_k`` is the denoiser variance ``sigma_k^2``:

    .. math:: x = \\mathrm{prox}_{f/\\rho_k}(z - u), \\quad z = D(x + u, \\sigma_k),
              \\quad u \\leftarrow u + x - z.

    When ``rho`` changes, the scaled dual ``u`` is rescaled by ``rho_{k-1} / rho_k``. Unlike
    HQS, the dual variable lets the iterates correct the bias of a fixed penalty.
    """

    def __init__(self, f, prior, x0, *, sigma, lam=0.23, n_iter=8, sigma_max=49 / 255):
        sigma = check_scalar(sigma, "sigma", positive=True)
        self.sigmas, self.mus = dpir_schedule(sigma, n_iter=n_iter, sigma_max=sigma_max,
                                              lam=lam)
        super().__init__(f, (lam * sigma ** 2) * prior, x0, rho=float(self.mus[0]),
                         adaptive=False)

    def step(self):
        k = min(self._k, len(self.mus) - 1)
        rho = float(self.mus[k])
        if rho != self.rho:
            self.u *= self.rho / rho
            self.rho = rho
        super().step()

    def info(self):
        return {"solver": "pnp_admm", "rho": self.rho, "sigma_last": float(self.sigmas[-1])}
