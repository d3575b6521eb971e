"""The TF32 tensor-core convolution: its source built for the CPU (every thread and lane of a
block run in turn, the warp's ``mma`` emulated from the lanes' fragments) against a float64
reference on TF32-rounded inputs; the choice between it and cuBLAS; and, on a GPU, the kernel
itself (``gpu`` mark)."""

import ctypes

import numpy as np
import pytest

from invrestore.backend import cupy_available
from invrestore.nn import _conv_tc
from invrestore.nn._conv_tc_source import BM, BN, SOURCE, THREADS
from invrestore.nn._flat import FlatGeometry

from .cuda_host import compile_host, compiles_for_a_gpu
from .fake_cupy import FakeCupy

# what the convolution needs beyond the CUDA qualifiers and indices of cuda_host.SHIM (which
# compile_host puts first): vector types, TF32 rounding and the host build's switch
SHIM = r"""
#include <cstdint>
#include <cstring>
#include <utility>
#define CONV_HOST_EMULATION
struct float4 { float x, y, z, w; };
struct float2 { float x, y; };
static inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
static inline float2 make_float2(float a, float b) { return {a, b}; }
// cvt.rna.tf32.f32: keep 10 mantissa bits, to nearest, ties away from zero
static inline float conv_tf32(float v)
{
    if (!std::isfinite(v)) return v;
    uint32_t u;
    std::memcpy(&u, &v, 4);
    u = (u + 0x1000u) & 0xFFFFE000u;
    std::memcpy(&v, &u, 4);
    return v;
}
"""

