"""Fused CUDA kernel of the TV prox (FGP on the dual) for CuPy arrays.

The maths is that of :mod:`invrestore.kernels.tv` and the Numba kernel
(:mod:`invrestore.kernels._tv_numba`): one launch per FGP iteration computes, for every pixel,

    r = P + beta (P - Q),   z = v + w div r,   R = proj(r + s D z),   s = 1 / (8 w),

reading ``v``, ``P``, ``Q`` and writing ``R`` once (the array-code version in
:func:`invrestore.kernels.tv._fgp_xp` makes about fifteen passes over memory per iteration).
Three versions of the pass (:data:`VARIANTS`):

* ``"pixel"``: one thread per pixel; the neighbours' ``r`` and ``z`` it needs are recomputed
  from cached reads (three ``z`` and about thirty loads per pixel);
* ``"tile"``: one block per 16x32 tile through shared memory, each ``r`` and ``z`` formed once;
* ``"strip"`` (:data:`DEFAULT_VARIANT`): one thread per column of a strip of rows, walking
  down with the previous row in registers (no shared memory, no synchronisation);
* ``"strip2"``: two FGP passes per launch wherever no stopping test falls between them, the
  first pass computed for the three columns around the thread's (9 image-sized arrays moved
  per two passes instead of 14). Tested on the CPU like the others; not yet timed on a GPU.

100 passes on 4096x4096 float32 (``benchmarks/gpu_check.py``): strip 18.6 ms on an H200 and
21.7 ms on an H100, tile 30.8 / 32.3 ms, pixel 53.2 / 53.0 ms; the array code 255 ms.

Vectorial isotropic TV of several channels runs the per-pixel pass. Layout: planar ``(C, H, W)``, C-contiguous, duals ``P0``/``P1`` of the same
shape with the Neumann invariants ``p0[:, H - 1] = 0`` and ``p1[:, :, W - 1] = 0``; vectorial
isotropic TV couples the channels of a pixel in one thread.

The CUDA source is plain C++ on purpose: the test suite compiles it with the host C++ compiler
(:data:`SOURCE` after a small shim, see ``tests/test_tv_cuda.py``) and checks it against the
NumPy reference on the CPU, so the kernel's arithmetic is tested on machines without a GPU.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .tv import fista_momentum

__all__ = ["DEFAULT_VARIANT", "SOURCE", "TILE", "TILE_THREADS", "VARIANTS", "cupy_launcher",
           "fgp_fused", "strip_rows"]

SOURCE = r"""
template <typename T>
__device__ __forceinline__ T tv_dual(const T* __restrict__ P, const T* __restrict__ Q, long o,
                                     T beta, int cold)
{
    if (cold) return T(0);  // a cold start's first pass: the dual is zero, nothing is read
    const T p = P[o];
    return beta == T(0) ? p : p + beta * (p - Q[o]);  // Q unread while beta = 0
}

// Extrapolated dual components at (i, k) of the plane starting at `base`; zero outside the
// rows / columns they live on (Neumann: no difference across the last row / column).
template <typename T>
__device__ __forceinline__ T tv_r0(const T* P0, const T* Q0, long base, int i, int k, int H,
                                   int W, T beta, int cold)
{
    if (i < 0 || i >= H - 1) return T(0);
    return tv_dual(P0, Q0, base + (long)i * W + k, beta, cold);
}

template <typename T>
__device__ __forceinline__ T tv_r1(const T* P1, const T* Q1, long base, int i, int k, int W,
                                   T beta, int cold)
{
    if (k < 0 || k >= W - 1) return T(0);
    return tv_dual(P1, Q1, base + (long)i * W + k, beta, cold);
}

