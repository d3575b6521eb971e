"""single_threaded_blas: shared by blocks on several threads, restored by the last to leave."""

import sys
import threading

import pytest

from invrestore.kernels import blas_threads


def test_single_threaded_blas_holds_until_the_last_block_leaves(monkeypatch):
    found = blas_threads._find_openblas()
    if found is None:
        pytest.skip("no OpenBLAS thread control found next to NumPy")
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # the ctypes path
    get, put = found
    before = get()
    put(2)  # a count the block must change and then restore
    try:
        first_left = threading.Event()
        inside = threading.Barrier(2, timeout=10)
        seen = {}

        def short():
            with blas_threads.single_threaded_blas():
                inside.wait()
            first_left.set()

        def long():
            with blas_threads.single_threaded_blas():
                inside.wait()
                first_left.wait(10)
                seen["after the other left"] = get()

        threads = [threading.Thread(target=short), threading.Thread(target=long)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert seen == {"after the other left": 1}
        assert get() == 2
    finally:
        put(before)
