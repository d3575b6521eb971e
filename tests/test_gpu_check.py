"""benchmarks/gpu_check.py runs end to end; without a GPU it fills the CPU columns only."""

import json

from invrestore.backend import cupy_available


def test_gpu_check_quick_runs(tmp_path):
    from benchmarks import gpu_check

    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--quick", "--skip-tests", "--json", str(out)]) == 0
    rec = json.loads(out.read_text())
    assert rec["priors"] and all(r["cpu_s"] > 0 for r in rec["priors"])
    assert {r["prior"] for r in rec["priors"]} >= {"tv", "wavelet", "learned"}
    assert rec["pnp"]["cpu_s"] > 0
    if not cupy_available():
        assert rec["gpu"] is None
        assert all(r["gpu_s"] is None for r in rec["priors"])


def test_gpu_check_refuses_bad_sizes():
    import pytest

    from benchmarks import gpu_check

    with pytest.raises(SystemExit):
        gpu_check.main(["--sizes", "0", "--skip-tests"])


def test_gpu_check_refuses_bad_caps_and_workers(capsys):
    import pytest

    from benchmarks import gpu_check

    for argv, message in ((["--gpu-cap", "-1"], "--gpu-cap"), (["--cpu-cap", "nan"], "--cpu-cap"),
                          (["--test-workers", "-2"], "--test-workers")):
        with pytest.raises(SystemExit):
            gpu_check.main([*argv, "--skip-tests"])
        assert message in capsys.readouterr().err
