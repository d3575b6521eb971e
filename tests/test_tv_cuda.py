"""The fused CUDA TV kernel: its arithmetic on the CPU, its compilation, and (with a GPU) CuPy.

The kernel source (:data:`invrestore.kernels._tv_cuda.SOURCE`) is plain C++: compiled here by
the host compiler behind a shim that runs every "thread" of a launch in a loop, it drives the
same FGP driver (:func:`~invrestore.kernels._tv_cuda.fgp_fused`) on NumPy arrays and must
match the Numba kernel. So the kernel's arithmetic is tested on every machine with a C++
compiler; only the launch itself needs a GPU (the ``gpu``-marked test).
"""

import ctypes
import math

import numpy as np
import pytest

from invrestore.backend import cupy_available, to_device, to_numpy
from invrestore.kernels import tv_prox
from invrestore.kernels._tv_cuda import SOURCE, fgp_fused

from .cuda_host import compile_host, compiles_for_a_gpu

HOST = r"""
#define TV_HOST(NAME, KERNEL, T)                                                            \
extern "C" void NAME(const T* v, const T* P0, const T* P1, const T* Q0, const T* Q1, T* R0, \
                     T* R1, int C, int H, int W, T w, T s, T beta, int cold, int iso)       \
{                                                                                           \
    HOST_GRID_1D((long)H * W, 64,                                                            \
                 KERNEL(v, P0, P1, Q0, Q1, R0, R1, C, H, W, w, s, beta, cold, iso));         \
}
TV_HOST(host_f32, tv_fgp_pass_f32, float)
TV_HOST(host_f64, tv_fgp_pass_f64, double)

// The tiled pass: every block, then every channel; each phase for all threads in turn (what
// __syncthreads() guarantees on the GPU). Shared memory is poisoned with NaN for each block.
#define TV_TILE_HOST(NAME, T)                                                                \
extern "C" void NAME(const T* v, const T* P0, const T* P1, const T* Q0, const T* Q1, T* R0, \
                     T* R1, int C, int H, int W, T w, T s, T beta, int cold, int iso)       \
{                                                                                           \
    static T r0s[TV_R0_N], r1s[TV_R1_N], zs[TV_Z_N];                                        \
    const T nan = std::numeric_limits<T>::quiet_NaN();                                      \
    for (int y0 = 0; y0 < H; y0 += TV_TY)                                                   \
        for (int x0 = 0; x0 < W; x0 += TV_TX)                                               \
            for (int c = 0; c < C; ++c) {                                                   \
                const long base = (long)c * H * W;                                          \
                for (int e = 0; e < TV_R0_N; ++e) r0s[e] = nan;                             \
                for (int e = 0; e < TV_R1_N; ++e) r1s[e] = nan;                             \
                for (int e = 0; e < TV_Z_N; ++e) zs[e] = nan;                               \
                for (int t = 0; t < TV_THREADS; ++t)                                        \
                    tv_tile_duals<T>(P0, P1, Q0, Q1, base, H, W, beta, cold, y0, x0, t,     \
                                     r0s, r1s);                                             \
                for (int t = 0; t < TV_THREADS; ++t)                                        \
                    tv_tile_z<T>(v, base, H, W, w, y0, x0, t, r0s, r1s, zs);                \
                for (int t = 0; t < TV_THREADS; ++t)                                        \
                    tv_tile_out<T>(R0, R1, base, H, W, s, iso, y0, x0, t, r0s, r1s, zs);    \
            }                                                                               \
}
TV_TILE_HOST(host_tile_f32, float)
TV_TILE_HOST(host_tile_f64, double)

// The strip pass: no synchronisation, so every thread of every block in turn.
#define TV_STRIP_HOST(NAME, KERNEL, T)                                                       \
extern "C" void NAME(const T* v, const T* P0, const T* P1, const T* Q0, const T* Q1, T* R0, \
                     T* R1, int C, int H, int W, T w, T s, T beta, int cold, int iso,       \
                     int rows)                                                              \
{                                                                                           \
    HOST_GRID_STRIPS(W, H, rows, 16,                                                        \
                     KERNEL(v, P0, P1, Q0, Q1, R0, R1, C, H, W, w, s, beta, cold, iso, rows)); \
}
TV_STRIP_HOST(host_strip_f32, tv_fgp_strip_f32, float)
TV_STRIP_HOST(host_strip_f64, tv_fgp_strip_f64, double)
TV_STRIP_HOST(host_stripv_f32, tv_fgp_stripv_f32, float)
TV_STRIP_HOST(host_stripv_f64, tv_fgp_stripv_f64, double)

#define TV_STRIP2_HOST(NAME, KERNEL, T)                                                      \
extern "C" void NAME(const T* v, const T* P0, const T* P1, const T* Q0, const T* Q1, T* R0, \
                     T* R1, T* S0, T* S1, int C, int H, int W, T w, T s, T beta1, T beta2,  \
                     int cold, int iso, int rows)                                           \
{                                                                                           \
    HOST_GRID_STRIPS(W, H, rows, 16,                                                        \
                     KERNEL(v, P0, P1, Q0, Q1, R0, R1, S0, S1, C, H, W, w, s, beta1, beta2,  \
                            cold, iso, rows));                                              \
}
TV_STRIP2_HOST(host_strip2_f32, tv_fgp_strip2_f32, float)
TV_STRIP2_HOST(host_strip2_f64, tv_fgp_strip2_f64, double)

// The stopping test's partial sums (strip grid) and the primal (one thread per value).
#define TV_CHECK_HOST(NAME, KERNEL, T)                                                       \
extern "C" void NAME(const T* v, const T* P0, const T* P1, const T* Q0, const T* Q1,       \
                     double* sums, int C, int H, int W, T w, int rows, int nstrips)         \
{                                                                                           \
    HOST_GRID_STRIPS(W, H, rows, 16,                                                        \
                     KERNEL(v, P0, P1, Q0, Q1, sums, C, H, W, w, rows, nstrips));           \
}
TV_CHECK_HOST(host_check_f32, tv_check_f32, float)
TV_CHECK_HOST(host_check_f64, tv_check_f64, double)

#define TV_PRIMAL_HOST(NAME, KERNEL, T)                                                      \
extern "C" void NAME(const T* v, const T* P0, const T* P1, T* X, int C, int H, int W, T w) \
{                                                                                           \
    HOST_GRID_1D((long)C * H * W, 64, KERNEL(v, P0, P1, X, C, H, W, w));                    \
}
TV_PRIMAL_HOST(host_primal_f32, tv_primal_f32, float)
TV_PRIMAL_HOST(host_primal_f64, tv_primal_f64, double)
"""


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    dll = compile_host(tmp_path_factory, "tv", SOURCE + HOST)
    kinds = ("", "tile_", "strip_", "strip2_", "check_", "primal_", "stripv_")
    return {np.dtype(dtype): tuple(getattr(dll, f"host_{kind}{suffix}") for kind in kinds)
            + (cscalar,)
            for dtype, suffix, cscalar in ((np.float32, "f32", ctypes.c_float),
                                           (np.float64, "f64", ctypes.c_double))}


