"""One-call entry points: :func:`denoise` and :func:`restore`."""

from __future__ import annotations

from .backend import as_float_image, check_scalar, device_of, get_xp, get_xsp
from .estimation import estimate_sigma
from .functionals import (
    L1,
    L21,
    DataFidelity,
    DenoiserPrior,
    Functional,
    KullbackLeibler,
    Prior,
    SquaredL2,
    Zero,
)
from .operators import Gradient, LinearOperator, Mask
from .parameters import LAM_RULES, choose_lam
from .solvers import ADMM, FISTA, HQS, PDHG, PnPADMM

__all__ = ["denoise", "restore", "get_prior", "available_priors", "initial_guess",
           "weight_solver",
           "PRIOR_NAMES", "DENOISER_PRIORS"]


def _registry():
    from .functionals import (
        DenoiserPrior,
        GradientTikhonov,
        Tikhonov,
        TotalVariation,
        WaveletL1,
    )

    def pnp(module, name):
        def make(**kw):
            import importlib

            cls = getattr(importlib.import_module(module, __package__), name)
            return DenoiserPrior(cls(**kw))
        return make

    def learned(name="gray", device=None, **kw):
        from .nn import load_shipped

        net = load_shipped(name, **kw)
        if device is not None and device != net.device:
            net = net.to(device)  # weights built here for the caller's array: moved by design
        return DenoiserPrior(net)

    def custom(denoiser=None, **kw):
        if denoiser is None:
            raise TypeError("prior='pnp' needs denoiser=<a denoiser (x, sigma) -> x>")
        return DenoiserPrior(denoiser, **kw)

    return {
        "tv": lambda **kw: TotalVariation(**kw),
        "tv_aniso": lambda **kw: TotalVariation(isotropic=False, **kw),
        "wavelet": lambda **kw: WaveletL1(**kw),
        "tikhonov": lambda **kw: Tikhonov(**kw),
        "gradient_tikhonov": lambda **kw: GradientTikhonov(**kw),
        "nlm": pnp(".denoisers.nlm", "NLMDenoiser"),
        "gmm": pnp(".denoisers.epll", "EPLLDenoiser"),
        "bm3d": pnp(".denoisers.bm3d", "BM3DDenoiser"),
        "learned": learned,
        "pnp": custom,
    }


#: Default ``lam`` for noise-free data. Chosen on Train400 (10 images, TV, 80% of the pixels
#: missing, defaults otherwise): lam = 1e-3 / 1e-4 / 1e-5 gave 23.82 / 23.90 / 24.08 dB, and
#: 1e-5 also converges in few ADMM iterations (about 60 at tol 1e-4).
LAM_NOISE_FREE = 1e-5

#: Rule behind ``lam="auto"`` for a variational prior, an operator other than the identity
#: and noisy data (see :func:`restore`).
AUTO_RULE = "gsure"

#: Names accepted by ``prior=`` / ``method=``.
PRIOR_NAMES = ("tv", "tv_aniso", "wavelet", "tikhonov", "gradient_tikhonov", "nlm", "gmm",
               "bm3d", "learned", "pnp")

#: Priors defined by a denoiser (plug-and-play); "bm3d" needs the optional ``bm3d`` package.
DENOISER_PRIORS = ("nlm", "gmm", "bm3d", "learned", "pnp")


def available_priors():
    """Names in :data:`PRIOR_NAMES` usable here and now without extra arguments: optional
    packages installed, shipped model files present ("pnp" needs a denoiser, so it is left
    out)."""
    import importlib.util

    names = []
    for name in PRIOR_NAMES:
        if name == "pnp":
            continue
        try:
            if name == "bm3d" and importlib.util.find_spec("bm3d") is None:
                continue
            get_prior(name)
        except (ImportError, FileNotFoundError, AttributeError):
            continue
        names.append(name)
    return tuple(names)


