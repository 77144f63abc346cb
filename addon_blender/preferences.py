"""Add-on preferences. The API key is not stored by Blender: the field reads and writes the
core's 0600 config file, so it never lands in userpref.blend or a .blend file."""

from __future__ import annotations

import bpy

from .bgcut import config
from .bgcut.errors import BgcutError

OUTPUT_ITEMS = [
    ("RGBA", "Cut-out", "A new RGBA image with the background removed"),
    ("MASK", "Mask", "A new grayscale image holding the mask"),
]
ENGINE_ITEMS = [
    ("auto", "Automatic", "BackgroundCut when an API key is set, otherwise the offline model"),
    ("backgroundcut", "BackgroundCut", "The BackgroundCut service (needs an API key and credits)"),
    (
        "local",
        "Offline model",
        "u2netp on this computer: no key, no upload (extension built with --local-engine)",
    ),
]
QUALITY_ITEMS = [(q, q, f"BackgroundCut quality {q}") for q in ("High", "Medium", "Low")]


def _get_key(self) -> str:
    try:
        return config.read_config().get("api_key", "")
    except BgcutError:
        return ""


def _set_key(self, value: str) -> None:
    if value.strip():
        config.store_key(value)
    else:
        config.forget_key()


class BgcutPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    api_key: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="API key",
        description="Your BackgroundCut API key (kept in bgcut's private config file, not in Blender)",
        subtype="PASSWORD",
        get=_get_key,
        set=_set_key,
        options={"SKIP_SAVE"},
    )
    endpoint: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Endpoint", description="Leave empty for BackgroundCut's own API", default=""
    )
    engine: bpy.props.EnumProperty(name="Engine", items=ENGINE_ITEMS, default="auto")  # type: ignore[valid-type]
    quality: bpy.props.EnumProperty(name="Quality", items=QUALITY_ITEMS, default="Medium")  # type: ignore[valid-type]
    return_type: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Return type", description="PNG, WEBP or WEBP_1 .. WEBP_100", default="WEBP"
    )
    output: bpy.props.EnumProperty(name="Output", items=OUTPUT_ITEMS, default="RGBA")  # type: ignore[valid-type]

    def draw(self, context) -> None:
        layout = self.layout
        layout.prop(self, "engine")
        layout.prop(self, "api_key")
        layout.prop(self, "endpoint")
        row = layout.row()
        row.prop(self, "quality")
        row.prop(self, "return_type")
        layout.prop(self, "output")


def get(context=None) -> BgcutPreferences | None:
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def register() -> None:
    bpy.utils.register_class(BgcutPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(BgcutPreferences)
