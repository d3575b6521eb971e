"""Published denoising results of DnCNN and FFDNet, reproduced with invrestore's own engine.

    python -m benchmarks.nn_reproduce [--full] [--json FILE] [--weights DIR]

The original authors' MatConvNet weights (``<data>/../weights``, see its README; or
``$INVRESTORE_WEIGHTS``) run through :func:`invrestore.nn.load` -- no MATLAB, no PyTorch.
Protocol (``<data>/README.md``): images float64 from uint8 / 255; white Gaussian noise of std
s/255 with seed = image index (``add_gaussian_noise(x, s / 255, rng=i)``), not clipped;
PSNR of the output clipped to [0, 1], data range 1, no border shave; mean over the set.

By default the checked rows (DnCNN-S sigma 25 on BSD68 and Set12, FFDNet gray on BSD68 at
15/25/50) and DnCNN-B at 25; ``--full`` adds every published number (DnCNN-S 15/50,
DnCNN-B, FFDNet Set12 and colour CBSD68). A row passes when it is within 0.02 dB of the paper.
The noise differs from the MATLAB generator the papers used, so the means can move by about
0.01 dB; the printed difference says by how much.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from invrestore.datasets import data_dir, list_images, load_image
from invrestore.degradations import add_gaussian_noise
from invrestore.metrics import psnr

TOLERANCE_DB = 0.02

#: (label, weights file, image set, sigma, published PSNR, checked)
CHECKED = [
    ("DnCNN-S", "dncnn/dncnn_s_sigma25.mat", "BSD68", 25, 29.23),
    ("DnCNN-S", "dncnn/dncnn_s_sigma25.mat", "Set12", 25, 30.44),
    ("FFDNet", "ffdnet/ffdnet_gray.mat", "BSD68", 15, 31.63),
    ("FFDNet", "ffdnet/ffdnet_gray.mat", "BSD68", 25, 29.19),
    ("FFDNet", "ffdnet/ffdnet_gray.mat", "BSD68", 50, 26.29),
]
EXTRA = [
    ("DnCNN-B", "dncnn/dncnn_b_gray_blind.mat", "BSD68", 25, 29.16),
]
FULL = [
    ("DnCNN-S", "dncnn/dncnn_s_sigma15.mat", "BSD68", 15, 31.73),
    ("DnCNN-S", "dncnn/dncnn_s_sigma50.mat", "BSD68", 50, 26.23),
    ("DnCNN-S", "dncnn/dncnn_s_sigma15.mat", "Set12", 15, 32.86),
    ("DnCNN-S", "dncnn/dncnn_s_sigma50.mat", "Set12", 50, 27.18),
    ("DnCNN-B", "dncnn/dncnn_b_gray_blind.mat", "BSD68", 15, 31.61),
    ("DnCNN-B", "dncnn/dncnn_b_gray_blind.mat", "BSD68", 50, 26.23),
    ("FFDNet", "ffdnet/ffdnet_gray.mat", "Set12", 15, 32.75),
    ("FFDNet", "ffdnet/ffdnet_gray.mat", "Set12", 25, 30.43),
    ("FFDNet", "ffdnet/ffdnet_gray.mat", "Set12", 50, 27.32),
    ("FFDNet colour", "ffdnet/ffdnet_color.mat", "CBSD68", 15, 33.87),
    ("FFDNet colour", "ffdnet/ffdnet_color.mat", "CBSD68", 25, 31.21),
    ("FFDNet colour", "ffdnet/ffdnet_color.mat", "CBSD68", 50, 27.96),
]


def weights_dir():
    """``$INVRESTORE_WEIGHTS``, else the ``weights`` folder beside the test data folder."""
    env = os.environ.get("INVRESTORE_WEIGHTS")
    if env:
        return Path(env)
    data = data_dir()
    return None if data is None else data.parent / "weights"


def evaluate(net, set_name, sigma):
    """Mean PSNR of ``net`` on ``set_name`` at noise level ``sigma`` (0-255 scale)."""
    values = []
    for i, path in enumerate(list_images(set_name)):
        x = load_image(path)
        y = add_gaussian_noise(x, sigma / 255, rng=i)
        values.append(psnr(np.clip(net(y, sigma / 255), 0.0, 1.0), x))
    return float(np.mean(values)), len(values)


def run(rows, wdir):
    from invrestore.nn import load

    cache, results = {}, []
    for label, file, set_name, sigma, published in rows:
        if file not in cache:
            cache[file] = load(wdir / file)
        t0 = time.perf_counter()
        value, n = evaluate(cache[file], set_name, sigma)
        dt = (time.perf_counter() - t0) / n
        diff = value - published
        results.append({"model": label, "weights": file, "set": set_name, "sigma": sigma,
                        "psnr": round(value, 4), "published": published,
                        "diff": round(diff, 4), "within_tolerance": abs(diff) <= TOLERANCE_DB,
                        "seconds_per_image": round(dt, 3)})
        print(f"{label:14s} {set_name:7s} sigma {sigma:2d}: {value:.3f} dB "
              f"(paper {published:.2f}, {diff:+.3f}) {dt:.2f} s/image", flush=True)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="every published number")
    p.add_argument("--weights", help="folder of the published weights")
    p.add_argument("--json", default=str(Path(__file__).parent / "results" /
                                          "nn_reproduce.json"))
    a = p.parse_args(argv)
    wdir = Path(a.weights) if a.weights else weights_dir()
    if data_dir() is None or wdir is None or not wdir.is_dir():
        print("error: test data or weights not found (set INVRESTORE_DATA / "
              "INVRESTORE_WEIGHTS)", file=sys.stderr)
        return 2
    rows = CHECKED + EXTRA + (FULL if a.full else [])
    checked = {(r[1], r[2], r[3]) for r in CHECKED}
    results = run(rows, wdir)
    for r in results:
        r["checked"] = (r["weights"], r["set"], r["sigma"]) in checked
    print("\n| model | set | sigma | invrestore (dB) | paper (dB) | diff | s / image |\n"
          "|---|---|---|---|---|---|---|")
    for r in results:
        mark = "" if r["within_tolerance"] else " (!)"
        print(f"| {r['model']} | {r['set']} | {r['sigma']} | {r['psnr']:.3f} | "
              f"{r['published']:.2f} | {r['diff']:+.3f}{mark} | {r['seconds_per_image']:.2f} |")
    failed = [r for r in results if r["checked"] and not r["within_tolerance"]]
    print(f"\nchecked rows within {TOLERANCE_DB} dB: "
          f"{sum(r['checked'] for r in results) - len(failed)}/"
          f"{sum(r['checked'] for r in results)}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump({"date": datetime.date.today().isoformat(),
                       "protocol": "seed = image index, unclipped noise, PSNR of clipped "
                                   "output, data range 1, no shave",
                       "tolerance_db": TOLERANCE_DB,
                       "note": "seconds_per_image is wall time on the machine of the run "
                               "(not a speed benchmark; see nn_vs_torch)",
                       "loadavg_1min_at_end": round(os.getloadavg()[0], 2),
                       "rows": results}, fh, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
