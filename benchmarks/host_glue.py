"""Host glue for a 12 MP picture in real GIMP 3 and real Blender: the plug-in's whole-
rectangle/foreach pixel moves against a naive per-row (GIMP) or `pixels[:]` (Blender) way
in the same host run, next to the API round trip against the emulator (loopback).
Run: .venv/bin/python benchmarks/host_glue.py   (uses the hosts the tests set up)
     .venv/bin/python benchmarks/host_glue.py blender   (Blender alone: results/host_glue_blender.json)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import ROOT, table, write_json
from photos import mosaic
from PIL import Image

sys.path.insert(0, str(ROOT.parent / "tests" / "hosts"))
import bgcut  # noqa: E402
from bgcut.emulator import Emulator  # noqa: E402

KEY = "glue-bench-key-0123456789"


def gimp(work: Path) -> dict:
    from gimp_host import gimp_root, install_plugin

    root = gimp_root("full")
    plugins = work / "plugins"
    install_plugin(plugins, "--no-vendor")
    io_dir = work / "io"
    io_dir.mkdir()
    (io_dir / "in.png").write_bytes((work / "in.png").read_bytes())
    (io_dir / "batch.py").write_text((ROOT / "hosts" / "gimp_glue.py").read_text())
    profile = work / "profile"
    profile.mkdir()
    subprocess.run(
        [
            "bash",
            str(ROOT.parent / "tests" / "hosts" / "gimp_run.sh"),
            str(root),
            str(plugins),
            str(io_dir),
            str(profile),
            "batch.py",
        ],
        capture_output=True,
        timeout=900,
        check=False,
    )
    return json.loads((io_dir / "glue.json").read_text())


def extension_dir(work: Path) -> Path:
    """The add-on with the core inside it, unpacked from the built zip (as Blender has it)."""
    import zipfile

    from blender_host import build_extension

    dest = work / "ext" / "bgcut_ext"
    with zipfile.ZipFile(build_extension(work / "dist")) as zf:
        zf.extractall(dest)
    return dest


def blender(work: Path) -> dict:
    from blender_host import bpy_python

    out = work / "blender.json"
    done = subprocess.run(
        [
            str(bpy_python()),
            str(ROOT / "hosts" / "blender_glue.py"),
            str(extension_dir(work)),
            str(work / "in.png"),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(work),
            "BLENDER_USER_RESOURCES": str(work / "b"),
            "TMPDIR": tempfile.gettempdir(),
        },
    )
    if done.returncode != 0:
        raise SystemExit(f"blender_glue.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def round_trip(img: np.ndarray) -> float:
    with Emulator({KEY: 5}) as emu:
        start = time.perf_counter()
        bgcut.remove_background(img, engine="backgroundcut", api_key=KEY, endpoint=emu.endpoint, cache=False)
        return time.perf_counter() - start


def blender_notes(b: dict) -> list[str]:
    return [
        f"Blender full write of a 12 MP cut-out (bgcut's PNG packed, Blender decoding it), "
        f"median of {b['rounds']}: {b['write_s']:.3f} s ({b['write_cpu_s']:.3f} s CPU) against "
        f"{b['baseline_write_s']:.3f} s ({b['baseline_cpu_s']:.3f} s CPU) for foreach_set + Blender's own "
        f"pack(), alternating in the same run (ratio {b['write_over_baseline']:.2f}); "
        f"fastest round {min(b['runs_s']['write']):.3f} s",
        f"  the same write from a float cut-out (byte images read as floats, as before): "
        f"{b['float_write_s']:.3f} s (bytes over floats {b['write_over_float_write']:.2f}); reading the "
        f"12 MP byte image as bytes {b['read_s']:.3f} s, its floats alone {b['read_floats_s']:.3f} s",
        f"  the same write with zlib's deflate (before isal): {b['zlib_write_s']:.3f} s "
        f"({b['deflate']} over zlib {b['write_over_zlib_write']:.2f})",
        f"  packed {b['bytes'] / 1e6:.1f} MB (Blender's own: {b['baseline_bytes'] / 1e6:.1f} MB); bgcut's "
        f"encode alone {b['pack_s']:.3f} s; first read after the write {b['first_read_after_write_s']:.3f} s "
        f"(again: {b['read_again_s']:.3f} s: nothing put off); a 12 MP mask {b['mask_write_s']:.3f} s",
        *(
            f"  bgcut's PNG at deflate level {lv} ({b['deflate']}; 0: stored): encode {b[f'level{lv}']['encode_s']:.3f} s, "
            f"{b[f'level{lv}']['bytes'] / 1e6:.1f} MB packed"
            for lv in (0, 1, 2)
        ),
    ]


def main() -> None:
    img = mosaic(12, seed=12)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        Image.fromarray(img).save(work / "in.png", compress_level=1)
        if sys.argv[1:] == ["blender"]:
            b = blender(work)
            b["load_average"] = list(os.getloadavg())  # a shared machine's timings need it
            print("\n".join(blender_notes(b)))
            print(f"written: {write_json('host_glue_blender', b)}")
            return
        results = {"gimp": gimp(work), "blender": blender(work)}
    trip = round_trip(img)
    rows = []
    for host, r in results.items():
        glue = r["read_s"] + r["write_s"]
        naive = r["naive_read_s"] + r["naive_write_s"]
        r.update(
            {
                "glue_s": glue,
                "naive_s": naive,
                "naive_over_glue": naive / glue,
                "round_trip_s": trip,
                "glue_share_of_round_trip": glue / trip,
            }
        )
        rows.append(
            [
                host,
                f"{r['w']}x{r['h']}",
                r["read_s"],
                r["write_s"],
                glue,
                naive,
                naive / glue,
                trip,
                glue / trip,
            ]
        )
    g, b = results["gimp"], results["blender"]
    notes = [
        f"GIMP per-pixel read (100x100 patch, scaled to 12 MP): {g['per_pixel_read_s_estimate']:.0f} s "
        f"= {g['per_pixel_read_s_estimate'] / g['read_s']:.0f}x the whole-rectangle read",
        f"GIMP glue in bands on every core, median of {g['rounds']}: read {g['read_s']:.3f} s against "
        f"{g['read_one_piece_s']:.3f} s in one piece (as before), write {g['write_s']:.3f} s against "
        f"{g['write_one_piece_s']:.3f} s; glue {g['read_s'] + g['write_s']:.3f} s against "
        f"{g['read_one_piece_s'] + g['write_one_piece_s']:.3f} s, same GIMP run",
        *blender_notes(b),
    ]
    print(
        table(
            "Host glue for a 12 MP picture (same host run) and the API round trip (emulator, loopback)",
            [
                "host",
                "size",
                "read s",
                "write s",
                "glue s",
                "naive s",
                "naive/glue",
                "round trip s",
                "glue/round trip",
            ],
            rows,
        )
    )
    print("\n".join(notes))
    print(f"written: {write_json('host_glue', results)}")


if __name__ == "__main__":
    main()
