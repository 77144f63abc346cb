"""The two "Remove Background" operators, and Cancel. In the UI the upload runs in a worker
thread (actions.CutJob) with its stage in the status bar and the panels, and Esc (or the
panel's Cancel) abandons it at once; bpy is touched only on the main thread, from the modal
timer. In background mode (-b) and from scripts they run synchronously.

Their own problems are raised as `HostError`, as actions' are; they catch `BgcutError`, which
also holds a cancel (it keeps its own type, see actions.cut)."""

from __future__ import annotations

import bpy

from . import actions, preferences
from .bgcut import choices
from .bgcut.errors import BgcutError, HostError, message_for


class _RemoveBackground:
    bl_options = {"REGISTER", "UNDO"}

    output: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Output", items=preferences.OUTPUT_ITEMS, default=choices.BLENDER_OUTPUTS.default
    )
    # free text, so that empty can mean "the preferences' choice"; any case is accepted
    quality: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Quality", description=f"{choices.QUALITIES.text()} (empty: preferences)"
    )
    return_type: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Return type", description=f"{choices.RETURN_TYPES_TEXT} (empty: preferences)"
    )
    max_resolution: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Max resolution",
        description="Pixels sent at most (0: the service's limit, 12 MP)",
        min=0,
        max=choices.MAX_PIXELS,
        default=0,
    )

    # -- what differs between the Image Editor and the compositor ---------------------
    def source_image(self, context) -> bpy.types.Image:
        raise NotImplementedError

    def place(self, context, source: bpy.types.Image, new_image: bpy.types.Image) -> None:
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
            self.report({"INFO"}, message_for(engine.notice, actions.HOST))
        return px, linear, options, engine

    def _finish(self, context, cutout) -> None:  # type: ignore[no-untyped-def]
        new_image = actions.publish(self._source, cutout, self.output)
        self.place(context, self._source, new_image)
        self.report({"INFO"}, f"Created '{new_image.name}'")

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
        self._job = actions.CutJob(px, linear, options, engine)
        self._writing = False
        wm = context.window_manager
        wm.progress_begin(0, 100)
        self._workspace = context.workspace
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        self._show(context)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):  # type: ignore[no-untyped-def]
        """Polls the worker on a timer; Esc (or the panel's Cancel) ends at once."""
        job = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.stop()
        if job.cancelled:
            return self._end(context, {"WARNING"}, actions.CANCELLED_TEXT)
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        if not job.done:
            self._show(context)
            return {"RUNNING_MODAL"}
        if job.error is not None:
            return self._end(context, {"ERROR"}, failure_text(job.error))
        if not self._writing:  # one more tick, so "Writing" is on screen while it happens
            self._writing = True
            job.stage, job.fraction = "Writing the result", 0.95
            self._show(context)
            return {"RUNNING_MODAL"}
        try:
            self._finish(context, job.cutout)
        except BgcutError as exc:
            return self._end(context, {"ERROR"}, str(exc))
        return self._end(context, None, "")

    def _show(self, context) -> None:  # type: ignore[no-untyped-def]
        """The stage in the status bar and Blender's progress, redrawn in the panels too."""
        context.window_manager.progress_update(int(self._job.fraction * 100))
        self._workspace.status_text_set(self._job.status())
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                if area.type in ("IMAGE_EDITOR", "NODE_EDITOR"):
                    area.tag_redraw()

    def _end(self, context, level, text: str):  # type: ignore[no-untyped-def]
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        self._workspace.status_text_set(None)
        self._job.close()
        self._redraw_all(context)
        if level is None:
            return {"FINISHED"}
        self.report(level, text)
        return {"CANCELLED"}

    @staticmethod
    def _redraw_all(context) -> None:  # type: ignore[no-untyped-def]
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                area.tag_redraw()


class WM_OT_bgcut_cancel(bpy.types.Operator):
    """Stop the running Remove Background: nothing is added (Esc does the same)"""

    bl_idname = "wm.bgcut_cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context) -> bool:
        return bool(actions.CutJob.running)

    def execute(self, context):  # type: ignore[no-untyped-def]
        for job in actions.CutJob.running:
            job.stop()
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
                raise HostError(f"There is no image named '{self.image}'.")
            return image
        space = context.space_data
        image = getattr(space, "image", None) if space is not None else None
        if image is None:
            raise HostError('Open an image in the Image Editor first (or pass image="Name").')
        self._space = space
        return image

    def place(self, context, source: bpy.types.Image, new_image: bpy.types.Image) -> None:
        actions.show_in_editors(source, new_image, getattr(self, "_space", None))


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
            raise HostError("Select an Image node with an image in the compositor first.")
        self._node, self._tree = node, node.id_data
        return node.image

    def place(self, context, source: bpy.types.Image, new_image: bpy.types.Image) -> None:
        actions.wire_result(self._tree, self._node, new_image, self.output)


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


classes = (IMAGE_OT_bgcut_remove_background, NODE_OT_bgcut_remove_background, WM_OT_bgcut_cancel)


def register() -> None:
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
