"""Learned denoisers: a small float32 inference engine for convolutional networks.

Networks run on NumPy (Numba + BLAS on the CPU) or CuPy (the weights' device decides, see
:meth:`NetDenoiser.to`), with no deep-learning framework at run time:

* architectures: :class:`DnCNN` (17 and 20 layers, residual), :class:`FDnCNN` (noise-level map
  input), :class:`FFDNet` (gray and colour, 2x2 pixel unshuffle + noise map), :class:`DRUNet`
  (KAIR layout);
* weights: :func:`load` reads MatConvNet ``.mat`` (MATLAB v7.3), PyTorch ``.pth`` (needs
  torch) and invrestore's own pickle-free ``.npz`` (:func:`save_npz` writes it);
  :func:`load_shipped` loads weights that come with the package;
* :class:`TorchDenoiser` wraps any PyTorch module as a denoiser (DLPack, no copies on GPU);
* :mod:`invrestore.nn.functional`: the operations (convolution with any kernel, stride,
  padding and dilation, transposed convolution, ReLU, pixel (un)shuffle, batch-norm folding) on
  channels-last ``(H, W, C)`` arrays, and :mod:`invrestore.nn.reference`, their slow oracle.

Every network is an :class:`invrestore.denoisers.Denoiser`: ``net(x, sigma)`` takes an
``(H, W)`` or ``(H, W, C)`` image in [0, 1] (float32 or float64, kept) and the noise standard
deviation on the same scale (``25 / 255``). Large images go through overlapping tiles of
``tile`` pixels (default 1024): exact for DnCNN/FDnCNN/FFDNet, so a 4096 x 4096 image needs
well under 2 GB.

Speed (CPU): the convolutions of a band of rows are BLAS ``sgemm`` calls on a padded-flat
layout (:mod:`invrestore.nn._flat`), bands in parallel on Numba's threads
(``numba.set_num_threads``); see ``benchmarks/nn_vs_torch.py`` for the comparison with PyTorch.
Speed (GPU): cuBLAS ``sgemm`` calls on the same layout (:mod:`invrestore.nn._flat_cuda`), or,
for kernels up to 3 columns wide, an implicit-GEMM tensor-core kernel (:mod:`invrestore.nn._conv_tc`: 3xTF32 in float32, TF32 where
:func:`tf32` allows it), whichever is faster on the device (timed once per layer shape);
``benchmarks/gpu_check.py`` compares with PyTorch CUDA.

Examples
--------
>>> import numpy as np
>>> from invrestore.nn import DnCNN
>>> net = DnCNN.random(n_layers=5, features=16, rng=0)   # or load("model.mat")
>>> y = np.random.default_rng(0).random((32, 32)).astype(np.float32)
>>> net(y, 25 / 255).shape
(32, 32)
"""

import importlib

_LAZY = {
    "NetDenoiser": ".models",
    "DnCNN": ".models",
    "FDnCNN": ".models",
    "FFDNet": ".models",
    "DRUNet": ".drunet",
    "load": ".loading",
    "load_shipped": ".loading",
    "available_shipped": ".loading",
    "save_npz": ".io_npz",
    "TorchDenoiser": ".torch_bridge",
    "tiled_apply": ".tiling",
    "tf32": "._flat_cuda",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
