"""Test pictures made in code: a subject on a background, with photo-like texture.

The subject's true mask is returned too, so tests can assert on overlap, not on "it ran".
"""

from __future__ import annotations

import io

import numpy as np
from bgcut.refine import resize_float
from PIL import Image


def subject_photo(width: int = 640, height: int = 480, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(H×W×3 uint8 picture, H×W bool true mask): a textured ellipse on a soft gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    bg = np.empty((height, width, 3), np.float32)
    bg[..., 0] = 205 + 20 * (xx / width)
    bg[..., 1] = 215 + 15 * (yy / height)
    bg[..., 2] = 232
    cy, cx = height * 0.55, width * 0.5
    ry, rx = height * 0.35, width * 0.25
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    fg = np.empty_like(bg)
    fg[..., 0] = 150 + 40 * np.sin(xx / 17.0)
    fg[..., 1] = 60 + 30 * np.cos(yy / 23.0)
    fg[..., 2] = 40 + 20 * np.sin((xx + yy) / 31.0)
    img = np.where(inside[..., None], fg, bg)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(3.0)
    return np.clip(img, 0, 255).astype(np.uint8), inside


def encode(img: np.ndarray, fmt: str = "PNG", **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format=fmt, **kw)
    return buf.getvalue()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return float((a & b).sum() / max(1, (a | b).sum()))


def resize_mask_plain(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    """The naive way peers bring a coarse mask to full size (bilinear on the mask alone),
    the baseline guided upsampling is measured against."""
    return np.clip(resize_float(mask, w, h), 0.0, 1.0)
