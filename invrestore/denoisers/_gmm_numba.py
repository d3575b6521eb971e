"""Numba kernels of the Gaussian-mixture patch prior (:mod:`.gmm`, :mod:`.epll`).

Layout. A chunk of ``n`` patches is an ``(n, d)`` array ``Y`` (one patch per row), and its
projections onto a group of the components' eigenvectors come from one BLAS product
``G = Ut @ Y.T`` with ``Ut`` the ``(R, d)`` stack of their retained eigenvectors (rows). A
component's quadratic form is then a weighted sum of squares over its block of rows of ``G``,
evaluated for all patches of the chunk at once along contiguous rows (vectorised), and the
best components are kept per patch (:func:`select_top`).

All kernels are serial and release the GIL: the parallelism is over chunks of patches, one
thread per chunk (see :mod:`invrestore.kernels.blas_threads`), so each thread runs its own
single-threaded BLAS product and then these kernels on data still in its cache.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["extract_rows", "filter_candidates", "select_top", "sq_segments", "wiener_aggregate"]

_OPTS = {"cache": True, "nogil": True, "fastmath": True}


@njit(**_OPTS)
def sq_segments(G, starts, coef, out):  # pragma: no cover - compiled
    """``out[k, i] = sum_{j in [starts[k], starts[k + 1])} coef[j] * G[j, i] ** 2``."""
    n = G.shape[1]
    for k in range(starts.size - 1):
        for i in range(n):
            out[k, i] = 0.0
        for j in range(starts[k], starts[k + 1]):
            c = coef[j]
            for i in range(n):
                g = G[j, i]
                out[k, i] += c * g * g


@njit(**_OPTS)
def select_top(G, starts, coef, tail, const, ynorm2, koff, topv, topk,
               acc):  # pragma: no cover - compiled
    """Keep the ``M`` best components per patch for ``const[k] - (tail[k] |y|^2 + sum coef G^2) / 2``.

    ``G`` holds the projections of ``n`` patches (columns) on the rows of a group of
    components, whose blocks of rows are ``[starts[k], starts[k + 1])``. ``topv`` / ``topk``
    (``(n, M)``, scores decreasing) are updated in place with labels ``koff + k``, so that
    successive groups can be scanned; ``acc`` is scratch of length n.
    """
    n = G.shape[1]
    M = topv.shape[1]
    for k in range(starts.size - 1):
        t = tail[k]
        for i in range(n):
            acc[i] = t * ynorm2[i]
        for j in range(starts[k], starts[k + 1]):
            c = coef[j]
            for i in range(n):
                g = G[j, i]
                acc[i] += c * g * g
        ck = const[k]
        for i in range(n):
            s = ck - 0.5 * acc[i]
            if s > topv[i, M - 1]:
                q = M - 1
                while q > 0 and topv[i, q - 1] < s:
                    topv[i, q] = topv[i, q - 1]
                    topk[i, q] = topk[i, q - 1]
                    q -= 1
                topv[i, q] = s
                topk[i, q] = koff + k


@njit(**_OPTS)
def extract_rows(x, rows, cols, p, Y, dc, ynorm2):  # pragma: no cover - compiled
    """Patches at corners ``(rows[a], cols[b])`` (raster order) into the rows of ``Y``.

    The mean of each patch goes to ``dc`` and is removed from its row; ``ynorm2`` gets the
    squared norm of the mean-removed patch.
    """
    nc = cols.size
    inv = 1.0 / (p * p)
    for a in range(rows.size):
        r = rows[a]
        for b in range(nc):
            c = cols[b]
            n = a * nc + b
            s = 0.0
            for i in range(p):
                for j in range(p):
                    s += x[r + i, c + j]
            m = s * inv
            s2 = 0.0
            for i in range(p):
                for j in range(p):
                    v = x[r + i, c + j] - m
                    Y[n, i * p + j] = v
                    s2 += v * v
            dc[n] = m
            ynorm2[n] = s2


@njit(**_OPTS)
def wiener_aggregate(Y, dc, label, starts, Ut, gain, alpha, rows, cols, p, buf,
                     out):  # pragma: no cover - compiled
    """Filter each patch with its component and add it into the image ``out``.

    Patch ``n`` (row of ``Y``, mean removed) with component ``k = label[n]`` becomes
    ``alpha[k] y + sum_{j in block k} gain[j] <Ut[j], y> Ut[j]`` plus its mean ``dc[n]``,
    the Wiener filter of the component's flat-tail covariance, and is added to
    ``out[r:r + p, c:c + p]``.
    """
    nc = cols.size
    d = p * p
    for a in range(rows.size):
        r = rows[a]
        for b in range(nc):
            c = cols[b]
            n = a * nc + b
            k = label[n]
            al = alpha[k]
            for q in range(d):
                buf[q] = al * Y[n, q]
            for j in range(starts[k], starts[k + 1]):
                f = 0.0
                for q in range(d):
                    f += Ut[j, q] * Y[n, q]
                f *= gain[j]
                for q in range(d):
                    buf[q] += f * Ut[j, q]
            m = dc[n]
            for i in range(p):
                for jj in range(p):
                    out[r + i, c + jj] += buf[i * p + jj] + m


@njit(**_OPTS)
def filter_candidates(x, rows, cols, p, row0, cand, starts, Ut, coef, tail, const, gain, alpha,
                      y, proj, buf, out):  # pragma: no cover - compiled
    """Extract, select among candidates, filter and aggregate, patch by patch.

    Patch ``n`` (corner ``(rows[a], cols[b])``, raster order) is scored against the
    components ``cand[n]`` only (projections computed here: ``r_k`` dot products each),
    filtered with the best one as in :func:`wiener_aggregate` and added to ``out`` (whose
    first row is image row ``row0``). ``y``
    (d), ``proj`` (M, max rank) and ``buf`` (d) are scratch. ``cand[n]`` is reordered best
    first.
    """
    nc = cols.size
    d = p * p
    M = cand.shape[1]
    inv = 1.0 / d
    for a in range(rows.size):
        r = rows[a]
        for b in range(nc):
            c = cols[b]
            n = a * nc + b
            s = 0.0
            for i in range(p):
                for jj in range(p):
                    s += x[r + i, c + jj]
            dc = s * inv
            yn = 0.0
            for i in range(p):
                for jj in range(p):
                    v = x[r + i, c + jj] - dc
                    y[i * p + jj] = v
                    yn += v * v
            best = -np.inf
            mb = 0
            for m in range(M):
                k = cand[n, m]
                acc = tail[k] * yn
                for j in range(starts[k], starts[k + 1]):
                    f = 0.0
                    for q in range(d):
                        f += Ut[j, q] * y[q]
                    proj[m, j - starts[k]] = f
                    acc += coef[j] * f * f
                sc = const[k] - 0.5 * acc
                if sc > best:
                    best = sc
                    mb = m
            k = cand[n, mb]
            if mb > 0:
                cand[n, mb] = cand[n, 0]
                cand[n, 0] = k
            al = alpha[k]
            for q in range(d):
                buf[q] = al * y[q]
            for j in range(starts[k], starts[k + 1]):
                f = gain[j] * proj[mb, j - starts[k]]
                for q in range(d):
                    buf[q] += f * Ut[j, q]
            for i in range(p):
                for jj in range(p):
                    out[r - row0 + i, c + jj] += buf[i * p + jj] + dc
