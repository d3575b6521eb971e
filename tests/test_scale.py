"""invrestore.scale: tiles against whole images, local forward models, Dask, batches, CLI."""

import os
import sys

import numpy as np
import pytest

from invrestore import denoise, restore
from invrestore.cli import main
from invrestore.denoisers import NLMDenoiser
from invrestore.io import imread, imwrite
from invrestore.operators import Blur, Downsample, Identity, Mask
from invrestore.scale import (
    default_overlap,
    denoise_tiled,
    estimate_memory,
    plan_tiles,
    receptive_radius,
    restore_many,
    restore_tiled,
)
from invrestore.scale._tv_exact import core_records
from invrestore.scale.locality import check_tileable, localize


def _image(shape, seed=0, sigma=0.1):
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    x = 0.5 + 0.3 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + 0.2 * (xx > w // 2)
    if len(shape) == 3:
        x = np.stack([x, x[::-1], x[:, ::-1]][:shape[2]], axis=-1)
    return x + sigma * rng.standard_normal(x.shape)


# -- tiles ---------------------------------------------------------------------------------

def test_plan_tiles_cover_each_pixel_once():
    shape = (100, 77)
    cover = np.zeros(shape, int)
    for t in plan_tiles(shape, 32, 9):
        (r0, r1), (c0, c1) = t.core
        cover[r0:r1, c0:c1] += 1
        (a0, a1), (b0, b1) = t.window
        assert (a0, a1) == (max(0, r0 - 9), min(100, r1 + 9))
        assert (b0, b1) == (max(0, c0 - 9), min(77, c1 + 9))
        (i0, i1), (j0, j1) = t.inner
        assert (i1 - i0, j1 - j0) == (r1 - r0, c1 - c0)
    assert (cover == 1).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_tv_is_the_whole_image_tv(dtype):
    y = _image((150, 170)).astype(dtype)
    ref = denoise(y, 0.1, method="tv")
    out = denoise_tiled(y, 0.1, method="tv", tile=48)
    assert out.dtype == ref.dtype
    assert np.abs(out - ref).max() < 1e-6


def test_tiled_tv_colour_and_anisotropic():
    y = _image((90, 100, 3), seed=1)
    for method in ("tv", "tv_aniso"):
        ref = denoise(y, 0.1, method=method)
        assert np.abs(denoise_tiled(y, 0.1, method=method, tile=40) - ref).max() < 1e-6


def test_tiled_tv_records_agree_between_implementations():
    y = _image((60, 70))
    core = ((10, 50), (12, 60))
    a = core_records(y, 0.05, isotropic=True, max_iter=40, core=core, stop_tol=0.0,
                     impl="numba")
    b = core_records(y, 0.05, isotropic=True, max_iter=40, core=core, stop_tol=0.0, impl="xp")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-8)


@pytest.mark.parametrize("shape,spin", [((128, 96), 0), ((101, 133), 2)])
def test_tiled_wavelet_is_exact(shape, spin):
    y = _image(shape, seed=2)
    ref = denoise(y, 0.1, method="wavelet", cycle_spin=spin)
    out = denoise_tiled(y, 0.1, method="wavelet", cycle_spin=spin, tile=40)
    assert np.abs(out - ref).max() < 1e-10


def box_denoiser(x, sigma):
    """A 5x5 mean filter with reflective borders: a local denoiser of radius 2."""
    from scipy import ndimage

    size = (5, 5) + (1,) * (x.ndim - 2)
    return ndimage.uniform_filter(x, size=size, mode="reflect")


box_denoiser.receptive_field = 2


def test_tiled_local_denoiser_uses_its_receptive_field():
    y = _image((80, 90, 3), seed=3)
    assert receptive_radius(box_denoiser) == 2
    out = denoise_tiled(y, 0.1, method=box_denoiser, tile=16)
    assert np.abs(out - box_denoiser(y, 0.1)).max() < 1e-12
    # too little overlap shows at the tile seams
    bad = denoise_tiled(y, 0.1, method=box_denoiser, tile=16, overlap=1)
    assert np.abs(bad - box_denoiser(y, 0.1)).max() > 1e-3