def get_prior(prior, *, device=None, **options) -> Prior:
    """A :class:`~invrestore.functionals.Prior` from a name in :data:`PRIOR_NAMES` (options go
    to its constructor; ``"pnp"`` takes ``denoiser=``), a prior object, or a denoiser
    ``(x, sigma) -> x`` (wrapped in :class:`~invrestore.functionals.DenoiserPrior`).

    ``device`` (``"numpy"`` or ``"cupy"``) places the weights of a prior built here by name
    (``"learned"``); :func:`denoise` and :func:`restore` pass the device of their input, so
    ``prior="learned"`` runs on the GPU for a CuPy image. Priors given as objects are never
    moved: applying one with NumPy weights to a CuPy array raises an error that says
    ``.to("cupy")``."""
    from .denoisers import Denoiser
    from .functionals import DenoiserPrior

    if isinstance(prior, Functional):
        if options:
            raise TypeError("options are only accepted with a prior given by name")
        return prior
    if isinstance(prior, Denoiser) or (callable(prior) and not isinstance(prior, str)):
        return DenoiserPrior(prior, **options)
    if not isinstance(prior, str):
        raise TypeError(f"prior must be a name in {PRIOR_NAMES}, a Prior or a denoiser "
                        f"(x, sigma) -> x, got {type(prior).__name__}")
    reg = _registry()
    key = prior.lower()
    if key not in reg:
        raise ValueError(f"unknown prior {prior!r}; choose one of {', '.join(PRIOR_NAMES)}")
    if device is not None:
        from .backend import _device_name

        device = _device_name(device)  # checked for every prior, used by "learned"
        if key == "learned":
            options["device"] = device
    return reg[key](**options)


def _sigma(sigma, y, observed=None):
    if sigma is None:
        return estimate_sigma(y, observed=observed)
    return check_scalar(sigma, "sigma", nonnegative=True)


def denoise(image, sigma=None, *, method="tv", lam="auto", full_output=False, **options):
    """Remove Gaussian noise of std ``sigma`` from ``image``: ``prox_{lam R}(image)``.

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, C)
        Noisy image; integers are converted like ``skimage.img_as_float``.
    sigma : float, optional
        Noise std on the [0, 1] scale (``25 / 255``); estimated from the image when omitted
        (:func:`~invrestore.estimation.estimate_sigma`).
    method : str, Prior or denoiser
        A name in :data:`PRIOR_NAMES`, a prior object, or a denoiser ``(x, sigma) -> x``.
    lam : float, None or {"auto", "sure", "gcv"}
        Prox step. ``"auto"`` (default) or None (as in :func:`restore`):
        ``prior.denoise_step(sigma)``, the step calibrated on Train400 for each prior (for a
        denoiser prior ``sigma**2``: the denoiser runs at ``sigma``). ``"sure"`` / ``"gcv"``: chosen per image by
        :func:`~invrestore.parameters.choose_lam` (about 10 denoiser calls). A number: that
        step (a denoiser prior then runs at ``sqrt(lam)``).
    full_output : bool
        Return ``(x, info)`` with the noise level and weight used (and the rule's search).
    **options
        Passed to the prior's constructor.

    Returns
    -------
    ndarray, or (ndarray, dict) with ``full_output``
        Denoised image, same shape and float dtype, same device.

    Notes
    -----
    Measured on Set12 (6 images, sigma estimated): the calibrated step is within 0.06 dB of
    the best step chosen on the ground truth for TV and NLM at sigma 15/25/50
    (``benchmarks/auto_lam.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore import denoise
    >>> rng = np.random.default_rng(0)
    >>> clean = np.tile(np.linspace(0, 1, 64), (64, 1))
    >>> noisy = clean + 0.1 * rng.standard_normal(clean.shape)
    >>> out = denoise(noisy, 0.1)
    >>> bool(np.abs(out - clean).mean() < np.abs(noisy - clean).mean())
    True
    """
    x = as_float_image(image, name="image")
    if x.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {tuple(x.shape)}")
    sigma_estimated = sigma is None
    sigma = _sigma(sigma, x)
    R = get_prior(method, device=device_of(x), **options)
    info = {"sigma": sigma, "sigma_estimated": sigma_estimated}
    if lam is None:
        lam = "auto"
    if isinstance(lam, str):
        rule = lam.lower()
        if rule not in ("auto", "sure", "gcv"):
            raise ValueError(f"unknown lam {lam!r} for denoise(): a number, 'auto', 'sure' "
                             f"or 'gcv'")
        if rule == "auto" or sigma == 0.0:
            out = R.denoise(x, sigma)
            info.update({"lam": R.denoise_step(sigma), "lam_rule": "default"})
        else:
            choice = choose_lam(x, lambda v, t, x0, n: (R.prox(v, t), 1),
                                R.denoise_step(sigma), rule=rule, sigma=sigma)
            out = choice.x
            info.update(choice.as_info())
    else:
        lam = check_scalar(lam, "lam", nonnegative=True)
        out = R.prox(x, lam) if lam > 0 else x.copy()
        info.update({"lam": lam, "lam_rule": "fixed"})
    return (out, info) if full_output else out


