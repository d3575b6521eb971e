"""Batches of image files: local processes or a Dask cluster, resumable, failures reported.

:func:`restore_many` restores every file of a list (or folder) into ``out_dir``:

* **resumable**: an output that exists is a finished image (outputs are written atomically by
  :func:`invrestore.io.imwrite`, so a partial file never exists) and is skipped unless
  ``force``;
* **robust**: an unreadable or corrupt input, or any error while restoring it, is reported in
  the :class:`BatchReport` and the other files go on;
* **parallel**: one process per worker (``concurrent.futures.ProcessPoolExecutor``) on this
  machine, or the workers of a ``distributed`` cluster when ``client`` is given (a
  ``distributed.Client`` or a scheduler address). Each image is restored by one worker, with
  ``threads`` Numba threads (default: the machine's cores divided by the workers).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from invrestore.io import imwrite
>>> from invrestore.scale import restore_many
>>> src, dst = tempfile.mkdtemp(), tempfile.mkdtemp()
>>> rng = np.random.default_rng(0)
>>> for i in range(3):
...     imwrite(os.path.join(src, f"{i}.png"), rng.random((32, 32)))
>>> open(os.path.join(src, "bad.png"), "wb").write(b"not an image")
12
>>> report = restore_many(src, dst, method="tv", sigma=0.1, workers=1)
>>> len(report.done), len(report.failed), sorted(os.listdir(dst))
(3, 1, ['0.png', '1.png', '2.png'])
>>> len(restore_many(src, dst, method="tv", sigma=0.1, workers=1).skipped)
3
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["BatchReport", "BlurModel", "find_images", "process_image", "restore_many"]


def find_images(folder):
    """Image files (suffixes of :data:`invrestore.io.SUFFIXES`) directly in ``folder``, sorted;
    hidden files (such as the temporary files of an interrupted write) are left out."""
    from ..io import SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"input folder {folder} does not exist or is not a folder")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".")
                  and p.suffix.lower() in SUFFIXES)


@dataclass
class BatchReport:
    """What :func:`restore_many` did.

    Attributes
    ----------
    done : list of str
        Inputs restored by this run.
    skipped : list of str
        Inputs whose output already existed.
    failed : list of (str, str)
        Inputs that failed, with the reason.
    seconds : float
        Wall time of the run.
    workers : str
        Where it ran ("1 process", "4 processes", the cluster's address).
    """

    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    seconds: float = 0.0
    workers: str = ""

    @property
    def ok(self):
        """True when nothing failed."""
        return not self.failed

    @property
    def throughput(self):
        """Images restored per second."""
        return len(self.done) / self.seconds if self.seconds > 0 else 0.0

    def summary(self):
        """One line: counts, time and throughput."""
        return (f"{len(self.done)} restored, {len(self.skipped)} skipped (already done), "
                f"{len(self.failed)} failed in {self.seconds:.1f} s "
                f"({self.throughput:.2f} images/s, {self.workers})")

    def as_dict(self):
        return {"done": self.done, "skipped": self.skipped,
                "failed": [list(f) for f in self.failed], "seconds": self.seconds,
                "workers": self.workers}


class BlurModel:
    """Picklable operator factory ``shape -> Blur`` for :func:`restore_many` (``shape`` is the
    observation's; a ``"valid"`` blur restores an image larger by the kernel size - 1)."""

    def __init__(self, kernel, boundary="circular"):
        self.kernel = np.asarray(kernel, dtype=np.float64)
        self.boundary = boundary

    def __call__(self, shape):
        from ..operators import Blur

        kh, kw = self.kernel.shape
        x_shape = tuple(shape)
        if self.boundary == "valid":
            x_shape = (shape[0] + kh - 1, shape[1] + kw - 1) + tuple(shape[2:])
        return Blur(self.kernel, x_shape, boundary=self.boundary)

    def __repr__(self):
        return f"BlurModel(kernel {self.kernel.shape}, boundary={self.boundary!r})"


@dataclass
class _Job:
    method: object = "tv"
    sigma: float | None = None
    operator_factory: object = None
    options: dict = field(default_factory=dict)
    tile: int | None = None
    force: bool = False
    threads: int | None = None


def _set_threads(threads):
    if threads:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def process_image(in_path, out_path, job):
    """Restore one file (the unit of work of :func:`restore_many`; never raises).

    Returns
    -------
    tuple
        ``(status, in_path, message, seconds)`` with status ``"done"``, ``"skipped"`` or
        ``"failed"``.
    """
    t0 = time.perf_counter()
    try:
        from ..io import ImageArray, imread, imwrite

        out_path = Path(out_path)
        if out_path.exists() and not job.force:
            return "skipped", str(in_path), "output exists", 0.0
        _set_threads(job.threads)
        image = imread(in_path)
        y = np.asarray(image)
        x = _restore_array(y, job)
        out = np.clip(np.asarray(x), 0.0, 1.0).view(ImageArray)
        out.bit_depth = image.bit_depth
        imwrite(out_path, out, force=job.force)
        return "done", str(in_path), "", time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 (one bad file must not stop the batch)
        return "failed", str(in_path), f"{type(exc).__name__}: {exc}", time.perf_counter() - t0


def _restore_array(y, job):
    opts = dict(job.options)
    if job.operator_factory is None:
        if job.tile:
            from .tiling import denoise_tiled

            return denoise_tiled(y, job.sigma, method=job.method, tile=job.tile, **opts)
        from ..api import denoise

        return denoise(y, job.sigma, method=job.method, **opts)
    H = job.operator_factory(y.shape)
    if job.tile:
        from .tiling import restore_tiled

        return restore_tiled(y, H, job.method, sigma=job.sigma, tile=job.tile, **opts)
    from ..api import restore

    return restore(y, H, prior=job.method, sigma=job.sigma, **opts)


def _init_worker(threads):
    _set_threads(threads)


def _out_path(in_path, out_dir, suffix):
    p = Path(in_path)
    return Path(out_dir) / (p.stem + (suffix or p.suffix))


def restore_many(paths, out_dir, *, method="tv", sigma=None, operator_factory=None, tile=None,
                 suffix=None, force=False, client=None, workers=None, threads=None,
                 progress=False, **options):
    """Restore a batch of image files into ``out_dir``.

    Parameters
    ----------
    paths : folder or list of paths
        Input files, or a folder (its images, :func:`find_images`).
    out_dir : str or os.PathLike
        Output folder (created); each output keeps its input's name and bit depth.
    method : str, Prior or denoiser
        The prior (:func:`invrestore.denoise` / :func:`invrestore.restore`); must be picklable
        to go to other processes (names always are).
    sigma : float, optional
        Noise std on the [0, 1] scale; estimated per image when omitted.
    operator_factory : callable, optional
        ``operator_factory(y.shape) -> H`` for restoration (picklable: a module-level function,
        ``functools.partial`` or :class:`BlurModel`); None denoises.
    tile : int, optional
        Restore each image tile by tile (:func:`~invrestore.scale.denoise_tiled`,
        :func:`~invrestore.scale.restore_tiled`).
    suffix : str, optional
        Output format (".png", ".tif", ...); default the input's.
    force : bool
        Redo images whose output exists (replaced atomically).
    client : distributed.Client or str, optional
        Run on this Dask cluster (a client, or a scheduler address such as
        ``"tcp://127.0.0.1:8786"``).
    workers : int, optional
        Local processes when no client is given (default: the number of cores, at most the
        number of images); 1 runs in this process.
    threads : int, optional
        Numba threads per image (default: cores / workers locally, the workers' threads on a
        cluster).
    progress : bool
        Progress bar on stderr.
    **options
        Passed to the prior (denoising) or to :func:`invrestore.restore` (``lam``, ``solver``,
        ``max_iter``, ...).

    Returns
    -------
    BatchReport
    """
    from ..io import SUFFIXES

    if isinstance(paths, (str, os.PathLike)) and Path(paths).is_dir():
        paths = find_images(paths)
    paths = [Path(p) for p in paths]
    if suffix is not None and suffix.lower() not in SUFFIXES:
        raise ValueError(f"suffix must be one of {', '.join(SUFFIXES)}, got {suffix!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outs = [_out_path(p, out_dir, suffix) for p in paths]
    if len(set(outs)) != len(outs):
        raise ValueError("two inputs map to the same output name (same stem, different "
                         "suffix); give suffix= or separate folders")
    report = BatchReport()
    todo = []
    for p, o in zip(paths, outs):
        if o.exists() and not force:
            report.skipped.append(str(p))
        else:
            todo.append((p, o))
    job = _Job(method, sigma, operator_factory, dict(options), tile, force, threads)
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    with tqdm(total=len(todo), disable=not progress, unit="image", desc="batch",
              file=sys.stderr) as bar:
        for status, path, message, _ in _run(todo, job, client, workers, report):
            if status == "done":
                report.done.append(path)
            elif status == "skipped":
                report.skipped.append(path)
            else:
                report.failed.append((path, message))
            bar.update()
    report.seconds = time.perf_counter() - t0
    return report


def _run(todo, job, client, workers, report):
    """Yield the results of ``process_image`` over ``todo`` as they complete."""
    if client is not None:
        yield from _run_dask(todo, job, client, report)
        return
    cores = os.cpu_count() or 1
    n = cores if workers is None else int(workers)
    if n < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    n = max(1, min(n, len(todo)))
    if job.threads is None:
        job.threads = max(1, cores // n)
    report.workers = f"{n} process{'es' if n > 1 else ''}"
    if n == 1:
        for p, o in todo:
            yield process_image(p, o, job)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: forking a process whose Numba/OpenMP thread pools are running is not safe
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_init_worker,
                             initargs=(job.threads,)) as pool:
        futures = {pool.submit(process_image, p, o, job): p for p, o in todo}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 (a worker process died: memory, signal)
                yield "failed", str(futures[fut]), f"{type(exc).__name__}: {exc}", 0.0


def _run_dask(todo, job, client, report):
    from .dask_array import require_dask

    require_dask(distributed=True)
    from distributed import Client, as_completed

    own = None
    if isinstance(client, str):
        client = own = Client(client)
    try:
        if job.threads is None:
            nthreads = client.nthreads()
            job.threads = max(1, min(nthreads.values())) if nthreads else 1
        report.workers = f"{len(client.nthreads())} Dask workers at {client.scheduler.address}"
        futures = client.map(process_image, [str(p) for p, _ in todo],
                             [str(o) for _, o in todo], job=job, pure=False)
        where = {f.key: str(p) for f, (p, _) in zip(futures, todo)}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 (the task was lost with its worker)
                yield "failed", where[fut.key], f"{type(exc).__name__}: {exc}", 0.0
    finally:
        if own is not None:
            own.close()
