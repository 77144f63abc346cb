"""Runs in real Blender (bpy): a 12 MP image into and out of Blender through the add-on's
pixel glue (foreach_get/foreach_set + numpy) against the naive `pixels[:]` way, same run;
and the add-on's full write (pack from bgcut's quick PNG bytes, then Blender decoding it on
first use) against the baseline of foreach_set + Blender's own `pack()`, same run.
Usage: python blender_glue.py EXTENSION_DIR PNG OUT_JSON  (EXTENSION_DIR: the add-on with
the bgcut core inside, as the built zip holds them)"""

import importlib
import json
import sys
import time
from pathlib import Path

import bpy
import numpy as np

addon_dir, png, out_path = sys.argv[1:4]
sys.path.insert(0, str(Path(addon_dir).parent))
pixels = importlib.import_module(f"{Path(addon_dir).name}.pixels")
writing = importlib.import_module(f"{Path(addon_dir).name}.bgcut.writing")

image = bpy.data.images.load(png)
w, h = image.size
out = {"w": w, "h": h}
pixels.read(image)  # the first access decodes the file: not glue, so outside the timing
t = time.perf_counter()
px, _ = pixels.read(image)
out["read_s"] = time.perf_counter() - t
t = time.perf_counter()
cut = pixels.new_image("cut", px, float_buffer=False)
out["pack_s"] = time.perf_counter() - t  # what the operator spends
assert tuple(cut.size) == (w, h)  # Blender decodes the packed PNG (as on first display)
out["write_s"] = time.perf_counter() - t  # packed and decoded: the full write
back = np.empty(w * h * 4, np.float32)
cut.pixels.foreach_get(back)
assert np.array_equal(back.reshape(h, w, 4)[::-1], px), "packed pixels differ"
# baseline, same run: the pixels set directly, packed by Blender's own PNG encoder
t = time.perf_counter()
bare = bpy.data.images.new("bare", w, h, alpha=True)
bare.pixels.foreach_set(np.ascontiguousarray(px[::-1]).ravel())
bare.update()
out["write_without_pack_s"] = time.perf_counter() - t
bare.pack()
out["baseline_write_s"] = time.perf_counter() - t
out["write_over_baseline"] = out["write_s"] / out["baseline_write_s"]
# the same full write from PNG bytes at each zlib level (0: stored), same run
for level in (0, 1, 2):
    t = time.perf_counter()
    data = writing.png_bytes(px, level=level)
    encoded = time.perf_counter() - t
    packed = bpy.data.images.new(f"level{level}", 1, 1, alpha=True)
    packed.source = "FILE"
    packed.filepath = f"//level{level}.png"
    packed.pack(data=data, data_len=len(data))
    assert tuple(packed.size) == (w, h)
    out[f"level{level}"] = {"encode_s": encoded, "write_s": time.perf_counter() - t, "bytes": len(data)}
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
