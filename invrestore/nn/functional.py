"""Array operations of the inference engine, on channels-last ``(H, W, C)`` float32 arrays.

Every function works on NumPy and CuPy arrays alike (written against ``xp`` from
:func:`invrestore.backend.get_xp`). Weights use PyTorch's layouts, so state dicts load as they
are: ``(Cout, Cin, kh, kw)`` for convolutions and ``(Cin, Cout, kh, kw)`` for transposed
convolutions. The maths, with ``x`` zero-padded by ``p`` pixels, stride ``s`` and dilation
``d``, is that of :func:`torch.nn.functional.conv2d` (a cross-correlation):

.. math:: y[h, w, o] = b[o] + \\sum_{i, j, c} W[o, c, i, j]\\, x_p[s h + d i,\\; s w + d j,\\; c].

Stride-1 convolutions with "same" zero padding (``p = (k - 1) / 2``, odd ``k``) run on the
padded-flat layout of :mod:`invrestore.nn._flat` (Numba + BLAS on the CPU); the other cases as a
sum of one matrix product per kernel tap over strided views, in bands of output rows so that
temporaries stay small. :mod:`invrestore.nn.reference` holds the slow loops they are tested
against.

Examples
--------
>>> import numpy as np
>>> from invrestore.nn import functional as F
>>> x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
>>> F.pixel_unshuffle(x, 2)[0, 0].tolist()   # torch order: c * r * r + i * r + j
[0.0, 1.0, 4.0, 5.0]
>>> bool(np.array_equal(F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2), x))
True
>>> w = np.ones((1, 1, 3, 3), np.float32)     # box sum
>>> F.conv2d(x, w, padding=1)[1, 1, 0]
np.float32(45.0)
"""

from __future__ import annotations

import numpy as np

from ..backend import get_xp

__all__ = [
    "conv2d",
    "conv_transpose2d",
    "fold_batchnorm",
    "noise_map",
    "pixel_shuffle",
    "pixel_unshuffle",
    "relu",
    "replicate_pad",
]

#: Output rows per band of the general convolution path are chosen to keep one band's
#: temporaries under about this many float32 values.
_BAND_VALUES = 1 << 22


def _pair(v, name):
    if isinstance(v, int | np.integer):
        v = (int(v), int(v))
    v = tuple(int(a) for a in v)
    if len(v) != 2 or min(v) < 0:
        raise ValueError(f"{name} must be a non-negative int or pair of ints, got {v!r}")
    return v


def _check_hwc(x, name="x"):
    if x.ndim != 3:
        raise ValueError(f"{name} must be a channels-last (H, W, C) array, got shape "
                         f"{tuple(x.shape)}")


