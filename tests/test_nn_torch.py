"""TorchDenoiser: PyTorch modules as invrestore denoisers (skipped without torch)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from invrestore.nn import FFDNet, TorchDenoiser


class AddSigma(torch.nn.Module):
    """x + sigma, with sigma given as a map channel or as a scalar tensor."""

    def __init__(self, mode):
        super().__init__()
        self.mode = mode
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, s=None):
        if self.mode == "map":
            return x[:, :-1] + self.scale * x[:, -1:]
        if self.mode == "scalar":
            return x + self.scale * s
        return x * self.scale


@pytest.mark.parametrize("mode", ["map", "scalar", None])
@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 3)])
def test_sigma_modes(mode, shape):
    den = TorchDenoiser(AddSigma(mode), sigma_input=mode)
    x = np.random.default_rng(0).random(shape)
    y = den(x, 0.25)
    assert y.shape == shape and y.dtype == np.float64
    expected = x if mode is None else x + 0.25
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert den(x.astype(np.float32), 0.1).dtype == np.float32


def test_same_result_as_engine():
    net = FFDNet.random(features=8, n_layers=3, rng=0)
    tf = torch.nn.functional
    sd = {k: torch.from_numpy(v) for k, v in net.state_dict().items()}

    class Twin(torch.nn.Module):
        def forward(self, x, s):
            u = tf.pixel_unshuffle(x, 2)
            z = torch.cat([u, s.expand(1, 1, *u.shape[2:])], 1)
            for i in range(3):
                z = tf.conv2d(z, sd[f"conv{i}.weight"], sd[f"conv{i}.bias"], padding=1)
                z = torch.relu(z) if i < 2 else z
            return tf.pixel_shuffle(z, 2)

    den = TorchDenoiser(Twin(), sigma_input="scalar", channels=1)
    x = np.random.default_rng(1).random((10, 12)).astype(np.float32)
    np.testing.assert_allclose(den(x, 0.1), net(x, 0.1), atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="sigma_input"):
        TorchDenoiser(torch.nn.Identity(), sigma_input="level")
    with pytest.raises(TypeError, match="callable"):
        TorchDenoiser(3)
    bad = TorchDenoiser(lambda t: t[:, :, :2], sigma_input=None)
    with pytest.raises(ValueError, match="module returned"):
        bad(np.zeros((5, 5)), 0.1)
    gray = TorchDenoiser(torch.nn.Identity(), sigma_input=None, channels=1)
    with pytest.raises(ValueError, match="gray denoiser"):
        gray(np.zeros((5, 5, 3)), 0.1)
    assert "Identity" in repr(gray)


@pytest.mark.gpu
def test_cupy_zero_copy():
    cp = pytest.importorskip("cupy")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    seen = {}

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen["ptr"] = x.data_ptr()
            return x

    den = TorchDenoiser(Probe(), device="cuda", sigma_input=None)
    x = cp.random.random((8, 9, 3), dtype=cp.float32)
    y = den(x, 0.1)
    assert isinstance(y, cp.ndarray)
    cp.testing.assert_array_equal(y, x)
    assert seen["ptr"] == x.data.ptr  # the module saw the CuPy memory itself
    cpu = TorchDenoiser(Probe(), device="cpu", sigma_input=None)
    with pytest.raises(ValueError, match="CuPy array"):
        cpu(x, 0.1)
