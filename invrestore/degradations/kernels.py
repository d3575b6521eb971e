"""Blur kernel generators and the kernel validator.

Every generator returns a float64 2-D NumPy array that sums to 1, with odd sizes by default so
that the kernel has a centre pixel. Kernels are built on the CPU (they are small); operators move
them to the image's device.

Coordinates: a kernel of shape (h, w) has its centre at ``((h - 1) / 2, (w - 1) / 2)``; ``x`` runs
along columns (to the right) and ``y`` along rows *upwards*, so that angles are counter-clockwise
as the kernel is displayed (row 0 at the top), as in MATLAB ``fspecial``.

Examples
--------
>>> from invrestore.degradations import gaussian_kernel, motion_kernel
>>> k = gaussian_kernel(1.6)
>>> k.shape, round(float(k.sum()), 12)
((11, 11), 1.0)
>>> motion_kernel(5, 0).shape
(1, 5)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..backend import check_scalar, get_xp

__all__ = [
    "gaussian_kernel",
    "anisotropic_gaussian_kernel",
    "motion_kernel",
    "uniform_kernel",
    "disk_kernel",
    "validate_kernel",
]


def _size_pair(size, name="size"):
    """Turn an int or a pair of ints into a pair of positive ints."""
    if isinstance(size, numbers.Real | np.generic) and not isinstance(size, bool):
        size = (size, size)
    try:
        pair = tuple(size)
    except TypeError:
        raise TypeError(f"{name} must be a positive int or a pair of them, got {size!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {size!r}")
    return tuple(check_scalar(s, name, positive=True, integer=True) for s in pair)


def _grid(shape):
    """Pixel-centre coordinates (x right, y up) relative to the kernel centre."""
    h, w = shape
    y = (h - 1) / 2.0 - np.arange(h, dtype=np.float64)
    x = np.arange(w, dtype=np.float64) - (w - 1) / 2.0
    return np.meshgrid(x, y)  # both (h, w)


def _normalise(k, what):
    s = k.sum()
    if not s > 0:
        raise ValueError(f"{what}: the requested size leaves no kernel support (all zeros)")
    return k / s


def gaussian_kernel(sigma, *, size=None):
    """Isotropic Gaussian blur kernel.

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels, > 0.
    size : int or (int, int), optional
        Kernel shape; default ``2 * ceil(3 * sigma) + 1`` (square, odd).

    Returns
    -------
    numpy.ndarray
        float64 (h, w) kernel summing to 1.

    Notes
    -----
    ``k[i, j] = exp(-(x_j^2 + y_i^2) / (2 sigma^2)) / Z`` with pixel-centre coordinates relative to
    the kernel centre and ``Z`` the sum (sampled, not integrated over the pixel), like MATLAB
    ``fspecial('gaussian', size, sigma)``.

    Examples
    --------
    >>> from invrestore.degradations import gaussian_kernel
    >>> gaussian_kernel(1.0).shape
    (7, 7)
    """
    sigma = check_scalar(sigma, "sigma", positive=True)
    return anisotropic_gaussian_kernel(sigma, sigma, size=size)


def anisotropic_gaussian_kernel(sigma_x, sigma_y, *, angle=0.0, size=None):
    """Anisotropic (elliptic) Gaussian blur kernel, rotated by ``angle``.

    Parameters
    ----------
    sigma_x, sigma_y : float
        Standard deviations (pixels, > 0) along the ellipse axes; before rotation the
        ``sigma_x`` axis is horizontal.
    angle : float
        Rotation in degrees, counter-clockwise as displayed.
    size : int or (int, int), optional
        Kernel shape; default ``2 * ceil(3 * max(sigma_x, sigma_y)) + 1`` (square, odd).

    Returns
    -------
    numpy.ndarray
        float64 (h, w) kernel summing to 1.

    Notes
    -----
    ``k(p) = exp(-p^T S^{-1} p / 2) / Z`` with ``p = (x, y)`` the pixel centre relative to the
    kernel centre (``y`` upwards), ``S = R diag(sigma_x^2, sigma_y^2) R^T`` and ``R`` the rotation
    by ``angle``.

    Examples
    --------
    >>> from invrestore.degradations import anisotropic_gaussian_kernel
    >>> k = anisotropic_gaussian_kernel(3.0, 1.0, angle=90)
    >>> bool(k[:, 9].sum() > k[9, :].sum())   # elongated vertically
    True
    """
    sx = check_scalar(sigma_x, "sigma_x", positive=True)
    sy = check_scalar(sigma_y, "sigma_y", positive=True)
    theta = math.radians(check_scalar(angle, "angle"))
    if size is None:
        size = 2 * math.ceil(3 * max(sx, sy)) + 1
    shape = _size_pair(size)
    x, y = _grid(shape)
    c, s = math.cos(theta), math.sin(theta)
    # coordinates in the ellipse frame: R^T p
    u = c * x + s * y
    v = -s * x + c * y
    k = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    return _normalise(k, "anisotropic_gaussian_kernel")


def motion_kernel(length, angle, *, size=None):
    """Linear motion blur kernel, anti-aliased.

    Parameters
    ----------
    length : float
        Length of the motion in pixels (>= 1): the kernel covers about ``length`` pixels
        along the motion direction.
    angle : float
        Direction of motion in degrees, counter-clockwise from the horizontal as displayed.
    size : int or (int, int), optional
        Kernel shape. Default: the smallest odd (h, w) that holds the whole support (so a
        horizontal motion gives a single row, as MATLAB ``fspecial('motion')``).

    Returns
    -------
    numpy.ndarray
        float64 (h, w) kernel summing to 1, symmetric under a 180 degree rotation.

    Notes
    -----
    The motion path is the segment ``S`` of length ``length - 1`` centred on the kernel centre,
    with direction ``(cos angle, sin angle)`` (``y`` upwards). Each pixel gets the weight
    ``max(0, 1 - d(p, S))``, with ``d(p, S)`` the Euclidean distance from its centre to the
    segment, then the kernel is divided by its sum. The linear fall-off over one pixel is the
    anti-aliasing of MATLAB ``fspecial('motion', length, angle)``; horizontal and vertical kernels
    match it exactly (``motion_kernel(9, 0) == ones((1, 9)) / 9``), oblique ones closely but not
    bit for bit (MATLAB only rasterises one quadrant of the half-line).

    Examples
    --------
    >>> from invrestore.degradations import motion_kernel
    >>> motion_kernel(3, 90).ravel().tolist()
    [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """
    length = check_scalar(length, "length")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length!r}")
    theta = math.radians(check_scalar(angle, "angle"))
    half = (length - 1) / 2.0
    if size is None:
        r = math.ceil(half) + 1
        shape = (2 * r + 1, 2 * r + 1)
    else:
        shape = _size_pair(size)
    x, y = _grid(shape)
    c, s = math.cos(theta), math.sin(theta)
    along = np.clip(c * x + s * y, -half, half)
    d = np.hypot(x - along * c, y - along * s)
    k = np.maximum(0.0, 1.0 - d)
    # round-off in cos/sin must not leave weights like 1e-17 that would widen the trimmed kernel
    k[k < 1e-12] = 0.0
    if size is None:
        # the support is symmetric about the centre: trim the same number of zero rows/cols on
        # each side, which keeps the size odd and the centre in place
        rows = np.flatnonzero(k.any(axis=1))
        cols = np.flatnonzero(k.any(axis=0))
        tr = min(rows[0], shape[0] - 1 - rows[-1])
        tc = min(cols[0], shape[1] - 1 - cols[-1])
        k = k[tr:shape[0] - tr, tc:shape[1] - tc]
    return _normalise(k, "motion_kernel")


def uniform_kernel(size):
    """Box (uniform average) kernel.

    Parameters
    ----------
    size : int or (int, int)
        Kernel shape, positive.

    Returns
    -------
    numpy.ndarray
        float64 (h, w) kernel with all entries ``1 / (h w)``.

    Notes
    -----
    ``k[i, j] = 1 / (h w)``, MATLAB ``fspecial('average', size)``.

    Examples
    --------
    >>> from invrestore.degradations import uniform_kernel
    >>> float(uniform_kernel(2)[0, 0])
    0.25
    """
    h, w = _size_pair(size)
    return np.full((h, w), 1.0 / (h * w))


def _disk_primitive(a, b, r):
    """F(a, b) = area of {0 <= X <= a, 0 <= Y <= b, X^2 + Y^2 <= r^2}, signed by sign(a) sign(b).

    It is the 2-D antiderivative of the disk indicator, so the disk area inside any
    axis-aligned rectangle follows by inclusion-exclusion of its four corners.
    """
    sign = np.sign(a) * np.sign(b)
    a = np.minimum(np.abs(a), r)
    b = np.minimum(np.abs(b), r)
    # for t < t_c the disk reaches above b, so the column height is b
    t_c = np.sqrt(r * r - b * b)

    def chord(t):  # integral of sqrt(r^2 - s^2) ds from 0 to t, for 0 <= t <= r
        return 0.5 * (t * np.sqrt(np.maximum(r * r - t * t, 0.0)) + r * r * np.arcsin(t / r))

    area = b * np.minimum(a, t_c) + np.where(a > t_c, chord(a) - chord(t_c), 0.0)
    return sign * area


def disk_kernel(radius):
    """Disk (pillbox, out-of-focus) kernel with an anti-aliased edge.

    Parameters
    ----------
    radius : float
        Disk radius in pixels, > 0.

    Returns
    -------
    numpy.ndarray
        float64 kernel of shape ``(2 ceil(radius) + 1,) * 2`` summing to 1.

    Notes
    -----
    Each entry is the area of the intersection of its unit pixel square with the disk of
    radius ``radius`` centred on the kernel centre, divided by the disk area ``pi radius^2``
    (computed exactly, in closed form). Interior pixels are equal; edge pixels are partly
    covered, the anti-aliasing of MATLAB ``fspecial('disk', radius)``, which approximates the
    same areas.

    Examples
    --------
    >>> from invrestore.degradations import disk_kernel
    >>> k = disk_kernel(2)
    >>> k.shape, bool(k[2, 2] == k.max())
    ((5, 5), True)
    """
    r = check_scalar(radius, "radius", positive=True)
    n = math.ceil(r)
    c = np.arange(-n, n + 1, dtype=np.float64)
    x0, y0 = np.meshgrid(c - 0.5, c - 0.5)
    x1, y1 = x0 + 1.0, y0 + 1.0
    area = (_disk_primitive(x1, y1, r) - _disk_primitive(x0, y1, r)
            - _disk_primitive(x1, y0, r) + _disk_primitive(x0, y0, r))
    area = np.maximum(area, 0.0)  # cancellation can leave -1e-17 at the corners
    return area / area.sum()


def validate_kernel(kernel, *, name="kernel"):
    """Check a blur kernel and return it as a float64 copy on its own device.

    Parameters
    ----------
    kernel : array_like
        2-D real array (NumPy or CuPy, or nested sequences).
    name : str
        Parameter name used in error messages.

    Returns
    -------
    ndarray
        float64 copy of ``kernel`` (not normalised).

    Raises
    ------
    TypeError
        Not numeric, or complex.
    ValueError
        Not 2-D, empty, NaN/Inf entries, or a sum with ``|sum| < 1e-12`` (such a kernel
        cannot be normalised and makes the blur non-invertible even at frequency 0).

    Examples
    --------
    >>> from invrestore.degradations import validate_kernel
    >>> validate_kernel([[1, 2], [3, 4]]).dtype
    dtype('float64')
    """
    xp = get_xp(kernel)
    try:
        k = xp.asarray(kernel)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 2-D numeric array: {exc}") from None
    if k.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {k.dtype}")
    if k.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {tuple(k.shape)}")
    if k.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(k.shape)}")
    k = k.astype(np.float64, copy=True)
    if not bool(xp.isfinite(k).all()):
        raise ValueError(f"{name} contains NaN or Inf values")
    total = float(k.sum())
    if abs(total) < 1e-12:
        raise ValueError(f"{name} must have a nonzero sum (|sum| >= 1e-12), got sum {total!r}")
    return k
