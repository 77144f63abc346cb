"""Runs inside real Blender (the bpy wheel): install the built extension the way a user
would, do what job.json says, and write what happened to report.json plus .npy pixels.

Usage: python blender_job.py WORK_DIR   (WORK_DIR holds job.json and the input images)
"""

import json
import os
import sys
import time
import traceback
from pathlib import Path

work = Path(sys.argv[1])
job = json.loads((work / "job.json").read_text())
report = {"steps": []}

import bpy  # noqa: E402
import numpy as np  # noqa: E402


def pixels_of(image):
    w, h = image.size
    buf = np.empty(w * h * image.channels, np.float32)
    image.pixels.foreach_get(buf)
    return buf.reshape(h, w, image.channels)[::-1]


def snapshot():
    """What a user would call the state of the .blend: images with their pixels, the tree."""
    images = {}
    for im in bpy.data.images:
        if im.size[0] > 0:
            images[im.name] = float(pixels_of(im).sum())
    tree = _tree()
    nodes = sorted(n.bl_idname + ":" + n.name for n in tree.nodes) if tree else []
    links = (
        sorted(
            f"{lk.from_node.name}.{lk.from_socket.name}->{lk.to_node.name}.{lk.to_socket.name}"
            for lk in tree.links
        )
        if tree
        else []
    )
    return {"images": images, "nodes": nodes, "links": links}


def _tree():
    scene = bpy.context.scene
    tree = getattr(scene, "compositing_node_group", None)
    return tree if tree is not None else getattr(scene, "node_tree", None)


def make_tree(image):
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
    tree.nodes.active = node
    out.location = (900, 0)
    return tree, node, out


def editor(kind):
    win = bpy.context.window_manager.windows[0]
    area = win.screen.areas[0]
    if kind == "node":
        area.type = "NODE_EDITOR"
        area.ui_type = "CompositorNodeTree"
    else:
        area.type = "IMAGE_EDITOR"
    region = next(r for r in area.regions if r.type == "WINDOW")
    return bpy.context.temp_override(window=win, area=area, region=region), area


def save(image, name):
    np.save(work / f"{name}.npy", pixels_of(image))
    return {
        "name": image.name,
        "size": list(image.size),
        "packed": image.packed_file is not None,
        "is_float": image.is_float,
        "file": f"{name}.npy",
        "colorspace": image.colorspace_settings.name,
    }


def node_box(n):
    from bl_ext.user_default.bgcut import actions

    return list(actions.node_box(n))


def cut_job(source):
    """The UI's worker (what the modal operator polls), stopped the way Esc stops it."""
    from bl_ext.user_default.bgcut import actions, preferences

    prefs = preferences.get()
    px, linear = actions.read_source(source)
    job_ = actions.CutJob(px, linear, actions.options_from(prefs), actions.engine_from(prefs))
    out = {"stages": [], "running_listed": job_ in actions.CutJob.running}
    start = time.monotonic()
    while time.monotonic() - start < job.get("stop_after", 1.0):
        out["stages"].append(job_.status())
        time.sleep(0.1)
    stop_at = time.monotonic()
    job_.stop()
    while not job_.done:
        time.sleep(0.01)
    out["stop_seconds"] = time.monotonic() - stop_at
    out["cancelled"] = job_.cancelled
    out["result"] = job_.cutout is not None
    job_.close()
    out["running_after"] = len(actions.CutJob.running)
    time.sleep(job.get("linger", 0))  # the answer may still land: it goes to the cache
    out["error"] = f"{type(job_.error).__name__}: {job_.error}" if job_.error else None
    out["cancelled_text"] = actions.CANCELLED_TEXT
    out["images_after_stop"] = sorted(im.name for im in bpy.data.images if im.source != "VIEWER")
    if job.get("redo"):
        bpy.ops.image.bgcut_remove_background(image=source.name, output="RGBA")
    return out


def undo_round(source):
    """Cut, then undo and redo: the packed result must come back with the same pixels."""
    override, area = editor("image")
    out = {}
    with override:
        area.spaces.active.image = source
        bpy.ops.ed.undo_push(message="before")
        bpy.ops.image.bgcut_remove_background(output="RGBA")
        bpy.ops.ed.undo_push(message="cut")
        out["after_cut"] = float(pixels_of(bpy.data.images["Photo cut"]).sum())
        bpy.ops.ed.undo()
        out["after_undo"] = "Photo cut" in bpy.data.images
        bpy.ops.ed.redo()
        im = bpy.data.images.get("Photo cut")
        out["after_redo"] = float(pixels_of(im).sum()) if im else None
        out["packed_after_redo"] = bool(im and im.packed_file)
    return out


