"""invrestore's own weights format: a pickle-free NumPy ``.npz``.

Keys:

* ``meta``: a 0-d NumPy string array holding JSON::

      {"format": "invrestore-denoiser", "version": 1, "arch": "ffdnet",
       "config": {...}, "sigma_range": [lo, hi], "provenance": {...}}

  ``sigma_range`` is on the [0, 1] scale (``hi`` may be null for "no upper bound");
  ``provenance`` is free-form (source, training command, data, licence). An optional
  ``"pnp_lam"`` (a positive number) is the model's plug-and-play weight, read into the
  model's ``pnp_lam`` attribute, which ``restore(prior=...)`` uses when no ``lam`` is given
  (calibrated by ``benchmarks/calibrate_pnp.py``, never on a test set).
* the parameters as float32 arrays in PyTorch layouts.

Architectures and their ``config``:

* ``"ffdnet"``: ``{"in_channels": 1, "features": 64, "n_layers": 12, "residual": true}``;
  parameters ``conv{i}.weight`` ``(out, in, 3, 3)`` and ``conv{i}.bias`` ``(out,)`` for
  ``i = 0 .. n_layers - 1``, padding 1, ReLU after every convolution but the last. The network
  replicate-pads a gray ``(H, W)`` image to even size, pixel-unshuffles it 2x2 into 4 channels
  (PyTorch's ``pixel_unshuffle`` order), appends a constant channel equal to sigma (5 inputs),
  runs the stack (4 outputs), takes ``unshuffled_x - output`` if ``residual`` else ``output``,
  pixel-shuffles and crops. ``in_channels = 3`` is the colour version (13 inputs, 12 outputs).
* ``"dncnn"`` and ``"fdncnn"``: the same keys and config; DnCNN's stack maps the image to
  itself (``x - output`` when ``residual``), FDnCNN's takes the image plus the sigma channel.
* ``"drunet"``: ``{"in_channels": 1, "features": [64, 128, 256, 512], "n_blocks": 4}`` with
  KAIR's parameter names (see :mod:`invrestore.nn.drunet`).

Reading uses ``np.load(allow_pickle=False)``; every array is checked against the config.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from invrestore.nn import FFDNet, save_npz, load
>>> net = FFDNet.random(features=8, n_layers=3, rng=0)
>>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")
>>> save_npz(net, path, provenance={"note": "random weights"})
>>> net2 = load(path)
>>> x = np.full((6, 6), 0.5, np.float32)
>>> bool(np.array_equal(net(x, 0.1), net2(x, 0.1)))
True
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["FORMAT", "VERSION", "model_from_npz", "read_npz", "save_npz"]

FORMAT = "invrestore-denoiser"
VERSION = 1


def _classes():
    from .drunet import DRUNet
    from .models import DnCNN, FDnCNN, FFDNet

    return {"dncnn": DnCNN, "fdncnn": FDnCNN, "ffdnet": FFDNet, "drunet": DRUNet}


def save_npz(model, path, *, provenance=None):
    """Write ``model`` (a DnCNN, FDnCNN, FFDNet or DRUNet) to ``path`` in the format above.

    Parameters
    ----------
    model : NetDenoiser
    path : str or pathlib.Path
        Written atomically (through a temporary file in the same folder); an existing file is
        replaced.
    provenance : dict, optional
        Stored as ``meta["provenance"]``; defaults to the model's own ``provenance``.
    """
    arch = getattr(model, "arch", None)
    if arch not in _classes():
        raise TypeError(f"save_npz needs a DnCNN, FDnCNN, FFDNet or DRUNet, got {model!r}")
    lo, hi = model.sigma_range
    meta = {"format": FORMAT, "version": VERSION, "arch": arch, "config": model.config(),
            "sigma_range": [float(lo), None if math.isinf(hi) else float(hi)],
            "provenance": dict(model.provenance if provenance is None else provenance)}
    if getattr(model, "pnp_lam", None) is not None:
        meta["pnp_lam"] = float(model.pnp_lam)
    arrays = {"meta": np.array(json.dumps(meta))}
    arrays.update(model.state_dict())
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_npz(path):
    """``(meta, arrays)`` of an invrestore ``.npz`` file, validated but not yet a model.

    Raises
    ------
    ValueError
        Not a zip/npz file, truncated or corrupt, pickled content, missing or malformed
        ``meta``, other format or version.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "meta" not in data.files:
                raise ValueError(f"{path}: no 'meta' entry; not an invrestore weights file "
                                 f"(entries: {sorted(data.files)[:6]})")
            meta_arr = data["meta"]
            arrays = {k: data[k] for k in data.files if k != "meta"}
    except ValueError as err:
        if str(path) in str(err):
            raise
        raise ValueError(f"{path}: not a valid invrestore .npz file ({err})") from err
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as err:
        raise ValueError(f"{path}: unreadable .npz file, truncated or corrupt "
                         f"({type(err).__name__}: {err})") from err
    if meta_arr.ndim != 0 or meta_arr.dtype.kind not in "US":
        raise ValueError(f"{path}: 'meta' must be a 0-d string array holding JSON")
    try:
        meta = json.loads(str(meta_arr))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: 'meta' is not valid JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: meta format is {meta.get('format') if isinstance(meta, dict) else meta!r}, "
                         f"expected {FORMAT!r}")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path}: format version {meta.get('version')!r} is not supported "
                         f"(this invrestore reads version {VERSION})")
    for key in ("arch", "config", "sigma_range"):
        if key not in meta:
            raise ValueError(f"{path}: meta has no {key!r}")
    for k, a in arrays.items():
        if a.dtype != np.float32:
            raise ValueError(f"{path}: parameter {k!r} is {a.dtype}, expected float32")
    return meta, arrays


