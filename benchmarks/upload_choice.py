"""Which upload encoding keeps the service's result: PNG (lossless, the reference) against
JPEG at quality 95 to 85, with full chroma (4:4:4) or subsampled (4:2:0), on the real
photos at their own size and photo mosaics at 4 and 12 MP (benchmarks/photos.py).

For each, the emulator's deterministic segmentation is run on what the service would
decode and its answer compared with the answer to the PNG upload: the mask (pixels that
differ, largest difference, pixels whose keep/drop side at 128 flips) and the edge colours
(the answer's RGB where the mask is partial, the only RGB of the answer a cut-out uses),
with the bytes and the encoding time.
Run: .venv/bin/python benchmarks/upload_choice.py
"""

from __future__ import annotations

import io
import statistics
import time

import numpy as np
from bgcut.emulator.segment import segment
from common import table, write_json
from photos import mosaic
from PIL import Image
from realphotos import all_photos

CANDIDATES = [("PNG", None, None)] + [
    ("JPEG", q, sub) for q in (95, 92, 90, 85) for sub in ("4:4:4", "4:2:0")
]


def encode(rgb: np.ndarray, fmt: str, quality: int | None, subsampling: str | None) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    else:
        Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def answer_of(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The emulator's answer to this upload: (alpha, RGB) of what it decodes."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return segment(rgb), rgb


def compare(ref: tuple[np.ndarray, np.ndarray], got: tuple[np.ndarray, np.ndarray]) -> dict:
    ref_a, ref_rgb = ref
    a, rgb = got
    diff = np.abs(a.astype(np.int16) - ref_a)
    edge = (ref_a > 0) & (ref_a < 255)
    colour = np.abs(rgb[edge].astype(np.int16) - ref_rgb[edge]).max(axis=1) if edge.any() else np.zeros(1)
    return {
        "mask_differs_pct": 100.0 * float((diff > 0).mean()),
        "mask_max_diff": int(diff.max()),
        "mask_mean_diff": float(diff.mean()),
        "side_flips_pct": 100.0 * float(((a >= 128) != (ref_a >= 128)).mean()),
        "edge_colour_mean": float(colour.mean()),
        "edge_colour_p99": float(np.percentile(colour, 99)),
    }


def study(name: str, rgb: np.ndarray) -> list[dict]:
    out = []
    ref = None
    for fmt, q, sub in CANDIDATES:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            data = encode(rgb, fmt, q, sub)
            times.append(time.perf_counter() - t0)
        got = answer_of(data)
        if ref is None:
            ref = got
        rec = {"picture": name, "mp": rgb.shape[0] * rgb.shape[1] / 1e6, "format": fmt, "quality": q}
        rec |= {"subsampling": sub, "bytes": len(data), "encode_s": statistics.median(times)}
        rec |= compare(ref, got)
        out.append(rec)
    png = out[0]
    for rec in out:
        rec["bytes_vs_png"] = rec["bytes"] / png["bytes"]
    return out


def main() -> None:
    pictures = [(p.name, p.rgb) for p in all_photos()]
    pictures += [("mosaic 4 MP", mosaic(4, seed=4)), ("mosaic 12 MP", mosaic(12, seed=12))]
    records = []
    for name, rgb in pictures:
        records += study(name, rgb)
    rows = [
        [
            r["picture"],
            f"{r['mp']:.2f}",
            r["format"] if r["quality"] is None else f"q{r['quality']} {r['subsampling']}",
            f"{r['bytes'] / 1e6:.2f}",
            r["bytes_vs_png"],
            r["encode_s"],
            f"{r['mask_differs_pct']:.2f}",
            r["mask_max_diff"],
            f"{r['mask_mean_diff']:.3f}",
            f"{r['side_flips_pct']:.3f}",
            f"{r['edge_colour_mean']:.2f}",
            f"{r['edge_colour_p99']:.0f}",
        ]
        for r in records
    ]
    header = ["picture", "MP", "upload", "MB", "bytes/PNG", "encode s", "mask ≠ %", "max Δ"]
    header += ["mean Δ", "flips %", "edge RGB mean Δ", "edge RGB p99 Δ"]
    print(table("Upload encodings vs PNG: the emulator's answer (mask, edge colours)", header, rows))
    print(f"written: {write_json('upload_choice', records)}")


if __name__ == "__main__":
    main()
