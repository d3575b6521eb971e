"""Array backend: NumPy on the CPU, CuPy on a GPU; the array passed in decides.

This is the only module of invrestore that imports CuPy, and it does so lazily: importing
invrestore never fails because CuPy, a CUDA driver or a GPU is missing.

Dtype policy (see :func:`as_float_image`): float32 and float64 arrays keep their dtype; integer
images are scaled to [0, 1] like :func:`skimage.util.img_as_float` (but to float32, not float64);
any other dtype (bool, float16, ...) becomes float32.

Examples
--------
>>> import numpy as np
>>> from invrestore.backend import get_xp, as_float_image
>>> x = as_float_image(np.array([[0, 255]], dtype=np.uint8))
>>> x.dtype, float(x.max())
(dtype('float32'), 1.0)
>>> get_xp(x) is np
True
"""

from __future__ import annotations

import math
import numbers

import numba
import numpy as np

__all__ = [
    "cupy_available",
    "get_xp",
    "get_xsp",
    "device_of",
    "to_device",
    "to_numpy",
    "as_float_image",
    "check_finite",
    "check_image",
    "check_scalar",
    "real_dtype",
    "synchronize",
    "device_time_ms",
    "vdot",
    "norm",
]

_CUPY = None  # cached module, or False once the import failed


def _cupy():
    """Return the cupy module, or None where it cannot be imported or has no device."""
    global _CUPY
    if _CUPY is None:
        try:
            import cupy  # noqa: PLC0415 (lazy by design)

            _CUPY = cupy
        except Exception:  # ImportError, or a CUDA error raised at import
            _CUPY = False
    return _CUPY or None


def cupy_module():
    """The ``cupy`` module, for code that builds CUDA kernels (RawModule, ElementwiseKernel).

    This module is the only place that imports CuPy; kernels get it here. Raises
    ``RuntimeError`` where CuPy cannot be imported.
    """
    cp = _cupy()
    if cp is None:
        raise RuntimeError("CuPy is not installed (pip install 'invrestore[gpu]') or failed to "
                           "import")
    return cp


def cublas_module():
    """CuPy's cuBLAS bindings (``cupy.cuda.cublas``), see :func:`cupy_module`."""
    cupy_module()
    from cupy.cuda import cublas  # lazy by design

    return cublas


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    cp = _cupy()
    if cp is None:
        return False
    try:
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _is_cupy_array(a) -> bool:
    # Checked by module name first so that NumPy-only sessions never import CuPy.
    return type(a).__module__.startswith("cupy") and _cupy() is not None


def get_xp(*arrays):
    """Array module for ``arrays``: :mod:`cupy` if any of them is a CuPy array, else :mod:`numpy`.

    Non-array arguments (scalars, None) are ignored.
    """
    for a in arrays:
        if _is_cupy_array(a):
            return _cupy()
    return np


def get_xsp(*arrays):
    """SciPy-like module for ``arrays``: :mod:`cupyx.scipy` for CuPy arrays, else :mod:`scipy`.

    The submodules ``fft``, ``ndimage`` and ``signal`` are imported, so ``xsp.fft.rfft2`` works.
    """
    if get_xp(*arrays) is np:
        import scipy.fft  # noqa: F401
        import scipy.ndimage  # noqa: F401
        import scipy.signal  # noqa: F401

        return scipy
    import cupyx.scipy  # noqa: PLC0415
    import cupyx.scipy.fft  # noqa: F401
    import cupyx.scipy.ndimage  # noqa: F401
    import cupyx.scipy.signal  # noqa: F401

    return cupyx.scipy


def device_of(a) -> str:
    """``"cupy"`` for a CuPy array, ``"numpy"`` otherwise."""
    return "cupy" if _is_cupy_array(a) else "numpy"


_DEVICE_NAMES = {"numpy": "numpy", "cpu": "numpy", "cupy": "cupy", "gpu": "cupy", "cuda": "cupy"}


def _device_name(device) -> str:
    if device in (np,):
        return "numpy"
    cp = _cupy()
    if cp is not None and device is cp:
        return "cupy"
    if not isinstance(device, str) or device.lower() not in _DEVICE_NAMES:
        raise ValueError(f"device must be one of {sorted(_DEVICE_NAMES)}, got {device!r}")
    return _DEVICE_NAMES[device.lower()]


def to_device(a, device):
    """Move ``a`` to ``device`` ("numpy"/"cpu" or "cupy"/"gpu"); a no-op if already there.

    The move is explicit by design: invrestore never copies between host and GPU silently.
    """
    name = _device_name(device)
    if name == "numpy":
        return to_numpy(a)
    cp = _cupy()
    if cp is None:
        raise RuntimeError("device='cupy' requested but CuPy is not installed "
                           "(pip install 'invrestore[gpu]') or has no CUDA device")
    return cp.asarray(a)


def to_numpy(a):
    """Return ``a`` as a NumPy array (copying from the GPU where needed)."""
    if _is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def synchronize(a=None):
    """Wait for queued GPU work when ``a`` is a CuPy array (for honest timings); else no-op."""
    if _is_cupy_array(a):
        _cupy().cuda.get_current_stream().synchronize()