_DATA = {"l2": SquaredL2, "gaussian": SquaredL2, "poisson": KullbackLeibler,
         "kl": KullbackLeibler, "l1": L1}
_SOLVERS = ("auto", "admm", "fista", "pdhg", "hqs")
_MAX_ITER = {"admm": 100, "fista": 300, "pdhg": 500}


def _choose_solver(solver, data, operator, prior):
    if solver not in _SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {', '.join(_SOLVERS)}")
    if solver != "auto":
        return solver
    if data is not SquaredL2:
        return "pdhg"
    # ADMM's x-step is one solve_normal: closed form for the structured operators. Without a
    # closed form, FISTA needs one H and one H^T per iteration instead of a CG solve.
    return "admm" if operator.exact_solve else "fista"


def restore(y, operator, *, prior="tv", sigma=None, lam="auto", solver="auto", data="l2",
            x0=None, x_true=None, max_iter=None, tol=1e-4, full_output=False, progress=False,
            callback=None, lam_delta=None):
    """Restore ``x`` from ``y = H x + noise`` by ``argmin_x D(H x, y) + lam R(x)``.

    Parameters
    ----------
    y : ndarray
        Observation, shaped ``operator.out_shape``.
    operator : LinearOperator
        Forward model ``H`` (:mod:`invrestore.operators`).
    prior : str, Prior or denoiser
        ``R``: a name in :data:`PRIOR_NAMES`, a prior object, or any denoiser
        ``(x, sigma) -> x`` used plug-and-play (:data:`DENOISER_PRIORS` are such priors).
    sigma : float, optional
        Noise std on the [0, 1] scale; estimated from ``y`` when omitted (observed pixels only
        for a :class:`~invrestore.operators.Mask`).
    lam : float, None or {"auto", "gsure", "sure", "gcv", "discrepancy"}
        Regularisation weight.

        * ``"auto"`` (default): with ``H = I`` (denoising) or noise-free data, the fixed
          default below; otherwise chosen per image (:func:`~invrestore.parameters
          .choose_lam`: about 5 weights, two restorations each) by projected SURE
          (``"gsure"``), an unbiased estimate of the error on the image computed from ``y``
          alone, or, for a variational prior with ``sigma`` estimated, by GCV, which does
          not depend on ``sigma`` (the predicted-risk ``"sure"`` replaces ``"gsure"`` when
          ``H`` has no closed-form normal solve). The weights tried and their scores are in
          ``result.info``.
        * ``"gsure"``, ``"sure"`` (predicted risk), ``"gcv"``, ``"discrepancy"``
          (``||y - H x||^2 = M sigma^2``): that rule.
        * ``None``: the fixed default. Variational priors: ``prior.denoise_step(sigma)`` (with
          ``H = I`` exactly :func:`denoise`, calibrated on training images); for noise-free
          data (``sigma = 0``) the problem tends to the constrained one (``H x = y``) as
          ``lam -> 0`` and the floor :data:`LAM_NOISE_FREE` = 1e-5 keeps it well posed.
          Denoiser priors: ``lam`` is DPIR's dimensionless trade-off, default the
          denoiser's ``pnp_lam`` (else :data:`PNP_LAM` = 0.23): iteration ``k`` solves the
          x-step with penalty ``lam sigma^2 / sigma_k^2`` and denoises at ``sigma_k``,
          log-spaced from 49/255 down to ``max(sigma, 1/255)``
          (:func:`~invrestore.solvers.dpir_schedule`).
        * a number: that weight.
    solver : {"auto", "admm", "fista", "pdhg", "hqs"}
        ``"auto"``: ADMM when the data term is squared L2 and ``H`` has an exact
        ``solve_normal``, FISTA for squared L2 otherwise, PDHG for Poisson and L1 data.
        Denoiser priors: plug-and-play HQS (``"auto"``/``"hqs"``) or PnP-ADMM (``"admm"``,
        :class:`~invrestore.solvers.PnPADMM`), both on the DPIR schedule.
    data : {"l2", "poisson", "l1"}
        Data term ``D``: ``1/2 ||H x - y||^2``, the Poisson negative log-likelihood (``y`` in
        counts), or ``||H x - y||_1``.
    x0 : ndarray, optional
        Starting point; default :func:`initial_guess` (normalised back-projection).
    x_true : ndarray, optional
        Reference: PSNR/SSIM per iteration in the history.
    max_iter, tol
        Iteration cap (default 100 ADMM, 300 FISTA, 500 PDHG) and relative-change tolerance.
        Denoiser priors run exactly ``max_iter`` iterations (the schedule length; default 8,
        or 24 when ``H`` contains a mask or a decimation).
    full_output : bool
        Return the :class:`~invrestore.solvers.Result` (history, chosen parameters in
        ``result.info``) instead of the array.
    progress : bool
        Show a progress bar.
    callback : callable, optional
        ``callback(solver, k)``; returning True stops.
    lam_delta : float, optional
        ``delta`` of the projected SURE (default ``1e-3 ||H||^2``).

    Returns
    -------
    ndarray or Result
        ``result.info`` holds ``sigma`` (and ``sigma_estimated``), ``lam``, ``lam_rule`` and,
        for a rule, ``lam_tried`` / ``lam_scores``, plus the solver's own parameters (step
        sizes, ADMM's final ``rho``).

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore import restore
    >>> from invrestore.operators import Mask
    >>> rng = np.random.default_rng(0)
    >>> x = np.tile(np.linspace(0, 1, 32), (32, 1))
    >>> M = Mask(rng.random(x.shape) > 0.5)
    >>> x_hat = restore(M @ x, M, prior="tv", sigma=0.0)
    >>> bool(np.abs(x_hat - x).mean() < 0.02)
    True
    """
    if not isinstance(operator, LinearOperator):
        raise TypeError(f"operator must be an invrestore LinearOperator, got "
                        f"{type(operator).__name__}")
    y = as_float_image(y, name="y")
    if tuple(y.shape) != operator.out_shape:
        raise ValueError(f"y has shape {tuple(y.shape)} but {operator!r} produces "
                         f"{operator.out_shape}")
    key = data.lower() if isinstance(data, str) else data
    if key not in _DATA:
        raise ValueError(f"unknown data term {data!r}; choose one of l2, poisson, l1")
    loss_cls = _DATA[key]
    R = get_prior(prior, device=device_of(y))
    observed = _observed_pixels(operator)
    sigma_estimated = sigma is None
    if y.ndim in (2, 3):
        sigma = _sigma(sigma, y, observed)
    elif sigma is None:
        raise ValueError("sigma must be given when y is not an image")
    else:
        sigma = check_scalar(sigma, "sigma", nonnegative=True)
    user_x0 = x0
    if x0 is None:
        x0 = initial_guess(y, operator)
    elif tuple(x0.shape) != operator.in_shape:
        raise ValueError(f"x0 has shape {tuple(x0.shape)}, expected {operator.in_shape}")
    lam_given = lam is not None and not isinstance(lam, str)
    rule = None
    if isinstance(lam, str):
        rule = lam.lower()
        if rule not in ("auto",) + LAM_RULES:
            raise ValueError(f"unknown lam {lam!r}: a number, None, 'auto' or one of "
                             f"{', '.join(LAM_RULES)}")
        if rule == "auto":
            rule = (_auto_rule(R, operator, sigma, sigma_estimated) if loss_cls is SquaredL2
                    else None)
        elif loss_cls is not SquaredL2:
            raise ValueError(f"lam={lam!r} assumes Gaussian noise (data='l2'); give lam as "
                             f"a number or 'auto' for data={data!r}")
    elif lam is not None:
        lam = (check_scalar(lam, "lam", positive=True) if isinstance(R, DenoiserPrior)
               else check_scalar(lam, "lam", nonnegative=True))
    track = full_output or x_true is not None
    run_kw = {"x_true": x_true, "progress": progress, "callback": callback,
              "track_objective": track}
    choice = None
    if rule is not None:
        lam0 = _default_lam(R, sigma)

        solve = _weight_solver(operator, R, sigma, solver, loss_cls, max_iter, tol,
                               user_x0)
        bar = None
        if progress:  # the search runs about ten restorations before the final one
            from tqdm.auto import tqdm

            bar = tqdm(desc=f"lam ({rule})", unit="restoration", leave=False)
            inner = solve

            def solve(*args):
                out = inner(*args)
                bar.update(1)
                return out
        try:
            choice = choose_lam(y, solve, lam0, rule=rule,
                                sigma=sigma if sigma > 0 else None,
                                forward=lambda x: operator.apply(x, check=False),
                                observed=observed, operator=operator, delta=lam_delta)
        finally:
            if bar is not None:
                bar.close()
        lam = choice.lam
    elif lam is None or isinstance(lam, str):
        lam = _default_lam(R, sigma)
    s, method, n_iter, tol_run = _build(y, operator, R, sigma, lam, x0, solver, loss_cls,
                                        max_iter, tol)
    res = s.run(max_iter=n_iter, tol=tol_run, **run_kw)
    res.info.update({"prior": prior if isinstance(prior, str) else repr(prior),
                     "sigma": sigma, "sigma_estimated": sigma_estimated, "lam": lam,
                     "lam_rule": "fixed" if rule is None and lam_given else
                     (rule or "default"), "solver": method, "data": key})
    if choice is not None:
        res.info.update(choice.as_info())
    return res if full_output else res.x


