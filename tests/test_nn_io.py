"""invrestore.nn weight loaders: the project's .npz format (against its written specification),
the published MatConvNet and KAIR files (skipped when absent), bad files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from invrestore.datasets import data_dir
from invrestore.nn import (
    DnCNN,
    DRUNet,
    FDnCNN,
    FFDNet,
    available_shipped,
    load,
    load_shipped,
    save_npz,
)
from invrestore.nn.io_npz import read_npz

RNG = np.random.default_rng(3)


def weights_dir():
    env = os.environ.get("INVRESTORE_WEIGHTS")
    if env:
        return Path(env)
    d = data_dir()
    return None if d is None else d.parent / "weights"


def published(rel):
    d = weights_dir()
    if d is None or not (d / rel).is_file():
        pytest.skip(f"published weights {rel} not available (set INVRESTORE_WEIGHTS)")
    return d / rel


def write_spec_npz(path, convs, *, arch="ffdnet", residual=True, sigma_range=(0.0, 0.3),
                   meta_override=None, extra=None):
    """An .npz written from the format's description alone (not with save_npz)."""
    meta = {"format": "invrestore-denoiser", "version": 1, "arch": arch,
            "config": {"in_channels": 1, "features": convs[0][0].shape[0],
                       "n_layers": len(convs), "residual": residual},
            "sigma_range": list(sigma_range), "provenance": {"by": "test"}}
    meta.update(meta_override or {})
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, (w, b) in enumerate(convs):
        arrays[f"conv{i}.weight"], arrays[f"conv{i}.bias"] = w, b
    arrays.update(extra or {})
    np.savez(path, **arrays)
    return path


def random_convs(chans):
    return [((RNG.standard_normal((chans[i + 1], chans[i], 3, 3)) * 0.2).astype(np.float32),
             (RNG.standard_normal(chans[i + 1]) * 0.05).astype(np.float32))
            for i in range(len(chans) - 1)]


def ffdnet_spec_reference(torch, convs, x, sigma, residual):
    """The ffdnet semantics of the format's specification, as a PyTorch computation."""
    tf = torch.nn.functional
    h, w = x.shape
    t = torch.from_numpy(x)[None, None]
    t = tf.pad(t, (0, w % 2, 0, h % 2), mode="replicate")
    u = tf.pixel_unshuffle(t, 2)
    z = torch.cat([u, torch.full((1, 1, *u.shape[2:]), sigma)], 1)
    for i, (wt, b) in enumerate(convs):
        z = tf.conv2d(z, torch.from_numpy(wt), torch.from_numpy(b), padding=1)
        if i < len(convs) - 1:
            z = torch.relu(z)
    out = u - z if residual else z
    return tf.pixel_shuffle(out, 2)[0, 0, :h, :w].numpy()


@pytest.mark.parametrize("residual", [True, False])
def test_npz_ffdnet_matches_specification(tmp_path, residual):
    torch = pytest.importorskip("torch")
    convs = random_convs([5, 8, 8, 4])
    path = write_spec_npz(tmp_path / "gray.npz", convs, residual=residual)
    net = load(path)
    assert isinstance(net, FFDNet) and net.residual is residual
    assert net.sigma_range == (0.0, 0.3) and net.provenance == {"by": "test"}
    x = RNG.random((15, 22)).astype(np.float32)
    np.testing.assert_allclose(net(x, 0.12), ffdnet_spec_reference(torch, convs, x, 0.12,
                                                                    residual), atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: DnCNN.random(n_layers=3, features=8, rng=0, sigma_range=(0.1, 0.1)),
    lambda: FDnCNN.random(channels=3, n_layers=3, features=8, rng=0),
    lambda: FFDNet.random(channels=3, n_layers=3, features=8, rng=0, residual=True),
    lambda: DRUNet.random(features=(4, 8, 8, 8), n_blocks=1, rng=0),
    lambda: DnCNN.random(n_layers=2, features=4, rng=0),  # sigma_range (0, inf)
])
def test_save_npz_round_trip(tmp_path, make):
    net = make()
    path = tmp_path / "m.npz"
    save_npz(net, path, provenance={"note": "round trip"})
    again = load(path)
    assert type(again) is type(net) and again.config() == net.config()
    assert again.sigma_range == net.sigma_range
    assert again.provenance == {"note": "round trip"}
    x = RNG.random((12, 10) if net.channels == 1 else (12, 10, 3)).astype(np.float32)
    np.testing.assert_array_equal(again(x, 0.1), net(x, 0.1))
    meta, arrays = read_npz(path)
    assert meta["format"] == "invrestore-denoiser" and meta["version"] == 1
    assert all(a.dtype == np.float32 for a in arrays.values())
    with pytest.raises(ValueError, match="holds a"):
        load(path, arch="drunet" if net.arch != "drunet" else "dncnn")
    assert getattr(again, "pnp_lam", None) is None and "pnp_lam" not in meta
    net.pnp_lam = 0.3  # the plug-and-play weight travels with the weights
    save_npz(net, path)
    assert load(path).pnp_lam == 0.3 and read_npz(path)[0]["pnp_lam"] == 0.3


