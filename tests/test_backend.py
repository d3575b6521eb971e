import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import invrestore
from invrestore.backend import (as_float_image, check_scalar, cupy_available, device_of,
                                get_xp, get_xsp, to_device, to_numpy)


def test_numpy_backend():
    x = np.zeros(3)
    assert get_xp(x) is np and get_xp(1.0, None, x) is np
    assert get_xsp(x).fft is not None
    assert device_of(x) == "numpy"
    assert to_numpy(x) is x or np.shares_memory(to_numpy(x), x)
    assert to_device(x, "cpu") is x or np.shares_memory(to_device(x, "cpu"), x)


def test_unknown_device():
    with pytest.raises(ValueError, match="device must be one of"):
        to_device(np.zeros(2), "tpu")


@pytest.mark.skipif(cupy_available(), reason="checks the message shown without CuPy")
def test_cupy_request_without_cupy_is_explained():
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        to_device(np.zeros(2), "cupy")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32])
def test_integer_images_scale_like_img_as_float(dtype):
    from skimage.util import img_as_float

    info = np.iinfo(dtype)
    a = np.array([[info.min, 0, info.max // 3, info.max]], dtype=dtype)
    out = as_float_image(a)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, img_as_float(a), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype,expected", [(np.float32, np.float32), (np.float64, np.float64),
                                            (np.float16, np.float32), (bool, np.float32)])
def test_float_policy(dtype, expected):
    out = as_float_image(np.ones((2, 2), dtype=dtype))
    assert out.dtype == expected
    assert float(out.max()) == 1.0


def test_forced_dtype_and_errors():
    assert as_float_image(np.ones(2, np.uint8), np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        as_float_image(np.ones(2), np.float16)
    with pytest.raises(TypeError, match="image must hold real numbers"):
        as_float_image(np.ones(2, complex))
    with pytest.raises(ValueError, match="image contains NaN"):
        as_float_image(np.array([0.0, np.nan]))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_scalar(v):
    import math

    if math.isfinite(v) and v > 0:
        assert check_scalar(v, "rho", positive=True) == v
    else:
        with pytest.raises(ValueError, match="rho must be"):
            check_scalar(v, "rho", positive=True)


def test_check_scalar_integer():
    assert check_scalar(3.0, "factor", integer=True) == 3
    with pytest.raises(ValueError, match="factor must be an integer"):
        check_scalar(2.5, "factor", integer=True)
    with pytest.raises(TypeError, match="factor must be a real number"):
        check_scalar(True, "factor", integer=True)


def test_import_needs_no_optional_extra():
    import subprocess
    import sys

    code = ("import sys; sys.modules['cupy'] = None; sys.modules['torch'] = None; "
            "sys.modules['matplotlib'] = None; sys.modules['dask'] = None; "
            "import invrestore, invrestore.operators, invrestore.testing; "
            "assert not invrestore.backend.cupy_available(); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert invrestore.__version__


def test_cupy_module_raises_clearly_without_cupy(monkeypatch):
    from invrestore import backend

    monkeypatch.setattr(backend, "_cupy", lambda: None)
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        backend.cupy_module()
    with pytest.raises(RuntimeError, match="CuPy is not installed"):
        backend.cublas_module()
