"""Numba kernels of the TV prox (FGP on the dual); the maths is in :mod:`invrestore.kernels.tv`.

Layout. Images are planar, C-contiguous ``(C, H, W)`` arrays (a gray image has ``C = 1``), so
every inner loop runs along one contiguous row of one channel and vectorises, and the
vectorial projection combines channels with unit-stride loops. A dual ``p = (p0, p1)`` is
kept in two zero-padded buffers: ``P0`` of shape ``(C, H + 1, W)`` holds ``p0`` in rows
``1..H`` (row 0 zero) and ``P1`` of shape ``(C, H, W + 1)`` holds ``p1`` in columns ``1..W``
(column 0 zero). With the Neumann invariants (``p0[:, H - 1] = 0``, ``p1[:, :, W - 1] = 0``)
the divergence is one branch-free expression,

    (div p)[c, i, k] = P0[c, i + 1, k] - P0[c, i, k] + P1[c, i, k + 1] - P1[c, i, k].

Shifted rows are passed as views (``P1[c, i, 1:]``) rather than indexed as ``[k + 1]``:
Numba's negative-index wraparound on an offset index defeats vectorisation (2x slower).

One fused pass per iteration. FGP needs ``z = v + w div r`` at the extrapolated dual
``r = p + beta (p - q)`` (``q`` the previous dual) and then ``p_next = proj(r + s D z)``. Both
are local, so ``_fgp_pass`` walks down blocks of rows (one ``prange`` task per block), keeps
``r`` and ``z`` for rows ``i`` and ``i + 1`` in small row buffers, and reads ``v``, ``p``, ``q``
and writes ``p_next`` once per iteration: 5 reads and 2 writes of image-sized arrays, half the
traffic of separate divergence / gradient / projection passes. Three dual buffers rotate
(``q <- p <- p_next``), so no task writes what a neighbour still reads; large gray images
(``INPLACE_FROM``) use two instead, the new dual written over the previous one, and the few
rows that neighbouring tasks share copied first. Neither ``x`` nor
``z`` is stored: the stopping test computes ``x_k - x_{k-1} = w div (p - q)`` on the fly, on
checking iterations only (``_check_row``), and ``x = v + w div p`` is formed once at the end
(``_primal``).

Gray isotropic TV, the common case, has its own pass (``_fgp_pass_gray_iso``) on every
iteration but a cold start's first: one loop per row instead of four, so the row buffers
are not handed from loop to loop (``benchmarks.tv_prox`` prints the ratio). It computes
the general pass's expressions in the same order and agrees with it to rounding (the
compiler may fuse different multiply-adds in the two loops: ~4e-7 at most in float32 over
3000 random cases), which a test checks by forcing the general pass on every iteration.

Compilation, not run time, is what this module is shaped around next: a parallel kernel
compiles in seconds per dtype, roughly in proportion to its number of vectorised loops, so the
projections share one branch-free loop for gray images and the first rows of a block go
through the same loop as the others (cold compile of both dtypes ~17 s on 2 cores, then
loaded from the on-disk cache).

Signatures: one per dtype (float32, float64); scalars arrive in the array's dtype, flags as
bools, integers as int64, so a process compiles at most two versions of each kernel (cached).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from .tv import fista_momentum

__all__ = ["fgp_numba"]

#: Floating-point contraction (``a * b + c`` as one fused multiply-add) is the only fast-math
#: flag of the passes: the gray isotropic pass's loop compiles to 78 vector instructions per
#: 16 float32 pixels instead of 99 (AVX-512), and results move by rounding only (~1e-7 after
#: 50 float32 iterations), as nvcc's default contraction does for the CUDA twin. Every helper
#: the passes inline carries it too.
_MATH = {"contract"}
_OPTS = {"parallel": True, "fastmath": _MATH, "cache": True, "nogil": True}

#: Gray isotropic TV runs its own passes (``_fgp_first_gray_iso``, ``_fgp_pass_gray_iso``);
#: False runs the general pass throughout (the tests compare both, to rounding).
FUSED_GRAY = True

#: Gray images of at least this many bytes (isotropic TV) update the dual in place, in two
#: buffers instead of three (``_fgp_pass_gray_iso_inplace``): the new dual is written over
#: lines just read instead of fetched, and a call touches four dual buffers, not six. Per
#: iteration on 2 cores (float32, side by side in one run, ``benchmarks.tv_prox`` prints
#: it): 1.06x at 768x768, 1.2-1.35x at 1024x1024, 1.1-1.25x at 2048x2048; but 0.9x at
#: 384x384 and 0.95-1.0x at 512x512 and 640x640, where the buffers stay in the caches
#: and the in-place loop runs a little slower. 2 MiB is about 724x724 float32 (float64
#: 512x512: 1.03x).
INPLACE_FROM = 2 << 20

#: Images with fewer values (C H W) run single-threaded (see ``fgp_numba``).
SERIAL_BELOW = 384 * 384


@njit(cache=True, nogil=True, fastmath=_MATH)
def _extrap(p, q, beta, cold, out):
    # cold: the dual is 0 (a cold start's first pass); beta == 0: no extrapolation, q unread.
    # Neither reads memory that a cold start would otherwise have to clear first.
    if cold:
        out[:] = 0
    elif beta == 0:
        for k in range(out.shape[0]):  # a loop: slice assignment checks overlap, copies
            out[k] = p[k]
    else:
        for k in range(out.shape[0]):
            a = p[k]
            out[k] = a + beta * (a - q[k])


@njit(cache=True, nogil=True, fastmath=_MATH)
def _zrow(v, r0, r0_up, r1, r1_left, w, out):
    # r1_left[k] is r1[k - 1] (zero padding at k = 0): passing the shifted view instead of
    # indexing r1[k + 1] matters (see the module notes on wraparound).
    for k in range(out.shape[0]):
        out[k] = v[k] + w * ((r0[k] - r0_up[k]) + (r1[k] - r1_left[k]))


@njit(cache=True, nogil=True, fastmath={"reassoc"})
def _check_row(a0, b0, a1, c1, d0, e0, d1, f1, v, w):
    """Row sums of ``(x_k - x_{k-1})^2`` and ``x_k^2``, ``x = v + w div p``, on the fly.

    Reassociation lets these float64 sums vectorise (3x faster check iterations). It
    reorders the additions of the stopping-test sums only; the iterates themselves are
    computed with contraction as the only fast-math flag (see ``_MATH``).
    """
    ds = 0.0
    xs = 0.0
    for k in range(v.shape[0]):
        dp = (a0[k] - b0[k]) + (a1[k] - c1[k])
        dq = (d0[k] - e0[k]) + (d1[k] - f1[k])
        xk = v[k] + w * dp
        dd = w * (dp - dq)
        ds += dd * dd
        xs += xk * xk
    return ds, xs


@njit(**_OPTS)
def _fgp_pass(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, cold, iso, check, nblocks, dsum, xsum):
    """``R = proj(r + s D(v + w div r))`` with ``r = P + beta (P - Q)``, planar ``(C, H, W)``."""
    C, H, W = v.shape
    one = v.dtype.type(1.0)
    zero = v.dtype.type(0.0)
    # iso as a number: one branch-free loop serves both projections for C = 1 (fewer loop
    # copies, faster compilation; the aniso case pays ~20% for the unused sqrt and division).
    fiso = one if iso else zero
    for b in prange(nblocks):
        i0 = b * H // nblocks
        i1 = (b + 1) * H // nblocks
        r0a = np.zeros((C, W), v.dtype)      # r0 of dual rows i and i + 1
        r0b = np.zeros((C, W), v.dtype)
        r1a = np.zeros((C, W + 1), v.dtype)  # r1 of rows i and i + 1, padded like P1
        r1b = np.zeros((C, W + 1), v.dtype)
        za = np.zeros((C, W), v.dtype)       # z of rows i and i + 1
        zb = np.zeros((C, W), v.dtype)
        n2 = np.empty(W, v.dtype)
        if i0 > 0:
            for c in range(C):
                _extrap(P0[c, i0], Q0[c, i0], beta, cold, r0b[c])     # r0 of dual row i0 - 1
        # step i computes r, z of row i + 1 (buffers "b") and then updates dual row i from
        # rows i ("a") and i + 1; the first step (i = i0 - 1) only fills the buffers.
        for i in range(i0 - 1, i1):
            r0a, r0b = r0b, r0a
            r1a, r1b = r1b, r1a
            za, zb = zb, za
            if i + 1 < H:
                for c in range(C):
                    _extrap(P0[c, i + 2], Q0[c, i + 2], beta, cold, r0b[c])
                    _extrap(P1[c, i + 1, 1:], Q1[c, i + 1, 1:], beta, cold, r1b[c, 1:])
                    _zrow(v[c, i + 1], r0b[c], r0a[c], r1b[c, 1:], r1b[c], w, zb[c])
            else:
                zb[:] = za  # Neumann: no vertical difference on the last row (r0 is 0 there)
            if i < i0:
                continue
            for c in range(C):
                q0 = R0[c, i + 1]
                q1 = R1[c, i, 1:]
                r0, r1 = r0a[c], r1a[c, 1:]
                z, zr, zd = za[c], za[c, 1:], zb[c]
                if C == 1:
                    for k in range(W - 1):
                        a0 = r0[k] + s * (zd[k] - z[k])
                        a1 = r1[k] + s * (zr[k] - z[k])
                        # blend of the two projections by fiso in {0, 1} (exact: 0 * finite)
                        f = fiso / max(one, math.sqrt(a0 * a0 + a1 * a1))
                        q0[k] = a0 * f + (one - fiso) * min(max(a0, -one), one)
                        q1[k] = a1 * f + (one - fiso) * min(max(a1, -one), one)
                    a0 = r0[W - 1] + s * (zd[W - 1] - z[W - 1])
                    q0[W - 1] = a0 * (one / max(one, abs(a0)))  # as the fused pass
                else:
                    for k in range(W - 1):
                        q0[k] = r0[k] + s * (zd[k] - z[k])
                        q1[k] = r1[k] + s * (zr[k] - z[k])
                    q0[W - 1] = r0[W - 1] + s * (zd[W - 1] - z[W - 1])
                    if not iso:
                        for k in range(W):
                            q0[k] = min(max(q0[k], -one), one)
                            q1[k] = min(max(q1[k], -one), one)
                q1[W - 1] = zero
            if iso and C > 1:
                # vectorial TV: one scale per pixel from the norm over directions and channels
                n2[:] = zero
                for c in range(C):
                    q0 = R0[c, i + 1]
                    q1 = R1[c, i, 1:]
                    for k in range(W):
                        n2[k] += q0[k] * q0[k] + q1[k] * q1[k]
                for k in range(W):
                    n2[k] = one / max(one, math.sqrt(n2[k]))
                for c in range(C):
                    q0 = R0[c, i + 1]
                    q1 = R1[c, i, 1:]
                    for k in range(W):
                        q0[k] *= n2[k]
                        q1[k] *= n2[k]
            if check:
                ds = 0.0
                xs = 0.0
                for c in range(C):
                    d, x = _check_row(P0[c, i + 1], P0[c, i], P1[c, i, 1:], P1[c, i],
                                      Q0[c, i + 1], Q0[c, i], Q1[c, i, 1:], Q1[c, i], v[c, i], w)
                    ds += d
                    xs += x
                dsum[i] = ds
                xsum[i] = xs


@njit(inline="always", fastmath=_MATH)
def _gray_row(pc0, oc0, p0, o0, pc1, oc1, p1r, o1r, p1l, o1l, vn, zc, zn, q0, q1, w, s, beta,
              one):
    # Dual row i (into q0, q1) and z of row i + 1 (into zn), for _gray_pass. Inlined
    # where it is called, so that a call with q0 = oc0 and q1 = oc1 (in place) compiles to a
    # loop that reads and writes one view: it vectorises, whereas a loop that reads one view
    # and writes another that overlaps it does not (the compiler's overlap test fails at run
    # time and a scalar copy of the loop runs).
    zr = zc[1:]
    for k in range(vn.shape[0]):
        r0 = pc0[k] + beta * (pc0[k] - oc0[k])
        r0n = p0[k] + beta * (p0[k] - o0[k])
        r1n = p1r[k] + beta * (p1r[k] - o1r[k])
        r1l = p1l[k] + beta * (p1l[k] - o1l[k])
        zd = vn[k] + w * ((r0n - r0) + (r1n - r1l))
        zn[k] = zd
        zk = zc[k]
        a0 = r0 + s * (zd - zk)
        a1 = (pc1[k] + beta * (pc1[k] - oc1[k])) + s * (zr[k] - zk)
        f = one / max(one, math.sqrt(a0 * a0 + a1 * a1))
        q0[k] = a0 * f
        q1[k] = a1 * f


@njit(inline="always", fastmath=_MATH)
def _gray_pass(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, nblocks, inplace, check, dsum, xsum):
    """:func:`_fgp_pass` for one channel and isotropic TV, one loop per row.

    The general pass runs four loops per row (two extrapolations, ``z``, the projection) that
    hand row buffers to each other; here one loop of trip count ``W`` does all of it: it
    forms ``r = P + beta (P - Q)`` where it is needed (``r1`` at columns ``k`` and ``k - 1``
    both, instead of storing it), writes ``z`` of row ``i + 1`` to a row buffer and projects
    dual row ``i``. Faster per iteration than the general pass (``python -m
    benchmarks.tv_prox`` times both in one run) and equal to it to rounding (same
    expressions, same order; see the module notes).

    With ``inplace`` the new dual overwrites the previous one, ``Q`` (``R`` is not used), so
    two dual buffers swap instead of three rotating: for images larger than the caches
    (see ``INPLACE_FROM``). ``Q`` must then be finite (it is multiplied by ``beta``, maybe
    0). Each element of ``Q`` is read just before the same element is written, through the
    same view (see ``_gray_row``). A block also reads three rows of ``Q`` that its
    neighbours overwrite (at each edge), and the stopping sums read the previous row of
    ``Q0``: the edge rows are copied before the parallel loop, the sums' row is carried in a
    row buffer.

    No cold start (the caller runs ``_fgp_first_gray_iso`` then). With ``check`` it also
    writes the stopping sums of each row (``_check_row``, before the row is overwritten),
    as the general pass does, so that checking iterations (one in ``check_every``) do not
    fall back to the general pass's four loops. Out of place, with ``beta = 0`` and no check,
    the caller passes ``Q = P`` so that the previous dual, possibly never written yet, is not
    read. The ``z`` buffers carry one more entry, ``z[W] = z[W - 1]``: the horizontal
    difference is then 0 at the last column where ``r1`` is 0 (Neumann invariant), so
    ``q1[W - 1] = 0`` and ``q0[W - 1] = a0 (1 / max(1, |a0|))`` come out of the same loop
    body.
    """
    _, H, W = v.shape
    one = v.dtype.type(1.0)
    # Q's rows at the block edges as they were before the pass: edge[b] holds Q0 row i0
    # (above block b), Q0 row i1 + 1 and Q1 row i1 (below it, read by its last step)
    edge = np.zeros((nblocks, 3, W + 1), v.dtype)
    for b in range(nblocks):
        i0 = b * H // nblocks
        i1 = (b + 1) * H // nblocks
        edge[b, 0, :W] = Q0[0, i0]
        if inplace and i1 < H:
            edge[b, 1, :W] = Q0[0, i1 + 1]
            edge[b, 2] = Q1[0, i1]
    for b in prange(nblocks):
        i0 = b * H // nblocks
        i1 = (b + 1) * H // nblocks
        zc = np.zeros(W + 1, v.dtype)    # z of row i (zc[W] = zc[W - 1])
        zn = np.zeros(W + 1, v.dtype)    # z of row i + 1
        up = np.zeros(W, v.dtype)        # r0 of dual row i0 - 1 (zero above the image)
        qup = edge[b, 0, :W].copy()      # Q0 row i as it was before the pass (the sums)
        if i0 > 0:
            a = P0[0, i0]
            for k in range(W):
                up[k] = a[k] + beta * (a[k] - qup[k])
        a, q = P0[0, i0 + 1], Q0[0, i0 + 1]
        a1r, q1r = P1[0, i0, 1:], Q1[0, i0, 1:]
        a1l, q1l = P1[0, i0, :W], Q1[0, i0, :W]
        vv = v[0, i0]
        for k in range(W):
            r0 = a[k] + beta * (a[k] - q[k])
            r1 = a1r[k] + beta * (a1r[k] - q1r[k])
            r1l = a1l[k] + beta * (a1l[k] - q1l[k])
            zc[k] = vv[k] + w * ((r0 - up[k]) + (r1 - r1l))
        zc[W] = zc[W - 1]
        for i in range(i0, i1):
            pc0, oc0 = P0[0, i + 1], Q0[0, i + 1]   # in place: read, then overwritten
            pc1, oc1 = P1[0, i, 1:], Q1[0, i, 1:]
            if check:  # the stopping sums of row i, from P and Q as the general pass's
                dsum[i], xsum[i] = _check_row(pc0, P0[0, i], pc1, P1[0, i], oc0, qup, oc1,
                                              Q1[0, i], v[0, i], w)
                for k in range(W):
                    qup[k] = oc0[k]
            if i + 1 < H:
                p0 = P0[0, i + 2]
                p1r, p1l = P1[0, i + 1, 1:], P1[0, i + 1, :W]
                if inplace and i + 1 == i1:  # the next block's first rows, as they were
                    o0 = edge[b, 1, :W]
                    o1r, o1l = edge[b, 2, 1:], edge[b, 2, :W]
                else:
                    o0 = Q0[0, i + 2]
                    o1r, o1l = Q1[0, i + 1, 1:], Q1[0, i + 1, :W]
                if inplace:
                    _gray_row(pc0, oc0, p0, o0, pc1, oc1, p1r, o1r, p1l, o1l, v[0, i + 1], zc,
                              zn, oc0, oc1, w, s, beta, one)
                else:
                    _gray_row(pc0, oc0, p0, o0, pc1, oc1, p1r, o1r, p1l, o1l, v[0, i + 1], zc,
                              zn, R0[0, i + 1], R1[0, i, 1:], w, s, beta, one)
                zn[W] = zn[W - 1]
                zc, zn = zn, zc
            else:  # last row: no vertical difference (Neumann)
                q0 = oc0 if inplace else R0[0, i + 1]
                q1 = oc1 if inplace else R1[0, i, 1:]
                zr = zc[1:]
                for k in range(W):
                    zk = zc[k]
                    a0 = pc0[k] + beta * (pc0[k] - oc0[k])  # 0 by the Neumann invariant
                    a1 = (pc1[k] + beta * (pc1[k] - oc1[k])) + s * (zr[k] - zk)
                    f = one / max(one, math.sqrt(a0 * a0 + a1 * a1))
                    q0[k] = a0 * f
                    q1[k] = a1 * f


@njit(**_OPTS)
def _fgp_pass_gray_iso(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, nblocks, check, dsum, xsum):
    """:func:`_gray_pass` out of place (``R`` new, ``Q`` previous dual)."""
    _gray_pass(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, nblocks, False, check, dsum, xsum)


@njit(**_OPTS)
def _fgp_pass_gray_iso_inplace(v, P0, P1, Q0, Q1, w, s, beta, nblocks, check, dsum, xsum):
    """:func:`_gray_pass` in place (the new dual overwrites ``Q``)."""
    _gray_pass(v, P0, P1, Q0, Q1, Q0, Q1, w, s, beta, nblocks, True, check, dsum, xsum)


@njit(**_OPTS)
def _fgp_first_gray_iso(v, R0, R1, s, nblocks):
    """A cold start's first pass for one channel and isotropic TV: ``R = proj(s D v)``.

    With a zero dual ``z = v``, so the pass reads ``v`` only (one image instead of five);
    :func:`_fgp_pass` with ``cold`` up to rounding (``0 + a = a``, ``v + w 0 = v``).
    """
    _, H, W = v.shape
    one = v.dtype.type(1.0)
    zero = v.dtype.type(0.0)
    for b in prange(nblocks):
        for i in range(b * H // nblocks, (b + 1) * H // nblocks):
            q0 = R0[0, i + 1]
            q1 = R1[0, i, 1:]
            z = v[0, i]
            zr = z[1:]
            zd = v[0, i + 1] if i + 1 < H else z  # last row: no vertical difference
            for k in range(W - 1):
                a0 = s * (zd[k] - z[k])
                a1 = s * (zr[k] - z[k])
                f = one / max(one, math.sqrt(a0 * a0 + a1 * a1))
                q0[k] = a0 * f
                q1[k] = a1 * f
            a0 = s * (zd[W - 1] - z[W - 1])
            q0[W - 1] = a0 * (one / max(one, abs(a0)))
            q1[W - 1] = zero


@njit(**_OPTS)
def _primal(v, P0, P1, w, x):
    C, H, W = v.shape
    for i in prange(H):
        for c in range(C):
            a0, b0, a1, c1 = P0[c, i + 1], P0[c, i], P1[c, i, 1:], P1[c, i]
            vi = v[c, i]
            xi = x[c, i]
            for k in range(W):
                xi[k] = vi[k] + w * ((a0[k] - b0[k]) + (a1[k] - c1[k]))


def _fgp_loop(v, P0, P1, Q0, Q1, R0, R1, w, iso, cold, max_iter, tol, check_every, nblocks):
    # Driven from Python on purpose: calling the parallel pass from an @njit loop measured
    # ~40% slower per iteration (512x512 float32) than these per-iteration dispatches (~5 us).
    H = v.shape[1]
    dt = v.dtype.type
    dsum = np.zeros(H)
    xsum = np.zeros(H)
    s = dt(1.0) / (dt(8.0) * w)
    fused = FUSED_GRAY and v.shape[0] == 1 and iso  # gray isotropic: one-loop passes
    # no third dual buffer (R0 None): the gray isotropic pass updates the dual in place
    inplace = R0 is None
    if inplace and not fused:
        raise ValueError("only the gray isotropic pass updates the dual in place")
    t, beta, rel, k = 1.0, 0.0, np.inf, 0
    while k < max_iter:
        # tol = 0: never measured (rel_change stays inf), as the test costs an iteration
        check = tol > 0 and k > 0 and ((k - 1) % check_every == 0 or k == max_iter - 1)
        # beta = 0 at the first two passes (t_1 = 1, t_2 = (1 + sqrt 5) / 2): the previous
        # dual Q is read from the third pass on, when it holds the first pass's output.
        if fused and cold and k == 0:
            _fgp_first_gray_iso(v, *((Q0, Q1) if inplace else (R0, R1)), s, nblocks)
        elif fused:
            # out of place with beta = 0: Q (maybe never written yet) is not needed; P stands
            # in for it, except on checking iterations, whose sums read the previous dual
            # (cleared if unwritten). In place, Q is finite (see fgp_numba).
            q0, q1 = (P0, P1) if beta == 0.0 and not check else (Q0, Q1)
            if inplace:
                _fgp_pass_gray_iso_inplace(v, P0, P1, Q0, Q1, w, s, dt(beta), nblocks, check,
                                           dsum, xsum)
            else:
                _fgp_pass_gray_iso(v, P0, P1, q0, q1, R0, R1, w, s, dt(beta), nblocks, check,
                                   dsum, xsum)
        else:
            _fgp_pass(v, P0, P1, Q0, Q1, R0, R1, w, s, dt(beta), cold and k == 0, iso, check,
                      nblocks, dsum, xsum)
        if inplace:  # the new dual is in Q's buffers
            P0, Q0 = Q0, P0
            P1, Q1 = Q1, P1
        else:
            P0, Q0, R0 = R0, P0, Q0
            P1, Q1, R1 = R1, P1, Q1
        t, beta = fista_momentum(t)
        k += 1
        if check:
            rel = math.sqrt(dsum.sum()) / max(math.sqrt(xsum.sum()), 1e-300)
            if tol > 0 and rel <= tol:
                break
    return k, rel, P0, P1


def _zeros_aligned(shape, dtype):
    """Zeros of ``shape`` starting on a 64-byte boundary (a cache line).

    The rows of the buffers with ``W`` columns then start on cache lines when ``W`` is a
    multiple of 16 (float32), and fewer of the passes' vector loads and stores straddle two
    lines (a few percent per iteration at 512x512 float32 in a side-by-side timing; not
    tracked by a benchmark).
    """
    n = int(np.prod(shape))
    item = np.dtype(dtype).itemsize
    raw = np.zeros(n + 64 // item, dtype)
    start = (-raw.ctypes.data % 64) // item
    return raw[start:start + n].reshape(shape)


def fgp_numba(v3, p, w, iso, max_iter, tol, check_every, work=None):
    """FGP on a C-contiguous planar ``(C, H, W)`` image from the dual ``p`` (None: zero).

    ``work`` (a dict owned by the caller) keeps the dual buffers (six, or four when the dual
    is updated in place) between calls: solvers call the prox every iteration, and fresh
    multi-megabyte buffers cost page faults and zeroing (about 3 ms per call at 512x512
    float64, measured inside a FISTA loop). The returned dual views alias those buffers
    until the next call with the same ``work``.

    ``p`` has shape ``(2, C, H, W)``, satisfies the Neumann invariants and lies in the
    constraint set. Returns ``(x, p0, p1, n_iter, rel_change)`` with ``x = v + w div p``.
    """
    C, H, W = v3.shape
    dt = v3.dtype
    # large gray images, isotropic TV: the dual is updated in place (two buffers, not three)
    nbuf = 2 if FUSED_GRAY and C == 1 and iso and H * W * dt.itemsize >= INPLACE_FROM else 3
    key = (C, H, W, dt.str, nbuf)
    bufs = None if work is None else work.get(key)
    if bufs is None:
        bufs = tuple(_zeros_aligned(s, dt) for s in ((C, H + 1, W), (C, H, W + 1)) * nbuf)
        if work is not None:  # one image size at a time: drop buffers of other sizes
            work.clear()
            work[key] = bufs
    # Little clearing. The ghost row / column (index 0, the Neumann boundary) of each buffer
    # is never written, so it stays zero. A cold start's first pass treats the dual as zero
    # without reading it. The general pass reads the previous dual first at the third pass
    # (or in the stopping test after the second one, hence the clear when tol > 0, or in the
    # primal when max_iter = 0). In place, the gray isotropic pass multiplies the previous
    # dual by beta from the second pass on, so it must be finite even where beta = 0: zero
    # (cold) or the warm start itself (a previous dual equal to the dual, momentum-free).
    P0, P1, Q0, Q1, R0, R1 = bufs + (None, None) * (3 - nbuf)
    cold = p is None
    if not cold:
        P0[:, 1:] = p[0]
        P1[:, :, 1:] = p[1]
        if nbuf == 2:
            Q0[:, 1:] = p[0]
            Q1[:, :, 1:] = p[1]
    elif tol > 0 or max_iter == 0 or nbuf == 2:
        P0.fill(0)
        P1.fill(0)
    threads = numba.get_num_threads()
    # Images below 384x384 run on one thread. Two threads gain 1.0-1.4x there on a quiet
    # 2-core machine (benchmarks/tv_threads.py; two runs differed by up to 0.3x), but a
    # parallel region per iteration can stall a whole scheduler time slice (~8 ms) at its
    # barrier whenever another process keeps a core busy: a notebook of 128x128 TV
    # restorations took 581 s with 2 threads and 40 s with one while two other jobs ran.
    serial = threads > 1 and v3.size < SERIAL_BELOW
    # Two blocks per thread: enough to balance, few enough that the rows recomputed at block
    # edges (one per block) cost nothing.
    nblocks = 1 if serial else max(1, min(H, 2 * threads))
    if serial:
        numba.set_num_threads(1)
    try:
        k, rel, P0, P1 = _fgp_loop(v3, P0, P1, Q0, Q1, R0, R1, dt.type(w), bool(iso), cold,
                                   int(max_iter), float(tol), int(check_every), int(nblocks))
        x = np.empty_like(v3)
        _primal(v3, P0, P1, dt.type(w), x)
    finally:
        if serial:
            numba.set_num_threads(threads)
    return x, P0[:, 1:], P1[:, :, 1:], int(k), float(rel)
