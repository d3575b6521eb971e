"""invrestore.nn architectures: against PyTorch twins written from the same descriptions,
tiling, dtype/shape policy and input errors. Small random-weight networks only."""

import numpy as np
import pytest

from invrestore.nn import DnCNN, DRUNet, FDnCNN, FFDNet, load

RNG = np.random.default_rng(7)


def image(h, w, c=None, dtype=np.float32):
    shape = (h, w) if c is None else (h, w, c)
    return RNG.random(shape).astype(dtype)


# --- PyTorch twins (KAIR parameter names) -----------------------------------------------------

def torch_stack(torch, chans, bn=False):
    layers = []
    for i in range(len(chans) - 1):
        layers.append(torch.nn.Conv2d(chans[i], chans[i + 1], 3, padding=1, bias=not bn))
        if i < len(chans) - 2:
            if bn and i > 0:
                layers.append(torch.nn.BatchNorm2d(chans[i + 1]))
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def randomise_bn(torch, module):
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def make_kair_like(torch, kind, channels, features=8, n_layers=4, bn=False):
    c_in = {"dncnn": channels, "fdncnn": channels + 1, "ffdnet": 4 * channels + 1}[kind]
    c_out = 4 * channels if kind == "ffdnet" else channels
    tf = torch.nn.functional

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch_stack(torch, [c_in] + [features] * (n_layers - 1) + [c_out], bn)

        def forward(self, x, sigma):
            if kind == "dncnn":
                return x - self.model(x)
            if kind == "fdncnn":
                return self.model(torch.cat([x, sigma.expand(1, 1, *x.shape[2:])], 1))
            h, w = x.shape[2:]
            xe = tf.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
            u = tf.pixel_unshuffle(xe, 2)
            out = self.model(torch.cat([u, sigma.expand(1, 1, *u.shape[2:])], 1))
            return tf.pixel_shuffle(out, 2)[..., :h, :w]

    torch.manual_seed(0)
    net = Net().eval()
    randomise_bn(torch, net)
    return net


def make_drunet(torch, channels, f, nb):
    nn = torch.nn

    class ResBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.res = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.ReLU(),
                                     nn.Conv2d(c, c, 3, padding=1, bias=False))

        def forward(self, x):
            return x + self.res(x)

    class UNetRes(nn.Module):
        def __init__(self):
            super().__init__()
            self.m_head = nn.Conv2d(channels + 1, f[0], 3, padding=1, bias=False)
            for lvl in (1, 2, 3):
                setattr(self, f"m_down{lvl}", nn.Sequential(
                    *[ResBlock(f[lvl - 1]) for _ in range(nb)],
                    nn.Conv2d(f[lvl - 1], f[lvl], 2, stride=2, bias=False)))
            self.m_body = nn.Sequential(*[ResBlock(f[3]) for _ in range(nb)])
            for lvl in (3, 2, 1):
                setattr(self, f"m_up{lvl}", nn.Sequential(
                    nn.ConvTranspose2d(f[lvl], f[lvl - 1], 2, stride=2, bias=False),
                    *[ResBlock(f[lvl - 1]) for _ in range(nb)]))
            self.m_tail = nn.Conv2d(f[0], channels, 3, padding=1, bias=False)

        def forward(self, x0):
            h, w = x0.shape[2:]
            x0 = nn.functional.pad(x0, (0, (-w) % 8, 0, (-h) % 8), mode="replicate")
            x1 = self.m_head(x0)
            x2 = self.m_down1(x1)
            x3 = self.m_down2(x2)
            x4 = self.m_down3(x3)
            x = self.m_body(x4)
            x = self.m_up3(x + x4)
            x = self.m_up2(x + x3)
            x = self.m_up1(x + x2)
            return self.m_tail(x + x1)[..., :h, :w]

    torch.manual_seed(0)
    return UNetRes().eval()


def run_torch(torch, net, x, sigma, with_map=False):
    t = torch.from_numpy(np.ascontiguousarray(x.reshape(x.shape[0], x.shape[1], -1)))
    t = t.permute(2, 0, 1)[None]
    s = torch.full((1, 1, 1, 1), sigma)
    with torch.no_grad():
        if with_map:
            out = net(torch.cat([t, s.expand(1, 1, *t.shape[2:])], 1))
        else:
            out = net(t, s)
    return out[0].permute(1, 2, 0).numpy().reshape(x.shape)


@pytest.mark.parametrize(("kind", "channels", "bn", "shape"), [
    ("dncnn", 1, False, (19, 23)),
    ("dncnn", 1, True, (16, 16)),
    ("fdncnn", 1, False, (15, 12)),
    ("ffdnet", 1, False, (17, 21)),
    ("ffdnet", 3, False, (13, 10)),
])
def test_stacks_match_torch_via_pth(tmp_path, kind, channels, bn, shape):
    torch = pytest.importorskip("torch")
    net_t = make_kair_like(torch, kind, channels, bn=bn)
    path = tmp_path / "w.pth"
    torch.save(net_t.state_dict(), path)
    net = load(path)
    assert net.arch == kind and net.channels == channels
    x = image(*shape, c=None if channels == 1 else 3)
    np.testing.assert_allclose(net(x, 0.1), run_torch(torch, net_t, x, 0.1), atol=2e-5)


def test_drunet_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    net_t = make_drunet(torch, 1, (4, 8, 8, 16), 2)
    path = tmp_path / "drunet.pth"
    torch.save(net_t.state_dict(), path)
    net = load(path)
    assert isinstance(net, DRUNet) and net.features == (4, 8, 8, 16) and net.n_blocks == 2
    x = image(21, 18)
    np.testing.assert_allclose(net(x, 0.05), run_torch(torch, net_t, x, 0.05, with_map=True),
                               atol=2e-5)


