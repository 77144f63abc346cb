"""Turn whatever the caller hands us into pixels: path, bytes, Pillow image or numpy array.

The pixels keep their own dtype (uint8, uint16 or float32) so a 16-bit or float layer comes
back at its own precision; `rgb8()` is the sRGB 8-bit view the service is sent.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError
from .units import to_unit, unit_to_u8

#: A source larger than this is refused rather than decoded (decompression bombs).
MAX_SOURCE_PIXELS = 250_000_000

SourceLike = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray


class Decoding:
    """Pixels being decoded in a thread of their own, so a JPEG sent as it was read can be
    on its way to the service while it is decoded here (`Source.file_bytes`). A quick
    `check` that reads every byte of the file runs first, so whoever must know that the
    file decodes (before its last bytes are sent) waits for that alone (`readable`); when
    the check cannot tell, `readable` waits for the full decode."""

    def __init__(self, decode: Callable[[], np.ndarray], check: Callable[[], None] | None = None) -> None:
        self._pixels: np.ndarray | None = None
        self._error: BaseException | None = None
        self._checked = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(decode, check), name="bgcut-decode", daemon=True
        )
        self._thread.start()

    def _run(self, decode: Callable[[], np.ndarray], check: Callable[[], None] | None) -> None:
        try:
            if check is not None and _passes(check):
                self._checked.set()
            # else the full decode decides (a lossless JPEG has no 1/8 scale), and `readable`
            # waits for it
            self._pixels = decode()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the pixels
            self._error = exc
        finally:
            self._checked.set()

    def readable(self) -> None:
        """Returns once the file is known to decode; raises what decoding it raises."""
        self._checked.wait()
        if self._error is not None:
            raise self._error

    def result(self) -> np.ndarray:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._pixels is not None
        return self._pixels


def _passes(check: Callable[[], None]) -> bool:
    try:
        check()
    except Exception:  # noqa: BLE001 - only a quick way to know sooner
        return False
    return True


@dataclass
class Source:
    """The source as an H×W×C array (C = 1..4) plus what is needed to read it right.

    `file_bytes` is the file as read, when it came as an encoded picture: a JPEG the service
    can take as it is goes as those bytes (`upload.upload_as_received`); its pixels may then
    still be decoding (`Decoding`) and are waited for when first used."""

    _pixels: np.ndarray | Decoding
    linear: bool = False
    file_bytes: bytes | None = field(default=None, repr=False)
    _rgb8: np.ndarray | None = field(default=None, init=False, repr=False)

    @property
    def pixels(self) -> np.ndarray:
        if isinstance(self._pixels, Decoding):
            self._pixels = self._pixels.result()
        return self._pixels

    def readable(self) -> None:
        """Returns once the pixels are known to decode (at once when they are decoded);
        raises the InputError that says why not."""
        if isinstance(self._pixels, Decoding):
            self._pixels.readable()

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[2] in (2, 4)

    def rgb8(self) -> np.ndarray:
        """sRGB-encoded H×W×3 uint8, what an upload carries (alpha dropped). Computed once:
        the upload and the full-size mask refinement both need it."""
        if self._rgb8 is None:
            self._rgb8 = self._to_rgb8()
        return self._rgb8

    def _to_rgb8(self) -> np.ndarray:
        px = self.pixels
        colour = px[..., :3] if px.shape[2] >= 3 else np.repeat(px[..., :1], 3, axis=2)
        if px.dtype == np.uint8 and not self.linear:
            return np.ascontiguousarray(colour)
        unit = to_unit(colour)
        if self.linear:
            unit = linear_to_srgb(unit)
        return unit_to_u8(unit)

    def alpha_unit(self) -> np.ndarray | None:
        if not self.has_alpha:
            return None
        return np.clip(to_unit(self.pixels[..., -1]), 0.0, 1.0)


def load_source(obj: SourceLike, *, linear: bool = False) -> Source:
    """Read any accepted input; raise InputError with the reason when it is not usable."""
    if isinstance(obj, np.ndarray):
        return Source(_check_array(obj), linear=linear)
    if isinstance(obj, Image.Image):
        return Source(_pil_to_array(obj), linear=linear)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return _encoded(bytes(obj), "the given bytes", linear)
    if isinstance(obj, (str, os.PathLike)):
        path = os.fspath(obj)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise InputError(f"Cannot read {path!r}: {exc.strerror or exc}. Check the path.") from None
        return _encoded(data, repr(path), linear)
    raise InputError(
        f"Unsupported input type {type(obj).__name__}: give a file path, encoded bytes, "
        "a Pillow image or a numpy array."
    )


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, None)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1.0 / 2.4) - 0.055).astype(np.float32)


def _check_array(a: np.ndarray) -> np.ndarray:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"Array of shape {a.shape} is not an image: expected H×W, H×W×3 or H×W×4.")
    if a.dtype not in (np.uint8, np.uint16, np.float32):
        if a.dtype == np.float64:
            a = a.astype(np.float32)
        else:
            raise InputError(f"Array dtype {a.dtype} is not supported: use uint8, uint16 or float32.")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError("The image is empty (zero width or height).")
    if a.dtype == np.float32 and not np.isfinite(a).all():
        a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0)
    return a


def _encoded(data: bytes, what: str, linear: bool) -> Source:
    """A complete JPEG (header read, end marker present) is decoded in a thread while the
    caller goes on; anything else here and now, so bad input fails before anything is sent."""
    _check_header(data, what)
    if data[:3] == JPEG_START and data.rstrip(b"\0\r\n")[-2:] == _JPEG_END:
        pixels = Decoding(lambda: _decode(data, what), check=lambda: _check_jpeg(data, what))
        return Source(pixels, linear=linear, file_bytes=data)
    return Source(_decode(data, what), linear=linear, file_bytes=data)


JPEG_START, _JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
_UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def _check_header(data: bytes, what: str) -> None:
    if not data:
        raise InputError(f"{what} is empty: give a PNG, JPEG or WebP picture.")
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except _UNREADABLE as exc:
        raise _unreadable(what, exc) from None
    if w * h > MAX_SOURCE_PIXELS:
        raise InputError(
            f"{what} declares {w}×{h} pixels, more than bgcut will open "
            f"({MAX_SOURCE_PIXELS // 1_000_000} MP). Scale it down first."
        )


def _unreadable(what: str, exc: BaseException) -> InputError:
    return InputError(
        f"{what} is not a readable image ({type(exc).__name__}). "
        "Give a PNG, JPEG or WebP file that opens in an image viewer."
    )


def _decode(data: bytes, what: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            im.load()
            if im.getexif().get(ORIENTATION, 1) != 1:  # exif_transpose copies even when upright
                im = ImageOps.exif_transpose(im)
            return _pil_to_array(im)
    except _UNREADABLE as exc:
        raise _unreadable(what, exc) from None


def _check_jpeg(data: bytes, what: str) -> None:
    """The JPEG decoded at 1/8 scale: libjpeg's DCT scaling still parses every coefficient
    of every scan, so a damaged file fails here as in the full decode, in a fifth of its
    time (12 MP: 0.023 s against 0.116 s)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.draft(None, (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except _UNREADABLE as exc:
        raise _unreadable(what, exc) from None


ORIENTATION = 0x0112  # the EXIF tag


def _pil_to_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(im, dtype=np.uint16)[..., None].copy()
    if mode in ("I", "F"):
        a = np.asarray(im)
        if mode == "I":
            hi = 65535 if a.max(initial=0) > 255 else 255
            a = np.clip(a, 0, hi).astype(np.uint16 if hi > 255 else np.uint8)
        else:
            a = a.astype(np.float32)
        return a[..., None].copy()
    if mode == "RGBA" or mode == "RGB" or mode == "L" or mode == "LA":
        out = np.asarray(im)
    elif "A" in mode or "transparency" in im.info:
        out = np.asarray(im.convert("RGBA"))
    else:
        out = np.asarray(im.convert("RGB"))
    if out.ndim == 2:
        out = out[..., None]
    return np.ascontiguousarray(out)