def _weight_solver(operator, R, sigma, solver, loss_cls, max_iter, tol, x0=None):
    def solve(v, lam_v, x_start, n_iter):
        if x_start is None:
            x_start = x0 if x0 is not None else initial_guess(v, operator)
        s_, _, it_, tol_ = _build(v, operator, R, sigma, lam_v, x_start, solver, loss_cls,
                                  max_iter, tol)
        r_ = s_.run(max_iter=it_ if n_iter is None else n_iter,
                    tol=tol_ if n_iter is None else 0.0, track_objective=False)
        return r_.x, r_.n_iter
    return solve


def weight_solver(operator, *, prior="tv", sigma, solver="auto", max_iter=None, tol=1e-4):
    """The estimator ``solve(y, lam, x0, n_iter) -> (x, n_iter_run)`` that
    :func:`restore` hands to :func:`~invrestore.parameters.choose_lam` (squared-L2 data):
    for your own searches and plots (:func:`~invrestore.parameters.lam_path`).

    ``x0=None`` starts from :func:`initial_guess`; ``n_iter=None`` runs to ``tol``.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.api import weight_solver
    >>> from invrestore.operators import Identity
    >>> solve = weight_solver(Identity((8, 8)), prior="tikhonov", sigma=0.1)
    >>> x, n = solve(np.ones((8, 8)), 1.0, None, None)
    >>> round(float(x[0, 0]), 3)
    0.5
    """
    sigma = check_scalar(sigma, "sigma", nonnegative=True)
    return _weight_solver(operator, get_prior(prior), sigma, solver, SquaredL2, max_iter, tol)


