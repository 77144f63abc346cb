"""Colour decontamination at the soft edge: how close the recovered foreground is, and its cost.

Method. The known alpha of each real photo (tests/realphotos.py) is the soft mask bgcut's
offline engine computes for it (u2netp, guided to full size: the mask its cut-out gets).
The known foreground F is the photo where that mask is opaque, continued outward over the
rest of the mask by the colour of the nearest opaque pixel (grown one pixel a step: real
pixels copied, not blurred), so that F holds no background of its own. F is composited
over several backgrounds B (solid teal, pale grey and near-black, and a mosaic of other
real photos): I = α·F + (1−α)·B, rounded to 8 bits like a photo. Each estimator sees only
I and α. The error is the α-weighted mean absolute difference from F over the band
(0 < α < 1), in 8-bit levels, for: today (the cut-out keeps I), bgcut's estimate
(build_cutout with decontaminate=True) and pymatting's estimate_foreground_ml when it is
installed (a benchmark-only dependency).
Cost: the quokka and its known foreground upscaled to 1 and 12 MP with the engine's mask
at that size, composited over teal; build_cutout with the estimate on and off in this
process (best of several runs) and tracemalloc's peak of each; pymatting timed once.
Pictures: benchmarks/results/edge_colour_<photo>.png, each real photo (not a composite)
cut with its own mask and laid over magenta: today | bgcut | pymatting.
Run: .venv/bin/python benchmarks/edge_colour.py  (needs `bgcut engine install`; for the
pymatting column: .venv/bin/pip install pymatting)
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from bgcut.cutout import build_cutout
from bgcut.engines.local import LocalEngine
from bgcut.options import CutOptions
from bgcut.source import Source
from common import RESULTS, table, write_json
from photos import mosaic
from PIL import Image, ImageDraw
from realphotos import all_photos, quokka

SOLIDS = {"teal": (0, 128, 128), "pale grey": (225, 225, 220), "near-black": (20, 20, 24)}
SHOW_ON = (230, 0, 180)
SIZES = {"1 MP": (1224, 817), "12 MP": (4240, 2836)}

Estimator = Callable[[np.ndarray, np.ndarray], np.ndarray]


def main() -> None:
    engine = LocalEngine()
    pymatting = _pymatting()
    estimators: dict[str, Estimator] = {"today": _bgcut(False), "bgcut": _bgcut(True)}
    if pymatting:
        estimators["pymatting"] = pymatting
    photos = [(p.name, p.rgb, _engine_mask(engine, p.rgb)) for p in all_photos()]
    quality = _quality(photos, estimators)
    cost = _cost(engine, pymatting)
    for name, rgb, mask in photos:
        _picture(name, rgb, mask, estimators)
    _report(quality, cost, estimators)


def _engine_mask(engine: LocalEngine, rgb: np.ndarray) -> np.ndarray:
    return engine.cut(Source(rgb), CutOptions(decontaminate=False)).mask


def _bgcut(on: bool) -> Estimator:
    options = CutOptions(channels="alpha", decontaminate=on)

    def estimate(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return build_cutout(Source(image), mask[..., None], options, None).rgba[..., :3]

    return estimate


def _pymatting() -> Estimator | None:
    try:
        from pymatting import estimate_foreground_ml
    except ImportError:
        print("pymatting is not installed (.venv/bin/pip install pymatting): its column is left out")
        return None
    estimate_foreground_ml(np.zeros((8, 8, 3)), np.full((8, 8), 0.5))  # numba compiles here

    def estimate(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        fg = estimate_foreground_ml(image / 255.0, mask / 255.0)
        return (np.clip(fg, 0, 1) * 255 + 0.5).astype(np.uint8)

    return estimate


def backgrounds(h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    out = {name: np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)) for name, rgb in SOLIDS.items()}
    photo = mosaic(h * w * 1.5 / 1e6, seed=seed, aspect=w / h)
    out["photo mosaic"] = np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.BICUBIC))
    return out


def known_foreground(rgb: np.ndarray, mask: np.ndarray, everywhere: bool = False) -> np.ndarray:
    """The photo where the mask is opaque, continued over the rest of the mask (or the
    whole picture) by the nearest opaque pixel's colour, grown one pixel a step."""
    fg = rgb.copy()
    filled = mask == 255
    needed = np.ones_like(filled) if everywhere else mask > 0
    if not filled.any():
        return fg
    everything, head, tail = slice(None), slice(1, None), slice(None, -1)
    shifts = [
        ((head, everything), (tail, everything)),
        ((tail, everything), (head, everything)),
        ((everything, head), (everything, tail)),
        ((everything, tail), (everything, head)),
    ]
    while (needed & ~filled).any():
        for to, source in shifts:
            take = filled[source] & ~filled[to]
            fg[to][take] = fg[source][take]
            filled[to] |= take
    return fg


