"""Tiled TV denoising that stops where the whole image would: two passes over the tiles.

The TV prox (:func:`invrestore.kernels.tv_prox`) runs FGP until the relative change
``||x_k - x_{k-1}|| / ||x_k||`` of the *whole image* falls below ``tol``. Tiles stopped by their
own relative change end at other iterations (52 to 77 where the whole 2048x2048 image takes
67), and FGP's iterates move by more than 1e-3 between such counts. So:

1. every tile runs FGP and records, at each iteration where the prox tests its stopping rule,
   the two sums of that rule over the tile's core (:func:`core_records`);
2. the sums over all cores are the whole image's, so the first tested iteration where the rule
   holds is the whole image's stopping iteration ``K`` (:func:`stop_iteration`);
3. every tile runs exactly ``K`` iterations (``tv_prox(..., max_iter=K, tol=0)``), which is
   the whole-image computation restricted to the tile once the overlap covers the spread.

Pass 1 stops a tile's recording once its own rule holds at half the tolerance; a tile whose
records end before ``K`` is known is run again for longer (rare). The cost is about two TV
solves per tile plus the overlap.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_xp

__all__ = ["check_schedule", "core_records", "stop_iteration"]


def check_schedule(max_iter, check_every):
    """Iterations ``k`` (0-based, before the update) at which the prox tests its rule."""
    return [k for k in range(1, max_iter) if (k - 1) % check_every == 0 or k == max_iter - 1]


def _core_sums_planar(v3, P0, P1, Q0, Q1, w, core):
    """Core sums of the rule at ``x_k = v + w div P``, ``x_{k-1} = v + w div Q`` (padded
    planar duals, see :mod:`invrestore.kernels._tv_numba`)."""
    (a, b), (c, d) = core

    def div(A0, A1):
        return (A0[:, a + 1:b + 1, c:d] - A0[:, a:b, c:d]) + (A1[:, a:b, c + 1:d + 1]
                                                               - A1[:, a:b, c:d])

    divp, divq = div(P0, P1), div(Q0, Q1)
    x = (v3[:, a:b, c:d] + w * divp).astype(np.float64, copy=False)
    dx = (w * (divp - divq)).astype(np.float64, copy=False)
    # plain reductions: BLAS dot products spin threads that starve the parallel kernel
    return float(np.sum(dx * dx)), float(np.sum(x * x))


def _records_numba(v, w, isotropic, max_iter, core, stop_tol, min_iter, check_every):
    import numba

    from ..kernels._tv_numba import SERIAL_BELOW, _fgp_pass
    from ..kernels.tv import fista_momentum

    colour = v.ndim == 3
    v3 = np.ascontiguousarray(np.moveaxis(v, -1, 0) if colour else v[None])
    C, H, W = v3.shape
    dt = v3.dtype.type
    P0, P1, Q0, Q1, R0, R1 = (np.zeros(s, v3.dtype) for s in ((C, H + 1, W), (C, H, W + 1)) * 3)
    dummy = np.zeros(H)
    threads = numba.get_num_threads()
    serial = threads > 1 and v3.size < SERIAL_BELOW
    nblocks = 1 if serial else max(1, min(H, 2 * threads))
    s = dt(1.0) / (dt(8.0) * dt(w))
    checks = set(check_schedule(max_iter, check_every))
    records = {}
    t, beta, k = 1.0, 0.0, 0
    while k < max_iter:
        if k in checks:
            records[k] = _core_sums_planar(v3, P0, P1, Q0, Q1, dt(w), core)
        _fgp_pass(v3, P0, P1, Q0, Q1, R0, R1, dt(w), s, dt(beta), k == 0, bool(isotropic),
                  False, nblocks, dummy, dummy)
        P0, Q0, R0 = R0, P0, Q0
        P1, Q1, R1 = R1, P1, Q1
        t, beta = fista_momentum(t)
        if k in records and k >= min_iter:
            d2, x2 = records[k]
            if math.sqrt(d2) <= stop_tol * math.sqrt(x2):
                break
        k += 1
    return records


def _grad(x, xp):
    g = xp.zeros((2,) + x.shape, dtype=x.dtype)
    g[0, :-1] = x[1:] - x[:-1]
    g[1, :, :-1] = x[:, 1:] - x[:, :-1]
    return g


def _div(p, xp):
    d = xp.array(p[0], copy=True)
    d[1:] -= p[0, :-1]
    d += p[1]
    d[:, 1:] -= p[1, :, :-1]
    return d


def _project(q, isotropic, xp):
    if not isotropic:
        return xp.clip(q, -1.0, 1.0)
    n2 = q[0] * q[0] + q[1] * q[1]
    if q.ndim == 4:
        n2 = n2.sum(axis=-1, keepdims=True)
    return q / xp.maximum(1.0, xp.sqrt(n2))


def _records_xp(v, w, isotropic, max_iter, core, stop_tol, min_iter, check_every):
    xp = get_xp(v)
    (a, b), (c, d) = core
    s = 1.0 / (8.0 * w)
    p = xp.zeros((2,) + v.shape, dtype=v.dtype)
    p_prev, x_prev = p, v
    checks = set(check_schedule(max_iter, check_every))
    records = {}
    t, beta, k = 1.0, 0.0, 0
    while k < max_iter:
        x = v + w * _div(p, xp)
        dx = x - x_prev
        if k in checks:
            dc, xc = dx[a:b, c:d], x[a:b, c:d]
            records[k] = (float((dc * dc).sum(dtype=xp.float64)),
                          float((xc * xc).sum(dtype=xp.float64)))
        z = x + beta * dx
        q = _project(p + beta * (p - p_prev) + s * _grad(z, xp), isotropic, xp)
        p_prev, p, x_prev = p, q, x
        t_next = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
        beta = (t - 1.0) / t_next
        t = t_next
        if k in records and k >= min_iter:
            d2, x2 = records[k]
            if math.sqrt(d2) <= stop_tol * math.sqrt(x2):
                break
        k += 1
    return records


def core_records(v, w, *, isotropic, max_iter, core, stop_tol, min_iter=0, check_every=None,
                 impl=None):
    """Pass 1 on one window: ``{k: (||dx||^2, ||x||^2)}`` over ``core`` at each tested ``k``.

    Recording stops at the first tested ``k >= min_iter`` where the core's own rule holds at
    ``stop_tol``, or at ``max_iter``. ``impl`` "numba" (NumPy input, the prox's own kernel) or
    "xp" (array code, CuPy); by default the one the prox uses.
    """
    from ..kernels.tv import CHECK_EVERY

    check_every = CHECK_EVERY if check_every is None else check_every
    if impl is None:
        impl = "numba" if get_xp(v) is np else "xp"
    run = _records_numba if impl == "numba" else _records_xp
    return run(v, w, isotropic, max_iter, core, stop_tol, min_iter, check_every)


def stop_iteration(records, tol, max_iter, extend, check_every=None):
    """Number of FGP updates the whole image runs, from the tiles' core records.

    Parameters
    ----------
    records : list of dict
        Per tile, ``{k: (d2, x2)}`` (:func:`core_records`); updated in place by ``extend``.
    tol, max_iter
        The prox's stopping rule.
    extend : callable
        ``extend(indices, k)`` returns new records for those tiles, reaching at least ``k``.

    Returns
    -------
    int
        The prox's ``n_iter``: ``k + 1`` for the first tested ``k`` where
        ``sqrt(sum d2) <= tol sqrt(sum x2)``, or ``max_iter``.
    """
    from ..kernels.tv import CHECK_EVERY

    check_every = CHECK_EVERY if check_every is None else check_every
    last = max_iter - 1
    for k in check_schedule(max_iter, check_every):
        missing = [i for i, r in enumerate(records) if k not in r]
        if missing:
            target = min(last, k + 4 * check_every)
            for i, r in zip(missing, extend(missing, target)):
                records[i] = r
            missing = [i for i, r in enumerate(records) if k not in r]
            if missing:  # pragma: no cover - extend() must reach k
                raise RuntimeError(f"tiles {missing} have no record at iteration {k}")
        d2 = sum(r[k][0] for r in records)
        x2 = sum(r[k][1] for r in records)
        if math.sqrt(d2) / max(math.sqrt(x2), 1e-300) <= tol:
            return k + 1
    return max_iter
