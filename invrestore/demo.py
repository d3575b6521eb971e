"""The ``invrestore demo`` tour: five degradations of a test image, every prior on each.

The camera man of :func:`skimage.data.camera`, resized to ``size x size``, is degraded five
ways (noise std on the [0, 1] scale):

==============  ==========================================================================
task            observation ``y = H x + n``
==============  ==========================================================================
deblur          Gaussian blur (std 1.6, 25 x 25, circular boundary), noise 0.01
denoise         noise 0.1 (``H = I``; restored by :func:`invrestore.denoise`)
inpaint         30% of the pixels missing, noise 0.01
sr_x2           the blur above, then x2 decimation, noise 0.01
all_in_one      blur, x2 decimation, 30% of the low-resolution pixels missing, noise 0.01
==============  ==========================================================================

Each observation is restored with every available prior (:func:`default_priors`) at the true
noise level, with the automatic solver of :func:`invrestore.restore` and each prior's
calibrated weight (``lam=None``; ``lam="auto"`` for the priors in :data:`AUTO_LAM_PRIORS`,
see the comment in :func:`run_demo`). Identity Tikhonov is not run where pixels are missing:
its minimiser is 0 there.
The degraded input is scored as the observation itself, upsampled by MATLAB-style bicubic
interpolation when it is smaller than the image (missing pixels count as black).
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["run_demo", "FIGURE_NAME", "RESULTS_NAME"]

FIGURE_NAME = "demo.png"
RESULTS_NAME = "results.json"


def camera_image(size):
    """The camera man, resized to ``size x size`` with MATLAB-style bicubic, in [0, 1]."""
    from skimage import data

    from .degradations import imresize

    x = data.camera().astype(np.float64) / 255.0
    if x.shape != (size, size):
        x = imresize(x, output_shape=(size, size))
    return np.clip(x, 0.0, 1.0)


def make_tasks(shape, rng):
    """``[(name, description, H, sigma), ...]`` for an image of ``shape``."""
    from .degradations import gaussian_kernel, random_mask
    from .operators import Blur, Downsample, Identity, Mask

    k = gaussian_kernel(1.6, size=25)
    blur = Blur(k, shape)
    down = Downsample(2, shape)
    small = down.out_shape
    return [
        ("deblur", "Gaussian blur 1.6 (25x25, circular) + noise 0.01", blur, 0.01),
        ("denoise", "noise 0.1", Identity(shape), 0.1),
        ("inpaint", "30% missing pixels + noise 0.01", Mask(random_mask(shape, 0.3, rng=rng)),
         0.01),
        ("sr_x2", "x2 super-resolution (blur, decimate) + noise 0.01", down @ blur, 0.01),
        ("all_in_one", "blur + x2 decimation + 30% missing + noise 0.01",
         Mask(random_mask(small, 0.3, rng=rng)) @ down @ blur, 0.01),
    ]


def _as_shown(y, shape):
    from .degradations import imresize

    if y.shape != shape:
        y = imresize(y, output_shape=shape[:2])
    return np.clip(y, 0.0, 1.0)


def _figure_matplotlib(rows, labels, col_titles):
    import io

    from matplotlib.figure import Figure  # no pyplot: no global backend state

    n_rows, n_cols = len(rows), len(rows[0])
    fig = Figure(figsize=(2.0 * n_cols, 2.15 * n_rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols))
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(rows[r][c], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(labels[r][c], fontsize=8)
            if c == 0:
                ax.set_ylabel(col_titles[r], fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _figure_plain(rows):
    import imageio.v3 as iio

    gap = 4
    h, w = rows[0][0].shape
    out = np.ones((len(rows) * (h + gap) - gap, len(rows[0]) * (w + gap) - gap))
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = img
    return iio.imwrite("<bytes>", np.rint(out * 255).astype(np.uint8), extension=".png")


def _figure(rows, labels, names):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return _figure_plain(rows)
    return _figure_matplotlib(rows, labels, names)


#: Left out of the default tour to keep it under a minute on 2 cores: their denoisers take
#: about a second per call at 256x256, and plug-and-play calls them 8 to 24 times per task.
#: Ask for them with ``priors=`` (``invrestore demo --priors tv,gmm,bm3d``).
SLOW_PRIORS = ("gmm", "bm3d")


#: Priors the tour restores with ``lam="auto"`` (the others with their calibrated weight).
AUTO_LAM_PRIORS = ("tikhonov",)


def default_priors():
    """Every prior usable here (:func:`invrestore.available_priors`) but the slow ones."""
    from . import available_priors

    return tuple(p for p in available_priors() if p not in SLOW_PRIORS)


def _one_numba_thread(func):
    """Run ``func`` with one Numba thread. At the demo's 256x256 a parallel region gains
    little, and it waits at its barrier whenever another process holds a core: on a busy
    2-core machine the tour took over 300 s with 2 threads and 28 s with one."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import numba

        previous = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return func(*args, **kwargs)
        finally:
            numba.set_num_threads(previous)

    return wrapper


