"""CUDA C++ source of the TV prox passes (launched by :mod:`invrestore.kernels._tv_cuda`).

Plain C++ on purpose: besides NVRTC (through CuPy) and nvcc, the test suite compiles it with
the host C++ compiler behind a small shim (``tests/test_tv_cuda.py``) and checks every pass
against the Numba kernel, so the kernels' arithmetic is tested on machines without a GPU.

Passes (one FGP iteration each, except ``tv_fgp_strip2_*``, which runs two):

* ``tv_fgp_pass_*``: one thread per pixel;
* ``tv_fgp_tile_*``: one block per 16x32 tile through shared memory;
* ``tv_fgp_strip_*``: one thread per column of a strip of rows, previous row in registers;
* ``tv_fgp_stripv_*``: the strip pass for 16 bytes of consecutive columns per thread (vector
  loads and stores; rows of a multiple of 4 floats or 2 doubles);
* ``tv_fgp_strip2_*``: the strip pass for two iterations per sweep.

The base passes and the stopping test are here; the vector and two-pass strip passes are in
:mod:`invrestore.kernels._tv_cuda_strips` (they build on this file's helpers and strip entry
macro), appended to form :data:`SOURCE`.

Besides the passes: ``tv_check_*`` (the partial sums of the stopping test, on the strip
pass's grid) and ``tv_primal_*`` (``x = v + w div p``).

Layout: planar ``(C, H, W)``, C-contiguous; duals ``P0``/``P1`` of the same shape with the
Neumann invariants ``p0[:, H - 1] = 0`` and ``p1[:, :, W - 1] = 0``.
"""

from ._tv_cuda_strips import STRIP_VARIANTS

__all__ = ["BASE", "SOURCE"]

