"""Readers for the standard blur kernels and for single kernel files.

The standard kernel files (from the KAIR repository, see the data README) live in
``<data_dir>/kernels/``: ``Levin09.mat`` (8 motion kernels of Levin et al. 2009, MATLAB v7.3,
i.e. HDF5) and ``kernels_12.mat`` (4 isotropic Gaussian, 4 anisotropic Gaussian and 4 motion
kernels, MATLAB v5). Both hold one variable ``kernels``, a cell array of 2-D kernels.

MATLAB stores arrays column-major; scipy.io.loadmat undoes this for v5 files, while HDF5 (v7.3)
datasets read with h5py come out transposed, so they are transposed back here.

Examples
--------
>>> from invrestore.degradations import load_levin_kernels
>>> ks = load_levin_kernels()  # doctest: +SKIP
>>> [k.shape[0] for k in ks]  # doctest: +SKIP
[19, 17, 15, 27, 13, 21, 23, 23]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .kernels import validate_kernel

__all__ = ["load_levin_kernels", "load_kernels12", "load_kernel"]

_IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff"}


def _default_kernel_file(name):
    from ..datasets import data_dir  # noqa: PLC0415 (keep degradations importable alone)

    return data_dir(required=True) / "kernels" / name


def _existing_file(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"kernel file not found: {path}")
    return path


def _hdf5_value(f, obj):
    """Convert an HDF5 (MATLAB v7.3) dataset to NumPy: transposed arrays, cells as object arrays."""
    import h5py  # noqa: PLC0415

    data = obj[()]
    if obj.dtype == h5py.ref_dtype or data.dtype == object:
        flat = [_hdf5_value(f, f[ref]) for ref in np.asarray(data).ravel()]
        cell = np.empty(len(flat), dtype=object)
        cell[:] = flat
        return cell  # MATLAB linear (column-major) order, as ravel() of the transposed layout
    return np.asarray(data).T


def read_mat(path):
    """Read the variables of a MATLAB .mat file (v5 with SciPy, v7.3 with h5py).

    Returns a dict ``name -> value``; numeric arrays have their MATLAB shape, cell arrays are
    1-D object arrays in MATLAB's linear (column-major) order.
    """
    import h5py  # noqa: PLC0415
    import scipy.io  # noqa: PLC0415

    path = _existing_file(path)
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                return {name: _hdf5_value(f, obj) for name, obj in f.items()
                        if isinstance(obj, h5py.Dataset) and not name.startswith("#")}
        raw = scipy.io.loadmat(path)
    except Exception as exc:  # corrupt or non-MAT files raise assorted errors
        raise ValueError(f"cannot read MATLAB file {path}: {exc}") from exc
    out = {}
    for name, value in raw.items():
        if name.startswith("__"):
            continue
        if isinstance(value, np.ndarray) and value.dtype == object:
            value = value.ravel(order="F")
        out[name] = value
    return out


def _normalised(kernel, name):
    k = validate_kernel(kernel, name=name)
    return k / k.sum()


def _load_kernel_cell(path, default_name, expected):
    path = _existing_file(_default_kernel_file(default_name) if path is None else path)
    variables = read_mat(path)
    if "kernels" not in variables:
        raise ValueError(f"{path}: no variable 'kernels' (found {sorted(variables)})")
    cell = variables["kernels"]
    if not (isinstance(cell, np.ndarray) and cell.dtype == object):
        raise ValueError(f"{path}: 'kernels' is not a cell array of kernels")
    if len(cell) != expected:
        raise ValueError(f"{path}: expected {expected} kernels, found {len(cell)}")
    return [_normalised(np.asarray(k), f"{path.name} kernel {i + 1}") for i, k in enumerate(cell)]


def load_levin_kernels(path=None):
    """The 8 motion blur kernels of Levin et al. (2009).

    Parameters
    ----------
    path : str or os.PathLike, optional
        The ``Levin09.mat`` file; default ``<data_dir>/kernels/Levin09.mat``.

    Returns
    -------
    list of numpy.ndarray
        8 float64 kernels, sizes 19, 17, 15, 27, 13, 21, 23, 23 (square), each summing to 1.

    Raises
    ------
    FileNotFoundError
        Missing file or data folder.
    ValueError
        Unreadable file or unexpected content.

    Notes
    -----
    The order and orientation are those of the file as read by MATLAB (``load`` then
    ``kernels{i}``), the DPIR/KAIR deblurring protocol; the file is MATLAB v7.3 (HDF5), so each
    kernel is transposed after reading with h5py. Each kernel is divided by its sum.

    References
    ----------
    A. Levin, Y. Weiss, F. Durand, W. T. Freeman, "Understanding and evaluating blind
    deconvolution algorithms", CVPR 2009.

    Examples
    --------
    >>> from invrestore.degradations import load_levin_kernels
    >>> len(load_levin_kernels())  # doctest: +SKIP
    8
    """
    return _load_kernel_cell(path, "Levin09.mat", 8)


def load_kernels12(path=None):
    """The 12 kernels of ``kernels_12.mat`` (used by IRCNN/DPIR/USRNet experiments).

    Parameters
    ----------
    path : str or os.PathLike, optional
        Default ``<data_dir>/kernels/kernels_12.mat``.

    Returns
    -------
    list of numpy.ndarray
        12 float64 25x25 kernels summing to 1: 4 isotropic Gaussian, 4 anisotropic
        Gaussian, 4 motion, in file order.

    Raises
    ------
    FileNotFoundError
        Missing file or data folder.
    ValueError
        Unreadable file or unexpected content.

    Examples
    --------
    >>> from invrestore.degradations import load_kernels12
    >>> load_kernels12()[0].shape  # doctest: +SKIP
    (25, 25)
    """
    return _load_kernel_cell(path, "kernels_12.mat", 12)


def load_kernel(path, *, variable=None, normalize=True):
    """Read one blur kernel from an image, ``.npy`` or ``.mat`` file.

    Parameters
    ----------
    path : str or os.PathLike
        ``.png``, ``.bmp``, ``.tif``/``.tiff`` (read as gray; colour files are converted with
        MATLAB ``rgb2gray`` weights), ``.npy`` (a 2-D array) or ``.mat`` (v5 or v7.3).
    variable : str, optional
        For ``.mat`` files, the variable to read; by default the file must hold exactly one
        2-D numeric variable.
    normalize : bool
        Divide the kernel by its sum (default), so that it sums to 1.

    Returns
    -------
    numpy.ndarray
        float64 2-D kernel.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unsupported suffix, unreadable file, or content that is not a valid kernel.

    Notes
    -----
    Image files are scaled to [0, 1] first (``I / 255`` for 8-bit files); after
    normalisation the scale does not matter.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from invrestore.degradations import load_kernel
    >>> path = os.path.join(tempfile.mkdtemp(), "k.npy")
    >>> np.save(path, np.ones((3, 3)))
    >>> float(load_kernel(path)[1, 1])
    0.1111111111111111
    """
    path = _existing_file(path)
    suffix = path.suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        from ..datasets import load_image  # noqa: PLC0415

        k = load_image(path, dtype=np.float64, gray=True)
    elif suffix == ".npy":
        try:
            k = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise ValueError(f"cannot read kernel file {path}: {exc}") from exc
    elif suffix == ".mat":
        variables = read_mat(path)
        if variable is not None:
            if variable not in variables:
                raise ValueError(f"{path}: no variable {variable!r} (found {sorted(variables)})")
            k = variables[variable]
        else:
            arrays = {n: v for n, v in variables.items()
                      if isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.ndim == 2}
            if len(arrays) != 1:
                raise ValueError(f"{path}: expected exactly one 2-D numeric variable, found "
                                 f"{sorted(arrays) or 'none'}; pass variable=...")
            k = next(iter(arrays.values()))
    else:
        raise ValueError(f"unsupported kernel file type {suffix!r} for {path}; use .png, .bmp, "
                         ".tif, .npy or .mat")
    k = validate_kernel(np.asarray(k), name=f"kernel in {path}")
    return k / k.sum() if normalize else k
