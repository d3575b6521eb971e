"""Noise models and random inpainting masks.

Random numbers always come from a NumPy :class:`numpy.random.Generator` on the CPU and are then
moved to the image's device with ``xp.asarray``: the same seed gives the same noise for NumPy
and CuPy inputs (and for float32 and float64 inputs, up to rounding), at the price of one
host-to-device copy of the noise.

Examples
--------
>>> import numpy as np
>>> from invrestore.degradations import add_gaussian_noise
>>> y = add_gaussian_noise(np.zeros((64, 64)), 25 / 255, rng=0)
>>> bool(abs(float(y.std()) - 25 / 255) < 0.01)
True
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..backend import check_image, check_scalar, get_xp, to_numpy

__all__ = ["add_gaussian_noise", "add_poisson_noise", "random_mask", "as_generator"]


def as_generator(rng):
    """Return a :class:`numpy.random.Generator` from None, an int seed or a Generator.

    A Generator is returned as is (so its state advances); None gives fresh OS entropy.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral | np.integer) and not isinstance(rng, bool)):
        if rng is not None and rng < 0:
            raise ValueError(f"rng seed must be >= 0, got {rng!r}")
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.SeedSequence | np.random.BitGenerator):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {rng!r}")


def add_gaussian_noise(x, sigma, *, rng=None):
    """Add white Gaussian noise: ``y = x + sigma * n``.

    Parameters
    ----------
    x : ndarray
        Float image (NumPy or CuPy), any shape.
    sigma : float
        Noise standard deviation on the [0, 1] intensity scale (>= 0); the literature's
        "sigma = 25" is ``25 / 255``.
    rng : None, int or numpy.random.Generator
        Random source (see :func:`as_generator`).

    Returns
    -------
    ndarray
        Noisy image, same dtype, shape and device as ``x``. Not clipped.

    Notes
    -----
    ``y = x + sigma n`` with ``n = rng.standard_normal(x.shape)`` drawn in float64 and then cast
    to ``x.dtype``. The result is not clipped to [0, 1], as in the denoising benchmarks
    (DnCNN, FFDNet, BM3D): clipping would bias the noise and change the published numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.degradations import add_gaussian_noise
    >>> x = np.full((4, 4), 0.5)
    >>> bool(np.array_equal(add_gaussian_noise(x, 0.1, rng=1), add_gaussian_noise(x, 0.1, rng=1)))
    True
    """
    x = check_image(x, "x", ndim=range(1, 33))
    sigma = check_scalar(sigma, "sigma", nonnegative=True)
    xp = get_xp(x)
    noise = as_generator(rng).standard_normal(x.shape)
    return x + xp.asarray((sigma * noise).astype(x.dtype, copy=False))


def add_poisson_noise(x, peak, *, rng=None):
    """Poisson (shot) noise at a given peak photon count: ``y = Poisson(peak * x) / peak``.

    Parameters
    ----------
    x : ndarray
        Float image with non-negative values (NumPy or CuPy), typically in [0, 1].
    peak : float
        Expected photon count of an intensity-1 pixel (> 0); small peaks are noisy.
    rng : None, int or numpy.random.Generator
        Random source (see :func:`as_generator`).

    Returns
    -------
    ndarray
        Noisy image, same dtype, shape and device as ``x``, with values in ``{0, 1/peak, ...}``.

    Notes
    -----
    ``y_i = k_i / peak`` with independent ``k_i ~ Poisson(peak x_i)``, so ``E[y] = x`` and
    ``Var[y] = x / peak``. The counts are drawn on the CPU; a CuPy ``x`` is copied to the host
    for that.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.degradations import add_poisson_noise
    >>> y = add_poisson_noise(np.full((100, 100), 0.5), 10.0, rng=0)
    >>> bool(abs(float(y.mean()) - 0.5) < 0.01)
    True
    """
    x = check_image(x, "x", ndim=range(1, 33))
    peak = check_scalar(peak, "peak", positive=True)
    xp = get_xp(x)
    if x.size and float(xp.min(x)) < 0:
        raise ValueError(f"x must be >= 0 for Poisson noise, got min {float(xp.min(x))!r}")
    lam = to_numpy(x).astype(np.float64) * peak
    counts = as_generator(rng).poisson(lam)
    return xp.asarray((counts / peak).astype(x.dtype))


def random_mask(shape, missing, *, rng=None):
    """Random inpainting mask with an exact number of missing pixels.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``.
    missing : float
        Fraction of missing pixels, in [0, 1].
    rng : None, int or numpy.random.Generator
        Random source (see :func:`as_generator`).

    Returns
    -------
    numpy.ndarray
        Boolean mask of ``shape``, True where the pixel is observed. For ``(H, W, C)`` the
        same spatial mask is repeated over the channels (whole pixels go missing). Move it to
        a GPU with ``cupy.asarray`` where needed.

    Notes
    -----
    Exactly ``m = floor(missing * H * W + 1/2)`` pixels are missing, chosen uniformly among all
    subsets of that size (the first ``m`` entries of ``rng.permutation(H * W)``, row-major).

    Examples
    --------
    >>> from invrestore.degradations import random_mask
    >>> m = random_mask((10, 10), 0.3, rng=0)
    >>> int((~m).sum())
    30
    """
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple (H, W) or (H, W, C), got {shape!r}") from None
    if len(dims) not in (2, 3):
        raise ValueError(f"shape must be (H, W) or (H, W, C), got {shape!r}")
    dims = tuple(check_scalar(d, "shape", positive=True, integer=True) for d in dims)
    missing = check_scalar(missing, "missing")
    if not 0.0 <= missing <= 1.0:
        raise ValueError(f"missing must be in [0, 1], got {missing!r}")
    h, w = dims[:2]
    n_missing = min(h * w, math.floor(missing * h * w + 0.5))
    flat = np.ones(h * w, dtype=bool)
    flat[as_generator(rng).permutation(h * w)[:n_missing]] = False
    mask = flat.reshape(h, w)
    if len(dims) == 3:
        mask = np.repeat(mask[:, :, None], dims[2], axis=2)
    return mask
