"""Regenerate the README's results section from the benchmarks (never edit it by hand).

    python -m benchmarks.update_readme [--readme README.md] [--json results/foundation.json]
                                       [--no-run] [--bench-json FILE] [--perf-json FILE]

Runs the bicubic super-resolution baseline (Set5, Set14; skipped with a note when the data is
missing) and the exact-vs-CG ``solve_normal`` comparison, stores the numbers as JSON, and
rewrites the text between ``<!-- results:start -->`` and ``<!-- results:end -->``.
With ``--no-run`` nothing is measured: the section is rebuilt from the JSON files alone
(``--json``). The benchmark suite's results (``invrestore bench``, default
``benchmarks/results/bench.json``) and the perf scaling curve (``invrestore bench perf``,
``benchmarks/results/perf.json``) are added when those files exist.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np

from invrestore.datasets import data_dir, list_images, read_image

from . import bicubic_sr, set12_defaults, solve_normal, solver_overhead, tv_prox

START, END = "<!-- results:start -->", "<!-- results:end -->"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"NumPy {np.__version__}")


def bicubic_rows():
    rows = []
    if data_dir() is None:
        return rows
    for set_name, refs in bicubic_sr.REFERENCE.items():
        try:
            images = [read_image(p) for p in list_images(set_name)]
        except FileNotFoundError:
            continue
        for s, ref in refs.items():
            mean = float(np.mean([bicubic_sr.bicubic_sr_psnr(hr, s) for hr in images]))
            rows.append({"set": set_name, "scale": s, "psnr": mean, "reference": ref})
    return rows


def tv_prox_rows():
    from skimage.restoration import denoise_tv_chambolle  # noqa: F401 (peer must be there)

    imgs = tv_prox.images()
    tv_prox.tv_prox(next(iter(imgs.values())), 0.1, max_iter=3, tol=1e-3)  # compile / load
    rows = []
    for name, v in imgs.items():
        for w in (0.05, 0.1, 0.2):
            r = tv_prox.run_case(v, w, 7)
            r["image"] = name
            rows.append(r)
    return rows


def render_bench(doc, path) -> list:
    """The benchmark-suite tables (PSNR only) from an ``invrestore bench`` JSON file."""
    from invrestore.bench.references import SOURCES
    from invrestore.bench.report import render_sections

    m = doc.get("machine", {})
    sections, notes = render_sections(doc, compact=True, heading="####")
    if not sections:
        return []
    about = (f"From `{path}`, run {doc.get('started', '?')} to {doc.get('updated', '?')}"
             f"{'' if doc.get('finished') else ' (not finished)'} on {m.get('cpu', '?')}, "
             f"{m.get('cores', '?')} cores ({m.get('numba_threads', '?')} Numba threads). "
             "Mean PSNR (dB); seconds per image are timings on that machine, shared with "
             "other work: read them as ratios between rows. Published numbers in italics; the "
             "full report (SSIM, memory, methods, skipped files) is the Markdown file beside "
             "the JSON.")
    out = [f"### Benchmark suite (`{doc.get('command') or 'invrestore bench'}`)", "", about]
    if doc.get("quick"):
        out += ["", "Quick mode (crops of a few images): not comparable with published numbers."]
    out += sections
    if notes:
        out += ["Published numbers: " + "; ".join(SOURCES[k] for k in notes) + ".", ""]
    return out


def render_perf(doc, path) -> list:
    """Scaling curve of every prior's denoiser from an ``invrestore bench perf`` JSON file."""
    rows = (doc.get("scaling") or {}).get("rows") or []
    if not rows:
        return []
    sizes = sorted({r["size"] for r in rows})
    m = doc.get("machine", {})
    about = (f"From `{path}` ({doc.get('updated', '?')}, {m.get('cpu', '?')}, "
             f"{m.get('numba_threads', '?')} Numba threads): `denoise(y, 25/255, method=...)` "
             "on the camera image resized to n x n; nanoseconds per pixel and peak memory (MB, "
             "tracemalloc or resident-set increase, whichever is larger); '-' where the "
             "projected time exceeded the cap.")
    out = ["### Denoiser scaling (`invrestore bench perf --only scaling`)", "", about, "",
           "| prior | " + " | ".join(f"{n}^2" for n in sizes) + " |",
           "|---|" + "---|" * len(sizes)]
    for prior in dict.fromkeys(r["prior"] for r in rows):
        cells = []
        for n in sizes:
            r = next((r for r in rows if r["prior"] == prior and r["size"] == n), None)
            cells.append("-" if r is None or "skipped" in r else
                         f"{r['ns_per_pixel']:.0f} ns, {r['peak_mb']:.0f} MB")
        out.append(f"| {prior} | " + " | ".join(cells) + " |")
    return out + [""]


