"""GPU smoke check: restore()/denoise() on CuPy arrays against NumPy, and a few timings.

    python -m benchmarks.gpu_smoke        (needs CuPy and a CUDA device)

For every prior and a blur / mask / super-resolution / all-in-one model, runs the same
restoration on NumPy and on CuPy (operators moved with ``.to("cupy")``) and prints the
largest difference, then times the TV prox and one ADMM TV deblurring on the GPU.
"""

from __future__ import annotations

import time

import numpy as np

import invrestore as ir
from invrestore.backend import cupy_available, synchronize, to_device, to_numpy
from invrestore.degradations import add_gaussian_noise, gaussian_kernel
from invrestore.kernels import tv_prox
from invrestore.metrics import psnr
from invrestore.operators import Blur, Downsample, Mask


def _timed(fn, x, repeat=5):
    fn()
    synchronize(x)
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        synchronize(x)
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    if not cupy_available():
        print("CuPy or a CUDA device is missing: nothing to check")
        return 1
    from skimage import data

    x = data.camera()[::2, ::2] / 255.0
    rng = np.random.default_rng(0)
    k = gaussian_kernel(1.6, size=13)
    m = rng.random(x.shape) > 0.3
    models = {
        "blur": Blur(k, x.shape),
        "mask": Mask(m),
        "sr": Downsample(2, x.shape) @ Blur(k, x.shape),
        "all_in_one": Mask(m[::2, ::2]) @ Downsample(2, x.shape) @ Blur(k, x.shape),
    }
    worst = 0.0
    for name, H in models.items():
        y = add_gaussian_noise(H @ x, 0.01, rng=1)
        for prior in ir.PRIOR_NAMES:
            a = ir.restore(y, H, prior=prior, sigma=0.01, max_iter=20, tol=0)
            b = ir.restore(to_device(y, "cupy"), H.to("cupy"), prior=prior, sigma=0.01,
                           max_iter=20, tol=0)
            d = float(np.abs(to_numpy(b) - a).max())
            worst = max(worst, d)
            print(f"{name:11s} {prior:18s} max |cupy - numpy| = {d:.2e}  "
                  f"PSNR {psnr(np.clip(a, 0, 1), x):.2f} dB")
    print(f"worst difference {worst:.2e}")
    for n in (512, 4096):
        v = to_device(np.random.default_rng(2).random((n, n)).astype(np.float32), "cupy")
        for impl in ("cuda", "xp"):
            t = _timed(lambda v=v, impl=impl: tv_prox(v, 0.1, max_iter=100, tol=0.0, impl=impl),
                       v)
            print(f"TV prox ({impl}), 100 iterations, {n}x{n} float32 on GPU: {1e3 * t:.1f} ms")
    n = 1024
    xg = to_device(np.random.default_rng(3).random((n, n)).astype(np.float32), "cupy")
    H = Blur(gaussian_kernel(1.6, size=25), (n, n)).to("cupy")
    yg = H @ xg
    t = _timed(lambda: ir.restore(yg, H, prior="tv", sigma=0.01, max_iter=30, tol=0), yg, 3)
    print(f"restore(prior='tv'), ADMM 30 iterations, {n}x{n} float32 on GPU: {t:.2f} s")
    return 0 if worst < 1e-3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
