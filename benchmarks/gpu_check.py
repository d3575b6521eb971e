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
   their largest output difference. PyTorch runs twice: with its defaults (cuDNN may use TF32
   tensor cores for float32 convolutions) and in strict float32 (``allow_tf32 = False``), the
   arithmetic invrestore's engine does. The engine's convolution paths are timed one by one
   (cuBLAS, the tensor-core kernel in 3xTF32 and in TF32), with the chunk size of the cuBLAS
   path swept; the rows of the table are the library's default choice (``_conv_tc.MODE``
   "auto": the faster path per layer shape, after a check).
5. ``tv_prox``: exactly 100 FGP iterations on a 4096x4096 float32 image, the fused CUDA kernel
   against the array-code version on the GPU and the Numba kernel on the CPU; every pass
   (``_tv_cuda.VARIANTS``) and strip height is timed, and the row's time is the library's
   default (``"auto"``: the faster of the strip passes, chosen on the first call).

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


def _best(fn, sync=None, repeat=3, warm=True):
    """Best wall time of ``fn()`` after one warm-up (compilation, caches, allocator)."""
    if warm:
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


def run_gpu_tests(workers=0):
    """``pytest -m gpu``: ``{"passed", "failed", "skipped", "returncode", "summary"}``."""
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "-rfE"]
    if workers:
        cmd += ["-n", str(workers)]  # pytest-xdist
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in out.stdout.strip().splitlines() if ln.strip()]
    bad = [ln[:300] for ln in lines if ln.startswith(("FAILED", "ERROR"))]
    if out.returncode not in (0, 5):
        print(out.stdout[-20000:], out.stderr[-3000:], sep="\n", flush=True)
    summary = lines[-1] if lines else out.stderr.strip()[-300:]
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|skipped|error)", summary)}
    return {"passed": counts.get("passed", 0), "failed": counts.get("failed", 0)
            + counts.get("error", 0), "skipped": counts.get("skipped", 0),
            "returncode": out.returncode, "summary": summary, "not_passed": bad[:50]}


def prior_rows(sizes, gpu, cpu_cap, gpu_cap=20.0, rows=None, save=None):
    """One row per prior and size; appended to ``rows`` (``save()`` after each)."""
    import invrestore as ir
    from invrestore.backend import synchronize, to_device

    rows = [] if rows is None else rows
    for prior in ir.available_priors():
        if prior == "pnp":
            continue
        cpu_prev = gpu_prev = None
        for n in sorted(sizes):
            _, y = _image(n)
            row = {"prior": prior, "size": n, "cpu_s": None, "gpu_s": None}
            guess = None if cpu_prev is None else cpu_prev[1] * (n / cpu_prev[0]) ** 2
            if guess is None or guess <= cpu_cap:
                # compiled at the first size: one timed run at the larger ones
                row["cpu_s"] = _best(lambda y=y, p=prior: ir.denoise(y, SIGMA, method=p),
                                     repeat=1 if cpu_prev else 3, warm=cpu_prev is None)
                cpu_prev = (n, row["cpu_s"])
            gguess = None if gpu_prev is None else gpu_prev[1] * (n / gpu_prev[0]) ** 2
            if gpu and (gguess is None or gguess <= gpu_cap):
                yg = to_device(y, "cupy")
                try:
                    row["gpu_s"] = _best(lambda yg=yg, p=prior: ir.denoise(yg, SIGMA, method=p),
                                         lambda yg=yg: synchronize(yg),
                                         repeat=3 if gguess is None or gguess < 1 else 1)
                    gpu_prev = (n, row["gpu_s"])
                except Exception as err:  # noqa: BLE001 - a prior without a GPU path: say so
                    row["gpu_error"] = f"{type(err).__name__}: {err}"[:200]
            rows.append(row)
            print(_fmt_row(row), flush=True)
            if save is not None:
                save()
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


