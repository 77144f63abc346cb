"""Every GIMP 3 API call the plug-in makes, written once (GIMP 3's own API, not gimpfu's).

Pixels move as whole rectangles through Gegl buffers (never per pixel); formats are
perceptual ("R'G'B'A") in the image's own precision, masks are linear "Y u8".
GIMP API churn is contained in this file.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import numpy as np  # noqa: E402
from bgcut.parallel import for_each, workers_for  # noqa: E402
from gi.repository import Gegl, Gimp  # noqa: E402

_DTYPES = {"u8": np.uint8, "u16": np.uint16, "float": np.float32}


def component(image) -> str:
    """'u8', 'u16' or 'float': the storage type bgcut gets pixels in for this image."""
    name = image.get_precision().value_nick.upper().replace("-", "_")
    if name.startswith("U8"):
        return "u8"
    if name.startswith("U16"):
        return "u16"
    return "float"


def is_gray(image) -> bool:
    return image.get_base_type() == Gimp.ImageBaseType.GRAY


def layer_problem(drawable) -> str | None:
    """Why this drawable cannot be cut, in words for the user; None when it can."""
    name = drawable.get_name()
    if not drawable.is_layer():
        return f"'{name}' is a channel or mask, not a layer: select the layer itself."
    if drawable.is_group():
        return f"'{name}' is a layer group: select the layers inside it (or merge the group)."
    if drawable.is_text_layer():
        return f"'{name}' is a text layer: rasterize it first (Layer ▸ Discard Text Information)."
    return None


def offsets(layer) -> tuple[int, int]:
    _, x, y = layer.get_offsets()
    return x, y


def size(drawable) -> tuple[int, int]:
    return drawable.get_width(), drawable.get_height()


def selection_bounds(image) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of the selection in image coordinates, or None when nothing is selected."""
    _, non_empty, x1, y1, x2, y2 = Gimp.Selection.bounds(image)
    if not non_empty:
        return None
    return x1, y1, x2 - x1, y2 - y1


