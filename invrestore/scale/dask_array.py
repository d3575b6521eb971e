"""Restoration of Dask arrays, chunk by chunk with overlap (``dask.array.map_overlap``).

An image larger than memory (a Zarr array, a TIFF read lazily, ``da.from_array`` of a memory
map) is restored one chunk at a time: each chunk is extended by ``overlap`` pixels from its
neighbours (nothing is added at the image border, where the method's own boundary rule
applies) and only the chunk itself is kept, exactly as :func:`~invrestore.scale.denoise_tiled`
and :func:`~invrestore.scale.restore_tiled` do with ``tile`` equal to the chunk size, and with
the same results. The graph runs on whatever scheduler is active: threads by default, a
``distributed`` cluster when a ``Client`` exists.

Needs the optional ``dask`` extra: ``pip install "invrestore[dask]"``.

Examples
--------
>>> import numpy as np
>>> import dask.array as da
>>> from invrestore.scale import denoise_dask, denoise_tiled
>>> y = np.random.default_rng(0).random((96, 80))
>>> lazy = denoise_dask(da.from_array(y, chunks=32), 0.1, method="tv")
>>> bool(np.allclose(lazy.compute(), denoise_tiled(y, 0.1, method="tv", tile=32)))
True
"""

from __future__ import annotations

import numpy as np

from ..backend import check_scalar
from ..operators import LinearOperator, Mask

__all__ = ["denoise_dask", "require_dask", "restore_dask"]

_HINT = 'pip install "invrestore[dask]"'


def require_dask(distributed=False):
    """Import ``dask.array`` (and ``distributed``), or raise an ImportError naming the extra."""
    try:
        import dask.array as da
    except ImportError as exc:
        raise ImportError(f"this needs Dask: {_HINT}") from exc
    if distributed:
        try:
            import distributed
        except ImportError as exc:
            raise ImportError(f"this needs dask.distributed: {_HINT}") from exc
    return da