def cnn_row(n, gpu, chunks=(None, 1 << 16, 1 << 18)):
    """DnCNN-17 on ``n x n``: invrestore on CuPy against PyTorch on CUDA (same weights), in
    float32 and with TF32 tensor cores allowed (PyTorch's default for cuDNN convolutions)."""
    from invrestore.backend import synchronize, to_device, to_numpy
    from invrestore.nn import _flat_cuda, tf32

    from .nn_vs_torch import build, torch_dncnn

    row = {"task": f"DnCNN-17 inference {n}x{n}", "size": n, "gpu_s": None,
           "gpu_tf32_s": None, "torch_cuda_s": None, "torch_cuda_fp32_s": None}
    if not gpu:
        return row
    import numba

    from invrestore.nn import _conv_tc

    net, _, y, row["weights"] = build(numba.get_num_threads(), n)
    gnet, yg = net.to("cupy"), to_device(y, "cupy")

    def best():
        return _best(lambda: gnet(yg, SIGMA), lambda: synchronize(yg), repeat=5)

    default, mode = _flat_cuda.CHUNK_PIXELS, _conv_tc.MODE
    sweep, paths, outputs = {}, {}, {}
    try:
        _conv_tc.MODE = "cublas"
        for c in chunks:
            _flat_cuda.CHUNK_PIXELS = c
            sweep[str(c)] = best()
        _flat_cuda.CHUNK_PIXELS = default
        for name, m, allow in (("cuBLAS float32", "cublas", False),
                               ("tensor cores 3xTF32", "tensor_core", False),
                               ("cuBLAS TF32", "cublas", True),
                               ("tensor cores TF32", "tensor_core", True)):
            _conv_tc.MODE = m
            with tf32(allow):
                try:
                    paths[name] = best()
                    outputs[name] = to_numpy(gnet(yg, SIGMA))
                except Exception as exc:  # noqa: BLE001  (recorded, the run goes on)
                    paths[name] = None
                    print(f"  {name}: failed ({exc})", flush=True)
    finally:
        _flat_cuda.CHUNK_PIXELS, _conv_tc.MODE = default, mode
    row["chunk_sweep_s"] = sweep
    row["chunk_pixels"] = default
    row["path_s"] = paths
    row["gpu_s"] = best()
    ours = to_numpy(gnet(yg, SIGMA))
    with tf32():
        row["gpu_tf32_s"] = best()
        ours_tf32 = to_numpy(gnet(yg, SIGMA))
    # which path the default ("auto") chose per layer shape: (split, ci, co, ...) -> tensor cores
    row["auto_choice"] = {str(k[1:]): v for k, v in _conv_tc._chosen.items()}
    row["auto_checked"] = {str(k[1]): v for k, v in _conv_tc._checked.items()}
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

    torch.backends.cudnn.benchmark = True
    allow = torch.backends.cudnn.allow_tf32
    row["torch_cudnn_allow_tf32_default"] = bool(allow)
    try:
        row["torch_cuda_s"] = _best(run_torch, torch.cuda.synchronize, repeat=5)
        theirs_default = run_torch()[0, 0].cpu().numpy()
        torch.backends.cudnn.allow_tf32 = False
        row["torch_cuda_fp32_s"] = _best(run_torch, torch.cuda.synchronize, repeat=5)
        theirs = run_torch()[0, 0].cpu().numpy()
    finally:
        torch.backends.cudnn.allow_tf32 = allow
    row["max_abs_diff"] = float(np.abs(ours - theirs).max())
    row["max_abs_diff_tf32"] = float(np.abs(ours_tf32 - theirs_default).max())
    row["max_abs_diff_tf32_vs_fp32"] = float(np.abs(ours_tf32 - theirs).max())
    row["path_max_abs_diff_to_torch_fp32"] = {k: float(np.abs(v - theirs).max())
                                              for k, v in outputs.items()}
    print(_fmt_row(row), flush=True)
    print(f"  with TF32: invrestore {_ms(row['gpu_tf32_s'])} ms, PyTorch defaults "
          f"{_ms(row['torch_cuda_s'])} ms: {row['gpu_tf32_s'] / row['torch_cuda_s']:.2f}x; "
          f"max |diff| float32 {row['max_abs_diff']:.1e}, TF32 {row['max_abs_diff_tf32']:.1e}",
          flush=True)
    print("  chunk sweep (pixels: ms): "
          + ", ".join(f"{k}: {_ms(v)}" for k, v in sweep.items()), flush=True)
    print("  paths (ms; max |diff| to PyTorch float32): " + ", ".join(
        f"{k}: {_ms(v)} ({row['path_max_abs_diff_to_torch_fp32'].get(k, float('nan')):.1e})"
        for k, v in paths.items()), flush=True)
    print(f"  auto choice: {row['auto_choice']}; checks: {row['auto_checked']}", flush=True)
    return row


