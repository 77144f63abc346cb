"""Decoding the service's answer at 12 MP, the choice behind bgcut.webp: libwebp's own
WebPDecode on two threads into bgcut's array (now), against Pillow's animation decoder
viewed without copies (answer._webp_direct, before) and Image.open + np.asarray (what a
peer script does). The answers are the emulator's own WebP encodings (its default
"WEBP" and "WEBP_90") of a photo mosaic cut-out. Rounds alternate the decoders; medians
of 5; every road's pixels are checked equal.
Run: .venv/bin/python benchmarks/answer_decode.py [MP]   (default 12)
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from bgcut import webp
from bgcut.answer import _check_size, _webp_direct
from bgcut.emulator.segment import segment
from bgcut.emulator.server import _encode
from common import table, write_json
from photos import mosaic
from PIL import Image


def image_open(data: bytes) -> np.ndarray | None:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))


DECODERS: dict[str, Callable[[bytes], np.ndarray | None]] = {
    "Image.open + asarray (peer)": image_open,
    "Pillow direct (before)": _webp_direct,
    "libwebp threaded (now)": lambda data: webp.decode(data, _check_size),
}


def main(megapixels: float) -> None:
    rgb = mosaic(megapixels, seed=int(megapixels))
    im = Image.fromarray(np.dstack([rgb, segment(rgb)]), "RGBA")
    rows, records = [], []
    for return_type in ("WEBP", "WEBP_90"):
        data, _ = _encode(im, return_type)
        times: dict[str, list[float]] = {name: [] for name in DECODERS}
        ref = image_open(data)
        for i in range(5):
            order = list(DECODERS) if i % 2 == 0 else list(DECODERS)[::-1]
            for name in order:
                t0 = time.perf_counter()
                out = DECODERS[name](data)
                times[name].append(time.perf_counter() - t0)
                assert out is not None and np.array_equal(out, ref), name
        med = {name: statistics.median(t) for name, t in times.items()}
        base = "Pillow direct (before)"
        for name in DECODERS:
            rows.append([return_type, len(data) / 1e6, name, med[name], med[base] / med[name]])
        records.append({"return_type": return_type, "bytes": len(data), "seconds": times})
    title = f"Decoding a {megapixels:g} MP WebP answer (median of 5, alternated; pixels checked equal)"
    print(table(title, ["answer", "MB", "decoder", "s", "speed vs before"], rows))
    print(f"written: {write_json('answer_decode', {'mp': megapixels, 'answers': records})}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 12)
