"""Slow, obviously correct versions of the engine's operations: the test oracle.

Plain loops over output pixels in float64 on NumPy arrays, written from the definitions in
:mod:`invrestore.nn.functional` and independent of its code paths (no padded-flat layout, no
tap matrices, no BLAS tricks). Use them on tiny inputs only.

Examples
--------
>>> import numpy as np
>>> from invrestore.nn import reference
>>> x = np.ones((3, 3, 1))
>>> reference.conv2d(x, np.ones((1, 1, 3, 3)), padding=1)[..., 0].tolist()
[[4.0, 6.0, 4.0], [6.0, 9.0, 6.0], [4.0, 6.0, 4.0]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv2d", "conv_transpose2d", "pixel_shuffle", "pixel_unshuffle"]


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else tuple(int(a) for a in v)


def conv2d(x, weight, bias=None, *, stride=1, padding=0, dilation=1):
    """``y[h, w, o] = b[o] + sum_{i, j, c} W[o, c, i, j] x0[s h + d i - p, s w + d j - p, c]``.

    ``x0`` is ``x`` extended by zeros; ``x`` is ``(H, W, Cin)``, ``weight`` ``(Cout, Cin, kh,
    kw)``. Returns float64.
    """
    x = np.asarray(x, dtype=np.float64)
    wgt = np.asarray(weight, dtype=np.float64)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    h, w, _ = x.shape
    co, _, kh, kw = wgt.shape
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((ho, wo, co))
    for a in range(ho):
        for b in range(wo):
            for i in range(kh):
                for j in range(kw):
                    r, c = sh * a + dh * i - ph, sw * b + dw * j - pw
                    if 0 <= r < h and 0 <= c < w:
                        y[a, b] += wgt[:, :, i, j] @ x[r, c]
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)
    return y


def conv_transpose2d(x, weight, bias=None, *, stride=1, padding=0, output_padding=0,
                     dilation=1):
    """Scatter form: input pixel ``(h, w)`` adds ``W[:, :, i, j]^T x[h, w]`` at
    ``(s h + d i - p, s w + d j - p)``; ``weight`` is ``(Cin, Cout, kh, kw)``. Returns float64.
    """
    x = np.asarray(x, dtype=np.float64)
    wgt = np.asarray(weight, dtype=np.float64)
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    (oh, ow), (dh, dw) = _pair(output_padding), _pair(dilation)
    h, w, _ = x.shape
    _, co, kh, kw = wgt.shape
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oh + 1
    wo = (w - 1) * sw - 2 * pw + dw * (kw - 1) + ow + 1
    y = np.zeros((ho, wo, co))
    for a in range(h):
        for b in range(w):
            for i in range(kh):
                for j in range(kw):
                    r, c = sh * a + dh * i - ph, sw * b + dw * j - pw
                    if 0 <= r < ho and 0 <= c < wo:
                        y[r, c] += x[a, b] @ wgt[:, :, i, j]
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)
    return y


def pixel_unshuffle(x, r):
    """``y[h, w, c r^2 + i r + j] = x[r h + i, r w + j, c]``."""
    h, w, c = x.shape
    y = np.zeros((h // r, w // r, c * r * r), dtype=x.dtype)
    for a in range(h // r):
        for b in range(w // r):
            for ch in range(c):
                for i in range(r):
                    for j in range(r):
                        y[a, b, ch * r * r + i * r + j] = x[r * a + i, r * b + j, ch]
    return y


def pixel_shuffle(x, r):
    """``y[r h + i, r w + j, c] = x[h, w, c r^2 + i r + j]``."""
    h, w, cc = x.shape
    c = cc // (r * r)
    y = np.zeros((h * r, w * r, c), dtype=x.dtype)
    for a in range(h):
        for b in range(w):
            for ch in range(c):
                for i in range(r):
                    for j in range(r):
                        y[r * a + i, r * b + j, ch] = x[a, b, ch * r * r + i * r + j]
    return y
