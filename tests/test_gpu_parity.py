"""NumPy vs CuPy parity for every registered operator (skipped without a GPU)."""

import numpy as np
import pytest

from invrestore.backend import to_device, to_numpy

from .registry import OPERATORS, SHAPES

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", list(OPERATORS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_matches_numpy(name, shape, dtype):
    op = OPERATORS[name](shape)
    gop = op.to("cupy")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(op.in_shape).astype(dtype)
    y = rng.standard_normal(op.out_shape).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    pairs = [(op @ x, gop @ to_device(x, "cupy")),
             (op.H @ y, gop.H @ to_device(y, "cupy"))]
    if op.exact_solve:
        pairs.append((op.solve_normal(x, 0.1), gop.solve_normal(to_device(x, "cupy"), 0.1)))
    for ref, got in pairs:
        assert got.dtype == ref.dtype
        np.testing.assert_allclose(to_numpy(got), ref, atol=tol * max(1, np.abs(ref).max()))


def test_mixed_devices_raise_a_clear_error():
    op = OPERATORS["blur_circular_asym"]((16, 20))
    with pytest.raises(TypeError, match=r"op.to\('cupy'\)"):
        op @ to_device(np.zeros(op.in_shape), "cupy")
