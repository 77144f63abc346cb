# Runs inside real GIMP 3 (python-fu-eval): set up an image as /x/io/job.json says, call the
# plug-in through the PDB like a script would, and dump every layer's pixels and masks to
# /x/io for the test to assert on from outside. Uses no numpy (bare roots have none).
import json

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

IO = "/x/io/"
job = json.load(open(IO + "job.json"))


def load(name):
    return Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(IO + name))


def dump(image, tag):
    out = []
    fmt_comp = job.get("dump_comp", "u8")
    for i, layer in enumerate(image.get_layers()):
        w, h = layer.get_width(), layer.get_height()
        rect = Gegl.Rectangle.new(0, 0, w, h)
        fmt = "R'G'B'A " + fmt_comp
        data = layer.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP)
        pix = f"{tag}-layer{i}.raw"
        open(IO + pix, "wb").write(bytes(data))
        mask = layer.get_mask()
        mask_file = None
        if mask is not None:
            mask_file = f"{tag}-mask{i}.raw"
            mdata = mask.get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP)
            open(IO + mask_file, "wb").write(bytes(mdata))
        _, ox, oy = layer.get_offsets()
        out.append(
            {
                "name": layer.get_name(),
                "w": w,
                "h": h,
                "x": ox,
                "y": oy,
                "pixels": pix,
                "mask": mask_file,
                "has_alpha": layer.has_alpha(),
            }
        )
    return out


def dump_selection(image, tag):
    """The image's selection as an image-sized Y u8 file, or None when nothing is selected."""
    if Gimp.Selection.is_empty(image):
        return None
    w, h = image.get_width(), image.get_height()
    data = (
        image.get_selection()
        .get_buffer()
        .get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP)
    )
    name = f"{tag}-selection.raw"
    open(IO + name, "wb").write(bytes(data))
    return name


image = load(job["input"])
if job.get("precision"):
    image.convert_precision(getattr(Gimp.Precision, job["precision"]))
if job.get("gray"):
    image.convert_grayscale()
base = image.get_layers()[0]
if job.get("offset"):
    base.set_offsets(*job["offset"])
selected = [base]
if job.get("second_input"):
    second = Gimp.file_load_layer(
        Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(IO + job["second_input"])
    )
    second.set_name("second")
    image.insert_layer(second, None, 0)
    selected = [second, base]
if job.get("group"):
    group = (
        Gimp.GroupLayer.new(image, "group") if hasattr(Gimp, "GroupLayer") else Gimp.Layer.group_new(image)
    )
    image.insert_layer(group, None, 0)
    selected = [group]
if job.get("selection"):
    image.select_rectangle(Gimp.ChannelOps.REPLACE, *job["selection"])
image.set_selected_layers(selected)
before = dump(image, "before")
selection_before = dump_selection(image, "before")

proc = Gimp.get_pdb().lookup_procedure(job.get("proc", "plug-in-bgcut-remove-background"))
report = {"found": proc is not None, "before": before, "selection_before": selection_before}
if proc is not None:
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", selected)
    for name, value in job.get("args", {}).items():
        cfg.set_property(name, value)
    import time

    t0 = time.time()
    res = proc.run(cfg)
    report["seconds"] = time.time() - t0
    report["status"] = res.index(0).value_nick
    report["message"] = res.index(1) if res.length() > 1 else None
    report["after"] = dump(image, "after")
    report["selection_after"] = dump_selection(image, "after")
    report["size"] = [image.get_width(), image.get_height()]
    if job.get("export"):
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path(IO + job["export"]), None)
json.dump(report, open(IO + "report.json", "w"), indent=1, default=str)