def _ptrs(arrays):
    return tuple(a.ctypes.data_as(ctypes.c_void_p) for a in arrays)


def _launcher(host_kernels, dtype, variant="pixel", rows=3):
    """Host twin of :func:`cupy_launcher`: the same choice between the passes."""
    (pixel, tile, strip, strip2, checker, primal_kernel, stripv,
     cscalar) = host_kernels[np.dtype(dtype)]
    width = 16 // np.dtype(dtype).itemsize

    def launch(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, cold, iso):
        arrays = (v, P0, P1, Q0, Q1, R0, R1)
        assert all(a.flags.c_contiguous and a.dtype == v.dtype for a in arrays)
        C, H, W = v.shape
        fn = {"pixel": pixel, "tile": tile, "strip": strip, "strip2": strip,
              "stripv": stripv if W % width == 0 else strip}[variant]
        if C > 1 and iso:
            fn = pixel
        extra = (ctypes.c_int(rows),) if fn in (strip, stripv) else ()
        fn(*(a.ctypes.data_as(ctypes.c_void_p) for a in arrays), ctypes.c_int(C),
           ctypes.c_int(H), ctypes.c_int(W), cscalar(w), cscalar(s), cscalar(beta),
           ctypes.c_int(int(cold)), ctypes.c_int(int(iso)), *extra)

    def pair(v, P0, P1, Q0, Q1, R0, R1, S0, S1, w, s, beta1, beta2, cold, iso):
        arrays = (v, P0, P1, Q0, Q1, R0, R1, S0, S1)
        assert all(a.flags.c_contiguous and a.dtype == v.dtype for a in arrays)
        C, H, W = v.shape
        strip2(*(a.ctypes.data_as(ctypes.c_void_p) for a in arrays), ctypes.c_int(C),
               ctypes.c_int(H), ctypes.c_int(W), cscalar(w), cscalar(s), cscalar(beta1),
               cscalar(beta2), ctypes.c_int(int(cold)), ctypes.c_int(int(iso)),
               ctypes.c_int(rows))

    def check(v, P0, P1, Q0, Q1, w):
        C, H, W = v.shape
        nstrips = -(-H // rows)
        sums = np.full(2 * nstrips * W, np.nan)  # every entry must be written
        checker(*_ptrs((v, P0, P1, Q0, Q1, sums)), ctypes.c_int(C), ctypes.c_int(H),
                ctypes.c_int(W), cscalar(w), ctypes.c_int(rows), ctypes.c_int(nstrips))
        ds, xs = sums.reshape(2, -1).sum(axis=1)
        return math.sqrt(ds) / max(math.sqrt(xs), 1e-300)

    def primal(v, P0, P1, w):
        C, H, W = v.shape
        x = np.full_like(v, np.nan)
        primal_kernel(*_ptrs((v, P0, P1, x)), ctypes.c_int(C), ctypes.c_int(H), ctypes.c_int(W),
                      cscalar(w))
        return x

    launch.pair = pair if variant == "strip2" else None
    launch.check = check
    launch.primal = primal
    return launch


def _planar(v):
    return np.ascontiguousarray(np.moveaxis(v, -1, 0) if v.ndim == 3 else v[None])


@pytest.mark.parametrize("variant", ["pixel", "tile", "strip", "strip2", "stripv"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(9, 11), (1, 7), (6, 1), (8, 5, 3), (37, 70), (17, 33, 2),
                                   (9, 12), (1, 4), (17, 36, 2)])
@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize(("max_iter", "tol"), [(0, 0.0), (1, 0.0), (2, 0.0), (13, 0.0),
                                               (300, 1e-4)])
def test_host_compiled_kernel_matches_numba(host_kernels, variant, dtype, shape, isotropic,
                                            max_iter, tol):
    rng = np.random.default_rng(sum(shape) + max_iter)
    v = rng.random(shape).astype(dtype)
    w = 0.15
    ref, info = tv_prox(v, w, isotropic=isotropic, max_iter=max_iter, tol=tol,
                        return_info=True, impl="numba")
    x3, p0, p1, k, rel = fgp_fused(_planar(v), None, w, isotropic, max_iter, tol, 5,
                                   _launcher(host_kernels, dtype, variant), np)
    x = np.moveaxis(x3, 0, -1) if v.ndim == 3 else x3[0]
    atol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(x, ref, atol=atol)
    assert k == info.n_iter
    # the fused stopping test measures what the Numba kernel's does (same products, double
    # sums in another order; in float32 the measured change, a difference of nearly equal
    # iterates, carries the iterates' rounding differences, relatively large near the end)
    np.testing.assert_allclose(rel, info.rel_change, rtol=1e-2 if dtype == np.float32 else 1e-9)
    dual = np.stack([p0, p1])
    dual = np.moveaxis(dual, 1, -1) if v.ndim == 3 else dual[:, 0]
    np.testing.assert_allclose(dual, info.dual, atol=10 * atol)


@pytest.mark.parametrize(("variant", "rows"), [("pixel", 3), ("tile", 3), ("strip", 1),
                                               ("strip", 4), ("strip", 5), ("strip", 64),
                                               ("strip2", 1), ("strip2", 3), ("strip2", 64),
                                               ("stripv", 1), ("stripv", 3), ("stripv", 64)])
@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize("channels", [3, 1])
def test_host_compiled_kernel_warm_start(host_kernels, isotropic, variant, rows, channels):
    rng = np.random.default_rng(1)
    v = rng.random((10, 12, channels))
    _, info = tv_prox(v, 0.2, isotropic=isotropic, max_iter=7, tol=0.0, return_info=True)
    ref = tv_prox(v + 0.01, 0.2, isotropic=isotropic, max_iter=9, tol=0.0, dual=info.dual)
    p = np.moveaxis(info.dual, -1, 1)  # (2, C, H, W)
    x3, *_ = fgp_fused(_planar(v + 0.01), np.ascontiguousarray(p), 0.2, isotropic, 9, 0.0, 5,
                       _launcher(host_kernels, np.float64, variant, rows), np)
    np.testing.assert_allclose(np.moveaxis(x3, 0, -1), ref, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 1), (1, 9, 11), (3, 6, 13)])
