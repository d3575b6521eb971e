"""The linear-operator base class and its algebra (adjoint, composition, sum, scaling).

Every forward model ``H`` of invrestore is a :class:`LinearOperator`. Besides applying ``H`` and
its adjoint, an operator owns the quadratic solve that every ADMM/HQS x-step needs,

    solve_normal(b, rho) = (H^T H + rho I)^{-1} b,

exactly (FFT, DCT, diagonal, closed forms) where its structure allows and by conjugate gradient
otherwise. ``op.exact_solve`` tells which.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..backend import check_finite, check_scalar, device_of, norm, to_device
from .cg import conjugate_gradient

__all__ = ["LinearOperator", "Identity", "as_shape"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def as_shape(shape, name: str = "shape") -> tuple[int, ...]:
    """Validate a shape: a non-empty tuple of positive integers."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        out = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of positive integers, got {shape!r}") from None
    if not out:
        raise ValueError(f"{name} must be a non-empty tuple of positive integers, got {shape!r}")
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in out):
        raise TypeError(f"{name} must be a tuple of positive integers, got {shape!r}")
    if any(s < 1 for s in out):
        raise ValueError(f"{name} must hold positive integers, got {shape!r}")
    return tuple(int(s) for s in out)


def as_image_shape(shape, name: str = "shape") -> tuple[int, ...]:
    """Validate an image shape: (H, W) or (H, W, C)."""
    out = as_shape(shape, name)
    if len(out) not in (2, 3):
        raise ValueError(f"{name} must be (H, W) or (H, W, C), got {shape!r}")
    return out