@_one_numba_thread
def run_demo(out="invrestore-demo", *, size=256, seed=0, force=False, stream=None,
             priors=None):
    """Run the tour, print the table and write ``demo.png`` and ``results.json`` into ``out``.

    Parameters
    ----------
    out : str or os.PathLike
        Output folder, created (with its parents) when the results are written.
    size : int
        Side of the test image, even and >= 32.
    seed : int
        Seed of the noise and the masks.
    force : bool
        Replace existing ``demo.png`` / ``results.json`` in ``out``.
    stream : file, optional
        Where the progress and the table go (default ``sys.stdout``).
    priors : sequence of str, optional
        Priors to run (default :func:`default_priors`).

    Returns
    -------
    dict
        What ``results.json`` holds.

    Raises
    ------
    FileExistsError
        ``out`` already holds the figure or the results and ``force`` is False (checked before
        any work).
    """
    from . import __version__, denoise, restore
    from .api import _observed_pixels, get_prior
    from .backend import check_scalar
    from .degradations import add_gaussian_noise
    from .io import write_bytes
    from .metrics import psnr, ssim
    from .precompile import finish as precompile_finish
    from .precompile import kernel_family
    from .precompile import start as precompile_start

    stream = sys.stdout if stream is None else stream
    PRIOR_NAMES = default_priors() if priors is None else tuple(priors)  # noqa: N806
    if not PRIOR_NAMES:
        raise ValueError("priors must name at least one prior")
    size = check_scalar(size, "size", integer=True)
    if size < 32 or size % 2:
        raise ValueError(f"size must be an even number >= 32, got {size}")
    seed = check_scalar(seed, "seed", integer=True, nonnegative=True)
    for p in PRIOR_NAMES:
        get_prior(p)  # unknown names and missing extras fail here, before any work
    out = Path(out)
    targets = [out / FIGURE_NAME, out / RESULTS_NAME]
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    for t in targets:
        if t.exists() and not force:
            raise FileExistsError(f"{t} already exists; pass --force to replace it")

    def say(text=""):
        print(text, file=stream, flush=True)

    t_start = time.perf_counter()
    rng = np.random.default_rng(seed)
    x = camera_image(size)
    # While this process compiles the first prior's kernels, a second one compiles the
    # others' (a fresh install spends ~20 s compiling, one core at a time).
    first = kernel_family(PRIOR_NAMES[0])
    ahead = {p for p in PRIOR_NAMES if kernel_family(p) != first}
    job = precompile_start(sorted(ahead, key=PRIOR_NAMES.index), x.dtype)
    tasks = make_tasks(x.shape, rng)
    header = (f"{'task':<11} {'prior':<17} {'degraded':>14}   {'restored':>14}   "
              f"{'solver':<7} {'iter':>4} {'time':>7}")
    say(f"invrestore {__version__} demo: camera {size}x{size}, seed {seed}; "
        f"PSNR (dB) / SSIM against the clean image")
    record = {"image": f"skimage.data.camera, {size}x{size}", "size": size, "seed": seed,
              "priors": list(PRIOR_NAMES), "tasks": []}
    fig_rows, fig_labels, fig_names = [], [], []
    for i, (name, description, H, sigma) in enumerate(tasks, 1):
        say(f"[{i}/{len(tasks)}] {name}: {description}")
        say(header)
        y = add_gaussian_noise(H @ x, sigma, rng=rng)
        shown = _as_shown(y, x.shape)
        d_psnr, d_ssim = psnr(shown, x), ssim(shown, x)
        entry = {"task": name, "description": description, "sigma": sigma,
                 "observation_shape": list(y.shape), "operator": repr(H),
                 "degraded": {"psnr": d_psnr, "ssim": d_ssim}, "results": []}
        fig_rows.append([x, shown])
        fig_labels.append(["truth", f"degraded {d_psnr:.2f} dB"])
        fig_names.append(name)
        for prior in PRIOR_NAMES:
            if prior == "tikhonov" and _observed_pixels(H) is not None:
                # R(x) = |x|^2 / 2 couples no pixels: its minimiser is 0 wherever y has no
                # data, so it cannot inpaint. Shown as such rather than as a failure.
                why = "an identity penalty leaves missing pixels at 0"
                entry["results"].append({"prior": prior, "skipped": why})
                fig_rows[-1].append(shown)
                fig_labels[-1].append(f"{prior}: n/a")
                say(f"{name:<11} {prior:<17} skipped: {why}")
                continue
            if job is not None and prior in ahead:
                precompile_finish(job)  # then its kernels load from the cache
                job = None
            t0 = time.perf_counter()
            if name == "denoise":
                x_hat, info = denoise(y, sigma, method=prior), {"solver": "prox", "n_iter": 1}
            else:
                # The calibrated weights (lam=None): the per-image search of lam="auto" takes
                # about ten restorations. Identity Tikhonov is the exception: its weight
                # calibrated for denoising amplifies the noise through a blur (21 dB against
                # 25 dB degraded at 256x256), and its closed-form steps make the search cheap.
                lam = "auto" if prior in AUTO_LAM_PRIORS else None
                res = restore(y, H, prior=prior, sigma=sigma, lam=lam, full_output=True)
                x_hat = res.x
                info = {"solver": res.info["solver"], "n_iter": res.n_iter,
                        "converged": res.converged, "lam": res.info["lam"]}
            dt = time.perf_counter() - t0
            x_hat = np.clip(x_hat, 0.0, 1.0)
            r_psnr, r_ssim = psnr(x_hat, x), ssim(x_hat, x)
            entry["results"].append({"prior": prior, "psnr": r_psnr, "ssim": r_ssim,
                                     "time_s": dt, **info})
            fig_rows[-1].append(x_hat)
            fig_labels[-1].append(f"{prior} {r_psnr:.2f} dB")
            say(f"{name:<11} {prior:<17} {d_psnr:6.2f} / {d_ssim:.3f}   {r_psnr:6.2f} / "
                f"{r_ssim:.3f}   {info['solver']:<7} {info['n_iter']:>4} {dt:6.2f}s")
        best = max((j for j, r in enumerate(entry["results"]) if "psnr" in r),
                   key=lambda j: entry["results"][j]["psnr"])
        entry["best"] = PRIOR_NAMES[best]
        fig_labels[-1][2 + best] += " (best)"
        record["tasks"].append(entry)
    total = time.perf_counter() - t_start
    record["total_time_s"] = total
    record["platform"] = {"python": platform.python_version(), "numpy": np.__version__,
                          "invrestore": __version__, "machine": platform.machine()}
    say()
    say("best prior per task: " + ", ".join(f"{e['task']} {e['best']} "
                                            f"({max(r.get('psnr', -1) for r in e['results']):.2f} dB)"
                                            for e in record["tasks"]))
    figure = _figure(fig_rows, fig_labels, fig_names)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes(targets[0], figure, force=force)
    write_bytes(targets[1], json.dumps(record, indent=2) + "\n", force=force)
    say(f"total {total:.1f} s; wrote {targets[0]} and {targets[1]}")
    return record
