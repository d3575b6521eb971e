"""Solver overhead: time per FISTA / ADMM iteration vs the sum of its parts, in one run.

    python -m benchmarks.solver_overhead [--size 512] [--prior tv] [--iters 30]

One FISTA iteration applies ``H`` and ``H^T`` (the gradient of the data term) and one prox of
the prior; one ADMM iteration does one data-term prox (``H.solve_normal``) and one prior prox.
The parts are timed alone on arrays of the same size (TV with a fixed 20 inner iterations so
that the prox costs the same on every input); the ratio (iteration / parts) is the overhead of
the run loop and the solver's own vector arithmetic. Objective tracking is off, as in
``restore()`` without ``full_output``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage import data, transform

from invrestore import get_prior
from invrestore.degradations import add_gaussian_noise, gaussian_kernel
from invrestore.functionals import DataFidelity, SquaredL2
from invrestore.operators import Blur
from invrestore.solvers import ADMM, FISTA


def _median(fn, repeat=15):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run(size=512, prior="tv", iters=30):
    """Rows ``(solver, seconds per iteration, seconds of its parts)``."""
    x = transform.resize(data.camera() / 255.0, (size, size), anti_aliasing=True)
    H = Blur(gaussian_kernel(1.6, size=25), x.shape)
    y = add_gaussian_noise(H @ x, 0.01, rng=0)
    f = DataFidelity(SquaredL2(y), H)
    lam, rho = 0.01, 0.02
    # A prox that iterates to a tolerance costs different amounts on different inputs; a fixed
    # inner iteration count makes the parts timed alone the same work as inside the solver.
    opts = {"max_iter": 20, "tol": 0.0} if prior.startswith("tv") else {}
    g = lam * get_prior(prior, **opts)
    v = y.copy()
    f.lipschitz  # the power iteration, once, outside the timings
    g.prox(v, 1.0)  # compile/warm up

    t_prox_fista = _median(lambda: g.prox(v, 1.0 / f.lipschitz))
    t_grad = _median(lambda: f.grad(v))
    t_prox_admm = _median(lambda: g.prox(v, 1.0 / rho))
    t_data = _median(lambda: f.prox(v, 1.0 / rho))

    rows = []
    for name, make, parts in (
            ("FISTA", lambda: FISTA(f, g, y.copy()), t_grad + t_prox_fista),
            ("ADMM", lambda: ADMM(f, g, y.copy(), rho=rho, adaptive=False),
             t_data + t_prox_admm)):
        make().run(max_iter=3, tol=0, track_objective=False)  # warm up
        res = make().run(max_iter=iters, tol=0, track_objective=False)
        rows.append({"solver": name, "iteration_s": float(np.median(res.history["time"])),
                     "parts_s": parts})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--prior", default="tv")
    p.add_argument("--iters", type=int, default=30)
    a = p.parse_args(argv)
    rows = run(a.size, a.prior, a.iters)
    print(f"{a.size}x{a.size} float64, Gaussian blur 25x25 (circular), prior {a.prior!r}, "
          f"median of {a.iters} iterations vs median of 15 timings of each part")
    print("| solver | iteration (ms) | parts (ms) | overhead ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['solver']} | {1e3 * r['iteration_s']:.2f} | {1e3 * r['parts_s']:.2f} | "
              f"{r['iteration_s'] / r['parts_s']:.2f}x |")


if __name__ == "__main__":
    main()
