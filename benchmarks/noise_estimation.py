"""Noise-level estimation accuracy on Set12 and BSD68 (gray), sigma 5..50 / 255.

    python -m benchmarks.noise_estimation [--sets Set12 BSD68] [--json FILE]

Protocol: images float64 from uint8 / 255, Gaussian noise of std s/255 with seed = image index
within its set, not clipped (the denoising protocol of the data README). For each sigma: the
median and 90th percentile over images of ``|sigma_hat / sigma - 1|``, for the default
estimator (``estimate_sigma``, weak-texture PCA) and the wavelet MAD (``method="mad"``).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from invrestore.datasets import data_dir, list_images, load_image
from invrestore.estimation import estimate_sigma

SIGMAS = (5, 10, 15, 25, 35, 50)


def run(sets=("Set12", "BSD68"), sigmas=SIGMAS):
    images = []
    for name in sets:
        try:
            images += [(i, load_image(p)) for i, p in enumerate(list_images(name))]
        except FileNotFoundError:
            print(f"{name}: not found, skipped")
    rows = []
    for s in sigmas:
        err = {"pca": [], "mad": []}
        t = {"pca": 0.0, "mad": 0.0}
        for i, x in images:
            y = x + s / 255 * np.random.default_rng(i).standard_normal(x.shape)
            for m in err:
                t0 = time.perf_counter()
                e = estimate_sigma(y, method=m)
                t[m] += time.perf_counter() - t0
                err[m].append(abs(e * 255 / s - 1))
        row = {"sigma": s, "n_images": len(images)}
        for m, v in err.items():
            row[m] = {"median_rel_error": float(np.median(v)),
                      "p90_rel_error": float(np.percentile(v, 90)),
                      "seconds_per_image": t[m] / max(len(images), 1)}
        rows.append(row)
        print(f"sigma {s:2d}: pca median {100 * row['pca']['median_rel_error']:.1f}% "
              f"(p90 {100 * row['pca']['p90_rel_error']:.1f}%), mad median "
              f"{100 * row['mad']['median_rel_error']:.1f}%", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", nargs="+", default=["Set12", "BSD68"])
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if data_dir() is None:
        print("no data folder: nothing to measure")
        return []
    rows = run(a.sets)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"sets": a.sets, "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
