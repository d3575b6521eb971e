"""One-pass updates of the splitting solvers' auxiliary variables and the sums they report.

An ADMM or FISTA step does a few elementwise updates and inner products around its two
expensive calls (the data-term and prior proxes). Done as separate array operations, each
reads image-sized arrays that those calls have just pushed out of the caches; for NumPy
input the kernels here do the update and every sum in one pass over memory. CuPy input (and
anything unusual: mixed dtypes, non-contiguous views) takes the array operations, with the
same results up to the order of the float64 sums; that array code is also the reference the
tests compare the kernels with.
"""

from __future__ import annotations

import numba
import numpy as np

from ..backend import get_xp, vdot

__all__ = ["admm_update", "fista_update"]


@numba.njit(parallel=True, cache=True, nogil=True)
def _admm_pass(v, z, x, zp):  # pragma: no cover - compiled
    xx = xz = zz = zzp = uu = 0.0
    for i in numba.prange(v.size):
        u = v[i] - z[i]
        v[i] = u
        a, b, c, d = np.float64(x[i]), np.float64(z[i]), np.float64(zp[i]), np.float64(u)
        xx += a * a
        xz += a * b
        zz += b * b
        zzp += b * c
        uu += d * d
    return xx, xz, zz, zzp, uu


@numba.njit(parallel=True, cache=True, nogil=True)
def _fista_pass(x, x_old, y, c, out):  # pragma: no cover - compiled
    dd = yd = xd = 0.0
    for i in numba.prange(x.size):
        d = x[i] - x_old[i]
        out[i] = d * c + x[i]
        a, b = np.float64(d), np.float64(y[i])
        dd += a * a
        yd += b * a
        xd += np.float64(x[i]) * a
    return dd, yd, xd


def _flat(arrays):
    """Flat views for the kernels, or None where the array operations must run."""
    first = arrays[0]
    if get_xp(*arrays) is not np or first.dtype not in (np.float32, np.float64):
        return None
    if any(a.dtype != first.dtype or a.shape != first.shape or not a.flags.c_contiguous
           for a in arrays):
        return None
    return [a.reshape(-1) for a in arrays]


def admm_update(v, z, x, z_prev):
    """``u = v - z`` (in ``v``'s memory unless ``v`` and ``z`` overlap) and its sums.

    Returns ``(u, |x|^2, <x, z>, |z|^2, <z, z_prev>, |u|^2)``, the sums as float64.
    """
    if not get_xp(v, z).may_share_memory(v, z):  # NumPy's or CuPy's
        flat = _flat((v, z, x, z_prev))
        if flat is not None:
            sums = _admm_pass(*flat)
            return (v,) + tuple(float(s) for s in sums)
        v -= z
        u = v
    else:
        u = v - z
    return u, vdot(x, x), vdot(x, z), vdot(z, z), vdot(z, z_prev), vdot(u, u)


def fista_update(x, x_old, y, c):
    """``y_next = x + c (x - x_old)`` (a new array) and ``(|d|^2, <y, d>, <x, d>)``, ``d = x -
    x_old``: FISTA's extrapolation, its step length and its restart test in one pass."""
    flat = _flat((x, x_old, y))
    if flat is not None:
        out = np.empty_like(x)
        dd, yd, xd = _fista_pass(*flat, x.dtype.type(c), out.reshape(-1))
        return out, float(dd), float(yd), float(xd)
    d = x - x_old
    sums = (vdot(d, d), vdot(y, d), vdot(x, d))
    d *= c
    d += x
    return (d,) + sums