// z = v + w div r at (i, k), div r = r0(i, k) - r0(i - 1, k) + r1(i, k) - r1(i, k - 1)
template <typename T>
__device__ __forceinline__ T tv_z(const T* v, const T* P0, const T* P1, const T* Q0,
                                  const T* Q1, long base, int i, int k, int H, int W, T w,
                                  T beta, int cold)
{
    const T d = (tv_r0(P0, Q0, base, i, k, H, W, beta, cold)
                 - tv_r0(P0, Q0, base, i - 1, k, H, W, beta, cold))
              + (tv_r1(P1, Q1, base, i, k, W, beta, cold)
                 - tv_r1(P1, Q1, base, i, k - 1, W, beta, cold));
    return v[base + (long)i * W + k] + w * d;
}

// The unprojected update a = r + s D z at (i, k) of one channel.
template <typename T>
__device__ __forceinline__ void tv_step(const T* v, const T* P0, const T* P1, const T* Q0,
                                        const T* Q1, long base, int i, int k, int H, int W,
                                        T w, T s, T beta, int cold, T* a0, T* a1)
{
    const T z = tv_z(v, P0, P1, Q0, Q1, base, i, k, H, W, w, beta, cold);
    *a0 = T(0);
    *a1 = T(0);
    if (i < H - 1)
        *a0 = tv_r0(P0, Q0, base, i, k, H, W, beta, cold)
            + s * (tv_z(v, P0, P1, Q0, Q1, base, i + 1, k, H, W, w, beta, cold) - z);
    if (k < W - 1)
        *a1 = tv_r1(P1, Q1, base, i, k, W, beta, cold)
            + s * (tv_z(v, P0, P1, Q0, Q1, base, i, k + 1, H, W, w, beta, cold) - z);
}

template <typename T>
__device__ void tv_fgp_pixel(const T* __restrict__ v, const T* __restrict__ P0,
                             const T* __restrict__ P1, const T* __restrict__ Q0,
                             const T* __restrict__ Q1, T* __restrict__ R0, T* __restrict__ R1,
                             int C, int H, int W, T w, T s, T beta, int cold, int iso, long idx)
{
    const int i = (int)(idx / W);
    const int k = (int)(idx - (long)i * W);
    const long plane = (long)H * W;
    T a0, a1;
    if (!iso) {  // anisotropic: each component clipped to [-1, 1]
        for (int c = 0; c < C; ++c) {
            tv_step(v, P0, P1, Q0, Q1, c * plane, i, k, H, W, w, s, beta, cold, &a0, &a1);
            R0[c * plane + idx] = fmin(fmax(a0, T(-1)), T(1));
            R1[c * plane + idx] = fmin(fmax(a1, T(-1)), T(1));
        }
        return;
    }
    if (C == 1) {
        tv_step(v, P0, P1, Q0, Q1, 0, i, k, H, W, w, s, beta, cold, &a0, &a1);
        const T f = T(1) / fmax(T(1), sqrt(a0 * a0 + a1 * a1));
        R0[idx] = a0 * f;
        R1[idx] = a1 * f;
        return;
    }
    // vectorial: one scale from the norm over both directions and all channels (the
    // channels' updates are recomputed rather than kept: C is not known at compile time)
    T n2 = T(0);
    for (int c = 0; c < C; ++c) {
        tv_step(v, P0, P1, Q0, Q1, c * plane, i, k, H, W, w, s, beta, cold, &a0, &a1);
        n2 += a0 * a0 + a1 * a1;
    }
    const T f = T(1) / fmax(T(1), sqrt(n2));
    for (int c = 0; c < C; ++c) {
        tv_step(v, P0, P1, Q0, Q1, c * plane, i, k, H, W, w, s, beta, cold, &a0, &a1);
        R0[c * plane + idx] = a0 * f;
        R1[c * plane + idx] = a1 * f;
    }
}

