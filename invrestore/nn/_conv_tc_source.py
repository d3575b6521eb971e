"""CUDA C++ source of the TF32 tensor-core convolution (launched by :mod:`invrestore.nn._conv_tc`).

One block computes ``BM = 128`` consecutive output pixels ``q`` of the padded-flat layout
(:mod:`invrestore.nn._flat`) times ``BN = 64`` output channels as an implicit GEMM:

    y[q, n] = sum_(i, j, c) x[q + (i - ph) Wp + (j - pw), c] taps[i kw + j, c, n]

For each tap row ``i`` and chunk of ``KC = 32`` input channels the block stages, in shared
memory, the ``BM + kw - 1`` input pixels that the row's ``kw`` taps read (one pixel apart, so
one staged run serves all of them) and the ``kw`` taps' ``KC x BN`` weights, rounded to TF32
once. Each of the 8 warps then owns 32 pixels x 32 channels: 2 x 4 tiles of the
``mma.sync.m16n8k8`` TF32 instruction (inline PTX: no header is needed, so NVRTC compiles it
from CuPy alone), accumulated in float32 registers over all taps and channels. The epilogue
(bias, optional residual, ReLU, zeroed pad columns; that of :mod:`invrestore.nn._flat_cuda`)
is applied in registers and stored once. The input is staged once per tap row (three times for a
3x3 kernel, the rows above and below mostly from the L2 cache, where neighbouring blocks have
just read them) and the output written once, where the cuBLAS path reads the whole input nine
times and rewrites the output three times.

Fragment layouts (PTX ISA, ``mma.m16n8k8`` with ``.tf32``; ``g = lane / 4``,
``t = lane % 4``): A (16 x 8, row) ``a0 = (g, t)``, ``a1 = (g + 8, t)``, ``a2 = (g, t + 4)``,
``a3 = (g + 8, t + 4)``; B (8 x 8, col) ``b0 = (t, g)``, ``b1 = (t + 4, g)``; C (16 x 8)
``c0, c1 = (g, 2t), (g, 2t + 1)``, ``c2, c3 = (g + 8, 2t), (g + 8, 2t + 1)``.

The block's work is written once, in :func:`conv_tc_block`, against an *executor*: on the GPU
each thread runs its own part and ``sync`` is ``__syncthreads``; the host build
(``CONV_HOST_EMULATION``, used by ``tests/test_conv_tc.py``) runs every thread and lane of the
block in turn and emulates the warp's ``mma`` from the same fragments, so the tiling, the
indexing and the epilogue are tested on machines without a GPU.

Any ``Cin`` and ``Cout``, ``kw <= 3`` (checked by the launcher). A ``Cout`` that is not a
multiple of 64 leaves part of the last channel block idle (computed on zero weights, not
stored); a ``Cin`` that is not a multiple of 8 is padded with zeros to one.
"""

__all__ = ["BM", "BN", "KC", "SOURCE", "THREADS"]

#: Output pixels, output channels and input channels per block step, threads per block.
BM, BN, KC, THREADS = 128, 64, 32, 256