def composite(fg: np.ndarray, mask: np.ndarray, bg: np.ndarray) -> np.ndarray:
    a = mask[..., None].astype(np.float32) / 255
    return (a * fg + (1 - a) * bg + 0.5).astype(np.uint8)


def edge_error(estimate: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """α-weighted mean absolute difference over the band, in 8-bit levels."""
    band = (mask > 0) & (mask < 255)
    weight = mask[band].astype(np.float64) / 255
    diff = np.abs(estimate[band].astype(np.float64) - truth[band]).mean(axis=1)
    return float((weight * diff).sum() / weight.sum())


def _quality(photos: list, estimators: dict[str, Estimator]) -> list[dict]:
    records = []
    for seed, (name, rgb, mask) in enumerate(photos):
        fg = known_foreground(rgb, mask)
        h, w = mask.shape
        for bg_name, bg in backgrounds(h, w, seed=seed).items():
            image = composite(fg, mask, bg)
            errors = {k: edge_error(est(image, mask), fg, mask) for k, est in estimators.items()}
            records.append({"photo": name, "background": bg_name, **errors})
    return records


def _timed(estimate: Estimator, image: np.ndarray, mask: np.ndarray, runs: int) -> tuple[float, float]:
    """Best wall and CPU seconds of `runs` calls (CPU time is what other processes on a
    shared machine do not inflate)."""
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        estimate(image, mask)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def _peak(estimate: Estimator, image: np.ndarray, mask: np.ndarray) -> int:
    tracemalloc.start()
    estimate(image, mask)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _cost(engine: LocalEngine, pymatting: Estimator | None) -> list[dict]:
    photo = quokka().rgb
    known = known_foreground(photo, _engine_mask(engine, photo), everywhere=True)
    records = []
    for label, (w, h) in SIZES.items():
        bigger = np.asarray(Image.fromarray(photo).resize((w, h), Image.Resampling.BICUBIC))
        fg = np.asarray(Image.fromarray(known).resize((w, h), Image.Resampling.BICUBIC))
        mask = _engine_mask(engine, bigger)
        image = composite(fg, mask, np.array(SOLIDS["teal"], np.uint8))
        off, on = _bgcut(False), _bgcut(True)
        runs = 7 if w * h < 4e6 else 4
        (s_off, cpu_off), (s_on, cpu_on) = _timed(off, image, mask, runs), _timed(on, image, mask, runs)
        rec = {
            "size": label,
            "mp": w * h / 1e6,
            "band_share": float(((mask > 0) & (mask < 255)).mean()),
            "s_off": s_off,
            "s_on": s_on,
            "cpu_off": cpu_off,
            "cpu_on": cpu_on,
            "peak_off": _peak(off, image, mask),
            "peak_on": _peak(on, image, mask),
            "rgba_bytes": w * h * 4,
            "error_today": edge_error(off(image, mask), fg, mask),
            "error_bgcut": edge_error(on(image, mask), fg, mask),
        }
        if pymatting:
            start = time.perf_counter()
            rec["error_pymatting"] = edge_error(pymatting(image, mask), fg, mask)
            rec["s_pymatting"] = time.perf_counter() - start
        records.append(rec)
    return records


def _picture(name: str, rgb: np.ndarray, mask: np.ndarray, estimators: dict[str, Estimator]) -> None:
    """The real photo, cut with its own mask, over a solid colour: one panel per estimator."""
    a = mask[..., None].astype(np.float32) / 255
    panels = []
    for label, est in estimators.items():
        shown = (a * est(rgb, mask) + (1 - a) * np.array(SHOW_ON, np.float32) + 0.5).astype(np.uint8)
        panel = Image.fromarray(shown)
        ImageDraw.Draw(panel).text((8, 8), label, fill=(255, 255, 255))
        panels.append(np.asarray(panel))
    gap = np.full((rgb.shape[0], 6, 3), 255, np.uint8)
    strip = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)
    RESULTS.mkdir(exist_ok=True)
    Image.fromarray(strip).save(RESULTS / f"edge_colour_{name.replace('/', '_')}.png")