def tv_row(n, gpu, iters=100):
    """``tv_prox`` with exactly ``iters`` iterations on ``n x n`` float32 (tol=0)."""
    from invrestore.backend import synchronize, to_device
    from invrestore.kernels import _tv_cuda
    from invrestore.kernels.tv import tv_prox

    _, y = _image(n)
    row = {"task": f"tv_prox, {iters} iterations, {n}x{n}", "size": n, "iters": iters,
           "cpu_s": _best(lambda: tv_prox(y, 0.1, max_iter=iters, tol=0), repeat=1),
           "gpu_s": None, "gpu_xp_s": None}
    if gpu:
        yg = to_device(y, "cupy")
        default = _tv_cuda.DEFAULT_VARIANT
        sweep = {}
        try:
            for variant in _tv_cuda.VARIANTS:
                _tv_cuda.DEFAULT_VARIANT = variant
                sweep[variant] = _best(
                    lambda: tv_prox(yg, 0.1, max_iter=iters, tol=0, impl="cuda"),
                    lambda: synchronize(yg), repeat=5)
            # the strip passes' rows per thread (set through the target thread count)
            target = _tv_cuda.STRIP_TARGET_THREADS
            try:
                for variant in ("strip", "stripv", "strip2"):
                    _tv_cuda.DEFAULT_VARIANT = variant
                    for t in (1 << 18, 1 << 20):
                        _tv_cuda.STRIP_TARGET_THREADS = t
                        rows = (_tv_cuda.stripv_rows(n, n, 4) if variant == "stripv"
                                else _tv_cuda.strip_rows(n, n))
                        sweep[f"{variant}, {rows} rows"] = _best(
                            lambda: tv_prox(yg, 0.1, max_iter=iters, tol=0, impl="cuda"),
                            lambda: synchronize(yg), repeat=5)
            finally:
                _tv_cuda.STRIP_TARGET_THREADS = target
        finally:
            _tv_cuda.DEFAULT_VARIANT = default
        row["strip_rows"] = _tv_cuda.strip_rows(n, n)
        row["stripv_rows"] = _tv_cuda.stripv_rows(n, n, 4)
        row["variant_s"] = sweep
        row["gpu_s"] = _best(lambda: tv_prox(yg, 0.1, max_iter=iters, tol=0, impl="cuda"),
                             lambda: synchronize(yg), repeat=5)
        # the pass the default ran ("auto": the one it chose for this shape, and its rows)
        chosen = [v for k, v in _tv_cuda._auto_chosen.items() if k[2:5] == (1, n, n)]
        row["variant"] = default
        if default == "auto" and chosen:
            name, target = chosen[0]
            rows = (_tv_cuda.stripv_rows(n, n, 4, target) if name == "stripv"
                    else _tv_cuda.strip_rows(n, n, target))
            row["variant"] = f"{name}, {rows} rows"
        row["variant_default"] = default
        # whether the vector pass matched the strip pass on this device (auto's check)
        row["vector_check"] = {str(k[1]): v for k, v in _tv_cuda._vector_ok.items()}
        row["gpu_xp_s"] = _best(lambda: tv_prox(yg, 0.1, max_iter=iters, tol=0, impl="xp"),
                                lambda: synchronize(yg), repeat=2)
        print("  TV passes (ms): " + ", ".join(f"{k}: {_ms(v)}" for k, v in sweep.items())
              + f"; vector pass check: {row['vector_check']}", flush=True)
    print(_fmt_row(row) + (f"  (array code on the GPU: {_ms(row['gpu_xp_s'])} ms)"
                           if row["gpu_xp_s"] else ""), flush=True)
    return row


def _ms(t):
    return "-" if t is None else f"{1e3 * t:.1f}"


