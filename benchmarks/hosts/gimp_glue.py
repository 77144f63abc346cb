# Runs inside real GIMP 3 (python-fu-eval): time the plug-in's host glue for a 12 MP layer
# (whole-rectangle read, new layer write) against a naive row-by-row way, same GIMP run.
import json
import sys
import time

sys.path.insert(0, "/x/plugin/bgcut-remove-background")
sys.path.insert(1, "/x/plugin/bgcut-remove-background/lib")
import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
import gimp_api as gf  # noqa: E402
import numpy as np  # noqa: E402
from gi.repository import Gegl, Gimp, Gio  # noqa: E402

image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path("/x/io/in.png"))
layer = image.get_layers()[0]
w, h = layer.get_width(), layer.get_height()
out = {"w": w, "h": h}

gf.read_rgba(layer, (0, 0, w, h), "u8")  # first touch of the tiles: not glue, untimed
t = time.perf_counter()
px = gf.read_rgba(layer, (0, 0, w, h), "u8")
out["read_s"] = time.perf_counter() - t
rgba = px.copy()
rgba[..., 3] = 200
t = time.perf_counter()
gf.add_layer(image, layer, "cut", rgba, (0, 0), "u8", alpha=True)
out["write_s"] = time.perf_counter() - t

buf = layer.get_buffer()
t = time.perf_counter()
rows = [
    bytes(buf.get(Gegl.Rectangle.new(0, y, w, 1), 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP))
    for y in range(h)
]
naive = np.frombuffer(b"".join(rows), np.uint8).reshape(h, w, 4)
out["naive_read_s"] = time.perf_counter() - t
assert np.array_equal(naive, px)
target = Gimp.Layer.new(image, "naive", w, h, Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
image.insert_layer(target, None, 0)
tbuf = target.get_buffer()
t = time.perf_counter()
for y in range(h):
    tbuf.set(Gegl.Rectangle.new(0, y, w, 1), "R'G'B'A u8", rgba[y].tobytes())
tbuf.flush()
target.update(0, 0, w, h)
out["naive_write_s"] = time.perf_counter() - t
# the per-pixel way some plug-ins use, on a 100×100 patch, scaled to the whole layer
t = time.perf_counter()
for y in range(100):
    for x in range(100):
        buf.get(Gegl.Rectangle.new(x, y, 1, 1), 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP)
out["per_pixel_read_s_estimate"] = (time.perf_counter() - t) * (w * h) / 10_000
json.dump(out, open("/x/io/glue.json", "w"))
