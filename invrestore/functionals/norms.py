"""Mixed norms on vector fields (the building block of TV in primal-dual solvers)."""

from __future__ import annotations

from ..backend import get_xp
from .base import Functional

__all__ = ["L21"]


class L21(Functional):
    """Group norm ``||p||_{2,1} = sum_pixels sqrt(sum_{group} p^2)`` of a field ``p``.

    The groups run over axis 0 (the gradient direction of
    :class:`~invrestore.operators.Gradient`) and, with ``channels=True``, over the last axis
    too (vectorial colour TV). ``isotropic=False`` gives the plain L1 norm (anisotropic TV).

    Notes
    -----
    ``prox(v, tau)`` shrinks each group's norm by ``tau`` (group soft thresholding);
    ``prox_conj`` is the projection onto the unit ball of the dual norm (per-group 2-norm
    <= 1), computed directly rather than through Moreau's identity.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.zeros((2, 1, 1)); p[:, 0, 0] = [3.0, 4.0]
    >>> float(L21()(p)), L21().prox_conj(p, 1.0)[:, 0, 0].tolist()
    (5.0, [0.6, 0.8])
    """

    def __init__(self, *, isotropic=True, channels=False):
        self.isotropic = isotropic
        self.channels = channels

    def _group_norm(self, p):
        xp = get_xp(p)
        if not self.isotropic:
            return xp.abs(p)
        sq = (p * p).sum(axis=0)
        if self.channels and sq.ndim == 3:
            sq = sq.sum(axis=-1, keepdims=True)
        return xp.sqrt(sq)[None]

    def _value(self, p):
        return float(self._group_norm(p).sum())

    def _prox(self, v, tau):
        xp = get_xp(v)
        n = self._group_norm(v)
        return v * xp.maximum(1.0 - tau / xp.maximum(n, 1e-30), 0.0)

    def prox_conj(self, v, tau):
        # conjugate = indicator of the dual-norm unit ball, whatever tau
        xp = get_xp(v)
        return v / xp.maximum(self._group_norm(v), 1.0)
