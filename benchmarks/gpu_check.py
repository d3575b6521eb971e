"""The GPU check: the ``gpu`` tests, then CPU against GPU times of the priors, plug-and-play
deblurring and CNN inference, in one run.

    python -m benchmarks.gpu_check [--json benchmarks/results/gpu.json] [--sizes 512 4096]
                                   [--skip-tests] [--quick]

1. ``pytest -m gpu`` (unless ``--skip-tests``): every parity test on CuPy against NumPy.
2. Every available prior as a denoiser (``invrestore.denoise``, sigma 25/255, float32) on a
   ``n x n`` image for each ``--sizes``: best time on NumPy (CPU) and on CuPy (GPU), and their
   ratio. CPU runs that would take over ``--cpu-cap`` seconds (extrapolated from the smaller
   size) are not run.
3. ``restore(prior="learned")`` on a 1024x1024 Gaussian deblurring (circular, std 1.6, noise
   2.55/255) with the calibrated weight (``lam=None``: the DPIR schedule, 8 HQS iterations).
4. DnCNN-17 inference on 1024x1024 (the published sigma-25 weights where found, random
   otherwise): invrestore's engine on CuPy against PyTorch on CUDA with the same weights, and
   their largest output difference.

Without CuPy or a CUDA device the GPU columns stay empty (the test suite runs the script that
way with ``--quick``). Needs nothing beyond NumPy, SciPy, Numba, scikit-image, PyWavelets and
CuPy; PyTorch only for step 4. ``python -m benchmarks.update_readme --no-run`` renders the JSON
as the README's GPU table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIGMA = 25 / 255


def _device_name():
    from invrestore.backend import cupy_available

    if not cupy_available():
        return None
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def _best(fn, sync=None, repeat=3):
    """Best wall time of ``fn()`` after one warm-up (compilation, caches, allocator)."""
    fn()
    if sync is not None:
        sync()
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        best = min(best, time.perf_counter() - t0)
    return float(best)


def _image(n, seed=0):
    from skimage import data, transform

    x = transform.resize(data.camera() / 255.0, (n, n), anti_aliasing=n < 512, order=1)
    rng = np.random.default_rng(seed)
    return x.astype(np.float32), (x + SIGMA * rng.standard_normal(x.shape)).astype(np.float32)


def run_gpu_tests():
    """``pytest -m gpu``: ``{"passed", "failed", "skipped", "returncode", "summary"}``."""
    out = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p",
                          "no:cacheprovider"], capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.strip()]
    summary = lines[-1] if lines else out.stderr.strip()[-300:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)}
    return {"passed": counts.get("passed", 0), "failed": counts.get("failed", 0)
            + counts.get("error", 0), "skipped": counts.get("skipped", 0),
            "returncode": out.returncode, "summary": summary}


def prior_rows(sizes, gpu, cpu_cap):
    import invrestore as ir
    from invrestore.backend import synchronize, to_device

    rows = []
    for prior in ir.available_priors():
        if prior == "pnp":
            continue
        cpu_prev = None
        for n in sorted(sizes):
            _, y = _image(n)
            row = {"prior": prior, "size": n, "cpu_s": None, "gpu_s": None}
            guess = None if cpu_prev is None else cpu_prev[1] * (n / cpu_prev[0]) ** 2
            if guess is None or guess <= cpu_cap:
                row["cpu_s"] = _best(lambda y=y, p=prior: ir.denoise(y, SIGMA, method=p))
                cpu_prev = (n, row["cpu_s"])
            if gpu:
                yg = to_device(y, "cupy")
                try:
                    row["gpu_s"] = _best(lambda yg=yg, p=prior: ir.denoise(yg, SIGMA, method=p),
                                         lambda yg=yg: synchronize(yg))
                except Exception as err:  # noqa: BLE001 - a prior without a GPU path: say so
                    row["gpu_error"] = f"{type(err).__name__}: {err}"[:200]
            rows.append(row)
            print(_fmt_row(row), flush=True)
    return rows


def pnp_row(n, gpu):
    import invrestore as ir
    from invrestore.backend import synchronize, to_device
    from invrestore.degradations import add_gaussian_noise, gaussian_kernel
    from invrestore.operators import Blur

    x, _ = _image(n)
    H = Blur(gaussian_kernel(1.6, size=25), (n, n))
    sigma = 2.55 / 255
    y = add_gaussian_noise(H @ x, sigma, rng=1).astype(np.float32)
    row = {"task": f"restore(prior='learned'), deblurring {n}x{n}", "size": n,
           "cpu_s": _best(lambda: ir.restore(y, H, prior="learned", sigma=sigma, lam=None),
                          repeat=1),
           "gpu_s": None}
    if gpu:
        yg, Hg = to_device(y, "cupy"), H.to("cupy")
        row["gpu_s"] = _best(lambda: ir.restore(yg, Hg, prior="learned", sigma=sigma, lam=None),
                             lambda: synchronize(yg))
    print(_fmt_row(row), flush=True)
    return row


def cnn_row(n, gpu):
    """DnCNN-17 on ``n x n``: invrestore on CuPy against PyTorch on CUDA (same weights)."""
    from invrestore.backend import synchronize, to_device, to_numpy

    from .nn_vs_torch import build, torch_dncnn

    row = {"task": f"DnCNN-17 inference {n}x{n}", "size": n, "gpu_s": None,
           "torch_cuda_s": None}
    if not gpu:
        return row
    import numba

    net, _, y, row["weights"] = build(numba.get_num_threads(), n)
    gnet, yg = net.to("cupy"), to_device(y, "cupy")
    row["gpu_s"] = _best(lambda: gnet(yg, SIGMA), lambda: synchronize(yg), repeat=5)
    try:
        import torch
    except ImportError:
        return row
    if not torch.cuda.is_available():
        return row
    model = torch_dncnn(net).cuda()
    t = torch.from_numpy(y)[None, None].cuda()

    def run_torch():
        with torch.inference_mode():
            return t - model(t)

    row["torch_cuda_s"] = _best(run_torch, torch.cuda.synchronize, repeat=5)
    row["max_abs_diff"] = float(np.abs(to_numpy(gnet(yg, SIGMA))
                                       - run_torch()[0, 0].cpu().numpy()).max())
    print(_fmt_row(row), flush=True)
    return row


def _ms(t):
    return "-" if t is None else f"{1e3 * t:.1f}"


def _fmt_row(r):
    name = r.get("prior") or r.get("task")
    ratio = ""
    if r.get("cpu_s") and r.get("gpu_s"):
        ratio = f"  CPU/GPU {r['cpu_s'] / r['gpu_s']:.1f}x"
    if r.get("torch_cuda_s") and r.get("gpu_s"):
        ratio = f"  invrestore/torch {r['gpu_s'] / r['torch_cuda_s']:.2f}x"
    return (f"{name:45s} {r['size']:>5d}  CPU {_ms(r.get('cpu_s')):>9s} ms  "
            f"GPU {_ms(r.get('gpu_s')):>9s} ms{ratio}{'  ' + r['gpu_error'] if 'gpu_error' in r else ''}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    p.add_argument("--pnp-size", type=int, default=1024)
    p.add_argument("--cnn-size", type=int, default=1024)
    p.add_argument("--cpu-cap", type=float, default=60.0,
                   help="skip CPU runs expected to take longer (seconds)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--quick", action="store_true", help="64x64 everywhere (checks the script)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if min(a.sizes + [a.pnp_size, a.cnn_size]) < 16 or a.cpu_cap <= 0:
        p.error("sizes must be >= 16 and --cpu-cap positive")
    if a.quick:
        a.sizes, a.pnp_size, a.cnn_size = [64], 64, 64
    device = _device_name()
    gpu = device is not None
    print(f"GPU: {device or 'none (CuPy or a CUDA device missing): CPU columns only'}")
    record = {"date": datetime.date.today().isoformat(), "gpu": device,
              "cpu": platform.processor() or platform.machine(), "sigma": SIGMA}
    if not a.skip_tests:
        record["tests"] = run_gpu_tests()
        print(f"gpu tests: {record['tests']['summary']}", flush=True)
    record["priors"] = prior_rows(a.sizes, gpu, a.cpu_cap)
    record["pnp"] = pnp_row(a.pnp_size, gpu)
    record["cnn"] = cnn_row(a.cnn_size, gpu)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(record, indent=1) + "\n")
    failed = record.get("tests", {}).get("failed", 0)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
