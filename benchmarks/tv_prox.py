"""TV denoising: invrestore's Numba FGP prox against scikit-image's Chambolle solver.

    python -m benchmarks.tv_prox [--weights 0.05 0.1 0.2] [--repeat 7] [--sizes 512 1024 2048]
                                 [--json FILE]

For each 512x512 float32 test image (``skimage.data.camera() / 255`` and a Set12 image when the
data is installed, each plus Gaussian noise of std 0.1, seed 0) and weight ``w``:

1. run ``skimage.restoration.denoise_tv_chambolle(v, weight=w)`` with its defaults
   (``eps=2e-4``, ``max_num_iter=200``) and evaluate its result with *our* objective
   ``1/2 ||x - v||^2 + w TV_iso(x)`` (float64);
2. find the fewest FGP iterations (``tol=0``) whose result has an objective <= scikit-image's,
   and time ``tv_prox`` with that many iterations;
3. report both times (best of ``--repeat``, calls interleaved, same process, after the Numba
   warm-up), their ratio, and the time per iteration of both solvers; and our time with our
   calls back to back (buffers still in the caches, output memory recycled): the difference
   is the cost of a cold call, 0.2-0.3 ms at 512x512 on the 2-core machine of the README:
   the call's data (the image, the dual buffers, the output: about 8 MB) comes back from
   memory after scikit-image's call has pushed it out of the caches (the first pass takes
   about 2.5x its back-to-back time; no page faults are taken, by ``getrusage``).

Same problem: scikit-image's Chambolle iteration uses ``np.diff`` forward differences with a
zero difference across the last row/column (our Neumann :class:`Gradient`) and solves
``argmin_x 1/2 ||x - v||^2 + weight TV(x)``; the script checks this by solving a small image to
high accuracy with both and printing the largest difference. (For colour images they differ:
scikit-image denoises channels separately, we couple them; this benchmark is gray.)

Last, the gray pass's two ways of storing the dual are timed against each other per
iteration at ``--sizes``: updated in place (two buffers; the default from 2 MiB images on)
or out of place (three buffers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numba
import numpy as np
from skimage import data
from skimage.restoration import denoise_tv_chambolle

from invrestore.datasets import data_dir, list_images, load_image
from invrestore.kernels import tv_objective, tv_prox

SET12_IMAGE = "09.png"  # 512x512 (08.png, also 512x512, is the "Lena" image: kept out)


def best_time(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def best_times(fns, repeat):
    """Best time of each function, the calls interleaved (a, b, a, b, ...).

    Interleaving spreads the slow stretches of a shared machine (other processes, a CPU that
    changes clock) over both solvers instead of charging them to whichever ran then.
    """
    best = [np.inf] * len(fns)
    out = [None] * len(fns)
    for _ in range(repeat):
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            out[j] = fn()
            best[j] = min(best[j], time.perf_counter() - t0)
    return best, out


def images(sigma=0.1, seed=0):
    rng = np.random.default_rng(seed)
    clean = {"camera": data.camera() / 255.0}
    if data_dir() is not None:
        files = [f for f in list_images("Set12") if f.name == SET12_IMAGE]
        if files:
            clean[f"Set12/{SET12_IMAGE}"] = load_image(files[0])
    return {k: (x + sigma * rng.standard_normal(x.shape)).astype(np.float32)
            for k, x in clean.items()}


def same_problem_check(n=48, w=0.1):
    """Largest pixel difference between both solvers run to high accuracy (float64)."""
    v = np.random.default_rng(3).random((n, n))
    xs = denoise_tv_chambolle(v, weight=w, eps=0.0, max_num_iter=20000)
    xo = tv_prox(v, w, max_iter=20000, tol=0.0)
    return float(np.abs(xs - xo).max())


def obj(x, v, w):
    return tv_objective(x.astype(np.float64), v.astype(np.float64), w)


def run_case(v, w, repeat):
    x_sk = denoise_tv_chambolle(v, weight=w)
    o_sk = obj(x_sk, v, w)
    n = 1
    while obj(tv_prox(v, w, max_iter=n, tol=0.0), v, w) > o_sk:
        n += 1
        if n > 2000:
            raise RuntimeError("FGP did not reach scikit-image's objective in 2000 iterations")
    # scratch buffers reused between calls, as TotalVariation does inside solvers
    ws = {}
    (t_sk, t_ours), (_, x_ours) = best_times(
        [lambda: denoise_tv_chambolle(v, weight=w),
         lambda: tv_prox(v, w, max_iter=n, tol=0.0, workspace=ws)], repeat)
    # the same call back to back: its buffers still in the caches and its output's memory
    # recycled; the gap to the interleaved time is what a call pays after other work ran
    t_warm, _ = best_time(lambda: tv_prox(v, w, max_iter=n, tol=0.0, workspace=ws), repeat)
    n_fixed = 50
    (t_sk50, t_our50), _ = best_times(
        [lambda: denoise_tv_chambolle(v, weight=w, eps=0.0, max_num_iter=n_fixed),
         lambda: tv_prox(v, w, max_iter=n_fixed, tol=0.0, workspace=ws)], max(2, repeat // 2))
    return {"weight": w, "skimage_s": t_sk, "skimage_obj": o_sk, "ours_s": t_ours,
            "ours_obj": obj(x_ours, v, w), "ours_iter": n, "speedup": t_sk / t_ours,
            "ours_back_to_back_s": t_warm,
            "skimage_ms_per_iter": 1e3 * t_sk50 / n_fixed,
            "ours_ms_per_iter": 1e3 * t_our50 / n_fixed}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048],
                    help="image sizes of the in-place / out-of-place dual comparison")
    args = ap.parse_args(argv)
    if min(args.sizes) < 2:
        ap.error(f"--sizes must be at least 2 (pixels per side), got {args.sizes}")
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, got {args.repeat}")
    if min(args.weights) <= 0:
        ap.error(f"--weights must be positive, got {args.weights}")

    threads, cores = numba.get_num_threads(), os.cpu_count()
    print(f"{platform.processor() or platform.machine()}, {cores} cores, numba threads = "
          f"{threads} (layer {numba.config.THREADING_LAYER}), Python "
          f"{platform.python_version()}, NumPy {np.__version__}")
    if threads != cores:
        print(f"note: numba uses {threads} threads on {cores} cores")
    print(f"same problem: max |x_skimage - x_ours| after 20000 iterations each (48x48, float64)"
          f" = {same_problem_check():.1e}")
    imgs = images()
    warm = next(iter(imgs.values()))
    tv_prox(warm, 0.1, max_iter=3, tol=1e-3)  # compile or load the float32 kernels
    rows = []
    head = (f"{'image':16s} {'w':>5s} {'skimage ms':>10s} {'ours ms':>8s} {'ratio':>6s} "
            f"{'b2b ms':>6s} "
            f"{'iters':>5s} {'obj skimage':>12s} {'obj ours':>12s} "
            f"{'ms/it sk':>8s} {'ms/it ours':>10s}")
    print(head)
    for name, v in imgs.items():
        for w in args.weights:
            r = run_case(v, w, args.repeat)
            r["image"] = name
            rows.append(r)
            print(f"{name:16s} {w:5.2f} {1e3 * r['skimage_s']:10.2f} {1e3 * r['ours_s']:8.2f} "
                  f"{r['speedup']:5.1f}x {1e3 * r['ours_back_to_back_s']:6.2f} "
                  f"{r['ours_iter']:5d} {r['skimage_obj']:12.3f} "
                  f"{r['ours_obj']:12.3f} {r['skimage_ms_per_iter']:8.3f} "
                  f"{r['ours_ms_per_iter']:10.3f}")
    passes = gray_pass_check(warm)
    print(f"gray isotropic pass: {passes['gray_ms_per_iter']:.3f} ms/iteration, general pass "
          f"{passes['general_ms_per_iter']:.3f} ({passes['ratio']:.2f}x), largest output "
          f"difference {passes['max_abs_diff']:.1e}")
    storage = dual_storage_check(args.sizes)
    print("dual updated in place (two buffers) vs out of place (three), gray float32, "
          "ms per iteration:")
    for r in storage:
        print(f"  {r['size']:5d}^2: in place {r['inplace_ms_per_iter']:.3f}, out of place "
              f"{r['outofplace_ms_per_iter']:.3f} ({r['ratio']:.2f}x), default "
              f"{'in place' if r['default_inplace'] else 'out of place'}, largest difference "
              f"{r['max_abs_diff']:.1e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": threads, "cores": cores, "rows": rows,
                       "gray_pass": passes, "dual_storage": storage}, f, indent=1)
    return rows


def dual_storage_check(sizes=(512, 1024, 2048), n_iter=30, repeat=5):
    """Per-iteration time of the gray pass with the dual updated in place or not (one run).

    The camera image tiled to ``size x size`` plus noise; ``INPLACE_FROM`` of
    :mod:`invrestore.kernels._tv_numba` set to 0 (always in place) or out of reach (never),
    both timed interleaved, best of ``repeat``, ``n_iter`` iterations without stopping tests,
    and their outputs compared. ``default_inplace`` says which one ``tv_prox`` runs at that
    size.
    """
    from invrestore.kernels import _tv_numba

    saved = _tv_numba.INPLACE_FROM
    rng = np.random.default_rng(0)
    rows = []
    try:
        for n in sizes:
            reps = -(-n // 512)
            v = np.tile(data.camera() / 255.0, (reps, reps))[:n, :n]
            v = (v + 0.1 * rng.standard_normal(v.shape)).astype(np.float32)
            ws = {True: {}, False: {}}
            best, out = {True: np.inf, False: np.inf}, {}
            for r in range(repeat + 1):  # the first round compiles / loads and warms up
                for inplace in (True, False):
                    _tv_numba.INPLACE_FROM = 0 if inplace else 1 << 62
                    t0 = time.perf_counter()
                    out[inplace] = tv_prox(v, 0.1, max_iter=n_iter, tol=0.0,
                                           workspace=ws[inplace])
                    if r:
                        best[inplace] = min(best[inplace], time.perf_counter() - t0)
            rows.append({"size": n, "inplace_ms_per_iter": 1e3 * best[True] / n_iter,
                         "outofplace_ms_per_iter": 1e3 * best[False] / n_iter,
                         "ratio": best[False] / best[True],
                         "default_inplace": v.nbytes >= saved,
                         "max_abs_diff": float(np.abs(out[True] - out[False]).max())})
    finally:
        _tv_numba.INPLACE_FROM = saved
    return rows


def gray_pass_check(v, n_iter=50, repeat=9):
    """Per-iteration time of the gray isotropic pass against the general pass (one run).

    ``FUSED_GRAY = False`` makes :mod:`invrestore.kernels._tv_numba` run its general pass on
    every iteration; both are timed interleaved, best of ``repeat``, ``n_iter`` iterations
    without stopping tests, and their outputs compared.
    """
    from invrestore.kernels import _tv_numba

    ws = {True: {}, False: {}}
    out, best = {}, {True: np.inf, False: np.inf}
    try:
        for _ in range(repeat):
            for fused in (True, False):
                _tv_numba.FUSED_GRAY = fused
                t0 = time.perf_counter()
                out[fused] = tv_prox(v, 0.1, max_iter=n_iter, tol=0.0, workspace=ws[fused])
                best[fused] = min(best[fused], time.perf_counter() - t0)
    finally:
        _tv_numba.FUSED_GRAY = True
    return {"gray_ms_per_iter": 1e3 * best[True] / n_iter,
            "general_ms_per_iter": 1e3 * best[False] / n_iter,
            "ratio": best[False] / best[True],
            "max_abs_diff": float(np.abs(out[True] - out[False]).max())}


if __name__ == "__main__":
    main()
