"""What Remove Background does in Blender, shared by both operators and by scripts.

`cut` runs the core (no bpy: safe in a worker thread); `read_source` and `publish` touch
bpy and run on the main thread only. `remove_background` chains them for scripts. Every
failure leaves as a `HostError` in Blender's words (`bgcut.errors.phrased_for`), as the
GIMP plug-in's do in GIMP's; a cancel keeps its type (the operator says it its own way).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import bpy
import numpy as np

from . import pixels, preferences
from .bgcut import Cancel, CutOptions, Cutout, choices, errors, make_engine
from .bgcut import remove_background as core_remove
from .bgcut.errors import AbandonedError, CancelledError, HostError

HOST = "blender"
OUTPUTS = choices.BLENDER_OUTPUTS.values()
OFFLINE_TEXT = (
    "Blender is offline: allow online access in Edit ▸ Preferences ▸ System ▸ Network, "
    "then run Remove Background again. Nothing was changed."
)


def check_online() -> None:
    if not bpy.app.online_access:
        raise HostError(OFFLINE_TEXT, kind="offline")


def options_from(prefs, *, quality: str = "", return_type: str = "", max_resolution: int = 0) -> CutOptions:
    with errors.phrased_for(HOST, unchanged=True):
        return CutOptions(
            quality=quality or (prefs.quality if prefs else CutOptions.quality),
            return_type=(return_type or (prefs.return_type if prefs else CutOptions.return_type)).strip(),
            max_resolution=max_resolution or CutOptions.max_resolution,
            decontaminate=bool(prefs.decontaminate) if prefs else CutOptions.decontaminate,
        )


def engine_from(prefs):  # type: ignore[no-untyped-def]
    endpoint = prefs.endpoint.strip() if prefs and prefs.endpoint.strip() else None
    kind = prefs.engine if prefs else "auto"
    with errors.phrased_for(HOST, unchanged=True):
        engine = make_engine(kind, endpoint=endpoint)
    if engine.name == "backgroundcut":
        check_online()  # the offline engine needs no network, so Blender's setting only gates uploads
    return engine


def read_source(image: bpy.types.Image) -> tuple[np.ndarray, bool]:
    try:
        return pixels.read(image)
    except ValueError as exc:  # pixels' own words, about the image (no key can be in them)
        raise HostError(errors.say_unchanged(str(exc))) from exc


def cut(
    px: np.ndarray,
    linear: bool,
    options: CutOptions,
    engine,  # type: ignore[no-untyped-def]
    *,
    cancel: threading.Event | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> Cutout:
    with errors.phrased_for(HOST, unchanged=True, keep=(CancelledError,)):
        return core_remove(px, options, engine=engine, linear=linear, cancel=cancel, progress=progress)


CANCELLED_TEXT = (
    "Remove Background cancelled; nothing was changed (an answer that still arrives is kept, "
    "so trying again costs no credit)."
)


class CutJob:
    """One cut in a worker thread, for the UI: its stage and fraction for the status bar and
    the panel, and `stop()` for Esc and the Cancel button, which abandons the request in
    flight at once. No bpy here: the operator publishes the cut-out on the main thread."""

    running: list[CutJob] = []  # the jobs the panels show (with a Cancel button)

    def __init__(self, px: np.ndarray, linear: bool, options: CutOptions, engine) -> None:  # type: ignore[no-untyped-def]
        self.cancel = Cancel()
        self.fraction = 0.0
        self.stage = "Preparing the upload"
        self.cutout: Cutout | None = None
        self.error: BaseException | None = None
        self._since = time.monotonic()
        self._upload = "Uploading"
        self._thread = threading.Thread(target=self._run, args=(px, linear, options, engine), daemon=True)
        CutJob.running.append(self)
        self._thread.start()

    def _run(self, px, linear, options, engine) -> None:  # type: ignore[no-untyped-def]
        try:
            self.cutout = cut(px, linear, options, engine, cancel=self.cancel, progress=self._progress)
        except Exception as exc:  # noqa: BLE001 - reported on the main thread by the operator
            self.error = exc

    def _progress(self, fraction: float, text: str) -> None:
        self.fraction, self.stage, self._since = fraction, text, time.monotonic()
        if text.startswith("Uploading"):
            self._upload = text.split(":", 1)[0]  # "Uploading 1.2 MB to BackgroundCut"

    def stop(self) -> None:
        self.cancel.abandon()

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_abandoned() or isinstance(self.error, (AbandonedError, CancelledError))

    @property
    def done(self) -> bool:
        """Finished, failed or cancelled: the operator can end (a cancelled worker may still
        be winding down; its answer, if any, goes to the cache only)."""
        return self.cancelled or not self._thread.is_alive()

    def close(self) -> None:
        if self in CutJob.running:
            CutJob.running.remove(self)

    def status(self, short: bool = False) -> str:
        """One line for the status bar (the stage, how far, how to stop), or a short one
        for the panel's progress bar."""
        stage = self.stage
        waited = time.monotonic() - self._since
        if stage.startswith("Waiting for BackgroundCut"):  # every byte sent: the wait counts from then
            stage = f"{self._upload} — sent; waiting for the service, {waited:.0f} s"
            if short:
                stage = f"Waiting for the service, {waited:.0f} s"
        elif stage.startswith("Uploading") and "%" not in stage and waited >= 0.5:  # no byte counts
            stage = (
                f"Waiting for the service, {waited:.0f} s"
                if short
                else f"{stage} — sent; waiting for the service, {waited:.0f} s"
            )
        if short:
            return stage.replace(" to BackgroundCut", "")
        return f"bgcut: {stage} ({self.fraction * 100:.0f} %). Esc to cancel"


