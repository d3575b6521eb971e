"""``load(path)``: a ready denoiser from a weights file, whatever its format.

Formats are recognised by content, not by name: MATLAB v7.3 / HDF5 (MatConvNet models, see
:mod:`invrestore.nn.io_matconvnet`), invrestore's ``.npz`` (:mod:`invrestore.nn.io_npz`) and
PyTorch files (:mod:`invrestore.nn.io_torch`, needs torch). The architecture is read from the
file (the ``.npz`` meta) or detected from its layers.

Trained noise levels. MatConvNet and PyTorch files do not record them; they are taken from the
file name where it says (``sigma25``, ``dncnn_25``: a non-blind DnCNN for 25/255; ``blind``:
DnCNN-B, 0 to 55/255) and otherwise from the published training ranges (FDnCNN and FFDNet 0 to
75/255, DRUNet 0 to 50/255; a DnCNN without a hint gets ``(0, inf)``). Pass ``sigma_range=`` to
set them.

Examples
--------
>>> from invrestore.nn import load
>>> net = load("dncnn_s_sigma25.mat")  # doctest: +SKIP
>>> net  # doctest: +SKIP
DnCNN(channels=1, n_layers=17, features=64, residual=True, sigma_range=[25, 25]/255)
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["available_shipped", "load", "load_shipped", "shipped_dir"]

_HDF5 = b"\x89HDF\r\n\x1a\n"


def _sniff(path):
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if head[:8] == _HDF5 or head[512:520] == _HDF5:
        return "hdf5"
    if head.startswith(b"MATLAB"):
        return "mat-old"
    if head.startswith(b"PK"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            return "zip-bad"
        if "meta.npy" in names:
            return "npz"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        return "zip-other"
    if head[:1] == b"\x80":  # pickle protocol 2+: the legacy torch.save format
        return "torch"
    return "unknown"


def _sigma_hint(stem, arch):
    s = stem.lower()
    if arch == "dncnn":
        m = re.search(r"sigma[_-]?(\d{1,3})", s) or re.search(r"(?:^|[_-])(\d{1,3})$", s)
        if m:
            v = int(m.group(1)) / 255
            return (v, v)
        if "blind" in s:
            return (0.0, 55 / 255)
        return (0.0, float("inf"))
    return {"fdncnn": (0.0, 75 / 255), "ffdnet": (0.0, 75 / 255),
            "drunet": (0.0, 50 / 255)}[arch]


def _from_matconvnet(path, arch, kwargs):
    import numpy as np

    from .io_matconvnet import (
        ffdnet_subp_permutation,
        matconvnet_stack,
        read_matconvnet,
    )
    from .models import DnCNN, FDnCNN, FFDNet

    convs, extras = matconvnet_stack(read_matconvnet(path), path)
    detected = "ffdnet" if "SubP" in extras else "fdncnn" if "concat" in extras else "dncnn"
    arch = arch or detected
    if arch != detected:
        raise ValueError(f"{path}: the layers describe a {detected}, not a {arch}")
    ws, bs = [c[0] for c in convs], [c[1] for c in convs]
    cin = ws[0].shape[1]
    kwargs.setdefault("sigma_range", _sigma_hint(path.stem, arch))
    kwargs.setdefault("provenance", {"source": path.name, "format": "MatConvNet (MATLAB v7.3)"})
    if arch == "ffdnet":
        c = (cin - 1) // 4
        if cin != 4 * c + 1 or ws[-1].shape[0] != 4 * c:
            raise ValueError(f"{path}: FFDNet layers with {cin} inputs and {ws[-1].shape[0]} "
                             f"outputs (expected 4 C + 1 and 4 C)")
        p = ffdnet_subp_permutation(c)
        ws[0] = np.concatenate([ws[0][:, p], ws[0][:, 4 * c:]], axis=1)
        ws[-1] = ws[-1][p]
        bs[-1] = None if bs[-1] is None else bs[-1][p]
        return FFDNet(ws, bs, channels=c, residual=False, **kwargs)
    if arch == "fdncnn":
        return FDnCNN(ws, bs, channels=cin - 1, residual=False, **kwargs)
    return DnCNN(ws, bs, channels=cin, residual=True, **kwargs)


def _from_torch(path, arch, bn_eps, kwargs):
    from .drunet import DRUNet
    from .io_torch import (
        detect_arch,
        drunet_config,
        read_state_dict,
        stack_from_state_dict,
    )
    from .models import DnCNN, FDnCNN, FFDNet

    state = read_state_dict(path)
    try:
        detected = detect_arch(state)
    except ValueError as err:
        if arch is None:
            raise ValueError(f"{path}: {err}") from None
        detected = arch
    arch = arch or detected
    kwargs.setdefault("sigma_range", _sigma_hint(path.stem, arch))
    kwargs.setdefault("provenance", {"source": path.name, "format": "PyTorch state dict"})
    try:
        if arch == "drunet":
            cfg = drunet_config(state)
            return DRUNet(state, channels=cfg["in_channels"], features=cfg["features"],
                          n_blocks=cfg["n_blocks"], **kwargs)
        convs = stack_from_state_dict(state, bn_eps=bn_eps)
        ws, bs = [c[0] for c in convs], [c[1] for c in convs]
        cout = ws[-1].shape[0]
        if arch == "dncnn":
            return DnCNN(ws, bs, channels=cout, residual=True, **kwargs)
        if arch == "fdncnn":
            return FDnCNN(ws, bs, channels=cout, residual=False, **kwargs)
        if arch == "ffdnet":
            return FFDNet(ws, bs, channels=cout // 4, residual=False, **kwargs)
    except ValueError as err:
        raise ValueError(f"{path}: weights do not fit architecture {arch!r}: {err}") from err
    raise ValueError(f"unknown architecture {arch!r} (known: dncnn, fdncnn, ffdnet, drunet)")


def load(path, *, arch=None, sigma_range=None, strict_sigma=False, tile=1024, bn_eps=1e-5):
    """Load a denoiser from a weights file (MatConvNet ``.mat``, ``.pth``, invrestore ``.npz``).

    Parameters
    ----------
    path : str or pathlib.Path
    arch : {None, "dncnn", "fdncnn", "ffdnet", "drunet"}
        Expected architecture; None detects it. A file that holds another one raises.
    sigma_range : (float, float), optional
        Noise levels the weights were trained for ([0, 1] scale); by default from the file
        (``.npz``) or the rules in the module docstring.
    strict_sigma : bool
        Raise :class:`ValueError` when called with ``sigma`` outside ``sigma_range``. By
        default the network runs anyway: a noise-map model (FDnCNN, FFDNet, DRUNet) is fed the
        out-of-range level and degrades gradually; a non-blind DnCNN ignores ``sigma``.
    tile : int or None
        Tile size for large images (see :class:`~invrestore.nn.NetDenoiser`).
    bn_eps : float
        Epsilon of batch norms in PyTorch files (not stored in state dicts).

    Returns
    -------
    NetDenoiser
        A :class:`~invrestore.denoisers.Denoiser`: ``net(x, sigma)`` for ``(H, W)`` or
        ``(H, W, C)`` images in [0, 1] and ``sigma`` on the same scale.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Unrecognised, truncated or corrupt file; weights that do not form a supported network;
        a different architecture than ``arch``.
    ImportError
        A PyTorch file without PyTorch installed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file {path}")
    if arch is not None and arch not in ("dncnn", "fdncnn", "ffdnet", "drunet"):
        raise ValueError(f"arch must be None, 'dncnn', 'fdncnn', 'ffdnet' or 'drunet', got "
                         f"{arch!r}")
    kwargs = {"strict_sigma": strict_sigma, "tile": tile}
    if sigma_range is not None:
        kwargs["sigma_range"] = tuple(sigma_range)
    kind = _sniff(path)
    if kind == "hdf5":
        return _from_matconvnet(path, arch, kwargs)
    if kind == "npz":
        from .io_npz import model_from_npz

        net = model_from_npz(path, **kwargs)
        if arch is not None and net.arch != arch:
            raise ValueError(f"{path}: holds a {net.arch}, not a {arch}")
        return net
    if kind == "torch":
        return _from_torch(path, arch, bn_eps, kwargs)
    if kind == "zip-bad":
        raise ValueError(f"{path}: damaged zip archive (a truncated or corrupt .npz or .pth "
                         "file)")
    if kind == "mat-old":
        raise ValueError(f"{path}: MATLAB v5 .mat files are not supported; re-save it in MATLAB "
                         "with save(file, 'net', '-v7.3')")
    raise ValueError(f"{path}: not a recognised weights file (expected MATLAB v7.3, invrestore "
                     f".npz or PyTorch; the file looks like: {kind})")


def shipped_dir():
    """Folder of the weights shipped inside the package (``invrestore/nn/weights``)."""
    return Path(__file__).resolve().parent / "weights"


def available_shipped():
    """Names of the shipped weights, for :func:`load_shipped` (may be empty).

    Examples
    --------
    >>> from invrestore.nn import available_shipped
    >>> isinstance(available_shipped(), list)
    True
    """
    folder = shipped_dir()
    return sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []


def load_shipped(name="gray", **kwargs):
    """Load the package's own weights ``invrestore/nn/weights/<name>.npz`` (see :func:`load`).

    Raises
    ------
    FileNotFoundError
        No such shipped weights (the list of available ones is in the message).
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"shipped weights name must be a plain file stem, got {name!r}")
    path = shipped_dir() / f"{name}.npz"
    if not path.is_file():
        avail = available_shipped()
        raise FileNotFoundError(f"no shipped weights {name!r} ({path} does not exist; "
                                f"available: {avail if avail else 'none yet'})")
    return load(path, **kwargs)
