"""Convolution (blur) with four boundary models, per channel, FFT-based."""

from __future__ import annotations

import numpy as np

from ..backend import check_finite, device_of, get_xp, get_xsp, to_device
from .base import LinearOperator, as_image_shape

__all__ = ["Blur", "BOUNDARIES"]

#: Accepted boundary names and their aliases.
BOUNDARIES = {
    "circular": "circular", "periodic": "circular", "wrap": "circular",
    "reflect": "reflect", "symmetric": "reflect",
    "zero": "zero", "constant": "zero",
    "valid": "valid",
}


def _check_kernel(kernel, shape):
    if not hasattr(kernel, "ndim"):
        kernel = np.asarray(kernel)
    if kernel.dtype.kind not in "biuf":
        raise TypeError(f"kernel must hold real numbers, got dtype {kernel.dtype}")
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be a 2-D array, got shape {tuple(kernel.shape)}")
    if kernel.size == 0:
        raise ValueError("kernel is empty")
    kernel = check_finite(kernel.astype(np.float64), "kernel")
    if abs(float(kernel.sum())) < 1e-12:
        raise ValueError("kernel sums to zero; a blur kernel must have a non-zero sum "
                         "(usually 1)")
    kh, kw = kernel.shape
    if kh > shape[0] or kw > shape[1]:
        raise ValueError(f"kernel of shape {(kh, kw)} is larger than the image shape "
                         f"{shape[:2]}")
    return kernel


