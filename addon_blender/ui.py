"""Menus and sidebar panels: Image ▸ Remove Background, Node ▸ Remove Background."""

from __future__ import annotations

import bpy

from .actions import CutJob
from .bgcut import choices
from .operators import IMAGE_OT_bgcut_remove_background as ImageOp
from .operators import NODE_OT_bgcut_remove_background as NodeOp
from .operators import WM_OT_bgcut_cancel as CancelOp


def _image_menu(self, context) -> None:
    self.layout.separator()
    self.layout.operator_context = "INVOKE_REGION_WIN"  # the UI path: progress, Esc
    self.layout.operator(ImageOp.bl_idname, text="Remove Background", icon="IMAGE_RGB_ALPHA")


def _node_menu(self, context) -> None:
    if NodeOp.poll(context):
        self.layout.separator()
        self.layout.operator_context = "INVOKE_REGION_WIN"
        self.layout.operator(NodeOp.bl_idname, text="Remove Background", icon="IMAGE_RGB_ALPHA")


def _draw_running(layout) -> bool:  # type: ignore[no-untyped-def]
    """While a cut runs: its stage on Blender's progress bar and a Cancel button."""
    if not CutJob.running:
        return False
    job = CutJob.running[-1]
    col = layout.column(align=True)
    col.progress(factor=job.fraction, type="BAR", text=job.status(short=True))
    col.operator(CancelOp.bl_idname, text="Cancel", icon="CANCEL")
    return True


class NODE_PT_bgcut(bpy.types.Panel):
    bl_label = "Remove Background"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "bgcut"

    @classmethod
    def poll(cls, context) -> bool:
        return NodeOp.poll(context)

    def draw(self, context) -> None:
        if _draw_running(self.layout):
            return
        col = self.layout.column(align=True)
        for output in choices.BLENDER_OUTPUTS:  # a mask is wired through a Set Alpha node
            text = f"{output.label} + Set Alpha" if output.value == "MASK" else output.label
            col.operator(NodeOp.bl_idname, text=text).output = output.value


class IMAGE_PT_bgcut(bpy.types.Panel):
    bl_label = "Remove Background"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "bgcut"

    @classmethod
    def poll(cls, context) -> bool:
        return getattr(context.space_data, "image", None) is not None

    def draw(self, context) -> None:
        if _draw_running(self.layout):
            return
        col = self.layout.column(align=True)
        for output in choices.BLENDER_OUTPUTS:
            col.operator(ImageOp.bl_idname, text=output.label).output = output.value


_menus = (
    (bpy.types.IMAGE_MT_image, _image_menu),
    (bpy.types.NODE_MT_node, _node_menu),
    (bpy.types.NODE_MT_context_menu, _node_menu),
)
_panels = (NODE_PT_bgcut, IMAGE_PT_bgcut)


def register() -> None:
    for cls in _panels:
        bpy.utils.register_class(cls)
    for menu, fn in _menus:
        menu.append(fn)


def unregister() -> None:
    for menu, fn in _menus:
        menu.remove(fn)
    for cls in reversed(_panels):
        bpy.utils.unregister_class(cls)
