"""Pixels in and out of Blender images: foreach_get/foreach_set with numpy, never loops.

Blender rows are bottom-up; byte images hold sRGB-encoded values, float images hold
scene-linear values. A new image gets the source's kind, so where alpha is 1 a cut-out
shows exactly the source's values.
"""

from __future__ import annotations

import bpy
import numpy as np


def read(image: bpy.types.Image) -> tuple[np.ndarray, bool]:
    """(H×W×C float32 top-down pixels, True when the values are scene-linear)."""
    w, h = image.size
    ch = image.channels
    if w == 0 or h == 0:
        raise ValueError(f"Image '{image.name}' has no pixels (is its file missing?).")
    buf = np.empty(w * h * ch, dtype=np.float32)
    image.pixels.foreach_get(buf)
    return buf.reshape(h, w, ch)[::-1], bool(image.is_float)


def new_image(
    name: str, pixels: np.ndarray, *, float_buffer: bool, non_color: bool = False
) -> bpy.types.Image:
    """A packed image datablock from H×W×4 (or H×W) float32 top-down pixels."""
    if pixels.ndim == 2:
        pixels = np.dstack([pixels, pixels, pixels, np.ones_like(pixels)])
    h, w = pixels.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=float_buffer)
    if non_color:
        image.colorspace_settings.name = "Non-Color"
    image.alpha_mode = "STRAIGHT"
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1], dtype=np.float32).ravel())
    image.update()
    image.pack()
    return image
