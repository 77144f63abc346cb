#!/usr/bin/env python3
"""GIMP 3 plug-in: Layer ▸ Transparency ▸ Remove Background… (PDB: plug-in-bgcut-remove-background).

Thin by design: read the selected layers' pixels, cut them all with the bgcut core, and only
then write the results inside one undo group, so any failure leaves the image untouched.
Every GIMP call lives in gimpfu_compat.py; nothing touches GIMP at import time.
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
from gi.repository import Gimp, GLib, GObject  # noqa: E402

PROC_NAME = "plug-in-bgcut-remove-background"
OUTPUTS = (
    (
        "layer-mask",
        "Layer mask on the layer",
        "Add the cut as a mask on the selected layer (non-destructive)",
    ),
    ("rgba-layer", "New cut-out layer", "Add a new layer '<name> (cut)' above, with the background removed"),
    ("mask-layer", "New mask layer", "Add a new grayscale layer holding the mask"),
    (
        "selection",
        "Select subject",
        "Make the subject the image's selection (see Selection mode); the layer is untouched",
    ),
)
SELECTION_MODES = (
    ("replace", "Replace the selection", "The subject becomes the selection"),
    ("add", "Add to the selection", "The subject is added to the current selection"),
    ("subtract", "Subtract from the selection", "The subject is taken out of the current selection"),
    ("intersect", "Intersect with the selection", "Keep only the selection's part of the subject"),
)
RETURN_FORMATS = (
    ("webp-lossless", "WebP lossless", "Smallest download with no loss"),
    ("png", "PNG", "Lossless PNG"),
    ("webp-quality", "WebP with a quality", "Lossy WebP at the WebP quality below"),
)
QUALITIES = (
    ("High", "High", "Best edges, slowest"),
    ("Medium", "Medium", "Balanced"),
    ("Low", "Low", "Fastest"),
)
ENGINES = (
    ("auto", "Automatic", "BackgroundCut when an API key is set, otherwise the offline model"),
    ("backgroundcut", "BackgroundCut", "The BackgroundCut service (needs an API key and credits)"),
    ("local", "Offline model", "u2netp on this computer: no key, no upload"),
)

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
        import gimpfu_compat as gf
    except ImportError as exc:  # registered anyway: say how to fix it instead of crashing
        return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(_missing(exc)))

    interactive = run_mode == Gimp.RunMode.INTERACTIVE
    if interactive and not gf.show_dialog(procedure, config, DIALOG):
        return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        action.remove_background(
            image, list(drawables), action.settings_from(config), interactive=interactive
        )
    except action.UserFacingError as exc:
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
            "BackgroundCut API key (bgcut config --set-key) or the offline engine.",
            name,
        )
        proc.set_attribution("bgcut", "bgcut", "2026")
        rw = GObject.ParamFlags.READWRITE
        proc.add_choice_argument("output", "Out_put", "What to add", _choice(OUTPUTS), "layer-mask", rw)
        proc.add_choice_argument(
            "quality", "_Quality", "BackgroundCut quality", _choice(QUALITIES), "Medium", rw
        )
        proc.add_string_argument(
            "return-type",
            "Return _type",
            "For scripts: PNG, WEBP or WEBP_1 .. WEBP_100; when set it wins over Return format",
            "",
            rw,
        )
        proc.add_int_argument(
            "max-resolution",
            "_Max resolution",
            "For scripts: pixels sent at most; the smaller of this and Size limit applies",
            1,
            12_000_000,
            12_000_000,
            rw,
        )
        proc.add_boolean_argument(
            "selection-only", "Selection o_nly", "Cut only the selection's bounds", False, rw
        )
        proc.add_choice_argument("engine", "En_gine", "Who cuts", _choice(ENGINES), "auto", rw)
        proc.add_choice_argument(
            "selection-mode",
            "Selection mo_de",
            "How Select subject combines with the current selection",
            _choice(SELECTION_MODES),
            "replace",
            rw,
        )
        proc.add_choice_argument(
            "return-format",
            "Return _format",
            "How BackgroundCut sends the cut back",
            _choice(RETURN_FORMATS),
            "webp-lossless",
            rw,
        )
        proc.add_int_argument(
            "webp-quality", "WebP qualit_y", "Used with 'WebP with a quality' (1-100)", 1, 100, 90, rw
        )
        proc.add_double_argument(
            "max-megapixels",
            "Size limit (megapi_xels)",
            "Larger pictures are sent downscaled to this; the result is always full size",
            0.01,
            12.0,
            12.0,
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


def _choice(entries):
    choice = Gimp.Choice.new()
    for i, (nick, label, help_text) in enumerate(entries):
        choice.add(nick, i, label, help_text)
    return choice


if __name__ == "__main__":
    Gimp.main(BgcutRemoveBackground.__gtype__, sys.argv)
