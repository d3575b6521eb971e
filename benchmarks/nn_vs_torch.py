"""DnCNN-17 on a 512 x 512 gray image: invrestore's engine against PyTorch on the CPU.

    python -m benchmarks.nn_vs_torch [--threads N] [--size 512] [--repeat 7] [--json FILE]

Both run the same weights (the published DnCNN-S sigma-25 model where the weights folder is
found, random weights otherwise) with the same number of threads (``numba.set_num_threads``
for invrestore, whose BLAS calls are single-threaded inside its parallel bands, and
``torch.set_num_threads``), in float32. After one warm-up each, the timings are interleaved
(invrestore, PyTorch NCHW, PyTorch channels-last, repeated), so that a busy machine slows all
of them alike; the table reports medians and the median of the per-round ratios. The outputs
must agree to 1e-4 (max abs difference).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def torch_dncnn(net):
    """The PyTorch ``Sequential`` (conv, ReLU, ..., conv; eval mode, CPU) computing the residual
    of an invrestore :class:`~invrestore.nn.DnCNN` with the same weights."""
    import torch

    sd = net.state_dict()
    layers = []
    for i in range(net.n_layers):
        w = torch.from_numpy(np.asarray(sd[f"conv{i}.weight"]))
        conv = torch.nn.Conv2d(w.shape[1], w.shape[0], 3, padding=1)
        conv.weight.data.copy_(w)
        conv.bias.data.copy_(torch.from_numpy(np.asarray(sd[f"conv{i}.bias"])))
        layers.append(conv)
        if i < net.n_layers - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def build(threads, size, rng=0):
    import numba
    import torch

    from invrestore.nn import DnCNN, load

    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    source = "random weights"
    net = None
    try:
        from .nn_reproduce import weights_dir

        wdir = weights_dir()
        if wdir is not None and (wdir / "dncnn/dncnn_s_sigma25.mat").is_file():
            net = load(wdir / "dncnn/dncnn_s_sigma25.mat", tile=None)
            source = "dncnn_s_sigma25.mat"
    except Exception as err:  # noqa: BLE001 - fall back to random weights, say so
        print(f"(published weights not loaded: {err})", file=sys.stderr)
    if net is None:
        net = DnCNN.random(n_layers=17, features=64, rng=rng, tile=None)
    model = torch_dncnn(net)
    gen = np.random.default_rng(rng)
    x = np.clip(gen.random((size, size)) * 0.2 + np.linspace(0.2, 0.8, size)[:, None], 0, 1)
    y = (x + 25 / 255 * gen.standard_normal(x.shape)).astype(np.float32)
    return net, model, y, source


def run(threads, size, repeat):
    import torch

    net, model, y, source = build(threads, size)
    t_nchw = torch.from_numpy(y)[None, None]
    t_cl = t_nchw.contiguous(memory_format=torch.channels_last)
    model_cl = model.to(memory_format=torch.channels_last)

    def ours():
        return net(y, 25 / 255)

    def torch_nchw():
        with torch.inference_mode():
            return (t_nchw - model(t_nchw))[0, 0].numpy()

    def torch_cl():
        with torch.inference_mode():
            return (t_cl - model_cl(t_cl))[0, 0].numpy()

    runs = {"invrestore": ours, "torch": torch_nchw, "torch_channels_last": torch_cl}
    outs = {k: f() for k, f in runs.items()}  # warm-up (compilation, allocator)
    times = {k: [] for k in runs}
    for _ in range(repeat):
        for k, f in runs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    diff = float(np.max(np.abs(outs["invrestore"] - outs["torch"])))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = [a / b for a, b in zip(times["invrestore"], times["torch"], strict=True)]
    ratios_cl = [a / b for a, b in zip(times["invrestore"], times["torch_channels_last"],
                                       strict=True)]
    return {"threads": threads, "size": size, "repeat": repeat, "weights": source,
            "median_seconds": med, "times": times,
            "ratio_median": statistics.median(ratios),
            "ratio_channels_last_median": statistics.median(ratios_cl),
            "max_abs_diff": diff, "agree_1e-4": diff <= 1e-4,
            "torch": torch.__version__, "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "loadavg_1min": os.getloadavg()[0], "date": datetime.date.today().isoformat()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json", default=str(Path(__file__).parent / "results" /
                                          "nn_vs_torch.json"))
    a = p.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("error: PyTorch is needed for this comparison", file=sys.stderr)
        return 2
    r = run(a.threads, a.size, a.repeat)
    m = r["median_seconds"]
    print(f"DnCNN-17, {a.size}x{a.size} gray, {a.threads} thread(s), {r['weights']}, "
          f"{a.repeat} interleaved rounds (load average {r['loadavg_1min']:.1f})")
    print("| engine | median time (s) |\n|---|---|")
    for k in ("invrestore", "torch", "torch_channels_last"):
        print(f"| {k} | {m[k]:.3f} |")
    print(f"time ratio invrestore / torch: {r['ratio_median']:.2f} (median of rounds; "
          f"vs channels-last torch {r['ratio_channels_last_median']:.2f})")
    print(f"max abs difference: {r['max_abs_diff']:.2e} "
          f"({'agree' if r['agree_1e-4'] else 'DISAGREE'} at 1e-4)")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=1)
    return 0 if r["agree_1e-4"] else 1


if __name__ == "__main__":
    sys.exit(main())
