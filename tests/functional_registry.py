"""Small factories for every functional and prior, run through the shared checks.

Each entry maps a name to ``factory(shape) -> (functional, shape_of_its_argument)``.
"""

import numpy as np

from invrestore.functionals import (L1, L21, Box, DataFidelity, GradientTikhonov,
                                    KullbackLeibler, NonNegative, SquaredL2, Tikhonov, Zero)
from invrestore.operators import Blur, Mask

_RNG = np.random.default_rng(42)


def _y(shape, positive=False):
    y = np.random.default_rng(7).random(shape)
    return y + 0.1 if positive else y - 0.3


def _optional():
    out = {}
    try:
        from invrestore.functionals import TotalVariation

        out["tv_iso"] = lambda s: (TotalVariation(max_iter=2000, tol=1e-10), s)
        out["tv_aniso"] = lambda s: (TotalVariation(isotropic=False, max_iter=2000, tol=1e-10), s)
    except ImportError:
        pass
    try:
        from invrestore.functionals import WaveletL1

        out["wavelet"] = lambda s: (WaveletL1(wavelet="haar", levels=1), s)
    except ImportError:
        pass
    return out


FUNCTIONALS = {
    "zero": lambda s: (Zero(), s),
    "squared_l2": lambda s: (SquaredL2(_y(s)), s),
    "l1": lambda s: (L1(_y(s)), s),
    "kl": lambda s: (KullbackLeibler(_y(s, positive=True)), s),
    "tikhonov": lambda s: (Tikhonov(), s),
    "scaled_tikhonov": lambda s: (2.5 * Tikhonov(), s),
    "gradient_tikhonov": lambda s: (GradientTikhonov(), s),
    "box": lambda s: (Box(0.0, 1.0), s),
    "nonnegative": lambda s: (NonNegative(), s),
    "l21_iso": lambda s: (L21(), (2,) + s),
    "l21_aniso": lambda s: (0.7 * L21(isotropic=False), (2,) + s),
    "l21_colour": lambda s: (L21(channels=True), (2,) + s[:2] + (3,)),
    "data_l2_blur": lambda s: (DataFidelity(SquaredL2(_y(s[:2])),
                                            Blur(np.ones((3, 3)) / 9, s[:2])), s[:2]),
    "data_l2_mask": lambda s: (DataFidelity(SquaredL2(_y(s)), Mask(_y(s) > 0)), s),
    **_optional(),
}

SMOOTH = {"zero", "squared_l2", "tikhonov", "scaled_tikhonov", "gradient_tikhonov",
          "data_l2_blur", "data_l2_mask"}
