r"""Patch extraction (im2col) and aggregation (col2im) on a strided grid.

A ``p x p`` patch grid with stride ``s`` on an ``(H, W)`` image has its top-left corners at the
rows :func:`patch_positions` ``(H, p, s)`` = ``0, s, 2s, ...`` plus ``H - p`` when the stride
does not land there, and likewise for the columns, so every pixel is covered at any stride.
Patches are numbered in raster order of their corners and flattened row-major: patch ``n`` at
corner ``(r, c)`` holds ``x[r:r + p, c:c + p].ravel()``.

:func:`aggregate_patches` is the adjoint of :func:`extract_patches`: it adds every patch back at
its place, :math:`\sum_n P_n^\top z_n`; ``average=True`` divides by the number of patches that
cover each pixel, :func:`patch_counts` (:math:`\sum_n P_n^\top P_n`, a diagonal).

Dispatch: NumPy input runs the Numba kernels (parallel over patch rows for extraction and over
image rows for aggregation, so that no two threads write the same pixel); CuPy input runs the
array version (one strided slice per offset inside the patch, ``p^2`` vectorised operations),
which on NumPy input (``impl="xp"``) is checked against the slow loop references
``_extract_reference`` / ``_aggregate_reference`` in the tests.

Examples
--------
>>> import numpy as np
>>> from invrestore.kernels.patches import extract_patches, aggregate_patches
>>> x = np.arange(16.0).reshape(4, 4)
>>> z = extract_patches(x, 2, stride=2)
>>> z.shape, z[1].tolist()
((4, 4), [2.0, 3.0, 6.0, 7.0])
>>> bool(np.array_equal(aggregate_patches(z, x.shape, 2, stride=2, average=True), x))
True
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..backend import check_scalar, get_xp

__all__ = ["aggregate_patches", "extract_patches", "patch_counts", "patch_positions"]

_IMPLS = (None, "numba", "xp")


def patch_positions(n, size, stride=1):
    """Corner coordinates along one axis of length ``n`` (int64; the last is ``n - size``)."""
    n, size = int(n), int(size)
    pos = np.arange(0, n - size + 1, stride, dtype=np.int64)
    if pos[-1] != n - size:
        pos = np.append(pos, np.int64(n - size))
    return pos


def _check(shape, size, stride, name="image"):
    size = check_scalar(size, "patch size", positive=True, integer=True)
    stride = check_scalar(stride, "stride", positive=True, integer=True)
    if len(shape) != 2:
        raise ValueError(f"{name} must be 2-D (H, W) for patch extraction, got shape {tuple(shape)}")
    if size > min(shape):
        raise ValueError(f"patch size {size} is larger than the {name} ({shape[0]}x{shape[1]})")
    if stride > size:
        raise ValueError(f"stride {stride} larger than the patch size {size} leaves pixels "
                         "uncovered")
    return size, stride


@njit(parallel=True, cache=True, nogil=True)
def _im2col_numba(x, rows, cols, p, out):  # pragma: no cover - compiled
    nc = cols.size
    for a in prange(rows.size):
        r = rows[a]
        for b in range(nc):
            c = cols[b]
            n = a * nc + b
            for i in range(p):
                for j in range(p):
                    out[n, i * p + j] = x[r + i, c + j]


@njit(parallel=True, cache=True, nogil=True)
def _col2im_numba(z, rows, cols, p, out):  # pragma: no cover - compiled
    # Gather form: each image row is written by one thread only.
    nc = cols.size
    for y in prange(out.shape[0]):
        for a in range(rows.size):
            i = y - rows[a]
            if i < 0 or i >= p:
                continue
            for b in range(nc):
                c = cols[b]
                n = a * nc + b
                for j in range(p):
                    out[y, c + j] += z[n, i * p + j]


def _extract_xp(x, rows, cols, p):
    xp = get_xp(x)
    rows_d, cols_d = xp.asarray(rows), xp.asarray(cols)
    out = xp.empty((rows.size, cols.size, p * p), dtype=x.dtype)
    for i in range(p):
        sub = x[rows_d + i]
        for j in range(p):
            out[:, :, i * p + j] = sub[:, cols_d + j]
    return out.reshape(rows.size * cols.size, p * p)


def _aggregate_xp(z, shape, rows, cols, p):
    xp = get_xp(z)
    out = xp.zeros(shape, dtype=z.dtype)
    zz = z.reshape(rows.size, cols.size, p * p)
    # For one offset (i, j) the target pixels (rows + i, cols + j) are distinct, so a plain
    # fancy-indexed += has no repeated indices and needs no scatter-add.
    for i in range(p):
        r = xp.asarray(rows + i)[:, None]
        for j in range(p):
            out[r, xp.asarray(cols + j)[None, :]] += zz[:, :, i * p + j]
    return out


def _extract_reference(x, rows, cols, p):
    """Slow loop reference (test oracle)."""
    return np.array([np.asarray(x)[r:r + p, c:c + p].ravel() for r in rows for c in cols])


def _aggregate_reference(z, shape, rows, cols, p):
    """Slow loop reference (test oracle)."""
    out = np.zeros(shape)
    n = 0
    for r in rows:
        for c in cols:
            out[r:r + p, c:c + p] += np.asarray(z[n]).reshape(p, p)
            n += 1
    return out


def extract_patches(x, size, *, stride=1, impl=None):
    """All ``size x size`` patches of a 2-D image on the grid of :func:`patch_positions`.

    Parameters
    ----------
    x : ndarray, shape (H, W)
        Image (NumPy or CuPy), float32 or float64.
    size : int
        Patch side ``p`` (at most ``min(H, W)``).
    stride : int
        Grid step (``1 <= stride <= size``); the last row and column of corners are always
        included.
    impl : {None, "numba", "xp"}
        None picks Numba for NumPy and the array version for CuPy input.

    Returns
    -------
    ndarray, shape (N, p * p)
        Row ``n`` is the patch at the ``n``-th corner in raster order, flattened row-major.
    """
    size, stride = _check(x.shape, size, stride)
    if impl not in _IMPLS:
        raise ValueError(f"impl must be one of {_IMPLS}, got {impl!r}")
    rows = patch_positions(x.shape[0], size, stride)
    cols = patch_positions(x.shape[1], size, stride)
    xp = get_xp(x)
    if impl == "xp" or (impl is None and xp is not np):
        return _extract_xp(x, rows, cols, size)
    if xp is not np:
        raise TypeError("impl='numba' needs a NumPy array")
    out = np.empty((rows.size * cols.size, size * size), dtype=x.dtype)
    _im2col_numba(np.ascontiguousarray(x), rows, cols, size, out)
    return out


def aggregate_patches(patches, shape, size, *, stride=1, average=False, impl=None):
    """Put patches back into an image of ``shape``: the adjoint of :func:`extract_patches`.

    Parameters
    ----------
    patches : ndarray, shape (N, size * size)
        Patches in the order of :func:`extract_patches` with the same ``shape``, ``size`` and
        ``stride``.
    shape : tuple of int
        ``(H, W)`` of the image.
    size, stride, impl
        As in :func:`extract_patches`.
    average : bool
        Divide the sum at each pixel by the number of patches covering it.

    Returns
    -------
    ndarray, shape (H, W)
        Sum (or average) of the overlapping patches, in the dtype of ``patches``.
    """
    shape = tuple(int(s) for s in shape)
    size, stride = _check(shape, size, stride, name="image shape")
    if impl not in _IMPLS:
        raise ValueError(f"impl must be one of {_IMPLS}, got {impl!r}")
    rows = patch_positions(shape[0], size, stride)
    cols = patch_positions(shape[1], size, stride)
    if tuple(patches.shape) != (rows.size * cols.size, size * size):
        raise ValueError(f"patches must have shape {(rows.size * cols.size, size * size)} for "
                         f"image {shape}, size {size}, stride {stride}; got {tuple(patches.shape)}")
    xp = get_xp(patches)
    if impl == "xp" or (impl is None and xp is not np):
        out = _aggregate_xp(patches, shape, rows, cols, size)
    else:
        if xp is not np:
            raise TypeError("impl='numba' needs a NumPy array")
        out = np.zeros(shape, dtype=patches.dtype)
        _col2im_numba(np.ascontiguousarray(patches), rows, cols, size, out)
    if average:
        out /= xp.asarray(patch_counts(shape, size, stride=stride), dtype=out.dtype)
    return out


def patch_counts(shape, size, *, stride=1):
    """Number of grid patches covering each pixel (NumPy float64 array of ``shape``)."""
    shape = tuple(int(s) for s in shape)
    size, stride = _check(shape, size, stride, name="image shape")
    cnt = []
    for n in shape:
        c = np.zeros(n)
        for r in patch_positions(n, size, stride):
            c[r:r + size] += 1.0
        cnt.append(c)
    return cnt[0][:, None] * cnt[1][None, :]
