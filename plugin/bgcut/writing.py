"""Writing outputs: whole or not at all, never through a link, never over a file unasked.

A file is written under no name (Linux `O_TMPFILE`) or a hidden temporary name in the
output's own folder, flushed to disk, and only then given its name: with a hard link when
it must not replace anything (the link fails if anything, even a dangling symlink, holds
the name, so a racing writer loses cleanly), with a rename when it may (which replaces a
symlink itself, never its target). A kill, a full disk or Ctrl+C leaves the previous
output as it was and, with `O_TMPFILE`, no temporary file at all.

The format follows the name: .png (16-bit RGBA when the source has more than 8 bits) or
.webp (lossless unless a quality is asked for); anything else is refused up front.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from .deflate import SYNC_FLUSH, raw_compressor
from .errors import OutputError
from .marker import png_text, xmp_packet
from .parallel import in_order

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

OUTPUT_FORMATS = {".png": "PNG", ".webp": "WEBP"}
#: WebP stores at most 16383 pixels a side.
WEBP_MAX_SIDE = 16383
_NO_ALPHA = {".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".bmp": "BMP"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UNNAMED_UNSUPPORTED = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.EPERM)

Payload = bytes | Callable[[BinaryIO], None]

_state = {"unnamed_broken": False}
_umask_lock = threading.Lock()
_umask: list[int] = []


def output_format(path: str | os.PathLike) -> str:
    """The format the name asks for (PNG or WEBP); an OutputError saying what to name it
    otherwise, so a .jpg never silently gets PNG bytes."""
    suffix = Path(path).suffix.lower()
    if suffix in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[suffix]
    why = f"{_NO_ALPHA[suffix]} has no alpha channel" if suffix in _NO_ALPHA else "bgcut writes PNG or WebP"
    raise OutputError(f"{path}: {why}; name the output .png or .webp.")


def check_size(path: str | os.PathLike, fmt: str, width: int, height: int) -> None:
    """Refuse what the format cannot hold (WebP: 16383 px a side) before anything is spent."""
    if fmt == "WEBP" and max(width, height) > WEBP_MAX_SIDE:
        raise OutputError(
            f"{path}: WebP holds at most {WEBP_MAX_SIDE} px a side and the picture is "
            f"{width}×{height}; name the output .png instead."
        )


def ensure_folder(folder: str | os.PathLike) -> None:
    """Create an output folder when the first output goes in; never through a link."""
    folder = Path(folder)
    if folder.is_dir():
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)  # two writers may create it at once: fine
    except FileExistsError:
        raise OutputError(
            f"Cannot create {folder}: it, or part of that path, is a file or a broken link; "
            "choose another folder."
        ) from None
    except OSError as exc:
        raise OutputError(f"Cannot create {folder}: {exc.strerror or exc}. Check the path.") from None


def write_atomic(path: str | os.PathLike, data: Payload, *, replace: bool) -> None:
    """Put `data` (bytes, or a callback writing to a binary file) at `path` whole or not at
    all. Without `replace` anything already at `path` (a file, a link) makes it fail with
    "exists"; with it, a link at `path` is replaced, never followed. The callback may be
    called twice when the system turns out not to support unnamed files."""
    path = Path(path)
    try:
        if _unnamed_possible():
            try:
                _write_unnamed(path, data, replace)
                return
            except _Unsupported:
                _state["unnamed_broken"] = True
        _write_named(path, data, replace)
    except FileExistsError:
        raise OutputError(
            f"{path} exists (another run may have just written it); use --force to replace it."
        ) from None
    except IsADirectoryError:
        raise OutputError(f"{path} is a folder; choose another output name.") from None
    except OSError as exc:
        raise OutputError(_os_message(path, exc)) from None


class _Unsupported(Exception):
    """Unnamed temporary files cannot be used here; fall back to a hidden named one."""


def _unnamed_possible() -> bool:
    return (
        hasattr(os, "O_TMPFILE")
        and not _state["unnamed_broken"]
        and os.link in os.supports_dir_fd
        and os.path.isdir("/proc/self/fd")
    )


def _write_unnamed(path: Path, data: Payload, replace: bool) -> None:
    folder = os.fspath(path.parent)
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in _UNNAMED_UNSUPPORTED:
            raise _Unsupported from None
        raise
    with os.fdopen(fd, "wb") as fh:
        _fill(fh, data)
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            source = f"/proc/self/fd/{fh.fileno()}"
            if replace:
                hidden = _link_hidden(source, dir_fd, path.name)
                try:
                    os.replace(hidden, path.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                except BaseException:
                    os.unlink(hidden, dir_fd=dir_fd)
                    raise
            else:
                _link_or_unsupported(source, path.name, dir_fd)
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _link_or_unsupported(source: str, name: str, dir_fd: int) -> None:
    """Give the unnamed file `name`; EEXIST is the clean race loss, odd /proc is fallback."""
    try:
        os.link(source, name, dst_dir_fd=dir_fd, follow_symlinks=True)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno in _UNNAMED_UNSUPPORTED or exc.errno == errno.ENOENT:
            raise _Unsupported from None
        raise


def _link_hidden(source: str, dir_fd: int, name: str) -> str:
    """A hidden name for the finished file, to be renamed over the target."""
    for _ in range(100):
        hidden = f".{name}.{os.urandom(6).hex()}.part"
        try:
            _link_or_unsupported(source, hidden, dir_fd)
            return hidden
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", name)


def _write_named(path: Path, data: Payload, replace: bool) -> None:
    """Portable route: a hidden temporary file (mkstemp) next to the target."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=os.fspath(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            _fill(fh, data)
        if os.name != "nt":
            os.chmod(tmp, 0o666 & ~_current_umask())
        if replace:
            os.replace(tmp, path)
        else:
            _place_exclusive(tmp, path)
        _fsync_folder(path.parent)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _place_exclusive(tmp: str, path: Path) -> None:
    """Name `tmp` as `path` only if nothing is there: a hard link, or where hard links are
    unsupported (FAT, some shares) an O_EXCL placeholder renamed over."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except (OSError, NotImplementedError, AttributeError):
        pass
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    os.close(os.open(path, flags, 0o600))
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(path)
        raise


def _fill(fh: BinaryIO, data: Payload) -> None:
    if callable(data):
        data(fh)
    else:
        fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the new name durable too; folders cannot be opened on Windows (skipped)."""
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_umask() -> int:
    """The process umask, read once (from /proc when possible: os.umask sets it too)."""
    with _umask_lock:
        if not _umask:
            _umask.append(_read_umask())
        return _umask[0]


