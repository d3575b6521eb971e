"""Numba kernels of non-local means; the maths is in :mod:`invrestore.kernels.nlm`.

Layout. The image arrives planar, C-contiguous ``(C, Hp, Wp)`` and already padded by
reflection with ``m = d + f`` pixels on each side (``d`` the search radius, ``f`` the patch
radius), so pixel ``(i, j)`` sits at ``P[:, i + m, j + m]`` and no loop tests a boundary. The
output ``out`` of shape ``(C, H, W)`` first accumulates the weighted sums and is divided by the
sum of weights at the end.

One offset at a time, both ways. For an offset ``t = (a, b)`` the patch distance of every pixel
``p`` to ``p + t`` is a separable filter (box or Gaussian) of the squared-difference image
``e_t(q) = sum_c (u(q) - u(q + t))^2`` (Darbon et al. 2008). The distance, hence the weight, is
symmetric, ``w(p, p + t) = w(p + t, p)``, so only the half plane ``a > 0`` or ``a = 0, b > 0``
is visited and each weight serves two pixels: ``p`` gains ``w u(p + t)`` and ``p + t`` gains
``w u(p)``. That halves the exponentials, the cost that dominates.

Parallel over rows without races. ``prange`` runs over blocks of output rows; block ``[i0, i1)``
owns those rows of ``out`` and computes the weights of the pixel rows ``[i0 - a, i1)`` and of
the columns whose pixel or partner is inside the image, so that both contributions to its own
rows are available and nothing is written outside it. The price is ``a + 2 f`` extra rows of
squared differences and ``a`` extra rows of weights per block and offset (about 10% and 5%
with the 64-row blocks of a 512-row image on two threads).

Streaming, small buffers. Down the rows of a block, a ring of ``2 f + 1`` rows of ``e_t`` feeds
the vertical filter: a running column sum for the box (one row in, one row out), a weighted
sum of the ring for the Gaussian. The horizontal filter is a short sum of shifted rows, which
vectorises, unlike a running sum along the row. Gray images fuse the squared differences with
the running sum, and each weight row is added to the sums and the normalisation in one pass. Per block, the temporaries are a row buffer
set and the ``(i1 - i0, W)`` sum of weights; there is no image-sized temporary per offset.

Exponentials. Numba has no vector ``exp`` here (no SVML), and a libm call per weight cost
more than everything else together (8.8 ns against 1.2 ns in float64 and 0.3 ns in float32
for the version below, one core of the development machine), so :func:`_weights32` / :func:`_weights64` evaluate
``exp(-t)`` branch-free: ``t`` clamped to ``[0, 80]``, ``-t = k ln 2 + r`` with ``|r| <= ln2/2``
(Cody-Waite split of ``ln 2``), ``e^r`` by its Taylor polynomial (degree 7 for float32,
relative error < 6e-9; degree 12 for float64, < 2e-16) and ``2^k`` written into the exponent
bits. Above the clamp the true weight is below ``e^-80 = 1.8e-35``, invisible next to the
weight 1 of the pixel itself. The loops vectorise (float32: 8 or 16 lanes).

Signatures: one per dtype (float32, float64); scalars arrive in the image's dtype, so a
process compiles at most two versions of each kernel (cached on disk; cold compilation of both
~21 s of CPU on the development machine). The dtype picks the exponential by a run-time test
(``P.itemsize``), not by passing the function as an argument, which would defeat the cache.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = ["nlm_numba"]

_OPTS = {"parallel": True, "fastmath": False, "cache": True, "nogil": True}
#: Fused multiply-adds only (more accurate, not less); no other fast-math freedom.
_FMA = {"contract"}

#: ``exp(-t)`` is evaluated for ``t`` clamped to ``[0, EXP_CLAMP]``.
EXP_CLAMP = 80.0
_LOG2E = 1.4426950408889634
_LN2_HI = 0.693145751953125          # ln 2 rounded to 16 bits: k * _LN2_HI is exact
_LN2_LO = 1.4286068203094173e-06     # ln 2 - _LN2_HI


@njit(cache=True, nogil=True)
def _sqdiff_row(P, r, a, b, k0, out):
    """``out[k] = sum_c (P[c, r, k0 + k] - P[c, r + a, k0 + b + k])^2``."""
    n = out.shape[0]
    for c in range(P.shape[0]):
        # shifted views, not P[c, r + a, k + b] indexing: an offset index defeats vectorisation
        u = P[c, r, k0:k0 + n]
        v = P[c, r + a, k0 + b:k0 + b + n]
        if c == 0:
            for k in range(n):
                z = u[k] - v[k]
                out[k] = z * z
        else:
            for k in range(n):
                z = u[k] - v[k]
                out[k] += z * z


@njit(cache=True, nogil=True)
def _slide(colsum, old, new):
    """Running column sum: ``colsum += new - old`` and ``old <- new`` (one ring slot)."""
    for k in range(colsum.shape[0]):
        e = new[k]
        colsum[k] += e - old[k]
        old[k] = e


@njit(cache=True, nogil=True, fastmath=_FMA)
def _vfilter(ring, g, top, colsum):
    """``colsum = sum_q g[q] ring[(top + q) % n]``, ``n = len(g)`` (patch row ``q``)."""
    n = g.shape[0]
    L = colsum.shape[0]
    row = ring[top % n, :L]
    g0 = g[0]
    for k in range(L):
        colsum[k] = g0 * row[k]
    for q in range(1, n):
        row = ring[(top + q) % n, :L]
        gq = g[q]
        for k in range(L):
            colsum[k] += gq * row[k]


@njit(cache=True, nogil=True, fastmath=_FMA)
def _hfilter(colsum, g, out):
    """``out[j] = sum_q g[q] colsum[j + q]``."""
    W = out.shape[0]
    g0 = g[0]
    for j in range(W):
        out[j] = g0 * colsum[j]
    for q in range(1, g.shape[0]):
        s = colsum[q:q + W]
        gq = g[q]
        for j in range(W):
            out[j] += gq * s[j]


@njit(cache=True, nogil=True)
def _hbox(colsum, n, out):
    """``out[j] = sum_{q < n} colsum[j + q]``: ``n`` vectorised passes over shifted views.

    A running sum along the row would be one pass but a serial dependency chain (3-4x slower
    per element). Specialised single-pass loops for each usual ``n`` ran 3-9% faster
    end to end and cost ~6 s more compilation: not worth it.
    """
    W = out.shape[0]
    for j in range(W):
        out[j] = colsum[j]
    for q in range(1, n):
        c = colsum[q:q + W]
        for j in range(W):
            out[j] += c[j]


@njit(cache=True, nogil=True, fastmath=_FMA)
def _weights32(D, s1, s2, w, bits, scale):
    """``w = exp(-max(s1 D - s2, 0))`` in float32 (see the module notes)."""
    zero = np.float32(0.0)
    clamp = np.float32(EXP_CLAMP)
    half = np.float32(0.5)
    log2e = np.float32(_LOG2E)
    hi = np.float32(_LN2_HI)
    lo = np.float32(_LN2_LO)
    c2 = np.float32(1 / 2)
    c3 = np.float32(1 / 6)
    c4 = np.float32(1 / 24)
    c5 = np.float32(1 / 120)
    c6 = np.float32(1 / 720)
    c7 = np.float32(1 / 5040)
    one = np.float32(1.0)
    n = D.shape[0]
    for j in range(n):
        t = -min(max(D[j] * s1 - s2, zero), clamp)
        k = np.floor(t * log2e + half)
        r = (t - k * hi) - k * lo
        w[j] = one + r * (one + r * (c2 + r * (c3 + r * (c4 + r * (c5 + r * (c6 + r * c7))))))
        bits[j] = (np.int32(k) + np.int32(127)) << np.int32(23)
    for j in range(n):
        w[j] *= scale[j]


@njit(cache=True, nogil=True, fastmath=_FMA)
def _weights64(D, s1, s2, w, bits, scale):
    """``w = exp(-max(s1 D - s2, 0))`` in float64 (see the module notes)."""
    n = D.shape[0]
    for j in range(n):
        t = -min(max(D[j] * s1 - s2, 0.0), EXP_CLAMP)
        k = np.floor(t * _LOG2E + 0.5)
        r = (t - k * _LN2_HI) - k * _LN2_LO
        p = 1.0 / 479001600.0
        p = 1.0 / 39916800.0 + r * p
        p = 1.0 / 3628800.0 + r * p
        p = 1.0 / 362880.0 + r * p
        p = 1.0 / 40320.0 + r * p
        p = 1.0 / 5040.0 + r * p
        p = 1.0 / 720.0 + r * p
        p = 1.0 / 120.0 + r * p
        p = 1.0 / 24.0 + r * p
        p = 1.0 / 6.0 + r * p
        p = 0.5 + r * p
        p = 1.0 + r * p
        w[j] = 1.0 + r * p
        # through int32: a double -> int32 conversion vectorises on AVX2, -> int64 does not
        bits[j] = np.int64(np.int32(k) + np.int32(1023)) << np.int64(52)
    for j in range(n):
        w[j] *= scale[j]


@njit(cache=True, nogil=True)
def _copy(dst, src):
    # an explicit loop: a slice assignment compiles a shape check with string formatting,
    # which doubled the compilation time of the whole kernel
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@njit(cache=True, nogil=True, fastmath=_FMA)
def _axpy(acc, w, u):
    for j in range(acc.shape[0]):
        acc[j] += w[j] * u[j]


@njit(cache=True, nogil=True, fastmath=_FMA)
def _axpy_add(acc, den, w, u):
    """``acc += w u`` and ``den += w`` in one pass (one load of ``w``)."""
    for j in range(acc.shape[0]):
        wj = w[j]
        acc[j] += wj * u[j]
        den[j] += wj


@njit(cache=True, nogil=True)
def _sqdiff_slide(u, v, old, colsum):
    """Gray images: ``e = (u - v)^2``, ``colsum += e - old``, ``old <- e`` in one pass."""
    for k in range(colsum.shape[0]):
        z = u[k] - v[k]
        e = z * z
        colsum[k] += e - old[k]
        old[k] = e


@njit(**_OPTS)
def _nlm_blocks(P, g, box, f, d, s1, s2, H, W, nblocks, bits, scale, out):
    """Pixelwise NLM of the padded planar image ``P`` into ``out`` ``(C, H, W)``.

    ``g`` holds the 1-D patch weights (all ones with ``box``, which selects running sums),
    ``s1 = 1 / (h^2 C sum(g)^2)``, ``s2 = 2 sigma^2 / h^2``; ``bits`` / ``scale`` are
    ``(nblocks, W + d)`` integer buffers and their float views (exponent construction).
    """
    C = P.shape[0]
    n = 2 * f + 1
    m = d + f
    f32 = P.itemsize == 4
    for blk in prange(nblocks):
        i0 = blk * H // nblocks
        i1 = (blk + 1) * H // nblocks
        den = np.ones((i1 - i0, W), P.dtype)       # the pixel itself, weight 1
        for c in range(C):
            for i in range(i0, i1):
                _copy(out[c, i], P[c, i + m, m:m + W])
        Lmax = W + d + 2 * f
        ring = np.empty((n, Lmax), P.dtype)
        colsum = np.empty(Lmax, P.dtype)
        tmp = np.empty(Lmax, P.dtype)
        D = np.empty(W + d, P.dtype)
        w = np.empty(W + d, P.dtype)
        bb = bits[blk]
        sc = scale[blk]
        for a in range(d + 1):
            for b in range(-d, d + 1):
                if a == 0 and b <= 0:
                    continue
                jlo = min(0, -b)             # weights for pixel columns [jlo, jlo + ww)
                ww = W + abs(b)
                L = ww + 2 * f
                k0 = jlo + d                 # padded column of the first e column
                ilo = i0 - a
                for q in range(n):
                    _sqdiff_row(P, ilo + d + q, a, b, k0, ring[q, :L])
                if box:
                    _vfilter(ring, g, 0, colsum[:L])
                for i in range(ilo, i1):
                    if i > ilo:              # new bottom row replaces the top one in the ring
                        slot = (i - ilo - 1) % n
                        r = i + d + 2 * f
                        if box and C == 1:
                            _sqdiff_slide(P[0, r, k0:k0 + L], P[0, r + a, k0 + b:k0 + b + L],
                                          ring[slot, :L], colsum[:L])
                        elif box:
                            _sqdiff_row(P, r, a, b, k0, tmp[:L])
                            _slide(colsum[:L], ring[slot, :L], tmp[:L])
                        else:
                            _sqdiff_row(P, r, a, b, k0, ring[slot, :L])
                    if not box:
                        _vfilter(ring, g, i - ilo, colsum[:L])
                    if box:
                        _hbox(colsum[:L], n, D[:ww])
                    else:
                        _hfilter(colsum[:L], g, D[:ww])
                    if f32:
                        _weights32(D[:ww], s1, s2, w[:ww], bb[:ww], sc[:ww])
                    else:
                        _weights64(D[:ww], s1, s2, w[:ww], bb[:ww], sc[:ww])
                    if i >= i0:              # p = (i, j) gains w u(p + t)
                        wi = w[-jlo:-jlo + W]
                        _axpy_add(out[0, i], den[i - i0], wi, P[0, i + m + a, m + b:m + b + W])
                        for c in range(1, C):
                            _axpy(out[c, i], wi, P[c, i + m + a, m + b:m + b + W])
                    if i + a < i1:           # p + t = (i + a, j + b) gains w u(p)
                        wi = w[-b - jlo:-b - jlo + W]
                        _axpy_add(out[0, i + a], den[i + a - i0], wi, P[0, i + m, m - b:m - b + W])
                        for c in range(1, C):
                            _axpy(out[c, i + a], wi, P[c, i + m, m - b:m - b + W])
        for c in range(C):
            for i in range(i0, i1):
                o = out[c, i]
                dn = den[i - i0]
                for j in range(W):
                    o[j] /= dn[j]


def nlm_numba(P, g, box, f, d, s1, s2, H, W, nblocks):
    """NLM of the padded planar image ``P`` (see :func:`_nlm_blocks`); returns ``(C, H, W)``."""
    dt = P.dtype
    ibits = np.int32 if dt == np.float32 else np.int64
    bits = np.zeros((nblocks, W + d), ibits)
    scale = bits.view(dt)
    out = np.empty((P.shape[0], H, W), dt)
    # Blocks are handed out one at a time (dynamic scheduling), not split evenly up front:
    # on a shared machine a thread whose core is busy then takes fewer blocks.
    old = numba.set_parallel_chunksize(1)
    try:
        _nlm_blocks(P, g.astype(dt), bool(box), int(f), int(d), dt.type(s1), dt.type(s2),
                    int(H), int(W), int(nblocks), bits, scale, out)
    finally:
        numba.set_parallel_chunksize(old)
    return out
