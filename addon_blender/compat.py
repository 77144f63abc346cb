"""When this Blender's Python is one the bundled wheels do not cover: the add-on still
loads, and its menu entry, operators and preferences say so in a sentence."""

from __future__ import annotations

import importlib
import sys

import bpy

_NEEDED = ("numpy", "PIL.Image", "requests")


def missing_packages() -> str | None:
    """The sentence for the user, or None when everything bgcut needs imports."""
    missing = []
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name.split(".")[0].replace("PIL", "Pillow"))
    if not missing:
        return None
    version = "{}.{}".format(*sys.version_info[:2])
    return (
        f"bgcut cannot run in this Blender: it uses Python {version}, and the {', '.join(missing)} "
        f"bundled with the extension do not cover that version. Install a bgcut build made "
        f"for Python {version} (python install.py --build-blender), or a Blender that uses "
        "Python 3.11 to 3.14."
    )


class _Unavailable:
    """Takes the same arguments as the real operators, so scripts get the sentence too."""

    bl_label = "Remove Background"

    output: bpy.props.StringProperty(name="Output")  # type: ignore[valid-type]
    quality: bpy.props.StringProperty(name="Quality")  # type: ignore[valid-type]
    return_type: bpy.props.StringProperty(name="Return type")  # type: ignore[valid-type]
    max_resolution: bpy.props.IntProperty(name="Max resolution")  # type: ignore[valid-type]
    image: bpy.props.StringProperty(name="Image")  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        self.report({"ERROR"}, missing_packages() or "Restart Blender to use bgcut.")
        return {"CANCELLED"}


class IMAGE_OT_bgcut_remove_background(_Unavailable, bpy.types.Operator):
    """bgcut cannot run in this Blender's Python (see the add-on's preferences)"""

    bl_idname = "image.bgcut_remove_background"


class NODE_OT_bgcut_remove_background(_Unavailable, bpy.types.Operator):
    """bgcut cannot run in this Blender's Python (see the add-on's preferences)"""

    bl_idname = "node.bgcut_remove_background"


def _image_menu(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.separator()
    self.layout.operator(IMAGE_OT_bgcut_remove_background.bl_idname, text="Remove Background")


classes = (IMAGE_OT_bgcut_remove_background, NODE_OT_bgcut_remove_background)


def register() -> None:
    print(f"bgcut: {missing_packages()}", file=sys.stderr)
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.IMAGE_MT_image.append(_image_menu)


def unregister() -> None:
    bpy.types.IMAGE_MT_image.remove(_image_menu)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
