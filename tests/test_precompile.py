"""Background compilation of prior kernels (invrestore.precompile)."""

import os

import pytest

from invrestore import precompile


def test_kernel_family():
    assert precompile.kernel_family("tv_aniso") == precompile.kernel_family("tv") == "tv"
    assert precompile.kernel_family("nlm") == "nlm"


def test_start_declines_where_it_cannot_help(monkeypatch):
    assert precompile.start([]) is None
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert precompile.start(["nlm"]) is None


def test_start_runs_a_child_that_succeeds(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    job = precompile.start(["wavelet"], "float32")
    if job is None:
        pytest.skip("package folder is read-only here")
    assert job.wait(timeout=120) == 0


def test_main_compiles_in_process():
    precompile.main(["wavelet", "tikhonov", "--dtype", "float32"])
    with pytest.raises(SystemExit):
        precompile.main(["tv", "--dtype", "int8"])
    with pytest.raises(ValueError, match="unknown prior"):
        precompile.main(["no-such-prior"])


def test_finish_waits_and_stops_a_stuck_job():
    import subprocess
    import sys

    precompile.finish(None)
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    precompile.finish(job, timeout=0.5)
    assert job.returncode is not None


def test_compile_all_and_the_cli(capsys):
    from invrestore.cli import main

    done = precompile.compile_all(["wavelet", "tikhonov"], ("float32",), jobs=2)
    assert set(done) == {"wavelet", "tikhonov"}
    assert main(["precompile", "--priors", "wavelet", "--dtype", "float64"]) == 0
    assert "wavelet" in capsys.readouterr().out
    assert main(["precompile", "--priors", "nope"]) == 2
    assert "unknown prior" in capsys.readouterr().err


def test_main_takes_several_dtypes():
    precompile.main(["--dtype", "float32", "float64", "--", "wavelet"])
    precompile.main(["wavelet", "--dtype", "float64", "float32"])


def test_bad_input_is_refused_before_any_child_starts():
    with pytest.raises(ValueError, match="unknown prior"):
        precompile.start(["nope"])
    with pytest.raises(ValueError, match="unknown prior"):
        precompile.compile_all(["tv", "nope"])
    with pytest.raises(TypeError, match="dtype"):
        precompile.compile_all(["wavelet"], ("int8",))
    with pytest.raises(TypeError, match="dtype"):
        precompile.start(["wavelet"], "float16")
    with pytest.raises(ValueError, match="jobs"):
        precompile.compile_all(["wavelet"], jobs=0)
    with pytest.raises(ValueError, match="at least one"):
        precompile.compile_all([], ("float32",))
