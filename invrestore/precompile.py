"""Compile the Numba kernels of some priors ahead of their first use, in another process.

A fresh install compiles each Numba kernel on its first call (TV ~11 s, NLM ~9 s, the CNN
engine ~2 s on one core) and caches it on disk (``cache=True``), so later processes load it in
well under a second. Compilation runs on one core; on a machine with more, the kernels that a
program will need later can be compiled by a second process meanwhile, and the first process
then loads them from the cache instead of compiling them itself. ``invrestore demo`` does this
for every prior after its first one: its first run after a fresh install took 55 s without and
40 s with it on 2 cores.

    python -m invrestore.precompile nlm learned --dtype float64 float32
    invrestore precompile            # every prior, both dtypes, one process per core


Examples
--------
>>> from invrestore.precompile import finish, start
>>> job = start(["nlm"])                   # None where it cannot help (one core, no cache)
>>> # ... other work ...
>>> finish(job)                            # before the first use of an NLM prior
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["compile_all", "compile_priors", "finish", "kernel_family", "start"]

#: Side of the image the kernels are compiled on (NLM needs its search window inside it).
_SIDE = 48

#: Priors that run the same kernels as another (compiling one compiles the other).
_SAME_KERNELS = {"tv_aniso": "tv"}


def kernel_family(prior):
    """The name under which ``prior`` shares its compiled kernels (``"tv_aniso"`` -> ``"tv"``)."""
    return _SAME_KERNELS.get(prior, prior)


def _check(priors, dtypes):
    """Prior names and dtypes, validated here rather than in a child whose error is lost."""
    from . import PRIOR_NAMES

    if isinstance(priors, str):
        priors = [priors]
    priors = [str(p).strip().lower() for p in priors]
    unknown = [p for p in priors if p not in PRIOR_NAMES]
    if unknown:
        raise ValueError(f"priors: unknown prior(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(PRIOR_NAMES)}")
    out = []
    for d in dtypes:
        try:
            dt = np.dtype(d)
        except TypeError as err:
            raise TypeError(f"dtype must be float32 or float64, got {d!r}") from err
        if dt not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {dt}")
        out.append(str(dt))
    return priors, out


def compile_priors(priors, dtype="float64"):
    """Compile (or load from the cache) the kernels of ``priors`` for images of ``dtype``.

    Runs :func:`invrestore.denoise` once per prior on a small gray image of that dtype, so
    every kernel the prior's denoising step uses is compiled for that dtype.
    """
    from . import denoise

    priors, (dtype,) = _check(priors, [dtype])
    x = np.random.default_rng(0).random((_SIDE, _SIDE)).astype(dtype)
    for prior in priors:
        denoise(x, 0.05, method=prior)


def _cache_writable():
    # Numba caches next to the sources (or, failing that, in a per-user folder); where the
    # package folder is read-only a background compilation might help nobody, so skip it.
    return os.access(Path(__file__).parent, os.W_OK)


def start(priors, dtype="float64"):
    """Start compiling ``priors``' kernels in a background process.

    Returns the :class:`subprocess.Popen` handle (``wait()`` on it before the first use of
    those priors, so this process loads the kernels instead of compiling them a second time),
    or None where a second process cannot help: no priors, one CPU, or a read-only package
    folder. The child's output is discarded; if it fails, the kernels are simply compiled on
    first use as usual.
    """
    priors, (dtype,) = _check(priors, [dtype])
    if not priors or (os.cpu_count() or 1) < 2 or not _cache_writable():
        return None
    cmd = [sys.executable, "-m", "invrestore.precompile", "--dtype", dtype, "--", *priors]
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)


def finish(job, timeout=300.0):
    """Wait for a :func:`start` job (None: nothing to wait for); past ``timeout`` seconds it is
    stopped, and whatever it has not cached is compiled on first use as usual."""
    if job is None:
        return
    try:
        job.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        job.kill()
        job.wait()


def compile_all(priors=None, dtypes=("float64", "float32"), jobs=None, stream=None):
    """Compile the kernels of ``priors`` (default: every available one) for ``dtypes``, one
    child process per kernel family, ``jobs`` (default: the CPU count) at a time.

    For a fresh install, before the first real work (``invrestore precompile``): the compiled
    kernels land in Numba's on-disk cache. Returns ``{family: seconds}`` and raises
    ``RuntimeError`` naming the families that failed.
    """
    from . import available_priors

    if priors is None:
        priors = [p for p in available_priors() if p not in ("pnp", "bm3d")]
    priors, dtypes = _check(priors, dtypes)
    if not priors or not dtypes:
        raise ValueError("compile_all needs at least one prior and one dtype")
    if jobs is not None and (int(jobs) != jobs or jobs < 1):
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    families = {}
    for p in priors:
        families.setdefault(kernel_family(p), p)
    # One child per family compiling its dtypes in turn: two processes saving the same
    # function's cache index at once could drop one of the entries.
    dts = dtypes
    todo = list(families.items())
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    env = dict(os.environ, NUMBA_NUM_THREADS="1")
    running, done, failed = [], {}, []
    while todo or running:
        while todo and len(running) < jobs:
            fam, prior = todo.pop(0)
            cmd = [sys.executable, "-m", "invrestore.precompile", "--dtype", *dts, "--", prior]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=env)
            running.append((fam, proc, time.perf_counter()))
        time.sleep(0.05)
        for item in list(running):
            fam, proc, t0 = item
            if proc.poll() is None:
                continue
            running.remove(item)
            done[fam] = time.perf_counter() - t0
            err = proc.stderr.read().decode(errors="replace").strip()
            proc.stderr.close()
            if proc.returncode:
                failed.append(f"{fam}: {err.splitlines()[-1] if err else proc.returncode}")
            if stream is not None:
                status = "failed" if proc.returncode else "ready"
                print(f"{fam:<18} {'/'.join(dts):<16} {status} in {done[fam]:.1f} s",
                      file=stream, flush=True)
    if failed:
        raise RuntimeError("compilation failed: " + "; ".join(failed))
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m invrestore.precompile",
                                 description="compile the Numba kernels of some priors")
    ap.add_argument("priors", nargs="+", help="prior names, as for invrestore.denoise")
    ap.add_argument("--dtype", nargs="+", default=["float64"], choices=["float32", "float64"])
    a = ap.parse_args(argv)
    for dtype in a.dtype:
        compile_priors(a.priors, dtype)


if __name__ == "__main__":
    main()
