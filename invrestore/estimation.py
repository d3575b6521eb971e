"""Noise-level estimation from a single image."""

from __future__ import annotations

import numpy as np
import pywt

from .backend import check_image, to_numpy

__all__ = ["estimate_sigma"]

_MAD = 0.6744897501960817  # median(|N(0, 1)|)


def estimate_sigma(y, *, observed=None, average=True):
    """Gaussian noise std of ``y`` by the wavelet median absolute deviation (Donoho 1995).

    Parameters
    ----------
    y : ndarray, (H, W) or (H, W, C)
        Noisy image (NumPy or CuPy; estimated on the host).
    observed : ndarray of bool, optional
        Observed-pixel mask (same spatial shape). Only Haar coefficients whose 2x2 support is
        fully observed are used, so missing pixels do not read as edges.
    average : bool
        Return the mean over channels (True) or one value per channel.

    Notes
    -----
    ``sigma = median(|d|) / 0.6745`` over the finest diagonal Haar coefficients ``d``; these
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