def test_tiled_nlm_is_exact():
    y = _image((70, 64), seed=4)
    nlm = NLMDenoiser(patch_size=3, patch_distance=4)
    assert receptive_radius(nlm) == 5
    np.testing.assert_allclose(denoise_tiled(y, 0.1, method=nlm, tile=24), nlm(y, 0.1),
                               atol=1e-10)


def test_unknown_denoiser_warns_and_uses_default_margin():
    with pytest.warns(UserWarning, match="receptive field"):
        assert default_overlap(lambda x, s: x) == 64


def test_tiled_reads_and_writes_memory_maps(tmp_path):
    y = _image((96, 80)).astype(np.float32)
    src = np.lib.format.open_memmap(tmp_path / "y.npy", mode="w+", dtype=np.float32,
                                    shape=y.shape)
    src[:] = y
    dst = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32,
                                    shape=y.shape)
    out = denoise_tiled(src, 0.1, method="tv", tile=48, overlap=24, out=dst)
    assert out is dst
    assert np.abs(np.asarray(dst) - denoise(y, 0.1, method="tv")).max() < 1e-4


def test_estimate_memory_counts_image_and_windows():
    est = estimate_memory((1000, 1200), dtype=np.float32, tile=256, overlap=32, method="tv")
    assert est.n_tiles == 4 * 5 and est.window == (320, 320)
    assert est.image == 2 * 1000 * 1200 * 4
    assert est.per_tile == 320 * 320 * 4 * 14
    assert "GB" in str(est)


# -- local forward models ------------------------------------------------------------------

def _interior_box():
    return ((20, 70), (15, 60))


@pytest.mark.parametrize("make", [
    lambda s: Identity(s),
    lambda s: Mask(np.random.default_rng(0).random(s) > 0.4),
    lambda s: Blur(np.arange(12.0).reshape(3, 4) / 66, s, boundary="zero"),
    lambda s: Blur(np.arange(12.0).reshape(3, 4) / 66, s, boundary="valid"),
    lambda s: Downsample(3, Blur(np.ones((3, 5)) / 15, s, boundary="valid").out_shape,
                         offset=1) @ Blur(np.ones((3, 5)) / 15, s, boundary="valid"),
    lambda s: 2.0 * Mask(np.random.default_rng(1).random((90, 80)) > 0.3)
    @ Blur(np.ones((5, 5)) / 25, s, boundary="zero"),
])
@pytest.mark.parametrize("box", [((20, 70), (15, 60)), ((0, 50), (30, 80)), ((0, 90), (0, 80))])
def test_localize_restricts_exactly(make, box):
    shape = (90, 80)
    H = make(shape)
    x = np.random.default_rng(5).random(shape)
    local, ((a, b), (c, d)) = localize(H, box)
    (r0, r1), (c0, c1) = box
    np.testing.assert_allclose(local @ x[r0:r1, c0:c1], (H @ x)[a:b, c:d], atol=1e-12)


def test_localize_reflect_blur_is_exact_on_the_image_border():
    shape = (60, 50)
    H = Blur(np.ones((5, 5)) / 25, shape, boundary="reflect")
    x = np.random.default_rng(6).random(shape)
    local, ybox = localize(H, ((0, 30), (10, 50)))
    assert ybox == ((0, 30), (10, 50))
    got = local @ x[0:30, 10:50]
    want = (H @ x)[0:30, 10:50]
    # rows 0.. and the right border are the image's; the inner sides see a mirror
    np.testing.assert_allclose(got[:28, 2:], want[:28, 2:], atol=1e-12)
    assert local.exact_solve


def test_circular_blur_and_sums_are_refused():
    with pytest.raises(ValueError, match="circular"):
        check_tileable(Blur(np.ones((3, 3)) / 9, (32, 32)))
    with pytest.raises(TypeError, match="cannot be tiled"):
        check_tileable(Identity((8, 8)) + Identity((8, 8)))
    y = np.zeros((32, 32))
    with pytest.raises(ValueError, match="circular"):
        restore_tiled(y, Blur(np.ones((3, 3)) / 9, (32, 32)), tile=16)
    with pytest.raises(TypeError, match="full_output"):
        restore_tiled(y, Identity((32, 32)), tile=16, full_output=True)


