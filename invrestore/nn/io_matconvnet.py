"""Read MatConvNet ``SimpleNN`` models saved by MATLAB as v7.3 (HDF5) ``.mat`` files.

The published DnCNN, FDnCNN and FFDNet models are MatConvNet networks: a struct ``net`` whose
``layers`` cell holds one struct per layer, ``type`` one of ``conv``, ``relu``, ``bnorm``,
``concat`` (appends the noise-level map) and ``SubP`` (FFDNet's sub-pixel (un)shuffle).
MATLAB v7.3 files are HDF5 with every array stored in reverse dimension order (MATLAB is
column-major), cells and structs as object references; this module reads them with h5py only.

Conventions converted here:

* convolution filters are MATLAB ``(kh, kw, Cin, Cout)``, i.e. HDF5 ``(Cout, Cin, kw, kh)``
  with trailing singleton MATLAB dimensions dropped; MatConvNet's ``vl_nnconv`` is a
  cross-correlation like PyTorch's, so the PyTorch weight is the HDF5 array with its last two
  axes swapped;
* ``bnorm`` (``gamma``, ``beta``, ``moments = [mean, std]``) is folded into the preceding
  convolution;
* FFDNet's ``SubP`` orders the sub-images channel by channel with the column offset outer,
  ``k = c 4 + 2 j + i`` for the pixel ``(2 h + i, 2 w + j)`` of channel ``c`` (MATLAB's column
  order), where PyTorch's ``pixel_unshuffle`` uses ``c 4 + 2 i + j``; the first layer's input
  channels and the last layer's output channels are permuted to PyTorch's order, so the
  result runs in :class:`~invrestore.nn.FFDNet` unchanged.

Examples
--------
>>> from invrestore.nn.io_matconvnet import read_matconvnet
>>> layers = read_matconvnet("dncnn_s_sigma25.mat")  # doctest: +SKIP
>>> [l["type"] for l in layers][:3]  # doctest: +SKIP
['conv', 'relu', 'conv']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .functional import fold_batchnorm

__all__ = ["ffdnet_subp_permutation", "matconvnet_stack", "read_matconvnet"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_FIELDS = {"type", "name", "weights", "stride", "pad", "dilate", "scale", "leak"}


def _is_hdf5(path):
    with open(path, "rb") as fh:
        head = fh.read(1024)
    # MATLAB v7.3 files put a 512-byte text header before the HDF5 superblock.
    return head[:8] == _HDF5_SIGNATURE or head[512:520] == _HDF5_SIGNATURE


def _read(f, obj):
    """A MATLAB value: dict for a struct, list for a cell, str for char, ndarray otherwise."""
    import h5py

    cls = obj.attrs.get("MATLAB_class", b"")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    if isinstance(obj, h5py.Group):
        return {k: _read(f, obj[k]) for k in obj}
    empty = bool(obj.attrs.get("MATLAB_empty", 0))
    if cls == "cell":
        if empty:
            return []
        return [_read(f, f[ref]) for ref in obj[()].ravel(order="F")]
    if cls == "char":
        return "" if empty else "".join(map(chr, obj[()].ravel(order="F")))
    if empty:
        return np.zeros(0)
    return obj[()]


def read_matconvnet(path):
    """Layers of a MatConvNet SimpleNN ``.mat`` (v7.3) file as a list of dicts.

    Each dict has ``type`` (str) and, for ``conv`` layers, ``weight`` (PyTorch layout
    ``(Cout, Cin, kh, kw)`` float32), ``bias`` (``(Cout,)`` or None), ``stride``, ``pad``;
    ``bnorm``: ``gamma``, ``beta``, ``moments``; ``SubP``: ``scale``.

    Raises
    ------
    ValueError
        Not a MATLAB v7.3 file, or no SimpleNN ``net.layers`` inside.
    """
    import h5py

    path = Path(path)
    if not _is_hdf5(path):
        raise ValueError(f"{path}: not a MATLAB v7.3 (HDF5) file; older .mat files are not "
                         "supported (re-save in MATLAB with save(..., '-v7.3'))")
    try:
        with h5py.File(path, "r") as f:
            if "net" not in f or "layers" not in f["net"]:
                raise ValueError(f"{path}: no MatConvNet 'net.layers' in this .mat file "
                                 f"(variables: {sorted(k for k in f if k != '#refs#')})")
            cell = f["net"]["layers"]
            if cell.attrs.get("MATLAB_class", b"") != b"cell":
                raise ValueError(f"{path}: net.layers is not a cell array (DagNN models are "
                                 "not supported, only SimpleNN)")
            raw = []
            for ref in cell[()].ravel(order="F"):
                grp = f[ref]
                # only the fields used here: the training state is skipped (faster)
                raw.append({k: _read(f, grp[k]) for k in grp if k in _FIELDS}
                           if hasattr(grp, "keys") else None)
    except (OSError, KeyError, RuntimeError) as err:  # truncated or corrupt HDF5
        raise ValueError(f"{path}: unreadable MATLAB v7.3 file ({err})") from err
    return [_layer(path, i, lay) for i, lay in enumerate(raw)]


def _scalar(v, default):
    a = np.asarray(v, dtype=np.float64).ravel() if v is not None else np.zeros(0)
    return float(a[0]) if a.size else default


def _layer(path, i, raw):
    if not isinstance(raw, dict) or "type" not in raw:
        raise ValueError(f"{path}: layer {i + 1} is not a MatConvNet layer struct")
    kind = raw["type"]
    out = {"type": kind, "name": raw.get("name", f"layer{i + 1}")}
    weights = raw.get("weights", [])
    if kind == "conv":
        if not weights:
            raise ValueError(f"{path}: conv layer {i + 1} has no weights")
        out["weight"] = _filters(np.asarray(weights[0], dtype=np.float32))
        bias = np.asarray(weights[1], dtype=np.float32).ravel() if len(weights) > 1 else None
        out["bias"] = bias if bias is not None and bias.size else None
        out["stride"] = int(_scalar(raw.get("stride"), 1))
        pad = np.asarray(raw.get("pad", 0), dtype=np.float64).ravel()
        if pad.size and np.any(pad != pad[0]):
            raise ValueError(f"{path}: conv layer {i + 1} has asymmetric padding {pad.tolist()}")
        out["pad"] = int(pad[0]) if pad.size else 0
        out["dilate"] = int(_scalar(raw.get("dilate"), 1))
    elif kind == "bnorm":
        g, b, mom = (np.asarray(w, dtype=np.float64) for w in weights[:3])
        out["gamma"], out["beta"] = g.ravel(), b.ravel()
        mom = mom.reshape(2, -1) if mom.shape[0] == 2 else mom.reshape(-1, 2).T
        out["moments"] = mom  # row 0: mean, row 1: std (already including epsilon)
    elif kind == "relu":
        out["leak"] = _scalar(raw.get("leak"), 0.0)
    elif kind == "SubP":
        out["scale"] = _scalar(raw.get("scale"), 2.0)
    return out


def _filters(a):
    # HDF5 order is MATLAB's reversed: (Cout, Cin, kw, kh), MATLAB having dropped trailing
    # singleton dimensions (Cout = 1, then Cin = 1).
    while a.ndim < 4:
        a = a[None]
    return np.ascontiguousarray(a.transpose(0, 1, 3, 2))


def matconvnet_stack(layers, path="model"):
    """Fold ``bnorm`` layers and check the conv/ReLU pattern of a plain stack.

    Returns
    -------
    convs : list of (weight, bias)
    extras : set of str
        ``"concat"`` (noise map input) and/or ``"SubP"`` (FFDNet) when present.
    """
    convs, extras, relu_after = [], set(), []
    for i, lay in enumerate(layers):
        kind = lay["type"]
        if kind == "conv":
            k = lay["weight"].shape[2:]
            if lay["stride"] != 1 or lay["dilate"] != 1 or k[0] != k[1] or \
                    lay["pad"] != (k[0] - 1) // 2:
                raise ValueError(f"{path}: conv layer {i + 1} is not a stride-1 'same' "
                                 f"convolution (kernel {k}, pad {lay['pad']}, stride "
                                 f"{lay['stride']}); only plain stacks are supported")
            convs.append([lay["weight"], lay["bias"]])
            relu_after.append(False)
        elif kind == "bnorm":
            if not convs:
                raise ValueError(f"{path}: bnorm layer {i + 1} does not follow a convolution")
            mean, std = lay["moments"]
            w, b = fold_batchnorm(convs[-1][0], convs[-1][1], lay["gamma"], lay["beta"], mean,
                                  std ** 2, eps=0.0)
            convs[-1] = [w, b]
        elif kind == "relu":
            if not convs or lay.get("leak", 0.0) != 0.0:
                raise ValueError(f"{path}: unsupported ReLU at layer {i + 1}")
            relu_after[-1] = True
        elif kind in ("concat", "SubP"):
            extras.add(kind)
        else:
            raise ValueError(f"{path}: unsupported MatConvNet layer type {kind!r} at layer "
                             f"{i + 1} (supported: conv, bnorm, relu, concat, SubP)")
    if not convs:
        raise ValueError(f"{path}: no convolution layers")
    if relu_after != [True] * (len(convs) - 1) + [False]:
        raise ValueError(f"{path}: expected a ReLU after every convolution but the last")
    return [tuple(c) for c in convs], extras


def ffdnet_subp_permutation(channels):
    """Index ``p`` with ``torch_channel[k] = matconvnet_channel[p[k]]`` for FFDNet's 2x2 SubP."""
    p = np.empty(4 * channels, dtype=np.int64)
    for c in range(channels):
        for i in range(2):
            for j in range(2):
                p[c * 4 + 2 * i + j] = c * 4 + 2 * j + i
    return p
