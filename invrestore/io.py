"""Reading and writing images as float arrays in [0, 1], keeping their bit depth.

=====================  ===========================  ==========================================
suffix                 read                         written as
=====================  ===========================  ==========================================
``.png``               8- and 16-bit, any colour    8 or 16 bits per sample
``.tif``, ``.tiff``    8-, 16-bit, float            8 or 16 bits per sample, or float32
``.bmp``, ``.jpg``,    8-bit                        8 bits per sample (JPEG: quality 95, lossy)
``.jpeg``
``.npy``               any real array               the float array as it is (no clipping)
=====================  ===========================  ==========================================

:func:`imread` returns an :class:`ImageArray`, a NumPy array that remembers the bit depth of
its file (``x.bit_depth``: 8, 16, 32 for float TIFF, None for NPY), and arrays derived from it
by arithmetic, slicing or clipping keep it: ``imwrite(path, x)`` writes the same depth back.
Integer files map to [0, 1] as ``skimage.img_as_float`` (``I / 255``, ``I / 65535``); float
files (TIFF, NPY) are kept as stored. An alpha channel of PNG/BMP files is dropped.

:func:`imwrite` never leaves a partial file: the image is encoded in memory, written to a
temporary file in the target's folder and moved into place with one atomic rename. It refuses
to replace an existing file unless ``force=True``.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from invrestore.io import imread, imwrite
>>> path = os.path.join(tempfile.mkdtemp(), "ramp.png")
>>> imwrite(path, np.tile(np.linspace(0, 1, 16), (8, 1)), bit_depth=16)
>>> x = imread(path)
>>> x.shape, x.dtype, x.bit_depth
((8, 16), dtype('float32'), 16)
"""

from __future__ import annotations

import io as _io
import os
import secrets
from pathlib import Path

import numpy as np

from .backend import as_float_image, to_numpy

__all__ = ["imread", "imwrite", "write_bytes", "ImageArray", "SUFFIXES"]

# suffix -> bit depths it can store (32: float32 samples); the first is the default
_DEPTHS = {".png": (8, 16), ".tif": (32, 8, 16), ".tiff": (32, 8, 16), ".bmp": (8,),
           ".jpg": (8,), ".jpeg": (8,), ".npy": (None,)}
#: File suffixes :func:`imread` and :func:`imwrite` understand.
SUFFIXES = tuple(_DEPTHS)


class ImageArray(np.ndarray):
    """A float image that remembers the bit depth of the file it was read from.

    ``bit_depth`` is 8 or 16 (integer samples), 32 (float TIFF) or None (unknown, NPY). It
    follows the array through arithmetic, slicing and copies; reductions return plain scalars.
    """

    bit_depth = None

    def __array_finalize__(self, obj):
        self.bit_depth = getattr(obj, "bit_depth", None)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # A mean or maximum of an image is a number, not an image.
        if arr.ndim == 0:
            return arr[()]
        return super().__array_wrap__(arr, context)

    def __reduce__(self):
        fn, args, state = super().__reduce__()
        return fn, args, (state, self.bit_depth)

    def __setstate__(self, state):
        base, self.bit_depth = state
        super().__setstate__(base)


