"""The ``invrestore`` command: ``demo``, ``restore``, ``denoise``, ``bench``, ``batch`` and
``precompile``.

::

    invrestore demo [--out DIR] [--size N] [--seed S] [--priors A,B] [--force]
    invrestore restore IN OUT [--blur SPEC] [--boundary B] [--noise SIGMA] [--mask SPEC]
                              [--scale S] [--prior NAME | --weights FILE] [--lam LAM | --auto]
                              [--solver NAME] [--max-iter N] [--simulate] [--seed S] [--force]
    invrestore denoise IN OUT [--sigma S] [--method NAME | --weights FILE] [--lam LAM]
                              [--force]
    invrestore precompile [--priors A,B] [--dtype float32|float64|both] [--jobs N]
    invrestore batch IN_DIR OUT_DIR [--method NAME | --weights FILE] [--sigma S] [--blur SPEC]
                                    [--boundary B] [--tile N] [--suffix S] [--workers N]
                                    [--scheduler ADDRESS] [--strict] [--force] [--no-progress]
    invrestore bench [...]          # benchmark suite, see invrestore.bench.cli

Every failure (bad arguments, unknown prior, unreadable input, existing output without
``--force``) prints ``invrestore: error: ...`` on stderr and exits with status 2, leaving no
output file behind: outputs are checked before any work and written atomically at the end.

Examples
--------
>>> from invrestore.cli import main
>>> main(["restore", "in.png", "out.xyz"])
2
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "build_parser", "parse_blur", "build_operator"]

_SOLVERS = ("auto", "admm", "fista", "pdhg", "hqs")


class _UsageError(Exception):
    def __init__(self, message, parser):
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    # argparse would exit the interpreter; main() turns this into a message and status 2
    def error(self, message):
        raise _UsageError(message, self)


def _number(text, *, kind=float, minimum=None, strict=False):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum}, "
                                         f"got {text!r}")
    return value


def _nonneg(text):
    return _number(text, minimum=0.0)


_LAM_NAMES = ("auto", "default", "gsure", "sure", "gcv", "discrepancy")


def _lam(text):
    """--lam: a non-negative number or a rule name ("default": the fixed calibrated weight)."""
    if text.strip().lower() in _LAM_NAMES:
        return text.strip().lower()
    try:
        return _nonneg(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a number >= 0 or one of {', '.join(_LAM_NAMES)}, got {text!r}") from None


def _lam_for_api(value):
    return None if value == "default" else value


def _count(text):
    return _number(text, kind=int, minimum=1)


def _seed(text):
    return _number(text, kind=int, minimum=0)


def build_parser():
    """The argument parser of the ``invrestore`` command."""
    from . import PRIOR_NAMES, __version__
    from .operators import BOUNDARIES

    p = _Parser(prog="invrestore", description="Image restoration as optimisation: "
                "argmin_x D(H x, y) + lam R(x).")
    p.add_argument("--version", action="version", version=f"invrestore {__version__}")
    sub = p.add_subparsers(dest="command", required=True,
                           metavar="{demo,restore,denoise,bench,batch,precompile}")

    d = sub.add_parser("demo", help="restore a test image degraded five ways with every prior",
                       description="Degrade a test image five ways, restore each with every "
                       "prior, print a table and write a figure and results.json.")
    d.add_argument("--out", default="invrestore-demo", help="output folder (created)")
    d.add_argument("--priors", metavar="A,B,...", help="comma-separated priors (default: every "
                   "available one but the slow gmm and bm3d)")
    d.add_argument("--size", type=_count, default=256, help="image side, even (default 256)")
    d.add_argument("--seed", type=_seed, default=0, help="seed of noise and masks")
    d.add_argument("--force", action="store_true", help="replace an existing figure")

    c = sub.add_parser("precompile", help="compile the Numba kernels now (a fresh install "
                       "compiles them on first use)",
                       description="Compile every prior's Numba kernels into the on-disk "
                       "cache, one process per kernel family and dtype, so that no later run "
                       "waits for compilation.")
    c.add_argument("--priors", metavar="A,B,...", help="comma-separated priors (default: every "
                   "available one)")
    c.add_argument("--dtype", choices=["float32", "float64", "both"], default="both")
    c.add_argument("--jobs", type=_count, default=None, help="processes at a time (default: "
                   "the CPU count)")

    r = sub.add_parser("restore", help="restore an image through a forward model",
                       description="Restore OUT from the observation IN = H x + noise, with "
                       "H = mask . decimation . blur (each optional).")
    r.add_argument("input", metavar="IN", help="observation (or clean image with --simulate)")
    r.add_argument("output", metavar="OUT", help="restored image (.png, .tif, .npy, ...)")
    r.add_argument("--blur", metavar="SPEC", help="gaussian:SIGMA, motion:LENGTH,ANGLE, or a "
                   "kernel file (.png, .tif, .npy, .mat)")
    r.add_argument("--boundary", default="circular", choices=sorted(set(BOUNDARIES.values())),
                   help="blur boundary condition (default circular)")
    r.add_argument("--noise", type=_nonneg, metavar="SIGMA", help="noise std on the [0, 1] "
                   "scale (estimated when omitted; with --simulate, the noise added, default 0)")
    r.add_argument("--mask", metavar="SPEC", help="image whose non-zero pixels are observed, "
                   "or random:FRACTION of missing pixels (with --simulate)")
    r.add_argument("--scale", type=_count, default=1, metavar="S",
                   help="decimation factor: OUT is S times larger than the observation")
    r.add_argument("--prior", default="tv", metavar="NAME",
                   help=f"one of {', '.join(PRIOR_NAMES)} (default tv)")
    r.add_argument("--weights", metavar="FILE", help="denoiser weights (.npz, .mat, .pth) "
                   "used plug-and-play; implies --prior learned")
    r.add_argument("--lam", type=_lam, default="auto", help="regularisation weight: a number, "
                   "or a rule: auto (default: projected SURE for noisy data through an "
                   "operator, the calibrated weight otherwise), gsure, sure, gcv, discrepancy, "
                   "default (the calibrated weight, no search)")
    r.add_argument("--auto", action="store_true", help="choose everything from the data: "
                   "estimate the noise (ignores --noise except to simulate), lam=auto, solver "
                   "auto; report what was chosen")
    r.add_argument("--solver", default="auto", choices=_SOLVERS)
    r.add_argument("--max-iter", type=_count, metavar="N", help="iteration cap")
    r.add_argument("--simulate", action="store_true", help="IN is a clean image: degrade it, "
                   "restore it and report PSNR/SSIM against it")
    r.add_argument("--seed", type=_seed, default=0, help="seed of simulated noise and masks")
    _add_device(r)
    r.add_argument("--force", action="store_true", help="replace an existing OUT")

    n = sub.add_parser("denoise", help="remove Gaussian noise",
                       description="Remove white Gaussian noise from IN.")
    n.add_argument("input", metavar="IN")
    n.add_argument("output", metavar="OUT")
    n.add_argument("--sigma", type=_nonneg, help="noise std on the [0, 1] scale (estimated "
                   "when omitted)")
    n.add_argument("--method", default="tv", metavar="NAME",
                   help=f"one of {', '.join(PRIOR_NAMES)} (default tv)")
    n.add_argument("--weights", metavar="FILE", help="denoiser weights (.npz, .mat, .pth); "
                   "implies --method learned")
    n.add_argument("--lam", type=_lam, default="auto", help="prox step: a number, auto "
                   "(default: the step calibrated for the method), sure or gcv (chosen per "
                   "image)")
    _add_device(n)
    n.add_argument("--force", action="store_true", help="replace an existing OUT")

    # parsed by invrestore.bench.cli (main() hands it everything after "bench")
    sub.add_parser("bench", add_help=False, help="benchmark suite: every prior and the "
                   "installed peers on the standard test sets (invrestore bench --help)")
    _add_batch_parser(sub)
    return p


def _add_device(parser):
    parser.add_argument("--device", default="cpu", choices=("cpu", "gpu"),
                        help="where to compute: cpu (NumPy, default) or gpu (CuPy; needs "
                        "pip install 'invrestore[gpu]' and a CUDA device)")


def _check_device(device):
    from .backend import cupy_available

    if device == "gpu" and not cupy_available():
        raise ValueError("--device gpu needs CuPy and a CUDA device (pip install "
                         "'invrestore[gpu]'); use --device cpu")


def _to_device(device, y, operator=None, prior=None):
    """``(y, operator, prior)`` moved to the GPU for ``--device gpu`` (unchanged for cpu)."""
    if device != "gpu":
        return y, operator, prior
    from .backend import to_device

    _check_device(device)
    if operator is not None:
        operator = operator.to("cupy")
    if prior is not None and not isinstance(prior, str) and hasattr(prior, "to"):
        prior = prior.to("cupy")  # weights loaded by --weights
    return to_device(y, "cupy"), operator, prior


def _add_batch_parser(sub):
    from . import PRIOR_NAMES
    from .operators import BOUNDARIES

    b = sub.add_parser("batch", help="restore every image of a folder (resumable, parallel)",
                       description="Denoise (or, with --blur, deblur) every image of IN_DIR "
                       "into OUT_DIR. Images whose output exists are skipped; unreadable ones "
                       "are reported and the others go on.")
    b.add_argument("input", metavar="IN_DIR")
    b.add_argument("output", metavar="OUT_DIR", help="output folder (created)")
    b.add_argument("--method", "--prior", dest="method", default="tv", metavar="NAME",
                   help=f"one of {', '.join(PRIOR_NAMES)} (default tv)")
    b.add_argument("--weights", metavar="FILE", help="denoiser weights (.npz, .mat, .pth); "
                   "implies --method learned")
    b.add_argument("--sigma", type=_nonneg, help="noise std on the [0, 1] scale (estimated "
                   "per image when omitted)")
    b.add_argument("--blur", metavar="SPEC", help="deblur: gaussian:SIGMA, motion:LENGTH,ANGLE "
                   "or a kernel file")
    b.add_argument("--boundary", default="circular", choices=sorted(set(BOUNDARIES.values())),
                   help="blur boundary condition (default circular)")
    b.add_argument("--tile", type=_count, metavar="N", help="restore each image in N x N tiles "
                   "(bounded memory for large images)")
    b.add_argument("--suffix", metavar=".EXT", help="output format (default: the input's)")
    b.add_argument("--workers", type=_count, metavar="N", help="local worker processes "
                   "(default: one per core)")
    b.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS "
                   "(needs invrestore[dask])")
    b.add_argument("--strict", action="store_true", help="exit with status 1 if any image "
                   "failed")
    b.add_argument("--force", action="store_true", help="redo images whose output exists")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")


def parse_blur(spec):
    """Blur kernel from ``gaussian:SIGMA``, ``motion:LENGTH,ANGLE`` or a kernel file path.

    Examples
    --------
    >>> from invrestore.cli import parse_blur
    >>> parse_blur("gaussian:1.0").shape, parse_blur("motion:5,0").shape
    ((7, 7), (1, 5))
    """
    from .degradations import gaussian_kernel, load_kernel, motion_kernel

    kind, sep, rest = spec.partition(":")
    kind = kind.lower()
    if sep and kind in ("gaussian", "motion"):
        try:
            values = [float(v) for v in rest.split(",")]
        except ValueError:
            values = []
        if kind == "gaussian" and len(values) == 1:
            return gaussian_kernel(values[0])
        if kind == "motion" and len(values) == 2:
            return motion_kernel(values[0], values[1])
        form = "gaussian:SIGMA" if kind == "gaussian" else "motion:LENGTH,ANGLE"
        raise ValueError(f"--blur {spec!r}: expected {form}")
    return load_kernel(spec)


def build_operator(x_shape, *, kernel=None, boundary="circular", scale=1, mask=None):
    """``H = Mask @ Downsample @ Blur`` on images of ``x_shape`` (each factor optional).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.cli import build_operator
    >>> build_operator((64, 64), kernel=np.ones((3, 3)) / 9, scale=2).out_shape
    (32, 32)
    """
    from .operators import Blur, Downsample, Identity, Mask

    H, shape = None, tuple(x_shape)
    if kernel is not None:
        H = Blur(kernel, shape, boundary=boundary)
        shape = H.out_shape
    if scale > 1:
        D = Downsample(scale, shape)
        H, shape = (D if H is None else D @ H), D.out_shape
    if mask is not None:
        M = Mask(mask, shape)
        H = M if H is None else M @ H
    return Identity(tuple(x_shape)) if H is None else H


def _x_shape(y_shape, kernel, boundary, scale):
    """Image shape that the model maps onto an observation of ``y_shape``."""
    h, w = y_shape[0] * scale, y_shape[1] * scale
    if kernel is not None and boundary == "valid":
        h, w = h + kernel.shape[0] - 1, w + kernel.shape[1] - 1
    return (h, w) + tuple(y_shape[2:])


def _read_mask(spec, simulate, shape, rng):
    from .degradations import random_mask
    from .io import imread

    if spec.lower().startswith("random:"):
        if not simulate:
            raise ValueError("--mask random:FRACTION needs --simulate (a real observation "
                             "comes with its own mask file)")
        try:
            fraction = float(spec.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"--mask {spec!r}: expected random:FRACTION") from None
        if not 0.0 <= fraction < 1.0:
            raise ValueError(f"--mask {spec!r}: the missing fraction must be in [0, 1)")
        return random_mask(shape[:2], fraction, rng=rng)
    m = np.asarray(imread(spec))
    m = m != 0 if m.ndim == 2 else (m != 0).any(axis=-1)
    if m.shape != tuple(shape[:2]):
        raise ValueError(f"--mask {spec}: shape {m.shape} does not match the observation "
                         f"{tuple(shape[:2])}")
    return m


def _check_output(path, force):
    from .io import SUFFIXES

    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"output {path}: unsupported suffix {path.suffix or '(none)'!r}; use "
                         f"one of {', '.join(SUFFIXES)}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output {path}: folder {path.parent} does not exist")
    if path.exists() and not force:
        raise FileExistsError(f"output {path} already exists; pass --force to replace it")


def _check_prior(name, option, weights=None):
    """The prior to hand to restore()/denoise(): a name, or the denoiser loaded from
    ``--weights``."""
    from . import PRIOR_NAMES

    if weights is not None:
        if name.lower() not in ("tv", "learned"):  # tv is the default: not given
            raise ValueError(f"--weights gives a learned prior; it cannot be combined with "
                             f"{option} {name}")
        from .nn import load

        return load(weights)
    if name.lower() == "pnp":
        raise ValueError(f"{option} pnp needs a denoiser object (Python API); from the command "
                         f"line use --weights FILE or a named prior")
    if name.lower() not in PRIOR_NAMES:
        raise ValueError(f"unknown prior {name!r} for {option}; choose one of "
                         f"{', '.join(PRIOR_NAMES)}")
    return name.lower()


def _write(path, x, like, force):
    from .io import ImageArray, imwrite

    out = np.clip(np.asarray(x), 0.0, 1.0).view(ImageArray)
    out.bit_depth = getattr(like, "bit_depth", None)  # same depth as the input file
    imwrite(path, out, force=force)


def _describe(kernel_spec, boundary, scale, mask):
    parts = []
    if kernel_spec:
        parts.append(f"blur {kernel_spec} ({boundary})")
    if scale > 1:
        parts.append(f"x{scale} decimation")
    if mask is not None:
        parts.append(f"mask ({100 * float(np.mean(mask)):.1f}% observed)")
    return " -> ".join(parts) or "identity (denoising)"


def _cmd_restore(a, out):
    from . import restore
    from .estimation import estimate_sigma
    from .io import imread
    from .metrics import psnr, ssim

    _check_output(a.output, a.force)
    _check_device(a.device)
    prior = _check_prior(a.prior, "--prior", a.weights)
    if a.mask and a.mask.lower().startswith("random:") and not a.simulate:
        raise ValueError("--mask random:FRACTION needs --simulate")
    image = imread(a.input)
    kernel = parse_blur(a.blur) if a.blur else None
    rng = np.random.default_rng(a.seed)
    if a.simulate:
        x = np.asarray(image)
        H = build_operator(x.shape, kernel=kernel, boundary=a.boundary, scale=a.scale)
        mask = _read_mask(a.mask, True, H.out_shape, rng) if a.mask else None
        H = build_operator(x.shape, kernel=kernel, boundary=a.boundary, scale=a.scale,
                           mask=mask)
        from .degradations import add_gaussian_noise

        sigma, how = (a.noise or 0.0), "simulated"
        y = add_gaussian_noise(H @ x, sigma, rng=rng)
    else:
        y = np.asarray(image)
        mask = _read_mask(a.mask, False, y.shape, rng) if a.mask else None
        H = build_operator(_x_shape(y.shape, kernel, a.boundary, a.scale), kernel=kernel,
                           boundary=a.boundary, scale=a.scale, mask=mask)
        if a.noise is None or a.auto:
            sigma, how = estimate_sigma(y, observed=mask), "estimated"
        else:
            sigma, how = a.noise, "given"
    if a.auto:
        if a.simulate:
            sigma, how = estimate_sigma(y, observed=mask), "estimated"
        a.lam, a.solver = "auto", "auto"
    print(f"model: {_describe(a.blur, a.boundary, a.scale, mask)}; observation "
          f"{'x'.join(map(str, y.shape))} -> image {'x'.join(map(str, H.in_shape))}", file=out)
    t0 = time.perf_counter()
    yd, Hd, prior = _to_device(a.device, y, H, prior)
    # an estimated sigma is left to restore(), which then knows it is uncertain (lam="auto"
    # picks a rule that does not depend on it) and estimates it the same way
    res = restore(yd, Hd, prior=prior, sigma=None if how == "estimated" else sigma,
                  lam=_lam_for_api(a.lam), solver=a.solver,
                  max_iter=a.max_iter, full_output=True)
    dt = time.perf_counter() - t0
    info = res.info
    print(f"sigma {info['sigma']:.4g} ({how}), prior {info['prior']}, lam {info['lam']:.4g} "
          f"({_lam_how(info)}), solver {info['solver']}, {res.n_iter} iterations "
          f"({'converged' if res.converged else 'not converged'}), {dt:.2f} s", file=out)
    if a.auto and info.get("lam_tried"):
        tried = ", ".join(f"{lam:.3g}: {v:.3g}" for lam, v in zip(info["lam_tried"],
                                                                   info["lam_scores"]))
        print(f"lam search ({info['lam_rule']}, {info['lam_solves']} restorations): "
              f"{tried}", file=out)
    from .backend import to_numpy

    x_hat = np.clip(to_numpy(res.x), 0.0, 1.0)
    if a.simulate:
        x = np.asarray(image)
        line = f"restored: PSNR {psnr(x_hat, x):.2f} dB, SSIM {ssim(x_hat, x):.4f}"
        shown = _comparable(y, x, a)
        if shown is not None:
            line = (f"degraded: PSNR {psnr(shown, x):.2f} dB, SSIM {ssim(shown, x):.4f}; "
                    + line)
        print(line, file=out)
    _write(a.output, x_hat, image, a.force)
    print(f"wrote {a.output}", file=out)
    return 0


def _comparable(y, x, a):
    """The observation on the image grid, or None when it has no pixel-wise counterpart."""
    from .degradations import imresize

    if y.shape == x.shape:
        return np.clip(y, 0.0, 1.0)
    if a.blur and a.boundary == "valid":
        return None  # a cropped observation, not a scaled one
    return np.clip(imresize(y, output_shape=x.shape[:2]), 0.0, 1.0)


def _lam_how(info):
    rule = info.get("lam_rule", "default")
    return {"default": "calibrated default", "fixed": "given"}.get(rule, f"chosen by {rule}")


def _cmd_denoise(a, out):
    from . import denoise
    from .estimation import estimate_sigma
    from .io import imread

    _check_output(a.output, a.force)
    _check_device(a.device)
    method = _check_prior(a.method, "--method", a.weights)
    image = imread(a.input)
    y = np.asarray(image)
    sigma, how = (a.sigma, "given") if a.sigma is not None else (estimate_sigma(y), "estimated")
    t0 = time.perf_counter()
    lam = _lam_for_api(a.lam)
    yd, _, method = _to_device(a.device, y, prior=method)
    x_hat, info = denoise(yd, sigma, method=method, lam="auto" if lam is None else lam,
                          full_output=True)
    from .backend import to_numpy

    x_hat = to_numpy(x_hat)
    shown = method if isinstance(method, str) else a.weights
    print(f"sigma {sigma:.4g} ({how}), method {shown}, lam {info['lam']:.4g} "
          f"({_lam_how(info)}), {time.perf_counter() - t0:.2f} s", file=out)
    _write(a.output, x_hat, image, a.force)
    print(f"wrote {a.output}", file=out)
    return 0


def _cmd_batch(a, out):
    from .scale.batch import BlurModel, find_images, restore_many

    method = _check_prior(a.method, "--method", a.weights)
    factory = None
    if a.blur:
        factory = BlurModel(parse_blur(a.blur), a.boundary)
        if a.tile:
            from .scale.locality import check_tileable

            check_tileable(factory((2 * max(factory.kernel.shape),) * 2))
    paths = find_images(a.input)
    if not paths:
        print(f"no images in {a.input}", file=out)
        return 0
    report = restore_many(paths, a.output, method=method, sigma=a.sigma,
                          operator_factory=factory, tile=a.tile, suffix=a.suffix,
                          force=a.force, client=a.scheduler, workers=a.workers,
                          progress=not a.no_progress)
    for path, message in report.failed:
        print(f"failed: {path}: {message}", file=sys.stderr)
    print(f"batch {a.input} -> {a.output}: {report.summary()}", file=out)
    return 1 if a.strict and report.failed else 0


def _cmd_demo(a, out):
    from .demo import run_demo

    priors = None if a.priors is None else [p.strip().lower() for p in a.priors.split(",")]
    run_demo(a.out, size=a.size, seed=a.seed, force=a.force, stream=out, priors=priors)
    return 0


def _cmd_precompile(a, out):
    from . import PRIOR_NAMES
    from .precompile import compile_all

    priors = None
    if a.priors is not None:
        priors = [p.strip().lower() for p in a.priors.split(",") if p.strip()]
        unknown = [p for p in priors if p not in PRIOR_NAMES]
        if unknown or not priors:
            raise ValueError(f"--priors: unknown prior(s) {', '.join(unknown) or '(none)'}; "
                             f"choose from {', '.join(PRIOR_NAMES)}")
    dtypes = ("float64", "float32") if a.dtype == "both" else (a.dtype,)
    t0 = time.perf_counter()
    try:
        compile_all(priors, dtypes, a.jobs, stream=out)
    except RuntimeError as exc:
        print(f"invrestore: error: {exc}", file=sys.stderr)
        return 1
    print(f"compiled in {time.perf_counter() - t0:.1f} s", file=out)
    return 0


def main(argv=None):
    """Run the ``invrestore`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on any error (message on stderr), 130 when interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":
        from .bench import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        print(exc.parser.format_usage().rstrip(), file=sys.stderr)
        print(f"invrestore: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    command = {"demo": _cmd_demo, "restore": _cmd_restore, "denoise": _cmd_denoise,
               "batch": _cmd_batch, "precompile": _cmd_precompile}
    try:
        return command[args.command](args, sys.stdout)
    except (ValueError, TypeError, OSError) as exc:
        print(f"invrestore: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("invrestore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
