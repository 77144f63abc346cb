"""What the client adds around the service: prepare the upload, then turn the answer into
both layers at the source's size; against the naive pipeline peer plug-ins use (save the
layer as PNG at default compression, upload that, decode, resize the mask with a plain
filter), run in the same process on the same photo-like pictures (benchmarks/photos.py).

Each measurement runs in a fresh child process so peak memory is its own.
Run: .venv/bin/python benchmarks/client_overhead.py [MP ...]   (default 1 4 12 24)
"""

from __future__ import annotations

import io
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from bgcut.answer import decode_answer
from bgcut.cutout import build_cutout
from bgcut.emulator.segment import segment
from bgcut.emulator.server import _render
from bgcut.options import CutOptions
from bgcut.source import load_source
from bgcut.upload import MAX_UPLOAD_BYTES, prepare_upload
from common import peak_since_reset, reset_peak, table, write_json
from PIL import Image

LIMIT = 12_000_000


def service_answer(upload_bytes: bytes, return_type: str) -> bytes:
    """What the service would send back (the emulator's renderer), made outside the timings."""
    rgb = np.asarray(Image.open(io.BytesIO(upload_bytes)).convert("RGB"))
    options = {"max_resolution": LIMIT, "channels": "rgba", "return_type": return_type}
    body, _ = _render(rgb, options, segment, wrong_size=False)
    return body


def run_bgcut(img: np.ndarray, conn: Connection) -> None:
    options = CutOptions()
    source = load_source(img)
    base = reset_peak()
    t0 = time.perf_counter()
    upload = prepare_upload(source.rgb8(), options)
    t_prep = time.perf_counter() - t0
    extra_prep = peak_since_reset() - base
    answer = service_answer(upload.data, options.return_type)
    base = reset_peak()
    t0 = time.perf_counter()
    cut = build_cutout(source, decode_answer(answer), options, upload.info, engine="backgroundcut")
    t_layers = time.perf_counter() - t0
    extra_layers = peak_since_reset() - base
    assert cut.rgba.shape[:2] == img.shape[:2]
    conn.send(
        {
            "prep": t_prep,
            "layers": t_layers,
            "bytes": upload.info.bytes,
            "format": upload.info.format,
            "scale": upload.info.scale,
            "extra_mb": max(extra_prep, extra_layers),
        }
    )


def run_naive(img: np.ndarray, conn: Connection) -> None:
    t0 = time.perf_counter()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")  # Pillow's default compression (6)
    data = buf.getvalue()
    t_prep = time.perf_counter() - t0
    small = img
    if img.shape[0] * img.shape[1] > LIMIT:  # the service returns at most 12 MP
        s = (LIMIT / (img.shape[0] * img.shape[1])) ** 0.5
        small = np.asarray(Image.fromarray(img).resize((int(img.shape[1] * s), int(img.shape[0] * s))))
    answer, _ = _render(
        small, {"max_resolution": LIMIT, "channels": "rgba", "return_type": "PNG"}, segment, wrong_size=False
    )
    base = reset_peak()
    t0 = time.perf_counter()
    im: Image.Image = Image.open(io.BytesIO(answer))
    im.load()
    if im.size != (img.shape[1], img.shape[0]):
        im = im.resize((img.shape[1], img.shape[0]), Image.Resampling.BILINEAR)
    rgba = np.asarray(im.convert("RGBA"))
    mask = rgba[..., 3].copy()
    t_layers = time.perf_counter() - t0
    assert mask.shape == img.shape[:2]
    conn.send(
        {
            "prep": t_prep,
            "layers": t_layers,
            "bytes": len(data),
            "format": "PNG",
            "scale": 1.0,
            "extra_mb": peak_since_reset() - base,
        }
    )


def measure(fn: Callable[[np.ndarray, Connection], None], img: np.ndarray) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=fn, args=(img, child))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


def main(sizes: list[float]) -> None:
    from photos import mosaic

    rows, records = [], []
    for megapixels in sizes:
        img = mosaic(megapixels, seed=int(megapixels))
        best: dict[str, dict[str, Any]] = {}
        for name, fn in (("bgcut", run_bgcut), ("naive", run_naive)):
            runs = [measure(fn, img) for _ in range(3)]
            best[name] = min(runs, key=lambda r: r["prep"] + r["layers"])
        b, n = best["bgcut"], best["naive"]
        tb, tn = b["prep"] + b["layers"], n["prep"] + n["layers"]
        rgba_mb = img.shape[0] * img.shape[1] * 4 / 2**20
        rec = {
            "mp": img.shape[0] * img.shape[1] / 1e6,
            "bgcut": b,
            "naive": n,
            "time_ratio": tn / tb,
            "bytes_ratio": n["bytes"] / b["bytes"],
            "naive_over_12mb": n["bytes"] > MAX_UPLOAD_BYTES,
            "extra_over_rgba": b["extra_mb"] / rgba_mb,
        }
        records.append(rec)
        rows.append(
            [
                f"{rec['mp']:.1f}",
                b["prep"],
                b["layers"],
                tb,
                f"{b['bytes'] / 1e6:.2f} {b['format']}",
                b["extra_mb"],
                rec["extra_over_rgba"],
                tn,
                f"{n['bytes'] / 1e6:.2f}",
                "yes" if rec["naive_over_12mb"] else "no",
                rec["time_ratio"],
                rec["bytes_ratio"],
            ]
        )
    print(
        table(
            "Client overhead per image: bgcut vs the naive pipeline (best of 3, same process tree)",
            [
                "MP",
                "prep s",
                "layers s",
                "bgcut s",
                "upload MB",
                "extra MB",
                "extra/RGBA",
                "naive s",
                "naive MB",
                "naive >12MB",
                "time naive/bgcut",
                "bytes naive/bgcut",
            ],
            rows,
        )
    )
    print(f"written: {write_json('client_overhead', records)}")


if __name__ == "__main__":
    main([float(a) for a in sys.argv[1:]] or [1, 4, 12, 24])
