"""DRUNet (Zhang et al. 2021): the residual U-Net denoiser of DPIR, in KAIR's parameter layout.

Architecture, for features ``(f0, f1, f2, f3)`` (published: 64, 128, 256, 512) and ``nb``
residual blocks per level (published: 4); every convolution is bias-free in the published
weights (biases are used where a state dict has them):

* input ``[x, m]``: the image and a constant noise-level map equal to ``sigma`` (last channel),
  replicate-padded at the bottom/right to a multiple of 8;
* ``x1 = head(.)``: 3x3 convolution to ``f0`` channels;
* ``x2 = down1(x1)``, ``x3 = down2(x2)``, ``x4 = down3(x3)``: ``nb`` residual blocks, then a 2x2
  convolution with stride 2 to the next width;
* ``y = body(x4)``: ``nb`` residual blocks at ``f3``;
* ``y = up3(y + x4)``, ``y = up2(y + x3)``, ``y = up1(y + x2)``: a 2x2 transposed convolution with
  stride 2 to the previous width, then ``nb`` residual blocks;
* output ``tail(y + x1)``: 3x3 convolution to the image's channels; cropped to the input size.

A residual block is ``z + conv(relu(conv(z)))`` with 3x3 "same" convolutions. Parameter names
follow KAIR's ``UNetRes``: ``m_head.weight``, ``m_down1.{b}.res.0.weight`` and
``m_down1.{b}.res.2.weight`` for the blocks, ``m_down1.{nb}.weight`` for the strided
convolution, ``m_body.{b}.res.*``, ``m_up3.0.weight`` (transposed convolution, ``(Cin, Cout,
2, 2)``), ``m_up3.{1 + b}.res.*``, ..., ``m_tail.weight``.

Tiling is approximate for this network: its receptive field exceeds the default halo (128
pixels), so outputs near tile seams differ slightly from a whole-image pass; use ``tile=None``
where memory allows (the GPU).

References
----------
K. Zhang, Y. Li, W. Zuo, L. Zhang, L. Van Gool, R. Timofte, "Plug-and-play image restoration
with deep denoiser prior", IEEE TPAMI 44(10), 2021.

Examples
--------
>>> import numpy as np
>>> from invrestore.nn import DRUNet
>>> net = DRUNet.random(channels=1, features=(4, 8, 8, 8), n_blocks=1, rng=0)
>>> net(np.zeros((13, 10)), 15 / 255).shape
(13, 10)
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_xp
from . import functional as F
from ._flat import FlatGeometry, conv_flat
from .models import NetDenoiser, _fmt_range

__all__ = ["DRUNet", "drunet_param_shapes"]


def drunet_param_shapes(channels=1, features=(64, 128, 256, 512), n_blocks=4):
    """Names and shapes of a DRUNet's weights (KAIR layout), in forward order."""
    f = [int(v) for v in features]
    shapes = {"m_head.weight": (f[0], channels + 1, 3, 3)}

    def blocks(prefix, start, c):
        for b in range(n_blocks):
            for k in (0, 2):
                shapes[f"{prefix}.{start + b}.res.{k}.weight"] = (c, c, 3, 3)

    for lvl in range(3):
        blocks(f"m_down{lvl + 1}", 0, f[lvl])
        shapes[f"m_down{lvl + 1}.{n_blocks}.weight"] = (f[lvl + 1], f[lvl], 2, 2)
    blocks("m_body", 0, f[3])
    for lvl in (3, 2, 1):
        shapes[f"m_up{lvl}.0.weight"] = (f[lvl], f[lvl - 1], 2, 2)
        blocks(f"m_up{lvl}", 1, f[lvl - 1])
    shapes["m_tail.weight"] = (channels, f[0], 3, 3)
    return shapes


def _is_transposed(name):
    # m_up{l}.0.weight: the transposed convolutions, (Cin, Cout, 2, 2)
    parts = name.split(".")
    return parts[0].startswith("m_up") and len(parts) == 3 and parts[1] == "0"


