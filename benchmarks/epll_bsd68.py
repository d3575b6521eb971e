"""EPLL denoising on BSD68 (gray) and the time for one 512x512 image.

    python -m benchmarks.epll_bsd68 [--quick] [--sigmas 15 25 50] [--json FILE]

Protocol (../shared/data/README.md, as ``benchmarks/set12_defaults.py``): the 68 gray BSD68
images as float64 uint8 / 255; Gaussian noise of std s/255 with seed = image index (sorted
file order), not clipped; PSNR of the clipped output, data range 1, no border shave.
``EPLLDenoiser()`` with its defaults and the shipped GMM. Time: ``Set12/09.png`` (512x512) at
s = 25, median of 3 runs after a warm-up run (Numba compilation excluded), on all the CPUs the
process may use. ``--quick`` uses every 8th image (9 images) for development.

The bar is the published EPLL result on this set (Zhang et al. 2017, DnCNN, Table 2).
Results go to ``benchmarks/results/epll_bsd68.json`` (or ``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from invrestore.datasets import data_dir, list_images, load_image
from invrestore.degradations import add_gaussian_noise
from invrestore.denoisers import EPLLDenoiser
from invrestore.kernels.blas_threads import default_threads
from invrestore.metrics import psnr

#: Published EPLL PSNR (dB) on BSD68 gray at sigma 15 / 25 / 50.
BAR = {15: 31.21, 25: 28.68, 50: 25.67}
#: Time bar for one 512x512 image at sigma 25 on 2 cores (seconds).
TIME_BAR = 5.0


def time_512(den, repeats=3):
    x = load_image(list_images("Set12")[8])  # 09.png, 512 x 512
    y = add_gaussian_noise(x, 25 / 255, rng=0)
    den(y, 25 / 255)  # warm-up: compilation, model loading
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = den(y, 25 / 255)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(min(times)), psnr(np.clip(out, 0, 1), x)


def run(den, sigmas, every=1):
    paths = list_images("BSD68")
    idx = list(range(0, len(paths), every))
    images = [load_image(paths[i]) for i in idx]
    rows = []
    for s in sigmas:
        vals, t0 = [], time.perf_counter()
        for i, x in zip(idx, images):
            y = add_gaussian_noise(x, s / 255, rng=i)
            vals.append(psnr(np.clip(den(y, s / 255), 0, 1), x))
        rows.append({"sigma": s, "psnr": float(np.mean(vals)), "n_images": len(vals),
                     "seconds_per_image": (time.perf_counter() - t0) / len(vals)})
        print(f"sigma {s:2d}: {rows[-1]['psnr']:.3f} dB ({len(vals)} images, "
              f"{rows[-1]['seconds_per_image']:.2f} s / image)", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="every 8th image only")
    p.add_argument("--sigmas", nargs="+", type=int, default=[15, 25, 50])
    p.add_argument("--no-time", action="store_true", help="skip the 512x512 timing")
    p.add_argument("--json", default=None)
    p.add_argument("--gmm", default=None, help="GMM .npz file (default: the shipped one)")
    p.add_argument("--betas", nargs="+", type=float, default=None)
    p.add_argument("--stride", type=int, default=None)
    p.add_argument("--rank-tol", type=float, default=None)
    a = p.parse_args(argv)
    if data_dir() is None:
        print("error: test data not found (set INVRESTORE_DATA)", file=sys.stderr)
        return 2
    kw = {k: v for k, v in (("betas", a.betas), ("stride", a.stride),
                            ("rank_tol", a.rank_tol)) if v is not None}
    den = EPLLDenoiser(a.gmm, **kw)
    result = {"denoiser": repr(den), "threads": default_threads(), "quick": a.quick}
    if not a.no_time:
        med, best, q = time_512(den)
        result["time_512"] = {"median_s": med, "min_s": best, "psnr": q}
        print(f"512x512 sigma 25: median {med:.2f} s, min {best:.2f} s "
              f"({default_threads()} threads), PSNR {q:.2f} dB", flush=True)
    result["bsd68"] = run(den, a.sigmas, every=8 if a.quick else 1)
    print("\n| BSD68 sigma | PSNR (dB) | EPLL paper | s / image |\n|---|---|---|---|")
    for r in result["bsd68"]:
        print(f"| {r['sigma']} | {r['psnr']:.2f} | {BAR.get(r['sigma'], '-')} | "
              f"{r['seconds_per_image']:.2f} |")
    if "time_512" in result:
        print(f"\n512x512 at sigma 25: {result['time_512']['median_s']:.2f} s (bar {TIME_BAR} s)")
    path = a.json or (None if a.quick or kw or a.gmm else
                      os.path.join(os.path.dirname(__file__), "results", "epll_bsd68.json"))
    if path:
        with open(path, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
