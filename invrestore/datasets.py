"""Standard test data: where it lives, how to list it, how to read an image.

The benchmark images and kernels (Set12, BSD68, CBSD68, Set5, Set14, Train400, Levin09 and the
KAIR kernel files) are not shipped with the package. :func:`data_dir` finds the folder that holds
them: the environment variable ``INVRESTORE_DATA`` when set, otherwise a ``shared/data`` folder
next to the working directory or next to the source tree.

Examples
--------
>>> from invrestore import datasets
>>> root = datasets.data_dir()          # None where the data is not installed
>>> x = datasets.load_image(datasets.list_images("Set12")[0])  # doctest: +SKIP
>>> x.dtype, x.shape  # doctest: +SKIP
(dtype('float64'), (256, 256))
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .backend import as_float_image

__all__ = ["DATA_ENV_VAR", "IMAGE_SETS", "data_dir", "list_images", "load_image", "read_image"]

DATA_ENV_VAR = "INVRESTORE_DATA"

#: Image sets known to :func:`list_images`: name -> sub-folder of :func:`data_dir`.
IMAGE_SETS = {
    "Set12": "Set12",
    "BSD68": "BSD68",
    "CBSD68": "CBSD68",
    "Set5": "Set5",
    "Set14": "Set14",
    "Train400": "Train400",
    "Levin09": "Levin09/sharp",
}

_IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"}

# MATLAB rgb2gray weights (the Rec.601 luma, as rgb2gray rounds them); BSD68 is CBSD68 through them.
_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def _candidates():
    repo_root = Path(__file__).resolve().parent.parent
    return [Path.cwd().parent / "shared" / "data", repo_root.parent / "shared" / "data"]


def data_dir(required: bool = False):
    """Folder of the standard test data, or None where it cannot be found.

    Parameters
    ----------
    required : bool
        Raise :class:`FileNotFoundError` instead of returning None.

    Returns
    -------
    pathlib.Path or None
        ``$INVRESTORE_DATA`` when that variable is set (and only then: a variable pointing to
        a missing folder is an error, not a reason to look elsewhere); otherwise the first
        existing folder among ``<cwd>/../shared/data`` and ``<repo root>/../shared/data``.

    Examples
    --------
    >>> from invrestore.datasets import data_dir
    >>> path = data_dir()
    """
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path.resolve()
        if required:
            raise FileNotFoundError(f"{DATA_ENV_VAR}={env!r} is not an existing folder")
        return None
    for path in _candidates():
        if path.is_dir():
            return path.resolve()
    if required:
        tried = ", ".join(str(p) for p in _candidates())
        raise FileNotFoundError(
            f"invrestore test data not found (tried {tried}); set the {DATA_ENV_VAR} "
            "environment variable to the folder holding Set12/, Set5/, kernels/, ...")
    return None


def list_images(set_name: str):
    """Sorted paths of the images of a standard set.

    Parameters
    ----------
    set_name : str
        One of ``"Set12"``, ``"BSD68"``, ``"CBSD68"``, ``"Set5"``, ``"Set14"``,
        ``"Train400"``, ``"Levin09"`` (the 4 sharp images). Case-insensitive.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    ValueError
        Unknown set name.
    FileNotFoundError
        Data folder or set folder missing.

    Examples
    --------
    >>> from invrestore.datasets import list_images
    >>> [p.name for p in list_images("Set5")][:2]  # doctest: +SKIP
    ['baby_GT.bmp', 'bird_GT.bmp']
    """
    if not isinstance(set_name, str):
        raise TypeError(f"set_name must be a string, got {type(set_name).__name__}")
    by_lower = {k.lower(): k for k in IMAGE_SETS}
    key = by_lower.get(set_name.lower())
    if key is None:
        raise ValueError(f"set_name must be one of {sorted(IMAGE_SETS)}, got {set_name!r}")
    folder = data_dir(required=True) / IMAGE_SETS[key]
    if not folder.is_dir():
        raise FileNotFoundError(f"image set {key!r} not found: {folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"image set {key!r}: no image files in {folder}")
    return paths


def read_image(path):
    """Read an image file as stored (uint8 stays uint8), dropping any alpha channel.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    numpy.ndarray
        (H, W) or (H, W, C) array in the file's dtype.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file cannot be decoded as an image.
    """
    import imageio.v3 as iio  # noqa: PLC0415 (imageio import is slow; only when reading)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        img = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises many types for undecodable files
        raise ValueError(f"cannot read image file {path}: {exc}") from exc
    if img.ndim == 3 and img.shape[-1] in (2, 4):
        img = img[..., :-1]  # drop alpha
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or img.size == 0:
        raise ValueError(f"{path} is not a 2-D gray or colour image (shape {img.shape})")
    return img


def load_image(path, *, dtype=np.float64, gray=False):
    """Read an image file as a float image with intensities in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
        PNG, BMP, TIFF, JPEG, ... (anything imageio reads).
    dtype : {numpy.float64, numpy.float32}
        Output dtype.
    gray : bool
        Convert colour images to gray with MATLAB ``rgb2gray`` weights.

    Returns
    -------
    numpy.ndarray
        (H, W) for gray files (or ``gray=True``), (H, W, C) otherwise.

    Notes
    -----
    Integer files are scaled like :func:`skimage.util.img_as_float`: ``x = I / max(dtype)``
    (``I / 255`` for uint8). The gray conversion is
    ``0.298936 R + 0.587043 G + 0.114021 B``, computed after scaling to [0, 1] (no rounding).

    Examples
    --------
    >>> from invrestore.datasets import load_image, list_images
    >>> load_image(list_images("CBSD68")[0], gray=True).ndim  # doctest: +SKIP
    2
    """
    img = read_image(path)
    x = as_float_image(img, dtype=dtype, name=str(path))
    if gray and x.ndim == 3:
        if x.shape[-1] != 3:
            raise ValueError(f"gray=True needs an RGB image, {path} has {x.shape[-1]} channels")
        x = (x @ _RGB2GRAY.astype(x.dtype)).astype(x.dtype, copy=False)
    return x
