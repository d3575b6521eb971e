"""EPLL patch step in array operations (CuPy, and the NumPy reference of the Numba kernels).

Same flat-tail tables as the Numba path (:func:`.epll.flat_tail_tables`), with every
component's block of eigenvectors zero-padded to the longest one, so that scores are a reshape
and a sum; the selected component's eigenvectors are gathered per patch for the filter.
"""

from __future__ import annotations

import numpy as np

from ..backend import get_xp
from ..kernels.patches import aggregate_patches, extract_patches

__all__ = ["patch_pass_xp"]

#: Patches per chunk on NumPy (cache-sized blocks).
_CHUNK = 1024
#: Bytes of the largest temporaries of one chunk on CuPy: big chunks keep the GPU busy (each
#: chunk is some fifteen kernel launches). ``denoise(method="gmm")`` at 512x512 on an H200
#: (``benchmarks/gpu_check.py``): 630 ms with these chunks, 1590 ms with 1024-patch chunks.
GPU_CHUNK_BYTES = 1 << 29


def _chunk(xp, k, rmax, d):
    if xp is np:
        return _CHUNK
    per_patch = 4 * (3 * k * rmax + 2 * rmax * d + 2 * k)
    return int(min(1 << 16, max(_CHUNK, GPU_CHUNK_BYTES // per_patch)))


def _padded(t, d):
    starts = t["starts"]
    k = starts.size - 1
    ranks = np.diff(starts)
    rmax = max(int(ranks.max(initial=0)), 1)
    u = np.zeros((k, rmax, d), np.float32)
    coef = np.zeros((k, rmax), np.float32)
    gain = np.zeros((k, rmax), np.float32)
    for i in range(k):
        s0, s1 = starts[i], starts[i + 1]
        u[i, :s1 - s0] = t["Ut"][s0:s1]
        coef[i, :s1 - s0] = t["coef"][s0:s1]
        gain[i, :s1 - s0] = t["gain"][s0:s1]
    return u, coef, gain


def patch_pass_xp(x, t, p, stride, cand):
    """Sum over patches of the filtered patches put back in place (2-D image ``x``).

    ``cand`` as in :func:`.epll._patch_pass_numba`: an int ``M`` (score all components, return
    the ``M`` best per patch) or earlier candidates (score only those). Returns
    ``(sum image, candidates)``.
    """
    xp = get_xp(x)
    d = p * p
    u, coef, gain = (xp.asarray(a) for a in _padded(t, d))
    k, rmax = coef.shape
    tail = xp.asarray(t["tail"], dtype=xp.float32)
    const = xp.asarray(t["const"], dtype=xp.float32)
    alpha = xp.asarray(t["alpha"], dtype=xp.float32)
    flat = u.reshape(k * rmax, d).T
    patches = extract_patches(x, p, stride=stride, impl="xp")
    dc = patches.mean(axis=1, keepdims=True)
    y = patches - dc
    out = xp.empty_like(y)
    full = isinstance(cand, int)
    cand = xp.empty((y.shape[0], cand), dtype=xp.int64) if full else cand
    step = _chunk(xp, k, rmax, d)
    for c0 in range(0, y.shape[0], step):
        yc = y[c0:c0 + step]
        n = yc.shape[0]
        g = (yc @ flat).reshape(n, k, rmax)
        score = const - 0.5 * (tail * (yc * yc).sum(axis=1)[:, None] + (g * g * coef).sum(-1))
        if full:
            top = xp.argsort(-score, axis=1, kind="stable")[:, :cand.shape[1]]
        else:
            top = cand[c0:c0 + n]
            top = xp.take_along_axis(
                top, xp.argsort(-xp.take_along_axis(score, top, axis=1), axis=1,
                                kind="stable"), axis=1)
        cand[c0:c0 + n] = top
        lab = top[:, 0]
        gs = g[xp.arange(n), lab] * gain[lab]
        out[c0:c0 + n] = alpha[lab][:, None] * yc + xp.einsum("nr,nrd->nd", gs, u[lab])
    return aggregate_patches(out + dc, x.shape, p, stride=stride, impl="xp"), cand
