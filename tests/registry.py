"""One registry of small operator factories, run through the shared contract checks.

Each factory takes an image shape ((H, W) or (H, W, C)) and returns an operator on it. Add new
operators here and they are checked for adjoint, linearity, normal solves, dtypes and backends.
"""

import numpy as np

from invrestore.operators import Blur, Downsample, Gradient, Identity, Mask

_RNG = np.random.default_rng(1234)
ASYM = _RNG.random((5, 4))
ASYM /= ASYM.sum()
SYM = np.outer([1, 3, 5, 3, 1], [1, 2, 1]).astype(float)
SYM /= SYM.sum()


def _mask(shape, seed=0):
    return np.random.default_rng(seed).random(shape[:2]) > 0.4


def _weights(shape, seed=1):
    return np.random.default_rng(seed).random(shape)


def _valid_shape(shape, k):
    return (shape[0] - k.shape[0] + 1, shape[1] - k.shape[1] + 1) + tuple(shape[2:])


OPERATORS = {
    "identity": lambda s: Identity(s),
    "mask_bool": lambda s: Mask(_mask(s), s),
    "mask_weights": lambda s: Mask(_weights(s)),
    "downsample2": lambda s: Downsample(2, s),
    "downsample_2x3_offset": lambda s: Downsample((2, 3), s, offset=(1, 2)),
    "gradient_neumann": lambda s: Gradient(s),
    "gradient_circular": lambda s: Gradient(s, boundary="circular"),
    **{f"blur_{b}_{n}": (lambda s, b=b, k=k: Blur(k, s, boundary=b))
       for b in ("circular", "reflect", "zero", "valid")
       for n, k in (("asym", ASYM), ("sym", SYM))},
    "sr_blur_then_decimate": lambda s: Downsample(2, s) @ Blur(ASYM, s),
    "sr_offset": lambda s: Downsample(2, s, offset=1) @ Blur(SYM, s),
    "sr_reflect_cg": lambda s: Downsample(2, s) @ Blur(SYM, s, boundary="reflect"),
    "all_in_one": lambda s: (Mask(_mask((s[0] // 2, s[1] // 2)), (s[0] // 2, s[1] // 2) + s[2:])
                             @ Downsample(2, s) @ Blur(ASYM, s)),
    "mask_after_valid_blur": lambda s: (Mask(_mask(_valid_shape(s, ASYM)), _valid_shape(s, ASYM))
                                        @ Blur(ASYM, s, boundary="valid")),
    "gradient_of_blur": lambda s: Gradient(s) @ Blur(SYM, s, boundary="reflect"),
    "sum": lambda s: Blur(ASYM, s) + Identity(s),
    "difference": lambda s: Blur(SYM, s, boundary="zero") - 0.5 * Identity(s),
    "scaled_exact": lambda s: 3.0 * Blur(SYM, s, boundary="reflect"),
    "negated": lambda s: -Mask(_weights(s)),
    "adjoint_of_decimation": lambda s: Downsample(2, s).H,
    "adjoint_of_sr": lambda s: (Downsample(2, s) @ Blur(ASYM, s)).H,
    "identity_left": lambda s: Identity(s) @ Blur(ASYM, s),
    "identity_right": lambda s: Blur(SYM, s, boundary="reflect") @ Identity(s),
}

#: Shapes every operator is checked on: gray and colour, even sizes (for decimation).
SHAPES = [(16, 20), (16, 20, 3)]