def test_npz_bad_files(tmp_path):
    convs = random_convs([5, 8, 4])
    good = write_spec_npz(tmp_path / "good.npz", convs)
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load(tmp_path / "trunc.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a weights file at all")
    with pytest.raises(ValueError, match="not a recognised weights file"):
        load(tmp_path / "junk.npz")
    np.savez(tmp_path / "nometa.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a recognised|no 'meta'"):
        load(tmp_path / "nometa.npz")
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a recognised"):
        load(tmp_path / "pickled.npy")
    cases = [
        ({"format": "other"}, None, "expected 'invrestore-denoiser'"),
        ({"version": 2}, None, "version 2 is not supported"),
        ({"arch": "resnet"}, None, "unknown architecture"),
        ({"arch": "ffdnet", "config": {"in_channels": 1}}, None, "config must have"),
        (None, {"conv9.weight": np.zeros((4, 4, 3, 3), np.float32)}, "do not match n_layers"),
        ({"arch": "dncnn"}, None, "do not fit architecture 'dncnn'"),
        ({"pnp_lam": -0.2}, None, "pnp_lam must be a positive number"),
        ({"pnp_lam": "0.3"}, None, "pnp_lam must be a positive number"),
    ]
    for i, (override, extra, msg) in enumerate(cases):
        path = write_spec_npz(tmp_path / f"bad{i}.npz", convs, meta_override=override,
                              extra=extra)
        with pytest.raises(ValueError, match=msg):
            load(path)
    wrong_dtype = [(w.astype(np.float64), b) for w, b in convs]
    with pytest.raises(ValueError, match="float64, expected float32"):
        load(write_spec_npz(tmp_path / "f64.npz", wrong_dtype))
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")


def test_shipped_weights_api():
    names = available_shipped()
    assert isinstance(names, list)
    with pytest.raises(FileNotFoundError, match="no shipped weights 'no-such-model'"):
        load_shipped("no-such-model")
    with pytest.raises(ValueError, match="plain file stem"):
        load_shipped("../gray")
    for name in names:
        assert load_shipped(name).channels in (1, 3)


def test_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import invrestore, invrestore.nn\n"
            "from invrestore.nn import DnCNN, load, TorchDenoiser\n"
            "import numpy as np\n"
            "DnCNN.random(n_layers=2, features=4, rng=0)(np.zeros((5, 5)), 0.1)\n"
            "try:\n    TorchDenoiser(None)\nexcept ImportError as e:\n    print('ok', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok") and "needs PyTorch" in out.stdout


# --- the published files ----------------------------------------------------------------------

@pytest.mark.data
@pytest.mark.parametrize(("rel", "cls", "layers", "channels", "sigma_range"), [
    ("dncnn/dncnn_s_sigma25.mat", DnCNN, 17, 1, (25 / 255, 25 / 255)),
    ("dncnn/dncnn_b_gray_blind.mat", DnCNN, 20, 1, (0, 55 / 255)),
    ("dncnn/fdncnn_gray.mat", FDnCNN, 20, 1, (0, 75 / 255)),
    ("ffdnet/ffdnet_gray.mat", FFDNet, 15, 1, (0, 75 / 255)),
    ("ffdnet/ffdnet_color.mat", FFDNet, 12, 3, (0, 75 / 255)),
])
def test_matconvnet_files_denoise(rel, cls, layers, channels, sigma_range):
    net = load(published(rel))
    assert type(net) is cls and net.n_layers == layers and net.channels == channels
    assert net.sigma_range == pytest.approx(sigma_range)
    # a smooth ramp with sigma-25 noise: every model must remove most of it
    h, w = 48, 40
    x = np.linspace(0.2, 0.8, h * w).reshape(h, w)
    if channels == 3:
        x = np.stack([x, x[::-1], 0.5 + 0 * x], axis=2)
    y = x + 25 / 255 * np.random.default_rng(0).standard_normal(x.shape)
    err_in = np.sqrt(np.mean((y - x) ** 2))
    err_out = np.sqrt(np.mean((net(y, 25 / 255) - x) ** 2))
    assert err_out < 0.35 * err_in


@pytest.mark.data
def test_kair_pth_equals_matconvnet_model():
    pytest.importorskip("torch")
    a = load(published("kair/dncnn_25.pth"))
    b = load(published("dncnn/dncnn_s_sigma25.mat"))
    assert a.sigma_range == pytest.approx((25 / 255, 25 / 255))
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])


@pytest.mark.data
def test_matconvnet_errors(tmp_path):
    src = published("dncnn/dncnn_s_sigma25.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(src[:4000])
    with pytest.raises(ValueError, match="unreadable MATLAB v7.3"):
        load(tmp_path / "cut.mat")
    (tmp_path / "ffd.mat").write_bytes(published("ffdnet/ffdnet_gray.mat").read_bytes())
    with pytest.raises(ValueError, match="describe a ffdnet, not a dncnn"):
        load(tmp_path / "ffd.mat", arch="dncnn")
    (tmp_path / "v5.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(ValueError, match="v5 .mat files are not supported"):
        load(tmp_path / "v5.mat")
    net = load(published("ffdnet/ffdnet_gray.mat"))
    with pytest.raises(ValueError, match="gray denoiser but the image has 3 channels"):
        net(np.zeros((8, 8, 3)), 0.1)


def test_pth_bad_files(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a state dict"):
        load(tmp_path / "list.pth")
    torch.save({"model.0.weight": torch.zeros(5, 2, 3, 3)}, tmp_path / "odd.pth")
    with pytest.raises(ValueError, match="unrecognised stack"):
        load(tmp_path / "odd.pth")
    torch.save({"model.0.weight": torch.zeros(4, 1, 3, 3), "model.1.weight": torch.zeros(1, 4, 3, 3),
                "head.x": torch.zeros(1)}, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match="unexpected entry 'head.x'"):
        load(tmp_path / "extra.pth")
    data = (tmp_path / "list.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load(tmp_path / "cut.pth")
    wrapped = {"params": {"model.0.weight": torch.zeros(4, 1, 3, 3),
                          "model.2.weight": torch.zeros(1, 4, 3, 3)}}
    torch.save(wrapped, tmp_path / "wrapped.pth")
    net = load(tmp_path / "wrapped.pth")
    assert net.arch == "dncnn" and net.n_layers == 2
