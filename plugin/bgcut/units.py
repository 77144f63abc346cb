"""Pixel values as 0..1 floats and back: the one rounding every layer bgcut makes uses.

numpy only (no Pillow), so Blender's add-on can convert pixels before the rest of the core
is needed."""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from .parallel import for_each


def to_unit(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.astype(np.float32) * (1.0 / 255.0)
    if a.dtype == np.uint16:
        return a.astype(np.float32) * (1.0 / 65535.0)
    return a.astype(np.float32, copy=False)


def from_unit(unit: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """Inverse of to_unit, rounding and clipping for integer types."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return unit_to_u8(unit)
    if dtype == np.uint16:
        return (np.clip(unit, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    return unit.astype(dtype, copy=False)


#: Floats converted at once: the passes stay in the CPU's cache (3x faster than
#: whole-image temporaries at 12 MP).
_CHUNK_BYTES = 256 << 10


def unit_to_u8(unit: np.ndarray, *, threads: bool = True) -> np.ndarray:
    """0..1 floats rounded to 8 bits as Blender rounds them (×255, +0.5, clamped to
    0..255, cut), a few rows at a time, bands in threads unless `threads` is False (a
    caller already working in threads)."""
    unit = np.asarray(unit)
    if unit.ndim == 0:
        return np.asarray(np.clip(unit * 255.0 + 0.5, 0.0, 255.0)).astype(np.uint8)
    out = np.empty(unit.shape, np.uint8)
    step = max(1, _CHUNK_BYTES // max(1, unit[:1].nbytes))

    def chunk(y: int) -> None:
        tmp = np.multiply(
            unit[y : y + step], 255.0, dtype=unit.dtype if unit.dtype.kind == "f" else np.float32
        )
        tmp += 0.5
        np.clip(tmp, 0.0, 255.0, out=tmp)
        np.copyto(out[y : y + step], tmp, casting="unsafe")

    starts = range(0, len(unit), step)
    if threads:
        for_each(chunk, starts)
    else:
        for y in starts:
            chunk(y)
    return out
