"""Bring a coarse mask to full resolution along the source's own edges.

A fast guided filter (He & Sun, 2015): the linear model q = a·I + b is fitted between the
source's luminance I and the mask at the mask's (low) resolution, then a and b are
upsampled smoothly and applied to the full-resolution I. Edges follow the full-res source
instead of the blur of a plain resize, at the cost of two float resizes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luminance(rgb8: np.ndarray) -> np.ndarray:
    """Float32 0..1 luminance of an H×W×3 uint8 image."""
    return (rgb8.astype(np.float32) @ (_LUMA / 255.0)).astype(np.float32)


def resize_float(a: np.ndarray, w: int, h: int, *, smooth: bool = True) -> np.ndarray:
    resample = Image.Resampling.BILINEAR if smooth else Image.Resampling.NEAREST
    return np.asarray(Image.fromarray(a.astype(np.float32), mode="F").resize((w, h), resample))


def resize_mask_plain(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    """The naive way (bilinear on the mask alone), kept for comparison and fallbacks."""
    return np.clip(resize_float(mask, w, h), 0.0, 1.0)


def box(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window with edge clamping, via cumulative sums."""
    pad = np.pad(a, ((r + 1, r), (r + 1, r)), mode="edge").astype(np.float64)
    c = pad.cumsum(0).cumsum(1)
    k = 2 * r + 1
    s = c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]
    return (s / (k * k)).astype(np.float32)


def guided_upsample(
    mask_low: np.ndarray, guide_full: np.ndarray, *, radius: int = 2, eps: float = 1e-3
) -> np.ndarray:
    """mask_low: h×w float 0..1; guide_full: H×W float 0..1 luminance. Returns H×W."""
    h, w = mask_low.shape
    big_h, big_w = guide_full.shape
    guide_low = resize_float(guide_full, w, h)
    r = max(1, radius)
    mean_i = box(guide_low, r)
    mean_p = box(mask_low, r)
    corr_ip = box(guide_low * mask_low, r)
    var_i = box(guide_low * guide_low, r) - mean_i * mean_i
    a = (corr_ip - mean_i * mean_p) / (var_i + eps)
    b = mean_p - a * mean_i
    a_full = resize_float(box(a, r), big_w, big_h)
    b_full = resize_float(box(b, r), big_w, big_h)
    out = a_full * guide_full
    out += b_full
    return np.clip(out, 0.0, 1.0, out=out)
