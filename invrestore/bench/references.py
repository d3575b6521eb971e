"""Published results shown beside the measured ones (mean PSNR in dB over the whole set).

Each entry names the method as the literature does, the table it comes from, and the values
per task level (noise std x 255 for denoising, scale for super-resolution). They are printed
in the report next to our rows; the protocol each was obtained with is the one of the task
(see :mod:`invrestore.bench.tasks` and the data README), up to the noise realisation, which
moves means by about 0.01-0.02 dB.

Examples
--------
>>> from invrestore.bench.references import published
>>> published("denoise", "BSD68")["BM3D"][25]
28.57
"""

from __future__ import annotations

__all__ = ["METHOD_LABEL", "REFERENCES", "SOURCES", "published"]

#: Where the numbers come from.
SOURCES = {
    "DnCNN": "Zhang et al., Beyond a Gaussian denoiser (DnCNN), IEEE TIP 2017, Tables 2-3 "
             "(BM3D, EPLL, DnCNN-S, DnCNN-B on BSD68 and Set12)",
    "FFDNet": "Zhang et al., FFDNet, IEEE TIP 2018 (FFDNet gray and colour; CBM3D on CBSD68)",
    "VDSR": "Kim et al., VDSR, CVPR 2016, Table 3 (bicubic: MATLAB imresize, Y channel, "
            "scale pixels shaved)",
}

#: (family, dataset) -> {published method: {level: PSNR}}; each method also names its source.
REFERENCES = {
    ("denoise", "Set12"): {
        "BM3D": ({15: 32.37, 25: 29.97, 50: 26.72}, "DnCNN"),
        "EPLL": ({15: 32.14, 25: 29.69, 50: 26.47}, "DnCNN"),
        "DnCNN-S": ({15: 32.86, 25: 30.44, 50: 27.18}, "DnCNN"),
        "DnCNN-B": ({15: 32.68, 25: 30.36, 50: 27.21}, "DnCNN"),
        "FFDNet": ({15: 32.75, 25: 30.43, 50: 27.32}, "FFDNet"),
    },
    ("denoise", "BSD68"): {
        "BM3D": ({15: 31.07, 25: 28.57, 50: 25.62}, "DnCNN"),
        "EPLL": ({15: 31.21, 25: 28.68, 50: 25.67}, "DnCNN"),
        "DnCNN-S": ({15: 31.73, 25: 29.23, 50: 26.23}, "DnCNN"),
        "DnCNN-B": ({15: 31.61, 25: 29.16, 50: 26.23}, "DnCNN"),
        "FFDNet": ({15: 31.63, 25: 29.19, 50: 26.29}, "FFDNet"),
    },
    ("denoise", "CBSD68"): {
        "CBM3D": ({15: 33.52, 25: 30.71, 50: 27.38}, "FFDNet"),
        "FFDNet": ({15: 33.87, 25: 31.21, 50: 27.96}, "FFDNet"),
    },
    ("sr", "Set5"): {
        "Bicubic": ({2: 33.66, 3: 30.39, 4: 28.42}, "VDSR"),
    },
    ("sr", "Set14"): {
        "Bicubic": ({2: 30.24, 3: 27.55, 4: 26.00}, "VDSR"),
    },
}

#: Our method name -> the published method it reproduces (same algorithm or same weights).
METHOD_LABEL = {
    "bm3d": "BM3D",
    "bm3d_pkg": "BM3D",
    "gmm": "EPLL",
    "dncnn_s": "DnCNN-S",
    "ffdnet": "FFDNet",
    "bicubic": "Bicubic",
}


def published(family, dataset):
    """``{published method: {level: PSNR}}`` for a task family on a dataset (may be empty).

    For colour denoising BM3D is CBM3D: :data:`METHOD_LABEL` maps both to the row shown.
    """
    return {name: values for name, (values, _) in REFERENCES.get((family, dataset), {}).items()}


def source(family, dataset, name):
    """Key of :data:`SOURCES` for a published row."""
    return REFERENCES[(family, dataset)][name][1]


def label_for(method, family, dataset):
    """Published method matching ``method`` on this task, or None."""
    label = METHOD_LABEL.get(method)
    refs = REFERENCES.get((family, dataset), {})
    if label == "BM3D" and "CBM3D" in refs:
        label = "CBM3D"
    return label if label in refs else None
