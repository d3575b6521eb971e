"""Denoisers ``D(x, sigma) -> x``: one protocol for classical and learned ones.

See :mod:`invrestore.denoisers.base`; :class:`~invrestore.functionals.DenoiserPrior` turns any
of them into a prior for the solvers (plug-and-play). The classical denoisers live in their own
modules and are imported on first use, so importing the package stays cheap.
"""

import importlib

from .base import Denoiser, FunctionDenoiser, PriorDenoiser, as_denoiser

_LAZY = {
    "NLMDenoiser": ".nlm",
    "nlm_denoise": ".nlm",
    "GaussianMixture": ".gmm",
    "fit_gmm": ".gmm",
    "load_gmm": ".gmm",
    "EPLLDenoiser": ".epll",
    "BM3DDenoiser": ".bm3d",
}

__all__ = ["Denoiser", "FunctionDenoiser", "PriorDenoiser", "as_denoiser", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
