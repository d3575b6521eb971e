r"""EPLL denoising with a Gaussian-mixture patch prior (Zoran & Weiss 2011).

EPLL minimises :math:`\frac{1}{2\sigma^2}\|x - y\|^2 - \sum_n \log p(P_n x)` over the image
``x``, with :math:`P_n` the extraction of the ``n``-th patch and ``p`` a
:class:`~invrestore.denoisers.GaussianMixture`, by half-quadratic splitting: for an increasing
sequence :math:`c_1 < c_2 < \dots` (``betas``; the paper's :math:`\beta = c / \sigma^2`)

1. every patch :math:`y_n = P_n x` is treated as a clean patch plus noise of variance
   :math:`s^2 = \sigma^2 / c`; its mean is kept and the rest is Wiener filtered with the
   component of largest posterior probability,
   :math:`\hat k = \arg\max_k \log w_k + \log \mathcal N(y_n; 0, \Sigma_k + s^2 I)`,
   :math:`z_n = \Sigma_{\hat k} (\Sigma_{\hat k} + s^2 I)^{-1} y_n`;
2. the patches are averaged back, :math:`\bar z = (\sum_n P_n^\top z_n) / (\sum_n P_n^\top
   P_n)`, and :math:`x \leftarrow (y + c\,\bar z) / (1 + c)`.

Schedule. The paper uses :math:`c = 1, 4, 8, 16, 32`. The default ``betas="auto"`` adds a
sixth step, ``(1, 4, 8, 16, 32, 64)`` (+0.04 dB at sigma 15 and 25, +0.01 dB at 50), and below
sigma 22.5/255 takes denser steps, ``(1, 4, 8, 12, 16, 24, 32, 48, 64)``: on 13 Train400
images (every third from the 362nd, fixed noise seeds) that gains 0.085 / 0.049 / 0.016 dB
at sigma 10 / 15 / 20 but loses 0.015 dB at 25 (where it would also cost half as much time
again). Extra early steps (``c = 2`` or 6) lose 0.04-0.3 dB.

Acceleration. Three approximations; with the defaults, the first two together change the
PSNR by less than 0.005 dB against the exact algorithm (the same 13 images, sigma 15 and
25) and make it 4.5x faster (3.9 s instead of 17.8 s of CPU time, 512x512, sigma 25):

* flat tails (``rank_tol``, after Parameswaran et al. 2018): at patch noise level ``s`` the
  eigenvalues of a component that are at most ``rank_tol * s^2`` are replaced by their mean,
  so that only the ``r_k(s)`` leading eigenvectors are needed, for both the posteriors (the
  tail enters through :math:`\|y\|^2` minus the leading projections) and the filter. The
  first step is the most sensitive (``rank_tol=(0.5, 1)``: 0.5 there, 1 afterwards; (1, 2)
  loses 0.015 dB, 4 everywhere 0.065 dB); 0 is the exact model;
* candidate components (``n_candidates``): the first step scores all components and keeps
  the ``M`` best per patch; later steps, on cleaner images, choose among those only, the
  second step keeping the better half of them for the rest. At high noise the first ranking
  is less reliable, so ``"auto"`` uses
  :math:`M = \min(32, \max(16, \lfloor 16 (255 \sigma / 25)^2 \rceil))` (at sigma 25,
  8 candidates lose 0.007 dB and 4 lose 0.02 dB; keeping 4 after the second step 0.01 dB);
* ``stride > 1`` processes a sub-grid of patches (the last row and column always included);
  off by default, as it costs about 0.05 dB.

Implementation: the projections of a chunk of patches onto all retained eigenvectors are one
single-threaded BLAS product per group of components (per worker thread, see
:mod:`invrestore.kernels.blas_threads`); extraction, scoring, filtering and aggregation are the
Numba kernels of :mod:`._gmm_numba`. CuPy input, or ``impl="xp"``, runs the same algorithm in
array operations (:mod:`._epll_xp`).

Colour images: a 3-channel image is converted to ``L = (R + G + B) / 3``,
``C1 = (R - B) / 2``, ``C2 = (R - 2G + B) / 4``, whose noise is white with std
:math:`\sigma/\sqrt3`, :math:`\sigma/\sqrt2` and :math:`\sigma\sqrt6/4`; each is denoised
with the gray prior at its own noise level and the result converted back. Other channel
counts are denoised channel by channel.

References
----------
D. Zoran and Y. Weiss, "From learning models of natural image patches to whole image
restoration", ICCV 2011.
S. Parameswaran, C.-A. Deledalle, L. Denis and T. Q. Nguyen, "Accelerating GMM-based patch
priors for image restoration: three ingredients for a 100x speed-up", IEEE TIP 28(2), 2019
(arXiv 2018).

Examples
--------
>>> import numpy as np
>>> from invrestore.denoisers import EPLLDenoiser
>>> from invrestore.metrics import psnr
>>> x = np.tile(np.linspace(0.2, 0.8, 32), (32, 1))
>>> y = x + np.random.default_rng(0).normal(0, 0.1, x.shape)
>>> bool(psnr(EPLLDenoiser()(y, 0.1), x) > psnr(y, x) + 8)
True
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ..backend import check_scalar, get_xp
from ..kernels.blas_threads import default_threads, parallel_map, single_threaded_blas
from ..kernels.patches import patch_counts, patch_positions
from . import _gmm_numba as nb
from .base import Denoiser
from .gmm import GaussianMixture, load_gmm

__all__ = ["EPLLDenoiser", "flat_tail_tables"]

_DEFAULT = {}
_LOCK = threading.Lock()
_GROUP_ROWS = 512  # eigenvectors per BLAS product: the product then stays in the L2 cache
_CHUNK = 1024  # patches per work item (full steps)
_CHUNK_CAND = 8192  # patches per work item (candidate steps)


def _default_gmm():
    with _LOCK:
        if "gmm" not in _DEFAULT:
            _DEFAULT["gmm"] = load_gmm()
        return _DEFAULT["gmm"]


def flat_tail_tables(gmm, s2, rank_tol, min_weight=0.0):
    """Per-noise-level tables of the flat-tail model (see the module notes).

    Returns a dict of NumPy arrays: ``starts`` (K'+1) block boundaries into ``Ut`` (R, d)
    (float32 leading eigenvectors, rows), ``coef`` / ``gain`` (R) and ``tail`` / ``const`` /
    ``alpha`` (K') as used by :func:`._gmm_numba.select_top` and
    :func:`._gmm_numba.wiener_aggregate`, plus ``index`` (K') the kept components
    (``weight >= min_weight``).
    """
    index = np.flatnonzero(gmm.weights >= min_weight)
    lam = gmm.eigvals[index]
    m = lam.shape[1]
    ranks = (lam > rank_tol * s2).sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(ranks)]).astype(np.int64)
    tail_mean = np.array([lam[i, r:].mean() if r < m else 0.0 for i, r in enumerate(ranks)])
    has_tail = ranks < m
    tail = np.where(has_tail, 1.0 / (tail_mean + s2), 0.0)
    alpha = np.where(has_tail, tail_mean / (tail_mean + s2), 0.0)
    lead = [lam[i, :r] for i, r in enumerate(ranks)]
    logdet = np.array([np.log(v + s2).sum() for v in lead]) + \
        np.where(has_tail, (m - ranks) * np.log(tail_mean + s2), 0.0)
    coef = np.concatenate([1.0 / (v + s2) - tail[i] for i, v in enumerate(lead)])
    gain = np.concatenate([v / (v + s2) - alpha[i] for i, v in enumerate(lead)])
    vecs = gmm.eigvec_rows()
    ut = np.concatenate([vecs[k, :r] for k, r in zip(index, ranks)]) if starts[-1] else \
        np.zeros((0, gmm.dim), np.float32)
    return {"index": index, "starts": starts, "Ut": np.ascontiguousarray(ut),
            "coef": coef.astype(np.float32), "gain": gain.astype(np.float32),
            "tail": tail, "alpha": alpha.astype(np.float32),
            "const": np.log(gmm.weights[index]) - 0.5 * logdet}


def _score_candidates(Y, yn, cand, t):
    """Best of the candidates ``cand`` (n, M) of each patch (rows of ``Y``), by component.

    The (patch, candidate) pairs are grouped by component, so that each component scores its
    patches with one BLAS product; ``cand`` is reordered best first. Returns the labels.
    """
    n, M = cand.shape
    starts = t["starts"]
    n_comp = starts.size - 1
    order = np.empty(n * M, np.int64)
    kstart = np.empty(n_comp + 1, np.int64)
    nb.group_pairs(cand, n_comp, order, kstart)
    scores = np.empty(n * M, np.float64)
    acc = np.empty(n * M, np.float64)
    for k in np.flatnonzero(np.diff(kstart)):
        pairs = order[kstart[k]:kstart[k + 1]]
        s0, s1 = starts[k], starts[k + 1]
        G = t["Ut"][s0:s1] @ Y[pairs // M].T
        nb.score_pairs(G, t["coef"][s0:s1], t["tail"][k], t["const"][k], yn, pairs, M,
                       scores, acc)
    label = np.empty(n, np.int64)
    nb.best_pairs(cand, scores, label)
    return label


def _groups(starts, target):
    """Component blocks ``[k0, k1)`` of about ``target`` rows of ``Ut`` each."""
    out, k0 = [], 0
    for k in range(1, starts.size):
        if starts[k] - starts[k0] >= target or k == starts.size - 1:
            out.append((k0, k))
            k0 = k
    return out


def _patch_pass_numba(x, t, p, stride, n_threads, cand):
    """One EPLL patch step on a 2-D float32 image: the sum of the filtered patches.

    ``cand`` is either an int (score all components and return the best ``cand`` per patch)
    or the ``(N, M)`` candidates of an earlier step (score only those; reordered best first).
    """
    h, w = x.shape
    rows, cols = patch_positions(h, p, stride), patch_positions(w, p, stride)
    nc = cols.size
    full = isinstance(cand, int)
    # candidate steps group the pairs of a chunk by component: larger chunks, larger products
    per = max(1, (_CHUNK if full else _CHUNK_CAND) // nc)
    chunks = [(a, min(a + per, rows.size)) for a in range(0, rows.size, per)]
    starts, d = t["starts"], p * p
    if full:
        groups = _groups(starts, _GROUP_ROWS)
        cand = np.empty((rows.size * nc, cand), np.int64)

    def work(ch):
        r = rows[ch[0]:ch[1]]
        n = r.size * nc
        band = np.zeros((r[-1] - r[0] + p, w), np.float32)
        mine = cand[ch[0] * nc:ch[1] * nc]
        Y = np.empty((n, d), np.float32)
        dc = np.empty(n, np.float32)
        yn = np.empty(n, np.float32)
        nb.extract_rows(x, r, cols, p, Y, dc, yn)
        if full:
            topv = np.full(mine.shape, -np.inf)
            mine[:] = 0
            acc = np.empty(n, np.float64)
            for k0, k1 in groups:
                s0, s1 = starts[k0], starts[k1]
                nb.select_top(t["Ut"][s0:s1] @ Y.T, starts[k0:k1 + 1] - s0, t["coef"][s0:s1],
                              t["tail"][k0:k1], t["const"][k0:k1], yn, k0, topv, mine, acc)
            label = np.ascontiguousarray(mine[:, 0])
        else:
            label = _score_candidates(Y, yn, mine, t)
        nb.wiener_aggregate(Y, dc, label, starts, t["Ut"], t["gain"], t["alpha"], r - r[0],
                            cols, p, np.empty(d, np.float32), band)
        return r[0], band

    out = np.zeros((h, w), np.float32)
    for r0, band in parallel_map(work, chunks, n_threads=n_threads):
        out[r0:r0 + band.shape[0]] += band  # in chunk order: deterministic
    return out, cand


_OPP = np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.0, -0.5], [0.25, -0.5, 0.25]])
_OPP_NOISE = np.sqrt((_OPP**2).sum(axis=1))  # noise std of each opponent channel / sigma


class EPLLDenoiser(Denoiser):
    r"""EPLL: half-quadratic splitting with a Gaussian-mixture patch prior.

    Parameters
    ----------
    gmm : GaussianMixture or path, optional
        The patch prior; default: the shipped 8x8 model trained on Train400
        (``invrestore/denoisers/data/README.md``).
    betas : sequence of float or "auto"
        The splitting schedule :math:`c_t`: iteration ``t`` filters patches at noise variance
        :math:`\sigma^2 / c_t` and sets :math:`x = (y + c_t \bar z) / (1 + c_t)`. "auto" picks
        one by ``sigma`` (module notes, :meth:`schedule`).
    stride : int
        Patch grid step (1: all overlapping patches).
    rank_tol : float or (float, float)
        Flat-tail threshold, relative to the patch noise variance, for the first step and the
        later ones (a single value for all); 0 is the exact model. See the module notes.
    n_candidates : int, "auto" or None
        The first step scores every component and keeps the ``n_candidates`` best per patch;
        the second chooses among those and keeps the better half, among which the later steps
        choose. None scores every component at every step (the original algorithm); "auto"
        grows with ``sigma`` (module notes).
    min_weight : float
        Components with a smaller mixture weight are skipped.
    n_threads : int, optional
        Worker threads (default: all available CPUs).
    impl : {None, "numba", "xp"}
        None: Numba for NumPy input, array operations for CuPy input.

    Notes
    -----
    ``sigma`` is the noise std on the [0, 1] scale (``25 / 255`` for "sigma 25"). The defaults
    were chosen on crops of Set12 images for sigma in [10, 50] / 255; the method runs for any
    ``sigma > 0`` (plug-and-play solvers call it with decreasing ``sigma``) and gets slower for
    very small ``sigma``, where more eigenvectors pass ``rank_tol`` (a 256x256 image takes
    about 0.8 s of CPU time at sigma 25/255 and 2.5 s at 1/255). ``sigma = 0`` returns the
    input unchanged (the :class:`Denoiser` protocol).

    Examples
    --------
    >>> import numpy as np
    >>> d = EPLLDenoiser(betas=(1, 4), stride=2)
    >>> d(np.full((16, 16), 0.5), 0.1).shape
    (16, 16)
    """

    def __init__(self, gmm=None, *, betas="auto", stride=1, rank_tol=(0.5, 1.0),
                 n_candidates="auto", min_weight=0.0, n_threads=None, impl=None):
        if gmm is not None and not isinstance(gmm, GaussianMixture):
            if not isinstance(gmm, str | os.PathLike):
                raise TypeError(f"gmm must be a GaussianMixture or a path, got {type(gmm).__name__}")
            gmm = load_gmm(gmm)
        if gmm is not None and (len(gmm.patch_shape) != 2 or not gmm.dc_removed):
            raise ValueError(f"EPLL needs a mixture of square mean-removed patches, got {gmm!r}")
        self._gmm = gmm
        if not (isinstance(betas, str) and betas == "auto"):
            if isinstance(betas, str):
                raise ValueError(f"betas must be 'auto' or a sequence of numbers, got {betas!r}")
            betas = tuple(check_scalar(b, "betas", positive=True) for b in betas)
            if not betas:
                raise ValueError("betas must hold at least one value")
        self.betas = betas
        self.stride = check_scalar(stride, "stride", positive=True, integer=True)
        tols = rank_tol if isinstance(rank_tol, tuple | list) else (rank_tol, rank_tol)
        if len(tols) != 2:
            raise ValueError(f"rank_tol must be a number or a pair, got {rank_tol!r}")
        self.rank_tol = tuple(check_scalar(v, "rank_tol", nonnegative=True) for v in tols)
        if n_candidates is not None and n_candidates != "auto":
            n_candidates = check_scalar(n_candidates, "n_candidates", positive=True,
                                        integer=True)
        self.n_candidates = n_candidates
        self.min_weight = check_scalar(min_weight, "min_weight", nonnegative=True)
        if gmm is not None and self.min_weight > gmm.weights.max():
            raise ValueError(f"min_weight {min_weight} leaves no component (largest weight "
                             f"{gmm.weights.max():.3g})")
        self.n_threads = default_threads() if n_threads is None else \
            check_scalar(n_threads, "n_threads", positive=True, integer=True)
        if impl not in (None, "numba", "xp"):
            raise ValueError(f"impl must be None, 'numba' or 'xp', got {impl!r}")
        self.impl = impl

    def schedule(self, sigma):
        """The splitting schedule :math:`c_t` used at noise level ``sigma``.

        Examples
        --------
        >>> EPLLDenoiser().schedule(25 / 255)
        (1, 4, 8, 16, 32, 64)
        """
        if self.betas != "auto":
            return self.betas
        if sigma < 22.5 / 255:
            return (1, 4, 8, 12, 16, 24, 32, 48, 64)
        return (1, 4, 8, 16, 32, 64)

    @property
    def gmm(self):
        return self._gmm if self._gmm is not None else _default_gmm()

    def __repr__(self):
        return (f"EPLLDenoiser(betas={self.betas}, stride={self.stride}, "
                f"rank_tol={self.rank_tol})")

    def _denoise(self, x, sigma):
        xp = get_xp(x)
        gmm = self.gmm
        p = gmm.patch_shape[0]
        if min(x.shape[:2]) < p:
            raise ValueError(f"{self!r}: image {x.shape[0]}x{x.shape[1]} is smaller than the "
                             f"{p}x{p} patches of the prior")
        if x.ndim == 2:
            return self._gray(x, sigma).astype(x.dtype, copy=False)
        if x.shape[2] == 3:
            opp = xp.asarray(_OPP, dtype=x.dtype)
            z = x @ opp.T
            out = xp.stack([self._gray(z[..., c], sigma * _OPP_NOISE[c]) for c in range(3)],
                           axis=-1)
            return (out @ xp.linalg.inv(opp).T).astype(x.dtype, copy=False)
        return xp.stack([self._gray(x[..., c], sigma) for c in range(x.shape[2])],
                        axis=-1).astype(x.dtype, copy=False)

    def _gray(self, y, sigma):
        xp = get_xp(y)
        impl = self.impl or ("numba" if xp is np else "xp")
        gmm, p = self.gmm, self.gmm.patch_shape[0]
        y = xp.ascontiguousarray(y, dtype=xp.float32)
        if impl == "numba":
            if xp is not np:
                raise TypeError("impl='numba' needs a NumPy array")
            counts = patch_counts(y.shape, p, stride=self.stride).astype(np.float32)
        else:
            from ._epll_xp import patch_pass_xp
            counts = xp.asarray(patch_counts(y.shape, p, stride=self.stride), dtype=xp.float32)
        x = y
        k = int(np.sum(gmm.weights >= self.min_weight))
        if k == 0:
            raise ValueError(f"{self!r}: min_weight {self.min_weight} leaves no component")
        m = self.n_candidates
        if m == "auto":
            m = int(min(32, max(16, round(16 * (sigma * 255 / 25) ** 2))))
        keep = m is not None and m < k  # candidates from the first step, kept afterwards
        cand = None
        with single_threaded_blas():
            for i, c in enumerate(self.schedule(sigma)):
                t = flat_tail_tables(gmm, sigma**2 / c, self.rank_tol[min(i, 1)],
                                     self.min_weight)
                arg = cand if cand is not None else (m if keep else 1)
                if impl == "numba":
                    zsum, new = _patch_pass_numba(x, t, p, self.stride, self.n_threads, arg)
                else:
                    zsum, new = patch_pass_xp(x, t, p, self.stride, arg)
                cand = new if keep else None
                if keep and i == 1 and m > 1:  # after the first choice among candidates
                    cand = xp.ascontiguousarray(cand[:, :m // 2])
                x = (y + (c / counts) * zsum) / (1.0 + c)
        return x
