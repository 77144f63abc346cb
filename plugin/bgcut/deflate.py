"""Raw deflate for bgcut's PNGs: ISA-L's (the `isal` wheel) where it is installed, zlib's
otherwise. Both write the same format, so any PNG reader inflates either.

At 12 MP (benchmarks/encoders.py) bgcut's PNG of a cut-out encodes 4.6x faster with
ISA-L's level 1 than with zlib's (0.050 against 0.229 s), 8% smaller; deflate is most of
a PNG write and of Blender's packing. Standard library and an optional wheel only: no numpy here.
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Protocol


def _isal_zlib() -> ModuleType | None:
    """ISA-L's zlib-like module: an optional accelerator; bgcut is the same without it,
    only slower to write PNGs."""
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


_isal = _isal_zlib()

#: zlib's flush that ends a stream's output on a byte boundary, so that independently
#: deflated bands can be joined into one stream (both libraries use this value).
SYNC_FLUSH = zlib.Z_SYNC_FLUSH
#: the levels ISA-L offers (0 is its fastest, not stored); zlib's own levels serve the rest
_ISAL_LEVELS = range(1, 4)


class Compressor(Protocol):
    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


def engine() -> str:
    """Which deflate bgcut uses, for benchmarks and bug reports."""
    return "isal" if _isal is not None else "zlib"


def raw_compressor(level: int, *, fast: bool = True) -> Compressor:
    """A raw deflate stream (no zlib header) at `level`: 0 is stored, 1..3 ISA-L's when
    installed (unless `fast` is False: zlib's, for a baseline), higher levels zlib's."""
    if fast and _isal is not None and level in _ISAL_LEVELS:
        return _isal.compressobj(level, _isal.DEFLATED, -15)
    return zlib.compressobj(level, zlib.DEFLATED, -15)
