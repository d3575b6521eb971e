"""NLM (fast mode) against scikit-image ``denoise_nl_means(fast_mode=True)``, side by side.

    python -m benchmarks.nlm_vs_skimage [--image FILE] [--repeats 7] [--json FILE]

A 512x512 gray image (default: ``skimage.data.camera()``), float64 from uint8 / 255, Gaussian
noise of std 25/255 (seed 0, not clipped). Both libraries get the same noisy image, patch
size, search radius, ``h`` and ``sigma`` (the invrestore defaults at 25/255, see
:data:`invrestore.denoisers.nlm.DEFAULTS`); PSNR of the clipped outputs (data range 1).
scikit-image is also run over ``h`` in 0.4 ... 1.2 sigma on this very image, and its best
PSNR reported, so the comparison does not hinge on one ``h``.

Timing: each call is warmed up once (Numba compilation), then the two run alternately,
``--repeats`` times; the reported times are the best of each and the speed-up their ratio
(the median of the per-round ratios is printed too). invrestore runs on all Numba threads
(``NUMBA_NUM_THREADS``), scikit-image's kernel is single-threaded; a row with invrestore on
one thread is included. float64 is the headline; float32 is reported as well (both libraries
keep float32).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numba
import numpy as np
import skimage
from skimage.restoration import denoise_nl_means

from invrestore.datasets import load_image
from invrestore.degradations import add_gaussian_noise
from invrestore.denoisers.nlm import default_parameters
from invrestore.kernels.nlm import non_local_means
from invrestore.metrics import psnr

SIGMA = 25 / 255
RESULTS = os.path.join(os.path.dirname(__file__), "results", "nlm_vs_skimage.json")


def _best_times(funcs, repeats):
    """Alternate the calls; best time of each and the per-round ratios to the first."""
    for f in funcs:
        f()
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for k, f in enumerate(funcs):
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return [min(t) for t in times], times


def compare(x, dtype, repeats):
    y = add_gaussian_noise(x, SIGMA, rng=0).astype(dtype)
    ps, pd, h = default_parameters(SIGMA)
    threads = numba.get_num_threads()

    def ours():
        return non_local_means(y, SIGMA, h, patch_size=ps, patch_distance=pd)

    def ours_1():
        numba.set_num_threads(1)
        try:
            return non_local_means(y, SIGMA, h, patch_size=ps, patch_distance=pd)
        finally:
            numba.set_num_threads(threads)

    def theirs():
        return denoise_nl_means(y, patch_size=ps, patch_distance=pd, h=h, sigma=SIGMA,
                                fast_mode=True)

    (t_sk, t_ir, t_ir1), rounds = _best_times([theirs, ours, ours_1], repeats)
    z_ir, z_sk = ours(), theirs()
    assert z_ir.dtype == dtype and z_sk.dtype == dtype
    return {
        "dtype": np.dtype(dtype).name, "patch_size": ps, "patch_distance": pd,
        "h": h, "sigma": SIGMA,
        "psnr_noisy": psnr(y, x),
        "psnr_invrestore": psnr(np.clip(z_ir, 0, 1), x),
        "psnr_skimage": psnr(np.clip(z_sk, 0, 1), x),
        "seconds_invrestore": t_ir, "seconds_invrestore_1_thread": t_ir1,
        "seconds_skimage": t_sk,
        "speedup": t_sk / t_ir, "speedup_1_thread": t_sk / t_ir1,
        "speedup_median_round": float(np.median(np.array(rounds[0]) / np.array(rounds[1]))),
        "threads": threads,
    }


def skimage_h_sweep(x):
    y = add_gaussian_noise(x, SIGMA, rng=0)
    ps, pd, _ = default_parameters(SIGMA)
    out = {}
    for c in np.round(np.arange(0.4, 1.21, 0.1), 2):
        z = denoise_nl_means(y, patch_size=ps, patch_distance=pd, h=c * SIGMA, sigma=SIGMA,
                             fast_mode=True)
        out[float(c)] = psnr(np.clip(z, 0, 1), x)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", help="gray image file (default: skimage.data.camera())")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--json", default=RESULTS)
    a = p.parse_args(argv)
    if a.image:
        x, name = load_image(a.image), os.path.basename(a.image)
    else:
        x, name = skimage.data.camera().astype(np.float64) / 255.0, "skimage.data.camera()"
    if x.ndim != 2:
        print(f"error: {name} is not a gray image", file=sys.stderr)
        return 2
    rows = [compare(x, dt, a.repeats) for dt in (np.float64, np.float32)]
    sweep = skimage_h_sweep(x)
    best_c = max(sweep, key=sweep.get)
    r = rows[0]
    print(f"{name} {x.shape[0]}x{x.shape[1]}, sigma 25/255, patch {r['patch_size']}, "
          f"window radius {r['patch_distance']}, h = {r['h'] * 255:.2f}/255, "
          f"{r['threads']} Numba threads, best of {a.repeats} alternating runs")
    print("| dtype | invrestore s | 1 thread s | skimage s | speed-up | 1 thread | "
          "PSNR invrestore | PSNR skimage |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dtype']} | {r['seconds_invrestore']:.4f} | "
              f"{r['seconds_invrestore_1_thread']:.4f} | {r['seconds_skimage']:.4f} | "
              f"{r['speedup']:.2f}x | {r['speedup_1_thread']:.2f}x | "
              f"{r['psnr_invrestore']:.3f} | {r['psnr_skimage']:.3f} |")
    print(f"speed-up ratio (float64): {rows[0]['speedup']:.2f}x "
          f"(median of rounds {rows[0]['speedup_median_round']:.2f}x)")
    print(f"PSNR invrestore {rows[0]['psnr_invrestore']:.3f} dB, skimage same h "
          f"{rows[0]['psnr_skimage']:.3f} dB, skimage best h on this image "
          f"({best_c:.1f} sigma) {sweep[best_c]:.3f} dB")
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump({"image": name, "rows": rows,
                       "skimage_h_sweep": {str(k): v for k, v in sweep.items()},
                       "skimage_best_h_factor": best_c, "skimage_best_psnr": sweep[best_c],
                       "versions": {"skimage": skimage.__version__, "numba": numba.__version__,
                                    "numpy": np.__version__},
                       "machine": {"cpus": os.cpu_count(), "processor": platform.machine()}},
                      fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
