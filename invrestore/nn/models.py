"""Learned denoisers as :class:`~invrestore.denoisers.Denoiser` objects: DnCNN, FDnCNN, FFDNet.

All three are a stack of 3x3 "same" convolutions with ReLU after every one but the last (batch
norms, where the original had them, folded into the convolutions):

* **DnCNN** (Zhang et al. 2017): image in, image out; with ``residual=True`` (the published
  models) the stack predicts the noise and the result is ``x - stack(x)``. ``sigma`` is not an
  input: a non-blind DnCNN denoises at the level it was trained for whatever ``sigma`` says.
* **FDnCNN** (Zhang et al. 2018, the DnCNN variant of the FFDNet paper): input ``[x, m]`` with
  ``m`` a constant noise-level map equal to ``sigma`` as the last channel; output the clean
  image (``residual=False``) or the noise (``residual=True``: ``x - stack([x, m])``).
* **FFDNet** (Zhang et al. 2018): ``x`` replicate-padded at the bottom/right to even size,
  2x2 pixel unshuffle (``4 C`` channels in PyTorch's order, see
  :func:`~invrestore.nn.functional.pixel_unshuffle`), the noise map as the last channel
  (``4 C + 1`` inputs), the stack (``4 C`` outputs: ``u - stack`` if ``residual`` else
  ``stack``), pixel shuffle, crop.

Noise levels are on the [0, 1] scale (``25 / 255`` for "sigma 25"). ``sigma_range`` records
what a model was trained for. Outside it the network still runs unless ``strict_sigma=True``
(then :class:`ValueError`): a noise-map model extrapolates its map (quality degrades
gradually), a non-blind DnCNN ignores ``sigma``.

Weights live where they were created (NumPy); :meth:`NetDenoiser.to` returns a copy on the GPU
(``"cupy"``). Calling a denoiser with an array on another device raises instead of copying.

References
----------
K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian denoiser: residual learning of
deep CNN for image denoising", IEEE TIP 26(7), 2017.
K. Zhang, W. Zuo, L. Zhang, "FFDNet: toward a fast and flexible solution for CNN-based image
denoising", IEEE TIP 27(9), 2018.

Examples
--------
>>> import numpy as np
>>> from invrestore.nn import FFDNet
>>> net = FFDNet.random(channels=1, features=8, n_layers=3, rng=0)
>>> net(np.full((5, 7), 0.5), 25 / 255).shape
(5, 7)
"""

from __future__ import annotations

import copy
import math

import numpy as np

from ..backend import device_of, get_xp, to_device, to_numpy
from ..denoisers.base import Denoiser
from . import functional as F
from ._flat import FlatGeometry, conv_flat, prepare
from .tiling import tiled_apply

__all__ = ["DnCNN", "FDnCNN", "FFDNet", "NetDenoiser"]


def _fmt_range(r):
    lo, hi = r
    f = (lambda v: "inf" if math.isinf(v) else f"{v * 255:.4g}")
    return f"[{f(lo)}, {f(hi)}]/255"


