"""Benchmark tasks: which images, how they are degraded, how the result is scored.

Every task is one degradation at one level on one image set. The protocols follow the data
README (``<data>/README.md``), which is what the published numbers used:

==============  ===========================================================================
family          protocol
==============  ===========================================================================
denoise         x = uint8 / 255 (float64); y = x + N(0, (s/255)^2), seed = image index, not
                clipped; Set12, BSD68 gray, CBSD68 colour; s = 15, 25, 50.
deblur_levin    the 4 sharp Levin images x the 8 kernels of ``kernels/Levin09.mat``; circular
                blur, noise 2.55/255 or 7.65/255, seed 0 (DPIR protocol).
deblur_gauss    Gaussian kernel std 1.6, 25 x 25, circular, noise 2.55/255 (seed = index);
                Set5 and CBSD68 in colour.
sr              MATLAB bicubic ``imresize`` (antialiased, uint8) of the modcropped HR image by
                1/s, s = 2, 3, 4, on Set5 and Set14. Methods restore the Y channel of the LR
                image (MATLAB ``rgb2ycbcr``, rounded) through :class:`BicubicDownsample`
                with ``sigma = 0``; the bicubic baseline upsamples the RGB LR image as
                MATLAB does. Score: Y channel, output rounded to 8 bits, ``s`` pixels shaved.
inpaint         Set12 with 50, 80 or 90 % of the pixels missing at random (seed = index), no
                noise (``sigma = 0``).
all_in_one      Set12: Gaussian blur 1.6 (25 x 25, circular), x2 decimation, 20 % of the
                low-resolution pixels missing, noise 2.55/255 (seed = index), all at once.
==============  ===========================================================================

Unless stated, PSNR and SSIM (:mod:`invrestore.metrics`) are computed on the output clipped
to [0, 1], data range 1, no border shave.

Examples
--------
>>> from invrestore.bench.tasks import all_tasks
>>> [t.id for t in all_tasks()][:3]
['denoise:Set12:15', 'denoise:Set12:25', 'denoise:Set12:50']
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..datasets import IMAGE_SETS, read_image
from ..metrics import psnr, rgb2y, ssim

__all__ = [
    "FAMILIES",
    "QUICK",
    "Case",
    "Task",
    "all_tasks",
    "list_set",
    "load_case",
    "select_tasks",
]

FAMILIES = ("denoise", "deblur_levin", "deblur_gauss", "sr", "inpaint", "all_in_one")

_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"}

#: ``--quick``: images per task, centre crop (pixels; SR crops the HR image) and the tasks.
QUICK = {
    "images": 2,
    "crop": 96,
    "tasks": ("denoise:Set12:25", "denoise:BSD68:50", "denoise:CBSD68:25",
              "deblur_levin:Levin09:2.55", "deblur_gauss:Set5:2.55", "sr:Set5:2", "sr:Set5:4",
              "inpaint:Set12:80", "all_in_one:Set12:2.55"),
}

#: Images kept out of the example figures (the data README asks so).
NOT_IN_FIGURES = {("Set12", "08.png"), ("Set14", "lenna.bmp")}


@dataclass(frozen=True)
class Task:
    """One degradation at one level on one image set; ``id`` is ``family:dataset:level``."""

    family: str
    dataset: str
    level: float
    label: str
    color: bool = False

    @property
    def id(self):
        return f"{self.family}:{self.dataset}:{self.level:g}"

    @property
    def protocol(self):
        return PROTOCOLS[self.family]

    def as_dict(self):
        return {"family": self.family, "dataset": self.dataset, "level": self.level,
                "label": self.label, "protocol": self.protocol, "color": self.color}


@dataclass
class Case:
    """A degraded image: ``y = H x + n`` with what the methods and the scorer need."""

    task: Task
    index: int
    name: str
    x: np.ndarray          # ground truth as scored (the Y channel for super-resolution)
    y: np.ndarray          # observation handed to the methods
    H: object              # LinearOperator, or None for denoising
    sigma: float           # noise std given to the methods ([0, 1] scale)
    extra: dict = field(default_factory=dict)

    def score(self, x_hat):
        """``(psnr, ssim)`` of a restored image."""
        if self.task.family == "sr":
            s = int(self.task.level)
            q = np.floor(np.clip(np.asarray(x_hat, dtype=np.float64), 0, 1) * 255 + 0.5) / 255
            return psnr(q, self.x, shave=s), ssim(q, self.x, shave=s)
        out = np.clip(np.asarray(x_hat, dtype=np.float64), 0.0, 1.0)
        return psnr(out, self.x), ssim(out, self.x)

    def shown(self):
        """The observation on the image grid, for figures."""
        from ..degradations import imresize

        y = self.y
        if y.shape[:2] != self.x.shape[:2]:
            y = imresize(np.asarray(y, dtype=np.float64), output_shape=self.x.shape[:2])
        return np.clip(y, 0.0, 1.0)


#: Protocol of each family, as printed in the report.
PROTOCOLS = {
    "denoise": "x = uint8/255 (float64); y = x + N(0, (s/255)^2), seed = image index, not "
               "clipped; PSNR/SSIM of the output clipped to [0, 1], data range 1, no shave",
    "deblur_levin": "the 4 sharp Levin images, each blurred circularly by the 8 kernels of "
                    "kernels/Levin09.mat (DPIR protocol); noise n/255, seed 0; methods get the "
                    "true kernel and noise level; clipped output, no shave",
    "deblur_gauss": "Gaussian kernel std 1.6, 25x25, circular blur of the colour images; "
                    "noise n/255, seed = image index; clipped output, no shave",
    "sr": "HR modcropped to a multiple of s; LR = MATLAB bicubic imresize(HR uint8, 1/s); "
          "methods restore the Y channel of LR (rounded as MATLAB) through the exact bicubic "
          "operator with sigma 0; the bicubic row upsamples the RGB LR image; PSNR/SSIM on "
          "Y, output rounded to 8 bits, s pixels shaved",
    "inpaint": "a fraction of the pixels missing at random (seed = image index), no noise, "
               "sigma 0; clipped output, no shave",
    "all_in_one": "Gaussian blur 1.6 (25x25, circular), x2 decimation, 20% of the "
                  "low-resolution pixels missing, noise 2.55/255 (mask and noise seeded by the "
                  "image index); clipped output, no shave",
}


def all_tasks():
    """Every task of the suite, in run order."""
    tasks = []
    for ds, color in (("Set12", False), ("BSD68", False), ("CBSD68", True)):
        for s in (15, 25, 50):
            tasks.append(Task("denoise", ds, s, f"{ds}, sigma {s}/255", color))
    for n in (2.55, 7.65):
        tasks.append(Task("deblur_levin", "Levin09", n, f"Levin09 (4 images x 8 kernels), "
                          f"noise {n}/255"))
    for ds in ("Set5", "CBSD68"):
        tasks.append(Task("deblur_gauss", ds, 2.55, f"{ds}, Gaussian 1.6, noise 2.55/255",
                          True))
    for ds in ("Set5", "Set14"):
        for s in (2, 3, 4):
            tasks.append(Task("sr", ds, s, f"{ds} x{s}"))
    for m in (50, 80, 90):
        tasks.append(Task("inpaint", "Set12", m, f"Set12, {m}% missing"))
    tasks.append(Task("all_in_one", "Set12", 2.55, "Set12, blur + x2 + 20% missing + noise "
                      "2.55/255"))
    return tasks


def _matches(task, pattern):
    p = pattern.strip().lower()
    tid = task.id.lower()
    return (fnmatch.fnmatchcase(tid, p) or tid.startswith(p + ":")
            or task.family.startswith(p) or task.dataset.lower() == p
            or fnmatch.fnmatchcase(tid, p + ":*"))


def select_tasks(patterns=None, *, quick=False):
    """Tasks matching any of ``patterns`` (ids with ``fnmatch`` wildcards, a family or a
    family prefix such as ``deblur``, ``family:dataset``, or a dataset name).

    Raises
    ------
    ValueError
        A pattern that matches no task.
    """
    tasks = all_tasks()
    if not patterns:
        if quick:
            return [t for t in tasks if t.id in QUICK["tasks"]]
        return tasks
    chosen = []
    for p in patterns:
        hit = [t for t in tasks if _matches(t, p)]
        if not hit:
            raise ValueError(f"--tasks {p!r} matches no task; known ids: "
                             f"{', '.join(t.id for t in tasks)}")
        chosen += [t for t in hit if t not in chosen]
    return [t for t in tasks if t in chosen]


def list_set(root, dataset):
    """Sorted image paths of ``dataset`` under ``root``; raises FileNotFoundError if absent."""
    folder = Path(root) / IMAGE_SETS.get(dataset, dataset)
    if not folder.is_dir():
        raise FileNotFoundError(f"{dataset}: no folder {folder}")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"{dataset}: no image files in {folder}")
    return paths


def _crop(img, size):
    if size is None:
        return img
    h, w = img.shape[:2]
    ch, cw = min(size, h), min(size, w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return img[top:top + ch, left:left + cw]


def _as_float(img, gray):
    from ..backend import as_float_image
    from ..datasets import _RGB2GRAY

    x = as_float_image(img, dtype=np.float64)
    if gray and x.ndim == 3:
        x = x[..., :3] @ _RGB2GRAY
    return x


def _y_uint8(img):
    """Y of MATLAB ``rgb2ycbcr`` on a uint8 image, rounded as MATLAB does, on [0, 1]."""
    if img.ndim == 2:
        return img.astype(np.float64) / 255.0
    return np.floor(rgb2y(img) * 255.0 + 0.5) / 255.0


def kernels_for(task, root):
    """The blur kernels of a deblurring task (Levin: from the data folder)."""
    from ..degradations import gaussian_kernel, load_levin_kernels

    if task.family == "deblur_levin":
        return load_levin_kernels(Path(root) / "kernels" / "Levin09.mat")
    return [gaussian_kernel(1.6, size=25)]


def load_case(task, root, index, path, *, crop=None, kernels=None, seed=0):
    """Read one image and degrade it: a list of :class:`Case` (Levin: one per kernel).

    ``seed`` is added to every seed of the protocol (another noise/mask realisation).

    Raises
    ------
    ValueError, OSError
        The image cannot be read (the runner reports and skips it).
    """
    from ..degradations import add_gaussian_noise, imresize, modcrop, random_mask
    from ..operators import Blur, Downsample, Mask

    raw = read_image(path)
    if not np.issubdtype(raw.dtype, np.integer) and not np.issubdtype(raw.dtype, np.floating):
        raise ValueError(f"{path}: unsupported pixel type {raw.dtype}")
    raw = _crop(raw, crop)
    name, fam, lvl = path.name, task.family, task.level
    if fam == "sr":
        if raw.dtype != np.uint8:
            raise ValueError(f"{path}: super-resolution needs an 8-bit image, got {raw.dtype}")
        s = int(lvl)
        hr = modcrop(raw, s)
        lr = imresize(hr, 1.0 / s)
        from .sr_operator import BicubicDownsample

        return [Case(task, index, name, _y_uint8(hr), _y_uint8(lr),
                     BicubicDownsample(hr.shape[:2], s), 0.0, {"lr_rgb": lr})]
    x = _as_float(raw, gray=not task.color)
    if fam == "denoise":
        return [Case(task, index, name, x, add_gaussian_noise(x, lvl / 255, rng=index + seed),
                     None,
                     lvl / 255)]
    if fam == "inpaint":
        m = random_mask(x.shape[:2], lvl / 100, rng=index + seed)
        H = Mask(m, x.shape)
        return [Case(task, index, name, x, H @ x, H, 0.0, {"mask": m})]
    if fam in ("deblur_levin", "deblur_gauss"):
        ks = kernels if kernels is not None else kernels_for(task, path.parent.parent.parent)
        cases = []
        for j, k in enumerate(ks):
            H = Blur(k, x.shape, boundary="circular")
            noise_seed = (0 if fam == "deblur_levin" else index) + seed
            label = f"{Path(name).stem}_k{j + 1}" if fam == "deblur_levin" else name
            cases.append(Case(task, index, label, x, add_gaussian_noise(H @ x, lvl / 255,
                                                                        rng=noise_seed),
                              H, lvl / 255, {"kernel": k}))
        return cases
    if fam == "all_in_one":
        from ..degradations import gaussian_kernel

        x = x[: x.shape[0] // 2 * 2, : x.shape[1] // 2 * 2]
        blur = Blur(gaussian_kernel(1.6, size=25), x.shape, boundary="circular")
        down = Downsample(2, x.shape)
        rng = np.random.default_rng(index + seed)
        H = Mask(random_mask(down.out_shape, 0.2, rng=rng), down.out_shape) @ down @ blur
        return [Case(task, index, name, x, add_gaussian_noise(H @ x, lvl / 255, rng=rng), H,
                     lvl / 255)]
    raise ValueError(f"unknown task family {fam!r}")
