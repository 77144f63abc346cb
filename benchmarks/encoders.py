"""Output encoders at 12 MP, the choice behind writing.PNG_LEVEL, bgcut.deflate and
WEBP_LOSSLESS: bgcut's banded PNG writer at deflate levels 1-3, with zlib's deflate and
with ISA-L's (the isal wheel), against Pillow's PNG at its default level 6 (what
bgcut used before, and what a peer script gets) and at 1, and lossless WebP at method 0
against method 1 (bgcut's previous setting). The picture is a photo mosaic cut-out (RGBA,
the emulator's alpha). Rounds alternate the encoders; medians of 3; every file is decoded
and checked against the pixels.
Run: .venv/bin/python benchmarks/encoders.py [MP]   (default 12)
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from bgcut import deflate
from bgcut.emulator.segment import segment
from bgcut.writing import WEBP_LOSSLESS, png_writer
from common import table, write_json
from photos import mosaic
from PIL import Image

#: Writes the picture (as a Pillow image and as its pixels) to an open file.
Encoder = Callable[[Image.Image, np.ndarray, BinaryIO], None]


def pillow_png(level: int) -> Encoder:
    return lambda im, px, fh: im.save(fh, format="PNG", compress_level=level)


def bgcut_png(level: int, *, isal: bool = True) -> Encoder:
    """bgcut's PNG writer, with ISA-L's deflate (bgcut.deflate) or, for the baseline, zlib's."""

    def encode(im: Image.Image, px: np.ndarray, fh: BinaryIO) -> None:
        fast, deflate._isal = deflate._isal, deflate._isal if isal else None
        try:
            png_writer(px, "cut-out", level)(fh)
        finally:
            deflate._isal = fast

    return encode


def webp(**kw: object) -> Encoder:
    return lambda im, px, fh: im.save(fh, format="WEBP", **kw)


ENCODERS = {
    "Pillow PNG level 6 (before)": pillow_png(6),
    "Pillow PNG level 1": pillow_png(1),
    "bgcut PNG zlib level 1 (before)": bgcut_png(1, isal=False),
    "bgcut PNG zlib level 2": bgcut_png(2, isal=False),
    "bgcut PNG zlib level 3": bgcut_png(3, isal=False),
    "bgcut PNG isal level 1 (now)": bgcut_png(1),
    "bgcut PNG isal level 2": bgcut_png(2),
    "bgcut PNG isal level 3": bgcut_png(3),
    "WebP lossless method 1 (before)": webp(lossless=True, exact=True, method=1),
    "WebP lossless method 0 q0 (now)": webp(**WEBP_LOSSLESS),
}


def main(megapixels: float) -> None:
    rgb = mosaic(megapixels, seed=int(megapixels))
    rgba = np.ascontiguousarray(np.dstack([rgb, segment(rgb)]))
    im = Image.fromarray(rgba, "RGBA")
    times: dict[str, list[float]] = {name: [] for name in ENCODERS}
    sizes: dict[str, int] = {}
    for _ in range(3):
        for name, encode in ENCODERS.items():
            buf = io.BytesIO()
            t0 = time.perf_counter()
            encode(im, rgba, buf)
            times[name].append(time.perf_counter() - t0)
            if name not in sizes:
                sizes[name] = buf.tell()
                assert np.array_equal(np.asarray(Image.open(io.BytesIO(buf.getvalue()))), rgba), name
    base = "Pillow PNG level 6 (before)"
    med = {name: statistics.median(t) for name, t in times.items()}
    rows = [
        [name, med[name], sizes[name] / 1e6, med[base] / med[name], sizes[name] / sizes[base]]
        for name in ENCODERS
    ]
    title = f"Encoding a {megapixels:g} MP RGBA cut-out (median of 3, alternated; exact decode checked)"
    print(table(title, ["encoder", "s", "MB", "speed vs Pillow 6", "bytes vs Pillow 6"], rows))
    data = {"mp": megapixels, "seconds": times, "bytes": sizes}
    print(f"written: {write_json('encoders', data)}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 12)
