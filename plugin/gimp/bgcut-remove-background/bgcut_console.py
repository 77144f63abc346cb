"""The gimpfu-style short form for GIMP's Python console and scripts (GIMP 3.0 and 3.2).

    import sys; sys.path.append(Gimp.directory() + "/plug-ins/bgcut-remove-background"); from bgcut_console import *
    bgcut_remove_background(image, output="rgba-layer")
    pdb.plug_in_bgcut_remove_background(image, image.get_selected_layers(), output="selection")

Both run the plug-in through the PDB (in its own process, as the menu does), so this module
needs nothing but GIMP's own Python: no numpy, Pillow or requests.
"""

from __future__ import annotations

import gi

gi.require_version("Gimp", "3.0")
from gi.repository import Gimp  # noqa: E402

__all__ = ["bgcut_remove_background", "pdb"]
PROC_NAME = "plug-in-bgcut-remove-background"


def bgcut_remove_background(image=None, drawables=None, **options) -> list:
    """Cut the selected layers of `image` (the first open image when None), or `drawables`
    (a layer or a list). Options are the procedure's arguments with underscores:
    output="layer-mask" | "rgba-layer" | "mask-layer" | "selection", selection_mode=...,
    quality=..., return_format=..., max_megapixels=..., engine=... Returns the layers it
    added; raises RuntimeError with GIMP's message when the cut failed (the image is then
    as it was)."""
    return _run(PROC_NAME, image, drawables, options)


class _Pdb:
    """`pdb.plug_in_x(image, drawables, name=value, ...)` as gimpfu had it, for image
    procedures (the first two arguments are the image and its drawables)."""

    def __getattr__(self, name: str):
        proc_name = name.replace("_", "-")
        if Gimp.get_pdb().lookup_procedure(proc_name) is None:
            raise AttributeError(f"GIMP has no procedure {proc_name!r}")
        return lambda image=None, drawables=None, **options: _run(proc_name, image, drawables, options)


pdb = _Pdb()


def _run(proc_name: str, image, drawables, options: dict) -> list:
    image = image if image is not None else Gimp.get_images()[0]
    if drawables is None:
        drawables = image.get_selected_layers()
    elif not isinstance(drawables, (list, tuple)):
        drawables = [drawables]
    proc = Gimp.get_pdb().lookup_procedure(proc_name)
    config = proc.create_config()
    config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    config.set_property("image", image)
    config.set_core_object_array("drawables", list(drawables))
    for key, value in options.items():
        config.set_property(key.replace("_", "-"), value)
    before = {layer.get_id() for layer in image.get_layers()}
    result = proc.run(config)
    if result.index(0) != Gimp.PDBStatusType.SUCCESS:
        message = result.index(1) if result.length() > 1 else None
        raise RuntimeError(message or f"{proc_name} ended with {result.index(0).value_nick}")
    return [layer for layer in image.get_layers() if layer.get_id() not in before]
