"""Tiled restoration: large images in bounded memory, with the whole image's result.

The image is cut into cores of ``tile x tile`` pixels (the last ones smaller). Each core is
processed inside a window that extends it by ``overlap`` pixels on every side that is not an
image border, and only the core of the result is kept, so every output pixel comes from
exactly one tile, far from that tile's cut edges: there is no blending and no seam. The window
sides on the image border keep the image's own boundary rule (the denoiser's, or the operator's
through :func:`~invrestore.scale.locality.localize`).

When is it exact?

* Local denoisers (NLM, convolutional networks, any denoiser with a ``receptive_field``):
  exactly the whole-image result (up to float rounding) with the default overlap, their
  receptive radius (:func:`~invrestore.scale.locality.receptive_radius`).
* TV denoising: the prox is iterative and stops on a whole-image criterion, so tiles run two
  passes (:mod:`invrestore.scale._tv_exact`): the first finds the iteration where the whole
  image stops, the second runs every tile for exactly that many. With the default overlap
  (:data:`~invrestore.scale.locality.TV_OVERLAP` = 64) the result is the whole image's to about
  1e-7 (``benchmarks/scale.py``).
* Wavelet shrinkage: its periodised transform wraps around the image, so tiles are read from
  the periodic extension of the image and aligned to the ``2^levels`` grid: exact.
* Restoration (:func:`restore_tiled`): every tile solves its own problem with the same
  ``sigma``, ``lam`` and solver. Away from the cut edges the tile's problem is the whole
  image's, but iterative solvers adapt step sizes and stop on whole-problem quantities, so
  agreement is to the solver's accuracy (lower ``tol`` to tighten it), not bit for bit.

Examples
--------
>>> import numpy as np
>>> from invrestore import denoise
>>> from invrestore.scale import denoise_tiled
>>> rng = np.random.default_rng(0)
>>> y = np.clip(np.tile(np.linspace(0, 1, 96), (80, 1)) + 0.1 * rng.standard_normal((80, 96)),
...             0, 1)
>>> a = denoise_tiled(y, 0.1, method="tv", tile=32)
>>> float(np.abs(a - denoise(y, 0.1, method="tv")).max()) < 1e-6
True
"""

from __future__ import annotations

import logging
import sys
from typing import NamedTuple

import numpy as np

from ..backend import as_float_image, check_scalar, get_xp
from .memory import MemoryEstimate, estimate_memory

__all__ = [
    "MemoryEstimate",
    "Tile",
    "denoise_tiled",
    "estimate_memory",
    "map_tiles",
    "plan_tiles",
    "restore_tiled",
]

logger = logging.getLogger("invrestore.scale")


class Tile(NamedTuple):
    """One tile: ``core`` (kept, image coordinates) inside ``window`` (processed)."""

    core: tuple
    window: tuple

    @property
    def inner(self):
        """The core in window coordinates."""
        (r0, r1), (c0, c1) = self.core
        (a0, _), (b0, _) = self.window
        return (r0 - a0, r1 - a0), (c0 - b0, c1 - b0)


def _starts(n, tile):
    return list(range(0, n, tile))


def plan_tiles(shape, tile, overlap, *, wrap=False):
    """Tiles covering an image of ``shape``.

    Parameters
    ----------
    shape : tuple
        ``(H, W)`` or ``(H, W, C)``.
    tile : int
        Core side; cores start at multiples of it (the last ones are smaller), as the chunks of
        a Dask array with ``chunks=tile``.
    overlap : int
        Context added on each side; clipped at the image border unless ``wrap``.
    wrap : bool
        Windows extend past the border too (coordinates then run outside ``[0, H)``).

    Returns
    -------
    list of Tile

    Examples
    --------
    >>> from invrestore.scale import plan_tiles
    >>> [t.window for t in plan_tiles((100, 60), 64, 8)]
    [((0, 72), (0, 60)), ((56, 100), (0, 60))]
    """
    H, W = int(shape[0]), int(shape[1])
    tile = check_scalar(tile, "tile", integer=True, positive=True)
    overlap = check_scalar(overlap, "overlap", integer=True, nonnegative=True)
    tiles = []
    for r0 in _starts(H, tile):
        r1 = min(H, r0 + tile)
        for c0 in _starts(W, tile):
            c1 = min(W, c0 + tile)
            if wrap:
                win = ((r0 - overlap, r1 + overlap), (c0 - overlap, c1 + overlap))
            else:
                win = ((max(0, r0 - overlap), min(H, r1 + overlap)),
                       (max(0, c0 - overlap), min(W, c1 + overlap)))
            tiles.append(Tile(((r0, r1), (c0, c1)), win))
    return tiles