def read_rgba(drawable, rect: tuple[int, int, int, int], comp: str) -> np.ndarray:
    """H×W×4 perceptual RGBA of a rectangle in the drawable's own coordinates, fetched in
    row bands on every core: GIMP serves a plug-in's tiles to several threads at once
    (12 MP in 0.098 s against 0.154 s in one piece, same GIMP run)."""
    x, y, w, h = rect
    fmt = f"R'G'B'A {comp}"
    buf = drawable.get_buffer()
    dtype = _DTYPES[comp]
    out = np.empty((h, w, 4), dtype=dtype)
    rows = _band_rows(h)

    def band(top: int) -> None:
        n = min(rows, h - top)
        data = buf.get(Gegl.Rectangle.new(x, y + top, w, n), 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
        out[top : top + n] = np.frombuffer(bytes(data), dtype=dtype).reshape(n, w, 4)

    for_each(band, range(0, h, rows))
    return out


def _band_rows(height: int) -> int:
    """Rows per band: one band per core, in whole GEGL tile rows (its tiles are 128 pixels
    high), so no tile is fetched or sent twice."""
    share = -(-height // workers_for(height // _TILE_ROWS))
    return -(-share // _TILE_ROWS) * _TILE_ROWS


_TILE_ROWS = 128


def _write(drawable, rect: tuple[int, int, int, int], fmt: str, pixels: np.ndarray) -> None:
    """In row bands on every core, as read_rgba reads (12 MP: 0.164 s against 0.207 s in
    one piece, same GIMP run)."""
    x, y, w, h = rect
    buf = drawable.get_buffer()
    rows = _band_rows(h)

    def band(top: int) -> None:
        n = min(rows, h - top)
        buf.set(
            Gegl.Rectangle.new(x, y + top, w, n), fmt, np.ascontiguousarray(pixels[top : top + n]).tobytes()
        )

    for_each(band, range(0, h, rows))
    buf.flush()
    drawable.update(x, y, w, h)


def add_layer(image, above, name: str, pixels: np.ndarray, at: tuple[int, int], comp: str, *, alpha: bool):
    """A new layer from numpy, inserted above `above` at image position `at`."""
    h, w = pixels.shape[:2]
    gray = is_gray(image)
    if alpha:
        kind = Gimp.ImageType.GRAYA_IMAGE if gray else Gimp.ImageType.RGBA_IMAGE
        fmt = f"Y'A {comp}" if gray else f"R'G'B'A {comp}"
        if gray:
            pixels = pixels[..., [0, 3]]
    else:
        kind = Gimp.ImageType.GRAY_IMAGE if gray else Gimp.ImageType.RGB_IMAGE
        fmt = f"Y' {comp}"
    layer = Gimp.Layer.new(image, name, w, h, kind, 100.0, Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, above.get_parent(), image.get_item_position(above))
    layer.set_offsets(*at)
    _write(layer, (0, 0, w, h), fmt, pixels)
    return layer


def set_mask(layer, mask: np.ndarray, rect: tuple[int, int, int, int]) -> None:
    """Add (or replace) the layer's mask: white outside `rect`, `mask` inside it."""
    if layer.get_mask() is not None:
        layer.remove_mask(Gimp.MaskApplyMode.DISCARD)
    if not layer.has_alpha():
        layer.add_alpha()
    lmask = layer.create_mask(Gimp.AddMaskType.WHITE)
    layer.add_mask(lmask)
    _write(lmask, rect, "Y u8", mask)


_SELECT_OPS = {
    "replace": Gimp.ChannelOps.REPLACE,
    "add": Gimp.ChannelOps.ADD,
    "subtract": Gimp.ChannelOps.SUBTRACT,
    "intersect": Gimp.ChannelOps.INTERSECT,
}


def select_masks(image, masks: list[tuple[np.ndarray, tuple[int, int]]], mode: str) -> None:
    """Combine the masks (each placed at its image position) as one subject with the
    image's selection, the way the selection tools do (an undoable step), through a
    channel that is removed again."""
    iw, ih = image.get_width(), image.get_height()
    full = np.zeros((ih, iw), np.uint8)
    for mask, (x, y) in masks:
        h, w = mask.shape
        x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, iw), min(y + h, ih)
        if x2 > x1 and y2 > y1:
            part = mask[y1 - y : y2 - y, x1 - x : x2 - x]
            np.maximum(full[y1:y2, x1:x2], part, out=full[y1:y2, x1:x2])
    channel = Gimp.Channel.new(image, "bgcut subject", iw, ih, 50.0, Gegl.Color.new("black"))
    image.insert_channel(channel, None, 0)
    _write(channel, (0, 0, iw, ih), "Y u8", full)
    image.select_item(_SELECT_OPS[mode], channel)
    image.remove_channel(channel)


@contextmanager
def undo_group(image):
    image.undo_group_start()
    try:
        yield
    finally:
        image.undo_group_end()


@contextmanager
def progress(text: str):
    """GIMP's progress bar; yields step(fraction, text=None), the text shown when it changes."""
    Gimp.progress_init(text)
    shown = [text]

    def step(fraction: float, what: str | None = None) -> None:
        if what and what != shown[0]:
            Gimp.progress_set_text(what)
            shown[0] = what
        Gimp.progress_update(max(0.0, min(1.0, fraction)))

    try:
        yield step
    finally:
        Gimp.progress_end()


def message(text: str) -> None:
    """A note in GIMP's message area (the error console when run from a script)."""
    Gimp.message(text)


def flush() -> None:
    Gimp.displays_flush()


_ui_ready = False


def _ui() -> tuple[Any, Any]:
    """GimpUi and Gtk, initialised once per plug-in process."""
    global _ui_ready
    gi.require_version("GimpUi", "3.0")
    gi.require_version("Gtk", "3.0")
    from gi.repository import GimpUi, Gtk

    if not _ui_ready:
        GimpUi.init("bgcut-remove-background")
        _ui_ready = True
    return GimpUi, Gtk


def ask_for_key() -> str | None:
    """Ask once for the API key (interactive runs only); None when the user cancels."""
    GimpUi, Gtk = _ui()
    dialog = GimpUi.Dialog(title="BackgroundCut API key", role="bgcut-key")
    dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
    dialog.add_button("_Save", Gtk.ResponseType.OK)
    box = dialog.get_content_area()
    box.set_border_width(12)
    box.set_spacing(8)
    label = Gtk.Label(
        xalign=0.0,
        label="Paste your BackgroundCut API key. It is stored only in bgcut's\n"
        "private config file (readable by you alone), never in GIMP's settings.",
    )
    entry = Gtk.Entry(visibility=False, activates_default=True)
    box.pack_start(label, False, False, 6)
    box.pack_start(entry, False, False, 6)
    dialog.set_default_response(Gtk.ResponseType.OK)
    dialog.show_all()
    ok = dialog.run() == Gtk.ResponseType.OK
    key = entry.get_text().strip()
    dialog.destroy()
    return key if ok and key else None


def show_dialog(procedure, config, names=None) -> bool:
    """GIMP's own procedure dialog for the arguments `names` (all when None); False when
    cancelled."""
    GimpUi, _ = _ui()
    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Remove Background")
    dialog.fill(list(names) if names else None)
    ok = dialog.run()
    dialog.destroy()
    return bool(ok)
