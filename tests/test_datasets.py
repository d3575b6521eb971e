import numpy as np
import pytest

from invrestore import datasets


def test_data_dir_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(tmp_path))
    assert datasets.data_dir() == tmp_path.resolve()
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(tmp_path / "missing"))
    assert datasets.data_dir() is None
    with pytest.raises(FileNotFoundError, match=datasets.DATA_ENV_VAR):
        datasets.data_dir(required=True)


def test_data_dir_search_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.DATA_ENV_VAR, raising=False)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert datasets.data_dir() == (tmp_path / "shared" / "data").resolve()


def test_list_images_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="set_name"):
        datasets.list_images("Set99")
    monkeypatch.setenv(datasets.DATA_ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError, match="Set5"):
        datasets.list_images("set5")


def test_load_image_roundtrip_and_errors(tmp_path):
    import imageio.v3 as iio

    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", rgb)
    x = datasets.load_image(tmp_path / "a.png")
    assert x.dtype == np.float64 and x.shape == (6, 5, 3)
    np.testing.assert_allclose(x, rgb / 255.0)
    g = datasets.load_image(tmp_path / "a.png", gray=True, dtype=np.float32)
    assert g.dtype == np.float32 and g.shape == (6, 5)
    np.testing.assert_allclose(g, rgb @ [0.298936021293775, 0.587043074451121, 0.114020904255103]
                               / 255, rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="b.png"):
        datasets.load_image(tmp_path / "b.png")


DATA = datasets.data_dir()


@pytest.mark.data
@pytest.mark.skipif(DATA is None, reason="test data folder not found")
@pytest.mark.parametrize("name, count", [("Set12", 12), ("BSD68", 68), ("CBSD68", 68),
                                         ("Set5", 5), ("Set14", 14), ("Train400", 400),
                                         ("Levin09", 4)])
def test_list_images_real_sets(name, count):
    try:
        paths = datasets.list_images(name)
    except FileNotFoundError:
        pytest.skip(f"{name} not installed")
    assert len(paths) == count and paths == sorted(paths)


@pytest.mark.data
@pytest.mark.skipif(DATA is None, reason="test data folder not found")
def test_load_image_real():
    x = datasets.load_image(datasets.list_images("Set12")[0])
    assert x.dtype == np.float64 and x.shape == (256, 256) and 0 <= x.min() and x.max() <= 1
