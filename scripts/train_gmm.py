"""Train the Gaussian-mixture patch prior of EPLL on Train400.

    python scripts/train_gmm.py --n-patches 1000000 --components 200 --seed 0 \
        --out invrestore/denoisers/data/gmm_8x8.npz

Patches: ``--n-patches`` 8x8 patches at uniformly random positions of uniformly random images
of the shared ``Train400`` set (gray, uint8 / 255, float64), each in one of the 8 orientations
of the square (rotations and flips, chosen at random; ``--no-augment`` turns this off), all
drawn from one ``numpy.random.default_rng(seed)``. ``--holdout N`` keeps the last N images out
of training and reports the held-out mean log-likelihood per patch (for choosing K). The EM
itself (:func:`invrestore.denoisers.fit_gmm`) is seeded with the same seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from invrestore.datasets import list_images, load_image
from invrestore.denoisers import fit_gmm


def sample_patches(images, n, p, rng, augment=True):
    """``n`` random ``p x p`` patches (rows of an (n, p*p) array) from a list of images."""
    out = np.empty((n, p * p))
    idx = rng.integers(0, len(images), size=n)
    for i in range(n):
        im = images[idx[i]]
        r = rng.integers(0, im.shape[0] - p + 1)
        c = rng.integers(0, im.shape[1] - p + 1)
        patch = im[r:r + p, c:c + p]
        if augment:
            o = rng.integers(0, 8)
            patch = np.rot90(patch, o % 4)
            if o >= 4:
                patch = patch[:, ::-1]
        out[i] = patch.ravel()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-patches", type=int, default=1_000_000)
    ap.add_argument("--components", type=int, default=200)
    ap.add_argument("--patch-size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--reg", type=float, default=1e-6)
    ap.add_argument("--holdout", type=int, default=0)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)

    t0 = time.perf_counter()
    paths = list_images("Train400")
    images = [load_image(q) for q in paths]
    train = images[:len(images) - a.holdout]
    rng = np.random.default_rng(a.seed)
    x = sample_patches(train, a.n_patches, a.patch_size, rng, augment=not a.no_augment)
    print(f"{x.shape[0]} patches from {len(train)} images", flush=True)
    gmm = fit_gmm(x, a.components, max_iter=a.max_iter, tol=a.tol, seed=a.seed,
                  reg_covar=a.reg, n_threads=a.threads, verbose=True)
    del x
    gmm.save(a.out)
    info = {"n_patches": a.n_patches, "components": a.components, "seed": a.seed,
            "n_iter": int(gmm.n_iter_), "converged": bool(gmm.converged_),
            "train_loglik": float(gmm.log_likelihood_[-1]),
            "seconds": round(time.perf_counter() - t0, 1)}
    if a.holdout:
        val = sample_patches(images[len(images) - a.holdout:], 100_000, a.patch_size,
                             np.random.default_rng(12345), augment=False)
        info["holdout_loglik"] = float(gmm.score_samples(val).mean())
    print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
