"""Runs in real Blender (bpy): a 12 MP image into and out of Blender through the add-on's
pixel glue (foreach_get/foreach_set + numpy) against the naive `pixels[:]` way, same run.
Usage: python blender_glue.py ADDON_DIR PNG OUT_JSON"""

import importlib.util
import json
import sys
import time

import bpy
import numpy as np

addon_dir, png, out_path = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("bgcut_pixels", f"{addon_dir}/pixels.py")
pixels = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pixels)

image = bpy.data.images.load(png)
w, h = image.size
out = {"w": w, "h": h}
pixels.read(image)  # the first access decodes the file: not glue, so outside the timing
t = time.perf_counter()
px, _ = pixels.read(image)
out["read_s"] = time.perf_counter() - t
t = time.perf_counter()
pixels.new_image("cut", px, float_buffer=False)
out["write_s"] = time.perf_counter() - t
# the same write without packing: what the pixel glue itself costs (packing is Blender's
# own PNG encoder, paid so the .blend is self-contained)
t = time.perf_counter()
bare = bpy.data.images.new("bare", w, h, alpha=True)
bare.pixels.foreach_set(np.ascontiguousarray(px[::-1]).ravel())
bare.update()
out["write_without_pack_s"] = time.perf_counter() - t
t = time.perf_counter()
naive = np.array(image.pixels[:], dtype=np.float32).reshape(h, w, 4)[::-1]
out["naive_read_s"] = time.perf_counter() - t
assert np.array_equal(naive, px)
target = bpy.data.images.new("naive", w, h, alpha=True)
t = time.perf_counter()
target.pixels[:] = px[::-1].ravel().tolist()
target.update()
target.pack()
out["naive_write_s"] = time.perf_counter() - t
json.dump(out, open(out_path, "w"))
