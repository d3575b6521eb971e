"""The padded-flat convolution of :mod:`invrestore.nn._flat` on CuPy arrays, through cuBLAS.

Phases. In the channels-last flat layout the ``kw`` horizontal taps of a tap row ``i`` read,
for output pixel ``q``, the ``kw Cin`` *contiguous* floats that start at pixel
``q + (i - ph) Wp - pw``. For the output pixels of one phase ``q = q0 + r + kw m``
(``r = 0 .. kw - 1``) these operands are consecutive, non-overlapping rows of ``kw Cin`` floats,
i.e. a plain strided matrix with leading dimension ``kw Cin``. So a tap row is one ``sgemm`` with
``K = kw Cin`` per phase (leading dimension of the output ``kw Cout``), and a 3x3 convolution
is 3 phases x 3 tap rows = 9 products of ``K = 3 Cin`` over a third of the pixels each, instead of
9 products of ``K = Cin`` over all pixels: the same input read, a third of the output
read-modify-writes, and three times the arithmetic per byte.

Each ``sgemm`` after the first of a phase *accumulates* into the output (``beta = 1``), so no
temporary of the size of the activations is written and added. The epilogue (bias, residual,
ReLU, zeroed pad columns) is one fused elementwise kernel. The pixels can be taken in chunks
(``CHUNK_PIXELS``); on an H200 the whole image in one go was fastest for DnCNN at 1024x1024
(``benchmarks/gpu_check.py`` sweeps it).

Layers whose channels suit it may run instead on the implicit-GEMM tensor-core kernel of
:mod:`invrestore.nn._conv_tc` (3xTF32 in float32, TF32 under :func:`tf32`), which stages the
input once per tap row and writes the output once; it is checked against these products and
timed against them on the device first, and used only where faster.

Row-major ``C (n x co) = A (n x k) @ B (k x co)`` is, read column-major, ``C^T = B^T A^T``:
``sgemm(N, N, m=co, n=n, k=k, B, ld=co, A, ld=lda, C, ld=ldc)`` on the same pointers.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..backend import cublas_module, cupy_module

__all__ = ["CHUNK_PIXELS", "conv_flat_cupy", "gemm_plan", "tf32"]

#: Pixels per chunk of output (None: the whole image).
CHUNK_PIXELS = None

#: Let cuBLAS run the float32 products on TF32 tensor cores (inputs rounded to a 10-bit
#: mantissa, float32 accumulation), as PyTorch lets cuDNN do for float32 convolutions by
#: default. Off by default: plain float32. Set it with :func:`tf32`.
ALLOW_TF32 = False

_TF32_MATH = 3  # CUBLAS_TF32_TENSOR_OP_MATH


@contextlib.contextmanager
def tf32(enabled=True):
    """Within the block, CNN convolutions on CuPy arrays may use TF32 tensor cores.

    Faster (memory-bound instead of arithmetic-bound on Hopper) at the cost of about three
    decimal digits of the products' inputs; outputs typically change by ~1e-3 of the image
    range. NumPy (CPU) inference is not affected.

    Examples
    --------
    >>> from invrestore.nn import tf32
    >>> with tf32():
    ...     pass  # net(cupy_image, sigma) here may use TF32
    """
    global ALLOW_TF32
    old, ALLOW_TF32 = ALLOW_TF32, bool(enabled)
    try:
        yield
    finally:
        ALLOW_TF32 = old

_EPILOGUE = {}

_EPILOGUE_BODY = """
    float v = y + b[i % co];
    {residual}
    if (relu) v = v > 0.f ? v : 0.f;
    long long q = q0 + i / co;
    long long col = (q - slack) % wp;
    if (col < pad || col >= wp - pad) v = 0.f;
    y = v;
