"""What "Remove Background" does in GIMP: read every layer, cut them all, then write.

All network work happens before the image is touched, so a failure (no key, 401, 402,
no network, a bad answer) leaves the image exactly as it was, and says so. Writing happens
in one undo group. GIMP calls go through gimp_api; cutting goes through the bgcut core.
Every failure leaves as a `HostError` in GIMP's words (`bgcut.errors.phrased_for`), as the
Blender add-on's do in Blender's; the entry file catches it by that name.
"""

from __future__ import annotations

from dataclasses import dataclass

import bgcut
import gimp_api as gf
from bgcut import choices, errors
from bgcut import config as bgcut_config
from bgcut.errors import HostError, MissingKeyError

OUTPUTS = choices.GIMP_OUTPUTS.values()
SELECTION_MODES = choices.GIMP_SELECTION_MODES.values()


HOST = "gimp"


@dataclass
class Settings:
    output: str
    options: bgcut.CutOptions
    selection_only: bool
    engine: str = "auto"
    selection_mode: str = "replace"


@dataclass
class Job:
    layer: object
    rect: tuple[int, int, int, int]  # in the layer's own coordinates
    pixels: object = None
    cutout: bgcut.Cutout | None = None


def settings_from(config) -> Settings:
    """The dialog's words (a format choice, megapixels) or a script's (free-text return
    type, pixels): a return type typed in wins; the smaller size limit applies."""
    get = config.get_property
    pixels = min(int(get("max-resolution")), round(float(get("max-megapixels")) * 1_000_000))
    with errors.phrased_for(HOST, unchanged=True):
        options = bgcut.CutOptions(
            quality=get("quality"),
            return_type=(get("return-type") or "").strip()
            or choices.return_type_for(get("return-format"), int(get("webp-quality"))),
            max_resolution=max(pixels, 1),
            decontaminate=bool(get("decontaminate")),
        )
    output, mode = get("output"), get("selection-mode")
    if output not in OUTPUTS:
        raise HostError(f"Unknown output {output!r}: use one of {', '.join(OUTPUTS)}.")
    if mode not in SELECTION_MODES:
        raise HostError(f"Unknown selection mode {mode!r}: use one of {', '.join(SELECTION_MODES)}.")
    return Settings(output, options, bool(get("selection-only")), get("engine"), mode)


def remove_background(image, drawables: list, settings: Settings, *, interactive: bool) -> None:
    if not drawables:
        raise HostError("Select at least one layer, then run Remove Background again.")
    problems = [p for p in (gf.layer_problem(d) for d in drawables) if p]
    if problems:
        raise HostError(errors.say_unchanged(" ".join(problems)))
    jobs = _plan(image, drawables, settings.selection_only)
    engine = _engine(settings.engine, interactive)
    if engine.notice:
        gf.message(errors.message_for(engine.notice, HOST))
    comp = gf.component(image)
    with gf.progress("Removing background") as step:
        for n, job in enumerate(jobs):
            where = f"'{job.layer.get_name()}'" + (f" ({n + 1}/{len(jobs)})" if len(jobs) > 1 else "")
            step(n / len(jobs), f"{where}: preparing")
            job.pixels = gf.read_rgba(job.layer, job.rect, comp)
            base, share = n / len(jobs), 0.95 / len(jobs)
            with errors.phrased_for(HOST, unchanged=True):
                job.cutout = bgcut.remove_background(
                    job.pixels,
                    settings.options,
                    engine=engine,
                    progress=lambda f, t, b=base, s=share, w=where: step(b + f * s, f"{w}: {t}"),
                )
        step(0.97, "Writing the result")
        with gf.undo_group(image):
            if settings.output == "selection":
                gf.select_masks(image, [_placed(job) for job in jobs], settings.selection_mode)
            else:
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
                raise HostError(
                    errors.say_unchanged(f"The selection does not overlap layer '{layer.get_name()}'.")
                )
            rect = (x1, y1, x2 - x1, y2 - y1)
        jobs.append(Job(layer, rect))
    return jobs


def _engine(kind: str, interactive: bool):
    """The engine; a missing key is asked for once when a person runs the plug-in."""
    try:
        with errors.phrased_for(HOST, unchanged=True, keep=(MissingKeyError,) if interactive else ()):
            return bgcut.make_engine(kind)
    except MissingKeyError:
        pass  # asked for below, outside the handler
    key = gf.ask_for_key()
    if not key:
        raise HostError("No API key given; nothing was changed.")
    with errors.phrased_for(HOST, unchanged=True):
        bgcut_config.store_key(key)
        return bgcut.make_engine(kind)


def _placed(job: Job):
    """The job's mask and where it sits in the image."""
    ox, oy = gf.offsets(job.layer)
    return job.cutout.mask, (ox + job.rect[0], oy + job.rect[1])


def _write(image, job: Job, output: str, comp: str) -> None:
    layer, cutout = job.layer, job.cutout
    assert cutout is not None
    x, y, w, h = job.rect
    ox, oy = gf.offsets(layer)
    name = layer.get_name()
    if output == "layer-mask":
        gf.set_mask(layer, cutout.mask, job.rect)
    elif output == "rgba-layer":
        gf.add_layer(image, layer, f"{name} (cut)", cutout.rgba, (ox + x, oy + y), comp, alpha=True)
    else:
        gf.add_layer(image, layer, f"{name} (mask)", cutout.mask, (ox + x, oy + y), "u8", alpha=False)
