"""invrestore.io: round trips, bit depths, atomic writes, clear errors."""

import os
import pickle
import stat
import struct

import numpy as np
import pytest

from invrestore import io as rio
from invrestore.io import ImageArray, imread, imwrite, write_bytes

RNG = np.random.default_rng(0)


def quantised(shape, bits):
    top = 2 ** bits - 1
    return np.rint(RNG.random(shape) * top) / top


def stored_dtype(path):
    """The sample type actually in the file, read without invrestore."""
    if path.suffix == ".png":
        depth = struct.unpack(">B", path.read_bytes()[24:25])[0]
        return {8: np.uint8, 16: np.uint16}[depth]
    import tifffile

    return tifffile.imread(path).dtype.type


@pytest.mark.parametrize("shape", [(9, 7), (9, 7, 3)])
@pytest.mark.parametrize("suffix,bits", [(".png", 8), (".png", 16), (".tif", 8),
                                         (".tif", 16), (".bmp", 8)])
def test_integer_round_trip_is_exact(tmp_path, shape, suffix, bits):
    x = quantised(shape, bits)
    path = tmp_path / f"x{suffix}"
    imwrite(path, x, bit_depth=bits)
    if suffix != ".bmp":
        assert stored_dtype(path) == {8: np.uint8, 16: np.uint16}[bits]
    y = imread(path)
    assert isinstance(y, ImageArray) and y.bit_depth == bits
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y, x, atol=1e-6)
    assert imread(path, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 3)])
def test_float_tiff_keeps_values_as_stored(tmp_path, shape):
    x = RNG.random(shape) * 1.4 - 0.2  # float TIFF is not clipped
    path = tmp_path / "x.tiff"
    imwrite(path, x)  # default for TIFF: float32
    assert stored_dtype(path) == np.float32
    y = imread(path)
    assert y.bit_depth == 32 and y.dtype == np.float32
    np.testing.assert_array_equal(y, x.astype(np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npy_round_trip_keeps_dtype_and_values(tmp_path, dtype):
    x = (RNG.random((5, 4, 2)) * 2 - 0.5).astype(dtype)
    path = tmp_path / "x.npy"
    imwrite(path, x)
    y = imread(path)
    assert y.dtype == dtype and y.bit_depth is None
    np.testing.assert_array_equal(y, x)


def test_bit_depth_is_written_back(tmp_path):
    imwrite(tmp_path / "a.png", quantised((8, 8, 3), 16), bit_depth=16)
    x = imread(tmp_path / "a.png")
    brighter = np.clip(x * 1.1, 0, 1)  # derived arrays keep the depth
    assert brighter.bit_depth == 16
    imwrite(tmp_path / "b.png", brighter)
    imwrite(tmp_path / "c.tif", x[1:, 1:])
    assert stored_dtype(tmp_path / "b.png") == np.uint16
    assert stored_dtype(tmp_path / "c.tif") == np.uint16
    imwrite(tmp_path / "d.png", np.zeros((4, 4)))  # plain arrays: 8-bit PNG
    assert stored_dtype(tmp_path / "d.png") == np.uint8
    imwrite(tmp_path / "e.png", imread(tmp_path / "c.tif").astype(np.float64) * 0 +
            imread(tmp_path / "b.png")[1:, 1:])
    assert stored_dtype(tmp_path / "e.png") == np.uint16


def test_image_array_behaves_like_an_array():
    x = np.ones((4, 4)).view(ImageArray)
    x.bit_depth = 16
    assert type(x.mean()) is np.float64 and float(x.sum()) == 16.0
    assert pickle.loads(pickle.dumps(x)).bit_depth == 16
    assert type(np.asarray(x)) is np.ndarray


def test_integer_formats_clip_and_round(tmp_path):
    x = np.array([[-0.5, 0.0, 0.4 / 255, 0.6 / 255, 1.0, 1.5]])
    imwrite(tmp_path / "x.png", x)
    import imageio.v3 as iio

    assert iio.imread(tmp_path / "x.png").tolist() == [[0, 0, 0, 1, 255, 255]]


def test_jpeg_is_close(tmp_path):
    x = np.tile(np.linspace(0, 1, 32), (32, 1))
    imwrite(tmp_path / "x.jpg", x)
    y = imread(tmp_path / "x.jpg")
    assert y.bit_depth == 8 and np.abs(y - x).max() < 0.05


def test_alpha_is_dropped(tmp_path):
    x = quantised((5, 6, 4), 8)
    imwrite(tmp_path / "x.png", x)
    np.testing.assert_allclose(imread(tmp_path / "x.png"), x[..., :3], atol=1e-6)


def test_png16_colour_keeps_all_16_bits(tmp_path):
    a = (RNG.random((6, 5, 3)) * 65535).astype(np.uint16)
    a[0, 0] = [1, 257, 65535]  # low bytes a reader dropping to 8 bits would lose
    imwrite(tmp_path / "c.png", a / 65535.0, bit_depth=16)
    back = imread(tmp_path / "c.png")
    assert back.bit_depth == 16
    np.testing.assert_array_equal(np.rint(np.asarray(back) * 65535).astype(np.uint16), a)


def test_png16_interoperates_with_pillow(tmp_path):
    import imageio.v3 as iio

    g = (RNG.random((13, 11)) * 65535).astype(np.uint16)
    imwrite(tmp_path / "g.png", g / 65535.0, bit_depth=16)
    np.testing.assert_array_equal(iio.imread(tmp_path / "g.png"), g)
    iio.imwrite(tmp_path / "p.png", g)
    np.testing.assert_array_equal(np.rint(np.asarray(imread(tmp_path / "p.png")) * 65535), g)


def test_no_overwrite_without_force(tmp_path):
    path = tmp_path / "x.png"
    imwrite(path, np.zeros((4, 4)))
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="x.png"):
        imwrite(path, np.ones((4, 4)))
    assert path.read_bytes() == before
    imwrite(path, np.ones((4, 4)), force=True)
    assert float(imread(path).min()) == 1.0
    with pytest.raises(FileExistsError, match="x.png"):
        write_bytes(path, b"data")


def test_new_files_follow_the_umask(tmp_path):
    mask = os.umask(0o022)
    try:
        imwrite(tmp_path / "x.png", np.zeros((4, 4)))
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "x.png").st_mode) == 0o644