def render_auto_lam(doc, path) -> list:
    out = [f"**Automatic weights** (`python -m benchmarks.auto_lam`, from `{path}`): "
           "`lam=\"auto\"` with sigma estimated, against the best weight found on a "
           "sqrt(2)-spaced grid with the ground truth (same prior, same estimated sigma). "
           "Denoising: the calibrated step; Levin deblurring (noise 2.55/255): GCV for TV (a "
           "variational prior with sigma estimated), projected SURE for the plug-and-play "
           "priors. "
           "Mean PSNR (dB); `images`: how many (every k-th image or Levin case where the "
           "prior is slow).", "",
           "| prior | task | images | auto | oracle | gap | NaN |", "|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        n = f"{r['n']}" + (f" (every {r['every']})" if r.get("every", 1) > 1 else "")
        out.append(f"| {r['prior']} | {r['task']} | {n} | {r['auto']:.2f} | "
                   f"{r['oracle']:.2f} | {r['gap']:+.2f} | {r['nan']} |")
    return out


def render_gpu(doc, path, priors=True) -> list:
    """The GPU tables of ``benchmarks.gpu_check`` (nothing when it ran without a GPU);
    ``priors=False``: the task table only (a second GPU)."""
    if not doc.get("gpu"):
        return []

    def ms(t):
        return "-" if t is None else f"{1e3 * t:.1f}"

    out = [f"**GPU** (`python -m benchmarks.gpu_check`, from `{path}`, {doc['date']}): "
           f"{doc['gpu']} against the CPU of the same machine ({doc['cpu']}). Denoising by each prior "
           f"(`invrestore.denoise`, sigma 25/255, float32, best of 3 after a warm-up; one timed "
           f"run where a run takes seconds); `-`: not run (a run expected over "
           f"{doc.get('cpu_cap_s', 20):g} s on the CPU or {doc.get('gpu_cap_s', 20):g} s on the "
           f"GPU) or failed."]
    if not priors:
        out = [f"**Second GPU** (`python -m benchmarks.gpu_check`, from `{path}`, "
               f"{doc['date']}): {doc['gpu']}, the tasks only."]
    if doc.get("tests"):
        out[-1] += f" `gpu` tests: {doc['tests']['summary']}."
    if doc.get("notes"):
        out[-1] += f" {doc['notes']}"
    if priors:
        out += ["", "| prior | size | CPU (ms) | GPU (ms) | CPU / GPU |", "|---|---|---|---|---|"]
    for r in (doc.get("priors") or []) if priors else []:
        ratio = (f"{r['cpu_s'] / r['gpu_s']:.1f}x" if r.get("cpu_s") and r.get("gpu_s")
                 else "-")
        out.append(f"| {r['prior']} | {r['size']} | {ms(r.get('cpu_s'))} | "
                   f"{ms(r.get('gpu_s'))} | {ratio} |")
    out += ["", "| task | CPU (ms) | GPU (ms) | CPU / GPU | PyTorch CUDA (ms) | "
            "invrestore / PyTorch |", "|---|---|---|---|---|---|"]
    rows = [doc.get("tv"), doc.get("pnp")]
    cnn = doc.get("cnn") or {}
    if cnn:
        rows.append({"task": cnn["task"] + ", float32", "gpu_s": cnn.get("gpu_s"),
                     "torch_s": cnn.get("torch_cuda_fp32_s")})
        if cnn.get("gpu_tf32_s"):
            rows.append({"task": cnn["task"] + ", TF32 (`invrestore.nn.tf32()`; PyTorch's "
                         "defaults)", "gpu_s": cnn.get("gpu_tf32_s"),
                         "torch_s": cnn.get("torch_cuda_s")})
    for r in rows:
        if not r:
            continue
        vs = (f"{r['gpu_s'] / r['torch_s']:.2f}x" if r.get("gpu_s") and r.get("torch_s")
              else "-")
        ratio = (f"{r['cpu_s'] / r['gpu_s']:.1f}x" if r.get("cpu_s") and r.get("gpu_s")
                 else "-")
        out.append(f"| {r['task']} | {ms(r.get('cpu_s'))} | {ms(r.get('gpu_s'))} | {ratio} | "
                   f"{ms(r.get('torch_s'))} | {vs} |")
    tv = doc.get("tv") or {}
    notes = []
    if tv.get("variant_s"):
        notes.append("TV passes (ms, 100 iterations): " + ", ".join(
            f"{k}{' (used)' if k == tv.get('variant') else ''} {ms(v)}"
            for k, v in tv["variant_s"].items())
            + (f"; the array code: {ms(tv['gpu_xp_s'])}" if tv.get("gpu_xp_s") else "")
            + (f"; the default (\"auto\", timed on the first call) ran {tv['variant']}"
               if tv.get("variant_default") == "auto" else "") + ".")
    if cnn.get("torch_cuda_s"):
        notes.append(
            f"CNN: PyTorch's defaults let cuDNN use TF32 tensor cores for float32 convolutions "
            f"(`torch.backends.cudnn.allow_tf32` was {cnn.get('torch_cudnn_allow_tf32_default')}"
            f"); the float32 row runs PyTorch with `allow_tf32 = False`. Largest output "
            f"difference to PyTorch: {cnn.get('max_abs_diff', float('nan')):.1e} in float32, "
            f"{cnn.get('max_abs_diff_tf32', float('nan')):.1e} with TF32 (weights: "
            f"{cnn.get('weights')}).")
    if cnn.get("path_s"):
        diffs = cnn.get("path_max_abs_diff_to_torch_fp32") or {}
        notes.append(
            "CNN convolution paths, each forced for the whole network (ms; largest output "
            "difference to PyTorch in float32): " + ", ".join(
                f"{k} {ms(v)}" + (f" ({diffs[k]:.1e})" if k in diffs else "")
                for k, v in cnn["path_s"].items())
            + "; the rows above are the default, which times the kernel against cuBLAS once "
              "per layer shape and keeps the faster.")
    if notes:
        out += [""] + [" ".join(notes)]
    return out


def _table(intro, columns, rows) -> list:
    """A README section: an intro paragraph, then a table with ``columns`` and ``rows``."""
    return [intro, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(map(str, r)) + " |" for r in rows), ""]


