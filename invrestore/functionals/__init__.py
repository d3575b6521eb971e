"""Data terms and priors (see :mod:`invrestore.functionals.base` for the conventions)."""

from .base import Functional, Prior, Zero
from .norms import L21
from .losses import L1, DataFidelity, KullbackLeibler, SquaredL2
from .simple import Box, GradientTikhonov, NonNegative, Tikhonov
from .tv import TotalVariation
from .wavelet import WaveletL1
from .pnp import RED, DenoiserPrior

__all__ = [
    "Functional",
    "Prior",
    "Zero",
    "SquaredL2",
    "L1",
    "KullbackLeibler",
    "DataFidelity",
    "Tikhonov",
    "GradientTikhonov",
    "Box",
    "NonNegative",
    "TotalVariation",
    "WaveletL1",
    "L21",
    "DenoiserPrior",
    "RED",
]
