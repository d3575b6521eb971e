"""Run many small matrix products in parallel: one BLAS thread per worker thread.

Patch-based methods (the GMM prior, EPLL) spend their time in matrix products of a few hundred
patches by a few thousand basis vectors. A multi-threaded OpenBLAS splits each such product
across all cores and spends most of the time synchronising (measured on 2 cores: 12-27 GFLOP/s
for ``(256..1024 x 64) @ (64 x 2048)`` in float32, against 80-85 GFLOP/s on a single thread).
The fast layout is the opposite one: each worker thread of :func:`parallel_map` takes whole
chunks and calls a single-threaded BLAS, while :func:`single_threaded_blas` pins NumPy's BLAS to
one thread for the duration of the call (and restores it after).

NumPy does not expose its BLAS thread count, so :func:`single_threaded_blas` uses
``threadpoolctl`` when it is installed and otherwise looks for the OpenBLAS library bundled with
NumPy and calls its ``*openblas_set_num_threads*`` entry point. Where neither works (another
BLAS), it does nothing: results are the same, only slower. Note that the limit is process-wide
while it holds, so other threads of the program also see a single-threaded BLAS meanwhile.

Examples
--------
>>> from invrestore.kernels.blas_threads import parallel_map, single_threaded_blas
>>> with single_threaded_blas():
...     parallel_map(lambda i: i * i, range(4), n_threads=2)
[0, 1, 4, 9]
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["SharedLimit", "default_threads", "parallel_map", "set_to_one",
           "single_threaded_blas"]

_OPENBLAS = None  # (get, set) ctypes functions, or False once the search failed


def default_threads() -> int:
    """Worker threads to use: the CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _find_openblas():
    global _OPENBLAS
    if _OPENBLAS is not None:
        return _OPENBLAS or None
    _OPENBLAS = False
    import numpy as np

    base = os.path.dirname(np.__file__)
    candidates = []
    for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*", "../numpy/.libs/*openblas*"):
        candidates += glob.glob(os.path.join(base, pattern))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "_64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    put.restype, put.argtypes = None, [ctypes.c_int]
                    _OPENBLAS = (get, put)
                    return _OPENBLAS
    return None


def _limit_to_one():
    """Set NumPy's BLAS to one thread; returns the function that undoes it (or None)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threadpool_limits is not None:
        return threadpool_limits(1, user_api="blas").restore_original_limits
    found = _find_openblas()
    return None if found is None else set_to_one(*found)


def set_to_one(get, put):
    """Set a thread count to 1 through its ``get()`` / ``put(n)`` pair; returns the undo."""
    before = get()
    put(1)
    return lambda: put(before)


class SharedLimit:
    """A process-wide setting that any number of blocks, on any threads, hold at once.

    ``apply()`` puts the setting in force and returns the function that undoes it (or None
    where it cannot be applied). The first block to enter :meth:`hold` applies it, the last to
    leave undoes it, and no block waits for another: blocks that all want the same setting
    (one BLAS thread for tiles denoised side by side) share it instead of taking turns, and
    none runs on with the setting undone because another one left first.
    """

    def __init__(self, apply):
        self._apply = apply
        self._lock = threading.Lock()
        self._depth = 0
        self._undo = None

    @contextlib.contextmanager
    def hold(self):
        """Context manager; yields True when the setting is in force, False if unavailable."""
        with self._lock:
            if self._depth == 0:
                self._undo = self._apply()
            self._depth += 1
            held = self._undo is not None
        try:
            yield held
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._undo is not None:
                    self._undo()
                    self._undo = None


_ONE_THREAD = SharedLimit(_limit_to_one)


def single_threaded_blas():
    """Context manager: NumPy's BLAS runs on one thread inside (re-entrant, thread-safe;
    blocks on several threads share the setting, see :class:`SharedLimit`)."""
    return _ONE_THREAD.hold()


def parallel_map(func, items, *, n_threads=None):
    """``[func(item) for item in items]`` on ``n_threads`` threads (in order).

    ``func`` should release the GIL for most of its time (NumPy products, ``nogil`` Numba
    kernels); items are handed out one at a time, so uneven items balance themselves.
    """
    items = list(items)
    n = default_threads() if n_threads is None else max(1, int(n_threads))
    n = min(n, len(items))
    if n <= 1:
        return [func(it) for it in items]
    with ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(func, items))
