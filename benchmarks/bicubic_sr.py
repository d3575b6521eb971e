"""Bicubic super-resolution baseline on Set5 / Set14, with the literature's evaluation protocol.

Run from the repository root::

    python -m benchmarks.bicubic_sr                 # Set5, x2 x3 x4
    python -m benchmarks.bicubic_sr --set Set14 --scales 2 4

Protocol (that of SRCNN/VDSR and their successors, all evaluated in MATLAB):

1. read the high-resolution (HR) image as uint8 and crop it to a multiple of the scale ``s``
   (``modcrop``);
2. LR = ``imresize(HR, 1/s)`` and SR = ``imresize(LR, s)``: MATLAB bicubic with antialiasing, on
   uint8, so every 1-D pass is rounded to uint8 as MATLAB does;
3. Y channel of MATLAB ``rgb2ycbcr`` on the uint8 images, which MATLAB returns as uint8 (the Y
   values are rounded to integers); gray images (Set14 ``bridge``) are used as they are;
4. PSNR on the [0, 1] scale (data range 1) after shaving ``s`` pixels at each border.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from invrestore.datasets import data_dir, list_images, read_image
from invrestore.degradations import imresize, modcrop
from invrestore.metrics import psnr, rgb2y

# Mean bicubic PSNR (dB) reported in the literature (e.g. Kim et al., VDSR, CVPR 2016).
REFERENCE = {
    "Set5": {2: 33.64, 3: 30.39, 4: 28.42},
    "Set14": {2: 30.24, 3: 27.55, 4: 26.00},
}
TOLERANCE_DB = 0.05


def y_channel_uint8(img):
    """Y of MATLAB ``rgb2ycbcr`` for a uint8 image, rounded like MATLAB, on the [0, 1] scale."""
    if img.ndim == 2:
        return img.astype(np.float64) / 255.0
    # MATLAB rounds half away from zero; the values are positive, so floor(v + 0.5)
    return np.floor(rgb2y(img) * 255.0 + 0.5) / 255.0


def bicubic_sr_psnr(hr, scale):
    """Y-channel PSNR (dB) of bicubic down- then up-sampling of a uint8 HR image by ``scale``."""
    hr = modcrop(hr, scale)
    lr = imresize(hr, 1.0 / scale)
    sr = imresize(lr, float(scale))
    return psnr(y_channel_uint8(sr), y_channel_uint8(hr), data_range=1.0, shave=scale)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", default="Set5", choices=sorted(REFERENCE), dest="set_name")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    args = parser.parse_args(argv)
    if data_dir() is None:
        print("error: test data not found; set INVRESTORE_DATA to the folder holding Set5/ "
              "and Set14/ (see invrestore.datasets.data_dir)", file=sys.stderr)
        return 2
    try:
        paths = list_images(args.set_name)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    images = [(p.stem, read_image(p)) for p in paths]
    refs = REFERENCE[args.set_name]
    exit_code = 0
    for s in args.scales:
        if s < 2:
            parser.error(f"scales must be integers >= 2, got {s}")
        print(f"\n{args.set_name} x{s}: bicubic, Y channel, shave {s}")
        print(f"  {'image':<14}{'PSNR (dB)':>10}")
        values = []
        for name, hr in images:
            values.append(bicubic_sr_psnr(hr, s))
            print(f"  {name:<14}{values[-1]:>10.4f}")
        mean = float(np.mean(values))
        line = f"  {'mean':<14}{mean:>10.4f}"
        if s in refs:
            diff = mean - refs[s]
            ok = abs(diff) <= TOLERANCE_DB
            line += f"   reference {refs[s]:.2f}   diff {diff:+.4f}   " \
                    f"{'OK' if ok else 'OFF'} (tolerance {TOLERANCE_DB} dB)"
            if not ok:
                exit_code = 1
        print(line)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