HOST = r"""
// Every thread and every lane of the block in turn; the warp's mma.m16n8k8 rebuilt from its
// lanes' fragments with the PTX ISA's layouts (g = lane / 4, t = lane % 4).
struct ConvHostExec {
    ConvFrags f[8][32];
    ConvAcc acc[8][32];
    void zero() { std::memset(acc, 0, sizeof acc); }
    template <class F> void each_thread(F fn) { for (int t = 0; t < CONV_THREADS; ++t) fn(t); }
    void sync() {}
    template <class F> void each_lane(F fn)
    {
        for (int w = 0; w < 8; ++w)
            for (int l = 0; l < 32; ++l) fn(w, l, f[w][l], acc[w][l]);
    }
    void mma(int split)
    {
        if (split) {  // lo hi + hi lo, then hi hi, as the device issues them
            for (int w = 0; w < 8; ++w)
                for (int l = 0; l < 32; ++l) std::swap(f[w][l].a, f[w][l].al);
            mma(0);
            for (int w = 0; w < 8; ++w)
                for (int l = 0; l < 32; ++l) {
                    std::swap(f[w][l].a, f[w][l].al);
                    std::swap(f[w][l].b, f[w][l].bl);
                }
            mma(0);
            for (int w = 0; w < 8; ++w)
                for (int l = 0; l < 32; ++l) std::swap(f[w][l].b, f[w][l].bl);
        }
        for (int w = 0; w < 8; ++w)
            for (int mi = 0; mi < 2; ++mi)
                for (int ni = 0; ni < 4; ++ni) {
                    float A[16][8], B[8][8];
                    for (int l = 0; l < 32; ++l) {
                        const int g = l >> 2, t = l & 3;
                        A[g][t] = f[w][l].a[mi][0];
                        A[g + 8][t] = f[w][l].a[mi][1];
                        A[g][t + 4] = f[w][l].a[mi][2];
                        A[g + 8][t + 4] = f[w][l].a[mi][3];
                        B[t][g] = f[w][l].b[ni][0];
                        B[t + 4][g] = f[w][l].b[ni][1];
                    }
                    for (int l = 0; l < 32; ++l) {
                        const int g = l >> 2, t = l & 3;
                        for (int e = 0; e < 4; ++e) {
                            const int r = g + 8 * (e >> 1), c = 2 * t + (e & 1);
                            double s = 0;
                            for (int k = 0; k < 8; ++k) s += (double)A[r][k] * B[k][c];
                            acc[w][l].c[mi][ni][e] += (float)s;
                        }
                    }
                }
    }
};

// every block of a gx x gy launch (blockIdx.x: pixels, blockIdx.y: output channels)
extern "C" void conv_tc_grid(unsigned gx, unsigned gy, const float* x, const float* taps,
                             const float* bias, const float* res, float* out, long long q0,
                             long long q1, long long L, int ci, int co, int kh, int kw, int wp,
                             long long slack, int pad, int relu, int has_res, int split)
{
    static float smem[CONV_SMEM];
    ConvHostExec* ex = new ConvHostExec;
    for (unsigned by = 0; by < gy; ++by)
        for (unsigned bx = 0; bx < gx; ++bx) {
            // NaN in shared memory: a fragment read of anything not staged poisons the output
            for (int e = 0; e < CONV_SMEM; ++e) smem[e] = std::numeric_limits<float>::quiet_NaN();
            conv_tc_block(*ex, smem, x, taps, bias, res, out, q0, q1, L, ci, co, kh, kw, wp,
                          slack, pad, relu, has_res, split, (int)bx, (int)by);
        }
    delete ex;
}

// the grid every pixel and channel needs
extern "C" void conv_tc_host(const float* x, const float* taps, const float* bias,
                             const float* res, float* out, long q0, long q1, long L, int ci,
                             int co, int kh, int kw, int wp, long slack, int pad, int relu,
                             int has_res, int split)
{
    conv_tc_grid((unsigned)((q1 - q0 + CONV_BM - 1) / CONV_BM),
                 (unsigned)((co + CONV_BN - 1) / CONV_BN), x, taps, bias, res, out, q0, q1, L,
                 ci, co, kh, kw, wp, slack, pad, relu, has_res, split);
}
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    lib = compile_host(tmp_path_factory, "conv_tc", SHIM + SOURCE + HOST)
    lib.conv_tc_host.restype = None
    lib.conv_tc_host.argtypes = ([ctypes.c_void_p] * 5 + [ctypes.c_long] * 3
                                 + [ctypes.c_int] * 5 + [ctypes.c_long] + [ctypes.c_int] * 4)
    return lib


def tf32(a):
    """Round float32 to TF32 as ``cvt.rna.tf32.f32`` does."""
    u = np.asarray(a, np.float32).view(np.uint32)
    return ((u + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


def reference(geo, x, taps, kh, kw, b, relu, res, rounded=True):
    """The layer in float64 on TF32-rounded (or float32) inputs, output rows [q0, q1) (pad
    columns zero)."""
    q = np.arange(geo.q_start, geo.q_end)
    acc = np.zeros((q.size, taps.shape[2]))
    r = tf32 if rounded else np.asarray
    xt, tt = r(x).astype(np.float64), r(taps).astype(np.float64)
    for t, off in enumerate(geo.offsets(kh, kw)):
        acc += xt[q + off] @ tt[t]
    acc += b
    if res is not None:
        acc += res[q]
    if relu:
        acc = np.maximum(acc, 0)
    col = (q - geo.slack) % geo.wp
    acc[(col < geo.pad) | (col >= geo.wp - geo.pad)] = 0
    return acc


def run_host(host, geo, x, taps, kh, kw, b, relu, res, split=False):
    co = taps.shape[2]
    out = np.full((geo.length, co), np.nan, np.float32)
    out[:geo.q_start] = 7.0  # rows outside [q0, q1) must be left alone
    out[geo.q_end:] = 7.0
    arrays = [np.ascontiguousarray(a, np.float32) for a in (x, taps, b)]
    r = np.ascontiguousarray(res, np.float32) if res is not None else out
    host.conv_tc_host(*(a.ctypes.data for a in arrays), r.ctypes.data, out.ctypes.data,
                      geo.q_start, geo.q_end, geo.length, taps.shape[1], co, kh, kw, geo.wp,
                      geo.slack, geo.pad, int(relu), int(res is not None), int(split))
    return out


CASES = [  # h, w, pad, ci, co, kh, kw, relu, residual
    (9, 13, 1, 64, 64, 3, 3, True, True),
    (5, 7, 1, 8, 64, 3, 3, False, False),  # fewer channels than one staged chunk
    (11, 20, 1, 40, 128, 3, 3, True, False),  # a partial chunk; two channel blocks
    (7, 9, 2, 16, 64, 5, 3, False, True),  # 5 tap rows
    (6, 6, 1, 24, 64, 1, 1, True, False),  # 1x1
    (8, 10, 1, 32, 64, 3, 1, False, False),  # 3x1
    (30, 41, 1, 64, 64, 3, 3, True, False),  # many blocks, the last one partial
    (8, 11, 1, 64, 96, 3, 3, True, True),  # Cout of one and a half channel blocks
    (6, 9, 1, 64, 4, 3, 3, False, False),  # FFDNet's last layer
    (5, 6, 1, 16, 12, 3, 3, True, False),
    (9, 10, 1, 1, 64, 3, 3, True, False),  # DnCNN's first layer
    (7, 12, 1, 64, 1, 3, 3, False, True),  # and its last
    (6, 7, 1, 5, 64, 3, 3, True, False),  # FFDNet gray's first (4 + the noise map)
    (5, 9, 1, 15, 3, 3, 3, False, True),  # odd both ways
    (4, 5, 1, 40, 6, 3, 3, True, True),
]


def _layer(h, w, pad, ci, co, kh, kw, residual, seed):
    rng = np.random.default_rng(seed)
    geo = FlatGeometry(h, w, pad)
    x = geo.empty(np, ci)
    geo.interior(x)[...] = rng.standard_normal((h, w, ci))
    taps = (rng.standard_normal((kh * kw, ci, co)) / np.sqrt(kh * kw * ci)).astype(np.float32)
    b = rng.standard_normal(co).astype(np.float32)
    res = None
    if residual:
        res = geo.empty(np, co)
        geo.interior(res)[...] = rng.standard_normal((h, w, co))
    return geo, x, taps, b, res


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize(("h", "w", "pad", "ci", "co", "kh", "kw", "relu", "residual"), CASES)
def test_host_built_kernel_matches_reference(host, h, w, pad, ci, co, kh, kw, relu, residual,
                                             split):
    geo, x, taps, b, res = _layer(h, w, pad, ci, co, kh, kw, residual, h * 1000 + ci)
    out = run_host(host, geo, x, taps, kh, kw, b, relu, res, split)
    # TF32: the exact result on rounded inputs; split: the float32 inputs' result, to float32
    # accuracy (TF32 alone misses it by about 1e-3)
    want = reference(geo, x, taps, kh, kw, b, relu, res, rounded=not split)
    got = out[geo.q_start:geo.q_end]
    assert np.isfinite(got).all()  # every output written, nothing unstaged read
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))
    assert (out[:geo.q_start] == 7).all() and (out[geo.q_end:] == 7).all()
    grid = geo.grid(out)
    assert not grid[pad:pad + h, :pad].any() and not grid[pad:pad + h, w + pad:].any()


def test_host_built_kernel_rounds_to_tf32(host):
    # one tap, one channel block: the result is the TF32-rounded product, not the float32 one
    geo = FlatGeometry(1, 1, 0)
    ci, co = 8, BN
    x = geo.empty(np, ci)
    x[geo.q_start] = 1 + 2.0 ** -12  # below TF32's resolution: rounds to 1
    taps = np.zeros((1, ci, co), np.float32)
    taps[0, 0] = 1.0
    out = run_host(host, geo, x, taps, 1, 1, np.zeros(co, np.float32), False, None)
    assert (out[geo.q_start] == 1.0).all()


def test_tf32_rounding_matches_the_ptx_rule():
    v = np.array([1 + 2.0 ** -11, 1 + 2.0 ** -11 + 2.0 ** -23, -(1 + 3 * 2.0 ** -11), 1.5],
                 np.float32)
    # ties away from zero: 1 + 2^-11 is half a TF32 ulp above 1
    np.testing.assert_array_equal(tf32(v), [1 + 2.0 ** -10, 1 + 2.0 ** -10, -(1 + 2 * 2.0 ** -10),
                                            1.5])


def test_source_compiles_for_a_gpu(tmp_path):
    compiles_for_a_gpu(tmp_path, "conv_tc", SOURCE, ["conv_tc_f32"])


def test_supported_layers():
    assert _conv_tc.supported(64, 64, 3, 3)
    assert _conv_tc.supported(8, 128, 5, 3)
    assert _conv_tc.supported(96, 96, 3, 3) and _conv_tc.supported(64, 4, 3, 3)
    assert _conv_tc.supported(1, 64, 3, 3) and _conv_tc.supported(64, 1, 3, 3)
    assert not _conv_tc.supported(64, 64, 5, 5)
    assert not _conv_tc.supported(0, 64, 3, 3)
    assert BM % 32 == 0


def test_conv_tc_rejects_unsupported_layers_and_bad_buffers():
    geo = FlatGeometry(4, 5, 1)
    x, out = geo.empty(np, 8), geo.empty(np, 64)
    b = np.zeros(64, np.float32)
    with pytest.raises(ValueError, match="unsupported layer 5x5, 8 -> 64"):
        _conv_tc.conv_tc(geo, x, np.zeros((25, 8, 64), np.float32), 5, 5, b, False, None,
                         out)
    taps = np.zeros((9, 8, 64), np.float32)
    with pytest.raises(ValueError, match="out must be a C-contiguous float32"):
        _conv_tc.conv_tc(geo, x, taps, 3, 3, b, False, None, out[:-1])
    with pytest.raises(ValueError, match="residual"):
        _conv_tc.conv_tc(geo, x, taps, 3, 3, b, False, out.astype(np.float64), out)
    with pytest.raises(ValueError, match=r"b must be a C-contiguous float32 \(64,\)"):
        _conv_tc.conv_tc(geo, x, taps, 3, 3, b[:8], False, None, out)
    with pytest.raises(ValueError, match="taps must be a C-contiguous float32 array, got float64"):
        _conv_tc.conv_tc(geo, x, taps.astype(np.float64), 3, 3, b, False, None, out)
    with pytest.raises(ValueError, match="x must be"):
        _conv_tc.conv_tc(geo, geo.empty(np, 16)[:, :8], taps, 3, 3, b, False, None, out)


@pytest.fixture
def fake_gpu(host, tmp_path_factory, monkeypatch):
    """:mod:`_conv_tc` on ``fake_cupy.FakeCupy``: its launches (arguments checked against the
    kernel's GPU signature) run the host build on the grid they ask for."""

    def runner(split):
        def run(grid, block, cargs):
            assert tuple(block) == (THREADS,)
            host.conv_tc_grid(ctypes.c_uint(grid[0]), ctypes.c_uint(grid[1]), *cargs,
                              ctypes.c_int(split))
        return run

    fake = FakeCupy(tmp_path_factory, runners={"conv_tc_f32": runner(0),
                                               "conv_tc3_f32": runner(1)})
    monkeypatch.setattr(_conv_tc, "cupy_module", lambda: fake)
    monkeypatch.setattr(_conv_tc, "_checked", {})
    monkeypatch.setattr(_conv_tc, "_chosen", {})
    _conv_tc._kernel.cache_clear()
    yield fake
    _conv_tc._kernel.cache_clear()


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize(("h", "w", "pad", "ci", "co", "kh", "kw", "relu", "residual"),
                         CASES)
def test_launch_matches_reference(fake_gpu, h, w, pad, ci, co, kh, kw, relu, residual, split):
    # conv_tc itself: its grid, and its arguments' order and C types
    geo, x, taps, b, res = _layer(h, w, pad, ci, co, kh, kw, residual, h * 1000 + ci)
    out = np.full((geo.length, co), np.nan, np.float32)
    out[:geo.q_start] = out[geo.q_end:] = 7.0
    dev = fake_gpu.asarray
    out = dev(out)
    _conv_tc.conv_tc(geo, dev(x), dev(taps), kh, kw, dev(b), relu,
                     None if res is None else dev(res), out, split=split)
    want = reference(geo, x, taps, kh, kw, b, relu, res, rounded=not split)
    got = out[geo.q_start:geo.q_end].get()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))
    assert (out[:geo.q_start] == 7).all() and (out[geo.q_end:] == 7).all()


