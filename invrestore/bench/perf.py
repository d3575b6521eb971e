"""Performance micro-benchmarks: each prints a ratio measured within one run.

    invrestore bench perf [--only tv,nlm,nn,solve,scaling] [--max-size 4096] [--quick]
                          [--time-cap S] [--threads N] [--out DIR]

==========  ===================================================================================
part        what
==========  ===================================================================================
tv          TV prox (Numba FGP) vs scikit-image ``denoise_tv_chambolle`` at equal objective
            (``benchmarks/tv_prox.py``), and vs deepinv's ``TVDenoiser`` when installed
nlm         NLM vs scikit-image ``denoise_nl_means`` (``benchmarks/nlm_vs_skimage.py``)
nn          CNN inference vs PyTorch (``benchmarks/nn_vs_torch.py``)
solve       exact ``solve_normal`` vs conjugate gradient (``benchmarks/solve_normal.py``)
scaling     time per pixel and peak memory of every available prior's denoiser from 256 x 256
            up to ``--max-size`` (a size is skipped when the previous one, scaled by the pixel
            count, would exceed ``--time-cap`` seconds or half the free memory)
==========  ===================================================================================

The scripts under ``benchmarks/`` are found next to the source tree (a source checkout);
where one is absent its part says so and the others still run. Results go to
``<out>/perf.json`` (``perf-quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["PARTS", "main", "scaling"]

PARTS = ("tv", "nlm", "nn", "solve", "scaling")


def _repo_root():
    """The source checkout holding ``benchmarks/``, or None."""
    for cand in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (cand / "benchmarks" / "__init__.py").is_file():
            return cand
    return None


def _bench_module(name):
    root = _repo_root()
    if root is None or not (root / "benchmarks" / f"{name}.py").is_file():
        return None
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return importlib.import_module(f"benchmarks.{name}")


def _say(stream, msg):
    print(msg, file=stream, flush=True)


def part_tv(quick, stream):
    tv = _bench_module("tv_prox")
    if tv is None:
        _say(stream, "tv: skipped, benchmarks/tv_prox.py not found (needs a source checkout)")
        return None
    from ..kernels import tv_prox

    imgs = tv.images()
    if quick:
        imgs = dict(list(imgs.items())[:1])
    weights = (0.1,) if quick else (0.05, 0.1, 0.2)
    repeat = 3 if quick else 7
    tv_prox(next(iter(imgs.values())), 0.1, max_iter=3, tol=1e-3)  # compile / load
    rows = []
    for name, v in imgs.items():
        for w in weights:
            r = tv.run_case(v, w, repeat)
            r["image"] = name
            rows.append(r)
            _say(stream, f"tv prox {name} w={w}: scikit-image {1e3 * r['skimage_s']:.1f} ms, "
                 f"invrestore {1e3 * r['ours_s']:.2f} ms ({r['ours_iter']} iterations, same "
                 f"objective): ratio {r['speedup']:.1f}x")
    out = {"skimage": rows}
    dv = _tv_vs_deepinv(imgs, weights, repeat, stream)
    if dv is not None:
        out["deepinv"] = dv
    return out


def _tv_vs_deepinv(imgs, weights, repeat, stream):
    try:
        import deepinv
        import torch
    except ImportError:
        _say(stream, "tv prox vs deepinv: skipped, deepinv not installed")
        return None
    from ..kernels import tv_objective, tv_prox

    rows = []
    for name, v in imgs.items():
        for w in weights:
            try:
                den = deepinv.models.TVDenoiser()
                t = torch.from_numpy(v.astype(np.float32))[None, None]
                best, xd = np.inf, None
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    with torch.no_grad():
                        xd = den(t, w)
                    best = min(best, time.perf_counter() - t0)
                xd = xd[0, 0].numpy().astype(np.float64)
                o_d = tv_objective(xd, v.astype(np.float64), w)
                n = 1
                while tv_objective(tv_prox(v, w, max_iter=n, tol=0.0).astype(np.float64),
                                   v.astype(np.float64), w) > o_d and n < 2000:
                    n += 1
                ws = {}
                ours = min(_timed(lambda v=v, w=w, n=n, ws=ws: tv_prox(
                    v, w, max_iter=n, tol=0.0, workspace=ws)) for _ in range(repeat))
            except Exception as exc:  # noqa: BLE001 (a peer's API change must not stop the rest)
                _say(stream, f"tv prox vs deepinv: failed ({type(exc).__name__}: {exc})")
                return None
            rows.append({"image": name, "weight": w, "deepinv_s": best, "ours_s": ours,
                         "ours_iter": n, "speedup": best / ours})
            _say(stream, f"tv prox {name} w={w}: deepinv {1e3 * best:.1f} ms, invrestore "
                 f"{1e3 * ours:.2f} ms: ratio {best / ours:.1f}x")
    return rows


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _script(name, options, out_json, stream):
    """Run ``python -m benchmarks.<name>`` (output streamed); its JSON if it wrote one.

    ``options``: ``{flag: value}`` passed only where the script's source mentions the flag
    (these scripts belong to their authors; their options are not assumed).
    """
    root = _repo_root()
    if root is None or not (root / "benchmarks" / f"{name}.py").is_file():
        _say(stream, f"{name}: skipped, benchmarks/{name}.py not found")
        return None
    src = (root / "benchmarks" / f"{name}.py").read_text(errors="replace")
    cmd = [sys.executable, "-m", f"benchmarks.{name}"]
    for flag, value in {**options, "--json": str(out_json)}.items():
        if flag in src:
            cmd += [flag, value]
    _say(stream, f"{name}: {' '.join(cmd[1:])}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1, env=env) as proc:
        for line in proc.stdout:  # streamed: these scripts can take minutes
            _say(stream, f"  {line.rstrip()}")
    if proc.returncode != 0:
        _say(stream, f"{name}: exited with status {proc.returncode}")
    if out_json.is_file():
        try:
            return json.loads(out_json.read_text())
        except ValueError:
            return None
    return {"returncode": proc.returncode}


def part_solve(quick, stream):
    sn = _bench_module("solve_normal")
    if sn is None:
        _say(stream, "solve: skipped, benchmarks/solve_normal.py not found")
        return None
    size, rho, tol = (256 if quick else 512), 1e-2, 1e-8
    rows = sn.run(size, rho, tol, repeat=2 if quick else 3)
    for r in rows:
        _say(stream, f"solve_normal {r['operator']}: exact {1e3 * r['exact_s']:.2f} ms, CG "
             f"{1e3 * r['cg_s']:.1f} ms ({r['cg_iterations']} iterations): ratio "
             f"{r['speedup']:.0f}x")
    return {"size": size, "rho": rho, "tol": tol, "rows": rows}


def _available_memory():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _test_image(n):
    from skimage import data

    from ..degradations import add_gaussian_noise, imresize

    x = data.camera().astype(np.float64) / 255.0
    x = np.clip(imresize(x, output_shape=(n, n)), 0, 1) if n != x.shape[0] else x
    return x, add_gaussian_noise(x, 25 / 255, rng=0)


def scaling(priors=None, *, sizes=(256, 512, 1024, 2048, 4096), max_size=4096, time_cap=60.0,
            stream=None):
    """Time per pixel and peak memory of ``denoise(y, 25/255, method=prior)`` vs image size.

    Each size runs twice: once with allocation tracing for the peak memory (the larger of
    the tracemalloc peak and the resident-set increase), once untraced for the time.
    """
    import invrestore as ir

    from .measure import measure

    stream = stream or sys.stdout
    priors = list(priors or ir.available_priors())
    sizes = [n for n in sizes if n <= max_size]
    images = {}
    rows = []
    for prior in priors:
        try:
            ir.denoise(_test_image(64)[1], 25 / 255, method=prior)  # compile, load
        except Exception as exc:  # noqa: BLE001 (report and go on with the next prior)
            _say(stream, f"scaling {prior}: failed on 64x64 ({type(exc).__name__}: {exc})")
            continue
        prev = None
        for n in sizes:
            if prev is not None:
                grow = (n / prev["size"]) ** 2
                avail = _available_memory()
                why = None
                if prev["seconds"] * grow > time_cap:
                    why = f"projected {prev['seconds'] * grow:.0f} s > cap {time_cap:g} s"
                elif avail is not None and prev["peak_mb"] * grow * 2**20 > avail / 2:
                    why = f"projected {prev['peak_mb'] * grow:.0f} MB > half the free memory"
                if why:
                    rows.append({"prior": prior, "size": n, "skipped": why})
                    _say(stream, f"scaling {prior} {n}x{n}: skipped, {why}")
                    break
            if n not in images:
                images[n] = _test_image(n)
            y = images[n][1]

            def call(y=y, prior=prior):
                return ir.denoise(y, 25 / 255, method=prior)
            # memory from a traced run, time from a second, untraced one
            _, first_s, peak, _ = measure(call, trace=True)
            if first_s * 0.5 > time_cap:
                seconds, cpu = first_s, None  # do not double a run that is over the cap
            else:
                _, seconds, rss, cpu = measure(call)
                peak = max(peak, rss)
            prev = {"prior": prior, "size": n, "seconds": seconds, "cpu_s": cpu,
                    "ns_per_pixel": 1e9 * seconds / n**2, "peak_mb": peak,
                    "mb_per_mpixel": peak / (n**2 / 1e6)}
            rows.append(prev)
            _say(stream, f"scaling {prior:<18s} {n:5d}x{n:<5d} {seconds:9.3f} s "
                 f"{prev['ns_per_pixel']:10.1f} ns/pixel  peak {peak:8.1f} MB "
                 f"({prev['mb_per_mpixel']:.1f} MB/Mpixel)")
    return rows


def build_parser():
    p = argparse.ArgumentParser(prog="invrestore bench perf", description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", metavar="PART", help=f"parts to run: {', '.join(PARTS)} "
                   "(comma-separated or repeated; default all)")
    p.add_argument("--max-size", type=int, default=4096, help="largest side of the scaling "
                   "curve (default 4096)")
    p.add_argument("--time-cap", type=float, help="seconds a scaling point may take "
                   "(default 60, quick 5)")
    p.add_argument("--priors", nargs="+", help="priors of the scaling curve (default: all "
                   "available)")
    p.add_argument("--quick", action="store_true", help="fewer repeats, one image, sizes up "
                   "to 512")
    p.add_argument("--threads", type=int, help="Numba/PyTorch threads (default all)")
    p.add_argument("--out", help="output folder (default benchmarks/results or "
                   "./invrestore-bench)")
    return p


def main(argv=None, stream=None):
    from .cli import _default_out, _split, set_threads
    from .runner import machine_info

    stream = stream or sys.stdout
    a = build_parser().parse_args(argv)
    parts = _split(a.only) or list(PARTS)
    bad = [p for p in parts if p not in PARTS]
    if bad:
        raise ValueError(f"--only {', '.join(bad)}: unknown part; choose from {', '.join(PARTS)}")
    if a.threads is not None:
        set_threads(a.threads)
    out = Path(a.out) if a.out else _default_out()
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("perf-quick.json" if a.quick else "perf.json")
    doc = {"machine": machine_info(), "quick": a.quick,
           "started": datetime.datetime.now().isoformat(timespec="seconds")}

    def save():
        doc["updated"] = datetime.datetime.now().isoformat(timespec="seconds")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(path)

    if "tv" in parts:
        doc["tv"] = part_tv(a.quick, stream)
        save()
    if "nlm" in parts:
        doc["nlm"] = _script("nlm_vs_skimage", {"--repeats": "3"} if a.quick else {},
                             out / "perf-nlm.json", stream)
        save()
    if "nn" in parts:
        doc["nn"] = _script("nn_vs_torch", {"--repeat": "3"} if a.quick else {},
                            out / "perf-nn.json", stream)
        save()
    if "solve" in parts:
        doc["solve_normal"] = part_solve(a.quick, stream)
        save()
    if "scaling" in parts:
        cap = a.time_cap if a.time_cap is not None else (5.0 if a.quick else 60.0)
        max_size = min(a.max_size, 512) if a.quick else a.max_size
        doc["scaling"] = {"sigma": 25 / 255, "time_cap_s": cap, "max_size": max_size,
                          "rows": scaling(_split(a.priors) or None, max_size=max_size,
                                          time_cap=cap, stream=stream)}
        save()
    save()
    _say(stream, f"wrote {path}")
    return 0