#define TV_FGP_ENTRY(NAME, T)                                                                 \
extern "C" __global__ void NAME(const T* v, const T* P0, const T* P1, const T* Q0,           \
                                const T* Q1, T* R0, T* R1, int C, int H, int W, T w, T s,    \
                                T beta, int cold, int iso)                                   \
{                                                                                             \
    const long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;                             \
    if (idx < (long)H * W)                                                                    \
        tv_fgp_pixel<T>(v, P0, P1, Q0, Q1, R0, R1, C, H, W, w, s, beta, cold, iso, idx);      \
}

TV_FGP_ENTRY(tv_fgp_pass_f32, float)
TV_FGP_ENTRY(tv_fgp_pass_f64, double)

// ---- Tiled pass: one block per TV_TY x TV_TX tile of one channel, through shared memory ----
// The extrapolated duals r0 (rows y0-1 .. y0+TY, cols x0 .. x0+TX) and r1 (rows y0 .. y0+TY,
// cols x0-1 .. x0+TX) are formed once per tile, then z on (TY+1) x (TX+1), then the tile's
// output: each input is read from global memory about once (plus the halo) and each z is
// computed once, instead of three times per pixel with its neighbours' loads. For one channel,
// or anisotropic TV (channels independent); vectorial isotropic TV uses the per-pixel pass.
// The three phases are separate functions of the thread index so that the host test can run
// them in order for every thread, as __syncthreads() orders them on the GPU.
#define TV_TX 32
#define TV_TY 16
#define TV_THREADS 256
#define TV_R0_N ((TV_TY + 2) * (TV_TX + 1))
#define TV_R1_N ((TV_TY + 1) * (TV_TX + 2))
#define TV_Z_N ((TV_TY + 1) * (TV_TX + 1))

template <typename T>
__device__ __forceinline__ void tv_tile_duals(const T* P0, const T* P1, const T* Q0,
                                              const T* Q1, long base, int H, int W, T beta,
                                              int cold, int y0, int x0, int tid, T* r0s,
                                              T* r1s)
{
    for (int e = tid; e < TV_R0_N; e += TV_THREADS) {
        const int a = e / (TV_TX + 1), b = e - a * (TV_TX + 1);
        const int i = y0 - 1 + a, k = x0 + b;
        r0s[e] = k < W ? tv_r0(P0, Q0, base, i, k, H, W, beta, cold) : T(0);
    }
    for (int e = tid; e < TV_R1_N; e += TV_THREADS) {
        const int a = e / (TV_TX + 2), b = e - a * (TV_TX + 2);
        const int i = y0 + a, k = x0 - 1 + b;
        r1s[e] = i < H ? tv_r1(P1, Q1, base, i, k, W, beta, cold) : T(0);
    }
}

template <typename T>
__device__ __forceinline__ void tv_tile_z(const T* v, long base, int H, int W, T w, int y0,
                                          int x0, int tid, const T* r0s, const T* r1s, T* zs)
{
    for (int e = tid; e < TV_Z_N; e += TV_THREADS) {
        const int a = e / (TV_TX + 1), b = e - a * (TV_TX + 1);
        const int i = y0 + a, k = x0 + b;
        T z = T(0);
        if (i < H && k < W) {
            const T d = (r0s[(a + 1) * (TV_TX + 1) + b] - r0s[a * (TV_TX + 1) + b])
                      + (r1s[a * (TV_TX + 2) + b + 1] - r1s[a * (TV_TX + 2) + b]);
            z = v[base + (long)i * W + k] + w * d;
        }
        zs[e] = z;
    }
}