def _fp32_layer(geo, x, taps, kh, kw, b, relu, residual, out):
    """Stands in for cuBLAS's float32 layer (float64 here)."""
    out[geo.q_start:geo.q_end] = reference(geo, x, taps, kh, kw, b, relu, residual,
                                           rounded=False)
    return out


def test_check_on_a_fake_device(fake_gpu, host):
    assert _conv_tc._check(_fp32_layer, split=False)
    assert _conv_tc._check(_fp32_layer, split=True)
    # a 3xTF32 kernel that lost its split terms misses float32 accuracy; one that skips its
    # last block of pixels leaves NaN
    fake_gpu.runners["conv_tc3_f32"] = lambda grid, block, cargs: host.conv_tc_grid(
        ctypes.c_uint(grid[0]), ctypes.c_uint(grid[1]), *cargs, ctypes.c_int(0))
    fake_gpu.runners["conv_tc_f32"] = lambda grid, block, cargs: host.conv_tc_grid(
        ctypes.c_uint(grid[0] - 1), ctypes.c_uint(grid[1]), *cargs, ctypes.c_int(0))
    _conv_tc._kernel.cache_clear()
    assert not _conv_tc._check(_fp32_layer, split=True)
    assert not _conv_tc._check(_fp32_layer, split=False)


