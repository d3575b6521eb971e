"""Choose each denoiser's plug-and-play weight ``pnp_lam`` on Train400 (never on a test set).

    python -m benchmarks.calibrate_pnp --prior nlm [--n-images 6] [--noise 2.55 7.65]
                                       [--json FILE]
    python -m benchmarks.calibrate_pnp --weights invrestore/nn/weights/gray.npz --write-npz

Protocol: ``n`` Train400 images (evenly spaced in the sorted list, 180x180 gray, float64 from
uint8 / 255), each blurred circularly by 6 kernels that are not the Levin kernels (motion
blurs of length 11, 17 and 23 pixels at 20, 75 and 140 degrees; anisotropic Gaussians
(1.2, 2.8, 30 deg) and (2.5, 1.0, 120 deg); a uniform 7x7 box), Gaussian noise of std
``n/255`` seeded by the image and kernel index, sigma estimated from the observation as
``restore()`` does. For each weight ``lam = m * 0.23`` (``m`` on a log grid) the script runs
``restore(y, H, prior=..., lam=lam)`` (plug-and-play HQS on the DPIR schedule, 8 iterations)
and prints the mean PSNR of the clipped output per weight; the best multiple times 0.23 is the
denoiser's ``pnp_lam``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from invrestore import restore
from invrestore.api import PNP_LAM, get_prior
from invrestore.datasets import list_images, load_image
from invrestore.degradations import (
    add_gaussian_noise,
    anisotropic_gaussian_kernel,
    motion_kernel,
    uniform_kernel,
)
from invrestore.estimation import estimate_sigma
from invrestore.metrics import psnr
from invrestore.operators import Blur

MULTIPLES = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)


def calibration_kernels():
    ks = [motion_kernel(L, a) for L, a in ((11, 20.0), (17, 75.0), (23, 140.0))]
    ks.append(anisotropic_gaussian_kernel(1.2, 2.8, angle=30.0))
    ks.append(anisotropic_gaussian_kernel(2.5, 1.0, angle=120.0))
    ks.append(uniform_kernel(7))
    return ks


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prior", help="prior name (as restore() takes it)")
    p.add_argument("--weights", metavar="NPZ", help="calibrate the network in these "
                   "invrestore .npz weights instead of a named prior")
    p.add_argument("--n-images", type=int, default=6)
    p.add_argument("--noise", type=float, nargs="+", default=[2.55, 7.65])
    p.add_argument("--multiples", type=float, nargs="+", default=list(MULTIPLES))
    p.add_argument("--json")
    p.add_argument("--write-npz", action="store_true", help="with --weights: store the weight "
                   "with the best mean over the noise levels as 'pnp_lam' in that file, with "
                   "the calibration in its provenance")
    args = p.parse_args(argv)
    if (args.prior is None) == (args.weights is None):
        p.error("give exactly one of --prior and --weights")
    if args.write_npz and args.weights is None:
        p.error("--write-npz needs --weights")
    if args.n_images < 1:
        p.error(f"--n-images must be >= 1, got {args.n_images}")
    if not all(v > 0 for v in args.noise + args.multiples):  # also refuses nan
        p.error("--noise and --multiples must be positive")
    paths = list_images("Train400")
    idx = np.linspace(0, len(paths) - 1, args.n_images).round().astype(int)
    images = [load_image(paths[i], gray=True) for i in idx]
    kernels = calibration_kernels()
    if args.weights:
        from invrestore.functionals import DenoiserPrior
        from invrestore.nn import load

        prior = DenoiserPrior(load(args.weights))
    else:
        prior = get_prior(args.prior)
    rows = []
    t0 = time.time()
    for n in args.noise:
        scores = np.zeros((len(images) * len(kernels), len(args.multiples)))
        for i, x in enumerate(images):
            for j, k in enumerate(kernels):
                H = Blur(k, x.shape, boundary="circular")
                y = add_gaussian_noise(H @ x, n / 255, rng=1000 * i + j)
                sigma = estimate_sigma(y)
                for c, m in enumerate(args.multiples):
                    out = restore(y, H, prior=prior, sigma=sigma, lam=m * PNP_LAM)
                    scores[i * len(kernels) + j, c] = psnr(x, np.clip(out, 0, 1))
        mean = scores.mean(axis=0)
        best = int(np.argmax(mean))
        rows.append({"noise": n, "multiples": list(args.multiples), "psnr": mean.tolist(),
                     "best_multiple": args.multiples[best],
                     "best_lam": args.multiples[best] * PNP_LAM})
        print(f"noise {n}/255: " + "  ".join(f"x{m:g} {v:.2f}" for m, v in
                                             zip(args.multiples, mean))
              + f"  -> best x{args.multiples[best]:g} (lam {rows[-1]['best_lam']:.3g}), "
              f"{time.time() - t0:.0f} s", flush=True)
    overall = np.mean([r["psnr"] for r in rows], axis=0)
    best_all = args.multiples[int(np.argmax(overall))]
    print("mean over noise levels: " + "  ".join(f"x{m:g} {v:.2f}" for m, v in
                                                  zip(args.multiples, overall))
          + f"  -> x{best_all:g} (lam {best_all * PNP_LAM:.3g})")
    doc = {"prior": args.prior or args.weights, "n_images": args.n_images, "rows": rows,
           "kernels": len(kernels), "best_multiple_overall": best_all,
           "best_lam_overall": best_all * PNP_LAM}
    if args.write_npz:
        from invrestore.nn import load, save_npz

        net = load(args.weights)
        net.pnp_lam = best_all * PNP_LAM
        prov = dict(net.provenance)
        prov["pnp_lam_calibration"] = {
            "command": "python -m benchmarks.calibrate_pnp " + " ".join(
                sys.argv[1:] if argv is None else argv),
            "noise": args.noise, "multiples": list(args.multiples),
            "psnr": [r["psnr"] for r in rows], "pnp_lam": net.pnp_lam}
        save_npz(net, args.weights, provenance=prov)
        print(f"wrote pnp_lam = {net.pnp_lam:.4g} into {args.weights}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return doc


if __name__ == "__main__":
    main()