template <typename T>
__device__ __forceinline__ void tv_tile_out(T* R0, T* R1, long base, int H, int W, T s,
                                            int iso, int y0, int x0, int tid, const T* r0s,
                                            const T* r1s, const T* zs)
{
    for (int e = tid; e < TV_TY * TV_TX; e += TV_THREADS) {
        const int a = e / TV_TX, b = e - a * TV_TX;
        const int i = y0 + a, k = x0 + b;
        if (i >= H || k >= W) continue;
        const T z = zs[a * (TV_TX + 1) + b];
        const T a0 = i < H - 1 ? r0s[(a + 1) * (TV_TX + 1) + b]
                                     + s * (zs[(a + 1) * (TV_TX + 1) + b] - z) : T(0);
        const T a1 = k < W - 1 ? r1s[a * (TV_TX + 2) + b + 1]
                                     + s * (zs[a * (TV_TX + 1) + b + 1] - z) : T(0);
        const long o = base + (long)i * W + k;
        if (iso) {
            const T f = T(1) / fmax(T(1), sqrt(a0 * a0 + a1 * a1));
            R0[o] = a0 * f;
            R1[o] = a1 * f;
        } else {
            R0[o] = fmin(fmax(a0, T(-1)), T(1));
            R1[o] = fmin(fmax(a1, T(-1)), T(1));
        }
    }
}

// ---- Strip pass: one thread per column, walking down a strip of rows ----
// Thread (k, strip) computes z for columns k and k + 1 row by row and emits row i - 1 once
// z of row i is known, keeping the previous row's r0, r1 and z in registers: no shared memory,
// no synchronisation, and every load of a warp is a coalesced row segment (the k + 1 and k - 1
// reads hit the same cache lines). Each input is read from memory once per strip plus one
// halo row; z is computed twice per pixel (by threads k and k - 1), which is arithmetic the
// memory-bound pass has to spare. For one channel, or anisotropic TV.
template <typename T>
__device__ __forceinline__ void tv_strip_column(const T* v, const T* P0, const T* P1,
                                                const T* Q0, const T* Q1, T* R0, T* R1,
                                                long base, int H, int W, T w, T s, T beta,
                                                int cold, int iso, int k, int y0, int y1)
{
    const bool right = k + 1 < W;
    T r0a_up = tv_r0(P0, Q0, base, y0 - 1, k, H, W, beta, cold);
    T r0b_up = right ? tv_r0(P0, Q0, base, y0 - 1, k + 1, H, W, beta, cold) : T(0);
    T za_up = T(0), zb_up = T(0), r1a_up = T(0);
    for (int i = y0; i <= y1; ++i) {
        T r0a = T(0), r0b = T(0), r1a = T(0), za = T(0), zb = T(0);
        if (i < H) {
            const long row = base + (long)i * W;
            r0a = tv_r0(P0, Q0, base, i, k, H, W, beta, cold);
            r1a = tv_r1(P1, Q1, base, i, k, W, beta, cold);
            const T r1l = tv_r1(P1, Q1, base, i, k - 1, W, beta, cold);
            za = v[row + k] + w * ((r0a - r0a_up) + (r1a - r1l));
            if (right) {
                r0b = tv_r0(P0, Q0, base, i, k + 1, H, W, beta, cold);
                const T r1b = tv_r1(P1, Q1, base, i, k + 1, W, beta, cold);
                zb = v[row + k + 1] + w * ((r0b - r0b_up) + (r1b - r1a));
            }
        }
        if (i > y0) {  // row i - 1 of column k
            const T a0 = i - 1 < H - 1 ? r0a_up + s * (za - za_up) : T(0);
            const T a1 = right ? r1a_up + s * (zb_up - za_up) : T(0);
            const long o = base + (long)(i - 1) * W + k;
            if (iso) {
                const T f = T(1) / fmax(T(1), sqrt(a0 * a0 + a1 * a1));
                R0[o] = a0 * f;
                R1[o] = a1 * f;
            } else {
                R0[o] = fmin(fmax(a0, T(-1)), T(1));
                R1[o] = fmin(fmax(a1, T(-1)), T(1));
            }
        }
        r0a_up = r0a;
        r0b_up = r0b;
        r1a_up = r1a;
        za_up = za;
        zb_up = zb;
    }
}

