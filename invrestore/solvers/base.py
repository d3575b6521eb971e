"""The shared run loop: stopping rules, callbacks, history, divergence detection."""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..backend import check_scalar, norm, synchronize, to_numpy

__all__ = ["Solver", "Result", "DivergenceWarning"]


class DivergenceWarning(RuntimeWarning):
    """A solver stopped because its iterate or objective blew up."""


@dataclass
class Result:
    """What a solver returns.

    Attributes
    ----------
    x : ndarray
        Final iterate (the last finite one if the solver diverged).
    n_iter : int
        Iterations run.
    converged : bool
        Whether the stopping tolerance was met.
    history : dict of list
        Per iteration: ``"rel_change"`` (``||x_k - x_{k-1}|| / ||x_{k-1}||``), ``"time"`` (seconds
        spent in the iteration itself), ``"objective"`` when tracked, ``"psnr"`` and ``"ssim"``
        when ``x_true`` was given, plus solver-specific residuals (e.g. ADMM's ``"primal"`` and
        ``"dual"``).
    diverged : bool
        True when the run stopped on NaN/Inf or an exploding objective.
    info : dict
        Parameters the solver or ``restore()`` chose (step sizes, lam, sigma, ...).
    """

    x: object
    n_iter: int
    converged: bool
    history: dict = field(default_factory=dict)
    diverged: bool = False
    info: dict = field(default_factory=dict)

    def __repr__(self):
        h = ", ".join(sorted(self.history))
        return (f"Result(x: {getattr(self.x, 'shape', None)}, n_iter={self.n_iter}, "
                f"converged={self.converged}, diverged={self.diverged}, history: [{h}])")


def _norm(x) -> float:
    return norm(x)


class Solver:
    """Base of the iterative solvers: a state, a ``step()`` and the shared :meth:`run` loop.

    Subclasses set ``self.x`` (the current estimate) in ``__init__``, update it in ``step()``,
    and may implement ``objective()`` and ``residuals()`` (a dict of floats recorded in the
    history).
    """

    #: Factor over the first objective value beyond which the run counts as diverging.
    explode_factor = 1e6
    #: ``||x_k - x_{k-1}||`` of the last step when the solver computed it (saves the loop a
    #: subtraction over the whole image); reset by the loop after each iteration.
    _last_step_norm = None
    #: ``||x_k||`` when the solver computed it in its step (same convention).
    _last_x_norm = None

    def step(self):
        raise NotImplementedError

    def objective(self):
        """Value of the objective at the current estimate, or None if not defined."""
        return None

    def residuals(self) -> dict:
        return {}

    def _other_change(self) -> float:
        """Relative change of auxiliary variables in the last step (e.g. PDHG's duals), which
        must also settle before the run counts as converged."""
        return 0.0

    def run(self, *, max_iter=100, tol=1e-4, callback=None, x_true=None, progress=False,
            track_objective=True, min_iter=1) -> Result:
        """Iterate until ``rel_change < tol`` or ``max_iter`` iterations.

        Parameters
        ----------
        max_iter : int
            Iteration cap.
        tol : float
            Stop when ``||x_k - x_{k-1}|| <= tol ||x_{k-1}||`` (after ``min_iter`` iterations).
            ``tol=0`` runs all ``max_iter`` iterations.
        callback : callable, optional
            ``callback(solver, k)`` after each iteration; returning True stops the run.
        x_true : ndarray, optional
            Reference image: PSNR and SSIM are recorded per iteration (not timed).
        progress : bool
            Show a tqdm progress bar.
        track_objective : bool
            Record the objective per iteration (costs about one operator application).
        """
        max_iter = check_scalar(max_iter, "max_iter", integer=True, nonnegative=True)
        tol = check_scalar(tol, "tol", nonnegative=True)
        from ..metrics import psnr, ssim

        history = {"rel_change": [], "time": []}
        if track_objective and self.objective() is not None:
            history["objective"] = []
        if x_true is not None:
            history["psnr"], history["ssim"] = [], []
            x_true_np = to_numpy(x_true)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=max_iter, desc=type(self).__name__, leave=False)
        obj0 = self.objective() if "objective" in history else None
        converged = diverged = False
        k = 0
        n_last, x_last = None, None  # ||x|| and the array it was computed on
        try:
            for k in range(1, max_iter + 1):
                x_prev = self.x
                t0 = time.perf_counter()
                self.step()
                synchronize(self.x)  # GPU work is asynchronous: time it to completion
                dt = time.perf_counter() - t0
                nx = self._last_x_norm
                self._last_x_norm = None
                if nx is None:
                    nx = _norm(self.x)
                if not math.isfinite(nx):
                    diverged = True
                    self.x = x_prev
                    k -= 1
                    warnings.warn(f"{type(self).__name__}: the iterate became NaN/Inf at "
                                  f"iteration {k + 1}; returning the last finite iterate",
                                  DivergenceWarning, stacklevel=2)
                    break
                # ||x_{k-1}||: the previous iteration's ||x_k|| (one reduction per iteration)
                n_prev = n_last if x_prev is x_last else _norm(x_prev)
                n_last, x_last = nx, self.x
                # ||x_k - x_{k-1}||: reported by solvers that compute it anyway
                step_norm = self._last_step_norm
                self._last_step_norm = None
                if step_norm is None:
                    step_norm = _norm(self.x - x_prev)
                # From a zero start (or a step that has not moved yet, as PDHG's first)
                # a zero change says nothing about convergence.
                change = step_norm / n_prev if n_prev > 0 else math.inf
                change = max(change, self._other_change())
                history["rel_change"].append(change)
                history["time"].append(dt)
                if "objective" in history:
                    obj = self.objective()
                    history["objective"].append(obj)
                    # +inf is legitimate (an indicator at an infeasible iterate); NaN or a
                    # finite value far beyond the starting one means the run is blowing up.
                    if math.isnan(obj) or (math.isfinite(obj) and obj0 is not None
                                           and math.isfinite(obj0) and abs(obj) >
                                           self.explode_factor * max(abs(obj0), 1e-12)):
                        diverged = True
                        warnings.warn(f"{type(self).__name__}: the objective exploded "
                                      f"({obj:.3g}) at iteration {k}; stopping",
                                      DivergenceWarning, stacklevel=2)
                        break
                for name, value in self.residuals().items():
                    history.setdefault(name, []).append(value)
                if x_true is not None:
                    xn = to_numpy(self.x)
                    history["psnr"].append(psnr(np.clip(xn, 0, 1), x_true_np))
                    history["ssim"].append(ssim(np.clip(xn, 0, 1), x_true_np))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(rel_change=f"{change:.2e}")
                if callback is not None and callback(self, k):
                    break
                if k >= min_iter and change <= tol:
                    converged = True
                    break
        finally:
            if bar is not None:
                bar.close()
        return Result(self.x, k, converged, history, diverged, self.info())

    def info(self) -> dict:
        """Parameters worth reporting in the Result (step sizes, penalties...)."""
        return {}
