"""Runs in real Blender (bpy): a 12 MP image into and out of Blender through the add-on's
pixel glue (foreach_get/foreach_set + numpy) against the naive `pixels[:]` way, same run;
and the add-on's full write of a cut-out (`pixels.new_image`: bgcut's PNG packed, Blender
decoding it on first use) from the uint8 cut-out the core gives for a byte image, against
the same write from floats (as before byte images were read as bytes), the same write with
zlib's deflate (as before isal) and foreach_set + Blender's own `pack()`, alternating in the
same run. A write counts until the image is usable (decoded) and packed; the first read
after it is timed apart, so a decode Blender put off would show there.
Usage: python blender_glue.py EXTENSION_DIR PNG OUT_JSON  (EXTENSION_DIR: the add-on with
the bgcut core inside, as the built zip holds them)"""

import importlib
import json
import statistics
import sys
import time
import zipfile
from pathlib import Path

import bpy
import numpy as np

addon_dir, png, out_path = sys.argv[1:4]
ROUNDS = 7
sys.path.insert(0, str(Path(addon_dir).parent))
# the extension's wheels for this Python, as Blender installs them (isal: the fast deflate)
site = Path(addon_dir).parent / "site"
tag = f"-cp{sys.version_info.major}{sys.version_info.minor}-"
for wheel in Path(addon_dir, "wheels").glob(f"*{tag}*manylinux*_x86_64*.whl"):  # this host's
    zipfile.ZipFile(wheel).extractall(site)
sys.path.insert(0, str(site))
pixels = importlib.import_module(f"{Path(addon_dir).name}.pixels")
writing = importlib.import_module(f"{Path(addon_dir).name}.bgcut.writing")

image = bpy.data.images.load(png)
w, h = image.size
deflate = importlib.import_module(f"{Path(addon_dir).name}.bgcut.deflate")
out = {"w": w, "h": h, "rounds": ROUNDS, "deflate": deflate.engine()}
pixels.read(image)  # the first access decodes the file: not glue, so outside the timing
t = time.perf_counter()
px, _ = pixels.read(image)
out["read_s"] = time.perf_counter() - t
assert px.dtype == np.uint8  # a byte image is read as its own bytes
t = time.perf_counter()
buf = np.empty(w * h * 4, np.float32)
image.pixels.foreach_get(buf)
out["read_floats_s"] = time.perf_counter() - t  # the floats alone, as before the bytes
# a cut-out as the core hands it over for a byte image: a new top-down uint8 array,
# transparent around a subject; and as floats, what a float pipeline (the baseline) holds
yy, xx = np.ogrid[:h, :w]
mask = ((((yy - h / 2) / (h / 2.4)) ** 2 + ((xx - w / 2) / (w / 3)) ** 2 < 1) * 255).astype(np.uint8)
cut_px = px.copy()
cut_px[..., 3] = mask
cut_floats = cut_px.astype(np.float32) * np.float32(1 / 255)


def as_bytes(im):
    buf = np.empty(w * h * 4, np.float32)
    im.pixels.foreach_get(buf)
    return np.round(buf.reshape(h, w, 4)[::-1] * 255).astype(np.uint8)


def new_write(n):
    return pixels.new_image(f"cut{n}", cut_px, float_buffer=False)


def float_write(n):
    """The add-on's write as it was, from a float cut-out (byte images were read as floats)."""
    return pixels.new_image(f"cutf{n}", cut_floats, float_buffer=False)


def zlib_write(n):
    """The add-on's write with zlib's deflate instead of ISA-L's (as before isal)."""
    fast, deflate._isal = deflate._isal, None
    try:
        return pixels.new_image(f"cutz{n}", cut_px, float_buffer=False)
    finally:
        deflate._isal = fast


def baseline_write(n):
    """The pixels set directly, packed by Blender's own PNG encoder."""
    im = bpy.data.images.new(f"bare{n}", w, h, alpha=True)
    im.pixels.foreach_set(np.ascontiguousarray(cut_floats[::-1]).ravel())
    im.update()
    im.pack()
    return im


