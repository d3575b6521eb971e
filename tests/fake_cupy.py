"""A stand-in for CuPy on the CPU, to run the CUDA launchers themselves without a GPU.

The kernels' arithmetic is tested by building their sources for the host (``cuda_host``); what
that leaves out is the Python that launches them: the grid, the order and C types of the
arguments, the buffers it allocates and reads back. :class:`FakeCupy` runs that code
unchanged:

* arrays are NumPy arrays posing as device arrays (:class:`DeviceArray`: ``.data.ptr``,
  ``.get()``); ``empty`` fills new arrays with NaN, so a value a kernel should write and does
  not shows in the result;
* ``RawModule(code).get_function(name)`` returns a kernel built for the host whose launch
  ``kernel(grid, block, args)`` first checks every argument against the C parameter of the
  kernel *as the GPU build declares it* (a pointer takes a C-contiguous array of its element
  type, a scalar a NumPy scalar of exactly its type: CuPy passes a scalar by its dtype's
  bytes), then runs every thread of that grid in turn. Valid for kernels without
  ``__syncthreads``; a kernel the host build leaves out raises when launched.
"""

import ctypes
import re
import shutil
import subprocess
import types

import numpy as np
import pytest

from .cuda_host import SHIM, compile_host

# the GPU build's qualifiers, for reading its signatures with the preprocessor
_DEVICE_DEFINES = ["-D__global__=", "-D__device__=", "-D__forceinline__=inline",
                   "-D__launch_bounds__(n)=", "-D__restrict__=", "-D__align__(n)=",
                   "-D__shared__="]

_SCALARS = {"float": (np.float32, ctypes.c_float), "double": (np.float64, ctypes.c_double),
            "int": (np.int32, ctypes.c_int), "long long": (np.int64, ctypes.c_longlong),
            "long": (np.int64, ctypes.c_long), "unsigned": (np.uint32, ctypes.c_uint),
            "unsigned int": (np.uint32, ctypes.c_uint)}

_ENTRY = re.compile(r'extern\s+"C"\s+void\s+(\w+)\s*\(([^)]*)\)\s*\{')