def test_choice_on_a_fake_device_checks_then_times(fake_gpu, monkeypatch):
    monkeypatch.setattr(_conv_tc, "device_time_ms", lambda fn, repeat=3: fn())
    geo = FlatGeometry(40, 62, 1)
    assert _conv_tc.choose(geo, 64, 64, 3, 3, None, True, lambda: 1.0, lambda: 2.0,
                           _fp32_layer)
    assert not _conv_tc.choose(geo, 64, 32, 3, 3, None, True, lambda: 3.0, lambda: 2.0,
                               _fp32_layer)
    assert _conv_tc._checked == {(0, True): True}


class _FakeDevice:
    """Stands in for the device queries, the check and the timer of :mod:`_conv_tc`."""

    def __init__(self, monkeypatch, cc=90, check=True, tc_ms=1.0, cublas_ms=2.0):
        self.calls = []
        monkeypatch.setattr(_conv_tc, "_device", lambda: (0, cc))
        monkeypatch.setattr(_conv_tc, "_checked", {})
        monkeypatch.setattr(_conv_tc, "_chosen", {})

        def fake_check(cublas_fp32, split):
            self.calls.append("check")
            if isinstance(check, Exception):
                raise check
            return check

        monkeypatch.setattr(_conv_tc, "_check", fake_check)
        monkeypatch.setattr(_conv_tc, "device_time_ms", lambda fn, repeat=3: fn())
        self.tc = lambda: self.calls.append("tc") or tc_ms
        self.cublas = lambda: self.calls.append("cublas") or cublas_ms

    def choose(self, ci=64, co=64, kh=3, kw=3, residual=None, n=4096, split=False):
        geo = FlatGeometry(n // 64, 62, 1)
        return _conv_tc.choose(geo, ci, co, kh, kw, residual, split, self.tc, self.cublas,
                               None)


def test_choice_checks_once_per_device_then_times_once_per_shape(monkeypatch):
    dev = _FakeDevice(monkeypatch)
    assert dev.choose() and dev.choose()
    assert dev.calls == ["check", "tc", "cublas"]
    assert dev.choose(residual=object())  # another shape: timed, not checked again
    assert dev.calls == ["check", "tc", "cublas", "tc", "cublas"]
    assert dev.choose(split=True)  # the other form: checked and timed on its own
    assert dev.calls[5:] == ["check", "tc", "cublas"]


def test_choice_keeps_cublas_where_it_is_faster(monkeypatch):
    dev = _FakeDevice(monkeypatch, tc_ms=3.0, cublas_ms=2.0)
    assert not dev.choose()


def test_choice_keeps_cublas_where_the_check_fails(monkeypatch):
    dev = _FakeDevice(monkeypatch, check=False)
    with pytest.warns(RuntimeWarning, match="disagrees"):
        assert not dev.choose()
    assert not dev.choose()  # one warning per device
    assert dev.calls == ["check"]
    dev = _FakeDevice(monkeypatch, check=RuntimeError("nvrtc: error"))
    with pytest.warns(RuntimeWarning, match="nvrtc: error"):
        assert not dev.choose()


def test_choice_respects_mode_capability_and_support(monkeypatch):
    dev = _FakeDevice(monkeypatch, cc=75)
    assert not dev.choose() and dev.calls == []
    dev = _FakeDevice(monkeypatch)
    assert not dev.choose(kh=5, kw=5) and dev.calls == []
    monkeypatch.setattr(_conv_tc, "MODE", "cublas")
    assert not dev.choose()
    monkeypatch.setattr(_conv_tc, "MODE", "tensor_core")
    assert dev.choose() and dev.calls == []
    monkeypatch.setattr(_conv_tc, "MODE", "fast")
    with pytest.raises(ValueError, match="MODE"):
        dev.choose()


needs_gpu = pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize(("h", "w", "pad", "ci", "co", "kh", "kw", "relu", "residual"), CASES)
def test_cupy_kernel_matches_reference(h, w, pad, ci, co, kh, kw, relu, residual, split):
    import cupy as cp

    geo, x, taps, b, res = _layer(h, w, pad, ci, co, kh, kw, residual, h * 1000 + ci + 1)
    out = cp.full((geo.length, co), cp.nan, cp.float32)
    out[:geo.q_start] = 7
    out[geo.q_end:] = 7
    _conv_tc.conv_tc(geo, cp.asarray(x), cp.asarray(taps), kh, kw, cp.asarray(b), relu,
                     None if res is None else cp.asarray(res), out, split=split)
    out = cp.asnumpy(out)
    want = reference(geo, x, taps, kh, kw, b, relu, res, rounded=not split)
    got = out[geo.q_start:geo.q_end]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * max(1.0, np.abs(want).max()))
    assert (out[:geo.q_start] == 7).all() and (out[geo.q_end:] == 7).all()