# -- reading windows -----------------------------------------------------------------------

def _runs(index):
    """Split a 1-D integer index into runs of consecutive values: (start, stop) pairs."""
    runs, start, prev = [], index[0], index[0]
    for i in index[1:]:
        if i != prev + 1:
            runs.append((start, prev + 1))
            start = i
        prev = i
    runs.append((start, prev + 1))
    return runs


def _read(image, box, rows=None, cols=None):
    """``image[box]`` as a float array; ``rows``/``cols`` map window coordinates to image rows
    and columns (periodic or mirrored reads), read as few contiguous slices."""
    (a0, a1), (b0, b1) = box
    if rows is None:
        win = image[a0:a1, b0:b1]
    else:
        ri, ci = rows(np.arange(a0, a1)), cols(np.arange(b0, b1))
        parts = [np.concatenate([np.asarray(image[r0:r1, c0:c1]) for c0, c1 in _runs(ci)],
                                axis=1) for r0, r1 in _runs(ri)]
        win = np.concatenate(parts, axis=0)
    return win


def _as_float(win, dtype):
    if get_xp(win) is np:
        win = np.asarray(win)  # a window of a memory map, a Zarr or h5py array
    return as_float_image(win, name="image").astype(dtype, copy=False)


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float32)


def _new_out(image, shape, dtype, out):
    if out is None:
        return get_xp(image).empty(shape, dtype=dtype)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"out has shape {tuple(out.shape)}, expected {tuple(shape)}")
    return out


def _bar(total, progress, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not progress, desc=desc, unit="tile", file=sys.stderr,
                leave=False)


def _announce(est, what, progress):
    line = f"{what}: {est}"
    logger.info(line)
    if progress:
        print(line, file=sys.stderr)


def _default_workers():
    import numba

    return numba.get_num_threads()


def map_tiles(fn, tiles, *, workers=1, bar=None):
    """Yield ``(tile, fn(tile, state))`` over ``tiles``, in ``workers`` threads.

    Each thread gets its own ``state`` dict (for copies of stateful priors and scratch
    buffers) and runs Numba kernels on one thread: small parallel regions of a tile stall at
    their barriers when the machine is busy, while whole tiles side by side do not (the kernels
    release the GIL). At most ``2 workers`` results wait to be written, so memory stays bounded.
    """
    import threading

    if workers <= 1:
        state = {}
        for t in tiles:
            yield t, fn(t, state)
            if bar is not None:
                bar.update()
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    local = threading.local()

    def task(t):
        if not hasattr(local, "state"):
            import numba

            numba.set_num_threads(1)  # per thread: the other threads keep their setting
            local.state = {}
        return fn(t, local.state)

    pending, it = {}, iter(tiles)
    with ThreadPoolExecutor(workers) as pool:
        for t in it:
            pending[pool.submit(task, t)] = t
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                t = pending.pop(f)
                yield t, f.result()
                if bar is not None:
                    bar.update()
                nxt = next(it, None)
                if nxt is not None:
                    pending[pool.submit(task, nxt)] = nxt


def _own(state, prior):
    """This thread's copy of ``prior`` (priors keep scratch buffers and warm starts)."""
    import copy

    if "prior" not in state:
        state["prior"] = copy.deepcopy(prior)
    return state["prior"]


def _sigma_of(image, sigma, observed=None):
    from ..estimation import estimate_sigma

    if sigma is not None:
        return check_scalar(sigma, "sigma", nonnegative=True)
    if isinstance(image, np.ndarray) or get_xp(image) is not np:
        return estimate_sigma(image, observed=observed)
    return sample_sigma(image)


def sample_sigma(image, *, n=4, size=512):
    """Noise std of a large (lazy) image: median of :func:`~invrestore.estimate_sigma` over
    ``n`` crops of ``size`` pixels spread along the diagonal. Give ``sigma`` explicitly for a
    result identical to the whole-image estimate."""
    from ..estimation import estimate_sigma

    H, W = int(image.shape[0]), int(image.shape[1])
    vals = []
    for k in range(n):
        r = (H - min(H, size)) * (2 * k + 1) // (2 * n)
        c = (W - min(W, size)) * (2 * k + 1) // (2 * n)
        win = _as_float(np.asarray(image[r:r + size, c:c + size]), np.float64)
        vals.append(estimate_sigma(win))
    return float(np.median(vals))


# -- denoising -----------------------------------------------------------------------------

def _prior_of(method, options):
    from ..api import get_prior

    return get_prior(method, **options)


