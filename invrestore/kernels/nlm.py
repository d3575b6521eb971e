r"""Non-local means (NLM): pixelwise weighted averages over a search window.

``non_local_means(x, sigma, h, patch_size=..., patch_distance=...)`` returns

.. math:: \hat u(p) = \frac{\sum_{t \in S} w(p, p + t)\, u(p + t)}{\sum_{t \in S} w(p, p + t)},
   \qquad w(p, q) = \exp\!\Big(-\frac{\max(d(p, q) - 2\sigma^2,\, 0)}{h^2}\Big),

for an image ``u`` of shape ``(H, W)`` or ``(H, W, C)``, with the search window
:math:`S = \{-r..r\}^2` (``r = patch_distance``, so ``(2r + 1)^2`` candidates including the
pixel itself, whose weight is 1) and the patch distance

.. math:: d(p, q) = \frac{1}{C\, \sum_k g(k)} \sum_{k \in \{-f..f\}^2} g(k) \sum_c
   \big(u_c(p + k) - u_c(q + k)\big)^2 ,

the weighted mean squared difference of the two ``(2f + 1)^2`` patches (``patch_size = 2f + 1``)
over all channels. Subtracting :math:`2\sigma^2`, the expected distance of two noisy copies of
the same patch, gives every such pair the full weight 1 (Buades, Coll & Morel 2011).
Pixels outside the image are read from its reflection (``numpy.pad(mode="reflect")``, the edge
pixel not repeated).

Two patch weightings:

* ``fast_mode=True``: uniform :math:`g = 1`, the box filter of Darbon et al. (2008). For each
  offset ``t`` the distances of all pixels are a box filter of the squared-difference image
  :math:`e_t(q) = \sum_c (u_c(q) - u_c(q + t))^2`, computed with running sums, so the cost per
  pixel does not grow with the patch size;
* ``fast_mode=False``: the classic Gaussian-weighted patch distance of Buades, Coll & Morel
  (2005), :math:`g(k) = \exp(-\|k\|^2 / (2 a^2))` with :math:`a = \max(f, 1)`, the patch
  radius (on Train400 at sigma 25 with 5x5 patches, ``a`` = 0.5 f, 0.5 (f + 1) and f gave
  27.64, 27.92 and 27.96 dB at their best ``h``; the box 27.89 dB). It is separable, so it is
  computed the same way, with Gaussian instead of box filters (cost proportional to
  ``patch_size`` per pixel and offset).

Both are exact evaluations of the formula above; the Numba kernels differ from it only in the
rounding of sums and of a polynomial ``exp`` (relative error ~1e-7 in float32, ~1e-15 in
float64).

Dispatch: NumPy input runs the Numba kernels (:mod:`invrestore.kernels._nlm_numba`, parallel
over blocks of rows, both symmetric uses of each weight), CuPy input a CUDA kernel
(:mod:`invrestore.kernels._nlm_cuda`, one thread per pixel); ``impl="xp"`` is the array
implementation (vectorised over chunks of offsets, NumPy or CuPy). :func:`nlm_reference` evaluates the formula
with explicit loops over pixels and offsets; it is the test oracle for tiny images.

References
----------
A. Buades, B. Coll and J.-M. Morel, "A non-local algorithm for image denoising", CVPR 2005.
J. Darbon, A. Cunha, T. F. Chan, S. Osher and G. J. Jensen, "Fast nonlocal filtering applied
to electron cryomicroscopy", ISBI 2008.
A. Buades, B. Coll and J.-M. Morel, "Non-local means denoising", Image Processing On Line 1,
2011.

Examples
--------
>>> import numpy as np
>>> from invrestore.kernels.nlm import non_local_means
>>> x = np.zeros((16, 16)); x[:, 8:] = 1.0
>>> y = x + 0.1 * np.random.default_rng(0).standard_normal(x.shape)
>>> z = non_local_means(y, 0.1, 0.08, patch_size=5, patch_distance=4)
>>> bool(np.abs(z - x).mean() < 0.3 * np.abs(y - x).mean())
True
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..backend import check_image, check_scalar, get_xp

__all__ = ["nlm_reference", "non_local_means", "patch_weights"]

_IMPLS = (None, "numba", "cuda", "xp")

#: Values (C H W) processed per chunk of offsets by the array implementation.
XP_CHUNK = 1 << 22


def patch_weights(patch_size, fast_mode=True):
    """1-D patch weights ``g``; the 2-D weights are ``outer(g, g)`` (float64, max 1).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.kernels.nlm import patch_weights
    >>> patch_weights(3).tolist()
    [1.0, 1.0, 1.0]
    >>> np.round(patch_weights(5, fast_mode=False), 4).tolist()
    [0.6065, 0.8825, 1.0, 0.8825, 0.6065]
    """
    f = patch_size // 2
    k = np.arange(-f, f + 1, dtype=np.float64)
    if fast_mode:
        return np.ones_like(k)
    a = float(max(f, 1))
    return np.exp(-k * k / (2.0 * a * a))


def _check_args(x, sigma, h, patch_size, patch_distance, impl):
    x = check_image(x, "x")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    sigma = check_scalar(sigma, "sigma", nonnegative=True)
    h = check_scalar(h, "h", positive=True)
    patch_size = check_scalar(patch_size, "patch_size", integer=True, positive=True)
    patch_distance = check_scalar(patch_distance, "patch_distance", integer=True,
                                  nonnegative=True)
    if patch_size % 2 == 0:
        raise ValueError(f"patch_size must be odd (a centred patch), got {patch_size}")
    if patch_size > min(x.shape[:2]):
        raise ValueError(f"patch_size {patch_size} is larger than the image "
                         f"{x.shape[0]}x{x.shape[1]}")
    if impl not in _IMPLS:
        raise ValueError(f"impl must be one of {_IMPLS}, got {impl!r}")
    return x, sigma, h, patch_size, patch_distance


def _planar_padded(x, m):
    """``(C, H + 2m, W + 2m)`` C-contiguous copy of ``x``, padded by reflection."""
    xp = get_xp(x)
    x3 = xp.moveaxis(x, -1, 0) if x.ndim == 3 else x[None]
    return xp.ascontiguousarray(xp.pad(x3, ((0, 0), (m, m), (m, m)), mode="reflect"))


def _from_planar(out3, ndim):
    xp = get_xp(out3)
    return xp.ascontiguousarray(xp.moveaxis(out3, 0, -1)) if ndim == 3 else out3[0]


def _nlm_xp(P, g, f, d, s1, s2, H, W):
    """Array implementation: chunks of offsets at once (NumPy or CuPy)."""
    xp = get_xp(P)
    C = P.shape[0]
    n = 2 * f + 1
    g = [float(v) for v in g]
    base = P[:, d:d + H + 2 * f, d:d + W + 2 * f]     # the patches of all pixels
    offsets = [(a, b) for a in range(-d, d + 1) for b in range(-d, d + 1)]
    chunk = max(1, XP_CHUNK // base.size)
    num = xp.zeros((C, H, W), P.dtype)
    den = xp.zeros((H, W), P.dtype)
    for s in range(0, len(offsets), chunk):
        sh = xp.stack([P[:, d + a:d + a + H + 2 * f, d + b:d + b + W + 2 * f]
                       for a, b in offsets[s:s + chunk]])          # (K, C, H + 2f, W + 2f)
        e = ((sh - base) ** 2).sum(axis=1)
        v = g[0] * e[:, 0:H]
        for q in range(1, n):
            v = v + g[q] * e[:, q:q + H]
        dist = g[0] * v[:, :, 0:W]
        for q in range(1, n):
            dist = dist + g[q] * v[:, :, q:q + W]
        w = xp.exp(-xp.maximum(dist * s1 - s2, 0))                 # (K, H, W)
        den += w.sum(axis=0)
        num += (w[:, None] * sh[:, :, f:f + H, f:f + W]).sum(axis=0)
    return num / den


def _n_blocks(H, W, d, threads):
    # Four blocks per thread, handed out dynamically, balance the load when other processes
    # share the cores; each block recomputes ~a + 2f rows per offset, so blocks stay
    # >= 4 (d + 1) rows tall. Tiny images run as one block.
    if threads <= 1 or H * W < 48 * 48:
        return 1
    return max(1, min(4 * threads, H // (4 * (d + 1))))


def non_local_means(x, sigma, h, *, patch_size=7, patch_distance=10, fast_mode=True,
                    impl=None):
    r"""Pixelwise non-local means with explicit parameters (see the module notes).

    Parameters
    ----------
    x : ndarray
        float32 or float64 image ``(H, W)`` or ``(H, W, C)``, NumPy or CuPy.
    sigma : float
        Noise std (>= 0, [0, 1] scale); :math:`2\sigma^2` is subtracted from the distances.
    h : float
        Filtering parameter (> 0, same scale as ``sigma``): the larger, the smoother.
    patch_size : int
        Odd side of the square patches, at most ``min(H, W)``.
    patch_distance : int
        Radius ``r`` of the search window ``(2r + 1) x (2r + 1)`` (0: identity).
    fast_mode : bool
        Uniform patch weights (box filter, Darbon et al.) or Gaussian ones (Buades et al.).
    impl : {None, "numba", "cuda", "xp"}
        Implementation; by default Numba for NumPy input and the CUDA kernel
        (:mod:`invrestore.kernels._nlm_cuda`, up to 4 channels; else "xp") for CuPy input.

    Returns
    -------
    ndarray
        Same shape, dtype and device as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.kernels.nlm import non_local_means
    >>> x = np.random.default_rng(0).random((12, 10, 3)).astype(np.float32)
    >>> z = non_local_means(x, 0.05, 0.1, patch_size=3, patch_distance=2)
    >>> z.shape, z.dtype
    ((12, 10, 3), dtype('float32'))
    """
    x, sigma, h, patch_size, d = _check_args(x, sigma, h, patch_size, patch_distance, impl)
    if not isinstance(fast_mode, (bool, np.bool_)):
        raise TypeError(f"fast_mode must be a bool, got {fast_mode!r}")
    xp = get_xp(x)
    H, W = x.shape[:2]
    C = 1 if x.ndim == 2 else x.shape[2]
    if impl is None:
        from ._nlm_cuda import MAX_CHANNELS

        impl = "numba" if xp is np else ("cuda" if C <= MAX_CHANNELS else "xp")
    if impl == "numba" and xp is not np:
        raise ValueError("impl='numba' needs a NumPy array; CuPy input runs impl='cuda' or 'xp'")
    if impl == "cuda" and xp is np:
        raise ValueError("impl='cuda' needs a CuPy array; NumPy input runs impl='numba' or 'xp'")
    f = patch_size // 2
    g = patch_weights(patch_size, fast_mode)
    # Python floats: NumPy 2 / CuPy keep float32 arrays float32 with them (np.float64 would
    # promote the array implementation's temporaries)
    s1 = 1.0 / (h * h * C * float(g.sum()) ** 2)
    s2 = 2.0 * sigma * sigma / (h * h)
    if d == 0:
        return x.copy()
    P = _planar_padded(x, d + f)
    if impl == "numba":
        from ._nlm_numba import nlm_numba  # here: keeps numba compilation lazy

        nb = _n_blocks(H, W, d, numba.get_num_threads())
        out3 = nlm_numba(P, g, fast_mode, f, d, s1, s2, H, W, nb)
    elif impl == "cuda":
        from ._nlm_cuda import nlm_cuda

        out3 = nlm_cuda(P, g, f, d, s1, s2, H, W)
    else:
        out3 = _nlm_xp(P, g, f, d, s1, s2, H, W)
    return _from_planar(out3, x.ndim)


def nlm_reference(x, sigma, h, *, patch_size=7, patch_distance=10, fast_mode=True):
    """Slow NLM with explicit loops over pixels and offsets (NumPy; the test oracle).

    Computes in float64 and returns ``x``'s dtype. Meant for images of a few hundred pixels.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.kernels.nlm import nlm_reference, non_local_means
    >>> x = np.random.default_rng(1).random((6, 7))
    >>> ref = nlm_reference(x, 0.1, 0.2, patch_size=3, patch_distance=2)
    >>> bool(np.allclose(non_local_means(x, 0.1, 0.2, patch_size=3, patch_distance=2), ref))
    True
    """
    x, sigma, h, patch_size, d = _check_args(x, sigma, h, patch_size, patch_distance, None)
    H, W = x.shape[:2]
    f = patch_size // 2
    m = d + f
    P = np.moveaxis(_planar_padded(np.asarray(x, np.float64), m), 0, -1)   # (Hp, Wp, C)
    g = patch_weights(patch_size, fast_mode)
    G = np.outer(g, g)[:, :, None]
    norm = P.shape[-1] * G.sum()
    out = np.empty(P[:H, :W].shape)
    for i in range(H):
        for j in range(W):
            pi, pj = i + m, j + m
            ref = P[pi - f:pi + f + 1, pj - f:pj + f + 1]
            acc = np.zeros(P.shape[-1])
            wsum = 0.0
            for a in range(-d, d + 1):
                for b in range(-d, d + 1):
                    cand = P[pi + a - f:pi + a + f + 1, pj + b - f:pj + b + f + 1]
                    dist = float((G * (ref - cand) ** 2).sum()) / norm
                    w = math.exp(-max(dist - 2.0 * sigma * sigma, 0.0) / (h * h))
                    acc += w * P[pi + a, pj + b]
                    wsum += w
            out[i, j] = acc / wsum
    out = out.astype(x.dtype)
    return out[..., 0] if x.ndim == 2 else out