def _auto_rule(R, operator, sigma, sigma_estimated=False):
    """The rule behind ``lam="auto"`` (see :func:`restore`): None keeps the calibrated
    default."""
    from .operators import Identity

    if isinstance(operator, Identity) or sigma <= 0:
        return None
    if sigma_estimated and not isinstance(R, DenoiserPrior):
        # GCV does not use sigma, so an estimation error cannot bias it. Measured (TV, Set12
        # image 05, sigma estimated): x2 super-resolution, estimate 16% low: GCV 27.96 dB,
        # projected SURE 26.09, best weight on a grid 27.91; blur + x2 + 20% missing,
        # estimate 51% high: GCV 27.52, SURE 27.24, grid 27.50. A plug-and-play prior uses
        # sigma in its schedule anyway.
        return "gcv"
    # The projection needs H's normal solve; without a closed form (CG) it would cost more
    # than the restorations: the predicted risk then.
    return AUTO_RULE if operator.exact_solve else "sure"


def _default_lam(R, sigma):
    if isinstance(R, DenoiserPrior):
        return float(getattr(R.denoiser, "pnp_lam", PNP_LAM))
    return max(R.denoise_step(sigma) if sigma > 0 else 0.0, LAM_NOISE_FREE)


def _build(y, operator, R, sigma, lam, x0, solver, loss_cls, max_iter, tol):
    """The solver for one weight: ``(solver, method name, max_iter, tol)``."""
    if isinstance(R, DenoiserPrior):
        s, method, _, n_iter = _pnp_solver(solver, loss_cls, y, operator, R, sigma, lam, x0,
                                           max_iter)
        return s, method, n_iter, 0.0
    method = _choose_solver(solver, loss_cls, operator, R)
    f = DataFidelity(loss_cls(y), operator)
    g = lam * R if lam > 0 else Zero()
    if method == "admm":
        if loss_cls is not SquaredL2:
            raise ValueError("solver='admm' supports data='l2' only; use 'pdhg'")
        s = ADMM(f, g, x0, rho=_admm_rho(lam))
    elif method == "fista":
        if loss_cls is not SquaredL2:
            raise ValueError("solver='fista' needs a smooth data term (data='l2'); use 'pdhg'")
        s = FISTA(f, g, x0)
    elif method == "hqs":
        raise ValueError("solver='hqs' needs a denoiser prior (plug-and-play); use 'admm'")
    else:
        s = _pdhg(loss_cls(y), operator, R, lam, x0)
    return s, method, _MAX_ITER[method] if max_iter is None else max_iter, tol


