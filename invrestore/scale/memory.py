"""Memory estimate of a tiled run, printed before it starts."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import check_scalar

__all__ = ["WORK_PLANES", "MemoryEstimate", "estimate_memory"]


def _starts(n, tile):
    return list(range(0, n, tile))


#: Working memory of one tile, in image-sized planes of the window (per channel, at the image's
#: float size): the buffers each method allocates, rounded up (see ``benchmarks/scale.py``).
WORK_PLANES = {"tv": 14, "tv_aniso": 14, "wavelet": 12, "tikhonov": 4,
               "gradient_tikhonov": 12, "nlm": 16, "gmm": 120, "bm3d": 60, "learned": 400,
               "restore": 40, "denoiser": 400}


def _method_key(method):
    if isinstance(method, str):
        return method.lower()
    from ..functionals import GradientTikhonov, Tikhonov, TotalVariation, WaveletL1

    for cls, key in ((TotalVariation, "tv"), (WaveletL1, "wavelet"),
                     (GradientTikhonov, "gradient_tikhonov"), (Tikhonov, "tikhonov")):
        if isinstance(method, cls):
            return key
    name = type(getattr(method, "denoiser", method)).__name__
    return "nlm" if name == "NLMDenoiser" else "denoiser"


class MemoryEstimate(NamedTuple):
    """Peak memory of a tiled run, in bytes (see :func:`estimate_memory`)."""

    total: int
    image: int
    per_tile: int
    n_tiles: int
    window: tuple
    workers: int

    def __str__(self):
        gb = 1024 ** 3
        return (f"{self.n_tiles} tiles, windows up to {self.window[0]}x{self.window[1]}: about "
                f"{self.total / gb:.2f} GB peak ({self.image / gb:.2f} GB image in and out, "
                f"{self.workers} x {self.per_tile / 1024 ** 2:.0f} MB per tile)")


def estimate_memory(shape, *, dtype=np.float32, tile=512, overlap=64, method="tv",
                    restore=False, workers=1, in_memory=True):
    """Estimate the peak memory of a tiled run before starting it.

    Parameters
    ----------
    shape : tuple
        Image shape ``(H, W)`` or ``(H, W, C)``.
    dtype : dtype
        Float dtype the image is processed in.
    tile, overlap : int
        Tiling (see :func:`plan_tiles`).
    method : str, Prior or denoiser
        What runs on each tile (keys of :data:`WORK_PLANES`; unknown denoisers count as a
        network).
    restore : bool
        A restoration (a solver's buffers on top of the prior's).
    workers : int
        Tiles processed at the same time.
    in_memory : bool
        The input and output images are held in memory (False for Dask, memory-mapped or Zarr
        arrays).

    Returns
    -------
    MemoryEstimate
        ``total = image + workers * per_tile``, with ``image`` the input plus the output and
        ``per_tile`` the window's working set.

    Examples
    --------
    >>> from invrestore.scale import estimate_memory
    >>> est = estimate_memory((8192, 8192), dtype="float32", tile=512, overlap=64)
    >>> est.n_tiles, round(est.total / 2 ** 30, 2)
    (256, 0.52)
    """
    item = np.dtype(dtype).itemsize
    H, W = int(shape[0]), int(shape[1])
    C = int(shape[2]) if len(shape) == 3 else 1
    tile = check_scalar(tile, "tile", integer=True, positive=True)
    wh, ww = min(H, tile + 2 * overlap), min(W, tile + 2 * overlap)
    planes = WORK_PLANES.get(_method_key(method), WORK_PLANES["denoiser"])
    if restore:
        planes += WORK_PLANES["restore"]
    per_tile = wh * ww * C * item * planes
    image = 2 * H * W * C * item if in_memory else 0
    n = len(_starts(H, tile)) * len(_starts(W, tile))
    return MemoryEstimate(int(image + workers * per_tile), int(image), int(per_tile), n,
                          (wh, ww), int(workers))


