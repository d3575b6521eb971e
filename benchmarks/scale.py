"""Scale-out: tiled vs whole-image results, peak memory of a tiled run, batch throughput.

    python -m benchmarks.scale [--parts tiles,memory,batch] [--size 2048] [--big 8192]
                               [--methods tv,nlm,learned] [--json benchmarks/results/scale.json]

1. ``tiles``: a ``size x size`` float32 natural image (a mosaic of scikit-image's 512x512
   camera, moon, brick, grass, gravel and gray astronaut, every other one mirrored) plus
   Gaussian noise of std 25/255 (seed 0); for each method, ``invrestore.denoise`` on the whole
   image and :func:`invrestore.scale.denoise_tiled` (tile 512, default overlap): wall times and
   the largest absolute difference. "learned" is the shipped network when one is installed;
   "dncnn17_random" a 17-layer DnCNN with random weights (same architecture, same tiling).
2. ``memory``: :func:`~invrestore.scale.denoise_tiled` of a ``big x big`` float32 image (the
   same mosaic repeated) with TV in a fresh subprocess, which reports its peak resident memory
   (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), its time, and the estimate printed before
   the run (:func:`~invrestore.scale.estimate_memory`).
3. ``batch``: :func:`~invrestore.scale.restore_many` of the 68 BSD68 images (noisy copies,
   std 25/255, seed 0, written as 8-bit PNG first) with NLM at sigma 25/255, on a
   ``distributed.LocalCluster`` (processes, one thread each, loopback) of 1 and of 2 workers:
   images per second and the speed-up. The machine's load average is recorded with it: on a
   shared machine the speed-up says as much about the neighbours as about the code.

Results go to ``--json`` (default ``benchmarks/results/scale.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "scale.json"
SIGMA = 25 / 255


def mosaic(n):
    """``n x n`` float32 mosaic of 512x512 scikit-image test images (no "Lena")."""
    from skimage import data

    imgs = [data.camera(), data.moon(), data.brick(), data.grass(), data.gravel(),
            data.astronaut().mean(axis=-1).astype(np.uint8)]
    k = n // 512 + 1
    rows = []
    for i in range(k):
        row = []
        for j in range(k):
            im = imgs[(i * k + j) % len(imgs)]
            row.append(im[:, ::-1] if (i + j) % 2 else im)
        rows.append(np.concatenate(row, axis=1))
    return (np.concatenate(rows, axis=0)[:n, :n] / 255.0).astype(np.float32)


def _method(name):
    if name == "learned":
        from invrestore.nn import load_shipped

        return load_shipped("gray")
    if name == "dncnn17_random":  # the tiling of a 17-layer DnCNN, when no weights are shipped
        from invrestore.nn import DnCNN

        return DnCNN.random(n_layers=17, features=64, rng=0)
    return name


def part_tiles(size, methods):
    from invrestore import denoise
    from invrestore.scale import default_overlap, denoise_tiled

    x = mosaic(size)
    y = (x + SIGMA * np.random.default_rng(0).standard_normal(x.shape)).astype(np.float32)
    out = []
    for name in methods:
        try:
            method = _method(name)
        except (ImportError, FileNotFoundError, AttributeError) as exc:
            out.append({"method": name, "skipped": f"{type(exc).__name__}: {exc}"})
            print(f"{name}: skipped ({exc})", flush=True)
            continue
        from invrestore import get_prior

        overlap = default_overlap(get_prior(method), sigma=SIGMA)
        t0 = time.perf_counter()
        whole = denoise(y, SIGMA, method=method)
        t1 = time.perf_counter()
        tiled = denoise_tiled(y, SIGMA, method=method, tile=512)
        t2 = time.perf_counter()
        diff = float(np.abs(tiled.astype(np.float64) - whole).max())
        row = {"method": name, "size": size, "tile": 512, "overlap": overlap,
               "max_abs_diff": diff, "whole_s": round(t1 - t0, 2), "tiled_s": round(t2 - t1, 2)}
        out.append(row)
        print(row, flush=True)
    return out


_CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from benchmarks.scale import mosaic, SIGMA
from invrestore.scale import denoise_tiled, estimate_memory
import numba
n = {big}
x = np.tile(mosaic(2048), (n // 2048, n // 2048))
rng = np.random.default_rng(0)
for r in range(0, n, 512):  # in blocks: the input's own creation must not set the peak
    x[r:r + 512] += SIGMA * rng.standard_normal((min(512, n - r), n), dtype=np.float32)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
est = estimate_memory(x.shape, dtype=x.dtype, tile=512, overlap=64, method="tv",
                      workers=numba.get_num_threads())
t0 = time.perf_counter()
out = denoise_tiled(x, SIGMA, method="tv", tile=512)
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"size": n, "dtype": str(x.dtype), "peak_rss_gb": peak / 2 ** 20,
                  "rss_before_run_gb": base / 2 ** 20, "estimate_gb": est.total / 2 ** 30,
                  "estimate": str(est), "seconds": round(dt, 1),
                  "finite": bool(np.isfinite(out).all())}}))
"""


