"""The CuPy launchers of the CUDA kernels, run on the CPU through ``fake_cupy.FakeCupy``: their
grids, the C types and order of their arguments (checked against the kernels' GPU
signatures), the buffers they allocate and read back, and the run-time choices ("auto")
around them. The kernels' arithmetic is tested in ``test_tv_cuda`` and ``test_conv_tc``."""

import numpy as np
import pytest

from invrestore.kernels import _tv_cuda, _tv_numba
from invrestore.kernels._tv_cuda import fgp_fused

from .fake_cupy import DeviceArray, FakeCupy


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return FakeCupy(tmp_path_factory)


def _fake_timer(times):
    """A ``device_time_ms`` that runs ``fn`` once and reads its time from ``times`` (the
    function's ``args`` as ``functools.partial`` binds them), 1.0 when absent."""

    def time_ms(fn, repeat=3):
        fn()
        return times.get(getattr(fn, "args", None), 1.0)

    return time_ms


@pytest.fixture
def tv_on(monkeypatch):
    """``use(fake, times)``: the TV launchers on ``fake``, "auto" timed by ``times``."""

    def use(fake, times=None):
        monkeypatch.setattr(_tv_cuda, "cupy_module", lambda: fake)
        monkeypatch.setattr(_tv_cuda, "device_time_ms", _fake_timer(times or {}))
        monkeypatch.setattr(_tv_cuda, "_auto_chosen", {})
        monkeypatch.setattr(_tv_cuda, "_vector_ok", {})
        _tv_cuda._module.cache_clear()
        _tv_cuda._launcher.cache_clear()

    yield use
    _tv_cuda._module.cache_clear()
    _tv_cuda._launcher.cache_clear()


def _tv_both(v3, fake, variant, iso, max_iter, tol, w=0.15):
    """The launcher's FGP on ``fake`` and the Numba driver's, from a cold start."""
    got = fgp_fused(v3.copy().view(DeviceArray), None, w, iso, max_iter, tol, 5,
                    _tv_cuda.cupy_launcher(v3.dtype, variant), fake)
    ref = _tv_numba.fgp_numba(v3.copy(), None, w, iso, max_iter, tol, 5)
    return got, ref


@pytest.mark.parametrize("variant", ["strip", "stripv", "strip2", "pixel", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 37, 72), (2, 19, 40), (1, 70, 9), (3, 5, 8),
                                   (1, 6, 1032)])  # (several blocks of 128 threads per row)
@pytest.mark.parametrize("isotropic", [True, False])
@pytest.mark.parametrize(("max_iter", "tol"), [(0, 0.0), (1, 0.0), (12, 0.0), (300, 1e-4)])
def test_tv_launcher_matches_numba(fake, tv_on, monkeypatch, variant, dtype, shape, isotropic,
                                   max_iter, tol):
    tv_on(fake)
    monkeypatch.setattr(_tv_cuda, "AUTO_FROM", 100)  # "auto" chooses at these sizes too
    v3 = np.random.default_rng(sum(shape) + max_iter).random(shape).astype(dtype)
    (x, p0, p1, k, rel), (rx, rp0, rp1, rk, rrel) = _tv_both(v3, fake, variant, isotropic,
                                                             max_iter, tol)
    atol = 2e-5 if dtype == np.float32 else 1e-12
    assert type(x) is DeviceArray  # the result stays "on the device"
    np.testing.assert_allclose(x, rx, atol=atol)  # NaN: a value no kernel wrote
    np.testing.assert_allclose(p0, rp0, atol=10 * atol)
    np.testing.assert_allclose(p1, rp1, atol=10 * atol)
    assert k == rk
    if tol > 0:
        np.testing.assert_allclose(rel, rrel, rtol=1e-2 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tv_auto_runs_the_pass_it_timed_fastest(fake, tv_on, monkeypatch, dtype):
    # the vector pass with twice its default strip height is made "fastest": auto checks the
    # vector pass, times the four candidates once, then runs that one every iteration
    target = 1 << 17
    assert ("stripv", target) in _tv_cuda.AUTO_CANDIDATES
    tv_on(fake, {("stripv", target): 0.5})
    monkeypatch.setattr(_tv_cuda, "AUTO_FROM", 100)
    ran = []
    real_run = _tv_cuda._auto_pass

    def spy(key, run, vector_ok=True):
        ran.append(vector_ok)
        return real_run(key, run, vector_ok)

    monkeypatch.setattr(_tv_cuda, "_auto_pass", spy)
    v3 = np.random.default_rng(0).random((1, 40, 64)).astype(dtype)
    (x, *_), (rx, *_) = _tv_both(v3, fake, "auto", True, 6, 0.0)
    np.testing.assert_allclose(x, rx, atol=2e-5 if dtype == np.float32 else 1e-12)
    assert ran == [True] * 6  # the vector pass agreed with the strip pass
    assert list(_tv_cuda._auto_chosen.values()) == [("stripv", target)]


def test_tv_vector_check_agrees_on_the_host_build(fake, tv_on):
    tv_on(fake)
    for dtype in (np.float32, np.float64):
        assert _tv_cuda.cupy_launcher(dtype, "auto").vector_check()


def test_tv_alternative_passes_that_do_not_compile_leave_the_strip_pass(tmp_path_factory,
                                                                        tv_on, monkeypatch):
    # a CUDA whose NVRTC rejects the vector and two-pass sources: the base passes are compiled
    # alone (one warning), every variant runs, and auto does not offer the vector pass
    broken = FakeCupy(tmp_path_factory, fail_compile=lambda code: "tv_fgp_stripv" in code)
    tv_on(broken, {("stripv", 1 << 18): 0.1})  # (were it offered, it would be chosen)
    monkeypatch.setattr(_tv_cuda, "AUTO_FROM", 100)
    v3 = np.random.default_rng(3).random((1, 30, 48)).astype(np.float32)
    with pytest.warns(RuntimeWarning, match="did not compile"):
        _tv_cuda.cupy_launcher(np.float32, "strip")
    for variant in ("stripv", "strip2"):
        (x, *_), (rx, *_) = _tv_both(v3, broken, variant, False, 9, 0.0)
        np.testing.assert_allclose(x, rx, atol=2e-5)
    with pytest.warns(RuntimeWarning, match="vector TV pass failed"):
        (x, *_), (rx, *_) = _tv_both(v3, broken, "auto", False, 9, 0.0)
    np.testing.assert_allclose(x, rx, atol=2e-5)
    assert [c[0] for c in _tv_cuda._auto_chosen.values()] == ["strip"]


def test_tv_launcher_arguments_are_checked_against_the_gpu_signature(fake, tv_on):
    # the fake launch itself refuses what CuPy would pass wrongly (here a Python float)
    tv_on(fake)
    kernel = fake.RawModule(code=_tv_cuda.SOURCE).get_function("tv_primal_f32")
    v = fake.zeros((1, 4, 4), np.float32)
    args = (v, v, v, fake.empty_like(v), np.int32(1), np.int32(4), np.int32(4), 0.1)
    with pytest.raises(AssertionError, match="w is float, not float32"):
        kernel((1,), (16,), args)
    with pytest.raises(AssertionError, match="X is float64"):
        kernel((1,), (16,), args[:3] + (fake.zeros((1, 4, 4)),) + args[4:7]
               + (np.float32(0.1),))
