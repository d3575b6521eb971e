"""invrestore: image restoration as optimisation.

Recover a clean image ``x`` from ``y = H x + noise`` by solving
``argmin_x D(H x, y) + lam R(x)`` with pluggable forward operators ``H`` (see
:mod:`invrestore.operators`), data terms and priors. NumPy arrays run on the CPU, CuPy arrays
on a GPU: the array passed in decides (see :mod:`invrestore.backend`).
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import backend, denoisers, functionals, operators, solvers, testing
from .api import PRIOR_NAMES, available_priors, denoise, get_prior, restore
from .backend import as_float_image, get_xp, to_device, to_numpy
from .estimation import estimate_sigma

try:
    __version__ = _version("invrestore")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "denoise",
    "restore",
    "get_prior",
    "available_priors",
    "PRIOR_NAMES",
    "estimate_sigma",
    "functionals",
    "denoisers",
    "solvers",
    "backend",
    "operators",
    "testing",
    "as_float_image",
    "get_xp",
    "to_device",
    "to_numpy",
    "__version__",
]


def __getattr__(name):
    # submodules with optional or heavier dependencies load on first use: invrestore.nn, ...
    if name in ("nn", "scale", "bench"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'invrestore' has no attribute {name!r}")
