"""Stride-1 "same" convolutions on a padded, flattened channels-last layout.

Layout. An image ``(H, W, C)`` whose convolutions need ``pad`` pixels of zero border is kept
in a C-contiguous 2-D buffer of shape ``(S + (H + 2 pad) (W + 2 pad) + S, C)``: the zero-padded
image, row-major, one pixel per row, with ``S`` spare zero pixels at both ends. Let
``Wp = W + 2 pad``. In this layout the input pixel that tap ``(i, j)`` of a ``kh x kw`` kernel
reads for output pixel ``q`` is ``q + off[i, j]`` with ``off = (i - ph) Wp + (j - pw)``, the same
for every pixel, so for a run of consecutive pixels ``q0 .. q1`` the operand of every tap is a
*contiguous* ``(q1 - q0, Cin)`` block of the buffer and the convolution is a sum of ``kh kw``
matrix products with no im2col copy:

    y[q0:q1] = b + sum_(i, j) x[q0 + off_ij : q1 + off_ij] @ W_ij,   W_ij = weight[:, :, i, j].T

The runs are whole padded rows, so the pad columns receive junk, which is zeroed afterwards:
the output buffer is then the zero-padded input of the next layer, and a chain of
convolutions never copies its activations (the pad rows are never written).

Kernels. ``conv_flat`` dispatches to

* a Numba kernel (NumPy input): bands of rows run in parallel (``prange``), each band calls
  the BLAS ``sgemm`` of SciPy (through :mod:`scipy.linalg.cython_blas`, no GIL) once per tap
  with ``beta = 1``, accumulating in place into the band of ``y`` that the bias (and an
  optional residual) initialised, then applies ReLU and zeroes the pad columns while the band
  is in cache. For a few input channels (first layers: 1 to 13) one ``sgemm`` over a small
  im2col band (``K = kh kw Cin``) is used instead. OpenBLAS itself is held to one thread during
  the call (see :func:`blas_single_thread`): the bands are the parallelism, and OpenBLAS's
  spinning worker threads would otherwise compete with Numba's.
* for CuPy input, one cuBLAS ``sgemm`` per tap that accumulates into the output, over chunks
  of pixels that stay in the GPU's L2 cache (:mod:`invrestore.nn._flat_cuda`);
* an array version (the fallback): the same sum of products with ``xp.matmul`` over the whole
  image.

Measured on the 2-core AMD EPYC (AVX-512) development machine, one 64 -> 64 3x3 layer on a
512 x 512 image on one thread: 217 ms (89 GFLOP/s) with the per-tap products, against 444 ms
for PyTorch 2.13's convolution on one thread; an im2col band with one ``K = 576`` product was
about 35% slower than the per-tap products, which need no copy.

The slow reference these are tested against is :func:`invrestore.nn.reference.conv2d`.
"""

from __future__ import annotations

import ctypes
import re

import numba
import numpy as np
from numba import njit, prange, types

from ..backend import get_xp
from ..kernels.blas_threads import SharedLimit, set_to_one

__all__ = ["FlatGeometry", "blas_single_thread", "conv_flat", "numba_blas_available", "prepare"]


class FlatGeometry:
    """Padded-flat layout of an ``(H, W)`` image with ``pad`` pixels of zero border."""

    def __init__(self, h, w, pad):
        self.h, self.w, self.pad = int(h), int(w), int(pad)
        self.wp = self.w + 2 * self.pad
        self.hp = self.h + 2 * self.pad
        self.slack = self.pad * (self.wp + 1) + 8
        self.length = 2 * self.slack + self.hp * self.wp
        # Output runs: every pixel of the interior rows, pad columns included (zeroed later).
        self.q_start = self.slack + self.pad * self.wp
        self.q_end = self.slack + (self.pad + self.h) * self.wp

    def empty(self, xp, channels):
        return xp.zeros((self.length, channels), dtype=np.float32)

    def grid(self, buf):
        """``(Hp, Wp, C)`` view of the padded image held by ``buf``."""
        return buf[self.slack:self.slack + self.hp * self.wp].reshape(self.hp, self.wp, -1)

    def interior(self, buf):
        """``(H, W, C)`` view of the image held by ``buf``."""
        p = self.pad
        return self.grid(buf)[p:p + self.h, p:p + self.w]

    def to_flat(self, x):
        """Copy an ``(H, W, C)`` array into a new zero-padded flat buffer."""
        xp = get_xp(x)
        buf = self.empty(xp, x.shape[2])
        self.interior(buf)[...] = x
        return buf

    def offsets(self, kh, kw):
        ph, pw = (kh - 1) // 2, (kw - 1) // 2
        return np.array([(i - ph) * self.wp + (j - pw) for i in range(kh) for j in range(kw)],
                        dtype=np.int64)

    def __repr__(self):
        return f"FlatGeometry(h={self.h}, w={self.w}, pad={self.pad})"