def part_memory(big):
    code = _CHILD.format(root=str(Path(__file__).resolve().parents[1]), big=big)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    print(row, flush=True)
    return row


def _noisy_bsd68(folder):
    from invrestore.datasets import list_images
    from invrestore.io import imread, imwrite

    src = list_images("BSD68")
    rng = np.random.default_rng(0)
    for p in src:
        x = np.asarray(imread(p), dtype=np.float64)
        imwrite(Path(folder) / Path(p).name,
                np.clip(x + SIGMA * rng.standard_normal(x.shape), 0, 1))
    return len(src)


def _cpu_seconds():
    t = os.times()
    return t.user + t.system


def part_batch(method="nlm"):
    from distributed import Client, LocalCluster

    from invrestore.scale import restore_many

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        n = _noisy_bsd68(tmp)
        for workers in (1, 2):
            load = os.getloadavg()[0]
            with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                              host="127.0.0.1", dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                # warm-up: Numba loads its cached kernels once per worker process
                restore_many(sorted(Path(tmp).glob("*.png"))[:workers],
                             Path(tmp) / f"warm{workers}", method=method, sigma=SIGMA,
                             client=client)
                cpu0 = client.run(_cpu_seconds)
                rep = restore_many(tmp, Path(tmp) / f"out{workers}", method=method,
                                   sigma=SIGMA, client=client)
                cpu1 = client.run(_cpu_seconds)
            cpu = sum(cpu1[k] - cpu0[k] for k in cpu1)
            row = {"workers": workers, "images": n, "done": len(rep.done),
                   "failed": len(rep.failed), "seconds": round(rep.seconds, 2),
                   "images_per_s": round(rep.throughput, 3),
                   # CPU seconds the workers got per wall second: 2 workers on 2 free cores
                   # get ~2; less means the machine's other processes took the cores
                   "worker_cpu_s": round(cpu, 2),
                   "cores_obtained": round(cpu / rep.seconds, 2) if rep.seconds else None,
                   "load_avg_1min_before": load}
            rows.append(row)
            print(row, flush=True)
    speedup = rows[1]["images_per_s"] / rows[0]["images_per_s"] if rows[0]["images_per_s"] \
        else None
    return {"method": method, "sigma": SIGMA, "runs": rows,
            "speedup_2_vs_1": None if speedup is None else round(speedup, 2)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="tiles,memory,batch")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--big", type=int, default=8192)
    p.add_argument("--methods", default="tv,nlm,learned,dncnn17_random")
    p.add_argument("--batch-method", default="nlm")
    p.add_argument("--json", default=str(RESULTS))
    a = p.parse_args(argv)
    parts = a.parts.split(",")
    path = Path(a.json)
    res = json.loads(path.read_text()) if path.exists() else {}
    res["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                      "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")}
    if "tiles" in parts:
        res["tiles"] = part_tiles(a.size, a.methods.split(","))
    if "memory" in parts:
        res["memory"] = part_memory(a.big)
    if "batch" in parts:
        res["batch"] = part_batch(a.batch_method)
    from invrestore.io import write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, json.dumps(res, indent=1) + "\n", force=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