def test_restore_tiled_agrees_with_restore():
    rng = np.random.default_rng(7)
    x = _image((64, 72), sigma=0.0)
    H = Blur(np.ones((3, 3)) / 9, x.shape, boundary="reflect")
    y = H @ x + 0.01 * rng.standard_normal(x.shape)
    kw = {"sigma": 0.01, "tol": 1e-5, "max_iter": 150}
    a = restore_tiled(y, H, "tv", tile=32, **kw)
    b = restore(y, H, prior="tv", lam=None, **kw)  # tiles use the fixed default weight
    assert np.abs(a - b).max() < 5e-3
    assert np.abs(a - x).mean() < np.abs(y - x).mean()


def test_restore_tiled_valid_blur_shapes():
    rng = np.random.default_rng(8)
    x = _image((50, 60), sigma=0.0)
    H = Blur(np.ones((3, 5)) / 15, x.shape, boundary="valid")
    y = H @ x + 0.01 * rng.standard_normal(H.out_shape)
    out = restore_tiled(y, H, "tv", sigma=0.01, tile=32, tol=1e-5, max_iter=150)
    assert out.shape == x.shape
    assert np.abs(out - restore(y, H, prior="tv", sigma=0.01, tol=1e-5, lam=None,
                                max_iter=150)).max() < 1e-2
    with pytest.raises(ValueError, match="different weight in every tile"):
        restore_tiled(y, H, "tv", sigma=0.01, tile=32, lam="gsure")


# -- Dask ----------------------------------------------------------------------------------

def test_missing_dask_names_the_extra(monkeypatch):
    from invrestore.scale import dask_array

    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"invrestore\[dask\]"):
        dask_array.require_dask()


def test_denoise_dask_matches_tiles():
    da = pytest.importorskip("dask.array")
    from invrestore.scale import denoise_dask

    y = _image((96, 112), seed=9)
    for method in ("tv", "wavelet"):
        got = denoise_dask(da.from_array(y, chunks=48), 0.1, method=method).compute()
        assert np.abs(got - denoise(y, 0.1, method=method)).max() < 1e-6


def test_restore_dask_matches_restore_tiled():
    da = pytest.importorskip("dask.array")
    from invrestore.scale import restore_dask

    rng = np.random.default_rng(10)
    x = _image((64, 64), sigma=0.0)
    H = Mask(rng.random(x.shape) > 0.4) @ Blur(np.ones((3, 3)) / 9, x.shape, boundary="zero")
    y = H @ x + 0.01 * rng.standard_normal(x.shape)
    a = restore_tiled(y, H, "tv", sigma=0.01, tile=32, overlap=12)
    b = restore_dask(da.from_array(y, chunks=32), H, "tv", sigma=0.01, overlap=12).compute()
    # the same windows and problems; reductions on other thread counts may round differently
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="keeps the image shape"):
        restore_dask(da.from_array(y[:62, :62], chunks=32),
                     Blur(np.ones((3, 3)) / 9, (64, 64), boundary="valid"))


@pytest.fixture(scope="module")
def cluster_client():
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       host="127.0.0.1", dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_distributed_equals_local(cluster_client):
    import dask.array as da

    from invrestore.scale import denoise_dask, restore_dask

    y = _image((96, 96), seed=11)
    lazy = denoise_dask(da.from_array(y, chunks=48), 0.1, method="tv")
    remote = cluster_client.compute(lazy).result()
    np.testing.assert_allclose(remote, lazy.compute(scheduler="sync"), rtol=0, atol=1e-12)
    H = Mask(np.random.default_rng(12).random(y.shape) > 0.3)
    lazy = restore_dask(da.from_array(y, chunks=48), H, "tv", sigma=0.1, overlap=8)
    np.testing.assert_allclose(cluster_client.compute(lazy).result(),
                               lazy.compute(scheduler="sync"), rtol=0, atol=1e-12)