class DRUNet(NetDenoiser):
    """DRUNet denoiser (noise-level-map input), KAIR layout; see the module docstring.

    Parameters
    ----------
    params : dict of str to ndarray
        Weights by KAIR name (:func:`drunet_param_shapes`); optional ``.bias`` entries.
    channels : int
        1 (gray, ``drunet_gray``) or 3 (colour, ``drunet_color``).
    features : sequence of 4 ints
    n_blocks : int
    **kwargs
        ``sigma_range`` (default ``(0, 50/255)``, the published training range),
        ``strict_sigma``, ``tile``, ``provenance``: see :class:`~invrestore.nn.NetDenoiser`.
    """

    arch = "drunet"
    align = 8
    halo = 128

    def __init__(self, params, *, channels=1, features=(64, 128, 256, 512), n_blocks=4,
                 sigma_range=(0.0, 50 / 255), **kwargs):
        self.features = tuple(int(v) for v in features)
        self.n_blocks = int(n_blocks)
        if len(self.features) != 4 or min(self.features) < 1 or self.n_blocks < 0:
            raise ValueError(f"DRUNet: features must be 4 positive ints and n_blocks >= 0, got "
                             f"{features!r}, {n_blocks!r}")
        expected = drunet_param_shapes(channels, self.features, self.n_blocks)
        xp = get_xp(next(iter(params.values()), None))
        clean = {}
        for name, shape in expected.items():
            if name not in params:
                raise ValueError(f"DRUNet: missing parameter {name!r} (expected {len(expected)} "
                                 f"weights for features={self.features}, n_blocks={n_blocks})")
            w = xp.asarray(params[name], dtype=np.float32)
            if tuple(w.shape) != shape:
                raise ValueError(f"DRUNet: {name} has shape {tuple(w.shape)}, expected {shape}")
            clean[name] = w
            bname = name[:-len("weight")] + "bias"
            if bname in params:
                b = xp.asarray(params[bname], dtype=np.float32)
                n_out = shape[1] if _is_transposed(name) else shape[0]
                if tuple(b.shape) != (n_out,):
                    raise ValueError(f"DRUNet: {bname} has shape {tuple(b.shape)}, expected "
                                     f"({n_out},)")
                clean[bname] = b
        unknown = sorted(set(params) - set(clean))
        if unknown:
            raise ValueError(f"DRUNet: unexpected parameters {unknown[:4]}")
        super().__init__(clean, channels=channels, sigma_range=sigma_range, **kwargs)

    @classmethod
    def random(cls, *, channels=1, features=(64, 128, 256, 512), n_blocks=4, rng=None,
               **kwargs):
        """Random weights (He initialisation, residual branches scaled down), for tests."""
        rng = np.random.default_rng(rng)
        params = {}
        for name, shape in drunet_param_shapes(channels, features, n_blocks).items():
            fan_in = shape[0] * 4 if _is_transposed(name) else int(np.prod(shape[1:]))
            scale = math.sqrt(2.0 / fan_in) * (0.3 if ".res.2." in name else 1.0)
            params[name] = (scale * rng.standard_normal(shape)).astype(np.float32)
        return cls(params, channels=channels, features=features, n_blocks=n_blocks, **kwargs)

    @classmethod
    def from_state_dict(cls, state, config, **kwargs):
        return cls(dict(state), channels=int(config["in_channels"]),
                   features=config["features"], n_blocks=int(config["n_blocks"]), **kwargs)

    def config(self):
        return {"in_channels": self.channels, "features": list(self.features),
                "n_blocks": self.n_blocks}

    # -- building blocks ----------------------------------------------------------------------
    def _bias(self, name):
        return self.params.get(name[:-len("weight")] + "bias")

    def _conv3(self, x, name, relu=False):
        return F.conv2d(x, self.params[name], self._bias(name), padding=1, relu=relu)

    def _blocks(self, x, prefix, start):
        """``nb`` residual blocks on the padded-flat layout (no copies between blocks)."""
        if self.n_blocks == 0:
            return x
        xp = get_xp(x)
        geo = FlatGeometry(x.shape[0], x.shape[1], 1)
        cur = geo.to_flat(x)
        tmp, nxt = geo.empty(xp, x.shape[2]), geo.empty(xp, x.shape[2])
        for b in range(start, start + self.n_blocks):
            n0, n2 = f"{prefix}.{b}.res.0.weight", f"{prefix}.{b}.res.2.weight"
            conv_flat(geo, cur, self._taps(n0), self._bias(n0), relu=True, out=tmp)
            conv_flat(geo, tmp, self._taps(n2), self._bias(n2), residual=cur, out=nxt)
            cur, nxt = nxt, cur
        return xp.ascontiguousarray(geo.interior(cur))

    def forward(self, x, sigma):
        h, w = x.shape[:2]
        z = F.replicate_pad(F.noise_map(x, sigma), (-h) % 8, (-w) % 8)
        x1 = self._conv3(z, "m_head.weight")
        skips = [x1]
        y = x1
        nb = self.n_blocks
        for lvl in (1, 2, 3):
            y = self._blocks(y, f"m_down{lvl}", 0)
            name = f"m_down{lvl}.{nb}.weight"
            y = F.conv2d(y, self.params[name], self._bias(name), stride=2)
            skips.append(y)
        y = self._blocks(y, "m_body", 0)
        for lvl in (3, 2, 1):
            name = f"m_up{lvl}.0.weight"
            y = F.conv_transpose2d(y + skips[lvl], self.params[name], self._bias(name), stride=2)
            y = self._blocks(y, f"m_up{lvl}", 1)
        out = self._conv3(y + skips[0], "m_tail.weight")
        return get_xp(out).ascontiguousarray(out[:h, :w])

    def __repr__(self):
        return (f"DRUNet(channels={self.channels}, features={self.features}, "
                f"n_blocks={self.n_blocks}, sigma_range={_fmt_range(self.sigma_range)})")
