"""Any PyTorch module as an invrestore :class:`~invrestore.denoisers.Denoiser`.

``TorchDenoiser(module)`` calls ``module`` on ``(1, C, H, W)`` tensors in inference mode and
converts back. NumPy images are shared with PyTorch on the CPU (``torch.from_numpy``, no copy);
CuPy images are shared with a CUDA module through DLPack (no copy, either way). The image only
changes device when the module's device says so (a NumPy image with a CUDA module is copied to
the GPU and back; a CuPy image with a CPU module raises rather than copying silently).

How sigma reaches the module (``sigma_input``):

* ``"map"``: a constant channel equal to ``sigma`` is appended as the last input channel
  (FFDNet, FDnCNN, DRUNet style): ``module(cat([x, sigma]))``;
* ``"scalar"``: ``module(x, s)`` with ``s`` a ``(1, 1, 1, 1)`` tensor holding sigma;
* None: ``module(x)`` (blind or single-level models).

PyTorch is optional for invrestore: it is imported when a TorchDenoiser is created.

Examples
--------
>>> import numpy as np
>>> torch = __import__("pytest").importorskip("torch")
>>> from invrestore.nn import TorchDenoiser
>>> den = TorchDenoiser(torch.nn.Identity(), sigma_input=None)
>>> den(np.full((4, 4), 0.5), 0.1).tolist()[0]
[0.5, 0.5, 0.5, 0.5]
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import get_xp
from ..denoisers.base import Denoiser

__all__ = ["TorchDenoiser"]


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("TorchDenoiser needs PyTorch (pip install 'invrestore[torch]')") \
            from None
    return torch


class TorchDenoiser(Denoiser):
    """Wrap a PyTorch module ``(x, sigma) -> x`` or ``x -> x`` as a denoiser.

    Parameters
    ----------
    module : torch.nn.Module or callable
        Takes and returns ``(N, C, H, W)`` tensors. Put in eval mode.
    device : str or torch.device, optional
        Where to run; the module is moved there. Default: the device of its parameters (CPU
        for a module without parameters).
    sigma_input : {"map", "scalar", None}
        How the noise level is passed (see the module docstring).
    channels : int, optional
        Image channels the module expects (checked on each call); None accepts any.
    sigma_range : (float, float)
        Noise levels the module was trained for ([0, 1] scale).
    strict_sigma : bool
        Raise for ``sigma`` outside ``sigma_range``.
    """

    def __init__(self, module, *, device=None, sigma_input="map", channels=None,
                 sigma_range=(0.0, math.inf), strict_sigma=False):
        torch = _torch()
        if sigma_input not in ("map", "scalar", None):
            raise ValueError(f"sigma_input must be 'map', 'scalar' or None, got {sigma_input!r}")
        if not callable(module):
            raise TypeError(f"module must be a torch.nn.Module or callable, got "
                            f"{type(module).__name__}")
        params = list(module.parameters()) if isinstance(module, torch.nn.Module) else []
        if device is None:
            device = params[0].device if params else torch.device("cpu")
        self.device = torch.device(device)
        if isinstance(module, torch.nn.Module):
            module = module.to(self.device).eval()
        self.dtype = params[0].dtype if params and params[0].is_floating_point() else \
            torch.float32
        self.module = module
        self.sigma_input = sigma_input
        self.channels = None if channels is None else int(channels)
        self.sigma_range = tuple(float(v) for v in sigma_range)
        self.strict_sigma = bool(strict_sigma)

    def _to_tensor(self, x):
        torch = _torch()
        if get_xp(x) is np:
            t = torch.from_numpy(np.ascontiguousarray(x))
            return t.to(self.device) if self.device.type != "cpu" else t
        if self.device.type != "cuda":
            raise ValueError(f"{self!r} runs on {self.device} but the image is a CuPy array; "
                             "create it with device='cuda' or pass a NumPy image")
        t = torch.from_dlpack(x)  # shares the GPU memory
        # "cuda" (no index) means the current device, which is where CuPy's array lives
        want = self.device.index if self.device.index is not None else torch.cuda.current_device()
        if t.device.index != want:
            raise ValueError(f"image is on {t.device}, the module on {self.device}; move the "
                             f"image (cupy.cuda.Device({want}).use()) or the module")
        return t

    def _denoise(self, x, sigma):
        torch = _torch()
        xp = get_xp(x)
        squeeze = x.ndim == 2
        x3 = x[:, :, None] if squeeze else x
        h, w, c = x3.shape
        t = self._to_tensor(x3).permute(2, 0, 1)[None].to(self.dtype)
        with torch.inference_mode():
            if self.sigma_input == "map":
                m = torch.full((1, 1, h, w), float(sigma), dtype=self.dtype, device=t.device)
                out = self.module(torch.cat([t, m], dim=1))
            elif self.sigma_input == "scalar":
                s = torch.full((1, 1, 1, 1), float(sigma), dtype=self.dtype, device=t.device)
                out = self.module(t, s)
            else:
                out = self.module(t)
        if not torch.is_tensor(out) or tuple(out.shape) != (1, c, h, w):
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise ValueError(f"{self!r}: module returned {shape} for an input of "
                             f"{(1, c, h, w)}")
        out = out[0].permute(1, 2, 0).contiguous()
        if xp is np:
            y = out.cpu().numpy()
        else:
            y = xp.from_dlpack(out)  # shares the GPU memory
        y = y.astype(x.dtype, copy=False)
        return y[:, :, 0] if squeeze else y

    def __repr__(self):
        name = type(self.module).__name__
        return f"TorchDenoiser({name}, device={self.device}, sigma_input={self.sigma_input!r})"
