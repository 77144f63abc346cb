"""Large pictures made small, on every core.

Pillow shrinks a large picture by first copying it whole into its own buffer
(Image.fromarray: 38 ms at 12 MP) and box-reducing it by an integer factor, both in one
thread. Here both run in bands of source rows, each band a whole number of blocks, so every
block is the block of one piece and the pixels are Pillow's to the bit; only the small
result goes on to the final filter.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .parallel import for_each_band

#: Source bytes a band of the reduction reads.
_BAND_BYTES = 4 << 20


def box_reduce(rgb8: np.ndarray, fx: int, fy: int) -> np.ndarray:
    """Image.reduce((fx, fy)) of an H×W×3 uint8 picture: the means of fx×fy blocks (the
    last row and column of blocks may be smaller)."""
    h, w = rgb8.shape[:2]
    out_h, out_w = -(-h // fy), -(-w // fx)
    out = np.empty((out_h, out_w, 3), np.uint8)

    def band(rows: slice) -> None:
        part = Image.fromarray(rgb8[rows.start * fy : rows.stop * fy]).reduce((fx, fy))
        out[rows] = np.asarray(part)

    for_each_band(band, out_h, fy * rgb8[:1].nbytes, _BAND_BYTES)
    return out


def lanczos(rgb8: np.ndarray, size: tuple[int, int], reducing_gap: float = 3.0) -> np.ndarray:
    """Pillow's resize(size, LANCZOS, reducing_gap=reducing_gap) of an H×W×3 uint8 picture,
    with the reduction in bands (same pixels)."""
    h, w = rgb8.shape[:2]
    fx = int(w / size[0] / reducing_gap) or 1
    fy = int(h / size[1] / reducing_gap) or 1
    if fx == 1 and fy == 1:
        return np.asarray(Image.fromarray(rgb8).resize(size, Image.Resampling.LANCZOS))
    small = Image.fromarray(box_reduce(rgb8, fx, fy))
    return np.asarray(small.resize(size, Image.Resampling.LANCZOS, box=(0, 0, w / fx, h / fy)))