# -- batches -------------------------------------------------------------------------------

def _batch_folder(folder, n_good=5):
    folder.mkdir()
    rng = np.random.default_rng(13)
    for i in range(n_good):
        imwrite(folder / f"img{i}.png", np.clip(_image((40, 48), seed=i), 0, 1),
                bit_depth=16 if i % 2 else 8)
    (folder / "bad0.png").write_bytes(b"not a png")
    (folder / "bad1.tif").write_bytes(b"II*\x00broken")
    (folder / "bad2.npy").write_bytes(bytes(rng.integers(0, 256, 64, dtype=np.uint8)))
    return folder


def test_restore_many_reports_failures_and_resumes(tmp_path):
    src = _batch_folder(tmp_path / "in")
    out = tmp_path / "out"
    rep = restore_many(src, out, method="tv", sigma=0.05, workers=1)
    assert len(rep.done) == 5 and len(rep.failed) == 3 and not rep.ok
    assert sorted(os.path.basename(p) for p, _ in rep.failed) == ["bad0.png", "bad1.tif",
                                                                 "bad2.npy"]
    assert sorted(os.listdir(out)) == [f"img{i}.png" for i in range(5)]
    x = imread(out / "img1.png")
    assert x.bit_depth == 16
    np.testing.assert_allclose(x, np.clip(denoise(imread(src / "img1.png"), 0.05), 0, 1),
                               atol=1 / 65535)
    again = restore_many(src, out, method="tv", sigma=0.05, workers=1)
    assert len(again.skipped) == 5 and not again.done and len(again.failed) == 3
    assert "5 skipped" in again.summary()


def test_restore_many_processes_and_cluster_agree(tmp_path, cluster_client):
    src = _batch_folder(tmp_path / "in", n_good=4)
    a = restore_many(src, tmp_path / "local", method="tv", sigma=0.05, workers=2)
    b = restore_many(src, tmp_path / "dask", method="tv", sigma=0.05, client=cluster_client)
    assert len(a.done) == len(b.done) == 4 and len(a.failed) == len(b.failed) == 3
    for i in range(4):
        np.testing.assert_array_equal(imread(tmp_path / "local" / f"img{i}.png"),
                                      imread(tmp_path / "dask" / f"img{i}.png"))


def test_cli_batch(tmp_path, capsys):
    src = _batch_folder(tmp_path / "in")
    out = tmp_path / "out"
    args = ["batch", str(src), str(out), "--sigma", "0.05", "--workers", "1", "--no-progress"]
    assert main(args) == 0
    text = capsys.readouterr()
    assert "5 restored" in text.out and "3 failed" in text.out
    assert text.err.count("failed: ") == 3
    assert main(args + ["--strict"]) == 1
    assert "0 restored, 5 skipped" in capsys.readouterr().out
    assert main(args + ["--force", "--suffix", ".tif", "--blur", "gaussian:1.0",
                        "--boundary", "reflect", "--tile", "32"]) == 0
    assert len(list(out.glob("*.tif"))) == 5
    assert main(["batch", str(tmp_path / "nope"), str(out)]) == 2
    assert main(["batch", str(src), str(out), "--blur", "gaussian:1.0", "--tile", "32"]) == 2


def test_cli_batch_on_a_scheduler(tmp_path, cluster_client, capsys):
    src = _batch_folder(tmp_path / "in", n_good=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".img0.png.0123abcd.tmp").write_bytes(b"left by an interrupted write")
    args = ["batch", str(src), str(out), "--sigma", "0.05", "--no-progress",
            "--scheduler", cluster_client.scheduler.address]
    assert main(args + ["--strict"]) == 1
    text = capsys.readouterr().out
    assert "3 restored" in text and "3 failed" in text and "Dask workers" in text
    assert sorted(p.name for p in out.glob("*.png")) == ["img0.png", "img1.png", "img2.png"]