class NetDenoiser(Denoiser):
    """Base class of the engine's networks: parameters, device, dtype handling and tiling.

    Subclasses define ``arch``, :meth:`forward` (``(H, W, C)`` float32 on the weights' device),
    :meth:`config`, ``halo``/``align`` (see :func:`~invrestore.nn.tiling.tiled_apply`).

    Parameters
    ----------
    params : dict of str to ndarray
        Parameters by name, in PyTorch layouts (see :meth:`state_dict`).
    channels : int
        Image channels (1 gray, 3 colour).
    sigma_range : (float, float)
        Noise levels the weights were trained for, [0, 1] scale.
    strict_sigma : bool
        Raise for ``sigma`` outside ``sigma_range`` instead of running anyway.
    tile : int or None
        Images larger than ``tile x tile`` are processed in overlapping tiles (exact for the
        plain convolution stacks); None disables tiling.
    provenance : dict, optional
        Free-form record of where the weights come from (kept by :func:`~invrestore.nn.save_npz`).
    """

    arch = None
    halo = 0
    align = 1

    def __init__(self, params, *, channels, sigma_range, strict_sigma=False, tile=1024,
                 provenance=None):
        lo, hi = (float(v) for v in sigma_range)
        if not 0.0 <= lo <= hi:
            raise ValueError(f"{type(self).__name__}: sigma_range must be 0 <= lo <= hi, got "
                             f"{tuple(sigma_range)!r}")
        if tile is not None and (int(tile) != tile or tile < 8):
            raise ValueError(f"{type(self).__name__}: tile must be None or an int >= 8, "
                             f"got {tile!r}")
        self.params = dict(params)
        for name, a in self.params.items():
            if not bool(get_xp(a).isfinite(a).all()):
                raise ValueError(f"{type(self).__name__}: parameter {name!r} has NaN or Inf")
        self.channels = int(channels)
        self.sigma_range = (lo, hi)
        self.strict_sigma = bool(strict_sigma)
        self.tile = None if tile is None else int(tile)
        self.provenance = dict(provenance or {})
        self._prepared = {}

    @property
    def device(self):
        """``"numpy"`` or ``"cupy"``: where the weights are."""
        first = next(iter(self.params.values()), None)
        return device_of(first) if first is not None else "numpy"

    def to(self, device):
        """A copy with the weights on ``device`` (``"numpy"``/``"cpu"`` or ``"cupy"``/``"gpu"``)."""
        new = copy.copy(self)
        new.params = {k: to_device(v, device) for k, v in self.params.items()}
        new._prepared = {}
        return new

    def state_dict(self):
        """Parameters as NumPy float32 arrays by name (PyTorch layouts)."""
        return {k: np.asarray(to_numpy(v), dtype=np.float32) for k, v in self.params.items()}

    def config(self):
        raise NotImplementedError

    def forward(self, x, sigma):
        """Network on a channels-last float32 image ``(H, W, C)`` on the weights' device."""
        raise NotImplementedError

    def _taps(self, name):
        # Prepared tap matrices of a convolution weight, cached per device copy.
        if name not in self._prepared:
            self._prepared[name] = prepare(self.params[name])
        return self._prepared[name]

    def _denoise(self, x, sigma):
        if device_of(x) != self.device:
            raise ValueError(f"{self!r} has its weights on {self.device} but the image is a "
                             f"{device_of(x)} array; use .to({device_of(x)!r}) first")
        xp = get_xp(x)
        squeeze = x.ndim == 2
        x3 = x[:, :, None] if squeeze else x
        x32 = xp.asarray(x3, dtype=np.float32)
        y = tiled_apply(lambda t: self.forward(t, sigma), x32, tile=self.tile, halo=self.halo,
                        align=self.align)
        y = y.astype(x.dtype, copy=False)
        return y[:, :, 0] if squeeze else y


class _ConvStack(NetDenoiser):
    """Shared machinery of the plain 3x3 stacks (parameters ``conv{i}.weight``/``.bias``)."""

    residual_default = True
    default_sigma_range = (0.0, math.inf)

    def __init__(self, weights, biases=None, *, channels=1, residual=None, sigma_range=None,
                 strict_sigma=False, tile=1024, provenance=None):
        weights = list(weights)
        if not weights:
            raise ValueError(f"{type(self).__name__}: no convolution weights given")
        if biases is None:
            biases = [None] * len(weights)
        biases = list(biases)
        if len(biases) != len(weights):
            raise ValueError(f"{type(self).__name__}: {len(weights)} weights but "
                             f"{len(biases)} biases")
        xp = get_xp(weights[0])
        params = {}
        c_in, c_out = self._io_channels(int(channels))
        prev = c_in
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            w = xp.asarray(w, dtype=np.float32)
            if w.ndim != 4 or w.shape[1] != prev or w.shape[2:] != (3, 3):
                raise ValueError(f"{type(self).__name__}: conv{i}.weight has shape "
                                 f"{tuple(w.shape)}, expected ({'Cout'}, {prev}, 3, 3)")
            b = xp.zeros(w.shape[0], np.float32) if b is None else xp.asarray(b, np.float32)
            if b.shape != (w.shape[0],):
                raise ValueError(f"{type(self).__name__}: conv{i}.bias has shape "
                                 f"{tuple(b.shape)}, expected ({w.shape[0]},)")
            params[f"conv{i}.weight"], params[f"conv{i}.bias"] = w, b
            prev = int(w.shape[0])
        if prev != c_out:
            raise ValueError(f"{type(self).__name__} for {channels} channel(s) needs {c_out} "
                             f"outputs from the last convolution, got {prev}")
        super().__init__(params, channels=channels,
                         sigma_range=sigma_range or self.default_sigma_range,
                         strict_sigma=strict_sigma, tile=tile, provenance=provenance)
        self.n_layers = len(weights)
        self.features = int(weights[0].shape[0]) if len(weights) > 1 else c_out
        self.residual = self.residual_default if residual is None else bool(residual)

    @staticmethod
    def _io_channels(channels):
        return channels, channels

    @property
    def halo(self):
        return self.n_layers

    @classmethod
    def random(cls, *, channels=1, features=64, n_layers=17, rng=None, **kwargs):
        """A network with He-initialised random weights (tests, benchmarks)."""
        rng = np.random.default_rng(rng)
        c_in, c_out = cls._io_channels(channels)
        chans = [c_in] + [features] * (n_layers - 1) + [c_out]
        ws = [(rng.standard_normal((chans[i + 1], chans[i], 3, 3)) *
               math.sqrt(2.0 / (9 * chans[i]))).astype(np.float32) for i in range(n_layers)]
        bs = [(0.01 * rng.standard_normal(chans[i + 1])).astype(np.float32)
              for i in range(n_layers)]
        return cls(ws, bs, channels=channels, **kwargs)

    @classmethod
    def from_state_dict(cls, state, config, **kwargs):
        """Build from ``conv{i}.weight``/``conv{i}.bias`` arrays and a config dict."""
        n = int(config["n_layers"])
        missing = [f"conv{i}.{p}" for i in range(n) for p in ("weight", "bias")
                   if f"conv{i}.{p}" not in state]
        if missing:
            raise ValueError(f"{cls.__name__}: missing parameters {missing[:4]} (config says "
                             f"{n} layers)")
        return cls([state[f"conv{i}.weight"] for i in range(n)],
                   [state[f"conv{i}.bias"] for i in range(n)],
                   channels=int(config["in_channels"]), residual=bool(config["residual"]),
                   **kwargs)

    def config(self):
        return {"in_channels": self.channels, "features": self.features,
                "n_layers": self.n_layers, "residual": self.residual}

    def _stack(self, x):
        """The convolution stack on a ``(H, W, Cin)`` float32 array (padded-flat layout)."""
        xp = get_xp(x)
        geo = FlatGeometry(x.shape[0], x.shape[1], 1)
        cur = geo.to_flat(x)
        spare = {}
        for i in range(self.n_layers):
            taps = self._taps(f"conv{i}.weight")
            co = taps[0].shape[2]
            out = spare.pop(co, None)
            if out is None:
                out = geo.empty(xp, co)
            conv_flat(geo, cur, taps, self.params[f"conv{i}.bias"],
                      relu=i < self.n_layers - 1, out=out)
            spare[cur.shape[1]] = cur
            cur = out
        return xp.ascontiguousarray(geo.interior(cur))

    def __repr__(self):
        return (f"{type(self).__name__}(channels={self.channels}, n_layers={self.n_layers}, "
                f"features={self.features}, residual={self.residual}, "
                f"sigma_range={_fmt_range(self.sigma_range)})")