def _fmt_row(r):
    name = r.get("prior") or r.get("task")
    ratio = ""
    if r.get("cpu_s") and r.get("gpu_s"):
        ratio = f"  CPU/GPU {r['cpu_s'] / r['gpu_s']:.1f}x"
    if r.get("torch_cuda_s") and r.get("gpu_s"):
        ratio = (f"  torch {_ms(r['torch_cuda_s'])} ms (strict fp32 "
                 f"{_ms(r.get('torch_cuda_fp32_s'))} ms)  invrestore/torch "
                 f"{r['gpu_s'] / r['torch_cuda_s']:.2f}x")
        if r.get("torch_cuda_fp32_s"):
            ratio += f" (strict fp32 {r['gpu_s'] / r['torch_cuda_fp32_s']:.2f}x)"
    return (f"{name:45s} {r['size']:>5d}  CPU {_ms(r.get('cpu_s')):>9s} ms  "
            f"GPU {_ms(r.get('gpu_s')):>9s} ms{ratio}{'  ' + r['gpu_error'] if 'gpu_error' in r else ''}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    p.add_argument("--pnp-size", type=int, default=1024)
    p.add_argument("--cnn-size", type=int, default=1024)
    p.add_argument("--tv-size", type=int, default=4096)
    p.add_argument("--only", nargs="+", choices=["priors", "pnp", "cnn", "tv"],
                   help="run these parts only (default: all)")
    p.add_argument("--cpu-cap", type=float, default=20.0,
                   help="skip CPU runs expected to take longer (seconds)")
    p.add_argument("--gpu-cap", type=float, default=10.0,
                   help="skip GPU runs expected to take longer (seconds)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--test-workers", type=int, default=0,
                   help="run the gpu tests in this many processes (pytest-xdist)")
    p.add_argument("--tv-variant", default=None, help="the CUDA TV pass for the whole run "
                   "(one of invrestore.kernels._tv_cuda.VARIANTS, or auto; default: the "
                   "library's)")
    p.add_argument("--quick", action="store_true", help="64x64 everywhere (checks the script)")
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if min(a.sizes + [a.pnp_size, a.cnn_size, a.tv_size]) < 16:
        p.error("sizes must be >= 16")
    if not (a.cpu_cap > 0 and a.gpu_cap > 0):  # also refuses nan
        p.error("--cpu-cap and --gpu-cap must be positive")
    if a.test_workers < 0:
        p.error("--test-workers must be >= 0")
    from invrestore.kernels import _tv_cuda

    if a.tv_variant is not None:
        if a.tv_variant not in _tv_cuda.VARIANTS + ("auto",):
            p.error(f"--tv-variant must be one of {_tv_cuda.VARIANTS + ('auto',)}")
        _tv_cuda.DEFAULT_VARIANT = a.tv_variant
    if a.quick:
        a.sizes, a.pnp_size, a.cnn_size, a.tv_size = [64], 64, 64, 64
    device = _device_name()
    gpu = device is not None
    print(f"GPU: {device or 'none (CuPy or a CUDA device missing): CPU columns only'}")
    record = {"date": datetime.date.today().isoformat(), "gpu": device,
              "cpu": platform.processor() or platform.machine(), "sigma": SIGMA,
              "cpu_cap_s": a.cpu_cap, "gpu_cap_s": a.gpu_cap,
              "tv_variant": _tv_cuda.DEFAULT_VARIANT}
    parts = set(a.only or ["priors", "pnp", "cnn", "tv"])

    def save():  # after every part, so that a run cut short keeps what it measured
        if a.json:
            Path(a.json).parent.mkdir(parents=True, exist_ok=True)
            Path(a.json).write_text(json.dumps(record, indent=1) + "\n")

    if not a.skip_tests:
        record["tests"] = run_gpu_tests(a.test_workers)
        print(f"gpu tests: {record['tests']['summary']}", flush=True)
        save()
    steps = [("tv", lambda: tv_row(a.tv_size, gpu)), ("cnn", lambda: cnn_row(a.cnn_size, gpu)),
             ("pnp", lambda: pnp_row(a.pnp_size, gpu)),
             ("priors", lambda: prior_rows(a.sizes, gpu, a.cpu_cap, a.gpu_cap,
                                           rows=record.setdefault("priors", []), save=save))]
    for name, step in steps:
        if name in parts:
            t0 = time.perf_counter()
            record[name] = step()
            print(f"[{name}: {time.perf_counter() - t0:.0f} s]", flush=True)
            save()
    failed = record.get("tests", {}).get("failed", 0)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
