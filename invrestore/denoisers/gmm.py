r"""Zero-mean Gaussian mixtures of image patches: the patch prior of EPLL.

A :class:`GaussianMixture` models a flattened ``p x p`` patch with its mean (DC) removed as

.. math:: p(y) = \sum_{k=1}^K w_k\, \mathcal N(y;\, 0,\, \Sigma_k),

as in Zoran & Weiss (2011). A mean-removed patch lies in the ``d - 1``-dimensional subspace
orthogonal to the constant vector (``d = p^2``), so the model lives there: each covariance is
stored through its eigendecomposition on that subspace, ``Sigma_k = U_k diag(lambda_k) U_k^T``
with ``U_k`` of shape ``(d, d - 1)`` (orthonormal columns, orthogonal to the constant vector)
and ``lambda_k`` in decreasing order, and densities are densities of the subspace coordinates
``U^T (y - mean(y))``. ``dc_removed=False`` gives an ordinary zero-mean mixture on all ``d``
dimensions. With noise of variance ``sigma^2`` added, a component's covariance becomes
``Sigma_k + sigma^2 I``: same eigenvectors, eigenvalues ``lambda_k + sigma^2``, which is what
makes the EPLL posteriors cheap (:mod:`.epll`).

:func:`fit_gmm` runs EM (Dempster, Laird & Rubin 1977) on a matrix of patches; :meth:`save`
and :func:`load_gmm` store a mixture as a ``.npz`` file without pickled objects.

References
----------
D. Zoran and Y. Weiss, "From learning models of natural image patches to whole image
restoration", ICCV 2011.

Examples
--------
>>> import numpy as np
>>> from invrestore.denoisers import GaussianMixture, fit_gmm
>>> true = GaussianMixture([0.3, 0.7], [np.diag([4.0, 0.1]), np.diag([0.1, 1.0])],
...                        dc_removed=False)
>>> y, _ = true.sample(4000, rng=0)
>>> gmm = fit_gmm(y, 2, remove_dc=False, seed=0)
>>> np.round(np.sort(gmm.weights), 1).tolist()
[0.3, 0.7]
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..backend import check_scalar
from ._gmm_fit import fit_gmm

__all__ = ["GaussianMixture", "fit_gmm", "load_gmm"]

_FORMAT = "invrestore-gmm"
_VERSION = 1


def dc_basis(d):
    """Orthonormal basis ``(d, d - 1)`` of the vectors with zero mean (deterministic)."""
    a = np.eye(d)
    a[:, 0] = 1.0
    q, _ = np.linalg.qr(a)
    b = q[:, 1:]
    return b * np.where(b.sum(axis=0) < 0, -1.0, 1.0)  # fixed signs, whatever LAPACK gives


class GaussianMixture:
    """Zero-mean Gaussian mixture of (mean-removed) patches.

    Parameters
    ----------
    weights : array_like, shape (K,)
        Positive mixture weights (normalised to sum 1).
    covariances : array_like, shape (K, d, d)
        Symmetric covariances. With ``dc_removed`` they are restricted to the zero-mean
        subspace (any component along the constant vector is ignored) and must be positive
        definite there.
    patch_shape : tuple of int, optional
        ``(p, p)`` for image patches; default: square with ``p * p = d`` when ``d`` is a
        square, else ``(d,)``.
    dc_removed : bool
        Model mean-removed patches (the EPLL convention) rather than all ``d`` dimensions.

    Attributes
    ----------
    weights : ndarray (K,)
    eigvals : ndarray (K, m)
        Eigenvalues of each covariance on the model subspace (``m = d - 1`` with
        ``dc_removed``, else ``d``), decreasing.
    eigvecs : ndarray (K, d, m)
        The matching orthonormal eigenvectors.
    covariances : ndarray (K, d, d)
        ``eigvecs @ diag(eigvals) @ eigvecs^T`` (computed on first use).

    Examples
    --------
    >>> import numpy as np
    >>> g = GaussianMixture([1.0], [np.eye(4)])
    >>> g.n_components, g.dim, g.patch_shape, g.eigvals.shape
    (1, 4, (2, 2), (1, 3))
    """

    def __init__(self, weights, covariances, *, patch_shape=None, dc_removed=True):
        cov = np.asarray(covariances, dtype=np.float64)
        if cov.ndim != 3 or cov.shape[1] != cov.shape[2]:
            raise ValueError(f"covariances must have shape (K, d, d), got {cov.shape}")
        if not np.all(np.isfinite(cov)):
            raise ValueError("covariances contain NaN or Inf values")
        d = cov.shape[1]
        b = dc_basis(d) if dc_removed else np.eye(d)
        sub = np.einsum("ia,kij,jb->kab", b, 0.5 * (cov + cov.transpose(0, 2, 1)), b)
        lam, v = np.linalg.eigh(sub)
        if np.any(lam[:, 0] <= 0):
            k = int(np.argmin(lam[:, 0]))
            raise ValueError(f"covariance {k} is not positive definite on the model subspace "
                             f"(smallest eigenvalue {lam[k, 0]:.3g}); add regularisation")
        self._set(weights, lam[:, ::-1], np.einsum("ia,kab->kib", b, v[:, :, ::-1]),
                  patch_shape, dc_removed)

    @classmethod
    def from_eig(cls, weights, eigvals, eigvecs, *, patch_shape=None, dc_removed=True):
        """Build from eigendecompositions (``eigvals`` (K, m) decreasing, ``eigvecs`` (K, d, m))."""
        self = cls.__new__(cls)
        lam = np.asarray(eigvals, dtype=np.float64)
        vec = np.asarray(eigvecs, dtype=np.float64)
        if lam.ndim != 2 or vec.ndim != 3 or vec.shape[0] != lam.shape[0] or \
                vec.shape[2] != lam.shape[1]:
            raise ValueError(f"eigvals (K, m) and eigvecs (K, d, m) do not match: {lam.shape}, "
                             f"{vec.shape}")
        m_expected = vec.shape[1] - 1 if dc_removed else vec.shape[1]
        if lam.shape[1] != m_expected:
            raise ValueError(f"expected {m_expected} eigenvalues per component for d = "
                             f"{vec.shape[1]} (dc_removed={dc_removed}), got {lam.shape[1]}")
        if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(vec))) or np.any(lam <= 0):
            raise ValueError("eigenvalues must be finite and > 0 and eigenvectors finite")
        order = np.argsort(-lam, axis=1)
        lam = np.take_along_axis(lam, order, axis=1)
        vec = np.take_along_axis(vec, order[:, None, :], axis=2)
        self._set(weights, lam, vec, patch_shape, dc_removed)
        return self

    def _set(self, weights, eigvals, eigvecs, patch_shape, dc_removed):
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.size != eigvals.shape[0]:
            raise ValueError(f"{w.size} weights for {eigvals.shape[0]} components")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("weights must be finite and > 0")
        d = eigvecs.shape[1]
        if patch_shape is None:
            p = math.isqrt(d)
            patch_shape = (p, p) if p * p == d else (d,)
        patch_shape = tuple(int(s) for s in patch_shape)
        if math.prod(patch_shape) != d:
            raise ValueError(f"patch_shape {patch_shape} does not hold d = {d} values")
        self.weights = w / w.sum()
        self.eigvals = eigvals
        self.eigvecs = eigvecs
        self.patch_shape = patch_shape
        self.dc_removed = bool(dc_removed)
        self._cov = None
        self._rows32 = None

    # ----------------------------------------------------------------------------- properties
    @property
    def n_components(self):
        return self.weights.size

    @property
    def dim(self):
        return self.eigvecs.shape[1]

    @property
    def covariances(self):
        if self._cov is None:
            self._cov = np.einsum("kim,km,kjm->kij", self.eigvecs, self.eigvals, self.eigvecs)
        return self._cov

    def eigvec_rows(self):
        """Eigenvectors as rows, ``(K, m, d)`` C-contiguous float32 (cached, read-only)."""
        if self._rows32 is None:
            rows = np.ascontiguousarray(self.eigvecs.transpose(0, 2, 1), dtype=np.float32)
            rows.flags.writeable = False
            self._rows32 = rows
        return self._rows32

    def __repr__(self):
        return (f"GaussianMixture(n_components={self.n_components}, patch_shape="
                f"{self.patch_shape}, dc_removed={self.dc_removed})")

    # ------------------------------------------------------------------------------ densities
    def _prepare(self, patches):
        y = np.asarray(patches, dtype=np.float64)
        if y.ndim != 2 or y.shape[1] != self.dim:
            raise ValueError(f"{self!r}: patches must have shape (N, {self.dim}), got "
                             f"{y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("patches contain NaN or Inf values")
        if self.dc_removed:
            y = y - y.mean(axis=1, keepdims=True)
        return y

    def component_log_prob(self, patches, *, sigma=0.0):
        """``log w_k + log N(y; 0, Sigma_k + sigma^2 I)`` for every patch and component.

        Exact float64 evaluation (the reference for the fast EPLL kernels). Returns (N, K).
        """
        sigma = check_scalar(sigma, "sigma", nonnegative=True)
        y = self._prepare(patches)
        lam = self.eigvals + sigma**2
        k, m = lam.shape
        const = np.log(self.weights) - 0.5 * (np.log(lam).sum(axis=1) + m * math.log(2 * math.pi))
        flat = self.eigvecs.transpose(1, 0, 2).reshape(self.dim, k * m)
        out = np.empty((y.shape[0], k))
        step = max(1, 2**20 // (k * m))
        for c0 in range(0, y.shape[0], step):
            proj = (y[c0:c0 + step] @ flat).reshape(-1, k, m)
            out[c0:c0 + step] = const - 0.5 * np.einsum("nkm,nkm,km->nk", proj, proj, 1 / lam)
        return out

    def score_samples(self, patches, *, sigma=0.0):
        """Log density of each patch (N,), optionally with noise of std ``sigma`` added."""
        lp = self.component_log_prob(patches, sigma=sigma)
        mx = lp.max(axis=1, keepdims=True)
        return (mx + np.log(np.exp(lp - mx).sum(axis=1, keepdims=True)))[:, 0]

    def predict(self, patches, *, sigma=0.0):
        """Index of the most probable component for each (noisy) patch."""
        return np.argmax(self.component_log_prob(patches, sigma=sigma), axis=1)

    def denoise_patches(self, patches, sigma, *, labels=None):
        """MAP estimate of clean patches under the component ``labels`` (default: most likely).

        Each patch keeps its mean; the mean-removed part is Wiener filtered,
        ``U_k diag(lambda_k / (lambda_k + sigma^2)) U_k^T y``.
        """
        sigma = check_scalar(sigma, "sigma", nonnegative=True)
        y = self._prepare(patches)
        raw = np.asarray(patches, dtype=np.float64)
        if labels is None:
            labels = self.predict(raw, sigma=sigma)
        out = raw - y  # the means (zero when not dc_removed)
        gain = self.eigvals / (self.eigvals + sigma**2)
        for k in np.unique(labels):
            idx = np.flatnonzero(labels == k)
            u = self.eigvecs[k]
            out[idx] += ((y[idx] @ u) * gain[k]) @ u.T
        return out

    def sample(self, n, *, rng=None):
        """Draw ``n`` mean-removed patches; returns ``(patches (n, d), labels (n,))``."""
        n = check_scalar(n, "n", nonnegative=True, integer=True)
        rng = np.random.default_rng(rng)
        labels = rng.choice(self.n_components, size=n, p=self.weights)
        z = rng.standard_normal((n, self.eigvals.shape[1])) * np.sqrt(self.eigvals[labels])
        return np.einsum("nim,nm->ni", self.eigvecs[labels], z), labels

    # ------------------------------------------------------------------------------------ I/O
    def save(self, path, *, dtype=np.float32):
        """Write the mixture to ``path`` (``.npz``, compressed, no pickle).

        Eigenvalues and eigenvectors are stored in ``dtype`` (float32 by default: half the size,
        and far below the precision that patch priors need); weights in float64.
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        with open(os.fspath(path), "wb") as fh:
            np.savez_compressed(fh, format=np.array(_FORMAT), version=np.array(_VERSION),
                                weights=self.weights, eigvals=self.eigvals.astype(dtype),
                                eigvecs=self.eigvecs.astype(dtype),
                                patch_shape=np.array(self.patch_shape, dtype=np.int64),
                                dc_removed=np.array(self.dc_removed))