"""


def gemm_plan(q0, q1, kh, kw, wp, chunk=None):
    """The ``sgemm`` calls of one ``kh x kw`` convolution (padding ``(kh//2, kw//2)``), in order.

    Yields ``(out_row, count, tap_row, in_row, beta)``: output rows
    ``out_row + kw m`` (``m < count``) accumulate the product of the ``kw Cin`` floats that start
    at input row ``in_row + kw m`` with the taps ``tap_row kw .. tap_row kw + kw - 1`` stacked,
    with ``beta = 0`` for the first tap row of a phase (overwrite) and 1 after it. Each chunk of
    pixels ends with the marker ``(start, count, None, None, None)``, after which its epilogue
    runs.
    """
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    chunk = q1 - q0 if chunk is None else max(1, int(chunk))
    for s in range(q0, q1, chunk):
        n = min(chunk, q1 - s)
        for r in range(min(kw, n)):
            count = (n - r + kw - 1) // kw
            for i in range(kh):
                yield s + r, count, i, s + r + (i - ph) * wp - pw, 0.0 if i == 0 else 1.0
        yield s, n, None, None, None


def _epilogue(residual):
    cp = cupy_module()

    key = (bool(residual), cp.cuda.Device().id)
    kern = _EPILOGUE.get(key)
    if kern is None:
        args = ("raw float32 b, " + ("float32 r, " if residual else "")
                + "int64 co, int64 q0, int64 slack, int64 wp, int64 pad, bool relu")
        body = _EPILOGUE_BODY.format(residual="v += r;" if residual else "")
        kern = cp.ElementwiseKernel(args, "float32 y", body,
                                    f"invrestore_conv_epilogue_{int(bool(residual))}")
        _EPILOGUE[key] = kern
    return kern


def conv_flat_cupy(geo, x, taps, kh, kw, b, relu, residual, out, chunk=None):
    """``out[q0:q1] = relu(b + residual + sum_t x[q + off_t] @ taps[t])``, pad columns zeroed.

    ``x``, ``out`` (and ``residual``) are C-contiguous float32 CuPy buffers of the padded-flat
    layout ``geo``; ``taps`` is ``(kh kw, ci, co)`` float32, C-contiguous (:func:`prepare`).
    Supported layers may run on the tensor-core kernel instead of cuBLAS, in float32 (3xTF32)
    or, where TF32 is allowed (:func:`tf32`), in TF32 (:mod:`invrestore.nn._conv_tc` says when).
    """
    if not (x.flags.c_contiguous and out.flags.c_contiguous and taps.flags.c_contiguous):
        raise ValueError("conv_flat_cupy needs C-contiguous buffers")
    nk, ci, co = (int(s) for s in taps.shape)
    if kh * kw != nk:
        raise ValueError(f"conv_flat_cupy: {nk} taps do not form a {kh}x{kw} kernel")
    from ._conv_tc import aligned, choose, conv_tc

    # (a layer run several times to time it must not read out)
    if residual is not out and aligned(x, taps, residual, out):

        split = not ALLOW_TF32

        def run_tc():
            return conv_tc(geo, x, taps, kh, kw, b, relu, residual, out, split=split)

        def run_cublas():
            return _conv_cublas(geo, x, taps, kh, kw, b, relu, residual, out, chunk, ALLOW_TF32)

        def cublas_fp32(*args):
            return _conv_cublas(*args, None, False)

        if choose(geo, ci, co, kh, kw, residual, split, run_tc, run_cublas, cublas_fp32):
            return run_tc()
    return _conv_cublas(geo, x, taps, kh, kw, b, relu, residual, out, chunk, ALLOW_TF32)


def _conv_cublas(geo, x, taps, kh, kw, b, relu, residual, out, chunk, allow_tf32):
    cp = cupy_module()
    cublas = cublas_module()

    _, ci, co = (int(s) for s in taps.shape)
    q0, q1 = geo.q_start, geo.q_end
    handle = cp.cuda.device.get_cublas_handle()
    cublas.setStream(handle, cp.cuda.get_current_stream().ptr)
    mode = cublas.getPointerMode(handle)
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)
    math_mode = None
    if allow_tf32:
        math_mode = cublas.getMathMode(handle)
        cublas.setMathMode(handle, getattr(cublas, "CUBLAS_TF32_TENSOR_OP_MATH", _TF32_MATH))
    scal = {v: np.array(v, dtype=np.float32) for v in (0.0, 1.0)}
    ptr = {v: a.ctypes.data for v, a in scal.items()}
    kern = _epilogue(residual is not None)
    item = 4
    xa, oa, ta = x.data.ptr, out.data.ptr, taps.data.ptr
    try:
        for s, n, i, row, beta in gemm_plan(q0, q1, kh, kw, geo.wp,
                                            CHUNK_PIXELS if chunk is None else chunk):
            if i is None:
                y = out[s:s + n]
                extra = (residual[s:s + n],) if residual is not None else ()
                kern(b, *extra, co, s, geo.slack, geo.wp, geo.pad, bool(relu), y)
                continue
            cublas.sgemm(handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, co, n, kw * ci,
                         ptr[1.0], ta + i * kw * ci * co * item, co, xa + row * ci * item,
                         kw * ci, ptr[beta], oa + s * co * item, kw * co)
    finally:
        cublas.setPointerMode(handle, mode)
        if math_mode is not None:
            cublas.setMathMode(handle, math_mode)
    return out