#define TV_STRIP_ENTRY(NAME, T)                                                               \
extern "C" __global__ void NAME(const T* __restrict__ v, const T* __restrict__ P0,           \
                                const T* __restrict__ P1, const T* __restrict__ Q0,           \
                                const T* __restrict__ Q1, T* __restrict__ R0,                 \
                                T* __restrict__ R1, int C, int H, int W, T w, T s, T beta,    \
                                int cold, int iso, int rows)                                  \
{                                                                                             \
    const int k = (int)(blockIdx.x * blockDim.x + threadIdx.x);                               \
    const int y0 = (int)blockIdx.y * rows;                                                    \
    if (k >= W || y0 >= H) return;                                                            \
    const int y1 = y0 + rows < H ? y0 + rows : H;                                             \
    for (int c = 0; c < C; ++c)                                                               \
        tv_strip_column<T>(v, P0, P1, Q0, Q1, R0, R1, (long)c * H * W, H, W, w, s, beta,      \
                           cold, iso, k, y0, y1);                                             \
}

TV_STRIP_ENTRY(tv_fgp_strip_f32, float)
TV_STRIP_ENTRY(tv_fgp_strip_f64, double)

// ---- Two-pass strip ("strip2"): passes k and k + 1 in one sweep ----
// Thread (k, strip) walks down its column computing pass k's dual for columns k - 1 .. k + 1
// (it needs them for pass k + 1's divergence and gradient at column k) one row ahead of pass
// k + 1's dual at column k, carrying the previous rows in registers. It reads v, P and Q and
// writes pass k + 1's dual (R) and pass k's (S, the next extrapolation's previous dual): 9
// image-sized arrays per two passes instead of 14, for about three times the arithmetic of
// the first pass, which a memory-bound pass can afford. Same conventions as tv_strip_column.

// raw dual components of P (zero outside the rows / columns they live on, or when cold)
template <typename T>
__device__ __forceinline__ T tv_p0(const T* P0, long base, int i, int c, int H, int W,
                                   int cold)
{
    if (cold || i < 0 || i >= H - 1 || c < 0 || c >= W) return T(0);
    return P0[base + (long)i * W + c];
}

template <typename T>
__device__ __forceinline__ T tv_p1(const T* P1, long base, int i, int c, int H, int W,
                                   int cold)
{
    if (cold || i < 0 || i >= H || c < 0 || c >= W - 1) return T(0);
    return P1[base + (long)i * W + c];
}

template <typename T>
__device__ __forceinline__ void tv_project(T a0, T a1, int iso, T* q0, T* q1)
{
    if (iso) {
        const T f = T(1) / fmax(T(1), sqrt(a0 * a0 + a1 * a1));
        *q0 = a0 * f;
        *q1 = a1 * f;
    } else {
        *q0 = fmin(fmax(a0, T(-1)), T(1));
        *q1 = fmin(fmax(a1, T(-1)), T(1));
    }
}