try:
    bpy.context.preferences.system.use_online_access = bool(job.get("online", True))
    if job.get("zip"):
        result = bpy.ops.extensions.package_install_files(
            filepath=job["zip"], repo="user_default", enable_on_install=True
        )
        report["install"] = sorted(result)
    else:  # already placed by install.py: enable it as the user's one click would
        bpy.ops.extensions.repo_refresh_all()
        report["install"] = sorted(bpy.ops.preferences.addon_enable(module="bl_ext.user_default.bgcut"))
    import importlib

    addon = importlib.import_module("bl_ext.user_default.bgcut")
    report["enabled"] = "bl_ext.user_default.bgcut" in bpy.context.preferences.addons
    # the deflate the add-on packs its PNGs with: ISA-L's from the bundled isal wheel
    report["deflate"] = importlib.import_module("bl_ext.user_default.bgcut.bgcut.deflate").engine()
    # the libwebp the service's WebP answers are decoded with: the bundled Pillow's own
    webp_lib = importlib.import_module("bl_ext.user_default.bgcut.bgcut.webp").library()
    report["webp_lib"] = getattr(webp_lib, "_name", None)
    if job.get("key_via_preferences"):
        prefs = bpy.context.preferences.addons["bl_ext.user_default.bgcut"].preferences
        prefs.api_key = job["key_via_preferences"]
        report["prefs_key_masked"] = len(prefs.api_key) > 0
    source = bpy.data.images.load(str(work / job["input"]))
    source.name = "Photo"
    if job.get("float"):
        source.colorspace_settings.name = "sRGB"
    src_pixels = pixels_of(source)
    np.save(work / "source.npy", src_pixels)
    tree = node = out = None
    if job.get("tree"):
        tree, node, out = make_tree(source)
    report["before"] = snapshot()
    t0 = time.time()
    try:
        action = job["action"]
        if action == "image_op":
            override, area = editor("image")
            with override:
                area.spaces.active.image = source
                bpy.ops.image.bgcut_remove_background(**job.get("args", {}))
            report["editor_shows"] = area.spaces.active.image.name
        elif action == "image_op_by_name":
            bpy.ops.image.bgcut_remove_background(image="Photo", **job.get("args", {}))
        elif action == "node_op":
            override, area = editor("node")
            with override:
                for args in job.get("steps", [job.get("args", {})]):
                    tree.nodes.active = node  # the user clicks the source node again
                    bpy.ops.node.bgcut_remove_background(**args)
            report["node_boxes"] = {n.name: node_box(n) for n in tree.nodes}
            report["selected"] = sorted(n.name for n in tree.nodes if n.select)
            report["active"] = tree.nodes.active.name if tree.nodes.active else None
        elif action == "cut_job":
            report["job"] = cut_job(source)
        elif action == "undo":
            report["undo"] = undo_round(source)
        elif action == "read_kinds":  # the add-on's pixel read of a byte and a float image
            glue = importlib.import_module("bl_ext.user_default.bgcut.pixels")
            px, linear = glue.read(source)
            values = np.linspace(-0.25, 3.0, 7 * 5 * 4, dtype=np.float32)
            hdr = bpy.data.images.new("HDR", 7, 5, alpha=True, float_buffer=True)
            hdr.pixels.foreach_set(values)
            fpx, flinear = glue.read(hdr)
            report["kinds"] = {
                "byte": [str(px.dtype), linear, bool(np.array_equal(px, np.round(src_pixels * 255)))],
                "float": [str(fpx.dtype), flinear, bool(np.array_equal(fpx, values.reshape(5, 7, 4)[::-1]))],
            }
        elif action == "function":
            from bl_ext.user_default.bgcut import actions

            actions.remove_background("Photo", **job.get("args", {}))
        report["ok"] = True
    except Exception as exc:  # noqa: BLE001 - the test asserts on the message
        report["ok"] = False
        report["error"] = f"{type(exc).__name__}: {exc}"
    report["seconds"] = time.time() - t0
    source = bpy.data.images["Photo"]  # undo reloads datablocks: find it again
    report["after"] = snapshot()
    report["source_unchanged"] = bool(np.array_equal(pixels_of(source), src_pixels))
    report["images"] = {}
    for im in bpy.data.images:
        if im.name.endswith(" cut") or im.name.endswith(" mask"):
            report["images"][im.name] = save(im, im.name.replace(" ", "_"))
    if tree is not None and report.get("ok") and job.get("render"):
        last = (
            tree.nodes.get("Set Alpha") or [n for n in tree.nodes if n.bl_idname == "CompositorNodeImage"][-1]
        )
        target = out.inputs[0]
        tree.links.new(last.outputs[0], target)
        scene = bpy.context.scene
        scene.render.resolution_x, scene.render.resolution_y = source.size
        scene.render.resolution_percentage = 100
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.view_settings.view_transform = "Standard"
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGBA"
        scene.render.film_transparent = True
        scene.render.filepath = str(work / "render.png")
        bpy.ops.render.render(write_still=True)
        report["render"] = "render.png"
    if job.get("save_blend"):
        bpy.ops.wm.save_as_mainfile(filepath=str(work / "scene.blend"))
        bpy.ops.wm.save_userpref()
    if job.get("reload"):  # the packed result, read back from the saved .blend
        bpy.ops.wm.save_as_mainfile(filepath=str(work / "reload.blend"))
        bpy.ops.wm.open_mainfile(filepath=str(work / "reload.blend"))
        report["reloaded"] = {}
        for im in bpy.data.images:
            if im.name.endswith(" cut") or im.name.endswith(" mask"):
                report["reloaded"][im.name] = save(im, "reloaded_" + im.name.replace(" ", "_"))
except Exception:  # noqa: BLE001
    report["crash"] = traceback.format_exc()
(work / "report.json").write_text(json.dumps(report, indent=1, default=str))
for mod in ("bl_ext.user_default.bgcut",):
    try:
        import addon_utils

        addon_utils.disable(mod)
    except Exception:  # noqa: BLE001
        pass
os._exit(0)