@pytest.mark.parametrize("rows", [1, 4, 64])
def test_host_check_and_primal_kernels(host_kernels, dtype, shape, rows):
    """Stopping sums and primal against the Numba kernel's: every strip and channel counted."""
    from invrestore.kernels import _tv_numba

    rng = np.random.default_rng(sum(shape) + rows)
    v = rng.random(shape).astype(dtype)
    C, H, W = shape

    def dual():  # in the constraint set, with the Neumann invariants
        p = rng.uniform(-0.7, 0.7, (2,) + shape).astype(dtype)
        p[0, :, -1] = 0
        p[1, :, :, -1] = 0
        return p

    P, Q = dual(), dual()
    launch = _launcher(host_kernels, dtype, rows=rows)
    w = dtype(0.3)
    rel = launch.check(v, P[0].copy(), P[1].copy(), Q[0].copy(), Q[1].copy(), w)
    x = launch.primal(v, P[0].copy(), P[1].copy(), w)

    def padded(p):  # the Numba kernel's buffers: a zero ghost row / column in front
        P0 = np.zeros((C, H + 1, W), dtype)
        P1 = np.zeros((C, H, W + 1), dtype)
        P0[:, 1:], P1[:, :, 1:] = p[0], p[1]
        return P0, P1

    (P0, P1), (Q0, Q1) = padded(P), padded(Q)
    ds = dx = 0.0
    for c in range(C):
        for i in range(H):
            d, s = _tv_numba._check_row(P0[c, i + 1], P0[c, i], P1[c, i, 1:], P1[c, i],
                                            Q0[c, i + 1], Q0[c, i], Q1[c, i, 1:], Q1[c, i],
                                            v[c, i], w)
            ds, dx = ds + d, dx + s
    np.testing.assert_allclose(rel, math.sqrt(ds) / math.sqrt(dx), rtol=1e-12)
    ref = np.empty_like(v)
    _tv_numba._primal(v, P0, P1, w, ref)
    # to rounding: the Numba kernel may fuse the multiply-add, the host build does not
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-6 if dtype == np.float32 else 1e-15)