def render(results) -> str:
    out = [f"Machine: {results['machine']}; generated {results['date']}.", ""]
    if results["bicubic"]:
        out += _table(
            "**Bicubic super-resolution baseline** (`python -m benchmarks.bicubic_sr`): "
            "MATLAB-style bicubic down- and up-scaling, Y-channel PSNR (dB), `scale` pixels "
            "shaved; reference values from the literature (VDSR, CVPR 2016).",
            ["set", "scale", "invrestore", "published", "difference"],
            [(r["set"], f"x{r['scale']}", f"{r['psnr']:.2f}", f"{r['reference']:.2f}",
              f"{r['psnr'] - r['reference']:+.3f}") for r in results["bicubic"]])
    else:
        out += ["(Bicubic baseline skipped: test data not found.)", ""]
    if results.get("set12"):
        rows = []
        for r in results["set12"]:
            bar = (set12_defaults.TV_DENOISE_REFERENCE.get(r.get("sigma"))
                   if r["task"] == "denoise" else set12_defaults.TV_INPAINT_80_REFERENCE)
            rows.append((r["task"] + (f", sigma {r['sigma']}/255" if "sigma" in r else ""),
                         r["prior"], f"{r['psnr']:.2f}",
                         f"{bar:.2f}" if r["prior"] == "tv" else "-",
                         f"{r['seconds_per_image']:.2f}"))
        out += _table(
            "**Set12 with default parameters** (`python -m benchmarks.set12_defaults`): "
            "denoising protocol of ../shared/data/README.md; inpainting with 80% of the "
            "pixels missing at random, no noise, `restore(y, Mask(m), prior=..., "
            "sigma=0)`. Defaults were calibrated on Train400, never on Set12. The bar is "
            "the oracle-tuned scikit-image TV on the same protocol.",
            ["task", "prior", "Set12 PSNR (dB)", "bar", "seconds / image"], rows)
    if results.get("tv_prox"):
        out += _table(
            "**TV prox vs scikit-image** (`python -m benchmarks.tv_prox`): 512x512 float32, "
            "noise 0.1; `denoise_tv_chambolle(v, weight=w)` with its default stopping, "
            "then our prox run for the fewest iterations that reach an objective "
            "`1/2 |x - v|^2 + w TV(x)` at least as low; best of 7, the two solvers' calls "
            "interleaved (one after the other, so neither runs with its data still in the "
            "caches from its own previous call). Last column: our calls back to back "
            "instead (buffers in the caches, output memory recycled), which shows the cost "
            "of a cold call.",
            ["image", "w", "scikit-image (ms)", "invrestore (ms)", "speed-up",
             "our iterations", "invrestore back to back (ms)"],
            [(r["image"], f"{r['weight']:.2f}", f"{1e3 * r['skimage_s']:.1f}",
              f"{1e3 * r['ours_s']:.2f}", f"{r['speedup']:.1f}x", r["ours_iter"],
              "-" if r.get("ours_back_to_back_s") is None
              else f"{1e3 * r['ours_back_to_back_s']:.2f}") for r in results["tv_prox"]])
    if results.get("tv_dual_storage"):
        out += _table(
            "**TV prox, dual updated in place or not** (`python -m benchmarks.tv_prox`): "
            "gray float32 (camera tiled, noise 0.1, w = 0.1), ms per iteration, 30 "
            "iterations, best of 5, interleaved. In place, the new dual overwrites the "
            "previous one (two buffers instead of three): the default for images of 2 MiB "
            "and more, where the buffers no longer fit in the caches.",
            ["size", "in place (ms/it)", "out of place (ms/it)", "speed-up", "default"],
            [(f"{r['size']}x{r['size']}", f"{r['inplace_ms_per_iter']:.3f}",
              f"{r['outofplace_ms_per_iter']:.3f}", f"{r['ratio']:.2f}x",
              "in place" if r["default_inplace"] else "out of place")
             for r in results["tv_dual_storage"]])
    if results.get("solver_overhead"):
        out += _table(
            "**Solver overhead** (`python -m benchmarks.solver_overhead`): one iteration "
            "on 512x512 (Gaussian blur, TV prox with 20 inner iterations), the wall time of "
            "`run()` per iteration, against the sum of its parts timed alone (FISTA: "
            "gradient + prox; ADMM: data prox + prior prox; called in turn, as the solver "
            "does); medians over 7 rounds, and the worst round's ratio.",
            ["solver", "iteration (ms)", "parts (ms)", "ratio", "worst round"],
            [(r["solver"], f"{1e3 * r['iteration_s']:.1f}", f"{1e3 * r['parts_s']:.1f}",
              f"{r['ratio']:.2f}x", f"{r['ratio_max']:.2f}x")
             for r in results["solver_overhead"]])
    sn = results["solve_normal"]
    out += _table(
        f"**Exact x-steps vs conjugate gradient** (`python -m benchmarks.solve_normal`): "
        f"`(H^T H + rho I) x = b` on {sn['size']}x{sn['size']} float64, rho = {sn['rho']:g}, "
        f"CG from zero to relative residual {sn['tol']:g}; best of a few runs.",
        ["operator", "exact (ms)", "CG (ms)", "CG iterations", "speed-up",
         "relative difference"],
        [(r["operator"], f"{1e3 * r['exact_s']:.2f}", f"{1e3 * r['cg_s']:.0f}",
          r["cg_iterations"], f"{r['speedup']:.0f}x", f"{r['rel_diff']:.1e}")
         for r in sn["rows"]])[:-1]
    for key, fn in (("bench", render_bench), ("perf", render_perf),
                    ("auto_lam", render_auto_lam), ("gpu", render_gpu),
                    ("gpu2", lambda doc, path: render_gpu(doc, path, priors=False))):
        if results.get(key):
            part = fn(results[key], results[f"{key}_path"])
            if part:
                out += [""] + part
    return "\n".join(out).rstrip()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--readme", default="README.md")
    p.add_argument("--json", default="benchmarks/results/foundation.json")
    p.add_argument("--no-run", action="store_true", help="measure nothing: rebuild the section "
                   "from --json (and the bench/perf JSON files)")
    p.add_argument("--bench-json", default="benchmarks/results/bench.json",
                   help="invrestore bench results to include when the file exists")
    p.add_argument("--perf-json", default="benchmarks/results/perf.json",
                   help="invrestore bench perf results to include when the file exists")
    p.add_argument("--auto-json", default="benchmarks/results/auto_lam.json",
                   help="benchmarks.auto_lam results to include when the file exists")
    p.add_argument("--gpu-json", default="benchmarks/results/gpu.json",
                   help="benchmarks.gpu_check results to include when the file exists")
    p.add_argument("--gpu2-json", default="benchmarks/results/gpu_h100.json",
                   help="benchmarks.gpu_check results of a second GPU (task table only)")
    a = p.parse_args(argv)
    if a.no_run:
        results = json.loads(Path(a.json).read_text())
    else:
        results = measure_all()
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(results, indent=1))
    for key, path in (("bench", a.bench_json), ("perf", a.perf_json),
                      ("auto_lam", a.auto_json), ("gpu", a.gpu_json), ("gpu2", a.gpu2_json)):
        if path and Path(path).is_file():
            results[key] = json.loads(Path(path).read_text())
            results[f"{key}_path"] = path
    readme = Path(a.readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} ... {END} section to fill")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{render(results)}\n{END}{tail}")
    print(f"wrote {readme}" + ("" if a.no_run else f" and {a.json}"))


def measure_all():
    size, rho, tol = 512, 1e-2, 1e-8
    return {
        "machine": machine(),
        "date": datetime.date.today().isoformat(),
        "bicubic": bicubic_rows(),
        "solve_normal": {"size": size, "rho": rho, "tol": tol,
                         "rows": solve_normal.run(size, rho, tol)},
        "tv_prox": tv_prox_rows(),
        "tv_dual_storage": tv_prox.dual_storage_check((512, 1024, 2048)),
        "solver_overhead": solver_overhead.run(),
        "set12": set12_defaults.run(("tv", "wavelet")) if data_dir() is not None else [],
    }


if __name__ == "__main__":
    main()