template <typename T>
__device__ __forceinline__ void tv_strip2_column(const T* v, const T* P0, const T* P1,
                                                 const T* Q0, const T* Q1, T* R0, T* R1,
                                                 T* S0, T* S1, long base, int H, int W, T w,
                                                 T s, T beta1, T beta2, int cold, int iso,
                                                 int k, int y0, int y1)
{
    // pass-k quantities at columns k - 1 + c (c = 0..3): extrapolated duals e0, e1 and z
    T e0_up[4], z1_up[4], e1_up[3];
    // pass-k output (the dual after pass k) at column k, previous row: written to S
    T q0_up = T(0), q1_up = T(0);
    // pass-(k+1) quantities at columns k, k + 1 (f0, z2) and k (f1), previous row
    T f0_up[2], z2_up[2], f1_up = T(0);
    for (int c = 0; c < 4; ++c) { e0_up[c] = T(0); z1_up[c] = T(0); }
    for (int c = 0; c < 3; ++c) e1_up[c] = T(0);
    for (int c = 0; c < 2; ++c) { f0_up[c] = T(0); z2_up[c] = T(0); }
    for (int n = y0 - 2; n <= y1 + 1; ++n) {
        // 1. pass k at row n: extrapolated duals and z for columns k - 1 .. k + 2
        T e0[4], e1[5], z1[4];
        for (int c = 0; c < 5; ++c) {  // e1 at columns k - 2 .. k + 2
            const int col = k - 2 + c;
            T p = tv_p1(P1, base, n, col, H, W, cold);
            T q = (beta1 != T(0)) ? tv_p1(Q1, base, n, col, H, W, cold) : p;
            e1[c] = p + beta1 * (p - q);
        }
        for (int c = 0; c < 4; ++c) {
            const int col = k - 1 + c;
            T p = tv_p0(P0, base, n, col, H, W, cold);
            T q = (beta1 != T(0)) ? tv_p0(Q0, base, n, col, H, W, cold) : p;
            e0[c] = p + beta1 * (p - q);
            z1[c] = (n >= 0 && n < H && col >= 0 && col < W)
                ? v[base + (long)n * W + col] + w * ((e0[c] - e0_up[c]) + (e1[c + 1] - e1[c]))
                : T(0);
        }
        // 2. dual after pass k at row m = n - 1, columns k - 1 .. k + 1
        const int m = n - 1;
        T d0[3] = {T(0), T(0), T(0)}, d1[3] = {T(0), T(0), T(0)};
        if (m >= 0 && m < H) {
            for (int c = 0; c < 3; ++c) {
                const int col = k - 1 + c;
                if (col < 0 || col >= W) continue;
                const T a0 = m < H - 1 ? e0_up[c] + s * (z1[c] - z1_up[c]) : T(0);
                const T a1 = col < W - 1 ? e1_up[c] + s * (z1_up[c + 1] - z1_up[c]) : T(0);
                tv_project(a0, a1, iso, &d0[c], &d1[c]);
            }
        }
        // 3. pass k + 1 at row m: extrapolated duals (from d and P) and z at columns k, k + 1
        T f0[2], f1[3], z2[2];
        for (int c = 0; c < 3; ++c) {  // f1 at columns k - 1 .. k + 1
            const int col = k - 1 + c;
            const T p = (col < W - 1) ? d1[c] : T(0);  // d1 is 0 where p1 does not live
            const T q = tv_p1(P1, base, m, col, H, W, cold);
            f1[c] = (beta2 != T(0)) ? p + beta2 * (p - q) : p;
        }
        for (int c = 0; c < 2; ++c) {  // f0 and z2 at columns k, k + 1
            const int col = k + c;
            const T p = (m < H - 1) ? d0[c + 1] : T(0);
            const T q = tv_p0(P0, base, m, col, H, W, cold);
            f0[c] = (beta2 != T(0)) ? p + beta2 * (p - q) : p;
            z2[c] = (m >= 0 && m < H && col < W)
                ? v[base + (long)m * W + col] + w * ((f0[c] - f0_up[c]) + (f1[c + 1] - f1[c]))
                : T(0);
        }
        // 4. dual after pass k + 1 at row o = n - 2, column k; and pass k's there (S)
        const int o = n - 2;
        if (o >= y0 && o < y1) {
            const T a0 = o < H - 1 ? f0_up[0] + s * (z2[0] - z2_up[0]) : T(0);
            const T a1 = k < W - 1 ? f1_up + s * (z2_up[1] - z2_up[0]) : T(0);
            T r0, r1;
            tv_project(a0, a1, iso, &r0, &r1);
            const long at = base + (long)o * W + k;
            R0[at] = r0;
            R1[at] = r1;
            S0[at] = q0_up;
            S1[at] = q1_up;
        }
        // shift the rows
        for (int c = 0; c < 4; ++c) { e0_up[c] = e0[c]; z1_up[c] = z1[c]; }
        for (int c = 0; c < 3; ++c) e1_up[c] = e1[c + 1];
        q0_up = d0[1];
        q1_up = d1[1];
        for (int c = 0; c < 2; ++c) { f0_up[c] = f0[c]; z2_up[c] = z2[c]; }
        f1_up = f1[1];
    }
}