_BASE = r"""
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

// Projection of one pixel's update onto the constraint set: the unit disc (isotropic) or the
// square [-1, 1]^2 (anisotropic).
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
__device__ void tv_fgp_pixel(const T* __restrict__ v, const T* __restrict__ P0,
                             const T* __restrict__ P1, const T* __restrict__ Q0,
                             const T* __restrict__ Q1, T* __restrict__ R0, T* __restrict__ R1,
                             int C, int H, int W, T w, T s, T beta, int cold, int iso, long idx)
{
    const int i = (int)(idx / W);
    const int k = (int)(idx - (long)i * W);
    const long plane = (long)H * W;
    T a0, a1;
    if (!iso || C == 1) {  // anisotropic (channels independent) or one channel
        for (int c = 0; c < C; ++c) {
            tv_step(v, P0, P1, Q0, Q1, c * plane, i, k, H, W, w, s, beta, cold, &a0, &a1);
            T q0, q1;
            tv_project(a0, a1, iso, &q0, &q1);
            R0[c * plane + idx] = q0;
            R1[c * plane + idx] = q1;
        }
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
        T q0, q1;
        tv_project(a0, a1, iso, &q0, &q1);
        R0[o] = q0;
        R1[o] = q1;
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
            T q0, q1;
            tv_project(a0, a1, iso, &q0, &q1);
            R0[o] = q0;
            R1[o] = q1;
        }
        r0a_up = r0a;
        r0b_up = r0b;
        r1a_up = r1a;
        za_up = za;
        zb_up = zb;
    }
}

// Column k and rows [y0, y1) of a strip launch's thread (blockIdx.y numbers the strips);
// false when the thread has none.
__device__ __forceinline__ bool strip_span(int H, int W, int rows, int& k, int& y0, int& y1)
{
    k = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    y0 = (int)blockIdx.y * rows;
    if (k >= W || y0 >= H) return false;
    y1 = y0 + rows < H ? y0 + rows : H;
    return true;
}

// Entry of a strip pass whose threads own N consecutive columns each (COLUMN: the column
// function, parenthesised; it gets the thread's first column).
#define TV_STRIP_ENTRY(NAME, T, N, COLUMN)                                                    \
extern "C" __global__ void NAME(const T* __restrict__ v, const T* __restrict__ P0,           \
                                const T* __restrict__ P1, const T* __restrict__ Q0,           \
                                const T* __restrict__ Q1, T* __restrict__ R0,                 \
                                T* __restrict__ R1, int C, int H, int W, T w, T s, T beta,    \
                                int cold, int iso, int rows)                                  \
{                                                                                             \
    int kt, y0, y1;                                                                           \
    if (!strip_span(H, (W + N - 1) / N, rows, kt, y0, y1)) return;                            \
    for (int c = 0; c < C; ++c)                                                               \
        COLUMN(v, P0, P1, Q0, Q1, R0, R1, (long)c * H * W, H, W, w, s, beta, cold, iso,       \
               N * kt, y0, y1);                                                               \
}

TV_STRIP_ENTRY(tv_fgp_strip_f32, float, 1, (tv_strip_column<float>))
TV_STRIP_ENTRY(tv_fgp_strip_f64, double, 1, (tv_strip_column<double>))

// ---- Stopping test and primal: one launch each instead of a dozen array operations ----
// div p at (i, k) with the Neumann invariants, the Numba kernel's expression and order:
// (p0(i) - p0(i - 1)) + (p1(k) - p1(k - 1)), the terms outside the image zero.
template <typename T>
__device__ __forceinline__ T tv_div_at(const T* P0, const T* P1, long base, int i, int k,
                                       int W)
{
    const long o = base + (long)i * W + k;
    const T up = i > 0 ? P0[o - W] : T(0);
    const T left = k > 0 ? P1[o - 1] : T(0);
    return (P0[o] - up) + (P1[o] - left);
}

// Sums of (x_k - x_{k-1})^2 = (w div (P - Q))^2 and x_k^2 = (v + w div P)^2 over column k,
// rows [y0, y1) of one channel, in double; the products in T, as the Numba kernel's.
template <typename T>
__device__ __forceinline__ void tv_check_column(const T* v, const T* P0, const T* P1,
                                                const T* Q0, const T* Q1, long base, int W,
                                                T w, int k, int y0, int y1, double* ds,
                                                double* xs)
{
    for (int i = y0; i < y1; ++i) {
        const T dp = tv_div_at(P0, P1, base, i, k, W);
        const T dq = tv_div_at(Q0, Q1, base, i, k, W);
        const T xk = v[base + (long)i * W + k] + w * dp;
        const T dd = w * (dp - dq);
        *ds += (double)(dd * dd);
        *xs += (double)(xk * xk);
    }
}

// One thread per column of a strip of rows (the strip pass's grid), all channels; thread
// (k, strip b) writes its two partial sums to sums[b * W + k] and sums[nstrips * W + b * W + k]
// (every entry written: no clearing), summed by the caller in one reduction.
#define TV_CHECK_ENTRY(NAME, T)                                                               \
extern "C" __global__ void NAME(const T* __restrict__ v, const T* __restrict__ P0,           \
                                const T* __restrict__ P1, const T* __restrict__ Q0,           \
                                const T* __restrict__ Q1, double* __restrict__ sums, int C,   \
                                int H, int W, T w, int rows, int nstrips)                     \
{                                                                                             \
    int k, y0, y1;                                                                            \
    if (!strip_span(H, W, rows, k, y0, y1)) return;                                           \
    double ds = 0.0, xs = 0.0;                                                                \
    for (int c = 0; c < C; ++c)                                                               \
        tv_check_column<T>(v, P0, P1, Q0, Q1, (long)c * H * W, W, w, k, y0, y1, &ds, &xs);    \
    const long t = (long)blockIdx.y * W + k;                                                  \
    sums[t] = ds;                                                                             \
    sums[(long)nstrips * W + t] = xs;                                                         \
}

TV_CHECK_ENTRY(tv_check_f32, float)
TV_CHECK_ENTRY(tv_check_f64, double)

// x = v + w div p, one thread per value of the planar (C, H, W) image.
#define TV_PRIMAL_ENTRY(NAME, T)                                                              \
extern "C" __global__ void NAME(const T* __restrict__ v, const T* __restrict__ P0,           \
                                const T* __restrict__ P1, T* __restrict__ X, int C, int H,    \
                                int W, T w)                                                   \
{                                                                                             \
    const long idx = (long)blockIdx.x * blockDim.x + threadIdx.x;                             \
    const long plane = (long)H * W;                                                           \
    if (idx >= (long)C * plane) return;                                                       \
    const long c = idx / plane;                                                               \
    const long r = idx - c * plane;                                                           \
    const int i = (int)(r / W);                                                               \
    X[idx] = v[idx] + w * tv_div_at(P0, P1, c * plane, i, (int)(r - (long)i * W), W);         \
}

TV_PRIMAL_ENTRY(tv_primal_f32, float)
TV_PRIMAL_ENTRY(tv_primal_f64, double)

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

#: The base passes and the stopping test alone (what runs if the full source fails to compile).
BASE = _BASE
SOURCE = _BASE + STRIP_VARIANTS
