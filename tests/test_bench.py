"""Smoke test of the benchmark harness on a tiny synthetic data folder (seconds)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from invrestore import cli
from invrestore.bench.sr_operator import BicubicDownsample
from invrestore.bench.tasks import select_tasks
from invrestore.degradations import imresize
from invrestore.io import imwrite
from invrestore.testing import check_adjoint, check_normal_solve

REPO = Path(__file__).resolve().parents[1]


def _image(rng, shape):
    yy, xx = np.mgrid[: shape[0], : shape[1]] / shape[0]
    base = 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)
    if len(shape) == 3:
        base = base[..., None] * np.array([1.0, 0.8, 0.6])
    return np.clip(base + 0.05 * rng.random(shape), 0, 1)


@pytest.fixture
def data(tmp_path):
    """Set12 with two good PNGs and a corrupt one, Set5 with two RGB images; no BSD68, no
    Levin09 (missing sets)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    (root / "Set12").mkdir(parents=True)
    (root / "Set5").mkdir()
    for name in ("01.png", "02.png"):
        imwrite(root / "Set12" / name, (255 * _image(rng, (64, 64))).round().astype(np.uint8))
    (root / "Set12" / "03.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    for name in ("a.png", "b.png"):
        imwrite(root / "Set5" / name, (255 * _image(rng, (48, 48, 3))).round().astype(np.uint8))
    return root


def _bench(argv, capsys):
    rc = cli.main(["bench"] + [str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_run_writes_json_and_markdown_and_reports_skips(data, tmp_path, capsys):
    out = tmp_path / "out"
    rc, text, err = _bench(["--data", data, "--out", out, "--threads", "1", "--no-figures",
                            "--tasks", "denoise:Set12:25", "denoise:BSD68:25", "inpaint:Set12:80",
                            "sr:Set5:2", "deblur_levin:Levin09:2.55",
                            "--methods", "wavelet", "tikhonov", "skimage_wavelet", "bicubic"],
                           capsys)
    assert rc == 0, err
    doc = json.loads((out / "bench.json").read_text())
    assert doc["finished"] is True
    ok = {(r["task"], r["image"], r["method"]) for r in doc["records"] if "error" not in r}
    for task in ("denoise:Set12:25", "inpaint:Set12:80"):
        for image in ("01.png", "02.png"):
            assert (task, image, "wavelet") in ok and (task, image, "tikhonov") in ok
    assert ("denoise:Set12:25", "01.png", "skimage_wavelet") in ok
    assert {("sr:Set5:2", i, "bicubic") for i in ("a.png", "b.png")} <= ok
    for r in doc["records"]:
        assert np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1 and r["seconds"] >= 0
    # the corrupt image is reported (for each Set12 task) and the others still ran
    bad = [s for s in doc["skipped"] if s.get("file") == "03.png"]
    assert {s["task"] for s in bad} == {"denoise:Set12:25", "inpaint:Set12:80"}
    assert "03.png" in text
    # missing sets are skipped with a message, not a crash
    skipped_tasks = {s["task"] for s in doc["skipped"] if "file" not in s}
    assert skipped_tasks == {"denoise:BSD68:25", "deblur_levin:Levin09:2.55"}
    assert "BSD68" in text and "skipped" in text
    md = (out / "bench.md").read_text()
    assert "## Denoising" in md and "## Inpainting" in md and "## Skipped" in md
    assert "| wavelet |" in md and "03.png" in md
    assert "*published Bicubic*" in md and "*published BM3D*" in md
    # summary per (task, method), every task of the run described
    assert {s["task"] for s in doc["summary"]} == {"denoise:Set12:25", "inpaint:Set12:80",
                                                   "sr:Set5:2"}
    assert set(doc["tasks"]) == {t.id for t in select_tasks(
        ["denoise:Set12:25", "denoise:BSD68:25", "inpaint:Set12:80", "sr:Set5:2",
         "deblur_levin:Levin09:2.55"])}


def test_resume_keeps_results_and_report_command(data, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--data", data, "--out", out, "--threads", "1", "--tasks", "denoise:Set12:15",
            "--methods", "wavelet", "--name", "r"]
    assert _bench(args + ["--no-figures"], capsys)[0] == 0
    first = json.loads((out / "r.json").read_text())["records"]
    rc, text, _ = _bench(args + ["--resume", "--methods", "tikhonov"], capsys)
    assert rc == 0
    doc = json.loads((out / "r.json").read_text())
    assert len(doc["records"]) == len(first) + 2  # kept the wavelet rows, added tikhonov
    pytest.importorskip("matplotlib")
    assert (out / "r-quality-time.png").is_file()
    assert any(out.glob("r-example-*.png"))
    (out / "r.md").unlink()
    rc, _, _ = _bench(["report", out / "r.json", "--no-figures"], capsys)
    assert rc == 0 and "| tikhonov |" in (out / "r.md").read_text()


def test_bad_arguments_and_missing_data(tmp_path, capsys):
    rc, _, err = _bench(["--tasks", "nosuchtask", "--data", tmp_path], capsys)
    assert rc == 2 and "matches no task" in err
    rc, _, err = _bench(["--methods", "nosuchmethod", "--data", tmp_path], capsys)
    assert rc == 2 and "unknown method" in err
    rc, _, err = _bench(["--data", tmp_path / "absent"], capsys)
    assert rc == 2 and "not an existing folder" in err
    # an empty data folder: every task skipped, still a report
    out = tmp_path / "out"
    rc, text, _ = _bench(["--data", tmp_path, "--out", out, "--tasks", "inpaint",
                          "--methods", "tikhonov", "--no-figures"], capsys)
    assert rc == 0 and "no folder" in text
    assert len(json.loads((out / "bench.json").read_text())["skipped"]) == 3


def test_task_and_method_selection():
    ids = [t.id for t in select_tasks(["deblur"])]
    assert ids == ["deblur_levin:Levin09:2.55", "deblur_levin:Levin09:7.65",
                   "deblur_gauss:Set5:2.55", "deblur_gauss:CBSD68:2.55"]
    assert [t.id for t in select_tasks(["sr:*:4"])] == ["sr:Set5:4", "sr:Set14:4"]
    assert {t.dataset for t in select_tasks(["Set5"])} == {"Set5"}
    assert len(select_tasks(quick=True)) < len(select_tasks())


@pytest.mark.parametrize("shape, scale", [((24, 30), 3), ((32, 32, 3), 2), ((40, 36), 4)])
def test_bicubic_operator(shape, scale):
    H = BicubicDownsample(shape, scale)
    x = np.random.default_rng(1).random(shape)
    np.testing.assert_allclose(H @ x, imresize(x, 1 / scale), atol=1e-12)
    assert check_adjoint(H) < 1e-10
    assert check_normal_solve(H, rho=0.05) < 1e-8


def test_python_dash_m_benchmarks_entry_point():
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--help"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "--quick" in proc.stdout
