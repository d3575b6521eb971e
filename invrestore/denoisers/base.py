"""The denoiser protocol shared by classical and learned denoisers.

A denoiser is any callable ``denoiser(x, sigma) -> x_hat`` that removes additive white Gaussian
noise of standard deviation ``sigma`` (on the [0, 1] intensity scale, ``25 / 255`` for the
usual "sigma 25") from an image ``x`` of shape (H, W) or (H, W, C). It returns an array of the
same shape, dtype and device. :class:`Denoiser` is a convenient base class that validates the
input once, so subclasses only implement ``_denoise``.
"""

from __future__ import annotations

import math

from ..backend import as_float_image, check_finite, check_scalar

__all__ = ["Denoiser", "FunctionDenoiser", "PriorDenoiser", "as_denoiser"]


class Denoiser:
    """Base class: ``D(x, sigma) -> x_hat`` for Gaussian noise of std ``sigma``.

    Subclasses implement ``_denoise(x, sigma)``, which receives a validated float image and a
    finite ``sigma > 0`` (``sigma == 0`` returns a copy of the input without calling it).

    Attributes
    ----------
    channels : int or None
        Number of channels the denoiser accepts (1 = gray (H, W) or (H, W, 1), 3 = colour),
        or None when any channel count works.
    sigma_range : tuple of float
        Noise levels the denoiser was designed or trained for. Outside it, ``__call__`` raises
        when ``strict_sigma`` is True, and otherwise runs anyway (documented per subclass).

    Examples
    --------
    >>> import numpy as np
    >>> class Mean(Denoiser):
    ...     def _denoise(self, x, sigma):
    ...         return np.full_like(x, x.mean())
    >>> Mean()(np.arange(4.0).reshape(2, 2), 0.1).tolist()
    [[1.5, 1.5], [1.5, 1.5]]
    """

    channels = None
    sigma_range = (0.0, math.inf)
    strict_sigma = False

    def __call__(self, x, sigma):
        x = as_float_image(x, name="x")
        if x.ndim not in (2, 3):
            raise ValueError(f"{self!r}: image must be (H, W) or (H, W, C), got shape "
                             f"{tuple(x.shape)}")
        check_finite(x, "x")
        sigma = check_scalar(sigma, "sigma", nonnegative=True)
        c = 1 if x.ndim == 2 else x.shape[2]
        if self.channels is not None and c != self.channels:
            kind = "gray" if self.channels == 1 else f"{self.channels}-channel"
            raise ValueError(f"{self!r} is a {kind} denoiser but the image has {c} channels")
        lo, hi = self.sigma_range
        if self.strict_sigma and not lo <= sigma <= hi:
            raise ValueError(f"{self!r} handles sigma in [{lo:.4g}, {hi:.4g}] "
                             f"({lo * 255:.3g}/255 to {hi * 255:.3g}/255), got {sigma:.4g}")
        if sigma == 0.0:
            return x.copy()
        return self._denoise(x, sigma)

    def _denoise(self, x, sigma):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class FunctionDenoiser(Denoiser):
    """Wrap a plain function ``f(x, sigma) -> x`` as a :class:`Denoiser`."""

    def __init__(self, func, *, name=None):
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}")
        self.func = func
        self.name = name or getattr(func, "__name__", type(func).__name__)

    def _denoise(self, x, sigma):
        out = self.func(x, sigma)
        if tuple(out.shape) != tuple(x.shape):
            raise ValueError(f"denoiser {self.name!r} returned shape {tuple(out.shape)} for an "
                             f"input of shape {tuple(x.shape)}")
        return out.astype(x.dtype, copy=False)

    def __repr__(self):
        return f"FunctionDenoiser({self.name})"


class PriorDenoiser(Denoiser):
    """A :class:`~invrestore.functionals.Prior` used as a denoiser (``prior.denoise``)."""

    def __init__(self, prior):
        self.prior = prior

    def _denoise(self, x, sigma):
        return self.prior.denoise(x, sigma)

    def __repr__(self):
        return f"PriorDenoiser({self.prior!r})"


def as_denoiser(obj) -> Denoiser:
    """A :class:`Denoiser` from a denoiser, a prior (its ``denoise``) or a callable."""
    from ..functionals import Prior

    if isinstance(obj, Denoiser):
        return obj
    if isinstance(obj, Prior):
        return PriorDenoiser(obj)
    if callable(obj):
        return FunctionDenoiser(obj)
    raise TypeError(f"expected a denoiser (x, sigma) -> x, a Prior or a callable, got "
                    f"{type(obj).__name__}")
