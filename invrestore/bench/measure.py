"""Wall time and peak memory of one call.

Peak memory is the largest increase of the process's resident set size (RSS) over its value
when the call starts, sampled every 2 ms by a background thread: it sees every allocation
(Numba, BLAS, PyTorch, not only NumPy/Python objects) and costs no time in the measured code,
but memory the allocator already holds and reuses is not counted, and a peak shorter than
the sampling period can be missed. With ``trace=True`` :mod:`tracemalloc` runs as well (exact
for NumPy and Python allocations, but it slows allocation-heavy code by 5-40 %) and the larger
of the two is reported: use it for an untimed memory run. Where ``/proc`` is not available the
process's lifetime high-water mark (:func:`resource.getrusage`) stands in for the RSS.

Examples
--------
>>> import numpy as np
>>> from invrestore.bench.measure import measure
>>> out, seconds, peak_mb, cpu = measure(lambda: np.ones((512, 512)).sum())
>>> float(out), seconds >= 0, peak_mb >= 0, cpu >= 0
(262144.0, True, True, True)
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["max_rss_bytes", "measure", "rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes():
    """Current resident set size in bytes, or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except Exception:  # noqa: BLE001 (psutil missing or not permitted)
        return None


def max_rss_bytes():
    """High-water resident set size of the process so far (bytes)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class _Sampler(threading.Thread):
    def __init__(self, interval):
        super().__init__(daemon=True)
        self.interval = interval
        self.stop = threading.Event()
        self.peak = rss_bytes() or 0

    def run(self):
        while not self.stop.wait(self.interval):
            v = rss_bytes()
            if v is not None and v > self.peak:
                self.peak = v


def measure(fn, *, interval=0.002, trace=False):
    """Call ``fn()``; return ``(result, seconds, peak_mb, cpu_seconds)``.

    ``seconds`` is the wall time (:func:`time.perf_counter`); ``peak_mb`` the peak RSS
    increase during the call in MiB (see the module notes); ``cpu_seconds`` the process CPU
    time (all threads, :func:`time.process_time`), which other processes on a shared machine
    disturb less than the wall time. ``trace``: also trace allocations (see the module
    notes). Exceptions propagate.
    """
    if trace:
        return _traced(fn, interval)
    base = rss_bytes()
    if base is None:
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        return out, seconds, max_rss_bytes() / 2**20, cpu
    sampler = _Sampler(interval)
    sampler.start()
    try:
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        sampler.stop.set()
        sampler.join()
    peak = max(sampler.peak, rss_bytes() or 0)
    return out, seconds, max(0.0, (peak - base) / 2**20), cpu


def _traced(fn, interval):
    import tracemalloc

    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        out, seconds, rss_mb, cpu = measure(fn, interval=interval)
        traced = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    finally:
        if started:
            tracemalloc.stop()
    return out, seconds, max(rss_mb, traced), cpu
