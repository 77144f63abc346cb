"""bgcut's mark in its own PNG/WebP outputs, so a folder rerun never cuts its results again.

PNG outputs carry tEXt chunks (`Software` = "bgcut <version>", `bgcut` = "cut-out" or
"mask"); WebP outputs an XMP packet with `bgcut:output`. Detection reads only chunk
headers (and the small marker chunk): no pixel is decoded. No key or path is ever written.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from typing import BinaryIO

from .version import __version__

MARKER_KEY = "bgcut"
KINDS = ("cut-out", "mask")
XMP_NAMESPACE = "urn:x-bgcut:output:1.0/"

_OUTPUT_NAME = re.compile(r"-(cut|mask)\.(png|webp)\Z", re.IGNORECASE)
_XMP_MARK = re.compile(rb'bgcut:output="(cut-out|mask)"')
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_CHUNKS = 256
_MAX_MARK_BYTES = 65_536


def kind_for(channels: str) -> str:
    """The marker value for an output of these channels."""
    return "mask" if channels == "alpha" else "cut-out"


def png_text(kind: str) -> dict[str, str]:
    """The tEXt chunks of a bgcut PNG (latin-1 keywords and values, as PNG wants)."""
    return {"Software": f"bgcut {__version__}", MARKER_KEY: kind}


def xmp_packet(kind: str) -> bytes:
    """A minimal XMP packet naming bgcut as the creator tool and the kind of output."""
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        f'xmlns:bgcut="{XMP_NAMESPACE}" xmp:CreatorTool="bgcut {__version__}" '
        f'bgcut:output="{kind}"/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>'
    ).encode()


def looks_like_output_name(name: str) -> bool:
    """`*-cut.png`, `*-mask.png` and their .webp twins: the names bgcut gives its outputs."""
    return _OUTPUT_NAME.search(name) is not None


def is_bgcut_output(path: str | os.PathLike) -> bool:
    """True for a file bgcut wrote: by its name, or (renamed) by the marker inside."""
    return looks_like_output_name(Path(path).name) or marker_kind(path) is not None


def marker_kind(path: str | os.PathLike) -> str | None:
    """The marker's kind ("cut-out" or "mask"), or None: also for an unreadable file,
    which is then left to be refused as an input with its own reason."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[:8] == _PNG_SIGNATURE:
                fh.seek(8)
                return _png_marker(fh)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp_marker(fh)
    except (OSError, ValueError, struct.error):
        return None
    return None


def _png_marker(fh: BinaryIO) -> str | None:
    """Walk the chunks before the pixels (IDAT) looking for the tEXt `bgcut` chunk."""
    for _ in range(_MAX_CHUNKS):
        header = fh.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        if kind in (b"IDAT", b"IEND"):
            return None
        if kind == b"tEXt" and length <= _MAX_MARK_BYTES:
            keyword, _, value = fh.read(length).partition(b"\0")
            if keyword == MARKER_KEY.encode() and value.decode("latin-1") in KINDS:
                return value.decode("latin-1")
            fh.seek(4, os.SEEK_CUR)
        else:
            fh.seek(length + 4, os.SEEK_CUR)
    return None


def _webp_marker(fh: BinaryIO) -> str | None:
    """Walk the RIFF chunks (skipping the image data) to the XMP one."""
    for _ in range(_MAX_CHUNKS):
        header = fh.read(8)
        if len(header) < 8:
            return None
        fourcc, length = struct.unpack("<4sI", header)
        if fourcc == b"XMP " and length <= _MAX_MARK_BYTES:
            found = _XMP_MARK.search(fh.read(length))
            return found.group(1).decode() if found else None
        fh.seek(length + (length & 1), os.SEEK_CUR)
    return None
