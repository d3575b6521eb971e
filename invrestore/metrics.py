"""Image quality metrics with the conventions of the restoration literature.

PSNR and SSIM are computed in float64 on the host (CuPy inputs are copied); SSIM is
scikit-image's implementation configured as the reference MATLAB code of Wang et al. (Gaussian
window of std 1.5, population covariances). :func:`rgb2y` and :func:`shave` reproduce the
super-resolution evaluation protocol (Y channel of MATLAB ``rgb2ycbcr``, border shaved by the
scale factor).

Examples
--------
>>> import numpy as np
>>> from invrestore.metrics import psnr
>>> ref = np.zeros((8, 8))
>>> round(psnr(ref + 0.1, ref), 6)
20.0
"""

from __future__ import annotations

import math

import numpy as np

from .backend import check_finite, check_scalar, get_xp, to_numpy

__all__ = ["psnr", "ssim", "rgb2y", "shave"]

# MATLAB rgb2ycbcr, Y row of the ITU-R BT.601 matrix scaled for 8-bit "studio swing" (16..235)
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0


def _pair_to_numpy(x, ref):
    for name, a in (("x", x), ("ref", ref)):
        if not hasattr(a, "shape") or not hasattr(a, "dtype"):
            raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(a).__name__}")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(f"x and ref must have the same shape, got x {tuple(x.shape)} and "
                         f"ref {tuple(ref.shape)}")
    if x.ndim not in (2, 3):
        raise ValueError(f"x and ref must be (H, W) or (H, W, C), got shape {tuple(x.shape)}")
    x = to_numpy(x).astype(np.float64)
    ref = to_numpy(ref).astype(np.float64)
    check_finite(x, "x")
    check_finite(ref, "ref")
    return x, ref


def _shave(x, border, name="shave"):
    if not hasattr(x, "ndim"):
        raise TypeError(f"x must be a NumPy or CuPy array, got {type(x).__name__}")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C), got shape {tuple(x.shape)}")
    border = check_scalar(border, name, nonnegative=True, integer=True)
    if border == 0:
        return x
    if 2 * border >= min(x.shape[0], x.shape[1]):
        raise ValueError(f"{name}={border} leaves nothing of an image of shape {tuple(x.shape)}")
    return x[border:-border, border:-border]


def shave(x, border):
    """Remove ``border`` pixels on each side of the two spatial axes.

    Parameters
    ----------
    x : ndarray
        (H, W) or (H, W, C) array, NumPy or CuPy.
    border : int
        Non-negative number of pixels; 0 returns ``x`` itself.

    Returns
    -------
    ndarray
        The view ``x[border:H - border, border:W - border]``.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.metrics import shave
    >>> shave(np.zeros((10, 12, 3)), 2).shape
    (6, 8, 3)
    """
    return _shave(x, border, "border")


def psnr(x, ref, *, data_range=1.0, shave=0):
    """Peak signal-to-noise ratio in dB.

    Parameters
    ----------
    x, ref : ndarray
        Image and reference of the same shape, (H, W) or (H, W, C), NumPy or CuPy. Values
        are used as they are (integer images are *not* rescaled): set ``data_range`` to match.
    data_range : float
        Peak value ``L`` (1 for images in [0, 1], 255 for 8-bit values).
    shave : int
        Pixels removed on each side of both spatial axes before the comparison.

    Returns
    -------
    float
        ``10 log10(L^2 / MSE)`` with ``MSE = mean((x - ref)^2)`` over all remaining pixels and
        channels, computed in float64; ``inf`` when the images are identical.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.metrics import psnr
    >>> psnr(np.ones((4, 4)), np.ones((4, 4)))
    inf
    """
    data_range = check_scalar(data_range, "data_range", positive=True)
    x, ref = _pair_to_numpy(x, ref)
    x, ref = _shave(x, shave), _shave(ref, shave)
    mse = float(np.mean((x - ref) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range ** 2 / mse)


def ssim(x, ref, *, data_range=1.0, shave=0):
    """Structural similarity index (Wang et al. 2004), mean over the image.

    Parameters
    ----------
    x, ref : ndarray
        Image and reference of the same shape, (H, W) or (H, W, C) with channels last,
        NumPy or CuPy; at least 11 x 11 after shaving.
    data_range : float
        Peak value ``L`` (1 for images in [0, 1]).
    shave : int
        Pixels removed on each side of both spatial axes before the comparison.

    Returns
    -------
    float
        Mean SSIM; for colour images the mean over channels of the per-channel SSIM.

    Notes
    -----
    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``
    with local statistics under an 11 x 11 Gaussian window of std 1.5, population (not
    sample) covariances, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``, averaged over the positions
    where the window fits inside the image: the convention of the authors' ``ssim_index.m``
    (no automatic downsampling). Computed by :func:`skimage.metrics.structural_similarity`.

    References
    ----------
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
    error visibility to structural similarity", IEEE TIP 13(4), 2004.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.metrics import ssim
    >>> x = np.random.default_rng(0).random((32, 32))
    >>> ssim(x, x)
    1.0
    """
    from skimage.metrics import structural_similarity  # noqa: PLC0415 (slow import)

    data_range = check_scalar(data_range, "data_range", positive=True)
    x, ref = _pair_to_numpy(x, ref)
    x, ref = _shave(x, shave), _shave(ref, shave)
    if min(x.shape[:2]) < 11:
        raise ValueError(f"ssim needs images of at least 11 x 11 pixels (the Gaussian window), "
                         f"got shape {x.shape} after shaving")
    value = structural_similarity(
        x, ref, data_range=data_range, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, channel_axis=-1 if x.ndim == 3 else None)
    return float(value)


def rgb2y(x):
    """Luma (Y) of MATLAB ``rgb2ycbcr``, on the [0, 1] scale.

    Parameters
    ----------
    x : ndarray
        (H, W, 3) RGB image, NumPy or CuPy: floats in [0, 1], or uint8 in 0..255.

    Returns
    -------
    ndarray
        (H, W) Y channel, values in [16/255, 235/255] for inputs in range. Float input keeps its
        dtype; uint8 input gives float64. Not rounded (MATLAB rounds when its input is uint8;
        do ``np.round(255 * y) / 255`` to reproduce that).

    Notes
    -----
    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` with ``R, G, B`` in [0, 1]
    (``R = I_R / 255`` for uint8 input).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.metrics import rgb2y
    >>> float(rgb2y(np.ones((1, 1, 3)))[0, 0]) * 255
    235.0
    """
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise TypeError(f"x must be a NumPy or CuPy array, got {type(x).__name__}")
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"x must be an RGB image of shape (H, W, 3), got {tuple(x.shape)}")
    xp = get_xp(x)
    if x.dtype == np.uint8:
        rgb = x.astype(np.float64) / 255.0
    elif x.dtype in (np.float32, np.float64):
        rgb = check_finite(x, "x")
    else:
        raise TypeError(f"x must be float32, float64 or uint8, got {x.dtype}")
    w = xp.asarray(np.array(_Y_WEIGHTS) / 255.0, dtype=rgb.dtype)
    return (rgb @ w + rgb.dtype.type(_Y_OFFSET / 255.0)).astype(rgb.dtype, copy=False)