def _preprocess(code, defines):
    cxx = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    out = subprocess.run([cxx, "-E", "-P", "-x", "c++", *defines, "-"], input=code,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


def _parse(params):
    """``[(C base type, is pointer, name)]`` of a parameter list."""
    out = []
    for p in params.split(","):
        words = p.replace("*", " * ").split()
        name, words = words[-1], [w for w in words[:-1] if w not in ("const", "__restrict__")]
        pointer = "*" in words
        out.append((" ".join(w for w in words if w != "*"), pointer, name))
    return out


def signatures(code, host=False):
    """``{kernel: parameters}`` of the ``extern "C"`` kernels of ``code`` in the GPU build
    (``host=False``) or in the host build of ``cuda_host.SHIM``."""
    shim = "\n".join(line for line in SHIM.splitlines() if not line.startswith("#include"))
    text = _preprocess(shim + code if host else code, [] if host else _DEVICE_DEFINES)
    return {m.group(1): _parse(m.group(2)) for m in _ENTRY.finditer(text)}


class DeviceArray(np.ndarray):
    """A NumPy array with CuPy's ``.data.ptr`` and ``.get()``."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.__array_interface__["data"][0])

    def get(self):
        return np.array(self.view(np.ndarray))


def _dev(a):
    return a.view(DeviceArray) if isinstance(a, np.ndarray) else a


class FakeKernel:
    def __init__(self, name, params, lib=None, runner=None):
        self.name, self.params, self.lib, self.runner = name, params, lib, runner
        self.launches = []

    def __call__(self, grid, block, args):
        assert len(args) == len(self.params), (
            f"{self.name}: {len(args)} arguments for {len(self.params)} parameters")
        cargs = []
        for a, (base, pointer, pname) in zip(args, self.params):
            dtype, ctype = _SCALARS[base]
            if pointer:
                assert isinstance(a, np.ndarray), f"{self.name}: {pname} is not an array"
                assert a.dtype == dtype, f"{self.name}: {pname} is {a.dtype}, not {base}*"
                assert a.flags.c_contiguous, f"{self.name}: {pname} is not C-contiguous"
                cargs.append(ctypes.c_void_p(a.__array_interface__["data"][0]))
            else:
                assert type(a) is dtype, (
                    f"{self.name}: {pname} is {type(a).__name__}, not {np.dtype(dtype)}")
                cargs.append(ctype(a))
        grid = tuple(grid) + (1,) * (2 - len(grid))
        assert len(block) == 1 and all(int(g) >= 1 for g in grid), (grid, block)
        self.launches.append((tuple(int(g) for g in grid), int(block[0])))
        if self.runner is not None:
            self.runner(grid, block, cargs)
            return
        if self.lib is None:
            raise NotImplementedError(f"{self.name} is not in the host build")
        getattr(self.lib, f"fake_launch_{self.name}")(
            ctypes.c_uint(grid[0]), ctypes.c_uint(grid[1]), ctypes.c_uint(block[0]), *cargs)


class FakeModule:
    def __init__(self, fake, code):
        self.fake, self.code = fake, code

    def get_function(self, name):
        device = self.fake.signatures(self.code)
        if name not in device:
            raise KeyError(f"no kernel {name!r} in the module")
        if name in self.fake.runners:
            return FakeKernel(name, device[name], runner=self.fake.runners[name])
        lib, host = self.fake.build(self.code)
        return FakeKernel(name, device[name], lib if name in host else None)


class FakeCupy:
    """The part of the ``cupy`` module the launchers use, on NumPy arrays and host builds.

    ``tmp_path_factory``: where the host builds go; ``fail_compile(code)``: True to make
    ``get_function`` of that module raise, as a compile error would; ``runners``: ``{kernel
    name: runner(grid, block, ctypes arguments)}`` for kernels whose host build is driven
    otherwise (those with ``__syncthreads``), their arguments still checked.
    """

    nan = np.nan

    def __init__(self, tmp_path_factory, fail_compile=None, runners=None):
        self._factory = tmp_path_factory
        self._fail = fail_compile
        self.runners = dict(runners or {})
        self._builds = {}
        self._sigs = {}
        self.cuda = types.SimpleNamespace(
            Device=lambda *a: types.SimpleNamespace(id=0, compute_capability="90"))

    def signatures(self, code):
        if self._fail is not None and self._fail(code):
            raise RuntimeError("fake NVRTC compile error")
        if code not in self._sigs:
            self._sigs[code] = signatures(code)
        return self._sigs[code]

    def build(self, code):
        """``(CDLL, host kernels)`` of ``code``, each host kernel with a wrapper
        ``fake_launch_<name>(grid x, grid y, block x, parameters)``."""
        if code not in self._builds:
            host = signatures(code, host=True)
            wrappers = []
            for name, params in host.items():
                decl = ", ".join(f"{b}{'*' if p else ''} {n}" for b, p, n in params)
                call = ", ".join(n for _, _, n in params)
                wrappers.append(
                    f'extern "C" void fake_launch_{name}(unsigned gx_, unsigned gy_, '
                    f"unsigned bx_, {decl}) {{\n  blockDim.x = bx_;\n"
                    f"  for (unsigned y_ = 0; y_ < gy_; ++y_)\n"
                    f"    for (unsigned x_ = 0; x_ < gx_; ++x_)\n"
                    f"      for (unsigned t_ = 0; t_ < bx_; ++t_) {{\n"
                    f"        blockIdx.x = x_; blockIdx.y = y_; threadIdx.x = t_;\n"
                    f"        {name}({call});\n      }}\n}}\n")
            src = code + "\n" + "\n".join(wrappers)
            lib = compile_host(self._factory, "fake_cupy", src)
            self._builds[code] = (lib, set(host))
        return self._builds[code]

    def RawModule(self, code, options=()):  # CuPy's name
        return FakeModule(self, code)

    def empty(self, shape, dtype=np.float64):
        dtype = np.dtype(dtype)
        fill = np.nan if dtype.kind == "f" else -1
        return np.full(shape, fill, dtype).view(DeviceArray)

    def empty_like(self, a):
        return self.empty(a.shape, a.dtype)

    def __getattr__(self, name):
        # NumPy's function, its arrays returned as device arrays
        f = getattr(np, name)
        if not callable(f):
            return f
        return lambda *a, **k: _dev(f(*a, **k))