class DnCNN(_ConvStack):
    """DnCNN: ``x - stack(x)`` (``residual=True``) or ``stack(x)``; ``sigma`` is not an input.

    Examples
    --------
    >>> import numpy as np
    >>> net = DnCNN.random(n_layers=4, features=8, rng=0)
    >>> net.halo, net(np.zeros((6, 6)), 0.1).shape
    (4, (6, 6))
    """

    arch = "dncnn"

    def forward(self, x, sigma):
        n = self._stack(x)
        return x - n if self.residual else n


class FDnCNN(_ConvStack):
    """FDnCNN: the stack on ``[x, sigma map]``; clean image out (``residual=False``).

    Examples
    --------
    >>> import numpy as np
    >>> FDnCNN.random(n_layers=3, features=8, rng=0)(np.zeros((6, 6)), 0.1).shape
    (6, 6)
    """

    arch = "fdncnn"
    residual_default = False
    default_sigma_range = (0.0, 75 / 255)

    @staticmethod
    def _io_channels(channels):
        return channels + 1, channels

    def forward(self, x, sigma):
        n = self._stack(F.noise_map(x, sigma))
        return x - n if self.residual else n


class FFDNet(_ConvStack):
    """FFDNet: 2x2 pixel unshuffle, noise map, stack, pixel shuffle (odd sizes padded, cropped).

    Examples
    --------
    >>> import numpy as np
    >>> net = FFDNet.random(channels=3, features=8, n_layers=3, rng=0)
    >>> net(np.zeros((7, 5, 3)), 0.1).shape, net.halo
    ((7, 5, 3), 6)
    """

    arch = "ffdnet"
    residual_default = False
    default_sigma_range = (0.0, 75 / 255)
    align = 2

    @staticmethod
    def _io_channels(channels):
        return 4 * channels + 1, 4 * channels

    @property
    def halo(self):
        return 2 * self.n_layers

    def forward(self, x, sigma):
        h, w = x.shape[:2]
        xe = F.replicate_pad(x, h % 2, w % 2)
        u = F.pixel_unshuffle(xe, 2)
        n = self._stack(F.noise_map(u, sigma))
        y = F.pixel_shuffle(u - n if self.residual else n, 2)
        return get_xp(y).ascontiguousarray(y[:h, :w])
