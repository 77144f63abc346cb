"""Runs inside Debian's real Blender GUI (blender --python, under Xvfb): installs the built
extension the user's way and uses it as a user would, step by step from a timer on
Blender's main thread, so every operator runs its real UI path (invoke, modal timer, Esc).
Real keys go through xdotool, screenshots through ImageMagick. Writes /x/io/report.json.
"""

import json
import os
import subprocess
import time
import traceback
from pathlib import Path

import bpy
import numpy as np

IO = Path("/x/io")
KEY = os.environ["GUI_KEY"]
SERVICE = float(os.environ.get("GUI_SERVICE_TIME", "4"))
ADDON = "bl_ext.user_default.bgcut"
report = {"steps": [], "blender": bpy.app.version_string}


def x(*args):
    subprocess.run(["xdotool", *args], check=False, timeout=10)


def shot(name):
    subprocess.run(["import", "-window", "root", str(IO / name)], check=False, timeout=30)
    report["steps"].append(f"shot {name}")


def wiggle(px, py):
    """Blender under Xvfb redraws after an X event: move the mouse before a screenshot."""
    x("mousemove", str(px), str(py))
    x("mousemove", str(px + 3), str(py + 2))


def pixels_of(image):
    w, h = image.size
    buf = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(buf)
    return buf.reshape(h, w, image.channels)[::-1]


def area_rect(area):
    """The area's centre in screen coordinates (X has y downwards)."""
    win_h = bpy.context.window_manager.windows[0].height
    return area.x + area.width // 2, win_h - (area.y + area.height // 2)


def override(area, region_type="WINDOW"):
    win = bpy.context.window_manager.windows[0]
    region = next(r for r in area.regions if r.type == region_type)
    return bpy.context.temp_override(window=win, area=area, region=region)


def running():
    from bl_ext.user_default.bgcut import actions

    return list(actions.CutJob.running)


def cancel_button(area, win):
    """Where the bgcut sidebar tab draws its Cancel button (under the progress bar), in
    screen coordinates: the panel's second row, measured on 4.3.2 and 5.2.2 at scale 1."""
    sidebar = next(r for r in area.regions if r.type == "UI")
    top = win.height - (sidebar.y + sidebar.height)
    return sidebar.x + (sidebar.width - 22) // 2, top + 85


def info_reports(win):
    """The session's reports as the Info editor lists them (what the status bar flashed)."""
    area = next(a for a in win.screen.areas if a.type == "DOPESHEET_EDITOR" or a.ui_type == "TIMELINE")
    old = area.ui_type
    area.type = "INFO"
    try:
        with override(area):
            bpy.ops.info.select_all(action="SELECT")
            bpy.ops.info.report_copy()
        return bpy.context.window_manager.clipboard.splitlines()
    finally:
        area.ui_type = old


def compositor_tree(image):
    scene = bpy.context.scene
    if hasattr(scene, "compositing_node_group"):
        tree = bpy.data.node_groups.new("Compositor", "CompositorNodeTree")
        scene.compositing_node_group = tree
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        out = tree.nodes.new("NodeGroupOutput")
    else:
        scene.use_nodes = True
        tree = scene.node_tree
        tree.nodes.clear()
        out = tree.nodes.new("CompositorNodeComposite")
    node = tree.nodes.new("CompositorNodeImage")
    node.image = image
    node.location = (-300, 200)
    out.location = (600, 200)
    tree.nodes.active = node
    return tree, node