def _prepare(darr, overlap, tile, align=1):
    """Chunks of at least ``overlap`` (map_overlap's requirement), aligned; channels whole."""
    da = require_dask()
    if not isinstance(darr, da.Array):
        darr = da.from_array(darr, chunks=tile or 512)
    if darr.ndim not in (2, 3):
        raise ValueError(f"the image must be (H, W) or (H, W, C), got shape {darr.shape}")
    spatial = []
    for axis in (0, 1):
        sizes = darr.chunks[axis]
        ok = all(s % align == 0 for s in sizes[:-1]) and \
            all(s >= min(overlap, darr.shape[axis]) for s in sizes)
        if tile is not None or not ok:
            size = tile or max(sizes[0], overlap)
            size = max(-(-size // align) * align, -(-overlap // align) * align, align)
            spatial.append(size)
        else:
            spatial.append(sizes)
    chunks = tuple(spatial) + ((darr.shape[2],) if darr.ndim == 3 else ())
    darr = darr.rechunk(chunks)
    # the last chunk may be smaller than the overlap: fold it into its neighbour
    fixed = []
    for axis in (0, 1):
        sizes = list(darr.chunks[axis])
        if len(sizes) > 1 and sizes[-1] < overlap:
            last = sizes.pop()
            sizes[-1] += last
        fixed.append(tuple(sizes))
    if any(tuple(f) != darr.chunks[a] for a, f in enumerate(fixed)):
        darr = darr.rechunk(tuple(fixed) + darr.chunks[2:])
    return darr


def _depth(darr, overlap):
    return {0: overlap, 1: overlap, 2: 0} if darr.ndim == 3 else {0: overlap, 1: overlap}


def _core_box(block_info, chunks, overlap):
    """The chunk inside its extended block, and the block's window in image coordinates.

    (``block_info`` of ``map_overlap`` describes the overlapped array, so the chunk's place
    comes from its index and the original chunks.)"""
    i, j = block_info[None]["chunk-location"][:2]
    rows, cols = chunks[0], chunks[1]
    r0, c0 = sum(rows[:i]), sum(cols[:j])
    r1, c1 = r0 + rows[i], c0 + cols[j]
    H, W = sum(rows), sum(cols)
    a0, b0 = max(0, r0 - overlap), max(0, c0 - overlap)
    window = ((a0, min(H, r1 + overlap)), (b0, min(W, c1 + overlap)))
    return ((r0 - a0, r1 - a0), (c0 - b0, c1 - b0)), window


def _denoise_block(block, *, run, sigma, overlap, grid, block_info=None):
    (i0, i1), (j0, j1) = _core_box(block_info, grid, overlap)[0]
    return np.ascontiguousarray(run(block, sigma)[i0:i1, j0:j1])


def _sigma(darr, sigma):
    if sigma is not None:
        return check_scalar(sigma, "sigma", nonnegative=True)
    from .tiling import sample_sigma

    return sample_sigma(darr)


def denoise_dask(darr, sigma=None, *, method="tv", overlap=None, tile=None, **options):
    """:func:`invrestore.denoise` on a Dask array, lazily, chunk by chunk.

    Parameters
    ----------
    darr : dask.array.Array or array_like
        ``(H, W)`` or ``(H, W, C)`` image (anything else is wrapped by ``da.from_array``).
    sigma : float, optional
        Noise std on the [0, 1] scale; when omitted, estimated on four crops
        (:func:`~invrestore.scale.tiling.sample_sigma`), which is not the whole-image estimate.
    method : str, Prior or denoiser
        As for :func:`invrestore.denoise`; ``**options`` go to the prior's constructor.
    overlap : int, optional
        Default :func:`~invrestore.scale.default_overlap`.
    tile : int, optional
        Rechunk to ``tile x tile`` first (chunks must be at least ``overlap``; wavelet
        priors need them aligned to ``2^levels``, which is done for you).

    Returns
    -------
    dask.array.Array
        Lazy result, float32 or float64 as :func:`invrestore.denoise` returns. TV needs one
        computation up front (the first of its two passes, see
        :mod:`invrestore.scale._tv_exact`); the returned array is the second.
    """
    da = require_dask()
    from ..functionals import WaveletL1
    from .locality import default_overlap
    from .tiling import _float_dtype, _prior_of, _tv_plain

    prior = _prior_of(method, options)
    dtype = _float_dtype(getattr(darr, "dtype", np.float32))
    sigma = _sigma(darr, sigma)
    overlap = default_overlap(prior, sigma=sigma) if overlap is None else overlap
    overlap = check_scalar(overlap, "overlap", integer=True, nonnegative=True)
    if isinstance(prior, WaveletL1):
        return _denoise_wavelet(da, darr, sigma, prior, overlap, tile, dtype)
    darr = _prepare(darr, overlap, tile)
    if sigma == 0.0:
        return darr.astype(dtype)
    depth = _depth(darr, overlap)
    if _tv_plain(prior) and darr.npartitions > 1:
        run = _tv_fixed(darr, prior, sigma, overlap, dtype)
    else:
        def run(x, s):
            return _private(prior).denoise(_float(x, dtype), s)
    return da.map_overlap(_denoise_block, darr, depth=depth, boundary="none", trim=False,
                          dtype=dtype, chunks=darr.chunks, run=run, sigma=sigma,
                          overlap=overlap, grid=darr.chunks)


def _private(prior):
    """A copy of ``prior`` for one task: priors keep scratch buffers and warm starts, and
    Dask's threaded scheduler runs tasks side by side."""
    import copy

    return copy.deepcopy(prior)


def _float(x, dtype):
    from ..backend import as_float_image

    return as_float_image(x, name="image").astype(dtype, copy=False)


class _TVFixed:
    """TV prox with a fixed iteration count (picklable, for the second pass)."""

    def __init__(self, prior, w, n_iter, dtype):
        self.iso, self.w, self.n_iter, self.dtype = prior.isotropic, w, n_iter, dtype

    def __call__(self, x, sigma):
        from ..kernels import tv_prox

        return tv_prox(_float(x, self.dtype), self.w, isotropic=self.iso, max_iter=self.n_iter,
                       tol=0.0)


def _tv_records_block(block, core, w, iso, max_iter, stop_tol, min_iter, dtype):
    from ._tv_exact import core_records

    return core_records(_float(block, dtype), w, isotropic=iso, max_iter=max_iter, core=core,
                        stop_tol=stop_tol, min_iter=min_iter)


def _tv_fixed(darr, prior, sigma, overlap, dtype):
    """Pass 1 (computed now): the whole image's TV iteration count; returns pass 2's prox."""
    import dask
    import dask.array as da

    from ._tv_exact import stop_iteration

    w = prior.denoise_step(sigma)
    ext = da.overlap.overlap(darr, depth=_depth(darr, overlap), boundary="none")
    blocks = ext.to_delayed().reshape(-1)
    rows, cols = darr.chunks[0], darr.chunks[1]
    cores = []
    for i in range(len(rows)):
        for j in range(len(cols)):
            top, left = (overlap if i else 0), (overlap if j else 0)
            cores.append(((top, top + rows[i]), (left, left + cols[j])))

    def run(indices, min_iter):
        tasks = [dask.delayed(_tv_records_block)(blocks[i], cores[i], w, prior.isotropic,
                                                 prior.max_iter, 0.5 * prior.tol, min_iter,
                                                 dtype) for i in indices]
        return list(dask.compute(*tasks))

    records = run(range(len(cores)), 0)
    n_iter = stop_iteration(records, prior.tol, prior.max_iter, run)
    return _TVFixed(prior, w, n_iter, dtype)


def _denoise_wavelet(da, darr, sigma, prior, overlap, tile, dtype):
    from .tiling import _wavelet_geometry

    if not isinstance(darr, da.Array):
        darr = da.from_array(darr, chunks=tile or 512)
    fixed, m, _, _ = _wavelet_geometry(prior, darr.shape)
    H, W = darr.shape[:2]
    pad = ((0, -H % m), (0, -W % m)) + ((0, 0),) * (darr.ndim - 2)
    ext = da.pad(darr, pad, mode="symmetric") if pad[0][1] or pad[1][1] else darr
    overlap = -(-overlap // m) * m
    ext = _prepare(ext, overlap, tile or max(darr.chunks[0][0], overlap), align=m)
    if sigma == 0.0:
        return darr.astype(dtype)

    def run(x, s):
        return _private(fixed).denoise(_float(x, dtype), s)

    out = da.map_overlap(run, ext, depth=_depth(ext, overlap), boundary="periodic",
                         dtype=dtype, s=sigma)
    return out[:H, :W]


def _strip_masks(op, masks):
    """``op`` with every Mask replaced by a data-free slot; the masks are appended to
    ``masks`` (they travel as Dask arrays beside the observation, not inside every task)."""
    from ..operators.base import _Composed, _Scaled

    if isinstance(op, Mask):
        masks.append(op.mask)
        return _MaskSlot(len(masks) - 1, op.in_shape)
    if isinstance(op, _Composed):
        return _strip_masks(op.outer, masks) @ _strip_masks(op.inner, masks)
    if isinstance(op, _Scaled):
        return op.c * _strip_masks(op.op, masks)
    return op


class _MaskSlot(LinearOperator):
    """Stands for the ``index``-th mask of a stripped operator (never applied)."""

    is_mask_slot = True

    def __init__(self, index, shape):
        super().__init__(shape, shape)
        self.index = index


def _restore_block(y, *mask_blocks, op, prior, sigma, overlap, kwargs, out_dtype, grid,
                   block_info=None):
    from .locality import localize
    from .tiling import restore_window

    core, window = _core_box(block_info, grid, overlap)
    (wa, _), (wb, _) = window

    def get_mask(slot, box):
        (r0, r1), (c0, c1) = box
        return np.asarray(mask_blocks[slot.index])[r0 - wa:r1 - wa, c0 - wb:c1 - wb]

    local, ybox = localize(op, window, get_mask)
    (r0, r1), (c0, c1) = ybox
    x = restore_window(_float(y[r0 - wa:r1 - wa, c0 - wb:c1 - wb], out_dtype), local,
                       _private(prior), sigma, kwargs)
    (i0, i1), (j0, j1) = core
    return np.ascontiguousarray(x[i0:i1, j0:j1])


def restore_dask(darr, operator, prior="tv", *, sigma=None, overlap=None, tile=None,
                 **restore_kwargs):
    """:func:`invrestore.restore` on a Dask array, chunk by chunk (lazy).

    Parameters
    ----------
    darr : dask.array.Array or array_like
        Observation ``y``.
    operator : LinearOperator
        A tileable ``H`` (see :mod:`invrestore.scale.locality`) with ``out_shape == in_shape``
        (no ``"valid"`` blur, no decimation: use :func:`~invrestore.scale.restore_tiled` for
        those). Its masks are sent to the workers as Dask arrays chunked like ``y``.
    prior, sigma, overlap, tile, **restore_kwargs
        As for :func:`~invrestore.scale.restore_tiled`; ``sigma`` is estimated on crops
        (:func:`~invrestore.scale.tiling.sample_sigma`) when omitted.

    Returns
    -------
    dask.array.Array
        Lazy result; equal to :func:`~invrestore.scale.restore_tiled` with ``tile`` = the chunk
        size.
    """
    da = require_dask()
    from ..api import get_prior
    from .locality import check_tileable, default_overlap
    from .tiling import _REFUSED, _float_dtype

    if not isinstance(operator, LinearOperator):
        raise TypeError(f"operator must be an invrestore LinearOperator, got "
                        f"{type(operator).__name__}")
    check_tileable(operator)
    if operator.in_shape != operator.out_shape:
        raise ValueError(f"restore_dask needs an operator that keeps the image shape, got "
                         f"{operator!r} ({operator.in_shape} -> {operator.out_shape}); use "
                         "restore_tiled for valid blurs and decimation")
    if tuple(darr.shape) != operator.out_shape:
        raise ValueError(f"y has shape {tuple(darr.shape)} but {operator!r} produces "
                         f"{operator.out_shape}")
    from .tiling import shared_lam

    restore_kwargs = shared_lam(restore_kwargs)
    bad = [k for k in (*_REFUSED, "x0") if k in restore_kwargs]
    if bad:
        raise TypeError(f"restore_dask does not take {', '.join(bad)}")
    R = get_prior(prior)
    dtype = _float_dtype(getattr(darr, "dtype", np.float32))
    sigma = _sigma(darr, sigma)
    if overlap is None:
        from ..api import _pnp_iters
        from ..functionals import DenoiserPrior

        n_iter = (restore_kwargs.get("max_iter") or _pnp_iters(operator)) \
            if isinstance(R, DenoiserPrior) else None
        overlap = default_overlap(R, sigma=sigma, operator=operator, n_iter=n_iter)
    overlap = check_scalar(overlap, "overlap", integer=True, nonnegative=True)
    darr = _prepare(darr, overlap, tile)
    masks = []
    op = _strip_masks(operator, masks)
    mask_arrays = [da.from_array(m, chunks=darr.chunks[:m.ndim]) if not isinstance(m, da.Array)
                   else m.rechunk(darr.chunks[:m.ndim]) for m in masks]
    depth = _depth(darr, overlap)
    depths = [depth] + [{a: depth[a] for a in range(m.ndim)} for m in mask_arrays]
    return da.map_overlap(_restore_block, darr, *mask_arrays, depth=depths, boundary="none",
                          trim=False, dtype=dtype, chunks=darr.chunks, align_arrays=False,
                          op=op, prior=R, sigma=sigma, overlap=overlap, kwargs=restore_kwargs,
                          out_dtype=dtype, grid=darr.chunks)