# ---------------------------------------------------------------------------------------------
# BLAS access from Numba, and OpenBLAS thread control

# The kernel calls SciPy's sgemm (scipy.linalg.cython_blas) under this symbol name, which is
# bound to the function's address at run time (llvmlite.binding.add_symbol) before the kernel
# is first compiled or loaded from Numba's on-disk cache, so the cached code stays valid.
_SGEMM_SYMBOL = "invrestore_nn_sgemm"
_sgemm = types.ExternalFunction(_SGEMM_SYMBOL, types.void(*([types.voidptr] * 13)))
_SGEMM_STATE = None  # True once the symbol is bound, False if SciPy's BLAS is unreachable
_OPENBLAS = None  # (set_num_threads, get_num_threads) of SciPy's OpenBLAS, or False


def _bind_sgemm() -> bool:
    global _SGEMM_STATE
    if _SGEMM_STATE is None:
        try:
            import llvmlite.binding as llvm
            from numba.extending import get_cython_function_address

            llvm.add_symbol(_SGEMM_SYMBOL,
                            get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
            _SGEMM_STATE = True
        except Exception:  # noqa: BLE001  SciPy without cython_blas: the array path is used
            _SGEMM_STATE = False
    return _SGEMM_STATE


def _openblas_controls():
    """``(set, get)`` for the thread count of the OpenBLAS behind SciPy's BLAS, or None."""
    global _OPENBLAS
    if _OPENBLAS is None:
        _OPENBLAS = False
        try:
            import scipy.linalg.cython_blas  # noqa: F401  (loads the library)

            with open("/proc/self/maps") as fh:
                paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", fh.read())))
            # SciPy's own copy: that is the one cython_blas calls.
            paths = [p for p in paths if "scipy" in p.rsplit("/", 2)[-2]]
            for path in paths[:1]:
                lib = ctypes.CDLL(path)
                for prefix in ("scipy_openblas", "openblas"):
                    set_fn = getattr(lib, f"{prefix}_set_num_threads", None)
                    get_fn = getattr(lib, f"{prefix}_get_num_threads", None)
                    if set_fn is not None and get_fn is not None:
                        set_fn.restype, set_fn.argtypes = None, [ctypes.c_int]
                        get_fn.restype, get_fn.argtypes = ctypes.c_int, []
                        _OPENBLAS = (set_fn, get_fn)
                        break
        except Exception:  # noqa: BLE001  not Linux, or not OpenBLAS
            _OPENBLAS = False
    return _OPENBLAS or None


def numba_blas_available() -> bool:
    """True when the Numba kernel can run: SciPy's sgemm reachable, OpenBLAS thread control."""
    return _bind_sgemm() and _openblas_controls() is not None


def _scipy_blas_to_one():
    ctl = _openblas_controls()  # (set, get)
    return None if ctl is None else set_to_one(ctl[1], ctl[0])


_ONE_THREAD = SharedLimit(_scipy_blas_to_one)


def blas_single_thread():
    """Hold SciPy's OpenBLAS to one thread inside the block (restored afterwards); yields
    whether the limit is in force.

    Blocks on several threads (tiles denoised side by side) share the setting instead of
    taking turns (:class:`~invrestore.kernels.blas_threads.SharedLimit`); it is process-wide
    while any block holds it.
    """
    return _ONE_THREAD.hold()


# ---------------------------------------------------------------------------------------------
# Numba kernel

@njit(parallel=True, nogil=True, cache=True)
def _conv_kernel(x, y, wk, bias, res, offs, q_start, q_end, band, wp, slack, pad, relu,
                 use_res, use_col):  # pragma: no cover - compiled
    nk, ci, co = wk.shape
    n_bands = (q_end - q_start + band - 1) // band
    for bi in prange(n_bands):
        q0 = q_start + bi * band
        q1 = min(q0 + band, q_end)
        m = q1 - q0
        for q in range(q0, q1):
            if use_res:
                for c in range(co):
                    y[q, c] = bias[c] + res[q, c]
            else:
                for c in range(co):
                    y[q, c] = bias[c]
        # Fortran sgemm on row-major data: C(co x m) += A(co x K) B(K x m), where C is the
        # band of y, B the band of x (or the im2col band) and A the transposed tap matrix.
        trans = np.array([ord("N")], dtype=np.uint8)
        one = np.ones(1, dtype=np.float32)
        mm = np.array([co], dtype=np.int32)
        nn = np.array([m], dtype=np.int32)
        yp = y[q0:].ctypes.data
        if use_col:
            kk = np.array([nk * ci], dtype=np.int32)
            col = np.empty((m, nk * ci), dtype=np.float32)
            for p in range(m):
                for t in range(nk):
                    src = q0 + p + offs[t]
                    for c in range(ci):
                        col[p, t * ci + c] = x[src, c]
            _sgemm(trans.ctypes.data, trans.ctypes.data, mm.ctypes.data, nn.ctypes.data,
                   kk.ctypes.data, one.ctypes.data, wk.ctypes.data, mm.ctypes.data,
                   col.ctypes.data, kk.ctypes.data, one.ctypes.data, yp, mm.ctypes.data)
        else:
            kk = np.array([ci], dtype=np.int32)
            for t in range(nk):
                _sgemm(trans.ctypes.data, trans.ctypes.data, mm.ctypes.data, nn.ctypes.data,
                       kk.ctypes.data, one.ctypes.data, wk[t].ctypes.data, mm.ctypes.data,
                       x[q0 + offs[t]:].ctypes.data, kk.ctypes.data, one.ctypes.data, yp,
                       mm.ctypes.data)
        for q in range(q0, q1):
            colidx = (q - slack) % wp
            if colidx < pad or colidx >= wp - pad:
                for c in range(co):
                    y[q, c] = 0.0
            elif relu:
                for c in range(co):
                    y[q, c] = max(y[q, c], 0.0)


#: Target number of pixels per band of the Numba kernel (a band of 64 channels is ~1 MB).
BAND_PIXELS = 4096
#: Convolutions with fewer multiply-adds run on one thread (waking a pool costs more).
SERIAL_BELOW = 1 << 22
#: Below this many input channels the Numba kernel uses one im2col product per band.
COL_BELOW = 16


def _tap_matrices(weight):
    """``(kh kw, Cin, Cout)`` float32 C-contiguous: tap ``t = i kw + j`` is ``weight[:, :, i, j].T``."""
    co, ci, kh, kw = weight.shape
    return weight.transpose(2, 3, 1, 0).reshape(kh * kw, ci, co)


def conv_flat(geo, x, weight, bias=None, *, relu=False, residual=None, out=None, impl=None):
    """``y = conv(x) + bias (+ residual)``, then ReLU, for buffers in ``geo``'s layout.

    Parameters
    ----------
    geo : FlatGeometry
    x : ndarray
        ``(geo.length, Cin)`` float32 buffer (NumPy or CuPy).
    weight : ndarray or tuple
        ``(Cout, Cin, kh, kw)`` (PyTorch layout), odd ``kh, kw`` with ``(k - 1) / 2 <= geo.pad``,
        on the device of ``x``; or the ``(taps, kh, kw)`` that :func:`prepare` makes of it once
        for layers that run repeatedly.
    bias : ndarray or None
        ``(Cout,)``.
    relu : bool
        Apply ``max(., 0)`` after the sum.
    residual : ndarray or None
        Buffer of the output's shape added before the ReLU (residual blocks).
    out : ndarray or None
        Output buffer (must not be ``x``); allocated when None. Its pad rows must be zero.
    impl : {None, "numba", "cublas", "xp"}
        Kernel choice; None picks Numba for NumPy input where available and cuBLAS
        (:mod:`invrestore.nn._flat_cuda`) for CuPy input; ``"xp"`` is the plain array version.

    Returns
    -------
    ndarray
        ``out``.
    """
    taps, kh, kw = weight if isinstance(weight, tuple) else prepare(weight)
    xp = get_xp(x)
    nk, ci, co = taps.shape
    if x.shape != (geo.length, ci):
        raise ValueError(f"conv_flat: input buffer {tuple(x.shape)} does not match {geo} with "
                         f"{ci} channels")
    if (kh - 1) // 2 > geo.pad or (kw - 1) // 2 > geo.pad or kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"conv_flat needs odd kernels with radius <= {geo.pad}, got {kh}x{kw}")
    if out is None:
        out = geo.empty(xp, co)
    if out is x:
        raise ValueError("conv_flat cannot write into its input buffer")
    b = xp.zeros(co, np.float32) if bias is None else xp.asarray(bias, dtype=np.float32)
    if b.shape != (co,):  # the kernels index it by output channel
        raise ValueError(f"conv_flat: bias must have shape ({co},), got {tuple(b.shape)}")
    offs = geo.offsets(kh, kw)
    if impl is None:
        if xp is np:
            impl = "numba" if numba_blas_available() else "xp"
        else:
            impl = "cublas"
    if impl not in ("numba", "cublas", "xp"):
        raise ValueError(f"conv_flat: impl must be None, 'numba', 'cublas' or 'xp', got {impl!r}")
    if impl == "cublas":
        from ._flat_cuda import conv_flat_cupy

        return conv_flat_cupy(geo, x, taps, kh, kw, b, relu, residual, out)
    if impl == "numba":
        band = max(1, round(BAND_PIXELS / geo.wp)) * geo.wp
        res = residual if residual is not None else out
        serial = (geo.q_end - geo.q_start) * nk * ci * co < SERIAL_BELOW
        threads = numba.get_num_threads()
        with blas_single_thread():
            if serial:
                numba.set_num_threads(1)
            try:
                _conv_kernel(x, out, taps, b, res, offs, geo.q_start, geo.q_end, band, geo.wp,
                             geo.slack, geo.pad, bool(relu), residual is not None,
                             ci < COL_BELOW)
            finally:
                numba.set_num_threads(threads)
        return out
    return _conv_flat_xp(xp, geo, x, taps, b, offs, relu, residual, out)


def prepare(weight):
    """``(taps, kh, kw)`` of a ``(Cout, Cin, kh, kw)`` weight, for repeated :func:`conv_flat` calls."""
    xp = get_xp(weight)
    kh, kw = int(weight.shape[2]), int(weight.shape[3])
    taps = xp.ascontiguousarray(_tap_matrices(xp.asarray(weight, dtype=np.float32)))
    return taps, kh, kw


def _conv_flat_xp(xp, geo, x, taps, b, offs, relu, residual, out):
    q0, q1 = geo.q_start, geo.q_end
    acc = out[q0:q1]
    acc[...] = b
    if residual is not None:
        acc += residual[q0:q1]
    for t in range(taps.shape[0]):
        o = int(offs[t])
        acc += xp.matmul(x[q0 + o:q1 + o], taps[t])
    if relu:
        xp.maximum(acc, 0, out=acc)
    g = geo.grid(out)
    p = geo.pad
    if p:
        g[p:p + geo.h, :p] = 0
        g[p:p + geo.h, geo.wp - p:] = 0
    return out