def load_gmm(path=None):
    """Read a mixture written by :meth:`GaussianMixture.save`.

    Parameters
    ----------
    path : str or path-like, optional
        The ``.npz`` file; default: the shipped 8x8 gray model
        ``invrestore/denoisers/data/gmm_8x8.npz`` (see the README there).

    Raises
    ------
    ValueError
        The file is not a readable archive, misses fields, or holds arrays of inconsistent
        shapes or invalid values.
    """
    if path is None:
        path = os.path.join(os.path.dirname(__file__), "data", "gmm_8x8.npz")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GMM file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except Exception as err:  # zipfile.BadZipFile, pickled arrays, truncated members ...
        raise ValueError(f"{path}: not a readable GMM .npz file ({type(err).__name__}: "
                         f"{err})") from err
    need = ("format", "version", "weights", "eigvals", "eigvecs", "patch_shape", "dc_removed")
    missing = [k for k in need if k not in data]
    if missing or str(data.get("format", "")) != _FORMAT:
        raise ValueError(f"{path}: not an invrestore GMM file (missing fields {missing})")
    if int(data["version"]) > _VERSION:
        raise ValueError(f"{path}: GMM file version {int(data['version'])} is newer than this "
                         f"invrestore understands ({_VERSION})")
    try:
        return GaussianMixture.from_eig(data["weights"], data["eigvals"], data["eigvecs"],
                                        patch_shape=tuple(data["patch_shape"].tolist()),
                                        dc_removed=bool(data["dc_removed"]))
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path}: invalid GMM file: {err}") from err
