"""Bring a coarse mask to full resolution along the source's own edges.

A fast guided filter (He & Sun, 2015): the linear model q = a·I + b is fitted between the
source's luminance I and the mask at the mask's (low) resolution, then a and b are
upsampled smoothly and applied to the full-resolution I. Edges follow the full-res source
instead of the blur of a plain resize, at the cost of two float resizes.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Coefficients a, b are smooth, so they are fitted on at most this many pixels.
WORK_PIXELS = 2_000_000


def luminance(rgb8: np.ndarray) -> np.ndarray:
    """Float32 0..1 luminance (Rec. 601, as Pillow's "L") of an H×W×3 uint8 image."""
    grey = np.asarray(Image.fromarray(np.ascontiguousarray(rgb8[..., :3])).convert("L"))
    return grey.astype(np.float32) * np.float32(1.0 / 255.0)


def resize_float(a: np.ndarray, w: int, h: int, *, smooth: bool = True) -> np.ndarray:
    resample = Image.Resampling.BILINEAR if smooth else Image.Resampling.BOX
    return np.asarray(Image.fromarray(a.astype(np.float32, copy=False), mode="F").resize((w, h), resample))


def resize_mask_plain(mask: np.ndarray, w: int, h: int) -> np.ndarray:
    """The naive way (bilinear on the mask alone), kept for comparison."""
    return np.clip(resize_float(mask, w, h), 0.0, 1.0)


def box(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)² window with edge clamping: two running sums, float32."""
    k = 2 * r + 1
    c = np.cumsum(np.pad(a, ((r + 1, r), (0, 0)), mode="edge"), axis=0, dtype=np.float32)
    v = c[k:] - c[:-k]
    c = np.cumsum(np.pad(v.T, ((r + 1, r), (0, 0)), mode="edge"), axis=0, dtype=np.float32)
    out = (c[k:] - c[:-k]).T
    out *= np.float32(1.0 / (k * k))
    return np.ascontiguousarray(out)


def guided_upsample(
    mask_low: np.ndarray, guide_full: np.ndarray, *, radius: int = 2, eps: float = 1e-3
) -> np.ndarray:
    """mask_low: h×w float 0..1; guide_full: H×W float 0..1 luminance. Returns H×W."""
    h, w = mask_low.shape
    big_h, big_w = guide_full.shape
    if h * w > WORK_PIXELS:
        s = (WORK_PIXELS / (h * w)) ** 0.5
        w, h = max(1, int(w * s)), max(1, int(h * s))
        mask_low = resize_float(mask_low, w, h, smooth=False)
    guide_low = resize_float(guide_full, w, h, smooth=False)
    mean_i = box(guide_low, radius)
    mean_p = box(mask_low, radius)
    cov_ip = box(guide_low * mask_low, radius) - mean_i * mean_p
    var_i = box(guide_low * guide_low, radius) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    out = resize_float(box(a, radius), big_w, big_h) * guide_full
    out += resize_float(box(b, radius), big_w, big_h)
    return np.clip(out, 0.0, 1.0, out=out)
