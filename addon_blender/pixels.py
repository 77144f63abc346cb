"""Pixels in and out of Blender images: foreach_get/foreach_set with numpy, never loops.

Blender rows are bottom-up; byte images hold sRGB-encoded values, float images hold
scene-linear values. A new image gets the source's kind, so where alpha is 1 a cut-out
shows exactly the source's values.
"""

from __future__ import annotations

import bpy
import numpy as np

from .bgcut.units import unit_to_u8
from .bgcut.writing import png_bytes


def read(image: bpy.types.Image) -> tuple[np.ndarray, bool]:
    """(H×W×C top-down pixels, True when the values are scene-linear): float32 for a float
    image; uint8 for a byte image, whose floats Blender makes as byte/255, so they round
    back to its own bytes. The core then works on a quarter of the memory and the cut-out
    is packed without a float pass: a 12 MP cut against the emulator took 2.0 s in all,
    against 2.9 s from floats (same run), for 0.07 s more here."""
    w, h = image.size
    ch = image.channels
    if w == 0 or h == 0:
        raise ValueError(f"Image '{image.name}' has no pixels (is its file missing?).")
    buf = np.empty(w * h * ch, dtype=np.float32)
    image.pixels.foreach_get(buf)
    px = buf.reshape(h, w, ch)[::-1]
    if image.is_float:
        return px, True
    return unit_to_u8(px), False


def new_image(
    name: str, pixels: np.ndarray, *, float_buffer: bool, non_color: bool = False
) -> bpy.types.Image:
    """A packed image datablock from H×W×4 (or H×W) top-down pixels: float32 in 0..1, or uint8.

    A byte image is packed from a PNG bgcut encodes quickly (Blender's own encoder at its
    default level costs ~0.8 s at 12 MP) and Blender decodes it on first use; a float image
    keeps its values through Blender's own pixels and packing (OpenEXR)."""
    if float_buffer:
        return _from_float_pixels(name, pixels, non_color)
    png = png_bytes(pixels)
    image = bpy.data.images.new(name, 1, 1, alpha=True)
    image.source = "FILE"
    image.filepath = f"//{bpy.path.clean_name(name)}.png"
    image.pack(data=png, data_len=len(png))
    image.alpha_mode = "STRAIGHT"
    if non_color:
        image.colorspace_settings.name = "Non-Color"
    return image


def _from_float_pixels(name: str, pixels: np.ndarray, non_color: bool) -> bpy.types.Image:
    if pixels.dtype == np.uint8:
        pixels = pixels.astype(np.float32) * (1.0 / 255.0)
    if pixels.ndim == 2:
        pixels = np.dstack([pixels, pixels, pixels, np.ones_like(pixels)])
    h, w = pixels.shape[:2]
    image = bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
    if non_color:
        image.colorspace_settings.name = "Non-Color"
    image.alpha_mode = "STRAIGHT"
    image.pixels.foreach_set(np.ascontiguousarray(pixels[::-1], dtype=np.float32).ravel())
    image.update()
    image.pack()
    return image
