"""TV prox per iteration on one Numba thread against all of them, by image size.

    python -m benchmarks.tv_threads [--sizes 128 192 256 320 384 512 1024] [--repeat 20]

Backs ``SERIAL_BELOW`` in :mod:`invrestore.kernels._tv_numba` (images below it run on one
thread). For each size: a random float32 image, 50 FGP iterations (``tol=0``), best of
``--repeat`` runs, with the serial threshold forced off (parallel) and forced on (serial), in
the same process. Prints microseconds per iteration and the parallel speed-up. Run it on a
quiet machine: with another process busy, each parallel region can wait a scheduler time
slice at its barrier, which is the other half of the reason for the threshold.
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

import invrestore.kernels._tv_numba as tvn
from invrestore.kernels import tv_prox

ITERS = 50


def per_iteration(v, serial, repeat):
    saved = tvn.SERIAL_BELOW
    tvn.SERIAL_BELOW = 10**12 if serial else 0
    try:
        tv_prox(v, 0.1, max_iter=ITERS, tol=0.0)  # compile / warm up
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            tv_prox(v, 0.1, max_iter=ITERS, tol=0.0)
            best = min(best, time.perf_counter() - t0)
    finally:
        tvn.SERIAL_BELOW = saved
    return best / ITERS


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 192, 256, 320, 384, 512, 1024])
    p.add_argument("--repeat", type=int, default=20)
    a = p.parse_args(argv)
    print(f"Numba threads {numba.get_num_threads()}; SERIAL_BELOW = {tvn.SERIAL_BELOW} values")
    print(f"{'size':>6} {'parallel us/it':>15} {'serial us/it':>13} {'speed-up':>9}")
    rows = []
    for n in a.sizes:
        v = np.random.default_rng(0).random((n, n)).astype(np.float32)
        par, ser = per_iteration(v, False, a.repeat), per_iteration(v, True, a.repeat)
        rows.append({"size": n, "parallel_s": par, "serial_s": ser})
        print(f"{n:>6} {1e6 * par:15.1f} {1e6 * ser:13.1f} {ser / par:8.2f}x", flush=True)
    return rows


if __name__ == "__main__":
    main()