def _read_umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _os_message(path: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
        return (
            f"Cannot write {path}: {reason} (the disk or a size limit is full). Free some "
            "space and run again; any previous file there was kept."
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot write {path}: {reason}. Check that you may write to {path.parent}, or choose another folder."
    if exc.errno == errno.ENOENT:
        return f"Cannot write {path}: the folder {path.parent} does not exist."
    return f"Cannot write {path}: {reason}. Any previous file there was kept; run again."


# -- encoders: each writes one whole file to an open binary stream ----------------------

#: deflate level of bgcut's PNGs (bgcut.deflate: ISA-L's where installed). At 12 MP
#: (benchmarks/encoders.py, same run) ISA-L's level 1 encodes 39x faster than Pillow's
#: default level 6 for 1.11x its bytes; zlib's levels 1, 2, 3 (the fallback) 8.5x, 9.0x,
#: 8.1x faster for 1.20x, 1.15x, 1.10x its bytes.
PNG_LEVEL = 1
#: lossless WebP at the fastest method: 9.6x faster than method 1 (the old setting) at
#: 12 MP for 1.22x its bytes (benchmarks/encoders.py).
WEBP_LOSSLESS = {"lossless": True, "exact": True, "method": 0, "quality": 0}
_BAND_BYTES = 4 << 20
_IHDR_END = 33  # signature (8) + IHDR length, type, 13-byte body, CRC


class RawAnswer(NamedTuple):
    """The service's answer bytes, kept when one layer of the cut decodes to exactly them
    (layer "alpha": the mask; "rgba": the cut-out), so that layer is written as received
    to an output of the same format ("PNG" or "WEBP")."""

    data: bytes
    layer: str
    format: str = "PNG"


def png_writer(pixels: np.ndarray, kind: str, level: int = PNG_LEVEL) -> Callable[[BinaryIO], None]:
    """A PNG of H×W grey or H×W×4 RGBA pixels (uint8, or uint16 as a 16-bit PNG, which
    Pillow cannot write), plus bgcut's tEXt marker: rows Up-filtered, bands deflated in
    parallel threads (numpy and zlib release the GIL)."""

    def write(fh: BinaryIO) -> None:
        for part in _png_parts(pixels, png_text(kind), level):
            fh.write(part)

    return write


def png_bytes(pixels: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    """The same PNG, 8-bit and unmarked, in memory: for hosts that pack a result into their
    documents (Blender's own encoder costs ~0.8 s at 12 MP). Floats are read as 0..1 and
    rounded to 8 bits band by band in the encoding threads."""
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 4):
        raise ValueError("png_bytes takes H×W or H×W×4 pixels")
    return b"".join(_png_parts(pixels, {}, level))


def marked_png_writer(data: bytes, kind: str) -> Callable[[BinaryIO], None]:
    """A PNG as received with bgcut's tEXt marker spliced in after IHDR: no pixel is
    decoded or encoded again."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG starting with IHDR")
    view = memoryview(data)

    def write(fh: BinaryIO) -> None:
        fh.write(view[:_IHDR_END])
        for key, value in png_text(kind).items():
            _chunk(fh, b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
        fh.write(view[_IHDR_END:])

    return write


def raw_answer(
    data: bytes, answer: np.ndarray, mask: np.ndarray, rgba: Callable[[], np.ndarray] | None
) -> RawAnswer | None:
    """The answer bytes, when they decode to exactly the mask or the cut-out: an 8-bit,
    non-interlaced PNG (grey: the mask; RGBA: the cut-out), or a WebP (R = G = B = the
    mask with no transparency, as bgcut's own mask WebP; or the cut-out, when `rgba` gives
    it: a mask-only cut passes None and never builds one). None otherwise."""
    if answer.shape[:2] != mask.shape:
        return None
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR":
        return _raw_png(data, answer, mask, rgba)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and answer.shape[2] == 4 and _webp_markable(data):
        if _same(answer[..., 0], mask) and _is_grey_opaque(answer):
            return RawAnswer(data, "alpha", "WEBP")
        if rgba is not None and _same_layer(answer, rgba()):
            return RawAnswer(data, "rgba", "WEBP")
    return None


def _raw_png(
    data: bytes, answer: np.ndarray, mask: np.ndarray, rgba: Callable[[], np.ndarray] | None
) -> RawAnswer | None:
    _, _, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if depth != 8 or interlace:
        return None
    if colour == 0 and answer.shape[2] == 1 and _same(answer[..., 0], mask):
        return RawAnswer(data, "alpha")
    if colour == 6 and answer.shape[2] == 4 and rgba is not None and _same_layer(answer, rgba()):
        return RawAnswer(data, "rgba")
    return None


def _same_layer(answer: np.ndarray, rgba: np.ndarray) -> bool:
    return rgba.dtype == answer.dtype and _same(answer, rgba)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays; the first rows are compared first, since most answers differ at once."""
    import numpy as np

    return a.shape == b.shape and np.array_equal(a[:8], b[:8]) and np.array_equal(a, b)


def _is_grey_opaque(answer: np.ndarray) -> bool:
    import numpy as np

    red = answer[..., 0]
    return bool(
        np.array_equal(red, answer[..., 1])
        and np.array_equal(red, answer[..., 2])
        and not (answer[..., 3] != 255).any()
    )


def _webp_markable(data: bytes) -> bool:
    try:
        _webp_extended(data)
    except ValueError:
        return False
    return True


def marked_webp_writer(data: bytes, kind: str) -> Callable[[BinaryIO], None]:
    """A WebP as received with bgcut's XMP marker added as a RIFF chunk at its end (and
    the VP8X header that announces it): no pixel is decoded or encoded again."""
    head, body = _webp_extended(data)
    xmp = xmp_packet(kind)
    chunk = b"XMP " + struct.pack("<I", len(xmp)) + xmp + b"\0" * (len(xmp) & 1)
    size = 4 + len(head) + len(body) + len(chunk)

    def write(fh: BinaryIO) -> None:
        fh.write(b"RIFF" + struct.pack("<I", size) + b"WEBP" + head)
        fh.write(body)
        fh.write(chunk)

    return write


def _webp_extended(data: bytes) -> tuple[bytes, memoryview]:
    """The VP8X chunk (XMP flag set) and the chunks after it, of a still WebP with no XMP
    of its own; a simple WebP (one VP8 or VP8L chunk) gets the VP8X chunk it lacks."""
    end = 8 + int.from_bytes(data[4:8], "little")
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or not 30 <= end <= len(data):
        raise ValueError("not a WebP")
    view = memoryview(data)[:end]  # no copy of the image data
    first = bytes(view[12:16])
    if first == b"VP8X":
        flags = view[20]
        if flags & 0x06:  # XMP already there (0x04) or an animation (0x02)
            raise ValueError("a WebP with its own XMP or an animation")
        return b"VP8X" + view[16:20] + bytes([flags | 0x04]) + view[21:30], view[30:]
    if first == b"VP8L" and view[20] == 0x2F:
        bits = int.from_bytes(view[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        alpha = 0x10 if bits >> 28 & 1 else 0
    elif first == b"VP8 " and bytes(view[23:26]) == b"\x9d\x01\x2a":
        width = int.from_bytes(view[26:28], "little") & 0x3FFF
        height = int.from_bytes(view[28:30], "little") & 0x3FFF
        alpha = 0
    else:
        raise ValueError("not a still WebP")
    vp8x = (
        bytes([alpha | 0x04, 0, 0, 0])
        + (width - 1).to_bytes(3, "little")
        + (height - 1).to_bytes(3, "little")
    )
    return b"VP8X" + struct.pack("<I", 10) + vp8x, view[12:]


def _png_parts(pixels: np.ndarray, text: dict[str, str], level: int) -> Iterator[bytes]:
    import numpy as np

    if not (pixels.dtype in (np.uint8, np.uint16) or pixels.dtype.kind == "f") or pixels.ndim not in (2, 3):
        raise ValueError("a PNG takes H×W or H×W×4 uint8/uint16 (or 0..1 float) pixels")
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels not in (1, 4):
        raise ValueError("a PNG takes grey (H×W) or RGBA (H×W×4) pixels")
    height, width = pixels.shape[:2]
    depth = 16 if pixels.dtype == np.uint16 else 8
    out = io.BytesIO()
    out.write(_PNG_SIGNATURE)
    _chunk(out, b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 0 if channels == 1 else 6, 0, 0, 0))
    for key, value in text.items():
        _chunk(out, b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    yield out.getvalue()
    rows = max(1, _BAND_BYTES // (width * channels * depth // 8 + 1))
    adler, head = 1, b"\x78\x01"  # zlib header: deflate, 32 KB window
    for body, band_adler, size in in_order(
        lambda top: _deflate_rows(pixels, top, rows, level), range(0, height, rows)
    ):
        adler = _adler32_combine(adler, band_adler, size)
        yield _chunk_bytes(b"IDAT", head + body)
        head = b""
    yield _chunk_bytes(b"IDAT", b"\x03\x00" + struct.pack(">I", adler))  # empty final block
    yield _chunk_bytes(b"IEND", b"")


def _deflate_rows(pixels: np.ndarray, top: int, rows: int, level: int) -> tuple[bytes, int, int]:
    """Rows top..top+rows as Up-filtered scanlines (filter byte 2: each byte minus the one
    above, so bands are independent) in raw deflate ending on a byte boundary, with the
    band's Adler-32 and length."""
    import numpy as np

    start = max(0, top - 1)
    band = pixels[start : top + rows]
    if band.dtype.kind == "f":
        from .units import unit_to_u8

        band = unit_to_u8(band, threads=False)  # this band is already one thread's work
    raw = np.ascontiguousarray(band, dtype=">u2" if band.dtype == np.uint16 else np.uint8)
    raw = raw.view(np.uint8).reshape(band.shape[0], -1)
    if top == 0:
        raw = np.concatenate([np.zeros((1, raw.shape[1]), np.uint8), raw])
    lines = np.empty((raw.shape[0] - 1, raw.shape[1] + 1), np.uint8)
    lines[:, 0] = 2
    np.subtract(raw[1:], raw[:-1], out=lines[:, 1:])
    pack = raw_compressor(level)
    flat = lines.data
    body = pack.compress(flat) + pack.flush(SYNC_FLUSH)
    return body, zlib.adler32(flat), lines.size


def _adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """Adler-32 of A+B from those of A and B and B's length (zlib's adler32_combine)."""
    base = 65521
    rem = len2 % base
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % base
    sum1 = (sum1 + (adler2 & 0xFFFF) + base - 1) % base
    sum2 = (sum2 + (adler1 >> 16) + (adler2 >> 16) + base - rem) % base
    return sum1 | (sum2 << 16)


def _chunk_bytes(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)) & 0xFFFFFFFF)
    )


def _chunk(fh: BinaryIO, kind: bytes, body: bytes) -> None:
    fh.write(_chunk_bytes(kind, body))


def webp_writer(image: Image.Image, kind: str, quality: int | None = None) -> Callable[[BinaryIO], None]:
    """A marked WebP: lossless and exact (the RGB under transparent pixels kept) unless a
    quality 1..100 is asked for."""

    def write(fh: BinaryIO) -> None:
        if quality is None:
            image.save(fh, format="WEBP", xmp=xmp_packet(kind), **WEBP_LOSSLESS)
        else:
            image.save(fh, format="WEBP", quality=quality, method=4, xmp=xmp_packet(kind))

    return write