def test_source_compiles_for_a_gpu(tmp_path):
    compiles_for_a_gpu(tmp_path, "tv", SOURCE, [
        f"tv_{kind}_{t}" for kind in ("fgp_pass", "fgp_tile", "fgp_strip", "fgp_strip2",
                                      "fgp_stripv", "check", "primal") for t in ("f32", "f64")])


def test_auto_times_the_candidates_once_per_key(monkeypatch):
    from invrestore.kernels import _tv_cuda

    monkeypatch.setattr(_tv_cuda, "_auto_chosen", {})
    monkeypatch.setattr(_tv_cuda, "AUTO_CANDIDATES", (("strip", 8), ("stripv", 8), ("stripv", 4)))
    times = {("strip", 8): 2.0, ("stripv", 8): 1.0, ("stripv", 4): 1.5}
    ran = []

    def fake_time(run, repeat=3):
        run()
        return times[ran[-1]]

    monkeypatch.setattr(_tv_cuda, "device_time_ms", fake_time)

    def run(name, target):
        ran.append((name, target))

    assert _tv_cuda._auto_pass("a", run) == ("stripv", 8)
    assert _tv_cuda._auto_pass("a", run) == ("stripv", 8)
    assert ran == [("strip", 8), ("stripv", 8), ("stripv", 4)]
    times[("strip", 8)] = 0.5
    assert _tv_cuda._auto_pass("b", run) == ("strip", 8)
    with pytest.raises(ValueError, match="auto"):
        _tv_cuda.cupy_launcher(np.float32, "fastest")


