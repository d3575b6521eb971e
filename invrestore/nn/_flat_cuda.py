"""The padded-flat convolution of :mod:`invrestore.nn._flat` on CuPy arrays, through cuBLAS.

For each tap ``t`` the product ``x[q + off_t] @ W_t`` over a run of pixels is one ``sgemm``
that *accumulates* into the output (``beta = 1`` from the second tap on), so no temporary of
the size of the activations is written and added: per tap the memory traffic is the input run
plus one read-modify-write of the output run, against an input read, a temporary written and
three passes to add it for ``y += xp.matmul(...)``.

The pixels are taken in chunks of :data:`CHUNK_PIXELS` (whole padded rows are not needed: the
pad columns are zeroed by the epilogue). A chunk's output and input (``64 x 4`` bytes a pixel
each at 64 channels) then stay in the GPU's L2 cache across the taps of the chunk, so the nine
read-modify-writes of the output hit the cache rather than the device memory. The epilogue
(bias, residual, ReLU, zeroed pad columns) is one fused elementwise kernel per chunk, run while
the chunk is still cached.

Row-major ``C (n x co) = A (n x ci) @ B (ci x co)`` is, read column-major, ``C^T = B^T A^T``:
``sgemm(N, N, m=co, n=n, k=ci, B, ld=co, A, ld=ci, C, ld=co)`` on the same pointers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CHUNK_PIXELS", "conv_flat_cupy", "gemm_plan"]

#: Pixels per chunk of output (tuned on an H200: see ``benchmarks/gpu_check.py``).
CHUNK_PIXELS = 1 << 17

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


def gemm_plan(q0, q1, n_taps, offs, chunk):
    """The ``sgemm`` calls of one convolution, in order.

    Yields ``(start, count, tap, input_row, beta)``: output rows ``start .. start + count``
    accumulate ``x[input_row .. input_row + count] @ W_tap``, with ``beta = 0`` for the first
    tap of a chunk (overwrite) and 1 after it. A chunk ends with the marker
    ``(start, count, None, None, None)``, after which its epilogue runs.
    """
    chunk = max(1, int(chunk))
    for s in range(q0, q1, chunk):
        n = min(chunk, q1 - s)
        for t in range(n_taps):
            yield s, n, t, s + int(offs[t]), 0.0 if t == 0 else 1.0
        yield s, n, None, None, None


def _epilogue(residual):
    import cupy as cp

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


def conv_flat_cupy(geo, x, taps, b, offs, relu, residual, out, chunk=None):
    """``out[q0:q1] = relu(b + residual + sum_t x[q + off_t] @ taps[t])``, pad columns zeroed.

    ``x``, ``out`` (and ``residual``) are C-contiguous float32 CuPy buffers of the padded-flat
    layout ``geo``; ``taps`` is ``(n_taps, ci, co)`` float32, C-contiguous.
    """
    import cupy as cp
    from cupy.cuda import cublas

    if not (x.flags.c_contiguous and out.flags.c_contiguous and taps.flags.c_contiguous):
        raise ValueError("conv_flat_cupy needs C-contiguous buffers")
    nk, ci, co = (int(s) for s in taps.shape)
    q0, q1 = geo.q_start, geo.q_end
    handle = cp.cuda.device.get_cublas_handle()
    cublas.setStream(handle, cp.cuda.get_current_stream().ptr)
    mode = cublas.getPointerMode(handle)
    cublas.setPointerMode(handle, cublas.CUBLAS_POINTER_MODE_HOST)
    scal = {v: np.array(v, dtype=np.float32) for v in (0.0, 1.0)}
    ptr = {v: a.ctypes.data for v, a in scal.items()}
    kern = _epilogue(residual is not None)
    item = 4
    xa, oa, ta = x.data.ptr, out.data.ptr, taps.data.ptr
    try:
        for s, n, t, row, beta in gemm_plan(q0, q1, nk, offs,
                                            CHUNK_PIXELS if chunk is None else chunk):
            if t is None:
                y = out[s:s + n]
                extra = (residual[s:s + n],) if residual is not None else ()
                kern(b, *extra, co, s, geo.slack, geo.wp, geo.pad, bool(relu), y)
                continue
            cublas.sgemm(handle, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, co, n, ci, ptr[1.0],
                         ta + t * ci * co * item, co, xa + row * ci * item, ci, ptr[beta],
                         oa + s * co * item, co)
    finally:
        cublas.setPointerMode(handle, mode)
    return out
