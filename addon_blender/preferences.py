"""Add-on preferences. The API key is not stored by Blender: the field reads and writes the
core's 0600 config file, so it never lands in userpref.blend or a .blend file."""

from __future__ import annotations

import sys
import textwrap

import bpy

from . import compat
from .bgcut import choices, config
from .bgcut.errors import BgcutError, message_for

#: what Blender adds to the core's help for a value
_NOTES = {"local": "extension built with --local-engine"}


def enum_items(options: choices.Choices) -> list[tuple[str, str, str]]:
    """An EnumProperty's items from one of bgcut.choices' tables (identifier, name, help)."""
    return [
        (c.value, c.label, f"{c.help} ({_NOTES[c.value]})" if c.value in _NOTES else c.help) for c in options
    ]


OUTPUT_ITEMS = enum_items(choices.BLENDER_OUTPUTS)
ENGINE_ITEMS = enum_items(choices.ENGINES)
QUALITY_ITEMS = enum_items(choices.QUALITIES)


def _get_key(self) -> str:
    try:
        return config.read_config().get("api_key", "")
    except BgcutError:
        return ""


#: Why the last key typed into the field was refused; shown under it (a setter's
#: exception would only reach the console).
_refused: list[str] = []


def _set_key(self, value: str) -> None:
    """Store the key in bgcut's config, or say why not; the key is never part of the text."""
    _refused.clear()
    try:
        if value.strip():
            config.store_key(value)
        else:
            config.forget_key()
    except BgcutError as exc:
        _refused.append(message_for(exc, "blender"))
        print(f"bgcut: {_refused[0]}", file=sys.stderr)


def key_problem() -> str | None:
    """Why the key typed or stored cannot be used, in words for the user; None when fine."""
    if _refused:
        return _refused[0]
    try:
        stored = config.read_config().get("api_key")
        if stored is not None:
            config.check_key(stored, config.KEY_FROM_CONFIG)
    except BgcutError as exc:
        return message_for(exc, "blender")
    return None


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
    engine: bpy.props.EnumProperty(name="Engine", items=ENGINE_ITEMS, default=choices.ENGINES.default)  # type: ignore[valid-type]
    quality: bpy.props.EnumProperty(name="Quality", items=QUALITY_ITEMS, default=choices.QUALITIES.default)  # type: ignore[valid-type]
    return_type: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Return type", description=choices.RETURN_TYPES_TEXT, default=choices.DEFAULT_RETURN_TYPE
    )
    output: bpy.props.EnumProperty(name="Output", items=OUTPUT_ITEMS, default=choices.BLENDER_OUTPUTS.default)  # type: ignore[valid-type]
    decontaminate: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Decontaminate edge colours",
        description="Where bgcut builds the cut-out itself (offline model, images over 12 MP, float "
        "images), estimate the subject's colour at its soft edge so the old background does not show",
        default=True,
    )

    def draw(self, context) -> None:
        layout = self.layout
        unavailable = compat.missing_packages()
        if unavailable:
            col = layout.column(align=True)
            for n, line in enumerate(textwrap.wrap(unavailable, 90)):
                col.label(text=line, icon="ERROR" if n == 0 else "BLANK1")
        layout.prop(self, "engine")
        layout.prop(self, "api_key")
        problem = key_problem()
        if problem:
            col = layout.column(align=True)
            for n, line in enumerate(textwrap.wrap(problem, 90)):
                col.label(text=line, icon="ERROR" if n == 0 else "BLANK1")
        layout.prop(self, "endpoint")
        row = layout.row()
        row.prop(self, "quality")
        row.prop(self, "return_type")
        layout.prop(self, "output")
        layout.prop(self, "decontaminate")


def get(context=None) -> BgcutPreferences | None:
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def register() -> None:
    bpy.utils.register_class(BgcutPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(BgcutPreferences)