@pytest.mark.gpu
@needs_gpu
def test_dncnn_with_tensor_cores_is_close_to_cublas(monkeypatch):
    import cupy as cp

    from invrestore.nn import DnCNN, tf32

    net = DnCNN.random(n_layers=6, features=64, rng=3)
    y = np.random.default_rng(4).random((70, 90)).astype(np.float32)
    gnet = net.to("cupy")
    monkeypatch.setattr(_conv_tc, "MODE", "cublas")
    want = cp.asnumpy(gnet(cp.asarray(y), 25 / 255))
    for mode in ("tensor_core", "auto"):
        monkeypatch.setattr(_conv_tc, "MODE", mode)
        got = cp.asnumpy(gnet(cp.asarray(y), 25 / 255))  # float32: 3xTF32 or cuBLAS
        assert np.abs(got - want).max() < 2e-5
        with tf32():
            got = cp.asnumpy(gnet(cp.asarray(y), 25 / 255))
        assert np.abs(got - want).max() < 5e-3


@pytest.mark.gpu
@needs_gpu
def test_misaligned_buffers_fall_back_to_cublas(monkeypatch):
    import cupy as cp

    from invrestore.nn._flat_cuda import conv_flat_cupy

    monkeypatch.setattr(_conv_tc, "MODE", "tensor_core")
    geo, x, taps, b, _ = _layer(9, 13, 1, 64, 64, 3, 3, False, 7)
    big = cp.zeros(x.size + 1, cp.float32)
    xv = big[1:].reshape(x.shape)  # 4 bytes off: no 16-byte loads from it
    xv[...] = cp.asarray(x)
    assert not _conv_tc.aligned(xv, cp.asarray(taps), None, geo.empty(cp, 64))
    out = geo.empty(cp, 64)
    conv_flat_cupy(geo, xv, cp.asarray(taps), 3, 3, cp.asarray(b), True, None, out)
    want = reference(geo, x, taps, 3, 3, b, True, None, rounded=False)
    np.testing.assert_allclose(cp.asnumpy(out)[geo.q_start:geo.q_end], want, rtol=0,
                               atol=1e-4 * np.abs(want).max())