SOURCE = r"""
#define CONV_BM 128
#define CONV_BN 64
#define CONV_KC 32
#define CONV_KW_MAX 3
#define CONV_THREADS 256
// Row strides in shared memory (floats): A's 36 = 4 mod 32 and B's 72 = 8 mod 32 make the
// fragment loads of a warp hit 32 distinct banks.
#define CONV_LDA (CONV_KC + 4)
#define CONV_LDB (CONV_BN + 8)
#define CONV_A_N ((CONV_BM + CONV_KW_MAX - 1) * CONV_LDA)
#define CONV_B_N (CONV_KW_MAX * CONV_KC * CONV_LDB)
#define CONV_SMEM (CONV_A_N + CONV_B_N)

#ifndef CONV_HOST_EMULATION
// Round to TF32 (10-bit mantissa, to nearest, ties away from zero), kept in a float.
__device__ __forceinline__ float conv_tf32(float v)
{
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(v));
    return __uint_as_float(r);
}
#endif

// One lane's fragments and accumulators: 2 (pixels) x 4 (channels) m16n8 tiles of its warp.
// a, b: the TF32 operands (the high parts when split); al, bl: the split's low parts.
struct ConvFrags {
    float a[2][4];
    float b[4][2];
    float al[2][4];
    float bl[4][2];
};
struct ConvAcc {
    float c[2][4][4];
};

// Stage tap row i, channels [c0, c0 + KC) of the block into shared memory (thread tid's part):
// As[r][c] = x[p0 + r, c0 + c] for r < BM + kw - 1, Bs[j][c][n] = taps[i kw + j, c0 + c, n0 + n],
// zero outside the buffer / beyond Cin / beyond Cout; rounded to TF32 unless split (the fragment
// loads split the float32 values then). Rows of x (taps) are read 16 bytes at a time when Cin
// (Cout) is a multiple of 4, value by value otherwise (a first layer's 1 to 15 channels, a
// last layer's 1 to 3).
__device__ __forceinline__ float conv_stage_value(float v, int split)
{
    return split ? v : conv_tf32(v);
}

// One 16-byte store (rows of As and Bs start 16-byte aligned): the 8 threads of each store
// phase write 128 contiguous bytes, free of bank conflicts.
__device__ __forceinline__ void conv_store4(float* d, float4 v, int split)
{
    *reinterpret_cast<float4*>(d) = make_float4(conv_stage_value(v.x, split),
                                                conv_stage_value(v.y, split),
                                                conv_stage_value(v.z, split),
                                                conv_stage_value(v.w, split));
}

// 4 values from a[0 .. avail) (zero beyond), 16-byte aligned when vec
__device__ __forceinline__ float4 conv_load4(const float* __restrict__ a, int avail, bool vec)
{
    if (vec && avail >= 4) return *reinterpret_cast<const float4*>(a);
    float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
    if (avail > 0) v.x = a[0];
    if (avail > 1) v.y = a[1];
    if (avail > 2) v.z = a[2];
    if (avail > 3) v.w = a[3];
    return v;
}

__device__ __forceinline__ void conv_stage(const float* __restrict__ x,
                                           const float* __restrict__ taps, float* As, float* Bs,
                                           long p0, long L, int ci, int co, int kw, int i,
                                           int c0, int n0, int split, int tid)
{
    const int arows = CONV_BM + kw - 1;
    for (int e = tid; e < arows * (CONV_KC / 4); e += CONV_THREADS) {
        const int r = e / (CONV_KC / 4), c = 4 * (e - r * (CONV_KC / 4));
        const long p = p0 + r;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (p >= 0 && p < L && c0 + c < ci)
            v = conv_load4(x + p * ci + c0 + c, ci - c0 - c, (ci & 3) == 0);
        conv_store4(As + r * CONV_LDA + c, v, split);
    }
    for (int e = tid; e < kw * CONV_KC * (CONV_BN / 4); e += CONV_THREADS) {
        const int row = e / (CONV_BN / 4), n = 4 * (e - row * (CONV_BN / 4));
        const int j = row / CONV_KC, c = row - j * CONV_KC;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (c0 + c < ci && n0 + n < co)
            v = conv_load4(taps + ((long)(i * kw + j) * ci + c0 + c) * co + n0 + n,
                           co - n0 - n, (co & 3) == 0);
        conv_store4(Bs + row * CONV_LDB + n, v, split);
    }
}

// v = hi + lo with hi = tf32(v) and lo = tf32(v - hi): "3xTF32", products of float32 accuracy
// from hi hi + hi lo + lo hi (lo lo, about 2^-22 of the product, is dropped).
__device__ __forceinline__ void conv_split(float& hi, float& lo)
{
    const float v = hi;
    hi = conv_tf32(v);
    lo = conv_tf32(v - hi);
}

// A lane's fragments for tap j, channels [kk, kk + 8) of the staged chunk: its warp's pixels
// [32 wm, 32 wm + 32) read staged rows shifted by j, its channels [32 wn, 32 wn + 32).
__device__ __forceinline__ void conv_load_frags(const float* As, const float* Bs, int warp,
                                                int lane, int j, int kk, int split, ConvFrags& f)
{
    const int g = lane >> 2, t = lane & 3;
    const int wm = warp & 3, wn = warp >> 2;
#pragma unroll
    for (int mi = 0; mi < 2; ++mi) {
        const float* a = As + (32 * wm + 16 * mi + g + j) * CONV_LDA + kk + t;
        f.a[mi][0] = a[0];
        f.a[mi][1] = a[8 * CONV_LDA];
        f.a[mi][2] = a[4];
        f.a[mi][3] = a[8 * CONV_LDA + 4];
    }
#pragma unroll
    for (int ni = 0; ni < 4; ++ni) {
        const float* b = Bs + (j * CONV_KC + kk + t) * CONV_LDB + 32 * wn + 8 * ni + g;
        f.b[ni][0] = b[0];
        f.b[ni][1] = b[4 * CONV_LDB];
    }
    if (split) {
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int e = 0; e < 4; ++e) conv_split(f.a[mi][e], f.al[mi][e]);
#pragma unroll
        for (int ni = 0; ni < 4; ++ni)
#pragma unroll
            for (int e = 0; e < 2; ++e) conv_split(f.b[ni][e], f.bl[ni][e]);
    }
}

// Bias, residual, ReLU and zeroed pad columns on a lane's accumulators, stored as float2:
// the rows of c0/c1 and c2/c3 are pixels g and g + 8 of each m16 tile, the columns 2t, 2t + 1.
__device__ __forceinline__ void conv_epilogue(const float* __restrict__ bias,
                                              const float* __restrict__ res,
                                              float* __restrict__ out, long qb, long q1,
                                              int co, int n0, long slack, int wp, int pad,
                                              int relu, int has_res, int warp, int lane,
                                              const ConvAcc& acc)
{
    const int g = lane >> 2, t = lane & 3;
    const int wm = warp & 3, wn = warp >> 2;
#pragma unroll
    for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            const long q = qb + 32 * wm + 16 * mi + g + 8 * h;
            if (q >= q1) continue;
            const long col = (q - slack) % wp;
            const bool zero = col < pad || col >= wp - pad;
#pragma unroll
            for (int ni = 0; ni < 4; ++ni) {
                const int n = n0 + 32 * wn + 8 * ni + 2 * t;
                if (n >= co) continue;  // the last channel block of a Cout not a multiple of 64
                const bool pair = n + 1 < co;
                const bool vec = (co & 1) == 0;  // 8-byte aligned pairs
                float v0 = acc.c[mi][ni][2 * h] + bias[n];
                float v1 = pair ? acc.c[mi][ni][2 * h + 1] + bias[n + 1] : 0.f;
                if (has_res) {
                    const float* r = res + q * co + n;
                    if (vec) {
                        const float2 rr = *reinterpret_cast<const float2*>(r);
                        v0 += rr.x;
                        v1 += rr.y;
                    } else {
                        v0 += r[0];
                        if (pair) v1 += r[1];
                    }
                }
                if (relu) {
                    v0 = v0 > 0.f ? v0 : 0.f;
                    v1 = v1 > 0.f ? v1 : 0.f;
                }
                if (zero) { v0 = 0.f; v1 = 0.f; }
                float* o = out + q * co + n;
                if (vec) {
                    *reinterpret_cast<float2*>(o) = make_float2(v0, v1);
                } else {
                    o[0] = v0;
                    if (pair) o[1] = v1;
                }
            }
        }
    }
}

// The whole block: block (bx, by) computes pixels [q0 + BM bx, + BM) and channels
// [BN by, + BN), in TF32 or (split) 3xTF32. Exec provides zero(), each_thread(f), sync(),
// each_lane(f) and mma(split).
template <class Exec>
__device__ __forceinline__ void conv_tc_block(Exec& ex, float* smem,
                                              const float* __restrict__ x,
                                              const float* __restrict__ taps,
                                              const float* __restrict__ bias,
                                              const float* __restrict__ res,
                                              float* __restrict__ out, long q0, long q1, long L,
                                              int ci, int co, int kh, int kw, int wp,
                                              long slack, int pad, int relu, int has_res,
                                              int split, int bx, int by)
{
    float* As = smem;
    float* Bs = smem + CONV_A_N;
    const long qb = q0 + (long)bx * CONV_BM;
    const int n0 = by * CONV_BN;
    const int ph = (kh - 1) / 2, pw = (kw - 1) / 2;
    ex.zero();
    for (int i = 0; i < kh; ++i) {
        const long p0 = qb + (long)(i - ph) * wp - pw;
        for (int c0 = 0; c0 < ci; c0 += CONV_KC) {
            ex.each_thread([&](int tid) {
                conv_stage(x, taps, As, Bs, p0, L, ci, co, kw, i, c0, n0, split, tid);
            });
            ex.sync();
            for (int j = 0; j < kw; ++j) {
                // the chunk's channels (a partial last k-step reads the zeros staged beyond Cin)
                const int kend = ci - c0 < CONV_KC ? ci - c0 : CONV_KC;
                for (int kk = 0; kk < kend; kk += 8) {
                    ex.each_lane([&](int warp, int lane, ConvFrags& f, ConvAcc&) {
                        conv_load_frags(As, Bs, warp, lane, j, kk, split, f);
                    });
                    ex.mma(split);
                }
            }
            ex.sync();  // the next stage overwrites what the warps read
        }
    }
    ex.each_lane([&](int warp, int lane, ConvFrags&, ConvAcc& acc) {
        conv_epilogue(bias, res, out, qb, q1, co, n0, slack, wp, pad, relu, has_res, warp, lane,
                      acc);
    });
}

#ifndef CONV_HOST_EMULATION
struct ConvDeviceExec {
    ConvFrags f;
    ConvAcc acc;
    __device__ void zero()
    {
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int ni = 0; ni < 4; ++ni)
#pragma unroll
                for (int e = 0; e < 4; ++e) acc.c[mi][ni][e] = 0.f;
    }
    template <class F> __device__ void each_thread(F f) { f((int)threadIdx.x); }
    __device__ void sync() { __syncthreads(); }
    template <class F> __device__ void each_lane(F fn)
    {
        fn((int)(threadIdx.x >> 5), (int)(threadIdx.x & 31), f, acc);
    }
    static __device__ __forceinline__ void mma1(float* c, const float* a, const float* b)
    {
        asm volatile(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 "
            "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
            : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
            : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])),
              "r"(__float_as_uint(a[2])), "r"(__float_as_uint(a[3])),
              "r"(__float_as_uint(b[0])), "r"(__float_as_uint(b[1])));
    }
    __device__ void mma(int split)
    {
#pragma unroll
        for (int mi = 0; mi < 2; ++mi)
#pragma unroll
            for (int ni = 0; ni < 4; ++ni) {
                if (split) {  // the small terms first
                    mma1(acc.c[mi][ni], f.al[mi], f.b[ni]);
                    mma1(acc.c[mi][ni], f.a[mi], f.bl[ni]);
                }
                mma1(acc.c[mi][ni], f.a[mi], f.b[ni]);
            }
    }
};

// conv_tc_f32: TF32 products; conv_tc3_f32: 3xTF32 (float32 accuracy, three mma per tile)
#define CONV_TC_ENTRY(NAME, SPLIT)                                                            \
extern "C" __global__ void __launch_bounds__(CONV_THREADS)                                    \
NAME(const float* __restrict__ x, const float* __restrict__ taps,                             \
     const float* __restrict__ bias, const float* __restrict__ res, float* __restrict__ out,  \
     long long q0, long long q1, long long L, int ci, int co, int kh, int kw, int wp,         \
     long long slack, int pad, int relu, int has_res)                                         \
{                                                                                             \
    __shared__ __align__(16) float smem[CONV_SMEM];                                           \
    ConvDeviceExec ex;                                                                        \
    conv_tc_block(ex, smem, x, taps, bias, res, out, q0, q1, L, ci, co, kh, kw, wp, slack,    \
                  pad, relu, has_res, SPLIT, (int)blockIdx.x, (int)blockIdx.y);               \
}

CONV_TC_ENTRY(conv_tc_f32, 0)
CONV_TC_ENTRY(conv_tc3_f32, 1)
#endif
"""
