"""Scale-out: tiled restoration in bounded memory, Dask arrays, batches of files.

=============================  ===============================================================
:func:`denoise_tiled`          :func:`invrestore.denoise` tile by tile, the same result
:func:`restore_tiled`          :func:`invrestore.restore` tile by tile, for local models
:func:`estimate_memory`        peak memory of a tiled run, before running it
:func:`default_overlap`        overlap that makes tiles see what the whole image sees
:func:`denoise_dask`,          the same on a Dask array (``dask.array.map_overlap``), e.g. a
:func:`restore_dask`           Zarr array larger than memory, on a ``distributed`` cluster
:func:`restore_many`           a batch of image files: local processes or a Dask cluster,
                               resumable, atomic outputs, failures reported
=============================  ===============================================================

Dask is optional (``pip install "invrestore[dask]"``) and imported only by the functions that
need it.
"""

import importlib

_LAZY = {
    "Tile": ".tiling",
    "plan_tiles": ".tiling",
    "estimate_memory": ".memory",
    "MemoryEstimate": ".memory",
    "denoise_tiled": ".tiling",
    "restore_tiled": ".tiling",
    "sample_sigma": ".tiling",
    "default_overlap": ".locality",
    "receptive_radius": ".locality",
    "localize": ".locality",
    "denoise_dask": ".dask_array",
    "restore_dask": ".dask_array",
    "restore_many": ".batch",
    "BatchReport": ".batch",
    "find_images": ".batch",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
