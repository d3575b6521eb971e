"""Tiled inference with overlap: large images through a network in bounded memory.

A convolutional network's output at a pixel depends on the input within its receptive field.
:func:`tiled_apply` cuts the output into tiles of at most ``tile x tile`` pixels, runs the
network on each tile extended by ``halo`` pixels on every side that is not an image border, and
keeps the tile's own pixels. When ``halo`` is at least the receptive radius and the network is
built from zero-padded "same" convolutions and pixel (un)shuffles aligned to ``align``, every
kept pixel sees exactly what it would see in a whole-image pass, so tiling changes nothing
beyond float rounding (DnCNN, FDnCNN, FFDNet). For U-Nets (DRUNet) the receptive field is
larger than any practical halo and the result is close but not identical near tile seams.

Memory is that of one extended tile (the activations of a 64-channel network on a
``(1024 + 2 halo)^2`` tile are about 0.6 GB in float32) plus the input and output images.

Examples
--------
>>> import numpy as np
>>> from invrestore.nn.tiling import tiled_apply
>>> x = np.random.default_rng(0).random((50, 70, 1)).astype(np.float32)
>>> from invrestore.nn.functional import conv2d
>>> w = np.full((1, 1, 3, 3), 1 / 9, np.float32)
>>> blur = lambda t: conv2d(conv2d(t, w, padding=1), w, padding=1)  # receptive radius 2
>>> bool(np.allclose(tiled_apply(blur, x, tile=16, halo=2), blur(x), atol=1e-6))
True
"""

from __future__ import annotations

import math

from ..backend import get_xp

__all__ = ["tile_starts", "tiled_apply"]


def tile_starts(n, tile):
    """Start indices of the tiles that cover ``range(n)``."""
    return list(range(0, n, tile))


def tiled_apply(fn, x, *, tile, halo, align=1):
    """Apply ``fn`` (an ``(h, w, C) -> (h, w, C')`` network) to ``x`` tile by tile.

    Parameters
    ----------
    fn : callable
        Takes and returns channels-last arrays of the same height and width.
    x : ndarray
        ``(H, W, C)`` input (NumPy or CuPy).
    tile : int or None
        Largest tile side in pixels (rounded up to a multiple of ``align``); None or a tile at
        least the image size runs ``fn(x)`` once.
    halo : int
        Context added on each inner side of a tile (rounded up to a multiple of ``align``).
    align : int
        Tile origins and halos are multiples of this (2 for a 2x2 pixel unshuffle, 8 for a
        U-Net with three 2x down-samplings), so that tiles see the same sub-pixel grid as the
        whole image.

    Returns
    -------
    ndarray
        ``(H, W, C')``.
    """
    h, w = x.shape[:2]
    if tile is None or (h <= tile and w <= tile):
        return fn(x)
    tile = max(align, math.ceil(tile / align) * align)
    halo = math.ceil(halo / align) * align
    xp = get_xp(x)
    out = None
    for r0 in tile_starts(h, tile):
        r1 = min(h, r0 + tile)
        a0, a1 = max(0, r0 - halo), min(h, r1 + halo)
        for c0 in tile_starts(w, tile):
            c1 = min(w, c0 + tile)
            b0, b1 = max(0, c0 - halo), min(w, c1 + halo)
            y = fn(x[a0:a1, b0:b1])
            if out is None:
                out = xp.empty((h, w, y.shape[2]), dtype=y.dtype)
            out[r0:r1, c0:c1] = y[r0 - a0:r1 - a0, c0 - b0:c1 - b0]
    return out
