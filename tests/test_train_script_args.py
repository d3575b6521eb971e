"""scripts/train_denoiser.py refuses bad arguments before loading data or torch."""

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "train_denoiser_args", Path(__file__).resolve().parents[1] / "scripts" / "train_denoiser.py")
train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train)


@pytest.mark.parametrize(("args", "message"), [
    (["--patch", "7"], "--patch must be even"),
    (["--batch", "0"], "--batch must be >= 1"),
    (["--lr", "-1"], "--lr must be > 0"),
    (["--layers", "1"], "--layers must be >= 2"),
    (["--iters", "0"], "--iters must be >= 1"),
    (["--max-seconds", "0"], "--max-seconds must be > 0"),
    (["--low-fraction", "1.5"], "--low-fraction must be in [0, 1]"),
])
def test_bad_arguments_are_refused(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        train.main(["--out", str(tmp_path / "w.npz"), "--data", str(tmp_path), *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_existing_output_needs_force(tmp_path, capsys):
    out = tmp_path / "w.npz"
    out.write_bytes(b"keep")
    with pytest.raises(SystemExit):
        train.main(["--out", str(out), "--data", str(tmp_path)])
    assert "pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"