def _suffix(path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in _DEPTHS:
        raise ValueError(f"unsupported image file suffix {suffix or '(none)'!r} in {path}; "
                         f"use one of {', '.join(SUFFIXES)}")
    return suffix


def _depth_of(a) -> int | None:
    return {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(bool): 8}.get(a.dtype)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_bit_depth(data: bytes):
    """Bit depth from a PNG's IHDR chunk (fixed offset 24), or None for other files."""
    if data[:8] != _PNG_SIGNATURE or len(data) < 26 or data[12:16] != b"IHDR":
        return None
    return data[24]


def _read_png16(data: bytes):
    import png  # noqa: PLC0415 (pypng)

    try:
        width, height, rows, info = png.Reader(bytes=data).asDirect()
        flat = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    except png.Error as exc:
        raise ValueError(f"not a valid PNG image ({exc})") from exc
    planes = info["planes"]
    img = flat.reshape(height, width, planes)
    return img[..., 0] if planes == 1 else img


def _read_imageio(path, data: bytes):
    if _png_bit_depth(data) == 16:
        # Pillow (imageio's PNG reader) reads 16-bit colour PNGs as 8 bits; pypng keeps all 16
        img = _read_png16(data)
    else:
        import imageio.v3 as iio  # noqa: PLC0415 (slow import; only when reading)

        suffix = Path(path).suffix.lower()
        try:
            # pillow (an imageio requirement) reads all three; naming it stops imageio from
            # trying every other plugin on a damaged file
            img = np.asarray(iio.imread(data, extension=suffix, plugin="pillow"))
        except Exception as exc:  # imageio's own message names no file and no format
            raise ValueError(f"not a valid {suffix[1:].upper()} image ({exc})") from exc
    if img.ndim == 3 and img.shape[-1] in (2, 4):
        img = img[..., :-1]  # alpha: not part of the image to restore
    return img


def _read_tiff(data: bytes):
    import tifffile  # noqa: PLC0415

    with tifffile.TiffFile(_io.BytesIO(data)) as tif:
        series = tif.series[0]
        img = series.asarray()
        axes = series.axes
    if img.ndim == 3 and axes.startswith("S"):
        img = np.moveaxis(img, 0, -1)  # planar (channels first) storage
    return img


def imread(path, *, dtype=None):
    """Read an image file as a float image.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.png``, ``.bmp``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff`` or ``.npy`` file.
    dtype : {None, numpy.float32, numpy.float64}
        Output dtype. Default: float32 for integer files, the stored dtype for float files.

    Returns
    -------
    ImageArray
        (H, W) or (H, W, C) with ``bit_depth`` set (see the module docstring). Integer samples
        are scaled to [0, 1] (``I / (2**bits - 1)``); float samples are kept as stored.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist or is not a file.
    ValueError
        Unsupported suffix, or a file that cannot be decoded as a 2-D image (the message names
        the path).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from invrestore.io import imread
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.full((4, 5), 0.25))
    >>> x = imread(path)
    >>> x.shape, x.dtype, float(x[0, 0]), x.bit_depth
    ((4, 5), dtype('float64'), 0.25, None)
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    try:
        if suffix == ".npy":
            img = np.load(path, allow_pickle=False)
        else:
            data = path.read_bytes()
            img = _read_tiff(data) if suffix in (".tif", ".tiff") else _read_imageio(path, data)
        img = np.asarray(img)
    except PermissionError:
        raise
    except Exception as exc:  # the decoders raise many types for damaged files
        raise ValueError(f"cannot read image file {path}: {exc}") from exc
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or img.size == 0:
        raise ValueError(f"{path} does not hold a 2-D gray or colour image (shape {img.shape})")
    if img.dtype.kind not in "biuf":
        raise ValueError(f"{path} holds {img.dtype} samples, not real numbers")
    if suffix == ".npy":
        depth = None
    else:
        depth = 32 if img.dtype.kind == "f" else _depth_of(img)
    x = as_float_image(img, dtype, name=str(path))
    x = np.ascontiguousarray(x).view(ImageArray)
    x.bit_depth = depth
    return x


def _resolve_depth(suffix, bit_depth, hint):
    allowed = _DEPTHS[suffix]
    if bit_depth is not None:
        if bit_depth not in allowed:
            raise ValueError(f"bit_depth={bit_depth!r} cannot be written as {suffix}; "
                             f"choose one of {[d for d in allowed if d is not None] or 'None'}")
        return bit_depth
    if hint in allowed:
        return hint
    if hint == 32 and 16 in allowed:
        return 16  # a float image kept as precisely as an integer format allows
    return allowed[0]


def _encode(x, suffix, depth) -> bytes:
    buf = _io.BytesIO()
    if suffix == ".npy":
        np.save(buf, x, allow_pickle=False)
        return buf.getvalue()
    if depth == 32:
        samples = x.astype(np.float32)
    else:
        top = 2 ** depth - 1
        # clipping first: an out-of-range value must saturate, not wrap around
        samples = np.rint(np.clip(x, 0.0, 1.0) * top).astype(np.uint8 if depth == 8 else np.uint16)
    if suffix in (".tif", ".tiff"):
        import tifffile  # noqa: PLC0415

        rgb = samples.ndim == 3 and samples.shape[-1] in (3, 4)
        tifffile.imwrite(buf, samples, photometric="rgb" if rgb else "minisblack")
        return buf.getvalue()
    if samples.ndim == 3 and samples.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{suffix} files hold gray, RGB or RGBA images; got "
                         f"{samples.shape[-1]} channels (write .tif or .npy instead)")
    if suffix in (".jpg", ".jpeg") and samples.ndim == 3 and samples.shape[-1] == 4:
        raise ValueError("JPEG files cannot hold an alpha channel (4 channels given)")
    if depth == 16:  # Pillow writes 16 bits for gray only; pypng does every colour type
        import png  # noqa: PLC0415 (pypng)

        planes = 1 if samples.ndim == 2 else samples.shape[-1]
        writer = png.Writer(samples.shape[1], samples.shape[0], bitdepth=16,
                            greyscale=planes in (1, 2), alpha=planes in (2, 4))
        buf = _io.BytesIO()
        writer.write(buf, samples.reshape(samples.shape[0], -1))
        return buf.getvalue()
    import imageio.v3 as iio  # noqa: PLC0415

    if samples.ndim == 3 and samples.shape[-1] == 1:
        samples = samples[..., 0]
    kwargs = {"quality": 95} if suffix in (".jpg", ".jpeg") else {}
    return iio.imwrite("<bytes>", samples, extension=suffix, plugin="pillow", **kwargs)


def _write_atomic(path: Path, data: bytes, force: bool):
    folder = path.parent
    while True:
        tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            # O_EXCL: never clobber another writer's temporary file; mode 0o666 lets the
            # umask decide the final permissions, as for any newly created file
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, path)
        else:
            try:
                # a hard link fails if the target appeared since the check in imwrite
                os.link(tmp, path)
            except FileExistsError:
                raise FileExistsError(f"{path} already exists; pass force=True to replace it") \
                    from None
            except OSError:  # file systems without hard links
                if path.exists():
                    raise FileExistsError(f"{path} already exists; pass force=True to "
                                          "replace it") from None
                os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_target(path: Path, force):
    if not isinstance(force, bool):
        raise TypeError(f"force must be True or False, got {force!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; pass force=True to replace it")


def write_bytes(path, data, *, force=False):
    """Write ``data`` to ``path`` atomically, as :func:`imwrite` does (for figures, JSON).

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its folder must exist.
    data : bytes or str
        Content (``str`` is encoded as UTF-8).
    force : bool
        Replace an existing file.

    Examples
    --------
    >>> import os, tempfile
    >>> from invrestore.io import write_bytes
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> write_bytes(path, "hello")
    >>> open(path).read()
    'hello'
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
    _check_target(path, force)
    _write_atomic(path, bytes(data), force)


def imwrite(path, x, *, bit_depth=None, force=False):
    """Write an image file atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Target file; its suffix picks the format (see the module docstring). Its folder must
        exist.
    x : ndarray
        (H, W) or (H, W, C) image in [0, 1] (NumPy or CuPy; integer arrays are scaled like
        ``skimage.img_as_float``).
    bit_depth : {None, 8, 16, 32}
        Bits per sample: 8 or 16 for PNG and TIFF, 32 (float32) for TIFF only; BMP and JPEG
        store 8, NPY the float array itself (None). Default: ``x.bit_depth`` when ``x`` came
        from :func:`imread` and the format can store it (16 for a float image written as PNG),
        else the first of 8 (PNG, BMP, JPEG) or float32 (TIFF).
    force : bool
        Replace an existing file.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``force`` is False.
    ValueError
        Unsupported suffix or bit depth, NaN/Inf values, or a shape the format cannot store.

    Notes
    -----
    Integer formats store ``round(clip(x, 0, 1) * (2**bits - 1))``; float32 TIFF and NPY store
    the values unclipped. Nothing is written when any check or the encoding fails: the data
    goes to a temporary file next to ``path`` that replaces ``path`` only once complete.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from invrestore.io import imread, imwrite
    >>> path = os.path.join(tempfile.mkdtemp(), "x.tif")
    >>> imwrite(path, np.full((4, 4, 3), 0.5))
    >>> imread(path).bit_depth
    32
    >>> imwrite(path, np.zeros((4, 4)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: ... already exists; pass force=True to replace it
    """
    path = Path(path)
    suffix = _suffix(path)
    if bit_depth is not None and (isinstance(bit_depth, bool) or bit_depth not in (8, 16, 32)):
        raise ValueError(f"bit_depth must be None, 8, 16 or 32, got {bit_depth!r}")
    hint = getattr(x, "bit_depth", None)
    if not hasattr(x, "dtype"):
        raise TypeError(f"x must be a NumPy or CuPy array, got {type(x).__name__}")
    img = to_numpy(as_float_image(x, name="x"))
    img = np.asarray(img)  # an ImageArray's depth is in hint already
    if img.ndim not in (2, 3) or img.size == 0:
        raise ValueError(f"x must be a non-empty (H, W) or (H, W, C) image, got shape "
                         f"{tuple(img.shape)}")
    depth = _resolve_depth(suffix, bit_depth, hint)
    _check_target(path, force)
    try:
        data = _encode(img, suffix, depth)
    except (ValueError, TypeError):
        raise
    except Exception as exc:  # encoder libraries raise many types
        raise ValueError(f"cannot encode the image as {path}: {exc}") from exc
    _write_atomic(path, data, force)
