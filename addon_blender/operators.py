"""The two "Remove Background" operators. In the UI the upload runs in a worker thread with
a progress indicator and Esc to cancel (bpy is touched only on the main thread, from the
modal timer); in background mode (-b) and from scripts they run synchronously."""

from __future__ import annotations

import threading

import bpy

from . import actions, preferences
from .bgcut.errors import BgcutError

_OUTPUT_ITEMS = preferences.OUTPUT_ITEMS


class _RemoveBackground:
    bl_options = {"REGISTER", "UNDO"}

    output: bpy.props.EnumProperty(name="Output", items=_OUTPUT_ITEMS, default="RGBA")  # type: ignore[valid-type]
    quality: bpy.props.StringProperty(name="Quality", description="High, Medium or Low (empty: preferences)")  # type: ignore[valid-type]
    return_type: bpy.props.StringProperty(
        name="Return type", description="PNG, WEBP or WEBP_N (empty: preferences)"
    )  # type: ignore[valid-type]
    max_resolution: bpy.props.IntProperty(name="Max resolution", min=0, max=12_000_000, default=0)  # type: ignore[valid-type]

    # -- what differs between the Image Editor and the compositor ---------------------
    def source_image(self, context) -> bpy.types.Image:
        raise NotImplementedError

    def place(self, context, source: bpy.types.Image, result: bpy.types.Image) -> None:
        return None

    # -- shared ------------------------------------------------------------------------
    def _start(self, context):  # type: ignore[no-untyped-def]
        prefs = preferences.get(context)
        if not self.properties.is_property_set("output") and prefs is not None:
            self.output = prefs.output
        self._source = self.source_image(context)
        options = actions.options_from(
            prefs, quality=self.quality, return_type=self.return_type, max_resolution=self.max_resolution
        )
        px, linear = actions.read_source(self._source)
        engine = actions.engine_from(prefs)
        if engine.notice:
            self.report({"INFO"}, engine.notice)
        return px, linear, options, engine

    def _finish(self, context, cutout) -> None:  # type: ignore[no-untyped-def]
        result = actions.publish(self._source, cutout, self.output)
        self.place(context, self._source, result)
        self.report({"INFO"}, f"Created '{result.name}'")

    def execute(self, context):  # type: ignore[no-untyped-def]
        try:
            px, linear, options, engine = self._start(context)
            self._finish(context, actions.cut(px, linear, options, engine))
        except BgcutError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        except Exception as exc:  # noqa: BLE001 - a bug must reach the user as a message
            self.report({"ERROR"}, failure_text(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def invoke(self, context, event):  # type: ignore[no-untyped-def]
        if bpy.app.background:
            return self.execute(context)
        try:
            px, linear, options, engine = self._start(context)
        except BgcutError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self._cancel = threading.Event()
        self._state = {"fraction": 0.0, "result": None, "error": None}

        def work() -> None:
            try:
                self._state["result"] = actions.cut(
                    px,
                    linear,
                    options,
                    engine,
                    cancel=self._cancel,
                    progress=lambda f, _t: self._state.__setitem__("fraction", f),
                )
            except Exception as exc:  # noqa: BLE001 - reported on the main thread by modal()
                self._state["error"] = exc

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):  # type: ignore[no-untyped-def]
        if event.type == "ESC":
            self._cancel.set()
        if event.type != "TIMER":
            return {"RUNNING_MODAL"} if event.type == "ESC" else {"PASS_THROUGH"}
        wm = context.window_manager
        wm.progress_update(int(self._state["fraction"] * 100))
        if self._thread.is_alive():
            return {"RUNNING_MODAL"}
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        if self._state["error"] is not None:
            self.report({"ERROR"}, failure_text(self._state["error"]))
            return {"CANCELLED"}
        try:
            self._finish(context, self._state["result"])
        except BgcutError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class IMAGE_OT_bgcut_remove_background(_RemoveBackground, bpy.types.Operator):
    """Remove the background of an image into a new packed image ('<name> cut' or '<name> mask')"""

    bl_idname = "image.bgcut_remove_background"
    bl_label = "Remove Background"

    image: bpy.props.StringProperty(name="Image", description="Image to cut (empty: the editor's image)")  # type: ignore[valid-type]

    def source_image(self, context) -> bpy.types.Image:
        if self.image:
            image = bpy.data.images.get(self.image)
            if image is None:
                raise BgcutError(f"There is no image named '{self.image}'.")
            return image
        space = context.space_data
        image = getattr(space, "image", None) if space is not None else None
        if image is None:
            raise BgcutError('Open an image in the Image Editor first (or pass image="Name").')
        return image


class NODE_OT_bgcut_remove_background(_RemoveBackground, bpy.types.Operator):
    """Cut the active Image node's image and add the result to the compositor tree"""

    bl_idname = "node.bgcut_remove_background"
    bl_label = "Remove Background"

    @classmethod
    def poll(cls, context) -> bool:
        node = _active_image_node(context)
        return node is not None and node.image is not None

    def source_image(self, context) -> bpy.types.Image:
        node = _active_image_node(context)
        if node is None or node.image is None:
            raise BgcutError("Select an Image node with an image in the compositor first.")
        self._node, self._tree = node, node.id_data
        return node.image

    def place(self, context, source: bpy.types.Image, result: bpy.types.Image) -> None:
        actions.wire_result(self._tree, self._node, result, self.output)


def failure_text(exc: BaseException) -> str:
    """bgcut's own message, or the type only: a foreign exception's text may quote what it
    was given, the API key included."""
    if isinstance(exc, BgcutError):
        return str(exc)
    return f"bgcut failed unexpectedly ({type(exc).__name__}); nothing was changed. Please report this."


def _active_image_node(context):  # type: ignore[no-untyped-def]
    space = context.space_data
    tree = getattr(space, "edit_tree", None) if space is not None and space.type == "NODE_EDITOR" else None
    if tree is None or tree.bl_idname != "CompositorNodeTree":
        return None
    node = tree.nodes.active
    return node if node is not None and node.bl_idname == "CompositorNodeImage" else None


classes = (IMAGE_OT_bgcut_remove_background, NODE_OT_bgcut_remove_background)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