class LinearOperator:
    """A real linear map from arrays of ``in_shape`` to arrays of ``out_shape``.

    Subclasses implement ``_forward(x)`` and ``_adjoint(y)``; they may set ``exact_solve`` and
    implement ``_solve_normal_exact(b, rho)`` (and likewise ``exact_solve_adjoint`` /
    ``_solve_normal_adjoint_exact`` for ``(H H^T + rho I)^{-1}``, used by ``op.H``).

    Parameters
    ----------
    in_shape, out_shape : tuple of int
        Shapes of the input ``x`` and the output ``H x``.
    dtype : dtype
        Precision of the operator's parameters (float32 or float64). Inputs of either float
        dtype are accepted and the output keeps the input's dtype.

    Notes
    -----
    Algebra, with the usual linear-algebra meaning only:

    - ``A @ x`` applies ``A`` (shape and finiteness checked); ``A @ B`` composes (``B`` first);
    - ``A.H`` is the adjoint, ``(A @ B).H == B.H @ A.H``;
    - ``A + B``, ``A - B``, ``c * A`` for a real scalar ``c``;
    - ``A.gram(x) = A^T A x``; ``A.solve_normal(b, rho) = (A^T A + rho I)^{-1} b``.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Identity
    >>> A = 2.0 * Identity((4, 4))
    >>> x = np.ones((4, 4))
    >>> float((A.H @ (A @ x))[0, 0]), float(A.solve_normal(x, 1.0)[0, 0])
    (4.0, 0.2)
    """

    #: True when ``solve_normal`` is a closed form (exact up to round-off), False for CG.
    exact_solve = False
    #: True when ``(A A^T + rho I)^{-1}`` has a closed form (used by the adjoint view).
    exact_solve_adjoint = False
    #: Where the operator's parameters live: "numpy", "cupy", or None (parameter-free).
    device = None
    # Make NumPy scalars defer to our __rmul__ (np.float64(2) * A scales, no object array).
    __array_ufunc__ = None

    def __init__(self, in_shape, out_shape, dtype=np.float64):
        self.in_shape = as_shape(in_shape, "in_shape")
        self.out_shape = as_shape(out_shape, "out_shape")
        dtype = np.dtype(dtype)
        if dtype not in _FLOATS:
            raise TypeError(f"dtype must be float32 or float64, got {dtype}")
        self.dtype = dtype

    # -- to be provided by subclasses -------------------------------------------------------
    def _forward(self, x):
        raise NotImplementedError

    def _adjoint(self, y):
        raise NotImplementedError

    def _solve_normal_exact(self, b, rho):
        raise NotImplementedError

    def _solve_normal_adjoint_exact(self, b, rho):
        raise NotImplementedError

    def _solver_for_composition(self, inner):
        """Closed-form ``(b, rho) -> (inner^T self^T self inner + rho I)^{-1} b``, or None.

        Lets an outer operator recognise structure with the inner one (e.g. decimation after a
        circular blur). The returned object may also offer ``solve_adjoint(b, rho)``.
        """
        return None

    def to(self, device):
        """Return an equivalent operator whose parameters live on ``device``."""
        return self

    # -- checked application ----------------------------------------------------------------
    def _check(self, x, shape, name):
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"{self!r}: {name} must be a NumPy or CuPy array, "
                            f"got {type(x).__name__}")
        if np.dtype(x.dtype) not in _FLOATS:
            raise TypeError(f"{self!r}: {name} must be float32 or float64, got {x.dtype}; "
                            "convert images with invrestore.as_float_image")
        if tuple(x.shape) != shape:
            raise ValueError(f"{self!r}: {name} must have shape {shape}, got {tuple(x.shape)}")
        if self.device is not None and device_of(x) != self.device:
            raise TypeError(f"{self!r} holds its parameters on {self.device!r} but {name} is a "
                            f"{device_of(x)} array; move one explicitly: op.to("
                            f"{device_of(x)!r}) or invrestore.to_device({name}, "
                            f"{self.device!r})")
        check_finite(x, name)

    def apply(self, x, *, check=True):
        """``H x``. With ``check=False`` skip validation (for inner loops)."""
        if check:
            self._check(x, self.in_shape, "x")
        return self._forward(x)

    def apply_adjoint(self, y, *, check=True):
        """``H^T y``. With ``check=False`` skip validation (for inner loops)."""
        if check:
            self._check(y, self.out_shape, "y")
        return self._adjoint(y)

    def gram(self, x, *, check=True):
        """``H^T H x``."""
        if check:
            self._check(x, self.in_shape, "x")
        return self._adjoint(self._forward(x))

    def solve_normal(self, b, rho, *, x0=None, tol=1e-6, max_iter=500):
        """Solve ``(H^T H + rho I) x = b``.

        Parameters
        ----------
        b : ndarray of shape ``in_shape``
            Right-hand side, typically ``H^T y + rho v``.
        rho : float > 0
            Penalty weight.
        x0 : ndarray, optional
            Warm start for the conjugate-gradient path (ignored by exact solves).
        tol, max_iter
            Relative-residual tolerance and iteration cap of the CG path.

        Returns
        -------
        ndarray
            Same shape and dtype as ``b``. Exact (closed form) when ``self.exact_solve``.
        """
        rho = check_scalar(rho, "rho", positive=True)
        self._check(b, self.in_shape, "b")
        if self.exact_solve:
            return self._solve_normal_exact(b, rho)
        if x0 is not None:
            self._check(x0, self.in_shape, "x0")
        x, _ = conjugate_gradient(lambda v: self._adjoint(self._forward(v)) + rho * v, b,
                                  x0=x0, tol=tol, max_iter=max_iter)
        return x

    def norm(self, *, max_iter=100, tol=1e-6, seed=0):
        """Spectral norm ``||H||_2`` estimated by power iteration on ``H^T H``.

        Used for step sizes (FISTA: ``1 / ||H||^2``; PDHG: ``tau sigma ||H||^2 < 1``).
        """
        rng = np.random.default_rng(seed)
        x = to_device(rng.standard_normal(self.in_shape), self.device or "numpy")
        x /= norm(x)
        s = 0.0
        for _ in range(max_iter):
            z = self._adjoint(self._forward(x))
            s_new = norm(z)
            if s_new == 0.0:
                return 0.0
            x = z / s_new
            if abs(s_new - s) <= tol * s_new:
                s = s_new
                break
            s = s_new
        return math.sqrt(s)

    # -- algebra ------------------------------------------------------------------------------
    @property
    def H(self):
        """The adjoint operator ``H^T`` (a view: no copy of the parameters)."""
        return _Adjoint(self)

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return _Composed(self, other)
        return self.apply(other)

    def __add__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Sum(self, other)

    def __sub__(self, other):
        if not isinstance(other, LinearOperator):
            return NotImplemented
        return _Sum(self, _Scaled(-1.0, other))

    def __mul__(self, c):
        if isinstance(c, LinearOperator):
            raise TypeError("use A @ B to compose operators; * only scales by a real number")
        if isinstance(c, bool) or not isinstance(c, numbers.Real):
            return NotImplemented
        return _Scaled(c, self)

    __rmul__ = __mul__

    def __neg__(self):
        return _Scaled(-1.0, self)

    def _repr_args(self) -> str:
        return f"in_shape={self.in_shape}, out_shape={self.out_shape}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_args()})"


def _merge_device(*ops):
    devices = {op.device for op in ops if op.device is not None}
    if len(devices) > 1:
        raise ValueError(f"operators live on different devices {sorted(devices)}: "
                         f"{', '.join(map(repr, ops))}; move them with .to(device)")
    return devices.pop() if devices else None


class Identity(LinearOperator):
    """The identity ``x -> x`` on arrays of ``shape`` (denoising as a forward model)."""

    exact_solve = True
    exact_solve_adjoint = True

    def __init__(self, shape):
        shape = as_shape(shape, "shape")
        super().__init__(shape, shape)

    def _forward(self, x):
        return x.copy()

    _adjoint = _forward

    def _solve_normal_exact(self, b, rho):
        return b / (1.0 + rho)

    _solve_normal_adjoint_exact = _solve_normal_exact

    def _repr_args(self):
        return f"shape={self.in_shape}"