def test_auto_leaves_out_a_vector_pass_that_fails_its_check(monkeypatch):
    from invrestore.kernels import _tv_cuda

    monkeypatch.setattr(_tv_cuda, "_auto_chosen", {})
    monkeypatch.setattr(_tv_cuda, "_vector_ok", {})
    monkeypatch.setattr(_tv_cuda, "device_time_ms", lambda run, repeat=3: run())
    times = {("strip", 1 << 19): 2.0, ("strip", 1 << 18): 3.0, ("stripv", 1 << 18): 1.0,
             ("stripv", 1 << 17): 1.5}
    ran = []

    def run(name, target):
        ran.append(name)
        return times[name, target]

    calls = []

    def disagrees():
        calls.append(1)
        return False

    with pytest.warns(RuntimeWarning, match="disagrees"):
        ok = _tv_cuda._vector_agrees((0, np.dtype(np.float32)), disagrees)
    assert not ok and not _tv_cuda._vector_agrees((0, np.dtype(np.float32)), disagrees)
    assert calls == [1]  # checked once per device and dtype
    assert _tv_cuda._auto_pass("a", run, vector_ok=ok) == ("strip", 1 << 19)
    assert ran == ["strip", "strip"]

    def fails():
        raise RuntimeError("no kernel")

    with pytest.warns(RuntimeWarning, match="failed on device 1 .no kernel."):
        assert not _tv_cuda._vector_agrees((1, np.dtype(np.float64)), fails)
    assert _tv_cuda._vector_agrees((2, np.dtype(np.float32)), lambda: True)
    assert _tv_cuda._auto_pass("b", run, vector_ok=True) == ("stripv", 1 << 18)


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(33, 47), (20, 18, 3), (300, 270), (64, 96), (7, 40, 2)])
@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize("variant", ["strip", "strip2", "tile", "pixel", "stripv", "auto"])
def test_cupy_fused_kernel_matches_numba(dtype, shape, isotropic, variant, monkeypatch):
    from invrestore.kernels import _tv_cuda

    monkeypatch.setattr(_tv_cuda, "DEFAULT_VARIANT", variant)
    monkeypatch.setattr(_tv_cuda, "AUTO_FROM", 1000)  # "auto" times the passes here too
    v = np.random.default_rng(2).random(shape).astype(dtype)
    for max_iter, tol in ((25, 0.0), (300, 1e-4)):
        ref, info = tv_prox(v, 0.1, isotropic=isotropic, max_iter=max_iter, tol=tol,
                            return_info=True)
        got, ginfo = tv_prox(to_device(v, "cupy"), 0.1, isotropic=isotropic,
                             max_iter=max_iter, tol=tol, return_info=True, impl="cuda")
        atol = 2e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(to_numpy(got), ref, atol=atol)
        np.testing.assert_allclose(to_numpy(ginfo.dual), info.dual, atol=10 * atol)
        assert ginfo.n_iter == info.n_iter


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_vector_pass_passes_its_check(dtype):
    from invrestore.kernels import _tv_cuda

    assert _tv_cuda.cupy_launcher(dtype, "auto").vector_check()


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
def test_cupy_vector_pass_on_a_misaligned_view(monkeypatch):
    # an image 4 bytes off a 16-byte boundary: the vector pass must fall back, not fault
    import cupy as cp

    from invrestore.kernels import _tv_cuda

    monkeypatch.setattr(_tv_cuda, "DEFAULT_VARIANT", "stripv")
    v = np.random.default_rng(5).random((40, 64)).astype(np.float32)
    flat = cp.zeros(v.size + 1, cp.float32)
    view = flat[1:].reshape(v.shape)
    view[...] = cp.asarray(v)
    assert view.data.ptr % 16 != 0 and view.flags.c_contiguous
    ref = tv_prox(v, 0.1, max_iter=30, tol=0.0)
    got = tv_prox(view, 0.1, max_iter=30, tol=0.0, impl="cuda")
    np.testing.assert_allclose(to_numpy(got), ref, atol=2e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("isotropic", [True, False])
def test_host_vector_pass_is_the_strip_pass_to_the_bit(host_kernels, dtype, isotropic):
    # same expressions in the same order: on the host build (no contraction) the passes agree
    # exactly, so "auto" choosing either changes no result there
    v = _planar(np.random.default_rng(8).random((21, 40)).astype(dtype))
    outs = []
    for variant in ("strip", "stripv"):
        x3, p0, p1, _, _ = fgp_fused(v, None, 0.12, isotropic, 17, 0.0, 5,
                                     _launcher(host_kernels, dtype, variant, rows=4), np)
        outs.append((x3, p0, p1))
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
