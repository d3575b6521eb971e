r"""Total variation prior (isotropic / vectorial or anisotropic), with a fast exact-enough prox."""

from __future__ import annotations

import numpy as np

from ..backend import check_image, check_scalar, device_of
from ..kernels.tv import tv_norm, tv_prox
from .base import Prior

__all__ = ["TotalVariation"]

#: Reference noise level of the ``denoise_step`` law (25/255).
SIGMA_REF = 25.0 / 255.0
#: ``denoise_step(sigma) = C_TV * sigma * (sigma / SIGMA_REF) ** ALPHA_TV``, calibrated on
#: 50 Train400 images at sigma = 15, 25, 50 /255 by ``python -m benchmarks.calibrate_denoisers``
#: (the script prints the PSNR table and the fit).
C_TV = 0.76
ALPHA_TV = 0.26


class TotalVariation(Prior):
    r"""Total variation ``R(x) = TV(x)`` on the forward-difference :class:`Gradient` (Neumann).

    Parameters
    ----------
    isotropic : bool
        ``True``: isotropic TV, vectorial over channels,
        :math:`\sum_{i,j} (\sum_{d,c} (Dx)_{d,i,j,c}^2)^{1/2}` (channels share edges);
        ``False``: anisotropic :math:`\sum |Dx|`.
    max_iter : int
        Cap on the dual (FGP) iterations of one prox.
    tol : float
        Relative change ``||x_k - x_{k-1}|| / ||x_k||`` at which a prox stops. The default
        1e-4 is within 0.002 dB PSNR of the exact prox when denoising Train400 images
        (1e-3 costs ~0.005 dB at half the iterations).
    warm_start : bool
        Reuse the dual of the previous prox call (same shape, dtype and device) as the start of
        the next one. Outer solvers call the prox with slowly changing inputs, where this cuts
        the iterations several-fold; it makes the object stateful (:meth:`reset` forgets).

    Notes
    -----
    ``prox(v, tau)`` = ``argmin_x tau TV(x) + 1/2 ||x - v||^2``, computed by
    :func:`invrestore.kernels.tv_prox` (FGP on the dual, Numba on the CPU, array code on CuPy;
    see that module for the algorithm and the stopping rule). The last call's
    :class:`~invrestore.kernels.TVProxInfo` (iterations, final dual) is kept in ``last_info``.

    As a denoiser, ``denoise(y, sigma) = prox(y, tau(sigma))`` with

    .. math:: \tau(\sigma) = c\,\sigma\,(\sigma / \sigma_\mathrm{ref})^{\alpha},\qquad
              c = 0.76,\ \alpha = 0.26,\ \sigma_\mathrm{ref} = 25/255,

    i.e. the MAP estimate under ``exp(-TV / s)`` with ``s = sigma^2 / tau``; ``c`` and
    ``alpha`` maximise the mean PSNR on Train400 (``benchmarks/calibrate_denoisers.py``; the
    best step grows a little faster than ``sigma``).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.functionals import TotalVariation
    >>> tv = TotalVariation()
    >>> x = np.zeros((8, 8)); x[:, 4:] = 1.0
    >>> float(tv(x))                                  # 8 rows crossing one unit edge
    8.0
    >>> y = x + 0.1 * np.random.default_rng(0).standard_normal(x.shape)
    >>> bool(np.abs(tv.denoise(y, 0.1) - x).mean() < np.abs(y - x).mean())
    True
    """

    def __init__(self, *, isotropic=True, max_iter=300, tol=1e-4, warm_start=False):
        if not isinstance(isotropic, (bool, np.bool_)):
            raise TypeError(f"isotropic must be a bool, got {isotropic!r}")
        if not isinstance(warm_start, (bool, np.bool_)):
            raise TypeError(f"warm_start must be a bool, got {warm_start!r}")
        self.isotropic = bool(isotropic)
        self.max_iter = check_scalar(max_iter, "max_iter", integer=True, positive=True)
        self.tol = check_scalar(tol, "tol", nonnegative=True)
        self.warm_start = bool(warm_start)
        self.last_info = None
        self._work = {}  # scratch buffers of the Numba prox, reused between calls
        self._dual = None

    def __repr__(self):
        return (f"TotalVariation(isotropic={self.isotropic}, max_iter={self.max_iter}, "
                f"tol={self.tol!r}, warm_start={self.warm_start})")

    def reset(self):
        """Forget the stored dual (warm start) and the last call's info."""
        self._dual = None
        self.last_info = None

    def _value(self, x):
        return tv_norm(check_image(x, "x"), isotropic=self.isotropic)

    def _prox(self, v, tau):
        v = check_image(v, "v")
        dual = None
        if self.warm_start and self._dual is not None:
            d = self._dual
            if d.shape == (2,) + v.shape and d.dtype == v.dtype and \
                    device_of(d) == device_of(v):
                dual = d
        x, info = tv_prox(v, tau, isotropic=self.isotropic, max_iter=self.max_iter,
                          tol=self.tol, dual=dual, return_info=True, workspace=self._work)
        self.last_info = info
        if self.warm_start:
            self._dual = info.dual
        return x

    def denoise_step(self, sigma):
        """``C_TV * sigma * (sigma / SIGMA_REF) ** ALPHA_TV`` (see Notes)."""
        return C_TV * sigma * (sigma / SIGMA_REF) ** ALPHA_TV
