"""Contract checks for linear operators, public so users can test their own.

Each checker draws random inputs, measures one identity and returns the relative error as a
float; the caller decides the tolerance (typically ``1e-10`` in float64, ``1e-5`` in float32).
Inner products and norms are accumulated in float64, so the number measures the operator, not
the summation.

Examples
--------
>>> import numpy as np
>>> from invrestore.operators import Blur
>>> from invrestore.testing import check_adjoint, check_normal_solve
>>> H = Blur(np.ones((3, 3)) / 9, (16, 16), boundary="zero")
>>> check_adjoint(H) < 1e-12, check_normal_solve(H, 0.1) < 1e-5
(True, True)
"""

from __future__ import annotations

import math

import numpy as np

from .backend import check_scalar, to_device, to_numpy

__all__ = ["check_adjoint", "check_linearity", "check_normal_solve", "check_operator"]


def _random(op, shape, dtype, rng):
    a = rng.standard_normal(shape).astype(dtype)
    return to_device(a, op.device or "numpy")


def _dot64(a, b) -> float:
    a, b = to_numpy(a).astype(np.float64).ravel(), to_numpy(b).astype(np.float64).ravel()
    return float(np.dot(a, b))


def _norm64(a) -> float:
    return float(np.linalg.norm(to_numpy(a).astype(np.float64).ravel()))


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def check_adjoint(op, *, dtype=np.float64, seed=0) -> float:
    """Dot test: relative mismatch between ``<A x, y>`` and ``<x, A^T y>``.

    Returns
    -------
    float
        ``|<A x, y> - <x, A^T y>| / (||A x|| ||y||)`` for random Gaussian ``x`` and ``y``.

    Notes
    -----
    The normalisation is the Cauchy-Schwarz bound of the inner products, so the value is scale
    free and does not grow with the image size through random cancellation (dividing by
    ``|<A x, y>|`` would, by about ``sqrt(N)``). A correct adjoint gives round-off: ~1e-16 in
    float64 and ~1e-7 in float32.
    """
    rng = _rng(seed)
    x = _random(op, op.in_shape, dtype, rng)
    y = _random(op, op.out_shape, dtype, rng)
    ax = op @ x
    aty = op.H @ y
    _check_out(op, ax, op.out_shape, x.dtype, "A @ x")
    _check_out(op, aty, op.in_shape, y.dtype, "A.H @ y")
    denom = max(_norm64(ax) * _norm64(y), _norm64(x) * _norm64(aty), np.finfo(np.float64).tiny)
    return abs(_dot64(ax, y) - _dot64(x, aty)) / denom


def check_linearity(op, *, dtype=np.float64, seed=0) -> float:
    """Relative error of ``A(a x + b z) = a A x + b A z`` for random ``x, z, a, b``."""
    rng = _rng(seed)
    x = _random(op, op.in_shape, dtype, rng)
    z = _random(op, op.in_shape, dtype, rng)
    a, b = (float(v) for v in rng.uniform(-2.0, 2.0, size=2))
    lhs = op @ (a * x + b * z)
    ax, az = op @ x, op @ z
    rhs = a * ax + b * az
    denom = max(abs(a) * _norm64(ax) + abs(b) * _norm64(az), np.finfo(np.float64).tiny)
    return _norm64(lhs.astype(np.float64) - rhs.astype(np.float64)) / denom


def check_normal_solve(op, rho, *, dtype=np.float64, seed=0, **solve_kwargs) -> float:
    """Relative residual of ``x = op.solve_normal(b, rho)``.

    Returns
    -------
    float
        ``||A^T A x + rho x - b|| / ||b||`` for a random ``b``. Exact solves give round-off;
        conjugate-gradient solves give at most their ``tol`` (passed through ``solve_kwargs``).
    """
    rho = check_scalar(rho, "rho", positive=True)
    rng = _rng(seed)
    b = _random(op, op.in_shape, dtype, rng)
    x = op.solve_normal(b, rho, **solve_kwargs)
    _check_out(op, x, op.in_shape, b.dtype, "solve_normal(b, rho)")
    r = op.gram(x).astype(np.float64) + rho * x.astype(np.float64) - b.astype(np.float64)
    return _norm64(r) / max(_norm64(b), np.finfo(np.float64).tiny)


def check_operator(op, *, rho=0.1, dtype=np.float64, seed=0) -> dict:
    """Run every check above; returns ``{"adjoint": err, "linearity": err, "normal_solve": err,
    "normal_solve_adjoint": err}``."""
    return {
        "adjoint": check_adjoint(op, dtype=dtype, seed=seed),
        "linearity": check_linearity(op, dtype=dtype, seed=seed),
        "normal_solve": check_normal_solve(op, rho, dtype=dtype, seed=seed),
        "normal_solve_adjoint": check_normal_solve(op.H, rho, dtype=dtype, seed=seed),
    }


def _check_out(op, out, shape, dtype, what):
    if tuple(out.shape) != tuple(shape):
        raise AssertionError(f"{op!r}: {what} has shape {tuple(out.shape)}, expected {shape}")
    if out.dtype != dtype:
        raise AssertionError(f"{op!r}: {what} has dtype {out.dtype}, expected {dtype}")
    if not math.isfinite(_norm64(out)):
        raise AssertionError(f"{op!r}: {what} is not finite")
