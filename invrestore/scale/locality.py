"""How far information travels: receptive radii of priors and denoisers, local forward models.

Tiling is exact when every kept pixel of a tile sees what it would see in the whole image.
That needs two things, both decided here:

* the **receptive radius** of the prior or denoiser (:func:`receptive_radius`): the distance
  in pixels over which an output pixel depends on its input, exact for local denoisers (NLM:
  search radius plus patch radius; a convolutional network: its ``receptive_field`` or
  ``halo``), measured for iterative ones (TV, see :data:`TV_OVERLAP`);
* a **local forward model** (:func:`localize`): the restriction of ``H`` to a window of the
  image, with the image's own boundary rule on the sides where the window touches the image
  border and no invented data on the other sides.

Which operators tile, and how
-----------------------------
===========================  ==================================================================
operator                     window model
===========================  ==================================================================
``Identity``, ``Mask``       the same operator on the window (mask cropped): exact
``Blur(boundary="valid")``   ``Blur(valid)`` on the window: exact, the window's observation is
                             the valid part it fully determines
``Blur(boundary="zero")``    zero padding on image-border sides, ``valid`` on inner sides
                             (:class:`Pad` then ``Blur(valid)``): exact model
``Blur(boundary="reflect")`` ``Blur(reflect)`` on the window: exact on image-border sides; the
                             inner sides see a mirrored edge, an error confined to the overlap
                             that is cut away. Keeps the exact DCT x-step, so the solver is
                             the one the whole image gets
``Downsample``               the decimation grid carried over (offset per window): exact
``A @ B``, ``c * A``         composed from the above
``Blur("circular")``         refused: it couples opposite image borders, which no window sees;
                             use ``"reflect"`` (also an exact O(N log N) x-step) or ``"valid"``
sums, adjoints, others       refused (no local restriction known)
===========================  ==================================================================
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..backend import get_xp
from ..operators import Blur, Downsample, Identity, LinearOperator, Mask
from ..operators.base import _Composed, _Scaled

__all__ = [
    "DEFAULT_MARGIN",
    "TV_OVERLAP",
    "Pad",
    "check_tileable",
    "default_overlap",
    "kernel_radius",
    "localize",
    "mask_gap",
    "receptive_radius",
]

#: Overlap (pixels) of tiled TV denoising. The FGP iterations of the TV prox move information
#: by one pixel per iteration, but its amplitude decays fast. Measured on natural-image mosaics
#: with the iteration count fixed, largest tiled-vs-whole difference at overlaps 24 / 32 / 48 /
#: 64: 1.2e-5 / 3e-9 / 1e-16 / - after 67 iterations (2048x2048, sigma 25/255, what the prox
#: needs there) and 1.2e-3 / 3.1e-4 / 2.2e-5 / 1.7e-7 after 300 (1024x1024, sigma 50/255,
#: the prox's cap). 64 keeps the worst case below 1e-6.
TV_OVERLAP = 64

#: Overlap used for priors and denoisers that declare no receptive field (with a warning).
DEFAULT_MARGIN = 64


def _unwrap(obj):
    """The denoiser or prior behind the wrappers of :mod:`invrestore.functionals`."""
    from ..denoisers import FunctionDenoiser, PriorDenoiser
    from ..functionals import DenoiserPrior

    for _ in range(8):
        if isinstance(obj, DenoiserPrior):
            obj = obj.denoiser
        elif isinstance(obj, PriorDenoiser):
            obj = obj.prior
        elif isinstance(obj, FunctionDenoiser):
            obj = obj.func
        else:
            break
    return obj


def receptive_radius(prior, sigma=None):
    """Receptive radius of a prior or denoiser, or None when it is not known.

    Parameters
    ----------
    prior : Prior, denoiser or callable
        Anything :func:`invrestore.get_prior` accepts except a name.
    sigma : float, optional
        Noise level the denoiser will run at (NLM picks its windows from it).

    Returns
    -------
    int or None
        ``r`` such that an output pixel depends only on input pixels at most ``r`` rows and
        ``r`` columns away; for TV, the measured :data:`TV_OVERLAP`.

    Notes
    -----
    In this order: an attribute ``receptive_field`` (read as a radius: for a network of 17
    3x3 convolutions that is 17, its field being 35x35; a full width given instead only makes
    the overlap larger), an attribute ``halo`` (the networks of :mod:`invrestore.nn`), the
    non-local means windows (``patch_distance + patch_size // 2``), the wavelet filter support
    ``(dec_len - 1) (2^levels - 1) + cycle_spin``, :data:`TV_OVERLAP` for total variation,
    0 for the pixel-wise Tikhonov prior.

    Examples
    --------
    >>> from invrestore.scale import receptive_radius
    >>> from invrestore.denoisers import NLMDenoiser
    >>> receptive_radius(NLMDenoiser(patch_size=5, patch_distance=7))
    9
    >>> def box3(x, sigma):
    ...     return x
    >>> box3.receptive_field = 1
    >>> receptive_radius(box3)
    1
    """
    from ..functionals import GradientTikhonov, Tikhonov, TotalVariation, WaveletL1

    obj = _unwrap(prior)
    for attr in ("receptive_field", "halo"):
        value = getattr(obj, attr, None)
        if value is not None:
            value = math.ceil(float(value))
            if value < 0:
                raise ValueError(f"{obj!r}.{attr} must be >= 0, got {value}")
            return value
    if isinstance(obj, TotalVariation):
        return TV_OVERLAP
    if isinstance(obj, Tikhonov) and not isinstance(obj, GradientTikhonov):
        return 0
    if isinstance(obj, WaveletL1):
        levels = obj.levels if obj.levels is not None else 3
        return (obj._w.dec_len - 1) * (2 ** levels - 1) + obj.cycle_spin
    if type(obj).__name__ == "NLMDenoiser" and hasattr(obj, "patch_distance"):
        from ..denoisers.nlm import default_parameters

        ps, pd = obj.patch_size, obj.patch_distance
        if ps is None or pd is None:
            s = sigma if sigma else 50 / 255  # largest windows when sigma is unknown
            ps0, pd0, _ = default_parameters(s, obj.fast_mode)
            ps = ps0 if ps is None else ps
            pd = pd0 if pd is None else pd
        return int(pd) + int(ps) // 2
    return None


def _walk(op):
    yield op
    for name in ("outer", "inner", "op"):
        sub = getattr(op, name, None)
        if isinstance(sub, LinearOperator):
            yield from _walk(sub)


def kernel_radius(operator) -> int:
    """Sum over the blurs in ``operator`` of their largest kernel half-width (pixels)."""
    return sum(max(o.kernel.shape) // 2 for o in _walk(operator) if isinstance(o, Blur))


def mask_gap(operator) -> int:
    """Largest distance from a missing pixel to an observed one, over the masks of ``H``."""
    from scipy import ndimage

    gap = 0
    for o in _walk(operator):
        if isinstance(o, Mask):
            m = np.asarray(o.mask if get_xp(o.mask) is np else o.mask.get())
            obs = m != 0 if m.ndim == 2 else (m != 0).all(axis=-1)
            if not obs.any():
                raise ValueError(f"{o!r} observes no pixel: nothing to restore")
            if not obs.all():
                gap = max(gap, math.ceil(float(ndimage.distance_transform_edt(~obs).max())))
    return gap


def default_overlap(prior, *, sigma=None, operator=None, n_iter=None):
    """Default overlap (pixels added on each inner side of a tile) for ``prior`` and ``H``.

    Parameters
    ----------
    prior : Prior or denoiser
        The prior (or denoiser) that runs on each tile.
    sigma : float, optional
        Noise level (NLM's windows depend on it).
    operator : LinearOperator, optional
        Forward model of a restoration; None for denoising.
    n_iter : int, optional
        Outer iterations of a plug-and-play restoration (each one spreads information by the
        denoiser's radius and the kernel's).

    Returns
    -------
    int

    Notes
    -----
    Denoising: the receptive radius (:func:`receptive_radius`). Restoration:

    .. math:: m + 4 r_k + 2 g \\quad\\text{(variational priors)},\\qquad
              n (r_d + 2 r_k) + 2 g \\quad\\text{(plug-and-play, } n \\text{ iterations)},

    with ``m`` the prior's radius (:data:`TV_OVERLAP` for TV), ``r_k`` the kernel radius
    (:func:`kernel_radius`), ``r_d`` the denoiser's radius and ``g`` the largest hole of a mask
    (:func:`mask_gap`): a hole is filled from its rim. Unknown radii count as
    :data:`DEFAULT_MARGIN`, with a warning.

    Examples
    --------
    >>> from invrestore.scale import default_overlap
    >>> from invrestore.functionals import TotalVariation
    >>> default_overlap(TotalVariation())
    64
    """
    from ..functionals import DenoiserPrior

    r = receptive_radius(prior, sigma)
    if r is None:
        warnings.warn(f"{prior!r} declares no receptive field; using an overlap of "
                      f"{DEFAULT_MARGIN} pixels (pass overlap=, or give the denoiser a "
                      "receptive_field attribute)", stacklevel=3)
        r = DEFAULT_MARGIN
    if operator is None:
        return int(r)
    rk, gap = kernel_radius(operator), mask_gap(operator)
    if isinstance(prior, DenoiserPrior) or not _is_functional(prior):
        n = n_iter if n_iter is not None else 8
        return int(n * (r + 2 * rk) + 2 * gap)
    return int(r + 4 * rk + 2 * gap)


def _is_functional(obj):
    from ..functionals import Functional

    return isinstance(obj, Functional)


# -- local forward models -------------------------------------------------------------------

class Pad(LinearOperator):
    """Zero padding by ``pads = ((top, bottom), (left, right))``; the adjoint crops.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.scale.locality import Pad
    >>> P = Pad((2, 3), ((1, 0), (0, 2)))
    >>> (P @ np.ones((2, 3))).shape
    (3, 5)
    """

    def __init__(self, shape, pads):
        shape = tuple(int(s) for s in shape)
        self.pads = tuple((int(a), int(b)) for a, b in pads)
        out = (shape[0] + sum(self.pads[0]), shape[1] + sum(self.pads[1])) + shape[2:]
        super().__init__(shape, out)

    def _forward(self, x):
        xp = get_xp(x)
        return xp.pad(x, self.pads + ((0, 0),) * (x.ndim - 2))

    def _adjoint(self, y):
        (t, b), (left, r) = self.pads
        return y[t:y.shape[0] - b, left:y.shape[1] - r].copy()

    def _repr_args(self):
        return f"shape={self.in_shape}, pads={self.pads}"


def check_tileable(operator):
    """Raise a clear error when ``operator`` has no exact window restriction.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Blur
    >>> from invrestore.scale.locality import check_tileable
    >>> check_tileable(Blur(np.ones((3, 3)) / 9, (16, 16), boundary="reflect"))
    >>> check_tileable(Blur(np.ones((3, 3)) / 9, (16, 16)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...circular...
    """
    for o in _walk(operator):
        if isinstance(o, Blur) and o.boundary == "circular":
            raise ValueError(f"{o!r} cannot be tiled: a circular blur mixes the opposite image "
                             "borders, which no tile sees. Use boundary='reflect' (also an "
                             "exact O(N log N) x-step for symmetric kernels), 'zero' or "
                             "'valid', or restore the whole image with invrestore.restore")
        if not isinstance(o, (Identity, Mask, Blur, Downsample, _Composed, _Scaled)):
            raise TypeError(f"{o!r} cannot be tiled: only Identity, Mask, Blur (reflect, zero, "
                            "valid), Downsample and their compositions and multiples have a "
                            "local restriction")


def _crop(a, box):
    (r0, r1), (c0, c1) = box
    return a[r0:r1, c0:c1]


def localize(op, box, get_mask=None):
    """The restriction of ``op`` to the input window ``box``.

    Parameters
    ----------
    op : LinearOperator
        A tileable operator (:func:`check_tileable`).
    box : ((r0, r1), (c0, c1))
        Window of the input image (rows and columns, half-open).
    get_mask : callable, optional
        ``get_mask(mask_op, box) -> window of its mask``; default crops ``mask_op.mask``
        (a distributed run passes the mask window instead).

    Returns
    -------
    local_op : LinearOperator
        Maps the window to the part of the observation it determines.
    out_box : ((r0, r1), (c0, c1))
        Where that part lies in the full observation.
    """
    if get_mask is None:
        def get_mask(m, b):
            return _crop(m.mask, b)
    shape = op.in_shape
    (r0, r1), (c0, c1) = box
    wshape = (r1 - r0, c1 - c0) + tuple(shape[2:])
    if isinstance(op, Identity):
        return Identity(wshape), box
    if isinstance(op, Mask) or getattr(op, "is_mask_slot", False):
        return Mask(get_mask(op, box), wshape), box
    if isinstance(op, _Scaled):
        inner, out_box = localize(op.op, box, get_mask)
        return op.c * inner, out_box
    if isinstance(op, _Composed):
        inner, mid = localize(op.inner, box, get_mask)
        outer, out_box = localize(op.outer, mid, get_mask)
        return outer @ inner, out_box
    if isinstance(op, Downsample):
        (f0, f1), (o0, o1) = op.factor, op.offset
        j0, j1 = -(-(r0 - o0) // f0), -(-(r1 - o0) // f0)
        k0, k1 = -(-(c0 - o1) // f1), -(-(c1 - o1) // f1)
        local = Downsample((f0, f1), wshape, offset=(o0 + f0 * j0 - r0, o1 + f1 * k0 - c0))
        return local, ((j0, j1), (k0, k1))
    if isinstance(op, Blur):
        k = op.kernel
        if op.boundary == "reflect":
            return Blur(k, wshape, boundary="reflect"), box
        kh, kw = k.shape
        if op.boundary == "valid":
            return Blur(k, wshape, boundary="valid"), ((r0, r1 - kh + 1), (c0, c1 - kw + 1))
        # zero: the image's zero extension where the window meets the image border; a valid
        # convolution (no invented data) on the inner sides
        (t0, b0), (t1, b1) = op._pad
        H, W = shape[:2]
        pads = ((t0 if r0 == 0 else 0, b0 if r1 == H else 0),
                (t1 if c0 == 0 else 0, b1 if c1 == W else 0))
        P = Pad(wshape, pads)
        B = Blur(k, P.out_shape, boundary="valid")
        out_box = ((r0 + t0 - pads[0][0], r1 - b0 + pads[0][1]),
                   (c0 + t1 - pads[1][0], c1 - b1 + pads[1][1]))
        return B @ P, out_box
    check_tileable(op)
    raise ValueError(f"{op!r} cannot be tiled")  # pragma: no cover - check_tileable raised
