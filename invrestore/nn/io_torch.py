"""PyTorch state dicts (``.pth``) to engine networks: KAIR's DnCNN, FDnCNN, FFDNet, DRUNet.

Files are read with ``torch.load(..., weights_only=True)`` (no arbitrary pickles), so PyTorch
must be installed for this one step; convert once with :func:`invrestore.nn.save_npz` to use
the weights without it. Recognised layouts:

* a plain stack ``<prefix>.<i>.weight`` / ``.bias`` (KAIR: ``model.0.weight``, ...), with
  batch norms (``running_mean``/``running_var`` entries) folded into the preceding
  convolution. By channel counts: ``Cin = Cout`` is a residual DnCNN, ``Cout`` in (1, 3) with
  ``Cin = Cout + 1`` an FDnCNN (clean image out), ``Cout`` in (4, 12) with ``Cin = Cout + 1``
  an FFDNet (clean sub-images out), as in KAIR;
* KAIR's ``UNetRes`` (``m_head.weight``, ...): DRUNet, see :mod:`invrestore.nn.drunet`.

Wrappers such as ``{"state_dict": ...}`` or ``{"params": ...}`` and DataParallel's
``module.`` prefixes are removed first.

Examples
--------
>>> from invrestore.nn.io_torch import read_state_dict
>>> sd = read_state_dict("dncnn_25.pth")  # doctest: +SKIP
>>> sd["model.0.weight"].shape  # doctest: +SKIP
(64, 1, 3, 3)
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .functional import fold_batchnorm

__all__ = ["detect_arch", "drunet_config", "read_state_dict", "stack_from_state_dict"]

_WRAPPERS = ("state_dict", "params", "params_ema", "model", "net")


def read_state_dict(path):
    """NumPy float32 arrays by name from a PyTorch weights file.

    Raises
    ------
    ImportError
        PyTorch is not installed.
    ValueError
        The file is not a state dict of tensors (or cannot be unpickled safely).
    """
    try:
        import torch
    except ImportError:
        raise ImportError(f"reading {Path(path).name} needs PyTorch (pip install "
                          "'invrestore[torch]'); alternatively convert it once to .npz with "
                          "invrestore.nn.save_npz where PyTorch is installed") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle of arbitrary objects, not a torch file
        raise ValueError(f"{path}: not a readable PyTorch weights file ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from err
    for _ in range(2):
        if isinstance(obj, dict):
            inner = [k for k in _WRAPPERS if isinstance(obj.get(k), dict)]
            if inner and not any(torch.is_tensor(v) for v in obj.values()):
                obj = obj[inner[0]]
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path}: expected a state dict (name -> tensor), got "
                         f"{type(obj).__name__}")
    out = {}
    for k, v in obj.items():
        if not torch.is_tensor(v):
            raise ValueError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor")
        if k.endswith("num_batches_tracked"):
            continue
        k = k.removeprefix("module.")
        out[k] = v.detach().cpu().to(torch.float32).numpy()
    return out


def detect_arch(state):
    """``"drunet"``, ``"dncnn"``, ``"fdncnn"`` or ``"ffdnet"`` from a state dict's keys and shapes."""
    if "m_head.weight" in state:
        return "drunet"
    convs = stack_from_state_dict(state)
    cin, cout = convs[0][0].shape[1], convs[-1][0].shape[0]
    if cin == cout:
        return "dncnn"
    if cin == cout + 1 and cout in (1, 3):
        return "fdncnn"
    if cin == cout + 1 and cout in (4, 12):
        return "ffdnet"
    raise ValueError(f"unrecognised stack: {cin} input and {cout} output channels (DnCNN has "
                     "Cin = Cout, FDnCNN Cin = Cout + 1 with Cout 1 or 3, FFDNet 5 -> 4 or "
                     "13 -> 12); pass arch= to choose")


def stack_from_state_dict(state, *, bn_eps=1e-5):
    """``[(weight, bias), ...]`` of a ``<prefix>.<i>.<param>`` stack, batch norms folded.

    ``bn_eps`` is the batch norms' epsilon, which state dicts do not record (PyTorch's default
    1e-5; KAIR's blocks use 1e-4).
    """
    modules, prefixes = {}, set()
    for key, val in state.items():
        m = re.fullmatch(r"(.*?)\.?(\d+)\.(weight|bias|running_mean|running_var)", key)
        if m is None:
            raise ValueError(f"unexpected entry {key!r} for a plain convolution stack")
        prefixes.add(m.group(1))
        modules.setdefault(int(m.group(2)), {})[m.group(3)] = val
    if len(prefixes) > 1:
        raise ValueError(f"state dict mixes module prefixes {sorted(prefixes)}")
    convs = []
    for idx in sorted(modules):
        mod = modules[idx]
        w = mod.get("weight")
        if w is not None and w.ndim == 4:
            convs.append([np.asarray(w, np.float32), mod.get("bias")])
        elif "running_mean" in mod:
            if not convs:
                raise ValueError(f"batch norm {idx} does not follow a convolution")
            gamma = mod.get("weight", np.ones_like(mod["running_mean"]))
            beta = mod.get("bias", np.zeros_like(mod["running_mean"]))
            convs[-1] = list(fold_batchnorm(convs[-1][0], convs[-1][1], gamma, beta,
                                            mod["running_mean"], mod["running_var"], bn_eps))
        else:
            raise ValueError(f"module {idx} is neither a convolution nor a batch norm "
                             f"({sorted(mod)})")
    if not convs:
        raise ValueError("no convolution weights in the state dict")
    for i, (w, _) in enumerate(convs):
        if w.shape[2:] != (3, 3):
            raise ValueError(f"convolution {i} has a {w.shape[2]}x{w.shape[3]} kernel; only "
                             "3x3 stacks are supported")
    return [tuple(c) for c in convs]


def drunet_config(state):
    """``{"in_channels", "features", "n_blocks"}`` of a KAIR UNetRes state dict."""
    n_blocks = 0
    while f"m_down1.{n_blocks}.res.0.weight" in state:
        n_blocks += 1
    try:
        features = [int(state["m_head.weight"].shape[0])] + [
            int(state[f"m_down{lvl}.{n_blocks}.weight"].shape[0]) for lvl in (1, 2, 3)]
        channels = int(state["m_tail.weight"].shape[0])
    except KeyError as err:
        raise ValueError(f"incomplete DRUNet state dict: no {err.args[0]!r}") from None
    if state["m_head.weight"].shape[1] != channels + 1:
        raise ValueError(f"DRUNet head takes {state['m_head.weight'].shape[1]} channels but the "
                         f"tail gives {channels}: expected image channels + 1 (noise map)")
    return {"in_channels": channels, "features": features, "n_blocks": n_blocks}