class _Buf:
    """Stands in for a CuPy buffer in the dispatch of conv_flat_cupy (no GPU needed)."""

    def __init__(self, shape, ptr=256):
        self.shape = shape
        self.flags = type("F", (), {"c_contiguous": True})()
        self.data = type("D", (), {"ptr": ptr})()


@pytest.mark.parametrize("allow_tf32", [False, True])
def test_conv_flat_cupy_dispatch(monkeypatch, allow_tf32):
    from invrestore.nn import _flat_cuda, tf32

    calls = []
    monkeypatch.setattr(_conv_tc, "conv_tc", lambda *a, split: calls.append(("tc", split)))
    monkeypatch.setattr(_flat_cuda, "_conv_cublas",
                        lambda *a: calls.append(("cublas", a[-1])))

    def fake_choose(geo, ci, co, kh, kw, residual, split, run_tc, run_cublas, cublas_fp32):
        calls.append(("choose", split))
        return choose_answer

    monkeypatch.setattr(_conv_tc, "choose", fake_choose)
    geo = FlatGeometry(4, 5, 1)
    x, taps, out = _Buf((geo.length, 64)), _Buf((9, 64, 64)), _Buf((geo.length, 64))
    with tf32(allow_tf32):
        for choose_answer, want in ((True, "tc"), (False, "cublas")):
            calls.clear()
            _flat_cuda.conv_flat_cupy(geo, x, taps, 3, 3, None, True, None, out)
            assert calls == [("choose", not allow_tf32),
                             (want, not allow_tf32 if want == "tc" else allow_tf32)]
        choose_answer = True
        for residual, xx in ((out, x), (None, _Buf((geo.length, 64), ptr=260))):
            # out read as the residual, or a misaligned input: cuBLAS, nothing timed
            calls.clear()
            _flat_cuda.conv_flat_cupy(geo, xx, taps, 3, 3, None, True, residual, out)
            assert calls == [("cublas", allow_tf32)]