def scenario():  # a generator: each yield is how long Blender runs on before the next step
    win = bpy.context.window_manager.windows[0]
    wiggle(800, 500)
    yield 1.0
    x("key", "Escape")  # close the splash screen, as a user does
    yield 1.0
    # -- install the zip the user's way, allow online access, type the key ---------------
    bpy.context.preferences.system.use_online_access = True
    with bpy.context.temp_override(window=win):
        report["install"] = sorted(
            bpy.ops.extensions.package_install_files(
                filepath=str(IO / "bgcut.zip"), repo="user_default", enable_on_install=True
            )
        )
    report["enabled"] = ADDON in bpy.context.preferences.addons
    prefs = bpy.context.preferences.addons[ADDON].preferences
    prefs.api_key = KEY  # what typing into the field does: the field's own setter
    prefs.endpoint = os.environ["GUI_ENDPOINT"]
    with bpy.context.temp_override(window=win):
        bpy.ops.screen.userpref_show(section="ADDONS")
    yield 1.5
    bpy.context.window_manager.addon_search = "bgcut"
    prefs_win = bpy.context.window_manager.windows[-1]
    # the user clicks the add-on's disclosure triangle (the first row of the filtered list)
    found = subprocess.run(["xdotool", "search", "--name", "^Preferences$"], capture_output=True, text=True)
    report["prefs_windows"] = found.stdout.split()
    if found.stdout.split():
        x("mousemove", "--window", found.stdout.split()[0], "188", "55", "click", "1")
    wiggle(300, 300)
    yield 1.0
    shot("prefs.png")
    report["key_field_shows"] = prefs.api_key == KEY  # the value; drawn masked (PASSWORD)
    report["key_subtype"] = type(prefs).bl_rna.properties["api_key"].subtype
    with bpy.context.temp_override(window=prefs_win):
        bpy.ops.wm.window_close()
    with bpy.context.temp_override(window=win):
        bpy.ops.wm.save_userpref()
    yield 0.5
    # -- the Image Editor: its menu, a slow upload, Esc half-way --------------------------
    source = bpy.data.images.load(str(IO / "in.png"))
    source.name = "Photo"
    report["source_sum"] = float(pixels_of(source).sum())
    area = max(win.screen.areas, key=lambda a: a.width * a.height)
    area.type = "IMAGE_EDITOR"
    area.spaces.active.image = source
    area.spaces.active.show_region_ui = True
    cx, cy = area_rect(area)
    wiggle(cx, cy)
    yield 1.0
    sidebar = next(r for r in area.regions if r.type == "UI")
    try:
        sidebar.active_panel_category = "bgcut"  # the user clicks the sidebar's bgcut tab
    except (AttributeError, TypeError) as exc:
        report["sidebar_tab"] = str(exc)
    with override(area):
        bpy.ops.wm.call_menu(name="IMAGE_MT_image")
    wiggle(cx + 2, cy + 2)
    yield 1.0
    shot("menu.png")
    x("key", "Up")  # the last item of the Image menu: Remove Background
    yield 0.3
    x("key", "Return")
    t = time.monotonic()
    while not running() and time.monotonic() - t < 3:
        yield 0.1
    report["menu_started_cut"] = bool(running())
    if not running():  # the menu was not where the key went: invoke it as the menu would
        with override(area):
            bpy.ops.image.bgcut_remove_background("INVOKE_DEFAULT")
    started = time.monotonic()
    samples = []
    while time.monotonic() - started < SERVICE / 2:
        jobs = running()
        samples.append([round(time.monotonic() - started, 2), jobs[0].status() if jobs else None])
        wiggle(cx, cy)
        yield 0.25
    report["status_samples"] = samples
    shot("progress.png")
    esc_at = time.monotonic()
    x("key", "Escape")
    while running() and time.monotonic() - esc_at < 5:
        yield 0.05
    report["esc_to_stopped_s"] = time.monotonic() - esc_at
    wiggle(cx, cy)
    yield 0.3
    shot("cancelled.png")
    report["reports_after_esc"] = info_reports(win)
    report["images_after_esc"] = sorted(im.name for im in bpy.data.images if im.source != "VIEWER")
    report["editor_after_esc"] = area.spaces.active.image.name
    yield SERVICE  # the answer still lands: it is kept in the cache
    # -- again, from the sidebar panel's Cut-out button (same operator): from the cache ----
    with override(area):
        bpy.ops.image.bgcut_remove_background("INVOKE_DEFAULT", output="RGBA")
    redo_at = time.monotonic()
    while running() and time.monotonic() - redo_at < 30:
        yield 0.1
    report["redo_s"] = time.monotonic() - redo_at
    wiggle(cx, cy)
    yield 1.0
    shot("result.png")
    report["editor_after_redo"] = area.spaces.active.image.name
    cut = bpy.data.images.get("Photo cut")
    if cut is not None:
        np.save(IO / "cut.npy", pixels_of(cut))
        report["cut_packed"] = cut.packed_file is not None
    report["source_unchanged"] = float(pixels_of(source).sum()) == report["source_sum"]
    # -- a new picture, stopped with the panel's Cancel button (a real click) -------------
    other = bpy.data.images.load(str(IO / "in2.png"))
    other.name = "Other"
    area.spaces.active.image = other
    with override(area):
        bpy.ops.image.bgcut_remove_background("INVOKE_DEFAULT", output="RGBA")
    t = time.monotonic()
    while time.monotonic() - t < SERVICE / 3:
        wiggle(cx, cy)
        yield 0.25
    bx, by = cancel_button(area, win)
    report["cancel_button_at"] = [bx, by]
    click_at = time.monotonic()
    x("mousemove", str(bx), str(by))
    x("click", "1")
    while running() and time.monotonic() - click_at < 5:
        yield 0.05
    report["cancel_click_to_stopped_s"] = time.monotonic() - click_at
    report["images_after_cancel"] = sorted(im.name for im in bpy.data.images if im.source != "VIEWER")
    area.spaces.active.image = cut if cut is not None else source
    # -- the compositor: cut-out, then mask + Set Alpha ----------------------------------
    area.type = "NODE_EDITOR"
    area.ui_type = "CompositorNodeTree"
    tree, node = compositor_tree(source)
    wiggle(cx, cy)
    yield 1.0
    with override(area):
        bpy.ops.node.view_all()
    for output in ("RGBA", "MASK"):
        tree.nodes.active = node  # the user clicks the source node
        node.select = True
        with override(area):
            bpy.ops.node.bgcut_remove_background("INVOKE_DEFAULT", output=output)
        t = time.monotonic()
        while running() and time.monotonic() - t < 30:
            yield 0.1
        wiggle(cx, cy)
        yield 0.8
    with override(area):
        bpy.ops.node.view_all()
    wiggle(cx, cy)
    yield 1.0
    shot("compositor.png")
    from bl_ext.user_default.bgcut import actions

    report["node_boxes"] = {n.name: list(actions.node_box(n)) for n in tree.nodes}
    report["node_dimensions"] = {n.name: list(n.dimensions) for n in tree.nodes}
    report["selected"] = sorted(n.name for n in tree.nodes if n.select)
    report["links"] = sorted(
        f"{lk.from_node.name}.{lk.from_socket.name}->{lk.to_node.name}.{lk.to_socket.name}"
        for lk in tree.links
    )
    mask = bpy.data.images.get("Photo mask")
    if mask is not None:
        np.save(IO / "mask.npy", pixels_of(mask))
    report["images"] = sorted(im.name for im in bpy.data.images if im.source != "VIEWER")


def main():
    steps = scenario()

    def tick():
        try:
            return next(steps)
        except StopIteration:
            finish()
        except Exception:  # noqa: BLE001 - the test reads the traceback from the report
            report["crash"] = traceback.format_exc()
            finish()
        return None

    bpy.app.timers.register(tick, first_interval=3.0, persistent=True)


def finish():
    (IO / "report.json").write_text(json.dumps(report, indent=1, default=str))
    os._exit(0)


main()
