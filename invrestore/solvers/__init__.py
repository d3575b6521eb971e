"""Iterative solvers sharing one run loop (:meth:`Solver.run` returns a :class:`Result`)."""

from .admm import ADMM
from .base import DivergenceWarning, Result, Solver
from .classical import RichardsonLucy, wiener
from .fista import FISTA
from .pdhg import PDHG
from .pnp import PnPADMM
from .splitting import HQS, DouglasRachford, dpir_schedule

__all__ = [
    "Solver",
    "Result",
    "DivergenceWarning",
    "FISTA",
    "ADMM",
    "PDHG",
    "HQS",
    "PnPADMM",
    "DouglasRachford",
    "RichardsonLucy",
    "wiener",
    "dpir_schedule",
]
