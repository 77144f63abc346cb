"""What "Remove Background" does in GIMP: read every layer, cut them all, then write.

All network work happens before the image is touched, so a failure (no key, 401, 402,
no network, a bad answer) leaves the image exactly as it was. Writing happens in one
undo group. GIMP calls go through gimpfu_compat; cutting goes through the bgcut core.
"""

from __future__ import annotations

from dataclasses import dataclass

import bgcut
import gimpfu_compat as gf
from bgcut import config as bgcut_config
from bgcut.errors import BgcutError, MissingKeyError

OUTPUTS = ("layer-mask", "rgba-layer", "mask-layer")


class UserFacingError(Exception):
    """A message for the user (shown by GIMP; EXECUTION_ERROR text for scripts)."""


@dataclass
class Settings:
    output: str
    options: bgcut.CutOptions
    selection_only: bool
    engine: str = "auto"


@dataclass
class Job:
    layer: object
    rect: tuple[int, int, int, int]  # in the layer's own coordinates
    pixels: object = None
    cut: bgcut.Cutout | None = None


def settings_from(config) -> Settings:
    try:
        options = bgcut.CutOptions(
            quality=config.get_property("quality"),
            return_type=(config.get_property("return-type") or bgcut.CutOptions.return_type).strip(),
            max_resolution=int(config.get_property("max-resolution")),
        )
    except BgcutError as exc:
        raise UserFacingError(str(exc)) from None
    output = config.get_property("output")
    if output not in OUTPUTS:
        raise UserFacingError(f"Unknown output {output!r}: use one of {', '.join(OUTPUTS)}.")
    return Settings(
        output, options, bool(config.get_property("selection-only")), config.get_property("engine")
    )


def remove_background(image, drawables: list, settings: Settings, *, interactive: bool) -> None:
    if not drawables:
        raise UserFacingError("Select at least one layer, then run Remove Background again.")
    problems = [p for p in (gf.layer_problem(d) for d in drawables) if p]
    if problems:
        raise UserFacingError(" ".join(problems) + " Nothing was changed.")
    jobs = _plan(image, drawables, settings.selection_only)
    engine = _engine(settings.engine, interactive)
    if engine.notice:
        gf.message(engine.notice)
    comp = gf.component(image)
    with gf.progress("Removing background") as step:
        for n, job in enumerate(jobs):
            job.pixels = gf.read_rgba(job.layer, job.rect, comp)
            base, share = n / len(jobs), 1.0 / len(jobs)
            try:
                job.cut = bgcut.remove_background(
                    job.pixels,
                    settings.options,
                    engine=engine,
                    progress=lambda f, _t, b=base, s=share: step(b + f * s),
                )
            except BgcutError as exc:
                raise UserFacingError(f"{exc} Nothing was changed.") from None
    with gf.undo_group(image):
        for job in jobs:
            _write(image, job, settings.output, comp)
    gf.flush()


def _plan(image, drawables: list, selection_only: bool) -> list[Job]:
    sel = gf.selection_bounds(image) if selection_only else None
    jobs = []
    for layer in drawables:
        w, h = gf.size(layer)
        rect = (0, 0, w, h)
        if sel is not None:
            ox, oy = gf.offsets(layer)
            x1, y1 = max(sel[0] - ox, 0), max(sel[1] - oy, 0)
            x2, y2 = min(sel[0] + sel[2] - ox, w), min(sel[1] + sel[3] - oy, h)
            if x2 <= x1 or y2 <= y1:
                raise UserFacingError(
                    f"The selection does not overlap layer '{layer.get_name()}'. Nothing was changed."
                )
            rect = (x1, y1, x2 - x1, y2 - y1)
        jobs.append(Job(layer, rect))
    return jobs


def _engine(kind: str, interactive: bool):
    try:
        return bgcut.make_engine(kind)
    except MissingKeyError as exc:
        if not interactive:
            raise UserFacingError(str(exc)) from None
    except BgcutError as exc:
        raise UserFacingError(f"{exc} Nothing was changed.") from None
    key = gf.ask_for_key()
    if not key:
        raise UserFacingError("No API key given; nothing was changed.")
    try:
        bgcut_config.store_key(key)
        return bgcut.make_engine(kind)
    except BgcutError as exc:
        raise UserFacingError(str(exc)) from None


def _write(image, job: Job, output: str, comp: str) -> None:
    layer, cut = job.layer, job.cut
    assert cut is not None
    x, y, w, h = job.rect
    ox, oy = gf.offsets(layer)
    name = layer.get_name()
    if output == "layer-mask":
        gf.set_mask(layer, cut.mask, job.rect)
    elif output == "rgba-layer":
        gf.add_layer(image, layer, f"{name} (cut)", cut.rgba, (ox + x, oy + y), comp, alpha=True)
    else:
        gf.add_layer(image, layer, f"{name} (mask)", cut.mask, (ox + x, oy + y), "u8", alpha=False)