def _tv_plain(prior):
    from ..functionals import TotalVariation

    return isinstance(prior, TotalVariation) and not prior.warm_start and prior.tol > 0


def _wavelet_geometry(prior, shape):
    """Fixed-depth copy of a wavelet prior and index maps onto its periodic extension."""
    from ..functionals import WaveletL1

    levels = prior.levels_for(shape)
    fixed = WaveletL1(prior.wavelet, levels=levels, cycle_spin=prior.cycle_spin)
    m = 2 ** levels
    H, W = int(shape[0]), int(shape[1])
    He, We = H + (-H % m), W + (-W % m)

    def mapper(n, ne):
        def f(i):
            j = np.mod(i, ne)
            return np.where(j >= n, 2 * n - 1 - j, j)  # symmetric extension, then periodic
        return f

    return fixed, m, mapper(H, He), mapper(W, We)


def denoise_tiled(image, sigma=None, *, method="tv", tile=512, overlap=None, progress=False,
                  out=None, workers=None, **options):
    """:func:`invrestore.denoise`, tile by tile: the same result in bounded memory.

    Parameters
    ----------
    image : array_like, (H, W) or (H, W, C)
        Noisy image: a NumPy or CuPy array, or any array that can be sliced into NumPy arrays
        (``numpy.memmap``, Zarr, h5py), read one window at a time.
    sigma : float, optional
        Noise std on the [0, 1] scale; estimated as :func:`invrestore.denoise` does when
        omitted (for a lazy array: :func:`sample_sigma`).
    method : str, Prior or denoiser
        As for :func:`invrestore.denoise`; ``**options`` go to the prior's constructor.
    tile : int
        Core side in pixels (default 512).
    overlap : int, optional
        Context on each inner side; default the method's receptive radius
        (:func:`~invrestore.scale.default_overlap`).
    progress : bool
        Print the memory estimate and show a progress bar (stderr).
    out : array_like, optional
        Where to write the result (e.g. a ``numpy.memmap`` or Zarr array).
    workers : int, optional
        Tiles processed at the same time, each on one thread (default: Numba's thread count);
        memory grows with it (:func:`estimate_memory`).

    Returns
    -------
    ndarray or ``out``

    Notes
    -----
    See the module notes for when the result is exactly the whole image's; the memory estimate
    (:func:`estimate_memory`) is logged to the ``invrestore.scale`` logger before the run.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.denoisers import NLMDenoiser
    >>> from invrestore.scale import denoise_tiled
    >>> rng = np.random.default_rng(1)
    >>> y = rng.random((70, 90))
    >>> nlm = NLMDenoiser(patch_size=3, patch_distance=4)
    >>> bool(np.allclose(denoise_tiled(y, 0.1, method=nlm, tile=32), nlm(y, 0.1), atol=1e-9))
    True
    """
    shape = tuple(int(s) for s in image.shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {shape}")
    dtype = _float_dtype(image.dtype)
    prior = _prior_of(method, options)
    sigma = _sigma_of(image, sigma)
    tile = check_scalar(tile, "tile", integer=True, positive=True)
    if overlap is None:
        from .locality import default_overlap

        overlap = default_overlap(prior, sigma=sigma)
    overlap = check_scalar(overlap, "overlap", integer=True, nonnegative=True)
    res = _new_out(image, shape, dtype, out)
    if sigma == 0.0:
        for t in plan_tiles(shape, tile, 0):
            (r0, r1), (c0, c1) = t.core
            res[r0:r1, c0:c1] = _as_float(_read(image, t.core), dtype)
        return res
    from ..functionals import WaveletL1

    rows = cols = fixed = None
    if isinstance(prior, WaveletL1):
        fixed, m, rows, cols = _wavelet_geometry(prior, shape)
        tile = -(-tile // m) * m
        overlap = -(-overlap // m) * m
    tiles = plan_tiles(shape, tile, overlap, wrap=rows is not None)
    workers = _default_workers() if workers is None else check_scalar(
        workers, "workers", integer=True, positive=True)
    workers = min(workers, len(tiles))
    est = estimate_memory(shape, dtype=dtype, tile=tile, overlap=overlap, method=prior,
                          workers=workers,
                          in_memory=isinstance(image, np.ndarray) and out is None)
    _announce(est, f"denoise_tiled {'x'.join(map(str, shape))} {dtype}, tile {tile}, "
              f"overlap {overlap}", progress)
    if _tv_plain(prior) and len(tiles) > 1:
        return _denoise_tv_two_pass(image, sigma, prior, tiles, dtype, res, progress, workers)
    base = fixed if rows is not None else prior

    def one(t, state):
        win = _as_float(_read(image, t.window, rows, cols), dtype)
        p = base if workers == 1 else _own(state, base)
        (i0, i1), (j0, j1) = t.inner
        return p.denoise(win, sigma)[i0:i1, j0:j1]

    with _bar(len(tiles), progress, "denoise") as bar:
        for t, x in map_tiles(one, tiles, workers=workers, bar=bar):
            (r0, r1), (c0, c1) = t.core
            res[r0:r1, c0:c1] = x
    return res


def _denoise_tv_two_pass(image, sigma, prior, tiles, dtype, res, progress, workers=1):
    from ..kernels import tv_prox
    from ._tv_exact import core_records, stop_iteration

    w = prior.denoise_step(sigma)
    kw = {"isotropic": prior.isotropic, "max_iter": prior.max_iter}
    hint = [0]

    def records(t, min_iter=None):
        win = _as_float(_read(image, t.window), dtype)
        return core_records(win, w, core=t.inner, stop_tol=0.5 * prior.tol,
                            min_iter=hint[0] if min_iter is None else min_iter, **kw)

    with _bar(2 * len(tiles), progress, "denoise (tv, 2 passes)") as bar:
        recs = {}
        for t, r in map_tiles(lambda t, state: records(t), tiles, workers=workers, bar=bar):
            recs[t] = r
            # later tiles record at least as long as this one needed: fewer re-runs
            own = [k for k, (d2, x2) in sorted(r.items()) if d2 <= prior.tol ** 2 * x2]
            hint[0] = max(hint[0], own[0] if own else 0)
        recs = [recs[t] for t in tiles]

        def extend(idx, k):
            got = dict(map_tiles(lambda t, state: records(t, k), [tiles[i] for i in idx],
                                 workers=workers))
            return [got[tiles[i]] for i in idx]

        n_iter = stop_iteration(recs, prior.tol, prior.max_iter, extend)
        logger.info("tiled tv: the whole image stops after %d iterations", n_iter)

        def final(t, state):
            win = _as_float(_read(image, t.window), dtype)
            x = tv_prox(win, w, tol=0.0, workspace=state.setdefault("work", {}),
                        **{**kw, "max_iter": n_iter})
            (i0, i1), (j0, j1) = t.inner
            return x[i0:i1, j0:j1]

        for t, x in map_tiles(final, tiles, workers=workers, bar=bar):
            (r0, r1), (c0, c1) = t.core
            res[r0:r1, c0:c1] = x
    return res


# -- restoration ---------------------------------------------------------------------------

_REFUSED = ("full_output", "callback", "x_true")


def restore_tiled(y, operator, prior="tv", *, tile=512, overlap=None, sigma=None,
                  progress=False, out=None, workers=None, **restore_kwargs):
    """:func:`invrestore.restore` tile by tile, for local forward models.

    Parameters
    ----------
    y : array_like
        Observation, shaped ``operator.out_shape`` (NumPy, or sliceable like
        :func:`denoise_tiled`'s ``image``).
    operator : LinearOperator
        ``H``: ``Identity``, ``Mask``, ``Blur`` with boundary ``"reflect"``, ``"zero"`` or
        ``"valid"``, ``Downsample``, and compositions (see
        :mod:`invrestore.scale.locality`; a circular blur is refused).
    prior : str, Prior or denoiser
        As for :func:`invrestore.restore`.
    tile : int
        Core side of the restored image's tiles.
    overlap : int, optional
        Default :func:`~invrestore.scale.default_overlap` for the prior and ``H``.
    sigma : float, optional
        Noise std; estimated once on the whole observation when omitted (observed pixels of an
        outer mask), then given to every tile, so all of them use the same ``lam``.
    progress : bool
        Print the memory estimate and show a progress bar.
    out : array_like, optional
        Where to write the result (shape ``operator.in_shape``).
    workers : int, optional
        Tiles solved at the same time, each on one thread (default: Numba's thread count).
    **restore_kwargs
        ``lam``, ``solver``, ``data``, ``max_iter``, ``tol``, ``x0`` (cropped per tile): as for
        :func:`invrestore.restore`, except that every tile uses the same weight:
        ``lam="auto"`` is the fixed default (``lam=None``) and the per-image rules are
        refused.

    Returns
    -------
    ndarray or ``out``

    Notes
    -----
    Each tile solves the restoration problem of its window with the window's model
    (:func:`~invrestore.scale.locality.localize`); cores are kept. Agreement with the untiled
    solve is to the solvers' accuracy (they adapt and stop on whole-problem quantities); see
    ``benchmarks/scale.py`` for measured differences.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore import restore
    >>> from invrestore.operators import Mask
    >>> from invrestore.scale import restore_tiled
    >>> rng = np.random.default_rng(0)
    >>> x = np.tile(np.linspace(0, 1, 64), (64, 1))
    >>> H = Mask(rng.random(x.shape) > 0.3)
    >>> y = H @ x + 0.01 * rng.standard_normal(x.shape)
    >>> a = restore_tiled(y, H, "tv", sigma=0.01, tile=32)
    >>> b = restore(y, H, prior="tv", sigma=0.01, lam=None)  # tiles share the fixed weight
    >>> float(np.abs(a - b).max()) < 1e-2
    True
    """
    from ..api import _observed_pixels, _pnp_iters, get_prior
    from ..functionals import DenoiserPrior
    from ..operators import LinearOperator
    from .locality import check_tileable, default_overlap, localize

    if not isinstance(operator, LinearOperator):
        raise TypeError(f"operator must be an invrestore LinearOperator, got "
                        f"{type(operator).__name__}")
    restore_kwargs = shared_lam(restore_kwargs)
    bad = [k for k in _REFUSED if k in restore_kwargs]
    if bad:
        raise TypeError(f"restore_tiled does not take {', '.join(bad)} (tiles have no common "
                        "history); restore the whole image for that")
    check_tileable(operator)
    if tuple(y.shape) != operator.out_shape:
        raise ValueError(f"y has shape {tuple(y.shape)} but {operator!r} produces "
                         f"{operator.out_shape}")
    R = get_prior(prior)
    dtype = _float_dtype(y.dtype)
    observed = _observed_pixels(operator)
    sigma = _sigma_of(y, sigma, observed)
    if overlap is None:
        n_iter = restore_kwargs.get("max_iter") or _pnp_iters(operator) \
            if isinstance(R, DenoiserPrior) else None
        overlap = default_overlap(R, sigma=sigma, operator=operator, n_iter=n_iter)
    overlap = check_scalar(overlap, "overlap", integer=True, nonnegative=True)
    shape = operator.in_shape
    x0 = restore_kwargs.pop("x0", None)
    if x0 is not None and tuple(x0.shape) != shape:
        raise ValueError(f"x0 has shape {tuple(x0.shape)}, expected {shape}")
    res = _new_out(y, shape, dtype, out)
    tiles = plan_tiles(shape, tile, overlap)
    workers = _default_workers() if workers is None else check_scalar(
        workers, "workers", integer=True, positive=True)
    workers = min(workers, len(tiles))
    est = estimate_memory(shape, dtype=dtype, tile=tile, overlap=overlap, method=R,
                          restore=True, workers=workers,
                          in_memory=isinstance(y, np.ndarray) and out is None)
    _announce(est, f"restore_tiled {'x'.join(map(str, shape))} {dtype}, tile {tile}, "
              f"overlap {overlap}", progress)

    def one(t, state):
        local, ybox = localize(operator, t.window)
        win = _as_float(_read(y, ybox), dtype)
        kw = dict(restore_kwargs)
        if x0 is not None:
            kw["x0"] = _as_float(_read(x0, t.window), dtype)
        x = restore_window(win, local, R if workers == 1 else _own(state, R), sigma, kw)
        (i0, i1), (j0, j1) = t.inner
        return x[i0:i1, j0:j1]

    with _bar(len(tiles), progress, "restore") as bar:
        for t, x in map_tiles(one, tiles, workers=workers, bar=bar):
            (r0, r1), (c0, c1) = t.core
            res[r0:r1, c0:c1] = x
    return res


def shared_lam(kwargs):
    """``kwargs`` with one weight for every tile: a rule chosen per tile (``lam="gsure"``...)
    would differ between tiles and leave seams, so ``"auto"`` (the default) means the fixed
    default weight here and the other rules are refused."""
    lam = kwargs.get("lam", "auto")
    if isinstance(lam, str):
        if lam.lower() != "auto":
            raise ValueError(f"lam={lam!r} would choose a different weight in every tile; "
                             f"choose it on the whole image (or a crop) with restore(..., "
                             f"full_output=True).info['lam'] and pass that number")
        kwargs = dict(kwargs, lam=None)
    return kwargs


def restore_window(y_win, local_op, prior, sigma, kwargs):
    """Restore one window (the unit of work of :func:`restore_tiled` and the Dask version)."""
    from ..api import restore

    return restore(y_win, local_op, prior=prior, sigma=sigma, **shared_lam(kwargs))
