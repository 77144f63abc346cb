#!/usr/bin/env python3
"""GIMP 3 plug-in: Layer ▸ Transparency ▸ Remove Background… (PDB: plug-in-bgcut-remove-background).

Thin by design: read the selected layers' pixels, cut them all with the bgcut core, and only
then write the results inside one undo group, so any failure leaves the image untouched.
Every GIMP call lives in gimp_api.py; nothing touches GIMP at import time.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# the bgcut core first; numpy/Pillow/requests vendored for this Python last, so a GIMP whose
# Python already has them keeps its own and one that lacks them uses ours
_VENDOR = os.path.join(_HERE, "lib", "vendor", f"cp{sys.version_info[0]}{sys.version_info[1]}")
sys.path[:0] = [p for p in (os.path.join(_HERE, "lib"), _HERE) if p not in sys.path]
if os.path.isdir(_VENDOR):
    sys.path.append(_VENDOR)

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
from bgcut import choices  # noqa: E402 - light (stdlib only): safe before numpy is known
from bgcut.errors import HostError  # noqa: E402 - stdlib only too
from gi.repository import Gimp, GLib, GObject  # noqa: E402

PROC_NAME = "plug-in-bgcut-remove-background"
# what the dialog shows; return-type and max-resolution stay for scripts (pixels, free text)
DIALOG = (
    "output",
    "selection-mode",
    "quality",
    "return-format",
    "webp-quality",
    "max-megapixels",
    "selection-only",
    "engine",
    "decontaminate",
)


def run(procedure, run_mode, image, drawables, config, data):
    """Module-level run function: the work is in bgcut_gimp_action."""
    try:
        import bgcut_gimp_action as action
        import gimp_api as gf
    except ImportError as exc:  # registered anyway: say how to fix it instead of crashing
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(_missing(exc)))

    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    if interactive and not gf.show_dialog(procedure, config, DIALOG):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        action.remove_background(
            image, list(drawables), action.settings_from(config), interactive=interactive
        )
    except HostError as exc:  # every failure bgcut_gimp_action raises, in GIMP's words
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a bug must reach the user as a message, not a crash
        # the type only: a foreign exception's text may quote what it was given, the key included
        text = (
            f"bgcut failed unexpectedly ({type(exc).__name__}). Edit ▸ Undo reverts any "
            "change; please report this."
        )
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(text))
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def _missing(exc: ImportError) -> str:
    """One sentence naming the command that vendors the packages for this very Python."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    python = "python" if sys.platform == "win32" else "python3"  # what a Windows shell calls it
    return (
        f"bgcut cannot import {exc.name or 'its packages'} in GIMP's Python {version}: run "
        f"`{python} install.py --gimp --gimp-python {version}` in the bgcut folder, then restart GIMP."
    )


class BgcutRemoveBackground(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROC_NAME]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        proc.set_image_types("RGB*, GRAY*")
        proc.set_sensitivity_mask(
            Gimp.ProcedureSensitivityMask.DRAWABLE | Gimp.ProcedureSensitivityMask.DRAWABLES
        )
        proc.set_menu_label("Remove _Background…")
        proc.add_menu_path("<Image>/Layer/Transparency/")
        proc.add_menu_path("<Layers>/Layers Menu/")
        proc.set_documentation(
            "Remove the background of the selected layers with BackgroundCut",
            "Cuts out the subject of each selected layer and adds the result as a layer mask, "
            "a new cut-out layer, a new mask layer or the image's selection (Select subject), "
            "at the layer's full size. The original pixels are never changed. Needs a "
            "BackgroundCut API key (asked for on first use) or the offline engine.",
            name,
        )
        proc.set_attribution("bgcut", "bgcut", "2026")
        rw = GObject.ParamFlags.READWRITE
        _add_choice(proc, "output", "Out_put", "What to add", choices.GIMP_OUTPUTS)
        _add_choice(proc, "quality", "_Quality", "BackgroundCut quality", choices.QUALITIES)
        proc.add_string_argument(
            "return-type",
            "Return _type",
            f"For scripts: {choices.RETURN_TYPES_TEXT} (any case); when set it wins over Return format",
            "",
            rw,
        )
        proc.add_int_argument(
            "max-resolution",
            "_Max resolution",
            "For scripts: pixels sent at most; the smaller of this and Size limit applies",
            1,
            choices.MAX_PIXELS,
            choices.MAX_PIXELS,
            rw,
        )
        proc.add_boolean_argument(
            "selection-only", "Selection o_nly", "Cut only the selection's bounds", False, rw
        )
        _add_choice(proc, "engine", "En_gine", "Who cuts", choices.ENGINES)
        _add_choice(
            proc,
            "selection-mode",
            "Selection mo_de",
            "How Select subject combines with the current selection",
            choices.GIMP_SELECTION_MODES,
        )
        _add_choice(
            proc,
            "return-format",
            "Return _format",
            "How BackgroundCut sends the cut back",
            choices.RETURN_FORMATS,
        )
        low, high = choices.WEBP_QUALITY_RANGE
        proc.add_int_argument(
            "webp-quality",
            "WebP qualit_y",
            f"Used with 'WebP with a quality' ({low}-{high})",
            low,
            high,
            choices.DEFAULT_WEBP_QUALITY,
            rw,
        )
        megapixels = choices.MAX_PIXELS / 1_000_000
        proc.add_double_argument(
            "max-megapixels",
            "Size limit (megapi_xels)",
            "Larger pictures are sent downscaled to this; the result is always full size",
            0.01,
            megapixels,
            megapixels,
            rw,
        )
        proc.add_boolean_argument(
            "decontaminate",
            "Decontaminate edge colo_urs",
            "Where bgcut builds the cut-out itself (offline model, very large layers, 16/32-bit), "
            "estimate the subject's colour at its soft edge so the old background does not show",
            True,
            rw,
        )
        return proc


def _add_choice(proc, name: str, label: str, blurb: str, options: choices.Choices) -> None:
    """A choice argument whose values, labels, help and default are bgcut.choices' own."""
    proc.add_choice_argument(
        name, label, blurb, gimp_choice(options), options.default, GObject.ParamFlags.READWRITE
    )


def gimp_choice(options: choices.Choices):
    choice = Gimp.Choice.new()
    for i, (nick, label, help_text) in enumerate(choice_entries(options)):
        choice.add(nick, i, label, help_text)
    return choice


def choice_entries(options: choices.Choices) -> list[tuple[str, str, str]]:
    """(nick, label, help) per value, in the order the dialog shows them."""
    return [(c.value, c.label, c.help) for c in options]


if __name__ == "__main__":
    Gimp.main(BgcutRemoveBackground.__gtype__, sys.argv)
