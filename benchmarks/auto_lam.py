"""Automatic weights against the oracle weight: ``lam="auto"`` with sigma estimated, versus the
best weight on a grid searched with the ground truth.

    python -m benchmarks.auto_lam [--priors tv nlm gmm learned] [--tasks denoise levin]
                                  [--every N] [--json FILE]

Tasks (protocols of ``shared/data/README.md``):

* ``denoise``: Set12 at sigma 15 / 25 / 50 (noise seeded by the image index, not clipped);
  ``denoise(y, method=prior)`` with sigma estimated and ``lam="auto"``.
* ``levin``: the 4 Levin images x 8 kernels, circular blur, noise 2.55/255 (seed 0);
  ``restore(y, H, prior=prior)`` with sigma estimated and ``lam="auto"``.

Oracle: the same call with sigma estimated and ``lam = lam_default * sqrt(2)**k``, walking on
``k`` from 0 in the direction of increasing PSNR (measured against the ground truth) until it
drops; the best PSNR found. ``--every N`` keeps every N-th image (or Levin case) to bound
the time of the slow priors. PSNR of the clipped output, data range 1, no shave. Prints a
table of mean auto PSNR, mean oracle PSNR and their gap, and counts non-finite outputs.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from invrestore import denoise, restore
from invrestore.api import _default_lam, get_prior
from invrestore.estimation import estimate_sigma
from invrestore.metrics import psnr

STEP = math.sqrt(2.0)


def _cases(task, root, every):
    from invrestore.bench.tasks import list_set, load_case, select_tasks

    if task == "levin":
        t = select_tasks(["deblur_levin:Levin09:2.55"])[0]
        cases = []
        for i, p in enumerate(list_set(root, "Levin09")):
            cases += load_case(t, root, i, p)
        return [("levin 2.55", c) for c in cases[::every]]
    out = []
    for s in (15, 25, 50):
        t = select_tasks([f"denoise:Set12:{s}"])[0]
        paths = list_set(root, "Set12")
        out += [(f"Set12 sigma {s}", load_case(t, root, i, p)[0])
                for i, p in enumerate(paths)][::every]
    return out


def _run(prior, case, lam):
    if case.H is None:
        return denoise(case.y, method=prior, lam=lam)
    return restore(case.y, case.H, prior=prior, lam=lam)


def _score(case, x):
    x = np.asarray(x)
    if not np.isfinite(x).all():
        return float("nan")
    return psnr(case.x, np.clip(x, 0, 1))


def _oracle(prior, case, lam0):
    vals = {}

    def f(k):
        if k not in vals:
            vals[k] = _score(case, _run(prior, case, lam0 * STEP ** k))
        return vals[k]

    k = 0
    direction = 1 if f(1) > f(0) else -1
    if direction < 0 and not f(-1) > f(0):
        return f(0)
    k = direction
    while f(k + direction) > f(k) and abs(k) < 16:
        k += direction
    return max(vals.values())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--priors", nargs="+", default=["tv", "nlm", "gmm", "learned"])
    p.add_argument("--tasks", nargs="+", default=["denoise", "levin"])
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--data", default=None)
    p.add_argument("--json", help="results file (rows of other priors and tasks are kept)")
    args = p.parse_args(argv)
    from invrestore.datasets import data_dir

    root = Path(args.data) if args.data else data_dir(required=True)
    rows = []
    for prior_name in args.priors:
        prior = get_prior(prior_name)  # built once: shipped weights and tables load once
        for task in args.tasks:
            groups = {}
            t0 = time.time()
            for label, case in _cases(task, root, args.every):
                sigma_hat = estimate_sigma(case.y)
                auto = _score(case, _run(prior, case, "auto"))
                if case.H is None:
                    lam0 = prior.denoise_step(sigma_hat)
                else:
                    lam0 = _default_lam(prior, sigma_hat)
                oracle = _oracle(prior, case, lam0)
                g = groups.setdefault(label, {"auto": [], "oracle": []})
                g["auto"].append(auto)
                g["oracle"].append(oracle)
            for label, g in groups.items():
                a, o = np.array(g["auto"]), np.array(g["oracle"])
                row = {"prior": prior_name, "task": label, "n": len(a), "every": args.every,
                       "auto": float(np.nanmean(a)), "oracle": float(np.nanmean(o)),
                       "gap": float(np.nanmean(o) - np.nanmean(a)),
                       "nan": int(np.isnan(a).sum()),
                       "seconds": round(time.time() - t0, 1)}
                rows.append(row)
                print(f"{prior_name:8s} {label:16s} n={row['n']:2d}  auto {row['auto']:.2f}  "
                      f"oracle {row['oracle']:.2f}  gap {row['gap']:+.2f}  NaN {row['nan']}  "
                      f"({row['seconds']:.0f} s)", flush=True)
    if args.json:
        # merge: rows of other priors/tasks already in the file are kept
        path = Path(args.json)
        old = json.loads(path.read_text())["rows"] if path.is_file() else []
        # a rerun replaces its rows where they were, so the rendered table keeps its order
        new = {(r["prior"], r["task"]): r for r in rows}
        merged = [new.pop((r["prior"], r["task"]), r) for r in old] + list(new.values())
        path.write_text(json.dumps({"rows": merged}, indent=1))
    return rows


if __name__ == "__main__":
    main()
