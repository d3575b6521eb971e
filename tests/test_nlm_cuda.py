"""The NLM CUDA kernel: its arithmetic on the CPU (host-compiled source), and with a GPU."""

import ctypes

import numpy as np
import pytest

from invrestore.backend import cupy_available
from invrestore.kernels import _nlm_cuda
from invrestore.kernels._nlm_cuda import SOURCE
from invrestore.kernels.nlm import (
    _from_planar,
    _planar_padded,
    nlm_reference,
    non_local_means,
    patch_weights,
)

from .cuda_host import compile_host, compiles_for_a_gpu
from .fake_cupy import DeviceArray, FakeCupy

HOST = r"""
#define NLM_HOST(NAME, KERNEL, T)                                                           \
extern "C" void NAME(const T* P, const T* g, T* out, int C, int H, int W, int Wp, int f,    \
                     int r, T s1, T s2)                                                     \
{                                                                                           \
    HOST_GRID_1D((long)H * W, 32, KERNEL(P, g, out, C, H, W, Wp, f, r, s1, s2));           \
}
NLM_HOST(host_f32, nlm_pixel_f32, float)
NLM_HOST(host_f64, nlm_pixel_f64, double)
"""


@pytest.fixture(scope="module")
def host_nlm(tmp_path_factory):
    dll = compile_host(tmp_path_factory, "nlm", SOURCE + HOST)
    return {np.dtype(np.float32): (dll.host_f32, ctypes.c_float),
            np.dtype(np.float64): (dll.host_f64, ctypes.c_double)}


def _prepare(x, sigma, h, patch_size, patch_distance, fast_mode):
    """The kernel's inputs as :func:`non_local_means` prepares them for the GPU path:
    ``(P, g, f, r, s1, s2)``."""
    C = 1 if x.ndim == 2 else x.shape[2]
    f, r = patch_size // 2, patch_distance
    g = patch_weights(patch_size, fast_mode)
    s1 = 1.0 / (h * h * C * float(g.sum()) ** 2)
    s2 = 2.0 * sigma * sigma / (h * h)
    return _planar_padded(x, r + f), g, f, r, s1, s2


def _host_nlm(host_nlm, x, sigma, h, patch_size, patch_distance, fast_mode):
    """``non_local_means`` with the kernel run on the host (same preparation as the GPU path)."""
    fn, cscalar = host_nlm[x.dtype]
    H, W = x.shape[:2]
    C = 1 if x.ndim == 2 else x.shape[2]
    P, g, f, r, s1, s2 = _prepare(x, sigma, h, patch_size, patch_distance, fast_mode)
    gd = np.ascontiguousarray(g, dtype=x.dtype)
    out = np.full((C, H, W), np.nan, dtype=x.dtype)
    ptr = ctypes.c_void_p
    fn(P.ctypes.data_as(ptr), gd.ctypes.data_as(ptr), out.ctypes.data_as(ptr), ctypes.c_int(C),
       ctypes.c_int(H), ctypes.c_int(W), ctypes.c_int(P.shape[2]), ctypes.c_int(f),
       ctypes.c_int(r), cscalar(s1), cscalar(s2))
    return _from_planar(out, x.ndim)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(9, 11), (13, 7, 3), (70, 9, 4)])
def test_cuda_path_on_a_fake_device(tmp_path_factory, monkeypatch, dtype, shape):
    # non_local_means(impl="cuda") as on a GPU: its preparation, then nlm_cuda's grid and
    # arguments (checked against the kernel's GPU signature) launched on the host build
    # through fake_cupy
    from invrestore.kernels import nlm

    fake = FakeCupy(tmp_path_factory)
    monkeypatch.setattr(_nlm_cuda, "cupy_module", lambda: fake)
    monkeypatch.setattr(nlm, "get_xp", lambda *a: fake)  # the input counts as a device array
    _nlm_cuda._module.cache_clear()
    x = np.random.default_rng(sum(shape)).random(shape).astype(dtype)
    kw = {"patch_size": 5, "patch_distance": 3, "fast_mode": True}
    try:
        got = non_local_means(fake.asarray(x), 0.1, 0.2, impl="cuda", **kw)
    finally:
        _nlm_cuda._module.cache_clear()
    assert type(got) is DeviceArray
    ref = nlm_reference(x, 0.1, 0.2, **kw)
    np.testing.assert_allclose(got.get(), ref, atol=1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(9, 11), (13, 7, 3), (10, 12, 4)])
@pytest.mark.parametrize(("patch_size", "patch_distance"), [(3, 2), (5, 3), (1, 1)])
@pytest.mark.parametrize("fast_mode", [True, False])
def test_host_compiled_kernel_matches_reference(host_nlm, dtype, shape, patch_size,
                                                patch_distance, fast_mode):
    x = np.random.default_rng(sum(shape) + patch_size).random(shape).astype(dtype)
    kw = {"patch_size": patch_size, "patch_distance": patch_distance, "fast_mode": fast_mode}
    got = _host_nlm(host_nlm, x, 0.1, 0.2, **kw)
    ref = nlm_reference(x, 0.1, 0.2, **kw)
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, ref, atol=atol)
    np.testing.assert_allclose(got, non_local_means(x, 0.1, 0.2, impl="numba", **kw),
                               atol=atol)


def test_source_compiles_for_a_gpu(tmp_path):
    compiles_for_a_gpu(tmp_path, "nlm", SOURCE, ["nlm_pixel_f32", "nlm_pixel_f64"])


def test_cuda_impl_refuses_numpy():
    with pytest.raises(ValueError, match="impl='cuda' needs a CuPy array"):
        non_local_means(np.zeros((8, 8)), 0.1, 0.1, impl="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(37, 45), (30, 26, 3), (20, 22, 5)])
@pytest.mark.parametrize("fast_mode", [True, False])
def test_cupy_kernel_matches_numba(dtype, shape, fast_mode):
    import cupy as cp

    x = np.random.default_rng(5).random(shape).astype(dtype)
    kw = {"patch_size": 5, "patch_distance": 4, "fast_mode": fast_mode}
    ref = non_local_means(x, 0.1, 0.2, impl="numba", **kw)
    got = non_local_means(cp.asarray(x), 0.1, 0.2, **kw)   # cuda up to 4 channels, else xp
    assert isinstance(got, cp.ndarray) and got.dtype == dtype
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(cp.asnumpy(got), ref, atol=atol)
    if x.ndim == 2 or x.shape[2] <= 4:
        xp_out = non_local_means(cp.asarray(x), 0.1, 0.2, impl="xp", **kw)
        np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(xp_out), atol=atol)
