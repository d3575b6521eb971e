"""Other libraries on the same cases, each used the way its documentation suggests.

==================  =================================================================  =======
name                call                                                               tasks
==================  =================================================================  =======
skimage_tv          ``denoise_tv_chambolle(y, weight=0.8 sigma)`` (the factor chosen    denoise
                    on 8 Train400 images, best over 0.6 ... 1.5 at 15/25/50)
skimage_nlm         ``denoise_nl_means(y, h=0.8 sigma, sigma=sigma, fast_mode=True)``   denoise
                    (patch 7, distance 11: its defaults; ``h`` as in its gallery)
skimage_wavelet     ``denoise_wavelet(y, sigma=sigma, rescale_sigma=True)`` (BayesShrink) denoise
bm3d_pkg            the PyPI ``bm3d`` package: ``bm3d(y, sigma)``, ``bm3d_rgb`` colour  denoise
skimage_rl          ``richardson_lucy(y, k)`` (50 iterations, its default; zero-padded  deblur
                    convolution, so the borders of circularly blurred images suffer)
skimage_wiener      ``unsupervised_wiener(y, k, rng=0)`` (self-tuned Wiener)           deblur
skimage_biharmonic  ``inpaint_biharmonic(y, missing)``                                 inpaint
bicubic             MATLAB bicubic ``imresize(LR, s)`` on uint8, then Y (the baseline)  sr
torch_dncnn         PyTorch DnCNN with the KAIR weights ``kair/dncnn_25.pth``           denoise
                    (sigma 25, gray)
deepinv_drunet      ``deepinv.models.DRUNet(pretrained="download")`` when deepinv and   all
                    its weights are available (plug-and-play in ``restore`` beyond
                    denoising)
==================  =================================================================  =======

Colour images go channel by channel where the peer has no colour mode (Richardson-Lucy,
Wiener). A peer whose package is missing is reported and skipped.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .methods import Method, weights_dir

__all__ = ["KNOWN_PEERS", "TV_WEIGHT_FACTOR", "peer_methods"]

KNOWN_PEERS = ("skimage_tv", "skimage_nlm", "skimage_wavelet", "bm3d_pkg", "skimage_rl",
               "skimage_wiener", "skimage_biharmonic", "bicubic", "torch_dncnn",
               "deepinv_drunet")

#: ``denoise_tv_chambolle`` weight = factor x sigma (chosen on Train400, never on test sets).
TV_WEIGHT_FACTOR = 0.8


def _has(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _channel_axis(y):
    return -1 if y.ndim == 3 else None


def _per_channel(fn, y):
    if y.ndim == 2:
        return fn(y)
    return np.stack([fn(y[..., c]) for c in range(y.shape[-1])], axis=-1)


def _skimage_tv(case):
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(case.y, weight=TV_WEIGHT_FACTOR * case.sigma,
                                channel_axis=_channel_axis(case.y))


def _skimage_nlm(case):
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(case.y, h=0.8 * case.sigma, sigma=case.sigma, fast_mode=True,
                            channel_axis=_channel_axis(case.y))


def _skimage_wavelet(case):
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(case.y, sigma=case.sigma, rescale_sigma=True,
                            channel_axis=_channel_axis(case.y))


def _bm3d(case):
    import bm3d

    if case.y.ndim == 3:
        return bm3d.bm3d_rgb(case.y, case.sigma)
    return bm3d.bm3d(case.y, case.sigma)


def _skimage_rl(case):
    from skimage.restoration import richardson_lucy

    k = case.extra["kernel"]
    return _per_channel(lambda c: richardson_lucy(c, k), case.y)


def _skimage_wiener(case):
    from skimage.restoration import unsupervised_wiener

    k = case.extra["kernel"]
    return _per_channel(lambda c: unsupervised_wiener(c, k, rng=0)[0], case.y)


def _skimage_biharmonic(case):
    from skimage.restoration import inpaint_biharmonic

    missing = ~case.extra["mask"]
    return inpaint_biharmonic(case.y, missing, channel_axis=_channel_axis(case.y))


def _bicubic(case):
    from ..degradations import imresize
    from .tasks import _y_uint8

    s = int(case.task.level)
    return _y_uint8(imresize(case.extra["lr_rgb"], float(s)))


class _TorchConvStack:
    """A plain PyTorch DnCNN built from a state dict: conv (+ReLU) layers, residual output."""

    def __init__(self, path):
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        weights = [(k, v) for k, v in state.items() if k.endswith("weight") and v.ndim == 4]
        layers = []
        for i, (k, w) in enumerate(weights):
            conv = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2,
                                   bias=k[:-len("weight")] + "bias" in state)
            with torch.no_grad():
                conv.weight.copy_(w)
                if conv.bias is not None:
                    conv.bias.copy_(state[k[:-len("weight")] + "bias"])
            layers.append(conv)
            if i < len(weights) - 1:
                layers.append(torch.nn.ReLU(inplace=True))
        self.net = torch.nn.Sequential(*layers).eval()

    def __call__(self, y):
        import torch

        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None, None]
            return (t - self.net(t))[0, 0].numpy().astype(y.dtype)


def _torch_dncnn_method(data_root):
    folder = weights_dir(data_root)
    path = None if folder is None else folder / "kair" / "dncnn_25.pth"
    if path is None or not path.is_file() or not _has("torch"):
        return None
    holder = {}

    def run(case):
        if "net" not in holder:
            holder["net"] = _TorchConvStack(path)
        return holder["net"](case.y)
    return Method("torch_dncnn", "peer", "PyTorch DnCNN, KAIR published weights dncnn_25.pth "
                  "(sigma 25)", run, ("denoise",), gray_only=True, levels=(25,),
                  info={"weights": str(path)})


def _deepinv_method():
    if not _has("deepinv"):
        return None
    nets = {}

    def denoiser(x, sigma):
        """deepinv's DRUNet as a NumPy denoiser ``(x, sigma) -> x`` (gray or colour)."""
        import torch

        c = 1 if x.ndim == 2 else x.shape[-1]
        if c not in nets:
            import deepinv

            nets[c] = deepinv.models.DRUNet(in_channels=c, out_channels=c,
                                            pretrained="download").eval()
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        t = t[None, None] if x.ndim == 2 else t.permute(2, 0, 1)[None]
        with torch.no_grad():
            out = nets[c](t, float(sigma))[0]
        out = out[0] if x.ndim == 2 else out.permute(1, 2, 0)
        return out.numpy().astype(x.dtype)

    def run(case):
        import invrestore as ir

        if case.H is None:
            return denoiser(case.y, case.sigma)
        return ir.restore(case.y, case.H, prior=denoiser, sigma=case.sigma)
    return Method("deepinv_drunet", "peer", "deepinv DRUNet with its published weights "
                  "(downloaded by deepinv); plug-and-play through invrestore.restore otherwise",
                  run, ("denoise", "deblur_levin", "deblur_gauss", "sr", "inpaint",
                        "all_in_one"))


