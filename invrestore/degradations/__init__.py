"""Degradation models: blur kernels, noise, masks and MATLAB-compatible resizing.

These functions build the measurements ``y = H x + noise`` that the restoration code inverts, and
reproduce the degradation protocols of the standard benchmarks (see the data README).

Examples
--------
>>> import numpy as np
>>> from invrestore.degradations import gaussian_kernel, add_gaussian_noise, imresize
>>> x = np.random.default_rng(0).random((32, 32))
>>> y = add_gaussian_noise(imresize(x, 0.5), 0.01, rng=0)
>>> y.shape, gaussian_kernel(2.0).shape
((16, 16), (13, 13))
"""

from .kernels import (
    anisotropic_gaussian_kernel,
    disk_kernel,
    gaussian_kernel,
    motion_kernel,
    uniform_kernel,
    validate_kernel,
)
from .loaders import load_kernel, load_kernels12, load_levin_kernels
from .noise import add_gaussian_noise, add_poisson_noise, random_mask
from .resize import imresize, modcrop

__all__ = [
    "gaussian_kernel",
    "anisotropic_gaussian_kernel",
    "motion_kernel",
    "uniform_kernel",
    "disk_kernel",
    "validate_kernel",
    "load_levin_kernels",
    "load_kernels12",
    "load_kernel",
    "add_gaussian_noise",
    "add_poisson_noise",
    "random_mask",
    "imresize",
    "modcrop",
]
