"""Data terms and priors (see :mod:`invrestore.functionals.base` for the conventions)."""

from .base import Functional, Prior, Zero
from .norms import L21
from .losses import L1, DataFidelity, KullbackLeibler, SquaredL2
from .simple import Box, GradientTikhonov, NonNegative, Tikhonov

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
    "L21",
]