def device_time_ms(fn, repeat=3):
    """Best of ``repeat`` GPU times (ms, CUDA events on the current stream) of ``fn()``, after
    one untimed call (compilation, first loads). For choosing between kernels at run time."""
    cp = cupy_module()
    start, end = cp.cuda.Event(), cp.cuda.Event()
    fn()
    best = float("inf")
    for _ in range(repeat):
        start.record()
        fn()
        end.record()
        end.synchronize()
        best = min(best, cp.cuda.get_elapsed_time(start, end))
    return best


@numba.njit(parallel=True, cache=True, nogil=True)
def _dot(a, b):  # pragma: no cover - compiled
    s = 0.0
    for i in numba.prange(a.size):
        s += np.float64(a[i]) * np.float64(b[i])
    return s


def vdot(a, b) -> float:
    """``sum(a * b)`` over all elements of two real arrays of the same size, as a float.

    Used instead of ``numpy.vdot`` / ``numpy.linalg.norm`` inside iterative loops: those call
    OpenBLAS, whose worker threads keep spinning after each call and take the cores from
    Numba's thread pool (measured on 2 cores: an ADMM iteration with a 20-pass Numba TV prox
    went from 19 ms to 47 ms). This runs on Numba's own pool (float64 accumulation) for NumPy
    arrays and through ``cupy.vdot`` for CuPy arrays.

    Examples
    --------
    >>> import numpy as np
    >>> vdot(np.ones((2, 3)), np.full((2, 3), 2.0))
    12.0
    """
    xp = get_xp(a, b)
    if xp is not np:
        return float(xp.vdot(a.ravel(), b.ravel()))
    a = np.ascontiguousarray(a).ravel()
    b = np.ascontiguousarray(b).ravel()
    if a.size != b.size:
        raise ValueError(f"vdot needs arrays of the same size, got {a.size} and {b.size}")
    if a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        a, b = a.astype(np.float64), b.astype(np.float64)
    return float(_dot(a, b))


def norm(a) -> float:
    """Euclidean norm of all elements of ``a`` (see :func:`vdot`)."""
    return math.sqrt(max(vdot(a, a), 0.0))


def real_dtype(dtype):
    """float64 stays float64, everything else computes in float32."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def check_finite(x, name: str = "x"):
    """Raise ValueError naming ``name`` if ``x`` holds NaN or Inf.

    The test is a single reduction (``sum``), cheap next to any operator application.
    """
    xp = get_xp(x)
    s = xp.sum(x)
    if not math.isfinite(float(s)):
        # The sum of finite values can overflow only beyond ~1e308; report precisely.
        if not bool(xp.isfinite(x).all()):
            raise ValueError(f"{name} contains NaN or Inf values")
    return x


def as_float_image(image, dtype=None, *, name: str = "image"):
    """Convert ``image`` to a floating-point array following the dtype policy.

    Parameters
    ----------
    image : array_like
        NumPy or CuPy array (or nested sequence) of any real dtype.
    dtype : {None, float32, float64}, optional
        Force the output dtype. By default float32/float64 are kept and others become float32.
    name : str
        Name used in error messages.

    Returns
    -------
    ndarray
        Floating-point image on the same device. Unsigned integers map to [0, 1] and signed
        integers to [-1, 1] (as :func:`skimage.util.img_as_float`); floats are not rescaled.

    Raises
    ------
    TypeError
        Complex or non-numeric input.
    ValueError
        NaN or Inf values.
    """
    xp = get_xp(image)
    a = xp.asarray(image)
    kind = a.dtype.kind
    if kind == "c" or kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    if kind == "f":
        out_dtype = dtype or (a.dtype if a.dtype in (np.float32, np.float64) else np.float32)
        a = a.astype(out_dtype, copy=False)
    elif kind == "b":
        a = a.astype(dtype or np.float32)
    else:
        out_dtype = dtype or np.dtype(np.float32)
        info = np.iinfo(a.dtype)
        if kind == "u":
            a = a.astype(out_dtype) / out_dtype.type(info.max)
        else:
            # img_as_float maps signed integers to [-1, 1]
            a = xp.maximum(a.astype(out_dtype) / out_dtype.type(info.max), out_dtype.type(-1))
        a = a.astype(out_dtype, copy=False)
    return check_finite(a, name)


def check_image(x, name: str = "x", *, ndim=(2, 3)):
    """Validate an image argument: real floating array of an allowed ndim, finite values."""
    if not hasattr(x, "ndim") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be a NumPy or CuPy array, got {type(x).__name__}")
    if x.ndim not in ndim:
        raise ValueError(f"{name} must have ndim in {tuple(ndim)} ((H, W) or (H, W, C)), "
                         f"got shape {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}; convert integer "
                        "images with invrestore.backend.as_float_image")
    return check_finite(x, name)


def check_scalar(value, name: str, *, positive=False, nonnegative=False, integer=False):
    """Validate a real scalar parameter and return it as a Python number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.generic) or \
            (isinstance(value, np.generic) and value.dtype.kind not in "iuf"):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if integer:
        if isinstance(value, numbers.Integral):
            value = int(value)
        elif float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    else:
        value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value