def _observed_pixels(operator):
    """The mask of observed pixels of ``y`` when the outermost factor of ``H`` is a Mask."""
    op = operator
    while True:
        if isinstance(op, Mask):
            return op.mask
        outer = getattr(op, "outer", None)  # a composition outer @ inner
        if outer is None:
            return None
        op = outer


def initial_guess(y, operator, *, smoothing=2.0):
    """Normalised back-projection ``G * (H^T y) / G * (H^T 1)`` with a Gaussian ``G``.

    For a normalised blur this is (about) the observation itself; for missing pixels and
    decimation it fills the gaps by a locally weighted average of the observed neighbours
    (normalised convolution), a far better start than the zeros of ``H^T y``.
    """
    xp, xsp = get_xp(y), get_xsp(y)
    b = operator.apply_adjoint(y, check=False)
    w = operator.apply_adjoint(xp.ones(operator.out_shape, dtype=y.dtype), check=False)
    if b.ndim not in (2, 3):
        return b
    wmin, wmax = float(w.min()), float(w.max())
    if wmin > 0.5 * wmax:  # no holes: a plain normalisation
        return b / w
    s = (smoothing, smoothing) + (0,) * (b.ndim - 2)
    gb = xsp.ndimage.gaussian_filter(b, s, mode="reflect")
    gw = xsp.ndimage.gaussian_filter(w, s, mode="reflect")
    fill = float(b.sum() / max(float(w.sum()), 1e-12))
    return xp.where(gw > 1e-3 * wmax, gb / xp.maximum(gw, 1e-12), fill).astype(y.dtype)


def _admm_rho(lam):
    # The prior's prox step is lam / rho; rho ~ 2 lam starts both sub-problems on an equal
    # footing for images in [0, 1]; residual balancing adapts it from there.
    return max(2.0 * lam, 1e-3)


def _pdhg(loss, operator, R, lam, x0):
    from .functionals import TotalVariation

    terms = [(loss, operator)]
    f = Zero()
    if isinstance(R, TotalVariation):
        # TV as lam ||D x||_{2,1}: every term is then used through a closed-form prox.
        terms.append((lam * L21(isotropic=R.isotropic, channels=x0.ndim == 3),
                      Gradient(operator.in_shape)))
    else:
        f = lam * R
    return PDHG(f, terms, x0)


#: Lowest noise level of the plug-and-play schedule: noise-free data (sigma = 0) still needs a
#: final denoiser level; 1/255 is below visible noise and inside every denoiser's range.
PNP_SIGMA_FLOOR = 1.0 / 255.0

#: DPIR's trade-off weight (Zhang et al. 2021, deblurring and super-resolution).
PNP_LAM = 0.23


def _pnp_iters(operator):
    """Schedule length: DPIR uses 8 iterations for deblurring; filling missing pixels or
    upsampling propagates information further and needs more (DPIR: 24 for super-resolution)."""
    from .operators import Downsample

    def walk(op):
        yield op
        for name in ("outer", "inner", "op", "a", "b"):
            sub = getattr(op, name, None)
            if isinstance(sub, LinearOperator):
                yield from walk(sub)

    return 24 if any(isinstance(o, (Mask, Downsample)) for o in walk(operator)) else 8


def _pnp_solver(solver, loss_cls, y, operator, R, sigma, lam, x0, max_iter):
    if loss_cls is not SquaredL2:
        raise ValueError("plug-and-play priors need the squared-L2 data term (data='l2')")
    if solver not in ("auto", "hqs", "admm"):
        raise ValueError(f"solver={solver!r} does not apply to a denoiser prior; use 'hqs' "
                         f"(default) or 'admm'")
    lam = (_default_lam(R, sigma) if lam is None
           else check_scalar(lam, "lam", positive=True))
    n_iter = _pnp_iters(operator) if max_iter is None else check_scalar(
        max_iter, "max_iter", integer=True, positive=True)
    f = DataFidelity(SquaredL2(y), operator)
    sig = max(sigma, PNP_SIGMA_FLOOR)
    if solver == "admm":
        return PnPADMM(f, R, x0, sigma=sig, lam=lam, n_iter=n_iter), "pnp_admm", lam, n_iter
    return HQS.plug_and_play(f, R, x0, sigma=sig, lam=lam, n_iter=n_iter), "hqs", lam, n_iter