def _report(quality: list[dict], cost: list[dict], estimators: dict[str, Estimator]) -> None:
    names = list(estimators)
    rows = [[r["photo"], r["background"], *[r[k] for k in names], r["bgcut"] / r["today"]] for r in quality]
    mean = {k: float(np.mean([r[k] for r in quality])) for k in names}
    rows.append(["mean", "", *[mean[k] for k in names], mean["bgcut"] / mean["today"]])
    print(
        table(
            "α-weighted colour error in the band (8-bit levels; lower is better)",
            ["photo", "background", *names, "bgcut/today"],
            rows,
        )
    )
    ratio = float(np.mean([r["bgcut"] / r["today"] for r in quality]))
    print(
        f"error ratio bgcut/today: {ratio:.3f} mean of ratios, {mean['bgcut'] / mean['today']:.3f} of means (target ≤ 0.5)"
    )
    if "pymatting" in mean:
        print(f"error ratio bgcut/pymatting: {mean['bgcut'] / mean['pymatting']:.3f}")
    cost_rows = []
    for r in cost:
        r.update(
            extra_s=r["s_on"] - r["s_off"],
            extra_cpu=r["cpu_on"] - r["cpu_off"],
            extra_peak_vs_rgba=(r["peak_on"] - r["peak_off"]) / r["rgba_bytes"],
        )
        cost_rows.append(
            [
                r["size"],
                r["band_share"],
                r["s_off"],
                r["s_on"],
                r["extra_s"],
                r["extra_cpu"],
                r["s_on"] / r["s_off"],
                r["extra_peak_vs_rgba"],
                r["error_bgcut"] / r["error_today"],
                r.get("s_pymatting", ""),
                r["error_bgcut"] / r["error_pymatting"] if "error_pymatting" in r else "",
            ]
        )
    print(
        table(
            "Cost in build_cutout (quokka upscaled, its engine mask, over teal); "
            "baseline: the same call with decontaminate=False",
            [
                "size",
                "band share",
                "s off",
                "s on",
                "extra s",
                "extra CPU s",
                "on/off",
                "extra peak / RGBA",
                "err bgcut/today",
                "s pymatting",
                "err bgcut/pymatting",
            ],
            cost_rows,
        )
    )
    big = cost[-1]
    print(
        f"at 12 MP: {big['extra_s']:.3f} s extra ({big['extra_cpu']:.3f} s of CPU; target ≤ 0.3 s), "
        f"extra peak memory {big['extra_peak_vs_rgba']:.2f}× the RGBA (target ≤ 1.5×); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    path = write_json(
        "edge_colour",
        {"quality": quality, "mean": mean, "ratio_mean": ratio, "cost": cost, "load": os.getloadavg()},
    )
    print(f"written: {path} and {RESULTS}/edge_colour_*.png")


if __name__ == "__main__":
    main()
