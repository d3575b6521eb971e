"""The methods a benchmark run compares: invrestore's priors, published-weight networks, peers.

Every prior that :func:`invrestore.available_priors` lists *when the run starts* is a method,
run with default parameters: ``denoise(y, sigma, method=name)`` for denoising and
``restore(y, H, prior=name, sigma=sigma)`` otherwise. Published denoiser weights (DnCNN-S,
FFDNet; ``$INVRESTORE_WEIGHTS`` or ``<data>/../weights``) run on invrestore's own engine
(:mod:`invrestore.nn`), FFDNet also plug-and-play in ``restore``. Peers (other libraries)
are in :mod:`invrestore.bench.peers`.

Examples
--------
>>> from invrestore.bench.methods import prior_methods
>>> "tv" in [m.name for m in prior_methods()]
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "QUICK_METHODS",
    "Method",
    "all_methods",
    "prior_methods",
    "select_methods",
    "weight_methods",
    "weights_dir",
]

#: Methods of ``--quick`` (those that take well under a second on a 96 x 96 image; BM3D and
#: GMM take seconds even there).
QUICK_METHODS = ("tv", "tv_aniso", "wavelet", "tikhonov", "gradient_tikhonov", "nlm",
                 "skimage_tv", "skimage_nlm", "skimage_wavelet", "skimage_rl",
                 "skimage_wiener", "skimage_biharmonic", "bicubic")

#: Families handled through ``restore`` (everything but denoising).
RESTORE_FAMILIES = ("deblur_levin", "deblur_gauss", "sr", "inpaint", "all_in_one")


@dataclass
class Method:
    """A named way to restore a :class:`~invrestore.bench.tasks.Case`.

    ``run(case) -> x_hat``; ``families`` the task families it applies to; ``gray_only`` /
    ``color_only`` and ``levels`` (denoising noise levels x 255) narrow that down.
    """

    name: str
    kind: str                      # "invrestore", "invrestore.nn", "peer", "baseline"
    description: str
    run: object
    families: tuple
    gray_only: bool = False
    levels: tuple | None = None
    info: dict = field(default_factory=dict)

    def applies(self, case_or_task):
        task = getattr(case_or_task, "task", case_or_task)
        if task.family not in self.families:
            return False
        if self.gray_only and task.color:
            return False
        return self.levels is None or task.family != "denoise" or task.level in self.levels

    def as_dict(self):
        return {"kind": self.kind, "description": self.description,
                "families": list(self.families), **self.info}


def _prior_runner(name):
    def run(case):
        import invrestore as ir

        if case.H is None:
            return ir.denoise(case.y, case.sigma, method=name)
        return ir.restore(case.y, case.H, prior=name, sigma=case.sigma)
    return run


def prior_methods():
    """One method per prior available now (discovered at run time)."""
    import invrestore as ir

    out = []
    for name in ir.available_priors():
        out.append(Method(name, "invrestore", f"invrestore prior {name!r}, default parameters",
                          _prior_runner(name), ("denoise",) + RESTORE_FAMILIES))
    return out


def weights_dir(data_root=None):
    """Folder of the published denoiser weights, or None: ``$INVRESTORE_WEIGHTS``, else
    ``<data>/../weights``."""
    env = os.environ.get("INVRESTORE_WEIGHTS")
    if env:
        return Path(env) if Path(env).is_dir() else None
    if data_root is not None:
        cand = Path(data_root).resolve().parent / "weights"
        if cand.is_dir():
            return cand
    return None


class _Cached:
    """Load weights once per file, on first use."""

    def __init__(self):
        self._nets = {}

    def get(self, path):
        if path not in self._nets:
            from ..nn import load

            self._nets[path] = load(path)
        return self._nets[path]


def weight_methods(data_root=None):
    """DnCNN-S and FFDNet with the authors' weights on invrestore's engine, when present."""
    folder = weights_dir(data_root)
    if folder is None:
        return []
    try:
        from ..nn import load  # noqa: F401
    except ImportError:
        return []
    cache = _Cached()
    out = []
    dncnn = {s: folder / "dncnn" / f"dncnn_s_sigma{s}.mat" for s in (15, 25, 50)}
    if all(p.is_file() for p in dncnn.values()):
        def run_dncnn(case):
            net = cache.get(dncnn[round(case.sigma * 255)])
            return net(case.y, case.sigma)
        out.append(Method("dncnn_s", "invrestore.nn", "DnCNN-S (one network per noise level), "
                          "published MatConvNet weights on invrestore.nn", run_dncnn,
                          ("denoise",), gray_only=True, levels=(15, 25, 50),
                          info={"weights": str(folder / "dncnn")}))
    gray, color = folder / "ffdnet" / "ffdnet_gray.mat", folder / "ffdnet" / "ffdnet_color.mat"
    if gray.is_file():
        def net_for(case):
            if case.y.ndim == 3:
                if not color.is_file():
                    raise FileNotFoundError(f"no colour FFDNet weights {color}")
                return cache.get(color)
            return cache.get(gray)

        def run_ffdnet(case):
            import invrestore as ir

            net = net_for(case)
            if case.H is None:
                return net(case.y, case.sigma)
            return ir.restore(case.y, case.H, prior=net, sigma=case.sigma)
        out.append(Method("ffdnet", "invrestore.nn", "FFDNet (noise-level map), published "
                          "weights on invrestore.nn; plug-and-play (DPIR schedule) in restore",
                          run_ffdnet, ("denoise",) + RESTORE_FAMILIES,
                          info={"weights": str(folder / "ffdnet")}))
    return out


def all_methods(data_root=None):
    """Every method available in this environment: priors, published weights, peers."""
    from .peers import peer_methods

    return prior_methods() + weight_methods(data_root) + peer_methods(data_root)


def select_methods(names=None, *, quick=False, data_root=None):
    """``(methods, missing)``: methods by name, or the groups ``all``, ``priors``
    (invrestore priors), ``nn``, ``peers``, ``quick``; default every available method
    (``quick``: :data:`QUICK_METHODS`).

    ``missing`` lists known names that cannot run here (package or weights not installed):
    the runner reports them. Unknown names raise ValueError listing the available ones.
    """
    methods = all_methods(data_root)
    by_name = {m.name: m for m in methods}
    if not names:
        if quick:
            return [m for m in methods if m.name in QUICK_METHODS], []
        return methods, []
    groups = {"all": methods, "priors": [m for m in methods if m.kind == "invrestore"],
              "nn": [m for m in methods if m.kind == "invrestore.nn"],
              "peers": [m for m in methods if m.kind in ("peer", "baseline")],
              "quick": [m for m in methods if m.name in QUICK_METHODS]}
    chosen, missing = [], []
    from .peers import KNOWN_PEERS

    known = set(KNOWN_PEERS) | {"dncnn_s", "ffdnet"} | set(by_name)
    import invrestore as ir

    known |= {n for n in ir.PRIOR_NAMES if n != "pnp"}
    for n in names:
        key = n.strip().lower()
        if key in groups:
            chosen += [m for m in groups[key] if m not in chosen]
        elif key in by_name:
            if by_name[key] not in chosen:
                chosen.append(by_name[key])
        elif key in known:
            missing.append(key)
        else:
            raise ValueError(f"unknown method {n!r}; available here: "
                             f"{', '.join(sorted(by_name))} (groups: {', '.join(groups)})")
    return chosen, missing
