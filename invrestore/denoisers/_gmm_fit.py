r"""EM for zero-mean Gaussian mixtures of patches (:func:`fit_gmm`).

E-step: with ``Sigma_k = V_k diag(lambda_k) V_k^T`` and ``W_k = V_k diag(lambda_k)^{-1/2}``,
the Mahalanobis distances of a chunk of patches to all components are the squared norms of
blocks of rows of one product ``[W_1 ... W_K]^T Z^T`` (single-threaded BLAS per worker thread,
components in groups so that the product stays in cache, block sums in Numba). Responsibilities
come from a log-sum-exp over components. M-step: per chunk and component, one product
``(Z_k * r_k)^T Z_k`` over the patches whose responsibility exceeds ``resp_floor`` (after a few
iterations a patch has sizeable responsibility for a handful of the components, so this is
much cheaper than the dense update and changes the statistics by less than ``resp_floor``
relative). Chunk statistics are summed in chunk order, so the result does not depend on the
number of threads or their timing.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..backend import check_scalar
from ..kernels.blas_threads import default_threads, parallel_map, single_threaded_blas
from ._gmm_numba import sq_segments

__all__ = ["fit_gmm"]

_SUB = 512  # patches per BLAS product
_GROUP = 16  # components per BLAS product


def _init(Z, K, rng, reg):
    """Clusters of patches by |normalised correlation| with K seed patches drawn by energy."""
    n, m = Z.shape
    e = np.einsum("ij,ij->i", Z, Z, dtype=np.float64)
    nz = np.flatnonzero(e > 1e-12)  # rounding leaves ~1e-30 in constant patches
    if nz.size < K:
        raise ValueError(f"only {nz.size} of the patches are non-constant; need at least "
                         f"n_components = {K}")
    seeds = rng.choice(nz, size=K, replace=False, p=e[nz] / e[nz].sum())
    s = Z[seeds] / np.sqrt(e[seeds])[:, None]
    labels = np.empty(n, dtype=np.int64)
    for c0 in range(0, n, 8192):
        labels[c0:c0 + 8192] = np.argmax(np.abs(Z[c0:c0 + 8192] @ s.T), axis=1)
    counts = np.bincount(labels, minlength=K).astype(np.float64)
    cov = np.empty((K, m, m))
    for k in range(K):
        zk = Z[labels == k].astype(np.float64)
        cov[k] = zk.T @ zk / max(zk.shape[0], 1) + reg * np.eye(m)
    return np.maximum(counts, 1.0) / max(counts.sum(), 1.0), cov


def _chunk_stats(Zc, Wt, const, floor):
    """Log-likelihood sum, responsibility sums and weighted scatter matrices of one chunk."""
    n, m = Zc.shape
    K = const.size
    maha = np.empty((K, n))
    ones = np.ones(Wt.shape[0], dtype=Wt.dtype)
    for i0 in range(0, n, _SUB):
        zt = np.ascontiguousarray(Zc[i0:i0 + _SUB].T)
        for g0 in range(0, K, _GROUP):
            g1 = min(K, g0 + _GROUP)
            G = Wt[g0 * m:g1 * m] @ zt
            out = np.empty((g1 - g0, zt.shape[1]))
            sq_segments(G, np.arange(0, (g1 - g0) * m + 1, m, dtype=np.int64), ones, out)
            maha[g0:g1, i0:i0 + zt.shape[1]] = out
    logp = const[:, None] - 0.5 * maha
    mx = logp.max(axis=0)
    r = np.exp(logp - mx)
    tot = r.sum(axis=0)
    r /= tot
    ll = float(np.sum(mx + np.log(tot)))
    scatter = np.zeros((K, m, m))
    for k in range(K):
        idx = np.flatnonzero(r[k] > floor)
        if idx.size:
            zk = Zc[idx].astype(np.float64)
            scatter[k] = (zk * r[k, idx, None]).T @ zk
    return ll, r.sum(axis=1), scatter


def fit_gmm(patches, n_components, *, max_iter=100, tol=1e-4, seed=0, reg_covar=1e-6,
            remove_dc=True, patch_shape=None, resp_floor=1e-5, chunk_size=4096,
            n_threads=None, verbose=False):
    r"""Fit a zero-mean Gaussian mixture to patches by EM.

    Parameters
    ----------
    patches : array_like, shape (N, d)
        One flattened patch per row (e.g. from
        :func:`invrestore.kernels.patches.extract_patches`), intensities in [0, 1].
    n_components : int
        Number of components ``K`` (``N`` must be at least ``K``).
    max_iter : int
        Maximum number of EM iterations.
    tol : float
        Stop when the mean log-likelihood per patch and per dimension changes by less than
        ``tol`` between iterations.
    seed : int
        Seed of the initialisation; the fit is deterministic for a given seed and input.
    reg_covar : float
        Added to the diagonal of every covariance after each M-step (on the [0, 1] intensity
        scale: ``1e-6`` is a noise of std 0.26/255, below 8-bit quantisation).
    remove_dc : bool
        Subtract each patch's mean and model the ``d - 1``-dimensional zero-mean subspace
        (EPLL); False models all ``d`` dimensions.
    patch_shape : tuple of int, optional
        Stored in the result (default: square patches).
    resp_floor : float
        Responsibilities below this are left out of the M-step sums.
    chunk_size : int
        Patches per work item (memory: about ``K * chunk_size`` floats per thread).
    n_threads : int, optional
        Worker threads (default: all available CPUs); the result does not depend on it.
    verbose : bool
        Print the log-likelihood at every iteration.

    Returns
    -------
    GaussianMixture
        With extra attributes ``n_iter_``, ``converged_`` and ``log_likelihood_`` (the history
        of the mean log-likelihood per patch, nats, before each M-step).

    Notes
    -----
    Initialisation: ``K`` seed patches drawn with probability proportional to their energy;
    every patch joins the seed with the largest ``|<y, s>| / (|y| |s|)`` (zero-mean Gaussians
    are symmetric, hence the absolute value); covariances and weights start from these clusters.
    E-step in float32 (log-likelihoods to about 1e-3 nats), M-step sums in float64.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.concatenate([rng.normal(0, [2.0, 0.1], (500, 2)),
    ...                     rng.normal(0, [0.1, 1.0], (500, 2))])
    >>> gmm = fit_gmm(y, 2, remove_dc=False, seed=0)
    >>> gmm.n_components, bool(gmm.converged_)
    (2, True)
    """
    from .gmm import GaussianMixture, dc_basis

    x = np.asarray(patches)
    if x.ndim != 2 or x.dtype.kind not in "fiu":
        raise ValueError(f"patches must be a real (N, d) array, got shape {x.shape}, dtype "
                         f"{x.dtype}")
    K = check_scalar(n_components, "n_components", positive=True, integer=True)
    max_iter = check_scalar(max_iter, "max_iter", positive=True, integer=True)
    tol = check_scalar(tol, "tol", nonnegative=True)
    reg = check_scalar(reg_covar, "reg_covar", nonnegative=True)
    floor = check_scalar(resp_floor, "resp_floor", nonnegative=True)
    chunk = check_scalar(chunk_size, "chunk_size", positive=True, integer=True)
    n, d = x.shape
    if d < (3 if remove_dc else 1):
        raise ValueError(f"patches of dimension {d} are too small")
    if n < K:
        raise ValueError(f"need at least n_components = {K} patches, got {n}")
    basis = dc_basis(d) if remove_dc else np.eye(d)
    m = basis.shape[1]
    Z = np.empty((n, m), dtype=np.float32)
    for c0 in range(0, n, 65536):
        xc = np.asarray(x[c0:c0 + 65536], dtype=np.float64)
        if not np.all(np.isfinite(xc)):
            raise ValueError("patches contain NaN or Inf values")
        Z[c0:c0 + 65536] = xc @ basis  # the basis is orthogonal to constants: removes the DC
    rng = np.random.default_rng(seed)
    threads = default_threads() if n_threads is None else int(n_threads)
    starts = list(range(0, n, chunk))
    with single_threaded_blas():
        weights, cov = _init(Z, K, rng, reg)
        history, converged, it = [], False, 0
        for it in range(1, max_iter + 1):
            t0 = time.perf_counter()
            lam, vec = np.linalg.eigh(cov)
            Wt = (vec / np.sqrt(lam)[:, None, :]).transpose(0, 2, 1).reshape(K * m, m)
            Wt = np.ascontiguousarray(Wt, dtype=np.float32)
            const = (np.log(weights) - 0.5 * np.log(lam).sum(axis=1)
                     - 0.5 * m * math.log(2 * math.pi))
            ll, nk, scatter = 0.0, np.zeros(K), np.zeros((K, m, m))
            for b0 in range(0, len(starts), 2 * threads):
                batch = starts[b0:b0 + 2 * threads]
                res = parallel_map(
                    lambda c, wt=Wt, cst=const: _chunk_stats(Z[c:c + chunk], wt, cst, floor),
                    batch, n_threads=threads)
                for r_ll, r_nk, r_s in res:  # in chunk order: deterministic sums
                    ll += r_ll
                    nk += r_nk
                    scatter += r_s
            history.append(ll / n)
            alive = nk > 1e-6 * n
            weights = np.maximum(nk, 1e-12) / nk.sum()
            cov[alive] = scatter[alive] / nk[alive, None, None] + reg * np.eye(m)
            if verbose:
                print(f"EM {it:3d}: mean log-likelihood {ll / n:.4f} "
                      f"({time.perf_counter() - t0:.1f} s)", flush=True)
            if it > 1 and abs(history[-1] - history[-2]) < tol * m:
                converged = True
                break
    lam, vec = np.linalg.eigh(cov)
    gmm = GaussianMixture.from_eig(weights, lam[:, ::-1],
                                   np.einsum("ia,kab->kib", basis, vec[:, :, ::-1]),
                                   patch_shape=patch_shape, dc_removed=remove_dc)
    gmm.n_iter_, gmm.converged_, gmm.log_likelihood_ = it, converged, np.array(history)
    return gmm
