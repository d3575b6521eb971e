"""Tensor-core convolution for CuPy arrays, and the choice between it and cuBLAS.

:func:`invrestore.nn._flat_cuda.conv_flat_cupy` may run a layer on the kernel of
:mod:`invrestore.nn._conv_tc_source` instead of its per-tap cuBLAS products:

* in float32 (the default), as "3xTF32": each float32 operand split into a TF32 high part and a
  TF32 low part, three tensor-core products per tile (``hi hi + hi lo + lo hi``), of float32
  accuracy (checked below to 1e-4 of the output's range against cuBLAS's float32);
* where TF32 is allowed (:func:`invrestore.nn.tf32`), in TF32: one product per tile on inputs
  rounded to TF32, as cuBLAS and cuDNN do then.

Choice (:data:`MODE`):

* ``"auto"`` (default): on a device of compute capability 8.0 or more, each of the two forms is
  first *checked* against cuBLAS in float32 on small random layers (:data:`CHECK_LAYERS`;
  largest difference at most
  :data:`CHECK_TOL` of the output's range; a failure warns once and keeps cuBLAS for that form
  on that device), then, once per layer shape (channels, kernel, residual or not, size class of
  the image), the kernel and cuBLAS are *timed* on the call's own data and the faster is kept,
  as PyTorch's ``cudnn.benchmark`` does. The first call of each shape pays three extra runs of
  each.
* ``"cublas"``: the per-tap cuBLAS products always.
* ``"tensor_core"``: the kernel wherever the layer is supported, with no check or timing.

Supported layers: any channel counts, ``kw <= 3`` (every layer of DnCNN, FFDNet and DRUNet's
3x3 convolutions). Blocks cover 64 output channels and chunks of 32 input channels: a last
layer with ``Cout = 1`` computes 64 times what it keeps, and the timing decides whether that
still beats cuBLAS.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ..backend import cupy_module, device_time_ms
from ._conv_tc_source import BM, BN, SOURCE, THREADS

__all__ = ["CHECK_LAYERS", "CHECK_TOL", "MODE", "aligned", "choose", "conv_tc", "supported"]

#: "auto", "cublas" or "tensor_core" (see the module docstring).
MODE = "auto"

#: Largest ``max|tc - fp32| / max|fp32|`` of the check, for TF32 (whose rounding gives about
#: 1e-3) and for the split float32 form (about 1e-6; TF32 alone would fail it).
CHECK_TOL = {False: 2e-2, True: 1e-4}

_MODES = ("auto", "cublas", "tensor_core")
_checked = {}  # (device id, split) -> True (kernel agrees with cuBLAS) or False
_chosen = {}  # (device id, split, shape key) -> True (tensor cores faster) or False


@functools.cache
def _kernel(device_id, split):
    cp = cupy_module()
    module = cp.RawModule(code=SOURCE, options=("--std=c++14",))
    return module.get_function("conv_tc3_f32" if split else "conv_tc_f32")


def _device():
    cp = cupy_module()
    dev = cp.cuda.Device()
    return dev.id, int(dev.compute_capability)


def supported(ci, co, kh, kw):
    """Whether the kernel handles a ``kh x kw`` layer from ``ci`` to ``co`` channels."""
    return ci >= 1 and co >= 1 and 1 <= kw <= 3 and kh >= 1


def aligned(x, taps, residual, out):
    """Whether the buffers allow the kernel's vector accesses: 16-byte loads of ``x`` and
    ``taps``, 8-byte loads of ``residual`` and stores to ``out``, where their rows allow them
    (fresh CuPy allocations are 256-byte aligned; a view may not be)."""
    ci, co = int(taps.shape[1]), int(taps.shape[2])
    return ((ci % 4 or x.data.ptr % 16 == 0) and (co % 4 or taps.data.ptr % 16 == 0)
            and (co % 2 or (out.data.ptr % 8 == 0
                            and (residual is None or residual.data.ptr % 8 == 0))))


def conv_tc(geo, x, taps, kh, kw, b, relu, residual, out, split=False):
    """``out[q0:q1] = relu(b + residual + sum_t x[q + off_t] @ taps[t])`` on tensor cores.

    Same contract as :func:`invrestore.nn._flat_cuda.conv_flat_cupy`; the products in TF32
    (inputs rounded to nearest, float32 accumulation) or, with ``split``, in 3xTF32 (float32
    accuracy).
    """
    nk, ci, co = (int(s) for s in taps.shape)
    if not supported(ci, co, kh, kw) or nk != kh * kw:
        raise ValueError(f"conv_tc: unsupported layer {kh}x{kw}, {ci} -> {co} channels")
    if taps.dtype != np.float32 or not taps.flags.c_contiguous:
        raise ValueError(f"conv_tc: taps must be a C-contiguous float32 array, got {taps.dtype}")
    if b.shape != (co,) or b.dtype != np.float32 or not b.flags.c_contiguous:
        raise ValueError(f"conv_tc: b must be a C-contiguous float32 ({co},) array, got "
                         f"{b.dtype} {tuple(b.shape)}")
    for name, a, width in (("x", x, ci), ("out", out, co), ("residual", residual, co)):
        if a is not None and (a.shape != (geo.length, width) or not a.flags.c_contiguous
                              or a.dtype != np.float32):
            raise ValueError(f"conv_tc: {name} must be a C-contiguous float32 "
                             f"({geo.length}, {width}) buffer, got {a.dtype} {tuple(a.shape)}")
    if not aligned(x, taps, residual, out):
        raise ValueError("conv_tc: x and taps must be 16-byte aligned, out and residual 8-byte "
                         "aligned")
    dev, _ = _device()
    q0, q1 = geo.q_start, geo.q_end
    grid = ((q1 - q0 + BM - 1) // BM, (co + BN - 1) // BN)
    res = residual if residual is not None else out  # never read when has_res is 0
    args = (x, taps, b, res, out, np.int64(q0), np.int64(q1), np.int64(x.shape[0]),
            np.int32(ci), np.int32(co), np.int32(kh), np.int32(kw), np.int32(geo.wp),
            np.int64(geo.slack), np.int32(geo.pad), np.int32(bool(relu)),
            np.int32(residual is not None))
    _kernel(dev, bool(split))(grid, (THREADS,), args)
    return out


#: The layers of the check (Cin, Cout, residual): a hidden layer, a first and a last layer
#: (vector and value-by-value staging and stores), and odd channel counts both ways.
CHECK_LAYERS = ((64, 64, True), (1, 64, False), (64, 1, True), (15, 3, False))


def _check(cublas_fp32, split):
    """The kernel against ``cublas_fp32`` (float32 cuBLAS) on random 3x3 layers
    (:data:`CHECK_LAYERS`, a 21x45 image): True where every output agrees."""
    from ._flat import FlatGeometry

    cp = cupy_module()
    rng = np.random.default_rng(0)
    geo = FlatGeometry(21, 45, 1)
    for ci, co, residual in CHECK_LAYERS:
        x = geo.empty(cp, ci)
        geo.interior(x)[...] = cp.asarray(rng.standard_normal((21, 45, ci), np.float32))
        taps = cp.asarray(rng.standard_normal((9, ci, co), np.float32)
                           / np.float32(3 * np.sqrt(ci)))
        b = cp.asarray(rng.standard_normal(co, np.float32))
        res = None
        if residual:
            res = geo.empty(cp, co)
            geo.interior(res)[...] = cp.asarray(rng.standard_normal((21, 45, co), np.float32))
        ref = cublas_fp32(geo, x, taps, 3, 3, b, True, res, geo.empty(cp, co))
        got = geo.empty(cp, co)
        got[...] = cp.nan
        got[:geo.q_start] = 0
        got[geo.q_end:] = 0
        conv_tc(geo, x, taps, 3, 3, b, True, res, got, split=split)
        scale = float(cp.abs(ref).max())
        err = float(cp.abs(got - ref).max())  # NaN (an unwritten output) fails the test below
        if not err <= CHECK_TOL[split] * scale:
            return False
    return True


def choose(geo, ci, co, kh, kw, residual, split, run_tc, run_cublas, cublas_fp32):
    """True to run the layer on tensor cores (:data:`MODE`); runs ``run_tc`` / ``run_cublas``
    (each computes the layer into its output) to time them the first time a shape is seen.

    ``split``: the float32 (3xTF32) form rather than TF32; ``cublas_fp32(geo, x, taps, kh, kw,
    b, relu, residual, out)`` is the float32 cuBLAS layer the forms are checked against.
    """
    if MODE not in _MODES:
        raise ValueError(f"invrestore.nn._conv_tc.MODE must be one of {_MODES}, got {MODE!r}")
    if MODE == "cublas" or not supported(ci, co, kh, kw):
        return False
    dev, cc = _device()
    if cc < 80:  # mma.sync with TF32 needs compute capability 8.0
        return False
    if MODE == "tensor_core":
        return True
    split = bool(split)
    form = "float32 (3xTF32)" if split else "TF32"
    if (dev, split) not in _checked:
        try:
            ok = _check(cublas_fp32, split)
        except Exception as exc:  # noqa: BLE001  (compilation or launch failure: keep cuBLAS)
            ok = False
            warnings.warn(f"invrestore: the {form} tensor-core convolution failed on device "
                          f"{dev} ({exc}); using cuBLAS", RuntimeWarning, stacklevel=3)
        else:
            if not ok:
                warnings.warn(f"invrestore: the {form} tensor-core convolution disagrees with "
                              f"cuBLAS on device {dev}; using cuBLAS", RuntimeWarning,
                              stacklevel=3)
        _checked[dev, split] = ok
    if not _checked[dev, split]:
        return False
    key = (dev, split, ci, co, kh, kw, residual is not None,
           int(geo.q_end - geo.q_start).bit_length())
    if key not in _chosen:
        _chosen[key] = bool(device_time_ms(run_tc) < device_time_ms(run_cublas))
    return _chosen[key]
