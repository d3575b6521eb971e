"""MATLAB-compatible bicubic ``imresize`` and ``modcrop``.

Super-resolution benchmarks make their low-resolution inputs with MATLAB's ``imresize`` (bicubic,
antialiased) and any other resampler (OpenCV, PIL, scipy.ndimage.zoom) changes the published PSNR
by tenths of a dB. :func:`imresize` follows MATLAB's definition: the same kernel, coordinate
mapping, boundary handling, order of the two 1-D passes and uint8 arithmetic.

Examples
--------
>>> import numpy as np
>>> from invrestore.degradations import imresize
>>> x = np.random.default_rng(0).random((32, 48))
>>> imresize(x, 0.5).shape, imresize(x, output_shape=(20, 30)).shape
((16, 24), (20, 30))
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..backend import check_finite, check_scalar, get_xp

__all__ = ["imresize", "modcrop", "cubic", "resize_weights"]

_KERNEL_WIDTH = 4.0  # support of the cubic kernel: [-2, 2]


def cubic(t):
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``bicubic``).

    ``h(t) = 1.5|t|^3 - 2.5|t|^2 + 1`` for ``|t| <= 1``,
    ``-0.5|t|^3 + 2.5|t|^2 - 4|t| + 2`` for ``1 < |t| <= 2``, 0 otherwise.
    """
    a = np.abs(np.asarray(t, dtype=np.float64))
    a2, a3 = a * a, a * a * a
    inner = (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1)
    outer = (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return inner + outer


def resize_weights(in_length, out_length, scale, *, antialiasing=True):
    """Weights and source indices of one 1-D bicubic resampling pass, as MATLAB computes them.

    Parameters
    ----------
    in_length, out_length : int
        Input and output lengths.
    scale : float
        Scale factor (``out / in`` nominally; MATLAB uses the given factor, not the ratio of
        the rounded sizes).
    antialiasing : bool
        Widen the kernel by ``1 / scale`` when ``scale < 1``.

    Returns
    -------
    weights : numpy.ndarray
        float64 (out_length, P); each row sums to 1.
    indices : numpy.ndarray
        int64 (out_length, P), 0-based indices into the input.

    Notes
    -----
    Output pixel ``i = 1..out_length`` (1-based) sits at the input coordinate
    ``u = i / scale + (1 - 1 / scale) / 2``, which aligns the pixel *edges* of both grids.
    With ``s = min(scale, 1)`` if antialiasing else 1, the kernel is ``h(t) = s cubic(s t)`` of
    width ``W = 4 / s``; the taps are ``j = floor(u - W / 2) + (0 .. ceil(W) + 1)`` with weights
    ``h(u - j)`` divided by their sum. Indices outside ``1..in_length`` are mirrored
    symmetrically (the edge pixel repeated: ``0 -> 1``, ``-1 -> 2``, ``n + 1 -> n``).
    """
    s = scale if (antialiasing and scale < 1) else 1.0
    width = _KERNEL_WIDTH / s
    u = np.arange(1, out_length + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    w = s * cubic(s * (u[:, None] - idx))
    w /= w.sum(axis=1, keepdims=True)
    # symmetric mirroring with period 2 n; idx is 1-based here
    period = 2 * in_length
    m = np.mod(idx.astype(np.int64) - 1, period)
    indices = np.where(m < in_length, m, period - 1 - m)
    # taps that are zero for every output pixel only cost time
    keep = np.flatnonzero(np.any(w != 0, axis=0))
    return w[:, keep], indices[:, keep]


def _pair(value, name, *, integer):
    if isinstance(value, numbers.Real | np.generic) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be a positive number or a pair of them, got {value!r}")
    try:
        pair = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a positive number or a pair of them, "
                        f"got {value!r}") from None
    if len(pair) != 2:
        raise ValueError(f"{name} must have 2 entries (rows, columns), got {value!r}")
    return tuple(check_scalar(v, name, positive=True, integer=integer) for v in pair)


def _output_size(in_shape, scale):
    # a tiny tolerance so that e.g. 255 * (1 / 3) rounding to 85.00000000000001 gives 85, the
    # size the user means (MATLAB's plain ceil would give 86 in that case)
    return tuple(max(1, math.ceil(s * n - 1e-9 * max(1.0, s * n))) for s, n in zip(scale, in_shape))


def _resize_axis(x, axis, weights, indices, xp):
    """out[..., i, ...] = sum_p weights[i, p] * x[..., indices[i, p], ...] along ``axis``."""
    shape = [1] * x.ndim
    shape[axis] = weights.shape[0]
    out = None
    for p in range(weights.shape[1]):
        term = xp.take(x, indices[:, p], axis=axis) * weights[:, p].reshape(shape)
        out = term if out is None else out + term
    return out


def imresize(x, scale=None, *, output_shape=None, antialiasing=True):
    """Resize an image with MATLAB's bicubic ``imresize``.

    Parameters
    ----------
    x : ndarray
        (H, W) or (H, W, C) image, NumPy or CuPy, float32, float64 or uint8.
    scale : float or (float, float), optional
        Scale factor (rows, columns); the output shape is ``ceil(scale * (H, W))``.
    output_shape : (int, int), optional
        Output (rows, columns) instead of ``scale``; the factors are then
        ``output_shape / (H, W)``. Give exactly one of ``scale`` and ``output_shape``.
    antialiasing : bool
        When shrinking, widen the kernel to low-pass filter first (MATLAB's default).

    Returns
    -------
    ndarray
        Resized image on the same device, same dtype as ``x``.

    Raises
    ------
    TypeError
        Unsupported dtype or parameter types.
    ValueError
        Wrong ndim, NaN/Inf values, non-positive scale or output shape, both or neither of
        ``scale`` and ``output_shape``.

    Notes
    -----
    Separable: one 1-D pass per spatial axis, in ascending order of scale factor (rows first on
    ties), each computing ``out_i = sum_j w_ij x_j`` with the weights of
    :func:`resize_weights` (cubic kernel with ``a = -0.5``, MATLAB's coordinate mapping
    ``u = i / scale + (1 - 1 / scale) / 2``, kernel widened by ``1 / scale`` when shrinking
    with antialiasing, symmetric boundary mirroring, weights normalised per output pixel).

    Float images are computed in their own dtype and not clipped (bicubic overshoots).
    uint8 images are computed in float64 on the 0..255 scale and, like MATLAB (whose 1-D pass
    returns the input's class), rounded half away from zero and saturated to uint8 after *each*
    pass. The weight tables are built on the CPU and moved to the image's device.

    References
    ----------
    R. Keys, "Cubic convolution interpolation for digital image processing", IEEE Trans.
    ASSP 29(6), 1981. MATLAB ``imresize`` documentation (The MathWorks).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.degradations import imresize
    >>> x = np.full((8, 8), 0.25, dtype=np.float32)
    >>> y = imresize(x, 0.5)
    >>> y.shape, y.dtype, bool(np.allclose(y, 0.25))
    ((4, 4), dtype('float32'), True)
    """
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise TypeError(f"x must be a NumPy or CuPy array, got {type(x).__name__}")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C), got shape {tuple(x.shape)}")
    if x.dtype not in (np.float32, np.float64, np.uint8):
        raise TypeError(f"x must be float32, float64 or uint8, got {x.dtype}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must not be empty, got shape {tuple(x.shape)}")
    if not isinstance(antialiasing, bool | np.bool_):
        raise TypeError(f"antialiasing must be a bool, got {antialiasing!r}")
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    in_shape = tuple(int(n) for n in x.shape[:2])
    if scale is not None:
        scales = _pair(scale, "scale", integer=False)
        out_shape = _output_size(in_shape, scales)
    else:
        out_shape = _pair(output_shape, "output_shape", integer=True)
        scales = tuple(o / n for o, n in zip(out_shape, in_shape))

    xp = get_xp(x)
    is_uint8 = x.dtype == np.uint8
    if is_uint8:
        work_dtype = np.float64
    else:
        check_finite(x, "x")
        work_dtype = x.dtype
    out = x
    for axis in sorted((0, 1), key=lambda a: scales[a]):  # stable sort: rows first on ties
        w, idx = resize_weights(in_shape[axis], out_shape[axis], scales[axis],
                                antialiasing=bool(antialiasing))
        w = xp.asarray(w.astype(work_dtype))
        idx = xp.asarray(idx)
        out = _resize_axis(out.astype(work_dtype, copy=False), axis, w, idx, xp)
        if is_uint8:
            # MATLAB rounds half away from zero; values are clipped to >= 0 first, so
            # floor(v + 0.5) is the same thing
            out = xp.floor(xp.clip(out, 0.0, 255.0) + 0.5).astype(np.uint8)
    return out


def modcrop(x, scale):
    """Crop the bottom/right of an image so that H and W are multiples of ``scale``.

    Parameters
    ----------
    x : ndarray
        (H, W) or (H, W, C) array, any dtype, NumPy or CuPy.
    scale : int
        Positive integer factor.

    Returns
    -------
    ndarray
        The view ``x[:H - H % scale, :W - W % scale]``.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.degradations import modcrop
    >>> modcrop(np.zeros((10, 11, 3)), 3).shape
    (9, 9, 3)
    """
    if not hasattr(x, "ndim"):
        raise TypeError(f"x must be a NumPy or CuPy array, got {type(x).__name__}")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C), got shape {tuple(x.shape)}")
    scale = check_scalar(scale, "scale", positive=True, integer=True)
    h, w = x.shape[0] - x.shape[0] % scale, x.shape[1] - x.shape[1] % scale
    if h == 0 or w == 0:
        raise ValueError(f"x of shape {tuple(x.shape)} is smaller than scale={scale}")
    return x[:h, :w]