def publish(source: bpy.types.Image, cutout: Cutout, output: str) -> bpy.types.Image:
    """The new datablock: '<name> cut' (RGBA) or '<name> mask'; the source is untouched."""
    if output == "MASK":
        return pixels.new_image(f"{source.name} mask", cutout.mask, float_buffer=False, non_color=True)
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
        raise HostError(f"Unknown output {output!r}: use RGBA or MASK.")
    prefs = preferences.get()
    options = options_from(prefs, quality=quality, return_type=return_type, max_resolution=max_resolution)
    px, linear = read_source(image)
    cutout = cut(px, linear, options, engine_from(prefs))
    return publish(image, cutout, output)


def show_in_editors(source: bpy.types.Image, new_image: bpy.types.Image, space=None) -> None:  # type: ignore[no-untyped-def]
    """The Image Editor the user ran the cut from (and any other showing the source) now
    shows the new image."""
    spaces = [space] if space is not None else []
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR" and area.spaces.active.image == source:
                spaces.append(area.spaces.active)
    for sp in spaces:
        try:
            sp.image = new_image
        except ReferenceError:  # the editor was closed while the cut ran
            continue


#: sizes used for nodes Blender has not drawn yet (headless, or just added)
_NODE_HEIGHT = {"CompositorNodeImage": 300.0, "CompositorNodeSetAlpha": 130.0}
_GAP = 40.0


def node_box(node) -> tuple[float, float, float, float]:  # type: ignore[no-untyped-def]
    """(left, top, right, bottom) in the tree's coordinates (y grows upwards)."""
    x, y = node.location
    scale = bpy.context.preferences.system.ui_scale or 1.0
    w = node.dimensions[0] / scale if node.dimensions[0] > 0 else node.width
    h = node.dimensions[1] / scale if node.dimensions[1] > 0 else _NODE_HEIGHT.get(node.bl_idname, 200.0)
    return x, y, x + w, y - h


def free_spot(tree, anchor, sizes: list[tuple[float, float]]) -> float:  # type: ignore[no-untyped-def]
    """The top (y) for a row of new nodes of these (width, height) placed right of
    `anchor`: its own top if nothing is in the way, otherwise below what is."""
    left = node_box(anchor)[2] + _GAP * 2
    width = sum(w for w, _ in sizes) + _GAP * (len(sizes) - 1)
    height = max(h for _, h in sizes)
    top = anchor.location[1]
    boxes = [node_box(n) for n in tree.nodes if n.bl_idname != "NodeFrame"]
    for _ in range(len(boxes) + 1):
        hits = [
            b
            for b in boxes
            if b[0] < left + width + _GAP
            and b[2] + _GAP > left
            and b[3] - _GAP < top
            and b[1] + _GAP > top - height
        ]
        if not hits:
            break
        top = min(b[3] for b in hits) - _GAP
    return top


def wire_result(tree, source_node, new_image: bpy.types.Image, output: str):  # type: ignore[no-untyped-def]
    """Add the result right of the source Image node where no node is, selected (the new
    Image node active); in MASK mode through a Set Alpha node."""
    heights = _NODE_HEIGHT["CompositorNodeImage"], _NODE_HEIGHT["CompositorNodeSetAlpha"]
    sizes = [(240.0, heights[0])] + ([(140.0, heights[1])] if output == "MASK" else [])
    top = free_spot(tree, source_node, sizes)
    left = node_box(source_node)[2] + _GAP * 2
    for node in tree.nodes:
        node.select = False
    image_node = tree.nodes.new("CompositorNodeImage")
    image_node.image = new_image
    image_node.label = new_image.name
    image_node.width = sizes[0][0]
    image_node.location = (left, top)
    image_node.select = True
    tree.nodes.active = image_node
    if output != "MASK":
        return image_node
    set_alpha = tree.nodes.new("CompositorNodeSetAlpha")
    set_alpha.location = (left + sizes[0][0] + _GAP, top)
    set_alpha.select = True
    if "Type" in set_alpha.inputs:
        set_alpha.inputs["Type"].default_value = "Replace Alpha"
    else:
        set_alpha.mode = "REPLACE_ALPHA"
    tree.links.new(source_node.outputs["Image"], set_alpha.inputs["Image"])
    tree.links.new(image_node.outputs["Image"], set_alpha.inputs["Alpha"])
    return set_alpha
