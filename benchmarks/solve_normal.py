"""Exact ``solve_normal`` paths against conjugate gradient, measured in one run.

For each operator with a closed-form solve of ``(H^T H + rho I) x = b``, time the closed form and
CG (from zero, relative tolerance ``--tol``, default 1e-8), and report their ratio and the
relative difference of the two solutions.

    python -m benchmarks.solve_normal [--size 512] [--rho 0.01] [--tol 1e-8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from invrestore.degradations import gaussian_kernel, motion_kernel
from invrestore.operators import Blur, Downsample, Gradient, Mask, conjugate_gradient


def _best_time(fn, repeat):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def cases(n):
    rng = np.random.default_rng(0)
    shape = (n, n)
    g = gaussian_kernel(1.6, size=25)
    return {
        "blur circular (FFT)": Blur(motion_kernel(15, 30), shape),
        "blur reflect, symmetric kernel (DCT)": Blur(g, shape, boundary="reflect"),
        "mask 50% missing (diagonal)": Mask(rng.random(shape) > 0.5),
        "mask random weights (diagonal)": Mask(rng.random(shape)),
        "x2 decimation of circular blur (Zhao)": Downsample(2, shape) @ Blur(g, shape),
        "x4 decimation of circular blur (Zhao)": Downsample(4, shape) @ Blur(g, shape),
        "gradient, Neumann (DCT)": Gradient(shape),
    }


def run(size=512, rho=1e-2, tol=1e-8, repeat=3, max_iter=20000):
    rng = np.random.default_rng(1)
    rows = []
    for name, op in cases(size).items():
        b = rng.standard_normal(op.in_shape)
        t_exact, x_exact = _best_time(lambda op=op, b=b: op.solve_normal(b, rho), repeat)

        def cg(op=op, b=b):
            return conjugate_gradient(lambda v: op.gram(v, check=False) + rho * v, b, tol=tol,
                                      max_iter=max_iter)

        t_cg, (x_cg, info) = _best_time(cg, max(1, repeat - 1))
        diff = float(np.linalg.norm(x_exact - x_cg) / np.linalg.norm(x_cg))
        rows.append({"operator": name, "exact_s": t_exact, "cg_s": t_cg,
                     "cg_iterations": info.n_iter, "cg_converged": info.converged,
                     "speedup": t_cg / t_exact, "rel_diff": diff})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--rho", type=float, default=1e-2)
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", help="also write the rows to this JSON file")
    a = p.parse_args(argv)
    rows = run(a.size, a.rho, a.tol, a.repeat)
    print(f"solve_normal on {a.size}x{a.size} float64, rho={a.rho:g}, CG tol={a.tol:g} "
          f"({platform.processor() or platform.machine()}, numpy {np.__version__})")
    print(f"| {'operator':40s} | exact ms | CG ms    | CG iters | speed-up | rel. diff |")
    print(f"|{'-' * 42}|----------|----------|----------|----------|-----------|")
    for r in rows:
        print(f"| {r['operator']:40s} | {1e3 * r['exact_s']:8.2f} | {1e3 * r['cg_s']:8.1f} | "
              f"{r['cg_iterations']:8d} | {r['speedup']:7.1f}x | {r['rel_diff']:9.1e} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"size": a.size, "rho": a.rho, "tol": a.tol, "rows": rows}, fh, indent=1)
    slow = [r["operator"] for r in rows if r["speedup"] < 20 or r["rel_diff"] > 1e-6]
    if slow:
        print("below 20x or disagreeing beyond 1e-6:", ", ".join(slow))


if __name__ == "__main__":
    main()
