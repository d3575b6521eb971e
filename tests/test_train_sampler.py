"""scripts/train_denoiser.py: the device-side sampler draws what the NumPy sampler draws."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

_spec = importlib.util.spec_from_file_location(
    "train_denoiser", Path(__file__).resolve().parents[1] / "scripts" / "train_denoiser.py")
train = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(train)


def _images():
    rng = np.random.default_rng(0)
    return [rng.random((20, 23)).astype(np.float32), rng.random((17, 19)).astype(np.float32)]


def test_device_sampler_offsets_are_the_numpy_transforms():
    images = _images()
    s = train.DeviceSampler(torch, images, 8, 0.3, 0.0, 0.04, "cpu")
    hmax, wmax = s.hw
    for n, i, j in ((0, 12, 15), (1, 9, 11), (1, 0, 0)):  # last corners that fit
        for k in range(8):
            got = s.flat[n * hmax * wmax + i * wmax + j + s.offset[k]].numpy()
            want = np.rot90(images[n][i:i + 8, j:j + 8], k % 4)
            np.testing.assert_array_equal(got, want[:, ::-1] if k >= 4 else want)


def test_device_sampler_batch_distribution():
    torch.manual_seed(0)
    images = _images()
    s = train.DeviceSampler(torch, images, 8, 0.3, 0.5, 0.04, "cpu")
    x, y, sig = s(4096)
    assert x.shape == y.shape == (4096, 1, 8, 8) and sig.shape == (4096, 1, 1, 1)
    assert x.is_contiguous(memory_format=torch.channels_last)
    pool = np.concatenate([im.ravel() for im in images])
    assert np.isin(x.numpy().ravel(), pool).all()  # every value is a pixel of some image
    assert 0.0 <= float(sig.min()) and float(sig.max()) <= 0.3
    low = float((sig < 0.04).float().mean())  # 0.5 + 0.5 * 0.04 / 0.3 below 0.04
    assert abs(low - (0.5 + 0.5 * 0.04 / 0.3)) < 0.03
    ratio = float(((y - x) / sig).std())
    assert abs(ratio - 1.0) < 0.02
