"""Compile CUDA C++ kernel sources for the CPU, to test their arithmetic without a GPU.

The kernels of :mod:`invrestore.kernels._tv_cuda_source` and :mod:`invrestore.kernels._nlm_cuda`
are plain C++ apart from the CUDA qualifiers and thread indices. :data:`SHIM` defines those as
host globals, and its ``HOST_GRID_*`` macros run every "thread" of a launch in turn (valid
for kernels without ``__syncthreads``; the tiled TV pass is driven phase by phase instead).
"""

import ctypes
import os
import shutil
import subprocess

import pytest

SHIM = r"""
#include <cmath>
#include <limits>
using std::exp; using std::fmax; using std::fmin; using std::sqrt;
#define TV_HOST_EMULATION
struct host_dim3 { unsigned x, y; };
static host_dim3 threadIdx, blockIdx, blockDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __align__(n) alignas(n)

// every thread of a 1-D launch over N items, blocks of BLOCK threads
#define HOST_GRID_1D(N, BLOCK, CALL)                                                        \
    do {                                                                                    \
        blockDim.x = BLOCK;                                                                 \
        for (long b_ = 0; b_ * (BLOCK) < (long)(N); ++b_)                                   \
            for (unsigned t_ = 0; t_ < (BLOCK); ++t_) {                                     \
                blockIdx.x = (unsigned)b_; threadIdx.x = t_;                                \
                CALL;                                                                       \
            }                                                                               \
    } while (0)

// every thread of a launch with one thread per column (W columns, blocks of BLOCK, one
// extra block) and one block row per strip of ROWS rows (H rows)
#define HOST_GRID_STRIPS(W, H, ROWS, BLOCK, CALL)                                           \
    do {                                                                                    \
        blockDim.x = BLOCK;                                                                 \
        for (unsigned by_ = 0; (long)by_ * (ROWS) < (H); ++by_)                             \
            for (unsigned bx_ = 0; bx_ * (BLOCK) < (unsigned)(W) + (BLOCK); ++bx_)          \
                for (unsigned t_ = 0; t_ < (BLOCK); ++t_) {                                 \
                    blockIdx.x = bx_; blockIdx.y = by_; threadIdx.x = t_;                   \
                    CALL;                                                                   \
                }                                                                           \
    } while (0)
"""


def compile_host(tmp_path_factory, name, code):
    """``ctypes.CDLL`` of ``SHIM + code`` built by the host C++ compiler (skip without one)."""
    cxx = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    d = tmp_path_factory.mktemp(name)
    (d / f"{name}.cpp").write_text(SHIM + code)
    lib = d / f"lib{name}.so"
    # CUDA_HOST_CXXFLAGS: extra flags, e.g. "-fsanitize=address" (then run Python with the
    # sanitizer's runtime in LD_PRELOAD) to catch a kernel's out-of-bounds accesses
    extra = os.environ.get("CUDA_HOST_CXXFLAGS", "").split()
    out = subprocess.run([cxx, "-O1", "-std=c++14", "-shared", "-fPIC", *extra,
                          str(d / f"{name}.cpp"), "-o", str(lib)], capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    return ctypes.CDLL(str(lib))


def compiles_for_a_gpu(tmp_path, name, source, entries):
    """nvcc (skip without it) compiles ``source`` to PTX holding every name in ``entries``."""
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("no CUDA compiler (nvcc)")
    src = tmp_path / f"{name}.cu"
    src.write_text(source)
    out = subprocess.run([nvcc, "-ptx", "-arch=sm_80", "--std=c++14", str(src), "-o",
                          str(tmp_path / f"{name}.ptx")], capture_output=True, text=True,
                         check=False)
    assert out.returncode == 0, out.stderr
    ptx = (tmp_path / f"{name}.ptx").read_text()
    missing = [e for e in entries if e not in ptx]
    assert not missing, missing
