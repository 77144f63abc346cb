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
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, PngImagePlugin

from .errors import OutputError
from .marker import png_text, xmp_packet

OUTPUT_FORMATS = {".png": "PNG", ".webp": "WEBP"}
#: WebP stores at most 16383 pixels a side.
WEBP_MAX_SIDE = 16383
_NO_ALPHA = {".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".bmp": "BMP"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IDAT_BYTES = 1 << 20
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


def png16_writer(rgba16: np.ndarray, kind: str) -> Callable[[BinaryIO], None]:
    """A 16-bit RGBA PNG (Pillow cannot write one): IHDR depth 16, colour type 6,
    big-endian samples, Sub-filtered rows, plus bgcut's tEXt marker."""

    def write(fh: BinaryIO) -> None:
        height, width = rgba16.shape[:2]
        fh.write(_PNG_SIGNATURE)
        _chunk(fh, b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 0))
        for key, value in png_text(kind).items():
            _chunk(fh, b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
        pack = zlib.compressobj(6)
        pending = io.BytesIO()
        band = max(1, (4 << 20) // (width * 8 + 1))
        for top in range(0, height, band):
            pending.write(pack.compress(_sub_filtered(rgba16[top : top + band])))
            if pending.tell() >= _IDAT_BYTES:
                _chunk(fh, b"IDAT", pending.getvalue())
                pending = io.BytesIO()
        pending.write(pack.flush())
        _chunk(fh, b"IDAT", pending.getvalue())
        _chunk(fh, b"IEND", b"")

    return write


def _sub_filtered(rows: np.ndarray) -> bytes:
    """PNG scanlines with filter 1 (Sub: each byte minus the one 8 bytes, a pixel, left)."""
    raw = np.ascontiguousarray(rows, dtype=">u2").view(np.uint8).reshape(rows.shape[0], -1)
    out = np.empty((raw.shape[0], raw.shape[1] + 1), np.uint8)
    out[:, 0] = 1
    out[:, 1:9] = raw[:, :8]
    np.subtract(raw[:, 8:], raw[:, :-8], out=out[:, 9:])
    return out.tobytes()


def _chunk(fh: BinaryIO, kind: bytes, body: bytes) -> None:
    fh.write(struct.pack(">I", len(body)) + kind + body)
    fh.write(struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def pillow_writer(
    image: Image.Image, fmt: str, kind: str, webp_quality: int | None = None
) -> Callable[[BinaryIO], None]:
    """An 8-bit PNG or a WebP (lossless and exact unless `webp_quality` is given), marked."""

    def write(fh: BinaryIO) -> None:
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            for key, value in png_text(kind).items():
                info.add_text(key, value)
            image.save(fh, format="PNG", pnginfo=info, compress_level=6)
        elif webp_quality is None:
            image.save(fh, format="WEBP", lossless=True, exact=True, method=1, xmp=xmp_packet(kind))
        else:
            image.save(fh, format="WEBP", quality=webp_quality, method=4, xmp=xmp_packet(kind))

    return write
