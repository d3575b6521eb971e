"""The benchmark suite: the project's single source of numbers.

``invrestore bench`` (or ``python -m benchmarks`` from the repository root) runs every
invrestore prior available at run time, invrestore's engine on published network weights,
and the installed peers (scikit-image, the ``bm3d`` package, PyTorch, deepinv) on standard
denoising, deblurring, super-resolution, inpainting and all-at-once tasks, and writes JSON
results, a Markdown report with the published numbers beside ours, and figures.
``invrestore bench perf`` runs the performance micro-benchmarks.

Modules: :mod:`~invrestore.bench.tasks` (protocols, degradations, scoring),
:mod:`~invrestore.bench.methods` and :mod:`~invrestore.bench.peers` (what is compared),
:mod:`~invrestore.bench.references` (published numbers), :mod:`~invrestore.bench.runner`
(loop, incremental JSON), :mod:`~invrestore.bench.measure` (time, memory),
:mod:`~invrestore.bench.report` and :mod:`~invrestore.bench.figures` (output),
:mod:`~invrestore.bench.perf` (micro-benchmarks), :mod:`~invrestore.bench.cli`.
"""

from .cli import main

__all__ = ["main"]