@pytest.mark.parametrize("fail", ["link", "replace"])
def test_failed_write_leaves_nothing(tmp_path, monkeypatch, fail):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(rio.os, "replace", boom)
    if fail == "link":  # the no-overwrite path links, falling back to replace
        monkeypatch.setattr(rio.os, "link", boom)
    with pytest.raises(OSError, match="disk full"):
        imwrite(tmp_path / "x.png", np.zeros((4, 4)), force=fail == "replace")
    assert list(tmp_path.iterdir()) == []


def test_failed_encoding_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="5 channels"):
        imwrite(tmp_path / "x.png", np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="NaN|finite"):
        imwrite(tmp_path / "x.tif", np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="bit_depth=16"):
        imwrite(tmp_path / "x.bmp", np.zeros((4, 4)), bit_depth=16)
    with pytest.raises(ValueError, match="bit_depth"):
        imwrite(tmp_path / "x.png", np.zeros((4, 4)), bit_depth=12)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix,content", [
    (".png", b"not an image"),
    (".png", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\x00" * 6),
    (".tif", b"II*\x00garbage"),
    (".npy", b"\x93NUMPY garbage"),
    (".jpg", b"\xff\xd8\xff garbage"),
])
def test_corrupt_file_is_a_value_error_naming_the_path(tmp_path, suffix, content):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"broken\\{suffix}"):
        imread(path)


def test_damaged_png16_is_detected(tmp_path):
    imwrite(tmp_path / "x.png", np.zeros((8, 8, 3)), bit_depth=16)
    data = bytearray((tmp_path / "x.png").read_bytes())
    data[45] ^= 0xFF  # inside the IDAT chunk: its CRC no longer matches
    (tmp_path / "x.png").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="x.png"):
        imread(tmp_path / "x.png")


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        imread(tmp_path / "nope.png")
    with pytest.raises(ValueError, match="'.gif'"):
        imread(tmp_path / "x.gif")
    with pytest.raises(ValueError, match="'.gif'"):
        imwrite(tmp_path / "x.gif", np.zeros((4, 4)))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imwrite(tmp_path / "sub" / "x.png", np.zeros((4, 4)))
    (tmp_path / "cube.npy").write_bytes(b"")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="cube.npy"):
        imread(tmp_path / "cube.npy")
