"""Non-local means on CuPy arrays: one CUDA thread per pixel, the formula evaluated directly.

For output pixel ``p`` the thread loops over the ``(2r + 1)^2`` offsets ``t`` of the search
window; for each it sums ``g(u) g(v) sum_c (P_c(p + k) - P_c(p + t + k))^2`` over the patch
``k = (u, v)``, turns it into the weight ``exp(-max(dist s1 - s2, 0))`` and accumulates the
weighted candidate. Same definitions and padded planar input ``P`` (``(C, H + 2m, W + 2m)``,
``m = r + f``, reflected border) as :mod:`invrestore.kernels.nlm`; ``s1`` and ``s2`` are the
scalings computed there. Neighbouring threads read neighbouring pixels, so every load of a
warp is a coalesced row segment served mostly by the L1 cache. The per-offset work is
``(2f + 1)^2`` multiply-adds per channel, against a few passes over memory per offset for the
array version (``benchmarks/gpu_check.py``, ``denoise(method="nlm")`` at 4096x4096 on an H200:
205 ms, against 591 ms for the array version in the run before).

Up to :data:`MAX_CHANNELS` channels (the accumulators live in registers); more channels use
the array version.

Like the TV kernel, the source is plain C++ so that the tests compile it with the host
compiler behind a shim and compare it with the Numba kernel on machines without a GPU.
"""

from __future__ import annotations

import functools

import numpy as np

from ..backend import cupy_module

__all__ = ["MAX_CHANNELS", "SOURCE", "nlm_cuda"]

MAX_CHANNELS = 4

SOURCE = r"""
#define NLM_MAX_C 4

template <typename T>
__device__ __forceinline__ void nlm_pixel(const T* __restrict__ P, const T* __restrict__ g,
                                          T* __restrict__ out, int C, int H, int W, int Wp,
                                          int f, int r, T s1, T s2, long idx)
{
    const int i = (int)(idx / W);
    const int j = (int)(idx - (long)i * W);
    const int m = r + f;
    const long plane = (long)(H + 2 * m) * Wp;
    T num[NLM_MAX_C];
    for (int c = 0; c < NLM_MAX_C; ++c) num[c] = T(0);
    T den = T(0);
    for (int a = -r; a <= r; ++a) {
        for (int b = -r; b <= r; ++b) {
            T dist = T(0);
            for (int u = -f; u <= f; ++u) {
                const long p0 = (long)(i + m + u) * Wp + (j + m);
                const long q0 = (long)(i + m + a + u) * Wp + (j + m + b);
                T row = T(0);
                for (int v = -f; v <= f; ++v) {
                    T e = T(0);
                    for (int c = 0; c < C; ++c) {
                        const T diff = P[c * plane + p0 + v] - P[c * plane + q0 + v];
                        e += diff * diff;
                    }
                    row += g[v + f] * e;
                }
                dist += g[u + f] * row;
            }
            T x = dist * s1 - s2;
            x = x > T(0) ? x : T(0);
            const T wgt = exp(-x);
            const long q = (long)(i + m + a) * Wp + (j + m + b);
            for (int c = 0; c < C; ++c) num[c] += wgt * P[c * plane + q];
            den += wgt;
        }
    }
    for (int c = 0; c < C; ++c) out[(long)c * H * W + idx] = num[c] / den;
}

#define NLM_ENTRY(NAME, T)                                                                    \
extern "C" __global__ void NAME(const T* P, const T* g, T* out, int C, int H, int W, int Wp,  \
                                int f, int r, T s1, T s2)                                     \
{                                                                                             \
    const long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;                             \
    if (idx < (long)H * W)                                                                    \
        nlm_pixel<T>(P, g, out, C, H, W, Wp, f, r, s1, s2, idx);                              \
}

NLM_ENTRY(nlm_pixel_f32, float)
NLM_ENTRY(nlm_pixel_f64, double)
"""

#: Threads per block.
THREADS = 128


@functools.cache
def _module():
    return cupy_module().RawModule(code=SOURCE, options=("--std=c++14",))


def nlm_cuda(P, g, f, r, s1, s2, H, W):
    """Denoised planar ``(C, H, W)`` image from the padded planar ``P`` (CuPy, C-contiguous).

    Arguments as in :func:`invrestore.kernels.nlm._nlm_xp`; ``C <= MAX_CHANNELS``.
    """
    cp = cupy_module()
    C = int(P.shape[0])
    if C > MAX_CHANNELS:
        raise ValueError(f"nlm_cuda handles up to {MAX_CHANNELS} channels, got {C}")
    dtype = np.dtype(P.dtype)
    suffix = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}[dtype]
    kernel = _module().get_function(f"nlm_pixel_{suffix}")
    ty = dtype.type
    P = cp.ascontiguousarray(P)
    gd = cp.asarray(np.asarray(g, dtype=dtype))
    out = cp.empty((C, H, W), dtype=dtype)
    blocks = (H * W + THREADS - 1) // THREADS
    kernel((blocks,), (THREADS,), (P, gd, out, np.int32(C), np.int32(H), np.int32(W),
                                   np.int32(P.shape[2]), np.int32(f), np.int32(r), ty(s1),
                                   ty(s2)))
    return out