def test_drunet_shapes_random_weights():
    net = DRUNet.random(channels=3, features=(4, 8, 8, 8), n_blocks=1, rng=0)
    assert set(net.params) == set(
        __import__("invrestore.nn.drunet", fromlist=["x"]).drunet_param_shapes(
            3, (4, 8, 8, 8), 1))
    for shape in [(8, 8, 3), (9, 17, 3), (30, 5, 3)]:
        y = net(image(*shape), 0.1)
        assert y.shape == shape and np.isfinite(y).all()
    with pytest.raises(ValueError, match="missing parameter"):
        DRUNet({"m_head.weight": np.zeros((4, 2, 3, 3), np.float32)}, features=(4, 8, 8, 8))


@pytest.mark.parametrize(("cls", "shape", "tile"), [
    (DnCNN, (40, 52), 16),
    (FDnCNN, (33, 20), 12),
    (FFDNet, (41, 37), 16),
    (FFDNet, (41, 37, 3), 10),
])
def test_tiling_is_exact(cls, shape, tile):
    channels = 1 if len(shape) == 2 else 3
    net = cls.random(channels=channels, features=8, n_layers=5, rng=1)
    x = image(*shape[:2], c=None if channels == 1 else 3)
    whole = net(x, 0.1)
    net.tile = tile
    np.testing.assert_allclose(net(x, 0.1), whole, atol=1e-5)


def test_dtype_and_shape_policy():
    net = DnCNN.random(n_layers=3, features=8, rng=0)
    x64 = image(10, 12, dtype=np.float64)
    y = net(x64, 0.1)
    assert y.dtype == np.float64 and y.shape == (10, 12)
    assert net(x64.astype(np.float32), 0.1).dtype == np.float32
    assert net(x64[:, :, None], 0.1).shape == (10, 12, 1)
    np.testing.assert_array_equal(net(x64, 0.0), x64)  # sigma 0: the input back


def test_input_errors():
    gray = FFDNet.random(features=8, n_layers=3, rng=0)
    with pytest.raises(ValueError, match="gray denoiser but the image has 3 channels"):
        gray(image(8, 8, 3), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        gray(np.full((8, 8), np.nan), 0.1)
    with pytest.raises(ValueError, match="sigma"):
        gray(image(8, 8), -0.1)
    strict = FFDNet.random(features=8, n_layers=3, rng=0, strict_sigma=True)
    with pytest.raises(ValueError, match="handles sigma"):
        strict(image(8, 8), 100 / 255)
    # out of range, not strict: runs (documented)
    assert gray(image(8, 8), 100 / 255).shape == (8, 8)


def test_constructor_errors():
    w = [np.zeros((8, 1, 3, 3), np.float32), np.zeros((1, 8, 3, 3), np.float32)]
    DnCNN(w)
    with pytest.raises(ValueError, match="conv1.weight has shape"):
        DnCNN([w[0], np.zeros((1, 4, 3, 3), np.float32)])
    with pytest.raises(ValueError, match="needs 4 outputs"):
        FFDNet([np.zeros((8, 5, 3, 3), np.float32), np.zeros((1, 8, 3, 3), np.float32)])
    with pytest.raises(ValueError, match="NaN"):
        DnCNN([np.full((1, 1, 3, 3), np.nan, np.float32)])
    with pytest.raises(ValueError, match="sigma_range"):
        DnCNN(w, sigma_range=(0.2, 0.1))


def test_to_numpy_copy_and_repr():
    net = FFDNet.random(features=8, n_layers=3, rng=0, sigma_range=(0, 75 / 255))
    net2 = net.to("numpy")
    assert net2 is not net and net2.device == "numpy"
    x = image(6, 6)
    np.testing.assert_array_equal(net(x, 0.1), net2(x, 0.1))
    assert repr(net) == ("FFDNet(channels=1, n_layers=3, features=8, residual=False, "
                         "sigma_range=[0, 75]/255)")


@pytest.mark.gpu
def test_cupy_matches_numpy():
    cp = pytest.importorskip("cupy")
    for net in (DnCNN.random(n_layers=4, features=8, rng=0),
                FFDNet.random(channels=3, features=8, n_layers=3, rng=0),
                DRUNet.random(features=(4, 8, 8, 8), n_blocks=1, rng=0)):
        x = image(20, 22, c=None if net.channels == 1 else 3)
        with pytest.raises(ValueError, match="use .to"):
            net(cp.asarray(x), 0.1)
        y = net.to("cupy")(cp.asarray(x), 0.1)
        assert isinstance(y, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(y), net(x, 0.1), atol=1e-4)


def test_array_path_matches_numba_path(monkeypatch):
    # the array (CuPy) code path, run on NumPy: same networks, same results
    import invrestore.nn._flat as flat

    nets = [FFDNet.random(channels=3, features=8, n_layers=4, rng=0),
            DRUNet.random(features=(4, 8, 8, 8), n_blocks=1, rng=0)]
    xs = [image(14, 11, 3), image(13, 19)]
    fast = [net(x, 0.1) for net, x in zip(nets, xs, strict=True)]
    monkeypatch.setattr(flat, "numba_blas_available", lambda: False)
    for net, x, y in zip(nets, xs, fast, strict=True):
        np.testing.assert_allclose(net(x, 0.1), y, atol=1e-5)
