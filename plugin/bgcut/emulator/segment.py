"""The emulator's deterministic segmentation: what differs from the border colour is kept.

Good enough for test pictures (a subject on a plain or gently varying background) and
fully reproducible; it makes no claim to the real service's quality.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def segment(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 → H×W uint8 alpha."""
    h, w = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    background = np.median(border, axis=0)
    spread = float(np.median(np.abs(border - background).sum(axis=1)))
    dist = np.abs(rgb.astype(np.float32) - background).sum(axis=2)
    low = max(24.0, 3.0 * spread)
    alpha = np.clip((dist - low) / low, 0.0, 1.0)
    im = Image.fromarray((alpha * 255).astype(np.uint8))
    radius = max(1, min(h, w) // 400)
    im = im.filter(ImageFilter.MedianFilter(3)).filter(ImageFilter.GaussianBlur(radius * 0.6))
    return np.asarray(im)
