"""The offline engine against rembg's plain u2netp cut, on the same model file.

Both load u2netp once in this process; then, per photo, runs alternate (bgcut, rembg,
rembg, bgcut, ...: neither always runs first), each after a short rest (SETTLE), and the
median time is kept. Photos: the real photos with ground truth the tests use
(tests/realphotos.py) and two of them upscaled to 12 MP (truth upscaled with them).
Reported: seconds, the bgcut/rembg ratio of wall time and of this process's CPU time
(steadier when other work shares the machine), IoU (alpha > 127) and mean absolute error
against the truth, whether the extra views ran, and the peak memory a cut adds above the
process's resident size before it (Linux clear_refs; median over the runs, the largest
is in the JSON), per engine.

rembg (`pip install rembg`, benchmark-only) finds the model at $U2NET_HOME/u2netp.onnx: a
temporary folder linking to bgcut's verified copy, so it never downloads.
Run: .venv/bin/python benchmarks/local_vs_rembg.py [rounds]   (needs `bgcut engine install`)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bgcut
import numpy as np
from bgcut.engines.local import LocalEngine
from bgcut.model import find_model, load_verified
from common import peak_since_reset, reset_peak, table, write_json
from imagery import iou
from PIL import Image
from realphotos import Photo, all_photos

BIG_MP = 12.0
#: Seconds of rest, untimed, before each run. rembg's session lets onnxruntime's threads
#: spin on after a run (bgcut's stop): a bgcut cut timed straight after a rembg one took
#: 1.12x its time after its own (quokka, 271 against 241 ms), and after 0.1 s of rest the
#: same as after its own. A user runs one tool at a time, not both in one process.
SETTLE = 0.2


def upscaled(photo: Photo, megapixels: float) -> Photo:
    h, w = photo.truth.shape
    s = (megapixels * 1e6 / (w * h)) ** 0.5
    size = (round(w * s), round(h * s))
    rgb = np.asarray(Image.fromarray(photo.rgb).resize(size, Image.Resampling.BICUBIC))
    truth = np.asarray(Image.fromarray(photo.truth).resize(size, Image.Resampling.NEAREST))
    return Photo(f"{photo.name} @{megapixels:.0f} MP", rgb, truth)


def rembg_session() -> tuple[Any, Callable[..., Any]]:
    home = Path(tempfile.mkdtemp(prefix="u2net-home-"))
    (home / "u2netp.onnx").symlink_to(find_model())
    os.environ["U2NET_HOME"] = str(home)
    from rembg import new_session, remove

    return new_session("u2netp"), remove


def measure(
    cut: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray
) -> tuple[np.ndarray, float, float, float]:
    """(alpha, seconds, CPU seconds of this process, MB the cut added at its peak above
    the resident size before it)."""
    time.sleep(SETTLE)
    before = reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    alpha = cut(rgb)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return alpha, seconds, cpu, peak_since_reset() - before


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    load_verified()  # a missing or altered model stops here, with its message
    engine = LocalEngine()
    session, remove = rembg_session()
    engines = {
        "bgcut": lambda rgb: bgcut.remove_background(rgb, engine=engine).mask,
        "rembg": lambda rgb: np.asarray(remove(rgb, session=session))[..., 3],
    }
    names = list(engines)
    photos = all_photos()
    photos += [upscaled(photos[0], BIG_MP), upscaled(photos[1], BIG_MP)]
    warm = photos[0].rgb
    for cut in engines.values():  # load both models outside the timings
        cut(warm)
    rows, records = [], []
    for photo in photos:
        n = rounds
        times: dict[str, list[float]] = {k: [] for k in engines}
        cpus: dict[str, list[float]] = {k: [] for k in engines}
        peaks: dict[str, list[float]] = {k: [] for k in engines}
        alphas: dict[str, np.ndarray] = {}
        for i in range(n):
            for name in names if i % 2 == 0 else names[::-1]:  # neither always goes first
                cut = engines[name]
                alphas[name], s, cpu, mb = measure(cut, photo.rgb)
                times[name].append(s)
                cpus[name].append(cpu)
                peaks[name].append(mb)
        rec: dict[str, object] = {
            "photo": photo.name,
            "mp": photo.truth.size / 1e6,
            "rounds": n,
            "extra_views": engine.wants_views(photo.rgb),
        }
        for name in engines:
            alpha = alphas[name].astype(np.float32) / 255.0
            rec[f"{name}_s"] = statistics.median(times[name])
            rec[f"{name}_cpu_s"] = statistics.median(cpus[name])
            rec[f"{name}_iou"] = iou(alphas[name] > 127, photo.truth)
            rec[f"{name}_mae"] = float(np.abs(alpha - photo.truth).mean())
            rec[f"{name}_peak_mb"] = statistics.median(peaks[name])
            rec[f"{name}_peak_mb_max"] = max(peaks[name])
        rec["time_ratio"] = statistics.median(times["bgcut"]) / statistics.median(times["rembg"])
        rec["cpu_ratio"] = statistics.median(cpus["bgcut"]) / statistics.median(cpus["rembg"])
        records.append(rec)
        rows.append(
            [
                photo.name,
                rec["mp"],
                "yes" if rec["extra_views"] else "no",
                rec["bgcut_s"],
                rec["rembg_s"],
                rec["time_ratio"],
                rec["cpu_ratio"],
                rec["bgcut_iou"],
                rec["rembg_iou"],
                rec["bgcut_mae"],
                rec["rembg_mae"],
                rec["bgcut_peak_mb"],
                rec["rembg_peak_mb"],
            ]
        )
    header = ["photo", "MP", "views", "bgcut s", "rembg s", "ratio", "CPU ratio", "IoU bgcut", "IoU rembg"]
    header += ["MAE bgcut", "MAE rembg", "peak+ MB bgcut", "peak+ MB rembg"]
    print(table("Offline engine vs rembg u2netp (median of alternating runs)", header, rows))
    print(f"written: {write_json('local_vs_rembg', {'photos': records})}")


if __name__ == "__main__":
    main()
