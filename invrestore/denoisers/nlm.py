r"""Non-local means denoiser with parameters chosen from the noise level.

:func:`nlm_denoise` and :class:`NLMDenoiser` run the pixelwise NLM of
:func:`invrestore.kernels.nlm.non_local_means` (exact definition there: patch distance
:math:`d` = mean squared difference of two patches over all pixels and channels, weight
:math:`\exp(-\max(d - 2\sigma^2, 0) / h^2)`, reflective boundaries), with the patch size, the
search window and ``h`` taken from :data:`DEFAULTS` unless given.

Default parameters
------------------
``sigma`` (0-255 scale) selects the row calibrated at the nearest of 15, 25, 50 in log scale
(boundaries at 19.4 and 35.4); ``h = h_factor * sigma``:

=============  ===========  ================  ==============  =================
sigma (/255)   patch_size   patch_distance    h / sigma fast  h / sigma classic
=============  ===========  ================  ==============  =================
< 19.4         3            5                 0.95            1.20
19.4 - 35.4    5            7                 0.75            0.80
>= 35.4        7            7                 0.60            0.65
=============  ===========  ================  ==============  =================

Mean PSNR of the chosen rows on the 10 calibration images: 30.49 / 27.89 / 24.89 dB (fast),
30.43 / 27.96 / 24.90 dB (classic) at sigma 15 / 25 / 50.

How they were chosen (``python -m benchmarks.calibrate_nlm``, once with ``--classic``): 10
Train400 images (gray 180x180, evenly spaced in the sorted list), noise of std 15, 25 and
50 /255 with a fixed seed, mean PSNR of the clipped output for patch size {3, 5, 7, 9} x search radius {5, 7, 10, 13},
each with its best h / sigma on a grid of step 0.05 (found by walking uphill); per noise level
the best triple, where a cheaper one (fewer offsets, then smaller patches) within 0.02 dB of the
best is preferred. The Gaussian-weighted variant (``fast_mode=False``) keeps the fast mode's
patch size and window and has its own h / sigma. No test image (Set12, BSD68) was used.
Colour images use the same table: the distance is a mean over channels, so its noise bias is
still :math:`2\sigma^2` (for channels with independent noise).

Larger windows did not help on Train400 (radius 13 lost 0.05-0.3 dB against the chosen
ones), so the defaults are also cheap: cost grows with ``(2 patch_distance + 1)^2`` and, in
classic mode, with ``patch_size``.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import as_float_image, check_scalar
from ..kernels.nlm import non_local_means
from .base import Denoiser

__all__ = ["DEFAULTS", "NLMDenoiser", "default_parameters", "nlm_denoise"]

#: ``(sigma * 255 calibrated at, patch_size, patch_distance, h / sigma fast, h / sigma classic)``
#: from ``python -m benchmarks.calibrate_nlm`` on Train400 (see the module notes).
DEFAULTS = (
    (15, 3, 5, 0.95, 1.20),
    (25, 5, 7, 0.75, 0.80),
    (50, 7, 7, 0.60, 0.65),
)


def default_parameters(sigma, fast_mode=True):
    """``(patch_size, patch_distance, h)`` of the :data:`DEFAULTS` row for ``sigma``.

    Parameters
    ----------
    sigma : float
        Noise std (> 0) on the [0, 1] scale.
    fast_mode : bool
        Selects the ``h / sigma`` column (box or Gaussian patch weights).

    Examples
    --------
    >>> from invrestore.denoisers.nlm import default_parameters
    >>> ps, pd, h = default_parameters(25 / 255)
    >>> ps, pd, round(h * 255, 2)
    (5, 7, 18.75)
    """
    sigma = check_scalar(sigma, "sigma", positive=True)
    logs = math.log(sigma * 255.0)
    row = min(DEFAULTS, key=lambda r: abs(math.log(r[0]) - logs))
    return row[1], row[2], (row[3] if fast_mode else row[4]) * sigma


def _check_options(patch_size, patch_distance, h, fast_mode):
    if patch_size is not None:
        patch_size = check_scalar(patch_size, "patch_size", integer=True, positive=True)
        if patch_size % 2 == 0:
            raise ValueError(f"patch_size must be odd (a centred patch), got {patch_size}")
    if patch_distance is not None:
        patch_distance = check_scalar(patch_distance, "patch_distance", integer=True,
                                      nonnegative=True)
    if h is not None:
        h = check_scalar(h, "h", positive=True)
    if not isinstance(fast_mode, (bool, np.bool_)):
        raise TypeError(f"fast_mode must be a bool, got {fast_mode!r}")
    return patch_size, patch_distance, h, bool(fast_mode)


def nlm_denoise(x, sigma, *, patch_size=None, patch_distance=None, h=None, fast_mode=True):
    r"""Non-local means denoising of Gaussian noise of std ``sigma``.

    Parameters
    ----------
    x : array_like
        Noisy image ``(H, W)`` or ``(H, W, C)``, NumPy or CuPy; integer images are converted
        as by :func:`skimage.util.img_as_float`, float32 / float64 are kept.
    sigma : float
        Noise standard deviation on the [0, 1] scale (> 0; ``25 / 255`` for "sigma 25").
    patch_size : int, optional
        Odd patch side; default from :data:`DEFAULTS` (reduced to fit a small image).
        An explicit value larger than the image is an error.
    patch_distance : int, optional
        Radius ``r`` of the ``(2r + 1)^2`` search window; default from :data:`DEFAULTS`.
    h : float, optional
        Filtering parameter on the [0, 1] scale (not a multiple of ``sigma``); default
        ``h_factor * sigma`` from :data:`DEFAULTS`.
    fast_mode : bool
        Uniform patch weights computed with box sums (default) or the Gaussian-weighted
        distance of Buades et al. (slower by about the patch size).

    Returns
    -------
    ndarray
        Denoised image, same shape, dtype and device as ``x`` (float). Not clipped.

    Notes
    -----
    Exact definition in :mod:`invrestore.kernels.nlm`; defaults and how they were chosen in
    :mod:`invrestore.denoisers.nlm`.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.denoisers import nlm_denoise
    >>> rng = np.random.default_rng(0)
    >>> x = np.tile(np.linspace(0, 1, 32), (32, 1))
    >>> y = x + 0.1 * rng.standard_normal(x.shape)
    >>> z = nlm_denoise(y, 0.1)
    >>> bool(np.mean((z - x) ** 2) < 0.25 * np.mean((y - x) ** 2))
    True
    """
    x = as_float_image(x, name="x")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C), got shape {tuple(x.shape)}")
    sigma = check_scalar(sigma, "sigma", positive=True)
    patch_size, patch_distance, h, fast_mode = _check_options(patch_size, patch_distance, h,
                                                              fast_mode)
    ps0, pd0, h0 = default_parameters(sigma, fast_mode)
    if patch_size is None:
        side = min(x.shape[:2])
        patch_size = min(ps0, side if side % 2 else side - 1)
    return non_local_means(x, sigma, h0 if h is None else h, patch_size=patch_size,
                           patch_distance=pd0 if patch_distance is None else patch_distance,
                           fast_mode=fast_mode)


class NLMDenoiser(Denoiser):
    """Non-local means as a :class:`~invrestore.denoisers.Denoiser` (see :func:`nlm_denoise`).

    Parameters
    ----------
    patch_size, patch_distance, h : optional
        Fixed values; None (default) takes them from :data:`DEFAULTS` at each call's
        ``sigma``. ``h`` is on the [0, 1] scale, so a fixed ``h`` ignores ``sigma``.
    fast_mode : bool
        Box (default) or Gaussian patch weights.

    Notes
    -----
    ``sigma == 0`` returns a copy of the input (the :class:`Denoiser` protocol); negative or
    non-finite ``sigma`` raises.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.denoisers import NLMDenoiser
    >>> d = NLMDenoiser(patch_distance=5)
    >>> d
    NLMDenoiser(patch_size=None, patch_distance=5, h=None, fast_mode=True)
    >>> y = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    >>> d(y, 0.1).dtype
    dtype('float32')
    """

    def __init__(self, *, patch_size=None, patch_distance=None, h=None, fast_mode=True):
        (self.patch_size, self.patch_distance, self.h,
         self.fast_mode) = _check_options(patch_size, patch_distance, h, fast_mode)

    def _denoise(self, x, sigma):
        return nlm_denoise(x, sigma, patch_size=self.patch_size,
                           patch_distance=self.patch_distance, h=self.h,
                           fast_mode=self.fast_mode)

    def __repr__(self):
        return (f"NLMDenoiser(patch_size={self.patch_size}, "
                f"patch_distance={self.patch_distance}, h={self.h}, "
                f"fast_mode={self.fast_mode})")
