"""Solver overhead: time per FISTA / ADMM iteration vs the sum of its parts, in one run.

    python -m benchmarks.solver_overhead [--size 512] [--prior tv] [--iters 30]

One FISTA iteration applies ``H`` and ``H^T`` (the gradient of the data term) and one prox of
the prior; one ADMM iteration does one data-term prox (``H.solve_normal``) and one prior prox.
The parts are timed alone on arrays of the same size (TV with a fixed 20 inner iterations so
that the prox costs the same on every input); the ratio (iteration / parts) is the overhead of
the run loop and the solver's own vector arithmetic. An iteration's time is the wall time of
``run(max_iter=N)`` divided by ``N``: everything the loop does (its convergence and divergence
tests, the residuals) is included. Objective tracking is off, as in ``restore()`` without
``full_output``.

The parts are called in turn, as the solver calls them (``N`` times each, medians): a part
timed in a loop of its own keeps its data in the caches, which no iteration that also does the
other part can. Machines here are noisy, so the measurement runs in ``--rounds`` rounds, each
timing the solver's ``N`` iterations and then the parts; the reported times are the medians
over rounds and the ratio is the median of the rounds' ratios.
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


def _parts_time(parts, repeat):
    """Sum of the parts' median times, the parts called in turn as the solver calls them.

    Alternating matters: each part leaves the caches holding its own data, so a part timed in
    a loop of its own runs faster than it can inside any iteration that also does the others.
    """
    times = [[] for _ in parts]
    for _ in range(repeat):
        for j, p in enumerate(parts):
            t0 = time.perf_counter()
            p()
            times[j].append(time.perf_counter() - t0)
    return float(sum(np.median(t) for t in times))


def run(size=512, prior="tv", iters=20, rounds=7):
    """Rows ``{solver, iteration_s, parts_s, ratio}`` (medians over ``rounds``)."""
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

    solvers = (
        ("FISTA", lambda: FISTA(f, g, y.copy()),
         (lambda: f.grad(v), lambda: g.prox(v, 1.0 / f.lipschitz))),
        ("ADMM", lambda: ADMM(f, g, y.copy(), rho=rho, adaptive=False),
         (lambda: f.prox(v, 1.0 / rho), lambda: g.prox(v, 1.0 / rho))),
    )
    rows = []
    for name, make, parts in solvers:
        make().run(max_iter=3, tol=0, track_objective=False)  # warm up
        t_iter, t_parts = [], []
        for _ in range(rounds):
            solver = make()
            t0 = time.perf_counter()
            solver.run(max_iter=iters, tol=0, track_objective=False)
            t_iter.append((time.perf_counter() - t0) / iters)
            t_parts.append(_parts_time(parts, iters))
        ratios = np.array(t_iter) / np.array(t_parts)
        rows.append({"solver": name, "iteration_s": float(np.median(t_iter)),
                     "parts_s": float(np.median(t_parts)), "ratio": float(np.median(ratios)),
                     "ratio_max": float(ratios.max())})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--prior", default="tv")
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args(argv)
    rows = run(a.size, a.prior, a.iters, a.rounds)
    print(f"{a.size}x{a.size} float64, Gaussian blur 25x25 (circular), prior {a.prior!r}; "
          f"{a.rounds} rounds of {a.iters} iterations (wall time / {a.iters}) and {a.iters} "
          f"timings of each part, called in turn (median)")
    print("| solver | iteration (ms) | parts (ms) | overhead ratio | worst round |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['solver']} | {1e3 * r['iteration_s']:.2f} | {1e3 * r['parts_s']:.2f} | "
              f"{r['ratio']:.2f}x | {r['ratio_max']:.2f}x |")


if __name__ == "__main__":
    main()
