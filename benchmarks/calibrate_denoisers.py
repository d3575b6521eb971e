"""Calibrate ``denoise_step(sigma)`` of the classical priors on training data (Train400).

    python -m benchmarks.calibrate_denoisers [--n-images 50] [--test-set Set12] [--json FILE]

Protocol (``shared/data/README.md``): ``n`` Train400 images (evenly spaced in the sorted list),
float64 from uint8 / 255, noise ``N(0, (s/255)^2)`` with a fixed seed per ``s`` in 15, 25, 50,
no clipping of the noisy input, PSNR of the clipped output (data range 1, no shave).

For each prior the prox step is ``c * sigma`` on a grid of ``c``; the table of mean PSNRs is
printed, the best ``c`` per ``sigma`` is refined by a parabola through the three best grid
points, and the law ``c(sigma) = c_ref (sigma / sigma_ref)^alpha`` (``sigma_ref = 25/255``)
is fitted to the three optima in log-log by least squares. The law is the chosen rule when it
beats the best single ``c`` (it does for all three priors: the best step grows faster than
``sigma``); the constants in the code (``invrestore.functionals.tv`` and ``.wavelet``) are
these fitted values, rounded.

Only Train400 is used for choosing. ``--test-set Set12`` then evaluates the priors *as shipped*
(their in-code ``denoise_step``) on a test set, once, for reporting.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from invrestore.datasets import list_images, load_image
from invrestore.functionals import TotalVariation, WaveletL1
from invrestore.metrics import psnr

SIGMAS = (15, 25, 50)
SIGMA_REF = 25.0 / 255.0
#: Published oracle-tuned scikit-image TV (Chambolle) results on Set12, the target for TV.
TV_TARGET_SET12 = {15: 30.56, 25: 28.00, 50: 24.91}


def priors():
    """name -> (prior, grid of c, fraction of the images used)."""
    return {
        "tv": (TotalVariation(), np.round(np.arange(0.40, 1.201, 0.05), 3), 1.0),
        "wavelet": (WaveletL1(), np.round(np.arange(0.8, 2.61, 0.1), 3), 1.0),
        # 16 shifts per prox: calibrated on half the images to keep the run short
        "wavelet_spin3": (WaveletL1(cycle_spin=3), np.round(np.arange(1.0, 2.41, 0.1), 3), 0.5),
    }


def load_set(name, n=None):
    files = list_images(name)
    if n is not None and n < len(files):
        files = [files[i] for i in np.linspace(0, len(files) - 1, n).round().astype(int)]
    return [load_image(f) for f in files]


def add_noise(images, s, seed=0):
    rng = np.random.default_rng([seed, s])
    return [x + (s / 255.0) * rng.standard_normal(x.shape) for x in images]


def mean_psnr(prior, images, noisy, step):
    return float(np.mean([psnr(np.clip(prior.prox(y, step), 0, 1), x)
                          for x, y in zip(images, noisy)]))


def refine(cs, values):
    """Argmax of a parabola through the best grid point and its neighbours."""
    i = int(np.argmax(values))
    if 0 < i < len(cs) - 1:
        y0, y1, y2 = values[i - 1], values[i], values[i + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            return float(cs[i] + 0.5 * (y0 - y2) / den * (cs[i + 1] - cs[i]))
    return float(cs[i])


def calibrate(name, prior, cs, images, noisy_by_sigma):
    table = np.array([[mean_psnr(prior, images, noisy_by_sigma[s], c * s / 255.0)
                       for s in SIGMAS] for c in cs])
    best = {s: refine(cs, table[:, j]) for j, s in enumerate(SIGMAS)}
    lx = np.log(np.array(SIGMAS) / 255.0 / SIGMA_REF)
    ly = np.log([best[s] for s in SIGMAS])
    alpha, logc = np.polyfit(lx, ly, 1)
    c_ref, alpha = round(float(np.exp(logc)), 2), round(float(alpha), 2)
    law = [mean_psnr(prior, images, noisy_by_sigma[s],
                     c_ref * (s / 255.0) * (s / 255.0 / SIGMA_REF) ** alpha) for s in SIGMAS]
    j = int(np.argmax(table.mean(axis=1)))
    print(f"\n== {name}: {prior!r}, {len(images)} Train400 images; mean PSNR (dB), step = c sigma")
    print("   c  " + "".join(f"  s={s:<5d}" for s in SIGMAS) + "   mean")
    for c, row in zip(cs, table):
        print(f"{c:5.2f} " + "".join(f"  {v:7.3f}" for v in row) + f"  {row.mean():7.3f}")
    print("best c per sigma (parabolic refinement): "
          + ", ".join(f"{s}: {best[s]:.3f}" for s in SIGMAS))
    print(f"best single c = {cs[j]:.2f}: " + ", ".join(f"{v:.3f}" for v in table[j])
          + f"  (mean {table[j].mean():.3f})")
    print(f"law c(sigma) = {c_ref} (sigma / (25/255))^{alpha}: "
          + ", ".join(f"{v:.3f}" for v in law) + f"  (mean {np.mean(law):.3f})")
    chosen = "law" if np.mean(law) >= table[j].mean() else "single"
    print(f"chosen: {chosen}" + (f" c_ref={c_ref}, alpha={alpha}" if chosen == "law"
                                 else f" c={cs[j]:.2f}"))
    return {"c": cs.tolist(), "table": table.tolist(), "best_c": best, "c_ref": c_ref,
            "alpha": alpha, "law_psnr": law, "single_c": float(cs[j]),
            "single_psnr": table[j].tolist(), "chosen": chosen}


def wavelet_levels(images, noisy_by_sigma, levels=(2, 3, 4, 5)):
    """Best grid PSNR per sigma of db4 shrinkage at each depth (justifies MAX_AUTO_LEVELS)."""
    cs = np.round(np.arange(0.8, 2.61, 0.2), 3)
    print(f"\n== wavelet levels (db4, {len(images)} images): best mean PSNR over c per sigma")
    out = {}
    for L in levels:
        prior = WaveletL1(levels=L)
        out[L] = [max(mean_psnr(prior, images, noisy_by_sigma[s], c * s / 255.0) for c in cs)
                  for s in SIGMAS]
        print(f"levels={L}: " + ", ".join(f"s={s}: {v:.3f}" for s, v in zip(SIGMAS, out[L])))
    return out


def evaluate(set_name, prior_list):
    images = load_set(set_name)
    out = {}
    print(f"\n== {set_name} ({len(images)} images), priors as shipped, prior.denoise(y, sigma)")
    for name, prior in prior_list.items():
        row = {}
        for s in SIGMAS:
            noisy = add_noise(images, s, seed=1)
            row[s] = float(np.mean([psnr(np.clip(prior.denoise(y, s / 255.0), 0, 1), x)
                                    for x, y in zip(images, noisy)]))
        out[name] = row
        line = ", ".join(f"s={s}: {row[s]:.2f}" for s in SIGMAS)
        if name == "tv" and set_name == "Set12":
            line += "   (target " + " / ".join(f"{TV_TARGET_SET12[s]:.2f}" for s in SIGMAS) + ")"
        print(f"{name:14s} {line}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=50)
    ap.add_argument("--only", choices=sorted(priors()), action="append")
    ap.add_argument("--test-set", default=None, help="evaluate the shipped priors (e.g. Set12)")
    ap.add_argument("--evaluate-only", action="store_true",
                    help="skip the calibration, only evaluate --test-set")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    images = [] if args.evaluate_only else load_set("Train400", args.n_images)
    noisy = {s: add_noise(images, s) for s in SIGMAS}
    results = {}
    for name, (prior, cs, frac) in priors().items():
        if args.evaluate_only or (args.only and name not in args.only):
            continue
        n = max(1, round(frac * len(images)))
        results[name] = calibrate(name, prior, cs, images[:n],
                                  {s: v[:n] for s, v in noisy.items()})
    if not args.evaluate_only and (not args.only or "wavelet" in args.only):
        n = max(1, len(images) // 2)
        results["wavelet_levels"] = wavelet_levels(images[:n], {s: v[:n] for s, v in noisy.items()})
    if args.test_set:
        shipped = {name: prior for name, (prior, _, _) in priors().items()
                   if not args.only or name in args.only}
        results["test"] = {args.test_set: evaluate(args.test_set, shipped)}
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return results


if __name__ == "__main__":
    main()
