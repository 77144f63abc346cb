"""The quick PNG the Blender extension packs its results from (bgcut.writing): lossless
for 8-bit RGBA and grey, from uint8 or 0..1 floats, across band boundaries."""

from __future__ import annotations

import io

import numpy as np
import pytest
from bgcut.writing import png_bytes
from PIL import Image


@pytest.mark.parametrize("shape", [(1, 1, 4), (255, 3, 4), (256, 5, 4), (513, 7, 4), (300, 257)])
def test_png_bytes_round_trips_exactly(shape):
    px = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    for given in (px, px.astype(np.float32) / 255):
        im = Image.open(io.BytesIO(png_bytes(given)))
        assert im.mode == ("L" if len(shape) == 2 else "RGBA")
        assert np.array_equal(np.asarray(im), px)


def test_png_bytes_clips_floats_and_refuses_other_shapes():
    px = np.array([[[-0.5, 0.5, 1.5, 1.0]]], np.float32)
    assert np.asarray(Image.open(io.BytesIO(png_bytes(px)))).tolist() == [[[0, 128, 255, 255]]]
    with pytest.raises(ValueError):
        png_bytes(np.zeros((2, 2, 3), np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_png_bytes_rounds_floats_as_before_in_every_chunk(dtype):
    """Clamped, ×255, +0.5, cut — per value, whatever the chunk and band it falls in."""
    rng = np.random.default_rng(5)
    steps = np.arange(256, dtype=dtype) / 255
    px = rng.uniform(-0.1, 1.1, (700, 97, 4)).astype(dtype)
    px[:256, 0, 0] = steps + dtype(0.5 / 255)  # on the rounding edges
    px[:256, 1, 0] = np.nextafter(steps + dtype(0.5 / 255), dtype(0))
    want = (np.clip(px, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png_bytes(px)))), want)


def test_the_fast_deflate_is_installed_and_joins_bands_as_zlib_does():
    """ISA-L's deflate (the `isal` dependency) is what bgcut writes with here; its bands,
    each ended with a sync flush, inflate as one stream to the same bytes as zlib's."""
    import zlib

    from bgcut import deflate

    assert deflate.engine() == "isal"
    rng = np.random.default_rng(3)
    bands = [rng.integers(0, 8, 70_001, dtype=np.uint8).tobytes(), b"", bytes(100_000), b"\x07" * 5]
    for level in (0, 1, 2, 3, 6):
        for fast in (True, False):
            body = b""
            for band in bands:
                pack = deflate.raw_compressor(level, fast=fast)
                body += pack.compress(band) + pack.flush(deflate.SYNC_FLUSH)
            assert zlib.decompressobj(-15).decompress(body + b"\x03\x00") == b"".join(bands)
