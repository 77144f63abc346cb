"""What Remove Background does in Blender, shared by both operators and by scripts.

`cut` runs the core (no bpy: safe in a worker thread); `read_source` and `publish` touch
bpy and run on the main thread only. `remove_background` chains them for scripts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import bpy
import numpy as np

from . import pixels, preferences
from .bgcut import CutOptions, Cutout, make_engine
from .bgcut import remove_background as core_remove
from .bgcut.errors import BgcutError

OUTPUTS = ("RGBA", "MASK")


class OfflineError(BgcutError):
    def __init__(self) -> None:
        super().__init__(
            "Blender is offline: allow online access in Preferences ▸ System ▸ Network, "
            "then run Remove Background again. Nothing was changed."
        )


def check_online() -> None:
    if not bpy.app.online_access:
        raise OfflineError()


def options_from(prefs, *, quality: str = "", return_type: str = "", max_resolution: int = 0) -> CutOptions:
    return CutOptions(
        quality=quality or (prefs.quality if prefs else CutOptions.quality),
        return_type=(return_type or (prefs.return_type if prefs else CutOptions.return_type)).strip(),
        max_resolution=max_resolution or CutOptions.max_resolution,
    )


def engine_from(prefs):  # type: ignore[no-untyped-def]
    endpoint = prefs.endpoint.strip() if prefs and prefs.endpoint.strip() else None
    kind = prefs.engine if prefs else "auto"
    engine = make_engine(kind, endpoint=endpoint)
    if engine.name == "backgroundcut":
        check_online()  # the offline engine needs no network, so Blender's setting only gates uploads
    return engine


def read_source(image: bpy.types.Image) -> tuple[np.ndarray, bool]:
    try:
        return pixels.read(image)
    except ValueError as exc:
        raise BgcutError(str(exc)) from None


def cut(
    px: np.ndarray,
    linear: bool,
    options: CutOptions,
    engine,  # type: ignore[no-untyped-def]
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Cutout:
    return core_remove(px, options, engine=engine, linear=linear, cancel=cancel, progress=progress)


def publish(source: bpy.types.Image, cutout: Cutout, output: str) -> bpy.types.Image:
    """The new datablock: '<name> cut' (RGBA) or '<name> mask'; the source is untouched."""
    if output == "MASK":
        return pixels.new_image(f"{source.name} mask", cutout.mask_unit(), float_buffer=False, non_color=True)
    return pixels.new_image(f"{source.name} cut", cutout.rgba, float_buffer=bool(source.is_float))


def remove_background(
    image: bpy.types.Image | str,
    output: str = "RGBA",
    *,
    quality: str = "",
    return_type: str = "",
    max_resolution: int = 0,
) -> bpy.types.Image:
    """For scripts with no UI context: cut an image datablock (or its name) synchronously."""
    if isinstance(image, str):
        image = bpy.data.images[image]
    if output not in OUTPUTS:
        raise BgcutError(f"Unknown output {output!r}: use RGBA or MASK.")
    prefs = preferences.get()
    options = options_from(prefs, quality=quality, return_type=return_type, max_resolution=max_resolution)
    px, linear = read_source(image)
    result = cut(px, linear, options, engine_from(prefs))
    return publish(image, result, output)


def compositor_tree(scene: bpy.types.Scene):  # type: ignore[no-untyped-def]
    """Blender 5.x keeps the compositor in scene.compositing_node_group, 4.x in node_tree."""
    tree = getattr(scene, "compositing_node_group", None)
    if tree is None:
        tree = getattr(scene, "node_tree", None)
    return tree


def wire_result(tree, source_node, new_image: bpy.types.Image, output: str):  # type: ignore[no-untyped-def]
    """Add the result next to the source Image node; in MASK mode through a Set Alpha node."""
    x, y = source_node.location
    image_node = tree.nodes.new("CompositorNodeImage")
    image_node.image = new_image
    image_node.label = new_image.name
    image_node.location = (x, y - 320)
    if output != "MASK":
        return image_node
    set_alpha = tree.nodes.new("CompositorNodeSetAlpha")
    set_alpha.location = (x + 300, y - 160)
    if "Type" in set_alpha.inputs:
        set_alpha.inputs["Type"].default_value = "Replace Alpha"
    else:
        set_alpha.mode = "REPLACE_ALPHA"
    tree.links.new(source_node.outputs["Image"], set_alpha.inputs["Image"])
    tree.links.new(image_node.outputs["Image"], set_alpha.inputs["Alpha"])
    return set_alpha
