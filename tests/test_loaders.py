import numpy as np
import pytest
import scipy.io

from invrestore import datasets
from invrestore.degradations import (
    load_kernel,
    load_kernels12,
    load_levin_kernels,
    motion_kernel,
)

DATA = datasets.data_dir()
needs_data = pytest.mark.skipif(DATA is None, reason="test data folder not found")


def _require(path):
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.mark.data
@needs_data
def test_levin_kernels():
    _require(DATA / "kernels" / "Levin09.mat")
    ks = load_levin_kernels()
    assert len(ks) == 8
    assert [k.shape for k in ks] == [(n, n) for n in (19, 17, 15, 27, 13, 21, 23, 23)]
    for k in ks:
        assert k.dtype == np.float64
        assert abs(k.sum() - 1) < 1e-12
        assert k.min() >= 0


@pytest.mark.data
@needs_data
def test_levin_kernels_orientation_matches_png():
    # the README: the PNG copies equal the .mat kernels, except kernels 4 and 8, which are
    # rotated by 180 degrees; an untransposed read would not match
    ks = load_levin_kernels(_require(DATA / "kernels" / "Levin09.mat"))
    for i, k in enumerate(ks, start=1):
        png = load_kernel(_require(DATA / "Levin09" / "kernels_png" / f"kernel{i}.png"))
        expected = np.rot90(k, 2) if i in (4, 8) else k
        # the PNGs are 8-bit quantised
        assert np.abs(png / png.max() - expected / expected.max()).max() < 3 / 255


@pytest.mark.data
@needs_data
def test_kernels12():
    _require(DATA / "kernels" / "kernels_12.mat")
    ks = load_kernels12()
    assert len(ks) == 12
    for k in ks:
        assert k.shape == (25, 25) and k.dtype == np.float64
        assert abs(k.sum() - 1) < 1e-12
    # the first 4 are isotropic Gaussians: symmetric under transposition
    for k in ks[:4]:
        np.testing.assert_allclose(k, k.T, atol=1e-7)


def test_missing_files_name_the_path(tmp_path):
    missing = tmp_path / "nope.mat"
    for fn in (load_levin_kernels, load_kernels12, load_kernel):
        with pytest.raises(FileNotFoundError, match="nope.mat"):
            fn(missing)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # imageio probing legacy plugins
def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="bad.mat"):
        load_levin_kernels(bad)
    with pytest.raises(ValueError, match="bad.mat"):
        load_kernel(bad)
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="bad.png"):
        load_kernel(bad_png)
    other = tmp_path / "k.txt"
    other.write_text("1 2 3")
    with pytest.raises(ValueError, match="unsupported"):
        load_kernel(other)


def test_wrong_mat_content(tmp_path):
    path = tmp_path / "few.mat"
    cell = np.empty((1, 3), dtype=object)
    for i in range(3):
        cell[0, i] = np.ones((3, 3))
    scipy.io.savemat(path, {"kernels": cell})
    with pytest.raises(ValueError, match="expected 12 kernels, found 3"):
        load_kernels12(path)
    path2 = tmp_path / "novar.mat"
    scipy.io.savemat(path2, {"k": np.ones((3, 3))})
    with pytest.raises(ValueError, match="'kernels'"):
        load_levin_kernels(path2)


def test_load_kernel_npy_mat_png(tmp_path):
    import imageio.v3 as iio

    k = motion_kernel(7, 30)
    np.save(tmp_path / "k.npy", k * 3)
    np.testing.assert_allclose(load_kernel(tmp_path / "k.npy"), k, rtol=1e-12)
    np.testing.assert_allclose(load_kernel(tmp_path / "k.npy", normalize=False), 3 * k)

    scipy.io.savemat(tmp_path / "k.mat", {"psf": k})
    np.testing.assert_allclose(load_kernel(tmp_path / "k.mat"), k, rtol=1e-12)
    scipy.io.savemat(tmp_path / "two.mat", {"a": k, "b": k.T})
    with pytest.raises(ValueError, match="exactly one"):
        load_kernel(tmp_path / "two.mat")
    np.testing.assert_allclose(load_kernel(tmp_path / "two.mat", variable="b"), k.T, rtol=1e-12)

    u8 = np.round(k / k.max() * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "k.png", u8)
    got = load_kernel(tmp_path / "k.png")
    assert got.dtype == np.float64 and got.shape == k.shape
    np.testing.assert_allclose(got, u8 / u8.sum(), rtol=1e-12)

    np.save(tmp_path / "bad.npy", np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="2-D"):
        load_kernel(tmp_path / "bad.npy")
    np.save(tmp_path / "zero.npy", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sum"):
        load_kernel(tmp_path / "zero.npy")


def test_hdf5_mat_cell_is_transposed(tmp_path):
    # a hand-made MATLAB v7.3-like file: a cell of references to column-major datasets
    h5py = pytest.importorskip("h5py")
    kernels = [np.arange(6.0).reshape(2, 3) + 1, np.arange(12.0).reshape(3, 4) + 1]
    path = tmp_path / "cell.mat"
    with h5py.File(path, "w") as f:
        refs = []
        for i, k in enumerate(kernels):
            refs.append(f.create_dataset(f"#refs#/{i}", data=k.T).ref)
        f.create_dataset("kernels", data=np.array(refs, dtype=h5py.ref_dtype).reshape(2, 1))
        f.create_dataset("psf", data=kernels[1].T)
    from invrestore.degradations.loaders import read_mat

    variables = read_mat(path)
    assert sorted(variables) == ["kernels", "psf"]
    for got, k in zip(variables["kernels"], kernels):
        np.testing.assert_array_equal(got, k)
    np.testing.assert_array_equal(load_kernel(path, variable="psf", normalize=False), kernels[1])
