"""Every registered operator through the shared contract checks (invrestore.testing)."""

import numpy as np
import pytest

from invrestore.operators import conjugate_gradient
from invrestore.testing import (check_adjoint, check_linearity, check_normal_solve,
                                check_operator)

from .registry import OPERATORS, SHAPES

CASES = [(name, shape) for name in OPERATORS for shape in SHAPES]
IDS = [f"{n}-{'x'.join(map(str, s))}" for n, s in CASES]

TOL = {np.float64: 1e-10, np.float32: 1e-5}


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adjoint_and_linearity(name, shape, dtype):
    op = OPERATORS[name](shape)
    assert check_adjoint(op, dtype=dtype) < TOL[dtype]
    assert check_linearity(op, dtype=dtype) < 10 * TOL[dtype]


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
@pytest.mark.parametrize("rho", [1e-2, 1.0])
def test_normal_solve_float64(name, shape, rho):
    op = OPERATORS[name](shape)
    for A in (op, op.H):
        if A.exact_solve:
            assert check_normal_solve(A, rho) < 1e-10
        else:
            assert check_normal_solve(A, rho, tol=1e-10, max_iter=5000) < 1e-9


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
def test_normal_solve_float32(name, shape):
    op = OPERATORS[name](shape)
    kwargs = {} if op.exact_solve else {"tol": 1e-5, "max_iter": 2000}
    assert check_normal_solve(op, 0.1, dtype=np.float32, **kwargs) < 1e-4


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
def test_exact_solve_agrees_with_cg(name, shape):
    op = OPERATORS[name](shape)
    if not op.exact_solve:
        pytest.skip("no closed form: the CG path is the reference itself")
    rho = 0.05
    b = np.random.default_rng(3).standard_normal(op.in_shape)
    exact = op.solve_normal(b, rho)
    cg, info = conjugate_gradient(lambda v: op.gram(v) + rho * v, b, tol=1e-12, max_iter=5000)
    assert info.converged
    assert np.linalg.norm(exact - cg) <= 1e-6 * np.linalg.norm(cg)


@pytest.mark.parametrize("name,shape", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shapes_and_dtypes_preserved(name, shape, dtype):
    op = OPERATORS[name](shape)
    x = np.ones(op.in_shape, dtype=dtype)
    y = np.ones(op.out_shape, dtype=dtype)
    for out, want in ((op @ x, op.out_shape), (op.H @ y, op.in_shape), (op.gram(x), op.in_shape),
                      (op.solve_normal(x, 0.5, max_iter=5), op.in_shape)):
        assert out.shape == want
        assert out.dtype == dtype


def test_check_operator_reports_every_check():
    op = OPERATORS["sr_blur_then_decimate"]((16, 20))
    report = check_operator(op)
    assert set(report) == {"adjoint", "linearity", "normal_solve", "normal_solve_adjoint"}
    assert max(report.values()) < 1e-10


def test_checkers_detect_a_wrong_adjoint():
    from invrestore.operators import Blur

    class WrongAdjoint(Blur):
        def _adjoint(self, y):  # forgets to flip the kernel
            return self._forward(y)

    op = WrongAdjoint(OPERATORS["blur_circular_asym"]((16, 20)).kernel, (16, 20))
    assert check_adjoint(op) > 1e-3