def relu(x):
    """``max(x, 0)`` (a new array)."""
    return get_xp(x).maximum(x, 0)


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1, relu=False):
    """2-D convolution (cross-correlation) of a channels-last image, as in PyTorch.

    Parameters
    ----------
    x : ndarray
        ``(H, W, Cin)`` float32 (NumPy or CuPy).
    weight : ndarray
        ``(Cout, Cin, kh, kw)``.
    bias : ndarray, optional
        ``(Cout,)``.
    stride, padding, dilation : int or (int, int)
        As in :class:`torch.nn.Conv2d` (zero padding).
    relu : bool
        Apply ReLU to the result (fused where the fast path runs).

    Returns
    -------
    ndarray
        ``(Ho, Wo, Cout)`` float32 with ``Ho = (H + 2 ph - dh (kh - 1) - 1) // sh + 1``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((4, 4, 2), np.float32)
    >>> w = np.ones((3, 2, 2, 2), np.float32)
    >>> conv2d(x, w, stride=2).shape
    (2, 2, 3)
    """
    _check_hwc(x)
    xp = get_xp(x)
    if weight.ndim != 4 or weight.shape[1] != x.shape[2]:
        raise ValueError(f"conv2d: weight of shape {tuple(weight.shape)} does not fit an input "
                         f"with {x.shape[2]} channels (expected (Cout, {x.shape[2]}, kh, kw))")
    s, p, d = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    co, ci, kh, kw = (int(v) for v in weight.shape)
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"conv2d: stride and dilation must be >= 1, got {s}, {d}")
    h, w = x.shape[:2]
    ho = (h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    wo = (w + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"conv2d: a {kh}x{kw} kernel (dilation {d}, padding {p}) does not fit "
                         f"an image of {h}x{w}")
    x = xp.asarray(x, dtype=np.float32)
    weight = xp.asarray(weight, dtype=np.float32)
    if s == (1, 1) and d == (1, 1) and kh % 2 and kw % 2 and p == ((kh - 1) // 2, (kw - 1) // 2):
        from ._flat import FlatGeometry, conv_flat

        geo = FlatGeometry(h, w, max(p))
        y = conv_flat(geo, geo.to_flat(x), weight, bias, relu=relu)
        return xp.ascontiguousarray(geo.interior(y))
    xpad = xp.pad(x, ((p[0], p[0]), (p[1], p[1]), (0, 0))) if max(p) else x
    taps = xp.ascontiguousarray(weight.transpose(2, 3, 1, 0))  # (kh, kw, Cin, Cout)
    out = xp.empty((ho, wo, co), dtype=np.float32)
    rows = max(1, _BAND_VALUES // max(1, wo * max(ci, co)))
    for r0 in range(0, ho, rows):
        r1 = min(ho, r0 + rows)
        acc = xp.zeros((r1 - r0, wo, co), dtype=np.float32)
        for i in range(kh):
            for j in range(kw):
                a0 = r0 * s[0] + i * d[0]
                b0 = j * d[1]
                view = xpad[a0:a0 + (r1 - r0 - 1) * s[0] + 1:s[0], b0:b0 + (wo - 1) * s[1] + 1:s[1]]
                acc += xp.matmul(view, taps[i, j])
        if bias is not None:
            acc += xp.asarray(bias, dtype=np.float32)
        if relu:
            xp.maximum(acc, 0, out=acc)
        out[r0:r1] = acc
    return out


def conv_transpose2d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0,
                     dilation=1):
    """Transposed convolution, as :func:`torch.nn.functional.conv_transpose2d`.

    ``weight`` is ``(Cin, Cout, kh, kw)``. The output has
    ``Ho = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1`` rows (columns alike): every input pixel
    scatters ``x[h, w] @ W[:, :, i, j]`` to ``(s h + d i - p, s w + d j - p)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((2, 2, 1), np.float32)
    >>> conv_transpose2d(x, np.ones((1, 1, 2, 2), np.float32), stride=2)[..., 0].tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    _check_hwc(x)
    xp = get_xp(x)
    if weight.ndim != 4 or weight.shape[0] != x.shape[2]:
        raise ValueError(f"conv_transpose2d: weight of shape {tuple(weight.shape)} does not fit "
                         f"an input with {x.shape[2]} channels (expected ({x.shape[2]}, Cout, "
                         f"kh, kw))")
    s, p = _pair(stride, "stride"), _pair(padding, "padding")
    op, d = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"conv_transpose2d: stride and dilation must be >= 1, got {s}, {d}")
    ci, co, kh, kw = (int(v) for v in weight.shape)
    h, w = x.shape[:2]
    x = xp.asarray(x, dtype=np.float32)
    weight = xp.asarray(weight, dtype=np.float32)
    full_h = (h - 1) * s[0] + d[0] * (kh - 1) + 1 + op[0]
    full_w = (w - 1) * s[1] + d[1] * (kw - 1) + 1 + op[1]
    ho, wo = full_h - 2 * p[0], full_w - 2 * p[1]
    if ho < 1 or wo < 1:
        raise ValueError(f"conv_transpose2d: padding {p} leaves no output for a {h}x{w} input")
    if (kh, kw) == s and d == (1, 1) and p == (0, 0) and op == (0, 0):
        # Non-overlapping taps: one product and a depth-to-space rearrangement.
        z = xp.matmul(x, weight.reshape(ci, co * kh * kw))  # (H, W, Cout kh kw)
        y = z.reshape(h, w, co, kh, kw).transpose(0, 3, 1, 4, 2).reshape(ho, wo, co)
        y = xp.ascontiguousarray(y)
    else:
        full = xp.zeros((full_h, full_w, co), dtype=np.float32)
        for i in range(kh):
            for j in range(kw):
                z = xp.matmul(x, weight[:, :, i, j])
                a0, b0 = i * d[0], j * d[1]
                full[a0:a0 + (h - 1) * s[0] + 1:s[0], b0:b0 + (w - 1) * s[1] + 1:s[1]] += z
        y = xp.ascontiguousarray(full[p[0]:p[0] + ho, p[1]:p[1] + wo])
    if bias is not None:
        y += xp.asarray(bias, dtype=np.float32)
    return y


def pixel_unshuffle(x, r):
    """Space-to-depth: ``(H r, W r, C) -> (H, W, C r^2)`` in PyTorch's channel order.

    Output channel ``c r^2 + i r + j`` holds ``x[r h + i, r w + j, c]`` (as
    :func:`torch.nn.functional.pixel_unshuffle`).
    """
    _check_hwc(x)
    h, w, c = x.shape
    if h % r or w % r:
        raise ValueError(f"pixel_unshuffle: size {h}x{w} is not a multiple of {r}")
    y = x.reshape(h // r, r, w // r, r, c).transpose(0, 2, 4, 1, 3)
    return get_xp(x).ascontiguousarray(y.reshape(h // r, w // r, c * r * r))


def pixel_shuffle(x, r):
    """Depth-to-space, the inverse of :func:`pixel_unshuffle`: ``(H, W, C r^2) -> (H r, W r, C)``."""
    _check_hwc(x)
    h, w, c = x.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle: {c} channels is not a multiple of {r * r}")
    y = x.reshape(h, w, c // (r * r), r, r).transpose(0, 3, 1, 4, 2)
    return get_xp(x).ascontiguousarray(y.reshape(h * r, w * r, c // (r * r)))


def replicate_pad(x, bottom, right):
    """Repeat the last row ``bottom`` times and the last column ``right`` times."""
    if bottom == 0 and right == 0:
        return x
    return get_xp(x).pad(x, ((0, bottom), (0, right), (0, 0)), mode="edge")


def noise_map(x, sigma):
    """``x`` with one more channel, last, filled with ``sigma`` (noise-level-map inputs)."""
    xp = get_xp(x)
    m = xp.full(x.shape[:2] + (1,), sigma, dtype=np.float32)
    return xp.concatenate([xp.asarray(x, dtype=np.float32), m], axis=2)


def fold_batchnorm(weight, bias, gamma, beta, mean, var, eps=1e-5):
    """Fold an inference-mode batch norm that follows a convolution into the convolution.

    ``BN(conv(x)) = gamma (W * x + b - mean) / sqrt(var + eps) + beta`` is the convolution with
    ``W' = W g`` (per output channel) and ``b' = (b - mean) g + beta``, ``g = gamma / sqrt(var +
    eps)``. Arrays are NumPy; the result is float32.

    Examples
    --------
    >>> import numpy as np
    >>> w, b = fold_batchnorm(np.ones((2, 1, 1, 1)), None, np.array([2.0, 1.0]), np.zeros(2),
    ...                       np.array([1.0, 0.0]), np.array([1.0, 4.0]), eps=0.0)
    >>> w.ravel().tolist(), b.tolist()
    ([2.0, 0.5], [-2.0, 0.0])
    """
    weight = np.asarray(weight, dtype=np.float64)
    co = weight.shape[0]
    b = np.zeros(co) if bias is None else np.asarray(bias, dtype=np.float64)
    g = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    w2 = weight * g.reshape(co, *([1] * (weight.ndim - 1)))
    b2 = (b - np.asarray(mean, np.float64)) * g + np.asarray(beta, np.float64)
    return w2.astype(np.float32), b2.astype(np.float32)