@pytest.mark.parametrize(("ci", "co", "residual"), [(1, 64, False), (64, 64, True),
                                                    (64, 1, False), (4, 3, True)])
def test_conv_flat_on_tensor_cores_of_a_fake_device(fake_gpu, monkeypatch, ci, co, residual):
    # conv_flat -> conv_flat_cupy -> conv_tc, as a network's layer reaches it on the GPU,
    # against the CPU engine
    from invrestore.nn._flat import conv_flat, prepare

    monkeypatch.setattr(_conv_tc, "MODE", "tensor_core")
    rng = np.random.default_rng(ci + co)
    geo = FlatGeometry(19, 23, 1)
    x = geo.empty(np, ci)
    geo.interior(x)[...] = rng.standard_normal((19, 23, ci))
    weight = (rng.standard_normal((co, ci, 3, 3)) / np.sqrt(9 * ci)).astype(np.float32)
    bias = rng.standard_normal(co).astype(np.float32)
    res = None
    if residual:
        res = geo.empty(np, co)
        geo.interior(res)[...] = rng.standard_normal((19, 23, co))
    want = conv_flat(geo, x, weight, bias, relu=True, residual=res)
    dev = fake_gpu.asarray
    taps, kh, kw = prepare(weight)  # (the engine prepares each layer once, on the device)
    got = conv_flat(geo, dev(x), (dev(taps), kh, kw), dev(bias), relu=True,
                    residual=None if res is None else dev(res), out=dev(geo.empty(np, co)),
                    impl="cublas")
    np.testing.assert_allclose(got.get(), want, rtol=0, atol=1e-5 * np.abs(want).max())