#define TV_STRIP2_ENTRY(NAME, T)                                                              \
extern "C" __global__ void NAME(const T* __restrict__ v, const T* __restrict__ P0,           \
                                const T* __restrict__ P1, const T* __restrict__ Q0,           \
                                const T* __restrict__ Q1, T* __restrict__ R0,                 \
                                T* __restrict__ R1, T* __restrict__ S0, T* __restrict__ S1,   \
                                int C, int H, int W, T w, T s, T beta1, T beta2, int cold,    \
                                int iso, int rows)                                            \
{                                                                                             \
    const int k = (int)(blockIdx.x * blockDim.x + threadIdx.x);                               \
    const int y0 = (int)blockIdx.y * rows;                                                    \
    if (k >= W || y0 >= H) return;                                                            \
    const int y1 = y0 + rows < H ? y0 + rows : H;                                             \
    for (int c = 0; c < C; ++c)                                                               \
        tv_strip2_column<T>(v, P0, P1, Q0, Q1, R0, R1, S0, S1, (long)c * H * W, H, W, w, s,   \
                            beta1, beta2, cold, iso, k, y0, y1);                              \
}

TV_STRIP2_ENTRY(tv_fgp_strip2_f32, float)
TV_STRIP2_ENTRY(tv_fgp_strip2_f64, double)

#ifndef TV_HOST_EMULATION
#define TV_TILE_ENTRY(NAME, T)                                                                \
extern "C" __global__ void __launch_bounds__(TV_THREADS)                                      \
NAME(const T* __restrict__ v, const T* __restrict__ P0, const T* __restrict__ P1,             \
     const T* __restrict__ Q0, const T* __restrict__ Q1, T* __restrict__ R0,                  \
     T* __restrict__ R1, int C, int H, int W, T w, T s, T beta, int cold, int iso)            \
{                                                                                             \
    __shared__ T r0s[TV_R0_N];                                                                \
    __shared__ T r1s[TV_R1_N];                                                                \
    __shared__ T zs[TV_Z_N];                                                                  \
    const int tid = threadIdx.x;                                                              \
    const int x0 = blockIdx.x * TV_TX, y0 = blockIdx.y * TV_TY;                               \
    for (int c = 0; c < C; ++c) {                                                             \
        const long base = (long)c * H * W;                                                    \
        tv_tile_duals<T>(P0, P1, Q0, Q1, base, H, W, beta, cold, y0, x0, tid, r0s, r1s);      \
        __syncthreads();                                                                      \
        tv_tile_z<T>(v, base, H, W, w, y0, x0, tid, r0s, r1s, zs);                            \
        __syncthreads();                                                                      \
        tv_tile_out<T>(R0, R1, base, H, W, s, iso, y0, x0, tid, r0s, r1s, zs);                \
        __syncthreads();                                                                      \
    }                                                                                         \
}