class Blur(LinearOperator):
    """Convolution with ``kernel`` on images of ``shape``, channel by channel.

    Parameters
    ----------
    kernel : array_like, 2-D
        Point-spread function, NumPy or CuPy (it decides where the operator lives). Not
        normalised here: a kernel that should preserve brightness must sum to 1.
    shape : tuple
        Input image shape, (H, W) or (H, W, C).
    boundary : {"circular", "reflect", "zero", "valid"}
        How the image is extended beyond its border:

        - ``"circular"`` (alias "periodic"): periodic; exact FFT solve.
        - ``"reflect"`` (alias "symmetric"): half-sample mirror ``x[-1] = x[0]`` as MATLAB's
          ``"symmetric"``; exact DCT solve when the kernel is symmetric in each axis with odd
          sizes (Gaussian, disk, box), conjugate gradient otherwise.
        - ``"zero"``: zeros outside the image; conjugate gradient.
        - ``"valid"``: no extension; the output is only the ``(H-kh+1, W-kw+1)`` pixels that
          see no border (the physically honest model of a photograph); conjugate gradient.

    Notes
    -----
    Convolution (not correlation), with the kernel centred at index ``(kh // 2, kw // 2)``:

    .. math:: (H x)[i, j] = \\sum_{a, b} k[a, b]\\, \\bar x[i - a + kh//2,\\; j - b + kw//2],

    where :math:`\\bar x` is ``x`` extended by the boundary rule (for ``"valid"`` the output
    index is shifted so that only true pixels are read). This is MATLAB's ``imfilter(x, k,
    "conv")`` / ``psf2otf`` convention. ``"circular"`` is applied with an FFT of the image size;
    the padded modes with a circular convolution large enough that no wrap-around reaches the
    kept outputs, so forward and adjoint are exact transposes of each other.

    Examples
    --------
    >>> import numpy as np
    >>> from invrestore.operators import Blur
    >>> H = Blur(np.ones((3, 3)) / 9, (32, 32), boundary="reflect")
    >>> y = H @ np.ones((32, 32))
    >>> bool(np.allclose(y, 1.0)), H.exact_solve
    (True, True)
    """

    def __init__(self, kernel, shape, *, boundary="circular"):
        shape = as_image_shape(shape)
        if not isinstance(boundary, str) or boundary.lower() not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {sorted(set(BOUNDARIES.values()))}, "
                             f"got {boundary!r}")
        boundary = BOUNDARIES[boundary.lower()]
        kernel = _check_kernel(kernel, shape)
        kh, kw = kernel.shape
        if boundary == "valid":
            out_shape = (shape[0] - kh + 1, shape[1] - kw + 1) + shape[2:]
        else:
            out_shape = shape
        super().__init__(shape, out_shape, np.float64)
        self.kernel = kernel
        self.boundary = boundary
        self.device = device_of(kernel)
        xp, xsp = get_xp(kernel), get_xsp(kernel)
        self._fft = xsp.fft
        colour = len(shape) == 3
        self._expand = (lambda a: a[:, :, None]) if colour else (lambda a: a)
        H, W = shape[:2]
        if boundary == "circular":
            spec = xsp.fft.rfft2(self._centred(H, W))
            self._size = (H, W)
        else:
            # Extension widths that make a "valid" convolution return (H, W) outputs.
            c0, c1 = kh // 2, kw // 2
            self._pad = ((kh - 1 - c0, c0), (kw - 1 - c1, c1)) if boundary != "valid" \
                else ((0, 0), (0, 0))
            n0 = H + sum(self._pad[0])
            n1 = W + sum(self._pad[1])
            self._n = (n0, n1)
            self._size = (xsp.fft.next_fast_len(n0, True), xsp.fft.next_fast_len(n1, True))
            spec = xsp.fft.rfft2(kernel, s=self._size)
        self._spec = {np.dtype(np.float64): self._expand(spec),
                      np.dtype(np.float32): self._expand(spec.astype(np.complex64))}
        # conjugates kept too: the adjoint runs as often as the forward in every solver
        self._spec_conj = {k: v.conj() for k, v in self._spec.items()}
        self.exact_solve = self.exact_solve_adjoint = (
            boundary == "circular" or (boundary == "reflect" and self._is_symmetric()))
        if boundary == "reflect" and self.exact_solve:
            self._dct_eig = self._reflect_eigenvalues(xp)

    # -- construction helpers ---------------------------------------------------------------
    def _centred(self, H, W):
        """Kernel zero-padded to (H, W) with its centre moved to index (0, 0) (psf2otf)."""
        xp = get_xp(self.kernel)
        kh, kw = self.kernel.shape
        big = xp.zeros((H, W), dtype=np.float64)
        big[:kh, :kw] = self.kernel
        return xp.roll(big, (-(kh // 2), -(kw // 2)), axis=(0, 1))

    def _is_symmetric(self):
        k = self.kernel
        kh, kw = k.shape
        xp = get_xp(k)
        tol = 1e-12 * float(xp.abs(k).max())
        return (kh % 2 == 1 and kw % 2 == 1
                and float(xp.abs(k - k[::-1, :]).max()) <= tol
                and float(xp.abs(k - k[:, ::-1]).max()) <= tol)

    def _reflect_eigenvalues(self, xp):
        # A symmetric kernel under half-sample symmetric extension is diagonalised by the
        # DCT-II: A = C^T diag(lam) C, so lam = C(A e0) / C(e0) (Hansen, Nagy & O'Leary 2006).
        H, W = self.in_shape[:2]
        e0 = xp.zeros((H, W), dtype=np.float64)
        e0[0, 0] = 1.0
        dct = self._fft.dctn
        lam = dct(self._forward_padded(e0), type=2, norm="ortho") / dct(e0, type=2, norm="ortho")
        return {np.dtype(np.float64): self._expand(lam),
                np.dtype(np.float32): self._expand(lam.astype(np.float32))}

    # -- application --------------------------------------------------------------------------
    def _spec_for(self, x, conj=False):
        spec = (self._spec_conj if conj else self._spec)[np.dtype(x.dtype)]
        if spec.ndim != x.ndim:  # a single (H, W) plane, used internally
            spec = spec[:, :, 0]
        return spec

    def _forward(self, x):
        if self.boundary == "circular":
            f = self._fft
            return f.irfft2(f.rfft2(x, axes=(0, 1)) * self._spec_for(x), s=self._size,
                            axes=(0, 1))
        return self._forward_padded(x)

    def _forward_padded(self, x):
        xp, f = get_xp(x), self._fft
        pad = self._pad + ((0, 0),) * (x.ndim - 2)
        if self.boundary == "reflect":
            x = xp.pad(x, pad, mode="symmetric")
        elif self.boundary == "zero":
            x = xp.pad(x, pad, mode="constant")
        kh, kw = self.kernel.shape
        n0, n1 = self._n
        full = f.irfft2(f.rfft2(x, s=self._size, axes=(0, 1)) * self._spec_for(x),
                        s=self._size, axes=(0, 1))
        return xp.ascontiguousarray(full[kh - 1:n0, kw - 1:n1])

    def _adjoint(self, y):
        f = self._fft
        if self.boundary == "circular":
            return f.irfft2(f.rfft2(y, axes=(0, 1)) * self._spec_for(y, conj=True), s=self._size,
                            axes=(0, 1))
        xp = get_xp(y)
        kh, kw = self.kernel.shape
        n0, n1 = self._n
        z = xp.zeros(self._size + y.shape[2:], dtype=y.dtype)
        z[kh - 1:n0, kw - 1:n1] = y
        z = f.irfft2(f.rfft2(z, axes=(0, 1)) * self._spec_for(y, conj=True), s=self._size,
                     axes=(0, 1))[:n0, :n1]
        (t0, b0), (t1, b1) = self._pad
        H, W = self.in_shape[:2]
        if self.boundary == "zero":
            return xp.ascontiguousarray(z[t0:t0 + H, t1:t1 + W])
        if self.boundary == "valid":
            return xp.ascontiguousarray(z)
        # Adjoint of the half-sample symmetric extension: fold the margins back (one
        # reflection suffices because the kernel is no larger than the image).
        out = z[t0:t0 + H].copy()
        if t0:
            out[:t0] += z[:t0][::-1]
        if b0:
            out[H - b0:] += z[t0 + H:][::-1]
        res = out[:, t1:t1 + W].copy()
        if t1:
            res[:, :t1] += out[:, :t1][:, ::-1]
        if b1:
            res[:, W - b1:] += out[:, t1 + W:][:, ::-1]
        return res

    # -- exact normal equations -------------------------------------------------------------
    def _solve_normal_exact(self, b, rho):
        f = self._fft
        if self.boundary == "circular":
            spec = self._spec_for(b)
            denom = (spec.real * spec.real + spec.imag * spec.imag) + rho
            return f.irfft2(f.rfft2(b, axes=(0, 1)) / denom, s=self._size, axes=(0, 1))
        lam = self._dct_eig[np.dtype(b.dtype)]
        bh = f.dctn(b, type=2, norm="ortho", axes=(0, 1))
        return f.idctn(bh / (lam * lam + rho), type=2, norm="ortho", axes=(0, 1))

    _solve_normal_adjoint_exact = _solve_normal_exact  # A A^T = A^T A for these two cases

    def transfer_function(self):
        """Full 2-D DFT of the centred kernel at the image size (circular boundary only)."""
        if self.boundary != "circular":
            raise ValueError("transfer_function is defined for boundary='circular' only")
        return self._fft.fft2(self._centred(*self.in_shape[:2]))

    def to(self, device):
        return Blur(to_device(self.kernel, device), self.in_shape, boundary=self.boundary)

    def _repr_args(self):
        return (f"kernel shape {self.kernel.shape}, shape={self.in_shape}, "
                f"boundary={self.boundary!r}")