class _Adjoint(LinearOperator):
    def __init__(self, op):
        super().__init__(op.out_shape, op.in_shape, op.dtype)
        self.op = op
        self.device = op.device
        self.exact_solve = op.exact_solve_adjoint
        self.exact_solve_adjoint = op.exact_solve

    def _forward(self, x):
        return self.op._adjoint(x)

    def _adjoint(self, y):
        return self.op._forward(y)

    def _solve_normal_exact(self, b, rho):
        return self.op._solve_normal_adjoint_exact(b, rho)

    def _solve_normal_adjoint_exact(self, b, rho):
        return self.op._solve_normal_exact(b, rho)

    @property
    def H(self):
        return self.op

    def to(self, device):
        return self.op.to(device).H

    def __repr__(self):
        return f"{self.op!r}.H"


class _Composed(LinearOperator):
    """``outer @ inner``: ``x -> outer(inner(x))``."""

    def __init__(self, outer, inner):
        if inner.out_shape != outer.in_shape:
            raise ValueError(f"cannot compose {outer!r} @ {inner!r}: the inner operator's "
                             f"out_shape {inner.out_shape} differs from the outer operator's "
                             f"in_shape {outer.in_shape}")
        super().__init__(inner.in_shape, outer.out_shape,
                         np.result_type(outer.dtype, inner.dtype))
        self.outer, self.inner = outer, inner
        self.device = _merge_device(outer, inner)
        self._closed = outer._solver_for_composition(inner)
        # With an identity on either side the normal equations are those of the other factor.
        self.exact_solve = self._closed is not None or (
            isinstance(outer, Identity) and inner.exact_solve) or (
            isinstance(inner, Identity) and outer.exact_solve)
        self.exact_solve_adjoint = (
            (self._closed is not None and hasattr(self._closed, "solve_adjoint"))
            or (isinstance(inner, Identity) and outer.exact_solve_adjoint)
            or (isinstance(outer, Identity) and inner.exact_solve_adjoint))

    def _forward(self, x):
        return self.outer._forward(self.inner._forward(x))

    def _adjoint(self, y):
        return self.inner._adjoint(self.outer._adjoint(y))

    def _solve_normal_exact(self, b, rho):
        if self._closed is not None:
            return self._closed(b, rho)
        other = self.outer if isinstance(self.inner, Identity) else self.inner
        return other._solve_normal_exact(b, rho)

    def _solve_normal_adjoint_exact(self, b, rho):
        if self._closed is not None:
            return self._closed.solve_adjoint(b, rho)
        other = self.outer if isinstance(self.inner, Identity) else self.inner
        return other._solve_normal_adjoint_exact(b, rho)

    def to(self, device):
        return self.outer.to(device) @ self.inner.to(device)

    def __repr__(self):
        return f"({self.outer!r} @ {self.inner!r})"


class _Sum(LinearOperator):
    def __init__(self, a, b):
        if a.in_shape != b.in_shape or a.out_shape != b.out_shape:
            raise ValueError(f"cannot add {a!r} and {b!r}: shapes differ "
                             f"({a.in_shape} -> {a.out_shape} vs {b.in_shape} -> {b.out_shape})")
        super().__init__(a.in_shape, a.out_shape, np.result_type(a.dtype, b.dtype))
        self.a, self.b = a, b
        self.device = _merge_device(a, b)

    def _forward(self, x):
        return self.a._forward(x) + self.b._forward(x)

    def _adjoint(self, y):
        return self.a._adjoint(y) + self.b._adjoint(y)

    def to(self, device):
        return self.a.to(device) + self.b.to(device)

    def __repr__(self):
        return f"({self.a!r} + {self.b!r})"


class _Scaled(LinearOperator):
    def __init__(self, c, op):
        c = check_scalar(c, "scale")
        super().__init__(op.in_shape, op.out_shape, op.dtype)
        self.c, self.op = c, op
        self.device = op.device
        self.exact_solve = op.exact_solve or c == 0.0
        self.exact_solve_adjoint = op.exact_solve_adjoint or c == 0.0

    def _forward(self, x):
        return self.c * self.op._forward(x)

    def _adjoint(self, y):
        return self.c * self.op._adjoint(y)

    # (c^2 A^T A + rho I)^{-1} b = c^-2 (A^T A + rho c^-2 I)^{-1} b
    def _solve_normal_exact(self, b, rho):
        if self.c == 0.0:
            return b / rho
        c2 = self.c * self.c
        return self.op._solve_normal_exact(b / c2, rho / c2)

    def _solve_normal_adjoint_exact(self, b, rho):
        if self.c == 0.0:
            return b / rho
        c2 = self.c * self.c
        return self.op._solve_normal_adjoint_exact(b / c2, rho / c2)

    def to(self, device):
        return self.c * self.op.to(device)

    def __repr__(self):
        return f"{self.c!r} * {self.op!r}"
