# Runs inside the real GIMP 3 GUI (under Xvfb): open an image, wait while the driver shows
# the menu, run Remove Background in INTERACTIVE mode, as the menu would, so the plug-in
# shows its real dialogs (or, with console.txt, open GIMP's Python console for the driver
# to type into); then report the status, the time it returned and every layer.
import json
import os
import time

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

IO = "/x/io/"


def wait_for(name, seconds):
    """Poll for the driver's signal file; True once it is there."""
    end = time.time() + seconds
    while not os.path.exists(IO + name) and time.time() < end:
        time.sleep(0.2)
    return os.path.exists(IO + name)


image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(IO + "in.png"))
Gimp.Display.new(image)
Gimp.displays_flush()
layer = image.get_layers()[0]
image.set_selected_layers([layer])
# the driver touches "go" only after its menu screenshot, and GIMP 3.0 can take minutes to
# show this image's window on a fresh profile and a busy machine: wait for the driver, not
# for a fixed time (gimp_gui.sh's timeout ends the whole run if the driver never comes)
started = time.time()
go_given = wait_for("go", 175)
waited = time.time() - started
if os.path.exists(IO + "console.txt"):  # GIMP's own Python console, typed into by the driver
    proc = Gimp.get_pdb().lookup_procedure("python-fu-console")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
else:
    proc = Gimp.get_pdb().lookup_procedure("plug-in-bgcut-remove-background")
    cfg = proc.create_config()
    cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
    cfg.set_property("image", image)
    cfg.set_core_object_array("drawables", [layer])
res = proc.run(cfg)
report = {"status": res.index(0).value_nick, "returned_at": time.time()}
report["go"] = {"given": go_given, "waited_s": round(waited, 1)}
report["message"] = res.index(1) if res.length() > 1 else None
report["layers"] = []
for i, lay in enumerate(image.get_layers()):
    w, h = lay.get_width(), lay.get_height()
    rect = Gegl.Rectangle.new(0, 0, w, h)
    pixels = f"layer{i}.raw"
    open(IO + pixels, "wb").write(
        bytes(lay.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP))
    )
    entry = {"name": lay.get_name(), "w": w, "h": h, "mask": None, "pixels": pixels}
    if lay.get_mask() is not None:
        data = lay.get_mask().get_buffer().get(rect, 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP)
        open(IO + "mask.raw", "wb").write(bytes(data))
        entry["mask"] = "mask.raw"
    report["layers"].append(entry)
Gimp.displays_flush()
json.dump(report, open(IO + "report.json", "w"))
wait_for("shot-done", 10)
