"""Command line of the benchmark suite: ``invrestore bench ...`` = ``python -m benchmarks ...``.

::

    invrestore bench [--tasks T ...] [--methods M ...] [--data DIR] [--out DIR] [--quick]
                     [--name NAME] [--resume] [--max-images N] [--crop N] [--no-figures]
    invrestore bench list [--data DIR]         # tasks and methods available here
    invrestore bench report JSON [--out DIR]   # Markdown report and figures from a JSON file
    invrestore bench perf [--only ...] [--max-size N] [--quick] [--out DIR]

Exit status: 0 when the run completed (skipped sets, unreadable images and failing methods
are reported, not fatal), 2 for bad arguments, 130 when interrupted (results so far kept).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

__all__ = ["build_parser", "main"]


def _split(values):
    out = []
    for v in values or []:
        out += [p for p in v.split(",") if p.strip()]
    return out


def _default_out():
    here = Path("benchmarks") / "results"
    return here if here.is_dir() else Path("invrestore-bench")


def build_parser():
    p = argparse.ArgumentParser(
        prog="invrestore bench", description="Benchmark suite: every invrestore prior and the "
        "installed peers on the standard test sets, with published numbers beside them. "
        "Subcommands: list, report JSON, perf (see 'invrestore bench perf --help').")
    p.add_argument("--tasks", nargs="+", metavar="T", help="task ids or patterns "
                   "(denoise, deblur, sr, inpaint, all_in_one, denoise:Set12, sr:*:4, Set5, "
                   "...); comma-separated or repeated. Default: all (quick: a small set)")
    p.add_argument("--methods", nargs="+", metavar="M", help="method names or groups (all, "
                   "priors, nn, peers, quick). Default: all available (quick: fast ones)")
    p.add_argument("--data", help="data folder (default $INVRESTORE_DATA, else "
                   "../shared/data)")
    p.add_argument("--out", help="output folder for JSON, Markdown and figures (default "
                   "benchmarks/results when it exists, else ./invrestore-bench)")
    p.add_argument("--quick", action="store_true", help="2 images per task, 96-pixel centre "
                   "crops, fast methods: a few minutes on 2 cores")
    p.add_argument("--name", help="file name stem (default bench, or bench-quick)")
    p.add_argument("--resume", action="store_true", help="continue the run in NAME.json, "
                   "skipping what it already holds")
    p.add_argument("--max-images", type=int, metavar="N", help="images per task")
    p.add_argument("--crop", type=int, metavar="N", help="centre-crop images to N x N")
    p.add_argument("--seed", type=int, default=0, help="added to every noise and mask seed "
                   "(default 0: the protocol's seeds); another value gives another realisation")
    p.add_argument("--threads", type=int, metavar="N", help="Numba (and PyTorch) threads; "
                   "default all cores, 1 with --quick (small crops gain nothing from more, "
                   "and a parallel region stalls whenever another process holds a core)")
    p.add_argument("--no-figures", action="store_true", help="skip the matplotlib figures")
    return p


def set_threads(n):
    """Numba and PyTorch threads for the run (PyTorch through OMP_NUM_THREADS if it is not
    imported yet); returns the number in effect."""
    import os

    import numba

    n = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)
    return n


def _data_root(arg, stream):
    from ..datasets import DATA_ENV_VAR, data_dir

    if arg:
        path = Path(arg).expanduser()
        if not path.is_dir():
            raise ValueError(f"--data {arg}: not an existing folder")
        return path.resolve()
    root = data_dir()
    if root is None:
        print(f"no data folder: pass --data or set {DATA_ENV_VAR}; every task is skipped",
              file=stream)
    return root


def write_outputs(doc, out, name, examples=None, *, figures=True, written=(), stream=None):
    """Markdown report (and figures) of a results document into ``out``; returns paths.

    ``written``: names of figures already in ``out`` (listed in the report too).
    """
    from .report import render_markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = []
    if figures:
        from .figures import example_figures, quality_vs_time

        try:
            names += quality_vs_time(doc, out / f"{name}-quality-time.png")
            names += list(written)
            if examples:
                names += example_figures(examples, doc, out, name)
        except Exception as exc:  # noqa: BLE001 (a figure must never cost the results)
            print(f"figures not written: {type(exc).__name__}: {exc}", file=stream)
    md = out / f"{name}.md"
    md.write_text(render_markdown(doc, figures=names))
    return [md] + [out / n for n in names]


def _cmd_list(argv, stream):
    p = argparse.ArgumentParser(prog="invrestore bench list")
    p.add_argument("--data")
    a = p.parse_args(argv)
    from .methods import select_methods
    from .tasks import all_tasks

    root = _data_root(a.data, stream)
    print("tasks:", file=stream)
    for t in all_tasks():
        print(f"  {t.id:<28s} {t.label}", file=stream)
    methods, _ = select_methods(data_root=root)
    print("methods available here:", file=stream)
    for m in methods:
        print(f"  {m.name:<20s} {m.kind:<14s} {m.description}", file=stream)
    return 0


def _cmd_report(argv, stream):
    p = argparse.ArgumentParser(prog="invrestore bench report")
    p.add_argument("json")
    p.add_argument("--out", help="folder (default: that of the JSON file)")
    p.add_argument("--no-figures", action="store_true")
    a = p.parse_args(argv)
    path = Path(a.json)
    doc = json.loads(path.read_text())
    paths = write_outputs(doc, a.out or path.parent, path.stem, figures=not a.no_figures,
                          stream=stream)
    print("wrote " + ", ".join(str(q) for q in paths), file=stream)
    return 0


def _cmd_run(argv, stream):
    from .methods import select_methods
    from .runner import run
    from .tasks import select_tasks

    a = build_parser().parse_args(argv)
    for opt in ("max_images", "crop", "threads"):
        v = getattr(a, opt)
        if v is not None and v < 1:
            raise ValueError(f"--{opt.replace('_', '-')} must be >= 1, got {v}")
    root = _data_root(a.data, stream)
    threads = a.threads if a.threads is not None else (1 if a.quick else None)
    if threads is not None:
        threads = set_threads(threads)
    tasks = select_tasks(_split(a.tasks), quick=a.quick)
    methods, missing = select_methods(_split(a.methods), quick=a.quick, data_root=root)
    for n in missing:
        print(f"method {n}: not available here (package or weights missing), skipped",
              file=stream)
    name = a.name or ("bench-quick" if a.quick else "bench")
    out = Path(a.out) if a.out else _default_out()
    out.mkdir(parents=True, exist_ok=True)
    examples = {} if not a.no_figures else None
    written = []

    def task_done(task_id, doc):
        ex = examples.pop(task_id, None) if examples is not None else None
        if ex:
            from .figures import example_figures

            try:
                written.extend(example_figures({task_id: ex}, doc, out, name))
            except Exception as exc:  # noqa: BLE001 (a figure must never cost the results)
                print(f"figure of {task_id} not written: {exc}", file=stream)

    t0 = time.perf_counter()
    cmd = "invrestore bench " + " ".join(shlex.quote(x) for x in argv)
    doc, status = None, 0
    try:
        doc = run(tasks, methods, data_root=root, json_path=out / f"{name}.json",
                  quick=a.quick, resume=a.resume, max_images=a.max_images, crop=a.crop,
                  seed=a.seed,
                  meta={"command": cmd.strip(), "unavailable": missing, "threads": threads},
                  stream=stream, examples=examples, on_task_done=task_done)
    except KeyboardInterrupt:
        print("interrupted: results so far are kept", file=stream)
        status = 130
        doc = json.loads((out / f"{name}.json").read_text())
    paths = write_outputs(doc, out, name, examples, figures=not a.no_figures, written=written,
                          stream=stream)
    n_rec = len(doc["records"])
    n_err = sum("error" in r for r in doc["records"])
    print(f"done in {time.perf_counter() - t0:.1f} s: {n_rec} results ({n_err} errors), "
          f"{len(doc['skipped'])} skipped; wrote {out / (name + '.json')}, "
          + ", ".join(str(q) for q in paths), file=stream)
    for s in doc.get("summary", []):
        if "delta" in s:
            print(f"  {s['task']:<24s} {s['method']:<10s} {s['psnr']:.2f} dB, published "
                  f"{s['published_method']} {s['published']:.2f} ({s['delta']:+.2f})",
                  file=stream)
    return status


def main(argv=None, stream=None):
    """Entry point of ``invrestore bench`` and ``python -m benchmarks``; returns the status."""
    stream = stream or sys.stdout
    argv = list(sys.argv[1:] if argv is None else argv)
    sub = argv[0] if argv else None
    try:
        if sub == "perf":
            from .perf import main as perf_main

            return perf_main(argv[1:], stream=stream)
        if sub == "list":
            return _cmd_list(argv[1:], stream)
        if sub == "report":
            return _cmd_report(argv[1:], stream)
        return _cmd_run(argv, stream)
    except SystemExit as exc:  # argparse: --help or a usage error
        return exc.code if isinstance(exc.code, int) else 0
    except (ValueError, OSError) as exc:
        print(f"invrestore bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("invrestore bench: interrupted", file=sys.stderr)
        return 130
