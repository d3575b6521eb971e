"""Set12 with default parameters: TV denoising and TV inpainting (80% missing, no noise).

    python -m benchmarks.set12_defaults [--json FILE] [--priors tv wavelet ...]

Protocol (../shared/data/README.md): images float64 from uint8 / 255; Gaussian noise of std
s/255 with seed = image index, not clipped; PSNR of the clipped output, data range 1, no
border shave. Inpainting: a random mask with 80% of the pixels missing (seed = image index),
no noise, ``restore(y, Mask(m), prior=..., sigma=0)`` with every other parameter at its
default. Nothing here is tuned on Set12: the defaults come from Train400
(``benchmarks/calibrate_denoisers.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import invrestore as ir
from invrestore.datasets import data_dir, list_images, load_image
from invrestore.degradations import add_gaussian_noise, random_mask
from invrestore.metrics import psnr
from invrestore.operators import Mask

#: Oracle-tuned scikit-image TV on the same protocol (the bar the defaults must clear).
TV_DENOISE_REFERENCE = {15: 30.56, 25: 28.00, 50: 24.91}
TV_INPAINT_80_REFERENCE = 24.5


def run(priors=("tv",), sigmas=(15, 25, 50), missing=0.8):
    images = [load_image(p) for p in list_images("Set12")]
    rows = []
    for prior in priors:
        for s in sigmas:
            vals, t0 = [], time.perf_counter()
            for i, x in enumerate(images):
                y = add_gaussian_noise(x, s / 255, rng=i)
                vals.append(psnr(np.clip(ir.denoise(y, s / 255, method=prior), 0, 1), x))
            rows.append({"task": "denoise", "prior": prior, "sigma": s,
                         "psnr": float(np.mean(vals)),
                         "seconds_per_image": (time.perf_counter() - t0) / len(images)})
            print(f"denoise  {prior:10s} sigma {s:2d}: {rows[-1]['psnr']:.2f} dB", flush=True)
        vals, t0 = [], time.perf_counter()
        for i, x in enumerate(images):
            m = random_mask(x.shape, missing, rng=i)
            y = Mask(m) @ x
            vals.append(psnr(np.clip(ir.restore(y, Mask(m), prior=prior, sigma=0.0), 0, 1), x))
        rows.append({"task": f"inpaint {int(missing * 100)}%", "prior": prior,
                     "psnr": float(np.mean(vals)),
                     "seconds_per_image": (time.perf_counter() - t0) / len(images)})
        print(f"inpaint  {prior:10s} {int(missing * 100)}%: {rows[-1]['psnr']:.2f} dB", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--priors", nargs="+", default=["tv"])
    p.add_argument("--json")
    a = p.parse_args(argv)
    if data_dir() is None:
        print("error: test data not found (set INVRESTORE_DATA)", file=sys.stderr)
        return 2
    rows = run(a.priors)
    print("\n| task | prior | Set12 PSNR (dB) | bar | s / image |\n|---|---|---|---|---|")
    for r in rows:
        bar = (TV_DENOISE_REFERENCE.get(r.get("sigma")) if r["task"] == "denoise"
               else TV_INPAINT_80_REFERENCE) if r["prior"] == "tv" else None
        name = r["task"] + (f" sigma {r['sigma']}" if "sigma" in r else "")
        print(f"| {name} | {r['prior']} | {r['psnr']:.2f} | {bar if bar else '-'} | "
              f"{r['seconds_per_image']:.2f} |")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