def packed_image(n, data):
    """An image whose packed file is `data` (to check what a reload reads)."""
    im = bpy.data.images.new(f"packed{n}", 1, 1, alpha=True)
    im.source = "FILE"
    im.filepath = f"//packed{n}.png"
    im.pack(data=data, data_len=len(data))
    im.alpha_mode = "STRAIGHT"
    return im


runs: dict = {
    k: [] for k in ("write", "float_write", "zlib_write", "baseline", "encode", "first_read", "read")
}
runs.update({f"{k}_cpu": [] for k in ("write", "float_write", "zlib_write", "baseline")})
want = cut_px
writes = (
    ("write", new_write),
    ("float_write", float_write),
    ("zlib_write", zlib_write),
    ("baseline", baseline_write),
)
for n in range(ROUNDS):
    for kind, write in writes if n % 2 == 0 else writes[::-1]:  # none always goes first
        t, c = time.perf_counter(), time.process_time()
        im = write(n)
        assert tuple(im.size) == (w, h) and im.packed_file is not None  # usable and packed
        runs[kind].append(time.perf_counter() - t)
        runs[f"{kind}_cpu"].append(time.process_time() - c)  # all threads' CPU
        if kind == "write":
            buf = np.empty(w * h * 4, np.float32)
            buf.fill(0)  # its pages mapped before the timing
            for key in ("first_read", "read"):
                t = time.perf_counter()
                im.pixels.foreach_get(buf)
                runs[key].append(time.perf_counter() - t)
            assert np.array_equal(as_bytes(im), want), "the live pixels differ"
            out["bytes"] = im.packed_file.size
        elif kind == "baseline":
            out["baseline_bytes"] = im.packed_file.size
        else:
            assert np.array_equal(as_bytes(im), want), "the float write's pixels differ"
        bpy.data.images.remove(im)
    t = time.perf_counter()
    data = writing.png_bytes(cut_px)
    runs["encode"].append(time.perf_counter() - t)
# the packed file holds the same pixels: what a reload reads
check = packed_image("check", data)
assert np.array_equal(as_bytes(check), want), "the packed pixels differ"
med = {k: statistics.median(v) for k, v in runs.items()}
out.update(
    {
        "write_s": med["write"],
        "write_cpu_s": med["write_cpu"],
        "baseline_cpu_s": med["baseline_cpu"],
        "pack_s": med["encode"],  # bgcut's PNG encode alone (inside write_s, overlapped)
        "first_read_after_write_s": med["first_read"],
        "read_again_s": med["read"],
        "baseline_write_s": med["baseline"],
        "write_over_baseline": med["write"] / med["baseline"],
        "float_write_s": med["float_write"],
        "write_over_float_write": med["write"] / med["float_write"],
        "zlib_write_s": med["zlib_write"],
        "write_over_zlib_write": med["write"] / med["zlib_write"],
        "runs_s": runs,
    }
)
t = time.perf_counter()
m = pixels.new_image("mask", mask, float_buffer=False, non_color=True)
out["mask_write_s"] = time.perf_counter() - t
assert np.array_equal(as_bytes(m)[..., 0], mask)
t = time.perf_counter()
bare = bpy.data.images.new("bare", w, h, alpha=True)
bare.pixels.foreach_set(np.ascontiguousarray(cut_floats[::-1]).ravel())
bare.update()
out["write_without_pack_s"] = time.perf_counter() - t
# bgcut's PNG at each zlib level (0: stored): encode time and packed size
for level in (0, 1, 2):
    t = time.perf_counter()
    data = writing.png_bytes(cut_px, level=level)
    out[f"level{level}"] = {"encode_s": time.perf_counter() - t, "bytes": len(data)}
t = time.perf_counter()
naive = np.array(image.pixels[:], dtype=np.float32).reshape(h, w, 4)[::-1]
out["naive_read_s"] = time.perf_counter() - t
assert np.array_equal(np.round(naive * 255).astype(np.uint8), px)
target = bpy.data.images.new("naive", w, h, alpha=True)
t = time.perf_counter()
target.pixels[:] = cut_floats[::-1].ravel().tolist()
target.update()
target.pack()
out["naive_write_s"] = time.perf_counter() - t
json.dump(out, open(out_path, "w"), indent=1)
