# Runs inside the real GIMP 3 GUI (under Xvfb): open an image and run Remove Background in
# INTERACTIVE mode, as the menu would, so the plug-in shows its real dialogs; then report.
import json

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

IO = "/x/io/"
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(IO + "in.png"))
Gimp.Display.new(image)
layer = image.get_layers()[0]
image.set_selected_layers([layer])
proc = Gimp.get_pdb().lookup_procedure("plug-in-bgcut-remove-background")
cfg = proc.create_config()
cfg.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
cfg.set_property("image", image)
cfg.set_core_object_array("drawables", [layer])
res = proc.run(cfg)
report = {"status": res.index(0).value_nick, "message": res.index(1) if res.length() > 1 else None}
report["layers"] = []
for lay in image.get_layers():
    w, h = lay.get_width(), lay.get_height()
    entry = {"name": lay.get_name(), "w": w, "h": h, "mask": None}
    if lay.get_mask() is not None:
        data = (
            lay.get_mask()
            .get_buffer()
            .get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "Y u8", Gegl.AbyssPolicy.CLAMP)
        )
        open(IO + "mask.raw", "wb").write(bytes(data))
        entry["mask"] = "mask.raw"
    report["layers"].append(entry)
json.dump(report, open(IO + "report.json", "w"))
