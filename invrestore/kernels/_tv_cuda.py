"""Launchers and FISTA driver of the fused CUDA TV prox (FGP on the dual) for CuPy arrays.

The maths is that of :mod:`invrestore.kernels.tv` and the Numba kernel
(:mod:`invrestore.kernels._tv_numba`): one launch per FGP iteration computes, for every pixel,

    r = P + beta (P - Q),   z = v + w div r,   R = proj(r + s D z),   s = 1 / (8 w),

reading ``v``, ``P``, ``Q`` and writing ``R`` once (the array-code version in
:func:`invrestore.kernels.tv._fgp_xp` makes about fifteen passes over memory per iteration).
The kernels are in :mod:`invrestore.kernels._tv_cuda_source`; the versions of the pass
(:data:`VARIANTS`):

* ``"pixel"``: one thread per pixel; the neighbours' ``r`` and ``z`` it needs are recomputed
  from cached reads (three ``z`` and about thirty loads per pixel);
* ``"tile"``: one block per 16x32 tile through shared memory, each ``r`` and ``z`` formed once;
* ``"strip"``: one thread per column of a strip of rows, walking down with the previous row in
  registers (no shared memory, no synchronisation);
* ``"stripv"``: the strip pass with 16 bytes of consecutive columns per thread (4 floats or 2
  doubles) read and written with vector loads and stores: a warp moves 512 contiguous bytes of
  each array per row, with a quarter of the load instructions (rows of a multiple of 4 floats
  or 2 doubles; the strip pass otherwise). Not yet timed on a GPU;
* ``"strip2"``: two FGP passes per launch wherever no stopping test falls between them, the
  first pass computed for the three columns around the thread's (9 image-sized arrays moved
  per two passes instead of 14). Slower than ``"strip"`` on an H200 (21.8 against 18.9 ms,
  with 16, 32 or 64 rows per strip alike): the pass is not bound by memory traffic alone, and
  the recomputed columns cost more than the traffic saved. Kept for other devices to try.

100 passes on 4096x4096 float32 (``benchmarks/gpu_check.py``): strip 18.9 ms on an H200 and
21.7 ms on an H100, tile 31.5 / 32.3 ms, pixel 45.5 / 53.0 ms; the array code 255 ms.

:data:`DEFAULT_VARIANT` is ``"auto"``: for images of :data:`AUTO_FROM` values or more, the first
pass of each image shape on each device times the :data:`AUTO_CANDIDATES` (the strip and vector
strip passes at two strip heights each; a full pass each, a warm-up and three timed runs, on
the call's own buffers) and keeps the fastest; smaller images run ``"strip"``. Before the vector
pass is first timed on a device, it is checked against the strip pass on a small random image
(:data:`VECTOR_CHECK_TOL`, both dtypes' passes, both TV forms): a failure to compile, launch
or agree warns once and leaves "auto" to the strip pass there.

Vectorial isotropic TV of several channels (the channels of a pixel coupled in one thread)
runs the per-pixel pass.

The stopping test (every ``CHECK_EVERY`` iterations when ``tol > 0``) is one launch of
``tv_check_*`` writing partial sums in float64, one reduction and one copy of two numbers to
the host; the final ``x = v + w div p`` is one launch of ``tv_primal_*``. Both use the Numba
kernel's expressions, so the test measures what the CPU's does and stops at the same
iteration. (In array operations the test took about fifteen launches and two copies to the
host: what a small image pays per check, on top of its passes.)
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np

from ..backend import cupy_module, device_time_ms
from ._tv_cuda_source import BASE, SOURCE
from .tv import fista_momentum

__all__ = ["DEFAULT_VARIANT", "SOURCE", "TILE", "TILE_THREADS", "VARIANTS", "cupy_launcher",
           "fgp_fused", "strip_rows"]

#: Tile of the tiled pass (``TV_TY x TV_TX`` in :data:`SOURCE`) and its threads per block.
TILE = (16, 32)
TILE_THREADS = 256

#: Threads per block of the pass.
THREADS = 256


@functools.cache
def _module():
    """The compiled passes, and whether the alternative strip passes ("stripv", "strip2") are
    among them: should they fail to compile with this CUDA's NVRTC, the base passes are
    compiled alone (with a warning) and run in their place."""
    cp = cupy_module()
    full = cp.RawModule(code=SOURCE, options=("--std=c++14",))
    try:
        full.get_function("tv_fgp_stripv_f32")  # compiles the module
    except Exception as exc:  # noqa: BLE001  (NVRTC's compile error, whatever its class)
        warnings.warn(f"invrestore: the vector and two-pass TV strip passes did not compile "
                      f"({exc}); using the strip pass", RuntimeWarning, stacklevel=2)
        return cp.RawModule(code=BASE, options=("--std=c++14",)), False
    return full, True


#: Passes of :func:`cupy_launcher`: "strip", "stripv" (vector loads), "strip2" (two passes per
#: sweep where no stopping test falls between them), "tile" (shared memory) and "pixel".
VARIANTS = ("strip", "stripv", "strip2", "tile", "pixel")

#: The pass :func:`~invrestore.kernels.tv.tv_prox` uses: one of :data:`VARIANTS` or "auto"
#: (``benchmarks/gpu_check.py`` times all of them).
DEFAULT_VARIANT = "auto"

#: What "auto" times: (pass, thread target of its strips) pairs, the strip pass's and the vector
#: pass's default strip heights and twice those (32 / 64 and 16 / 32 rows at 4096x4096 float32);
#: and the image size (values) from which it does.
AUTO_CANDIDATES = (("strip", 1 << 19), ("strip", 1 << 18), ("stripv", 1 << 18),
                   ("stripv", 1 << 17))
AUTO_FROM = 1 << 20

_auto_chosen = {}  # (device id, dtype, C, H, W, iso) -> (pass, thread target)
_vector_ok = {}  # (device id, dtype) -> the vector pass agrees with the strip pass there

#: Largest difference of the vector pass's duals to the strip pass's in its check, by dtype
#: (the duals are at most 1 in magnitude; the passes differ at most by where the compiler
#: fuses a multiply-add).
VECTOR_CHECK_TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}

#: Threads per block of the strip pass (consecutive columns).
STRIP_THREADS = 128


#: Threads the strip passes aim for (``strip_rows``).
STRIP_TARGET_THREADS = 1 << 19


def strip_rows(H, W, target_threads=None):
    """Rows per strip: enough strips for about ``target_threads`` threads, 4 to 64 rows."""
    target = STRIP_TARGET_THREADS if target_threads is None else target_threads
    return int(min(64, max(4, (H * W) // target)))


def stripv_rows(H, W, width, target_threads=None):
    """Rows per strip of the vector strip pass (``width`` columns per thread); by default for
    half the strip pass's thread target (each thread moves ``width`` times the bytes per row)."""
    target = STRIP_TARGET_THREADS // 2 if target_threads is None else target_threads
    return strip_rows(H, max(1, W // width), target)


def _vector_width(dtype):
    return 16 // np.dtype(dtype).itemsize


def cupy_launcher(dtype, variant=None):
    """``launch(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, cold, iso)`` running one fused pass.

    It carries the driver's other kernels as attributes: ``launch.pair`` (two passes, or
    None), ``launch.check`` (the stopping test) and ``launch.primal`` (``x = v + w div p``).

    ``variant`` (:data:`VARIANTS`) applies to one channel or anisotropic TV; vectorial
    isotropic TV of several channels always runs the per-pixel pass.
    """
    variant = DEFAULT_VARIANT if variant is None else variant
    if variant not in VARIANTS + ("auto",):
        raise ValueError(f"variant must be one of {VARIANTS + ('auto',)}, got {variant!r}")
    return _launcher(np.dtype(dtype), variant)


def _vector_agrees(key, check):
    """Whether the vector pass may run on ``key`` (device id, dtype): ``check()`` (True when it
    agrees with the strip pass) run once; a failure or disagreement warns once."""
    if key not in _vector_ok:
        try:
            ok = bool(check())
        except Exception as exc:  # noqa: BLE001  (compilation or launch failure)
            ok = False
            warnings.warn(f"invrestore: the vector TV pass failed on device {key[0]} ({exc}); "
                          "using the strip pass", RuntimeWarning, stacklevel=4)
        else:
            if not ok:
                warnings.warn(f"invrestore: the vector TV pass disagrees with the strip pass on "
                              f"device {key[0]} ({key[1]}); using the strip pass",
                              RuntimeWarning, stacklevel=4)
        _vector_ok[key] = ok
    return _vector_ok[key]


def _auto_pass(key, run, vector_ok=True):
    """The fastest of :data:`AUTO_CANDIDATES` (without the vector pass unless ``vector_ok``)
    for ``key``, timed once with ``run(name, target)``; returns ``(name, target)``."""
    if key not in _auto_chosen:
        candidates = [c for c in AUTO_CANDIDATES if vector_ok or c[0] != "stripv"]
        times = {c: device_time_ms(functools.partial(run, *c)) for c in candidates}
        _auto_chosen[key] = min(times, key=times.get)
    return _auto_chosen[key]


@functools.cache
def _launcher(dtype, variant):
    # cached: a solver calls the prox every iteration, and looking the kernels up in the
    # module is a driver call each
    suffix = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}[dtype]
    module, alternatives = _module()
    kernels = {name: module.get_function(f"tv_fgp_{name}_{suffix}")
               for name in ("pass", "tile", "strip")}
    kernels["stripv"] = module.get_function(f"tv_fgp_stripv_{suffix}") if alternatives else None
    two = (module.get_function(f"tv_fgp_strip2_{suffix}")
           if variant == "strip2" and alternatives else None)
    ty = dtype.type
    width = _vector_width(dtype)

    def run(name, args, target=None):
        # one pass of variant `name` ("strip2" runs lone passes as "strip"); `target`: the
        # strip passes' thread target (None: their default)
        C, H, W = (int(a) for a in args[7:10])
        iso = bool(args[14])
        if name == "pixel" or (C > 1 and iso):
            kernels["pass"](((H * W + THREADS - 1) // THREADS,), (THREADS,), args)
        elif name == "tile":
            grid = ((W + TILE[1] - 1) // TILE[1], (H + TILE[0] - 1) // TILE[0])
            kernels["tile"](grid, (TILE_THREADS,), args)
        elif (name == "stripv" and kernels["stripv"] is not None and W % width == 0
              and args[0].data.ptr % 16 == 0):
            # (16-byte accesses: rows of a multiple of 16 bytes, v aligned; the duals are
            # fresh allocations)
            rows = stripv_rows(H, W, width, target)
            groups = W // width
            grid = ((groups + STRIP_THREADS - 1) // STRIP_THREADS, (H + rows - 1) // rows)
            kernels["stripv"](grid, (STRIP_THREADS,), args + (np.int32(rows),))
        else:
            rows = strip_rows(H, W, target)
            grid = ((W + STRIP_THREADS - 1) // STRIP_THREADS, (H + rows - 1) // rows)
            kernels["strip"](grid, (STRIP_THREADS,), args + (np.int32(rows),))

    def launch(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, cold, iso):
        C, H, W = v.shape
        args = (v, P0, P1, Q0, Q1, R0, R1, np.int32(C), np.int32(H), np.int32(W), ty(w),
                ty(s), ty(beta), np.int32(cold), np.int32(iso))
        name, target = variant, None
        if name == "auto":
            name = "strip"
            if C * H * W >= AUTO_FROM and not (C > 1 and iso):
                # timed as a full pass (P and Q read), whatever this pass's own flags; the
                # pass is then run with them, overwriting R
                full = args[:12] + (ty(0.5), np.int32(0), args[14])
                dev = cupy_module().cuda.Device().id
                vector_ok = _vector_agrees((dev, dtype), vector_check)
                name, target = _auto_pass((dev, dtype, C, H, W, bool(iso)),
                                          lambda nm, tg: run(nm, full, tg), vector_ok)
        run(name, args, target)

    def vector_check():
        # one full pass of each on a random 37x72 image (partial strips and blocks, rows of
        # whole vectors): anisotropic TV of two channels and isotropic TV of one (isotropic
        # TV of several runs the per-pixel pass); the duals compared
        if kernels["stripv"] is None:
            raise RuntimeError("the vector pass did not compile")
        cp = cupy_module()
        rng = np.random.default_rng(0)
        for C, iso in ((2, 0), (1, 1)):
            shape = (C, 37, 72)
            v = cp.asarray(rng.standard_normal(shape).astype(dtype))
            P0, P1, Q0, Q1 = (cp.asarray(rng.uniform(-0.5, 0.5, shape).astype(dtype))
                              for _ in range(4))
            outs = []
            for name in ("strip", "stripv"):
                R0, R1 = cp.full(shape, np.nan, dtype), cp.full(shape, np.nan, dtype)
                run(name, (v, P0, P1, Q0, Q1, R0, R1, np.int32(C), np.int32(37),
                           np.int32(72), ty(0.3), ty(1 / 2.4), ty(0.4), np.int32(0),
                           np.int32(iso)))
                outs.append(cp.stack((R0, R1)))
            err = float(cp.abs(outs[1] - outs[0]).max())  # NaN: an unwritten output fails
            if not err <= VECTOR_CHECK_TOL[dtype]:
                return False
        return True

    def pair(v, P0, P1, Q0, Q1, R0, R1, S0, S1, w, s, beta1, beta2, cold, iso):
        C, H, W = v.shape
        rows = strip_rows(H, W)
        grid = ((W + STRIP_THREADS - 1) // STRIP_THREADS, (H + rows - 1) // rows)
        two(grid, (STRIP_THREADS,), (v, P0, P1, Q0, Q1, R0, R1, S0, S1, np.int32(C),
                                     np.int32(H), np.int32(W), ty(w), ty(s), ty(beta1),
                                     ty(beta2), np.int32(cold), np.int32(iso), np.int32(rows)))

    checker = module.get_function(f"tv_check_{suffix}")
    primal_kernel = module.get_function(f"tv_primal_{suffix}")
    cp = cupy_module()

    def check(v, P0, P1, Q0, Q1, w):
        # one launch for the partial sums, one reduction, one copy to the host
        C, H, W = v.shape
        rows = strip_rows(H, W)
        nstrips = (H + rows - 1) // rows
        sums = cp.empty(2 * nstrips * W, np.float64)
        grid = ((W + STRIP_THREADS - 1) // STRIP_THREADS, nstrips)
        checker(grid, (STRIP_THREADS,), (v, P0, P1, Q0, Q1, sums, np.int32(C), np.int32(H),
                                         np.int32(W), ty(w), np.int32(rows),
                                         np.int32(nstrips)))
        ds, xs = (float(a) for a in sums.reshape(2, -1).sum(axis=1).get())
        return math.sqrt(ds) / max(math.sqrt(xs), 1e-300)

    def primal(v, P0, P1, w):
        C, H, W = v.shape
        x = cp.empty_like(v)
        primal_kernel(((v.size + THREADS - 1) // THREADS,), (THREADS,),
                      (v, P0, P1, x, np.int32(C), np.int32(H), np.int32(W), ty(w)))
        return x

    # passes k, k + 1 in one launch: (v, P, Q, R, S, w, s, beta_k, beta_k+1, cold, iso) writes
    # R = p_{k+2} and S = p_{k+1}; None where the variant has no such kernel
    launch.pair = pair if two is not None else None
    # check(v, P, Q, w): the stopping test's ||x_k - x_{k-1}|| / ||x_k|| from the duals;
    # primal(v, P, w): x = v + w div P (a new array)
    launch.check = check
    launch.primal = primal
    # vector_check(): whether the vector pass agrees with the strip pass on this device
    launch.vector_check = vector_check
    return launch


def fgp_fused(v3, p, w, iso, max_iter, tol, check_every, launch, xp):
    """FGP driven by a fused one-pass-per-iteration kernel ``launch`` (see :func:`cupy_launcher`).

    Same iteration, stopping rule and return values as the Numba driver
    (:func:`invrestore.kernels._tv_numba.fgp_numba`): ``v3`` planar ``(C, H, W)``
    C-contiguous, ``p`` None (zero) or ``(2, C, H, W)`` in the constraint set. Returns
    ``(x, p0, p1, n_iter, rel_change)``. ``xp`` is the array module of ``v3``.
    """
    dt = v3.dtype.type
    P0, P1, Q0, Q1, R0, R1 = (xp.empty(v3.shape, v3.dtype) for _ in range(6))
    pair = getattr(launch, "pair", None)
    if pair is not None and v3.shape[0] > 1 and iso:
        pair = None  # vectorial TV runs the per-pixel pass
    S0, S1 = ((xp.empty(v3.shape, v3.dtype), xp.empty(v3.shape, v3.dtype))
              if pair is not None else (None, None))
    cold = p is None
    if not cold:
        P0[...] = p[0]
        P1[...] = p[1]
    elif tol > 0 or max_iter == 0:
        # read by the first stopping test (after the second pass) or by the primal
        P0.fill(0)
        P1.fill(0)
    s = dt(1.0) / (dt(8.0) * dt(w))

    def is_check(k):
        return tol > 0 and k > 0 and ((k - 1) % check_every == 0 or k == max_iter - 1)

    t, beta, rel, k = 1.0, 0.0, math.inf, 0
    while k < max_iter:
        if (pair is not None and k + 1 < max_iter and not is_check(k)
                and not is_check(k + 1)):
            t1, beta1 = fista_momentum(t)
            pair(v3, P0, P1, Q0, Q1, R0, R1, S0, S1, dt(w), s, dt(beta), dt(beta1),
                 cold and k == 0, bool(iso))
            P0, Q0, R0, S0 = R0, S0, P0, Q0
            P1, Q1, R1, S1 = R1, S1, P1, Q1
            t, beta = fista_momentum(t1)
            k += 2
            continue
        # the test of the Numba driver: ||x_k - x_{k-1}|| / ||x_k|| from the duals P, Q,
        # measured at k = 1, 1 + m, ... and at the last iteration, before that pass
        if is_check(k):
            rel = launch.check(v3, P0, P1, Q0, Q1, dt(w))
            check = True
        else:
            check = False
        # beta = 0 at the first two passes: Q is first read by the third (or by the test)
        launch(v3, P0, P1, Q0, Q1, R0, R1, dt(w), s, dt(beta), cold and k == 0, bool(iso))
        P0, Q0, R0 = R0, P0, Q0
        P1, Q1, R1 = R1, P1, Q1
        t, beta = fista_momentum(t)
        k += 1
        if check and rel <= tol:
            break
    return launch.primal(v3, P0, P1, dt(w)), P0, P1, k, rel
