"""CUDA C++ source of the alternative strip passes of the TV prox (vector and two-pass).

Appended to the base source of :mod:`invrestore.kernels._tv_cuda_source` (whose helpers
``tv_dual``, ``tv_r1``, ``tv_project``, ``strip_span`` and entry macro ``TV_STRIP_ENTRY`` they
use) to form its ``SOURCE``; launched by :mod:`invrestore.kernels._tv_cuda`.

* ``tv_fgp_stripv_*``: the strip pass for 16 bytes of consecutive columns per thread (vector
  loads and stores; rows of a multiple of 4 floats or 2 doubles);
* ``tv_fgp_strip2_*``: the strip pass for two iterations per sweep.
"""

__all__ = ["STRIP_VARIANTS"]

STRIP_VARIANTS = r"""
// ---- Vector strip pass ("stripv"): one thread per N consecutive columns ----
// The strip pass with each thread owning columns [k0, k0 + N) (N = 4 floats or 2 doubles: 16
// bytes) and loading each array's row segment with one 16-byte load, plus the halo columns
// k0 - 1 (r1) and k0 + N (everything) as scalars, which the neighbouring threads' vector loads
// bring into the cache. A warp reads 512 contiguous bytes of each array per row instead of 128,
// with a quarter of the load instructions, and computes z for N + 1 columns instead of 2 per
// column owned. Needs W % N == 0 (16-byte aligned rows); the launcher falls back to the strip
// pass otherwise. Same arithmetic (expressions and order) as tv_strip_column.
template <typename T, int N> struct TvVec;
template <> struct __align__(16) TvVec<float, 4> { float v[4]; };
template <> struct __align__(16) TvVec<double, 2> { double v[2]; };

template <typename T, int N>
__device__ __forceinline__ void tv_load_vec(const T* __restrict__ p, long o, T* out)
{
    const TvVec<T, N> a = *reinterpret_cast<const TvVec<T, N>*>(p + o);
#pragma unroll
    for (int n = 0; n < N; ++n) out[n] = a.v[n];
}

// One 16-byte store of N values. Written in PTX: NVVM splits a float4 store whose values come
// from the projection's two branches into four scalar stores.
__device__ __forceinline__ void tv_store_vec(float* __restrict__ p, long o, const float* a)
{
#ifdef TV_HOST_EMULATION
    for (int n = 0; n < 4; ++n) p[o + n] = a[n];
#else
    asm volatile("st.global.v4.f32 [%0], {%1, %2, %3, %4};"
                 :: "l"(p + o), "f"(a[0]), "f"(a[1]), "f"(a[2]), "f"(a[3]));
#endif
}

__device__ __forceinline__ void tv_store_vec(double* __restrict__ p, long o, const double* a)
{
#ifdef TV_HOST_EMULATION
    for (int n = 0; n < 2; ++n) p[o + n] = a[n];
#else
    asm volatile("st.global.v2.f64 [%0], {%1, %2};" :: "l"(p + o), "d"(a[0]), "d"(a[1]));
#endif
}

// Extrapolated duals at [o, o + N) (the rows / columns they live on are the caller's business)
template <typename T, int N>
__device__ __forceinline__ void tv_dual_vec(const T* P, const T* Q, long o, T beta, int cold,
                                            T* out)
{
    if (cold) {
#pragma unroll
        for (int n = 0; n < N; ++n) out[n] = T(0);
        return;
    }
    tv_load_vec<T, N>(P, o, out);
    if (beta == T(0)) return;  // Q unread while beta = 0
    T q[N];
    tv_load_vec<T, N>(Q, o, q);
#pragma unroll
    for (int n = 0; n < N; ++n) out[n] = out[n] + beta * (out[n] - q[n]);
}

// r0 at row i, columns k0 .. k0 + N (the last only when it exists): zero off rows 0 .. H - 2
template <typename T, int N>
__device__ __forceinline__ void tv_r0_vec(const T* P0, const T* Q0, long base, int i, int k0,
                                          int H, int W, T beta, int cold, T* out)
{
    if (i < 0 || i >= H - 1) {
#pragma unroll
        for (int n = 0; n <= N; ++n) out[n] = T(0);
        return;
    }
    const long row = base + (long)i * W;
    tv_dual_vec<T, N>(P0, Q0, row + k0, beta, cold, out);
    out[N] = k0 + N < W ? tv_dual(P0, Q0, row + k0 + N, beta, cold) : T(0);
}

template <typename T, int N>
__device__ __forceinline__ void tv_stripv_column(const T* v, const T* P0, const T* P1,
                                                 const T* Q0, const T* Q1, T* R0, T* R1,
                                                 long base, int H, int W, T w, T s, T beta,
                                                 int cold, int iso, int k0, int y0, int y1)
{
    const bool right = k0 + N < W;
    T r0_up[N + 1], z_up[N + 1], r1_up[N];
    tv_r0_vec<T, N>(P0, Q0, base, y0 - 1, k0, H, W, beta, cold, r0_up);
#pragma unroll
    for (int n = 0; n <= N; ++n) z_up[n] = T(0);
#pragma unroll
    for (int n = 0; n < N; ++n) r1_up[n] = T(0);
    for (int i = y0; i <= y1; ++i) {
        // r1[m]: r1 at column k0 - 1 + m (m = 0 .. N + 1); r0, z at columns k0 .. k0 + N
        T r0[N + 1], r1[N + 2], z[N + 1];
#pragma unroll
        for (int n = 0; n <= N; ++n) { r0[n] = T(0); z[n] = T(0); }
#pragma unroll
        for (int n = 0; n <= N + 1; ++n) r1[n] = T(0);
        if (i < H) {
            const long row = base + (long)i * W;
            tv_r0_vec<T, N>(P0, Q0, base, i, k0, H, W, beta, cold, r0);
            T mid[N], vv[N];
            tv_dual_vec<T, N>(P1, Q1, row + k0, beta, cold, mid);
            r1[0] = tv_r1(P1, Q1, base, i, k0 - 1, W, beta, cold);
#pragma unroll
            for (int n = 0; n < N; ++n) r1[n + 1] = k0 + n < W - 1 ? mid[n] : T(0);
            r1[N + 1] = tv_r1(P1, Q1, base, i, k0 + N, W, beta, cold);
            tv_load_vec<T, N>(v, row + k0, vv);
#pragma unroll
            for (int n = 0; n < N; ++n)
                z[n] = vv[n] + w * ((r0[n] - r0_up[n]) + (r1[n + 1] - r1[n]));
            if (right)
                z[N] = v[row + k0 + N] + w * ((r0[N] - r0_up[N]) + (r1[N + 1] - r1[N]));
        }
        if (i > y0) {  // row i - 1 of columns k0 .. k0 + N - 1
            T q0[N], q1[N];
#pragma unroll
            for (int n = 0; n < N; ++n) {
                const T a0 = i - 1 < H - 1 ? r0_up[n] + s * (z[n] - z_up[n]) : T(0);
                const T a1 = k0 + n < W - 1 ? r1_up[n] + s * (z_up[n + 1] - z_up[n]) : T(0);
                tv_project(a0, a1, iso, &q0[n], &q1[n]);
            }
            const long o = base + (long)(i - 1) * W + k0;
            tv_store_vec(R0, o, q0);
            tv_store_vec(R1, o, q1);
        }
#pragma unroll
        for (int n = 0; n <= N; ++n) { r0_up[n] = r0[n]; z_up[n] = z[n]; }
#pragma unroll
        for (int n = 0; n < N; ++n) r1_up[n] = r1[n + 1];
    }
}

TV_STRIP_ENTRY(tv_fgp_stripv_f32, float, 4, (tv_stripv_column<float, 4>))
TV_STRIP_ENTRY(tv_fgp_stripv_f64, double, 2, (tv_stripv_column<double, 2>))

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
    int k, y0, y1;                                                                            \
    if (!strip_span(H, W, rows, k, y0, y1)) return;                                           \
    for (int c = 0; c < C; ++c)                                                               \
        tv_strip2_column<T>(v, P0, P1, Q0, Q1, R0, R1, S0, S1, (long)c * H * W, H, W, w, s,   \
                            beta1, beta2, cold, iso, k, y0, y1);                              \
}

TV_STRIP2_ENTRY(tv_fgp_strip2_f32, float)
TV_STRIP2_ENTRY(tv_fgp_strip2_f64, double)
"""
