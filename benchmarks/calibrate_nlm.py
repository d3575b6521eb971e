"""Choose the default NLM parameters (patch size, search window, h / sigma) on Train400.

    python -m benchmarks.calibrate_nlm [--n-images 10] [--sigmas 15 25 50] [--classic]
                                       [--json FILE]

Protocol (``shared/data/README.md``): ``n`` Train400 images (evenly spaced in the sorted list),
float64 from uint8 / 255, noise ``N(0, (s/255)^2)`` with a fixed seed per ``s``, no clipping of
the noisy input, PSNR of the clipped output (data range 1, no shave). For every ``s`` the
script runs :func:`invrestore.kernels.nlm.non_local_means` on a grid of patch sizes, search
radii and, for each (patch, window) pair, ``h / sigma`` on a grid of step 0.05 (walking
uphill from 0.6; the PSNR is unimodal in ``h``). It prints the best ``h / sigma`` and its mean
PSNR per pair, and the overall best, which becomes the row of ``DEFAULTS`` in
:mod:`invrestore.denoisers.nlm`. Where two pairs are within 0.02 dB, the cheaper one (fewer
offsets, then smaller patch) is preferred.

``--classic`` calibrates ``h / sigma`` of the Gaussian-weighted variant (``fast_mode=False``)
on the patch sizes and windows chosen for the fast one. Set12 is never used here.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from invrestore.datasets import list_images, load_image
from invrestore.kernels.nlm import non_local_means
from invrestore.metrics import psnr

PATCH_SIZES = (3, 5, 7, 9)
WINDOWS = (5, 7, 10, 13)
#: h / sigma is searched on this grid step, by walking uphill from ``H_START``.
H_STEP = 0.05
H_START = 0.6
#: Preference margin: a cheaper configuration within this many dB of the best wins.
TIE_DB = 0.02


def load_train(n):
    files = list_images("Train400")
    idx = np.linspace(0, len(files) - 1, n).round().astype(int)
    return [load_image(files[i]) for i in idx]


def noisy(images, s, seed=0):
    rng = np.random.default_rng([seed, s])
    return [x + (s / 255.0) * rng.standard_normal(x.shape) for x in images]


def mean_psnr(images, ys, sigma, c, ps, pd, fast_mode):
    return float(np.mean([
        psnr(np.clip(non_local_means(y, sigma, c * sigma, patch_size=ps, patch_distance=pd,
                                     fast_mode=fast_mode), 0, 1), x)
        for x, y in zip(images, ys)]))


def best_h(f, start=H_START, step=H_STEP):
    """Walk uphill on the grid ``k * step`` from ``start`` (PSNR is unimodal in h)."""
    seen = {}

    def val(c):
        c = round(c, 3)
        if c not in seen:
            seen[c] = f(c)
        return seen[c]

    c = start
    while True:
        here, up, down = val(c), val(c + step), val(max(step, c - step))
        if up > here:
            c += step
        elif down > here and c - step >= step:
            c -= step
        else:
            return c, here, seen


def grid(images, ys, s, patch_sizes, windows, fast_mode, start=H_START):
    """``{(patch, window): (best h factor, its PSNR)}``."""
    sigma = s / 255.0
    out = {}
    for ps in patch_sizes:
        for pd in windows:
            c, v, _ = best_h(lambda c, ps=ps, pd=pd: mean_psnr(images, ys, sigma, c, ps, pd,
                                                                fast_mode), start)
            out[(ps, pd)] = (round(c, 3), v)
            start = c  # neighbouring configurations have similar optima
    return out


def choose(table):
    """Best (patch, window, h factor, psnr), preferring cheap ones within ``TIE_DB``."""
    cands = [(ps, pd, c, v) for (ps, pd), (c, v) in table.items()]
    best = max(c[3] for c in cands)
    ok = [c for c in cands if c[3] >= best - TIE_DB]
    return min(ok, key=lambda c: ((2 * c[1] + 1) ** 2, c[0]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-images", type=int, default=10)
    p.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50])
    p.add_argument("--classic", action="store_true",
                   help="calibrate h of fast_mode=False on the shipped patch sizes / windows")
    p.add_argument("--json")
    a = p.parse_args(argv)
    images = load_train(a.n_images)
    rows = []
    for s in a.sigmas:
        ys = noisy(images, s)
        t0 = time.perf_counter()
        if a.classic:
            from invrestore.denoisers.nlm import default_parameters

            ps, pd, _ = default_parameters(s / 255.0)
            table = grid(images, ys, s, (ps,), (pd,), False)
        else:
            table = grid(images, ys, s, PATCH_SIZES, WINDOWS, True)
        print(f"\nsigma {s}/255 ({time.perf_counter() - t0:.0f} s): best h/sigma and PSNR per "
              "patch size (rows) and search radius (columns)", flush=True)
        pss = sorted({k[0] for k in table})
        pds = sorted({k[1] for k in table})
        print("patch | " + " | ".join(f"r={pd:2d}" for pd in pds))
        for ps in pss:
            print(f"{ps:5d} | " + " | ".join(f"{table[(ps, pd)][0]:.2f}: {table[(ps, pd)][1]:.2f}"
                                              for pd in pds))
        ps, pd, c, val = choose(table)
        print(f"chosen: patch_size {ps}, patch_distance {pd}, h = {c:.2f} sigma "
              f"({val:.3f} dB)", flush=True)
        rows.append({"sigma": s, "patch_size": ps, "patch_distance": pd, "h_factor": c,
                     "psnr": val, "fast_mode": not a.classic,
                     "table": {f"{k[0]}x{k[1]}": v for k, v in table.items()}})
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