TV_TILE_ENTRY(tv_fgp_tile_f32, float)
TV_TILE_ENTRY(tv_fgp_tile_f64, double)
#endif
"""

#: Tile of the tiled pass (``TV_TY x TV_TX`` in :data:`SOURCE`) and its threads per block.
TILE = (16, 32)
TILE_THREADS = 256

#: Threads per block of the pass.
THREADS = 256


@functools.cache
def _module():
    import cupy as cp

    return cp.RawModule(code=SOURCE, options=("--std=c++14",))


#: Passes of :func:`cupy_launcher`: "strip", "strip2" (two passes per sweep where no stopping
#: test falls between them), "tile" (shared memory) and "pixel".
VARIANTS = ("strip", "strip2", "tile", "pixel")

#: The pass :func:`~invrestore.kernels.tv.tv_prox` uses (``benchmarks/gpu_check.py`` times
#: all of them).
DEFAULT_VARIANT = "strip"

#: Threads per block of the strip pass (consecutive columns).
STRIP_THREADS = 128


#: Threads the strip passes aim for (``strip_rows``).
STRIP_TARGET_THREADS = 1 << 19


def strip_rows(H, W, target_threads=None):
    """Rows per strip: enough strips for about ``target_threads`` threads, 4 to 64 rows."""
    target = STRIP_TARGET_THREADS if target_threads is None else target_threads
    return int(min(64, max(4, (H * W) // target)))


def cupy_launcher(dtype, variant=None):
    """``launch(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, cold, iso)`` running one fused pass.

    ``variant`` (:data:`VARIANTS`) applies to one channel or anisotropic TV; vectorial
    isotropic TV of several channels always runs the per-pixel pass.
    """
    variant = DEFAULT_VARIANT if variant is None else variant
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    dtype = np.dtype(dtype)
    suffix = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}[dtype]
    pixel = _module().get_function(f"tv_fgp_pass_{suffix}")
    single = "strip" if variant == "strip2" else variant  # strip2's lone passes
    fused = (None if single == "pixel"
             else _module().get_function(f"tv_fgp_{single}_{suffix}"))
    two = _module().get_function(f"tv_fgp_strip2_{suffix}") if variant == "strip2" else None
    ty = dtype.type

    def launch(v, P0, P1, Q0, Q1, R0, R1, w, s, beta, cold, iso):
        C, H, W = v.shape
        args = (v, P0, P1, Q0, Q1, R0, R1, np.int32(C), np.int32(H), np.int32(W), ty(w),
                ty(s), ty(beta), np.int32(cold), np.int32(iso))
        if fused is None or (C > 1 and iso):
            pixel(((H * W + THREADS - 1) // THREADS,), (THREADS,), args)
        elif single == "tile":
            grid = ((W + TILE[1] - 1) // TILE[1], (H + TILE[0] - 1) // TILE[0])
            fused(grid, (TILE_THREADS,), args)
        else:
            rows = strip_rows(H, W)
            grid = ((W + STRIP_THREADS - 1) // STRIP_THREADS, (H + rows - 1) // rows)
            fused(grid, (STRIP_THREADS,), args + (np.int32(rows),))

    def pair(v, P0, P1, Q0, Q1, R0, R1, S0, S1, w, s, beta1, beta2, cold, iso):
        C, H, W = v.shape
        rows = strip_rows(H, W)
        grid = ((W + STRIP_THREADS - 1) // STRIP_THREADS, (H + rows - 1) // rows)
        two(grid, (STRIP_THREADS,), (v, P0, P1, Q0, Q1, R0, R1, S0, S1, np.int32(C),
                                     np.int32(H), np.int32(W), ty(w), ty(s), ty(beta1),
                                     ty(beta2), np.int32(cold), np.int32(iso), np.int32(rows)))

    # passes k, k + 1 in one launch: (v, P, Q, R, S, w, s, beta_k, beta_k+1, cold, iso) writes
    # R = p_{k+2} and S = p_{k+1}; None where the variant has no such kernel
    launch.pair = pair if two is not None else None
    return launch


def _div(P0, P1, xp):
    """``div p`` of planar ``(C, H, W)`` duals with the Neumann invariants."""
    d = P0 + P1
    d[:, 1:] -= P0[:, :-1]
    d[:, :, 1:] -= P1[:, :, :-1]
    return d


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
            x_k = v3 + dt(w) * _div(P0, P1, xp)
            dx = dt(w) * _div(P0 - Q0, P1 - Q1, xp)
            rel = float(xp.linalg.norm(dx.ravel())) / max(float(xp.linalg.norm(x_k.ravel())),
                                                          1e-300)
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
    x = v3 + dt(w) * _div(P0, P1, xp)
    return x, P0, P1, k, rel