def _check_stack_config(path, config, arrays):
    need = {"in_channels", "features", "n_layers", "residual"}
    if not isinstance(config, dict) or not need <= set(config):
        raise ValueError(f"{path}: config must have {sorted(need)}, got {config!r}")
    n = config["n_layers"]
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{path}: n_layers must be a positive int, got {n!r}")
    expected = {f"conv{i}.{p}" for i in range(n) for p in ("weight", "bias")}
    if set(arrays) != expected:
        extra, missing = sorted(set(arrays) - expected), sorted(expected - set(arrays))
        raise ValueError(f"{path}: parameters do not match n_layers={n} (missing {missing[:4]}, "
                         f"unexpected {extra[:4]})")
    for i in range(n - 1):
        if arrays[f"conv{i}.weight"].shape[0] != config["features"]:
            raise ValueError(f"{path}: conv{i}.weight has {arrays[f'conv{i}.weight'].shape[0]} "
                             f"outputs, config says features={config['features']}")


def model_from_npz(path, **kwargs):
    """Build the network that an invrestore ``.npz`` describes (see :func:`invrestore.nn.load`)."""
    meta, arrays = read_npz(path)
    classes = _classes()
    arch = meta["arch"]
    if arch not in classes:
        raise ValueError(f"{path}: unknown architecture {arch!r} (known: {sorted(classes)})")
    config = meta["config"]
    if arch != "drunet":
        _check_stack_config(path, config, arrays)
    lo, hi = meta["sigma_range"]
    kwargs.setdefault("sigma_range", (float(lo), math.inf if hi is None else float(hi)))
    kwargs.setdefault("provenance", meta.get("provenance") or {})
    lam = meta.get("pnp_lam")
    if lam is not None and (isinstance(lam, bool) or not isinstance(lam, (int, float)) or
                            not math.isfinite(lam) or lam <= 0):
        raise ValueError(f"{path}: meta pnp_lam must be a positive number, got {lam!r}")
    try:
        model = classes[arch].from_state_dict(arrays, config, **kwargs)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: config {config!r} does not describe a valid {arch} "
                         f"({type(err).__name__}: {err})") from err
    except ValueError as err:
        raise ValueError(f"{path}: weights do not fit architecture {arch!r}: {err}") from err
    if lam is not None:
        model.pnp_lam = float(lam)
    return model
