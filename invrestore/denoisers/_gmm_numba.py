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

__all__ = ["best_pairs", "extract_rows", "group_pairs", "score_pairs", "select_top", "sq_segments",
           "wiener_aggregate"]

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
def group_pairs(cand, n_comp, order, kstart):  # pragma: no cover - compiled
    """Counting sort of the (patch, candidate) pairs ``i * M + m`` by component ``cand[i, m]``.

    ``order`` (n M) receives the pair ids grouped by component, ``kstart`` (n_comp + 1) the
    group boundaries.
    """
    n, M = cand.shape
    for k in range(n_comp + 1):
        kstart[k] = 0
    for i in range(n):
        for m in range(M):
            kstart[cand[i, m] + 1] += 1
    for k in range(n_comp):
        kstart[k + 1] += kstart[k]
    fill = kstart[:-1].copy()
    for i in range(n):
        for m in range(M):
            k = cand[i, m]
            order[fill[k]] = i * M + m
            fill[k] += 1


@njit(**_OPTS)
def score_pairs(G, coef, tail, const, ynorm2, pairs, M, scores, acc):  # pragma: no cover
    """Scores of one component for the pairs ``pairs`` whose projections are the columns of ``G``.

    ``scores[pair] = const - (tail |y|^2 + sum_j coef[j] G[j, c]^2) / 2`` with ``y`` the patch
    ``pair // M``; ``acc`` is scratch of at least ``len(pairs)``.
    """
    n = pairs.size
    for c in range(n):
        acc[c] = tail * ynorm2[pairs[c] // M]
    for j in range(G.shape[0]):
        cj = coef[j]
        for c in range(n):
            g = G[j, c]
            acc[c] += cj * g * g
    for c in range(n):
        scores[pairs[c]] = const - 0.5 * acc[c]


@njit(**_OPTS)
def best_pairs(cand, scores, label):  # pragma: no cover - compiled
    """Sort each patch's candidates by decreasing score (stable); ``label`` gets the best."""
    n, M = cand.shape
    sc = np.empty(M, scores.dtype)
    for i in range(n):
        for m in range(M):
            sc[m] = scores[i * M + m]
        for m in range(1, M):  # insertion sort: M is small
            v = sc[m]
            k = cand[i, m]
            q = m
            while q > 0 and sc[q - 1] < v:
                sc[q] = sc[q - 1]
                cand[i, q] = cand[i, q - 1]
                q -= 1
            sc[q] = v
            cand[i, q] = k
        label[i] = cand[i, 0]