def peer_methods(data_root=None):
    """Peers whose packages (and weights) are installed here."""
    out = []
    if _has("skimage"):
        out += [
            Method("skimage_tv", "peer", f"scikit-image denoise_tv_chambolle, weight = "
                   f"{TV_WEIGHT_FACTOR} sigma", _skimage_tv, ("denoise",)),
            Method("skimage_nlm", "peer", "scikit-image denoise_nl_means (fast mode, "
                   "h = 0.8 sigma)", _skimage_nlm, ("denoise",)),
            Method("skimage_wavelet", "peer", "scikit-image denoise_wavelet (BayesShrink, "
                   "given sigma)", _skimage_wavelet, ("denoise",)),
            Method("skimage_rl", "peer", "scikit-image richardson_lucy, 50 iterations (its "
                   "convolution pads with zeros: border errors weigh on its PSNR)",
                   _skimage_rl, ("deblur_levin", "deblur_gauss")),
            Method("skimage_wiener", "peer", "scikit-image unsupervised_wiener",
                   _skimage_wiener, ("deblur_levin", "deblur_gauss")),
            Method("skimage_biharmonic", "peer", "scikit-image inpaint_biharmonic",
                   _skimage_biharmonic, ("inpaint",)),
        ]
    if _has("bm3d"):
        out.append(Method("bm3d_pkg", "peer", "PyPI bm3d package (bm3d / bm3d_rgb), default "
                          "profile", _bm3d, ("denoise",)))
    out.append(Method("bicubic", "baseline", "MATLAB-style bicubic imresize (invrestore."
                      "degradations.imresize)", _bicubic, ("sr",)))
    for extra in (_torch_dncnn_method(data_root), _deepinv_method()):
        if extra is not None:
            out.append(extra)
    return out
