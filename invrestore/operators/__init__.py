"""Forward operators ``H`` of ``y = H x + noise``, each owning its quadratic solve.

=================  ==============================================  ===========================
operator           model                                           ``solve_normal``
=================  ==============================================  ===========================
``Identity``       denoising                                       exact
``Blur``           convolution, boundary circular/reflect/zero/    exact (circular: FFT;
                   valid                                           symmetric kernel + reflect:
                                                                   DCT), else CG
``Mask``           missing pixels / per-pixel weights              exact (diagonal)
``Downsample``     decimation                                      exact (diagonal)
``Downsample @     super-resolution                                exact (Zhao et al. 2016)
Blur(circular)``
``Gradient``       forward differences (TV)                        exact (DCT / FFT)
compositions,      ``A @ B``, ``A + B``, ``c * A``, ``A.H``          exact where a rule applies,
sums, scaling                                                      else CG
=================  ==============================================  ===========================
"""

from .base import Identity, LinearOperator
from .blur import BOUNDARIES, Blur
from .cg import CGInfo, conjugate_gradient
from .downsample import Downsample
from .gradient import Gradient
from .mask import Mask

__all__ = [
    "LinearOperator",
    "Identity",
    "Blur",
    "BOUNDARIES",
    "Mask",
    "Downsample",
    "Gradient",
    "conjugate_gradient",
    "CGInfo",
]
