"""Hot kernels shared by operators, functionals and denoisers.

Each kernel has a Numba version (NumPy input, CPU), an array-API version that runs on CuPy,
and a slow pure-array reference used by the tests (for simple kernels the array-API version
is that reference). The public entry points dispatch on the input array.
"""

from .tv import CHECK_EVERY, TVProxInfo, tv_duality_gap, tv_norm, tv_objective, tv_prox

__all__ = ["CHECK_EVERY", "TVProxInfo", "tv_duality_gap", "tv_norm", "tv_objective", "tv_prox"]
