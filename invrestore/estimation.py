"""Noise-level estimation from a single image."""

from __future__ import annotations

import functools

import numpy as np
import pywt

from .backend import check_image, check_scalar, to_numpy

__all__ = ["estimate_sigma", "estimate_sigma_pca", "estimate_poisson_gaussian"]

_MAD = 0.6744897501960817  # median(|N(0, 1)|)


def estimate_sigma(y, *, observed=None, average=True, method="pca"):
    """Gaussian noise std of ``y`` from the image alone.

    ``method="pca"`` (default) is :func:`estimate_sigma_pca` (weak-texture patches, median
    relative error 1-3% on Set12 + BSD68 from sigma 5/255 to 50/255); when too few fully
    observed 7x7 patches exist (scattered missing pixels, tiny images) it uses 3x3 patches
    (:data:`PCA_FALLBACK`), and falls back to "mad" when even those are too few.
    ``method="mad"`` is the
    wavelet median absolute deviation described below (faster, biased upward on textured
    images at low noise: 29% median error at 5/255, 1% at 50/255).

    Parameters
    ----------
    y : ndarray, (H, W) or (H, W, C)
        Noisy image (NumPy or CuPy; estimated on the host).
    observed : ndarray of bool, optional
        Observed-pixel mask (same spatial shape). Only Haar coefficients whose 2x2 support is
        fully observed are used, so missing pixels do not read as edges.
    average : bool
        Return the mean over channels (True) or one value per channel.
    method : {"pca", "mad"}
        Estimator.

    Notes
    -----
    MAD: ``sigma = median(|d|) / 0.6745`` over the finest diagonal Haar coefficients ``d``; these
    carry little image content, so the estimate is robust for natural images and biased upward
    on strongly textured ones. It assumes white noise: after a blur has been applied to the
    noise-free image, the noise of ``y = H x + n`` is still white, so this is what a restoration
    needs.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = 0.5 + 0.1 * rng.standard_normal((256, 256))
    >>> round(estimate_sigma(y), 2)
    0.1
    """
    if method not in ("pca", "mad"):
        raise ValueError(f"method must be 'pca' or 'mad', got {method!r}")
    if method == "pca":
        # 7x7 patches; where scattered missing pixels leave too few of them, 3x3 patches at
        # every position (PCA_FALLBACK); then the MAD, whose 2x2 Haar support still fits
        for size, stride, least in ((7, 2, None), PCA_FALLBACK):
            try:
                return estimate_sigma_pca(y, observed=observed, average=average,
                                          patch_size=size, stride=stride, min_patches=least)
            except _TooFewPatches:
                pass
    y = to_numpy(check_image(y, "y"))
    ys = y[..., None] if y.ndim == 2 else y
    obs = None
    if observed is not None:
        obs = np.asarray(to_numpy(observed), dtype=bool)
        if obs.ndim == 3:
            obs = obs.all(axis=-1)
        if obs.shape != ys.shape[:2]:
            raise ValueError(f"observed has shape {obs.shape}, expected {ys.shape[:2]}")
        h, w = (obs.shape[0] // 2) * 2, (obs.shape[1] // 2) * 2
        o = obs[:h, :w]
        obs = o[0::2, 0::2] & o[1::2, 0::2] & o[0::2, 1::2] & o[1::2, 1::2]
    sig = []
    for c in range(ys.shape[-1]):
        plane = ys[: (ys.shape[0] // 2) * 2, : (ys.shape[1] // 2) * 2, c].astype(np.float64)
        _, (_, _, d) = pywt.dwt2(plane, "haar")
        d = d[obs] if obs is not None else d.ravel()
        sig.append(float(np.median(np.abs(d))) / _MAD if d.size else 0.0)
    return float(np.mean(sig)) if average else sig


class _TooFewPatches(ValueError):
    pass


#: ``(patch_size, stride, min_patches)`` of the PCA estimate when too few 7x7 patches are fully
#: observed. Measured on Set12 + 20 BSD68 images with pixels missing at random (seeded): median
#: |relative error| 18% / 3% / 1% at sigma 2.55 / 10 / 25 (/255) with 30% missing, where the
#: MAD errs by 64% / 12% / 3%; with Gaussian blur 1.6, x2 decimation and 20% missing 5% / 4%
#: / 1% at 2.55 / 7.65 / 25 against the MAD's 19% / 4% / 0%. From fewer patches the smallest
#: eigenvalues of their covariance scatter (9 dimensions: -19% median error from ~40 patches),
#: so below 1000 (about 40% missing on 256x256) the MAD takes over.
PCA_FALLBACK = (3, 1, 1000)


@functools.lru_cache(maxsize=8)
def _noise_gradient_quantile(d, q):
    """``q``-quantile of the gradient energy of a ``d x d`` patch of unit white noise.

    The energy ``g = n^T A n`` (sum of squared horizontal and vertical differences inside the
    patch) of ``n ~ N(0, I)`` is matched by a Gamma law with the same mean ``tr A`` and variance
    ``2 tr A^2`` (Liu, Tanaka & Okutomi 2013).
    """
    from scipy import stats

    n = d * d
    idx = np.arange(n).reshape(d, d)
    rows = []
    for a, b in ((idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])):
        for i, j in zip(a.ravel(), b.ravel()):
            r = np.zeros(n)
            r[i], r[j] = 1.0, -1.0
            rows.append(r)
    D = np.array(rows)
    A = D.T @ D
    tr, tr2 = np.trace(A), np.trace(A @ A)
    return float(stats.gamma.ppf(q, tr * tr / (2.0 * tr2), scale=2.0 * tr2 / tr))


def _tail_mean(eigenvalues):
    """Mean of the largest set of smallest eigenvalues whose mean is not above its median.

    Noise-only eigenvalues of a patch covariance cluster symmetrically around ``sigma^2``
    while image structure adds a long upper tail; dropping the largest until mean <= median
    keeps the noise cluster (Chen, Zhu & Heng 2015).
    """
    lam = np.sort(eigenvalues)[::-1]
    for i in range(lam.size):
        t = lam[i:]
        if np.median(t) >= t.mean():
            return float(t.mean())
    return float(lam[-1])


def _box_sum(a, h, w):
    """Sums of ``a`` over every ``h x w`` window (valid positions), by cumulative sums."""
    c = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    np.cumsum(np.cumsum(a, axis=0), axis=1, out=c[1:, 1:])
    return c[h:, w:] - c[:-h, w:] - c[h:, :-w] + c[:-h, :-w]


def _pca_plane(plane, obs, d, stride, q, max_rounds, min_patches=None):
    from numpy.lib.stride_tricks import sliding_window_view

    hh, ww = plane.shape[0] - d + 1, plane.shape[1] - d + 1
    if hh < 1 or ww < 1:
        raise _TooFewPatches(f"image of shape {plane.shape} is smaller than the {d}x{d} "
                             f"patches")
    g = (_box_sum(np.diff(plane, axis=1) ** 2, d, d - 1)[:hh, :ww] +
         _box_sum(np.diff(plane, axis=0) ** 2, d - 1, d)[:hh, :ww])[::stride, ::stride].ravel()
    X = sliding_window_view(plane, (d, d))[::stride, ::stride].reshape(-1, d * d)
    if obs is not None:  # patches entirely inside the observed pixels
        full = _box_sum(obs.astype(np.float64), d, d)[::stride, ::stride].ravel() > d * d - 0.5
        X, g = X[full], g[full]
    if X.shape[0] < (4 * d * d if min_patches is None else max(min_patches, 4 * d * d)):
        raise _TooFewPatches(f"too few observed {d}x{d} patches ({X.shape[0]}) to estimate the "
                         f"noise level")
    qq = _noise_gradient_quantile(d, q)

    def estimate(Y):
        Y = Y - Y.mean(axis=0)
        return np.sqrt(max(_tail_mean(np.linalg.eigvalsh(Y.T @ Y / (Y.shape[0] - 1))), 0.0))

    s = estimate(X)
    for _ in range(max_rounds):
        weak = g < s * s * qq
        if weak.sum() < 4 * d * d:
            break
        s_new = estimate(X[weak])
        if abs(s_new - s) <= 1e-4 * s:
            s = s_new
            break
        s = s_new
    return float(s)


def estimate_sigma_pca(y, *, observed=None, average=True, patch_size=7, stride=2,
                       quantile=0.99, max_rounds=5, min_patches=None):
    """Gaussian noise std from the covariance of weak-texture patches.

    Parameters
    ----------
    y : ndarray, (H, W) or (H, W, C)
        Noisy image (estimated on the host).
    observed : ndarray of bool, optional
        Observed-pixel mask; only patches made of observed pixels are used.
    average : bool
        Mean over channels (True) or one value per channel.
    patch_size, stride : int
        Patches are ``patch_size`` square, taken every ``stride`` pixels.
    quantile : float
        A patch is weak-textured when its gradient energy is below this quantile of the energy
        of pure noise at the current estimate.
    max_rounds : int
        Selection / estimation rounds.
    min_patches : int, optional
        Fewest (fully observed) patches to estimate from; default and floor ``4 patch_size^2``.
        Fewer raise ``ValueError``.

    Notes
    -----
    Start from all patches; then alternately (Liu, Tanaka & Okutomi 2013) keep the patches
    whose gradient energy ``sum of squared horizontal and vertical differences`` is below the
    ``quantile`` of what white noise of the current ``sigma`` would give (a Gamma law matched
    to its exact mean and variance), and re-estimate ``sigma^2`` from the eigenvalues of their
    covariance as the mean of the noise cluster of eigenvalues (Chen, Zhu & Heng 2015: the
    largest set of smallest eigenvalues whose mean does not exceed its median). Measured on
    Set12 + the first 30 BSD68 images with unclipped noise (``benchmarks/noise_estimation.py``):
    median relative error 2.1% at sigma 5/255 and 1.4% at 10/255.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.tile(np.linspace(0, 1, 128), (128, 1)) + 0.05 * rng.standard_normal((128, 128))
    >>> round(estimate_sigma_pca(y), 2)
    0.05
    """
    y = to_numpy(check_image(y, "y"))
    patch_size = check_scalar(patch_size, "patch_size", integer=True, positive=True)
    stride = check_scalar(stride, "stride", integer=True, positive=True)
    if min_patches is not None:
        min_patches = check_scalar(min_patches, "min_patches", integer=True, nonnegative=True)
    ys = y[..., None] if y.ndim == 2 else y
    obs = None
    if observed is not None:
        obs = np.asarray(to_numpy(observed), dtype=bool)
        if obs.ndim == 3:
            obs = obs.all(axis=-1)
        if obs.shape != ys.shape[:2]:
            raise ValueError(f"observed has shape {obs.shape}, expected {ys.shape[:2]}")
    sig = [_pca_plane(ys[..., c].astype(np.float64), obs, patch_size, stride, quantile,
                      max_rounds, min_patches) for c in range(ys.shape[-1])]
    return float(np.mean(sig)) if average else sig


def estimate_poisson_gaussian(y, *, block=16, n_bins=16, keep=0.5):
    """Parameters ``(a, b)`` of signal-dependent noise ``var(y | x) = a x + b``.

    Parameters
    ----------
    y : ndarray, (H, W) or (H, W, C)
        Noisy image on the [0, 1] scale (per channel for colour).
    block : int
        Side of the square blocks whose mean and noise variance are paired.
    n_bins : int
        Intensity bins over which the weakest-textured blocks are pooled.
    keep : float
        Fraction of the blocks of each bin kept (the least textured).

    Returns
    -------
    (a, b) or list of (a, b)
        ``a`` the Poisson gain (``1 / peak`` for ``y = Poisson(peak x) / peak``), ``b`` the
        Gaussian variance; both clipped at 0. A list with one pair per channel for colour input.

    Notes
    -----
    In each ``block x block`` block: the mean ``m`` of ``y`` and the finest diagonal Haar
    coefficients ``d = (y00 - y01 - y10 + y11) / 2``, whose variance is the local noise
    variance and which ignore constant and linear trends (Foi et al. 2008 use a similar
    wavelet-domain pairing). Blocks are sorted into ``n_bins`` intensity bins; in each bin the
    ``keep`` fraction with the least gradient energy of 4x4 means is pooled and its variance
    taken as ``mean(d^2)`` (not a median: at low counts Poisson noise is far from Gaussian);
    a weighted least-squares line through the ``(m, var)`` points gives ``(a, b)``. The
    intercept ``b`` is an extrapolation: on a 512x512 image expect about 10% error on
    ``sqrt(b)`` when ``b`` is small next to ``a x``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.tile(np.linspace(0.05, 0.95, 512), (512, 1))
    >>> y = rng.poisson(x * 100) / 100 + 0.02 * rng.standard_normal(x.shape)
    >>> a, b = estimate_poisson_gaussian(y)
    >>> round(a, 3), round(b ** 0.5, 2)      # true 1/100 and 0.02
    (0.01, 0.02)
    """
    y = to_numpy(check_image(y, "y"))
    ys = y[..., None] if y.ndim == 2 else y
    out = [_poisson_gaussian_plane(ys[..., c].astype(np.float64), block, n_bins, keep)
           for c in range(ys.shape[-1])]
    return out[0] if y.ndim == 2 else out


def _poisson_gaussian_plane(p, block, n_bins, keep):
    b2 = block // 2 * 2
    nby, nbx = p.shape[0] // b2, p.shape[1] // b2
    if nby * nbx < 4 * n_bins:
        raise ValueError(f"image of shape {p.shape} is too small for {b2}x{b2} blocks in "
                         f"{n_bins} intensity bins")
    q = p[: nby * b2, : nbx * b2].reshape(nby, b2, nbx, b2).transpose(0, 2, 1, 3)
    m = q.mean(axis=(2, 3)).ravel()
    d = (q[..., 0::2, 0::2] - q[..., 0::2, 1::2] - q[..., 1::2, 0::2] + q[..., 1::2, 1::2]) / 2
    d = d.reshape(nby * nbx, -1)
    # texture from 4x4 means: noise barely reaches it, so calm blocks are not low-noise blocks
    k = max(b2 // 4, 2)
    s = q[..., : b2 // k * k, : b2 // k * k].reshape(nby, nbx, b2 // k, k, b2 // k, k).mean(
        axis=(3, 5))
    texture = (np.diff(s, axis=2) ** 2).mean(axis=(2, 3)) + (np.diff(s, axis=3) ** 2).mean(
        axis=(2, 3))
    texture = texture.ravel()
    order = np.argsort(m)
    means, variances, weights = [], [], []
    for idx in np.array_split(order, n_bins):
        if idx.size < 2:
            continue
        calm = idx[np.argsort(texture[idx])[: max(1, int(round(keep * idx.size)))]]
        pooled = d[calm].ravel()
        means.append(m[calm].mean())
        variances.append(float(np.mean(pooled * pooled)))
        weights.append(pooled.size)
    means, variances, w = map(np.asarray, (means, variances, weights))
    A = np.stack([means, np.ones_like(means)], axis=1) * np.sqrt(w)[:, None]
    a, b = np.linalg.lstsq(A, variances * np.sqrt(w), rcond=None)[0]
    return float(max(a, 0.0)), float(max(b, 0.0))
