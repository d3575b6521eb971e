"""Set12 denoising with the default NLM parameters (sigma 15, 25, 50).

    python -m benchmarks.set12_nlm [--classic] [--json FILE]

Protocol (``shared/data/README.md``), as in :mod:`benchmarks.set12_defaults`: images float64
from uint8 / 255; Gaussian noise of std s/255 with seed = image index, not clipped; PSNR of
the clipped output, data range 1, no border shave. ``nlm_denoise(y, s / 255)`` runs with every
parameter at its default; the defaults were chosen on Train400
(``benchmarks/calibrate_nlm.py``), never on Set12.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numba
import numpy as np

from invrestore.datasets import data_dir, list_images, load_image
from invrestore.degradations import add_gaussian_noise
from invrestore.denoisers import nlm_denoise
from invrestore.denoisers.nlm import default_parameters
from invrestore.metrics import psnr

#: Mean Set12 PSNR (dB) the defaults must reach.
TARGET = {15: 30.83, 25: 28.45, 50: 24.84}
RESULTS = os.path.join(os.path.dirname(__file__), "results", "set12_nlm.json")


def run(sigmas=(15, 25, 50), fast_mode=True):
    files = list_images("Set12")
    images = [load_image(p) for p in files]
    nlm_denoise(images[0][:32, :32], 0.1, fast_mode=fast_mode)   # compile outside the timing
    rows = []
    for s in sigmas:
        vals, t0 = [], time.perf_counter()
        for i, x in enumerate(images):
            y = add_gaussian_noise(x, s / 255, rng=i)
            vals.append(psnr(np.clip(nlm_denoise(y, s / 255, fast_mode=fast_mode), 0, 1), x))
        ps, pd, h = default_parameters(s / 255, fast_mode)
        rows.append({"sigma": s, "psnr": float(np.mean(vals)), "target": TARGET.get(s),
                     "per_image": [round(float(v), 3) for v in vals],
                     "images": [os.path.basename(f) for f in files],
                     "patch_size": ps, "patch_distance": pd, "h": h, "fast_mode": fast_mode,
                     "seconds_per_image": (time.perf_counter() - t0) / len(images)})
        print(f"sigma {s:2d}: {rows[-1]['psnr']:.2f} dB", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classic", action="store_true", help="fast_mode=False (Gaussian patches)")
    p.add_argument("--json", default=None,
                   help=f"output file (default {os.path.relpath(RESULTS)} for the fast mode)")
    a = p.parse_args(argv)
    if data_dir() is None:
        print("error: test data not found (set INVRESTORE_DATA)", file=sys.stderr)
        return 2
    rows = run(fast_mode=not a.classic)
    print(f"\nNLM ({'classic' if a.classic else 'fast'} mode), default parameters, "
          f"{numba.get_num_threads()} threads")
    print("| sigma | patch | window radius | h (x255) | Set12 PSNR (dB) | target | "
          "s / image |\n|---|---|---|---|---|---|---|")
    for r in rows:
        ok = "" if r["target"] is None else (" (met)" if r["psnr"] >= r["target"] else
                                             " (NOT met)")
        print(f"| {r['sigma']} | {r['patch_size']} | {r['patch_distance']} | "
              f"{r['h'] * 255:.2f} | {r['psnr']:.2f} | {r['target']}{ok} | "
              f"{r['seconds_per_image']:.3f} |")
    out = a.json or (None if a.classic else RESULTS)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as fh:
            json.dump({"threads": numba.get_num_threads(), "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
