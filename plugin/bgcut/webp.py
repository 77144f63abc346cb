"""Still WebP answers decoded by libwebp itself, on two threads, straight into a numpy array.

Pillow decodes a WebP through libwebp's animation decoder: one thread, into a canvas of
its own, then copied out. libwebp's plain WebPDecode can filter and output rows on a
second thread while the first parses, and can write into memory bgcut owns (a 12 MP
answer: see benchmarks/answer_decode.py). The library is the one Pillow already ships or
links (its wheel's pillow.libs or .dylibs, else the system's libwebp.so.7); where none is
found (Pillow's Windows wheels link it in) or it is older than 1.3.2 (the heap overflow of
CVE-2023-4863 is fixed there: answers come from the network), `decode` returns None and
the caller takes Pillow's road. Only a file whose RIFF container is exactly well formed
(chunk sizes adding up to the file, known chunks, no animation) is taken; anything odd is
left to Pillow's stricter demuxer to accept or report. Alpha is kept only where the file
says it has alpha, as Pillow does. The pixels are the same either way (tests).
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: The decoder ABI these structures follow (libwebp 1.1-1.5: 0x0209; 1.6's 0x0210 changed
#: no structure). libwebp accepts any caller of the same major number and keeps new fields
#: inside the padding.
_ABI = 0x0209
_MIN_VERSION = 0x010302
_MODE_RGBA = 1
_ALPHA_FLAG = 0x10  # in the VP8X chunk's flags byte
_VALID_FLAGS = 0x3C  # ICC, alpha, EXIF, XMP (animation 0x02 and the reserved bits: not here)
_OK = 0
#: Spare bytes after the configuration, should a library ever write past our layout.
_SLACK = 256


class _Features(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _RGBABuffer(ctypes.Structure):
    _fields_ = [("rgba", ctypes.c_void_p), ("stride", ctypes.c_int), ("size", ctypes.c_size_t)]


class _YUVABuffer(ctypes.Structure):
    _fields_ = [(n, ctypes.c_void_p) for n in ("y", "u", "v", "a")]
    _fields_ += [(n, ctypes.c_int) for n in ("y_stride", "u_stride", "v_stride", "a_stride")]
    _fields_ += [(n, ctypes.c_size_t) for n in ("y_size", "u_size", "v_size", "a_size")]


class _Planes(ctypes.Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _Planes),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_int)
        for n in (
            "bypass_filtering",
            "no_fancy_upsampling",
            "use_cropping",
            "crop_left",
            "crop_top",
            "crop_width",
            "crop_height",
            "use_scaling",
            "scaled_width",
            "scaled_height",
            "use_threads",
            "dithering_strength",
            "flip",
            "alpha_dithering_strength",
        )
    ]
    _fields_ += [("pad", ctypes.c_uint32 * 5)]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


def _candidates() -> list[str]:
    """Pillow's own copy first (the version its wheel was tested with), then the system's."""
    try:
        import PIL
    except ImportError:
        return []
    here = Path(PIL.__file__).resolve().parent
    found = sorted(str(p) for p in (here.parent / "pillow.libs").glob("libwebp-*.so*"))
    found += sorted(str(p) for p in (here / ".dylibs").glob("libwebp.*dylib"))
    if sys.platform.startswith("linux"):
        found.append("libwebp.so.7")
    elif sys.platform == "darwin":
        found.append("libwebp.7.dylib")
    return found


@functools.cache
def library() -> ctypes.CDLL | None:
    """The libwebp to decode with, its functions typed; None where there is none ≥ 1.3.2."""
    for name in _candidates():
        try:
            lib = ctypes.CDLL(name)
            if lib.WebPGetDecoderVersion() < _MIN_VERSION:
                continue
            lib.WebPInitDecoderConfigInternal.argtypes = [ctypes.c_void_p, ctypes.c_int]
            lib.WebPGetFeaturesInternal.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.c_void_p,
                ctypes.c_int,
            ]
            lib.WebPDecode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p]
        except (OSError, AttributeError):
            continue
        return lib
    return None


def decode(data: bytes, check_size: Callable[[int, int], None]) -> np.ndarray | None:
    """A still WebP as H×W×4 RGBA (alpha 255 where the file has none), or None when this
    road cannot take it (no libwebp, an animation, damaged data: Pillow's road decides and
    reports). check_size(width, height) runs before any pixel is decoded and may raise."""
    lib = library()
    if lib is None or not well_formed(data):
        return None
    raw = (ctypes.c_char * (ctypes.sizeof(_Config) + _SLACK))()
    config = _Config.from_buffer(raw)
    if not lib.WebPInitDecoderConfigInternal(ctypes.addressof(config), _ABI):
        return None
    features = ctypes.addressof(config) + _Config.input.offset
    if lib.WebPGetFeaturesInternal(data, len(data), features, _ABI) != _OK:
        return None
    w, h = config.input.width, config.input.height
    if config.input.has_animation or w < 1 or h < 1:
        return None
    check_size(w, h)
    out = np.empty((h, w, 4), np.uint8)
    config.output.colorspace = _MODE_RGBA
    config.output.is_external_memory = 1
    config.output.u.RGBA.rgba = out.ctypes.data
    config.output.u.RGBA.stride = w * 4
    config.output.u.RGBA.size = out.nbytes
    config.options.use_threads = 1
    if lib.WebPDecode(data, len(data), ctypes.addressof(config)) != _OK:
        return None
    if not _says_alpha(data, bool(config.input.has_alpha)):
        out[..., 3] = 255  # as Pillow: a file that says it has no alpha is opaque
    return out


def _says_alpha(data: bytes, found: bool) -> bool:
    """Whether the file declares alpha: its VP8X flag where it has that chunk (libwebp's
    own answer also counts an ALPH chunk the flag disowns; Pillow's demuxer does not),
    else what libwebp found (a VP8L's alpha hint)."""
    if data[12:16] == b"VP8X":
        return bool(data[20] & _ALPHA_FLAG)
    return found


#: The chunks of a still WebP (RFC 9649); ANIM/ANMF (animations) and unknown ones are not.
_STILL_CHUNKS = frozenset({b"VP8X", b"ICCP", b"ALPH", b"VP8 ", b"VP8L", b"EXIF", b"XMP "})


def well_formed(data: bytes) -> bool:
    """The RIFF container holds exactly the file, as libwebp's demuxer (Pillow's road)
    requires: the size field says the file's length; still-image chunks, each padded to
    even length, end exactly at its end; a VP8X comes first, 10 bytes, with no reserved or
    animation flag; one image chunk, the last (libwebp's simple decoder lets a damaged
    image read on into the chunks after it, where the demuxer stops), so any ALPH is
    before it."""
    if len(data) < 20 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    if int.from_bytes(data[4:8], "little") != len(data) - 8:
        return False
    pos, tags = 12, []
    while pos < len(data):
        tag = data[pos : pos + 4]
        if pos + 8 > len(data) or tag not in _STILL_CHUNKS:
            return False
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if pos + 8 + size > len(data):
            return False
        if tag == b"VP8X" and (pos != 12 or size != 10 or data[20] & ~_VALID_FLAGS):
            return False
        tags.append(tag)
        pos += 8 + size + (size & 1)
    images = [i for i, tag in enumerate(tags) if tag in (b"VP8 ", b"VP8L")]
    return pos == len(data) and images == [len(tags) - 1]
