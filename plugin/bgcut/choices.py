"""Every choice a user makes, once: its canonical value, label, help and default.

The CLI's argparse options, GIMP's `Gimp.Choice` lists and Blender's enums are generated
from these tables, and `CutOptions` validates against them, so a new quality value is one
line here. Input is matched without regard to case; the canonical spelling is what goes
on the wire (the service itself is case-sensitive). Stdlib only: hosts import this before
numpy is known to be there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import OptionError

#: The service's limit (width × height) and the default asked for.
MAX_PIXELS = 12_000_000


@dataclass(frozen=True)
class Choice:
    """One value; `wire` is what the service is sent when it differs from `value`."""

    value: str
    label: str
    help: str
    wire: str = ""


@dataclass(frozen=True)
class Choices:
    """One option's values in the order shown, and its default."""

    name: str
    entries: tuple[Choice, ...]
    default: str

    def __post_init__(self) -> None:
        if self.default not in self.values():
            raise ValueError(f"{self.name}: the default {self.default!r} is not one of its values")

    def __iter__(self) -> Iterator[Choice]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.entries)

    def text(self) -> str:
        """The values for a message or a help line: "High, Medium, Low"."""
        return ", ".join(self.values())

    def get(self, value: str) -> Choice:
        """The entry for a canonical value."""
        for c in self.entries:
            if c.value == value:
                return c
        raise KeyError(value)

    def canonical(self, text: object) -> str:
        """The value `text` names, whatever its case; OptionError names the allowed ones."""
        if isinstance(text, str):
            folded = text.strip().casefold()
            for c in self.entries:
                if c.value.casefold() == folded:
                    return c.value
        raise OptionError(invalid(self.name, text, self.text()))


def invalid(name: str, value: object, allowed: str) -> str:
    """The one wording of a refused option value."""
    return f"Invalid {name} {value!r}: allowed values are {allowed}."


ENGINES = Choices(
    "engine",
    (
        Choice("auto", "Automatic", "BackgroundCut when an API key is set, otherwise the offline model"),
        Choice("backgroundcut", "BackgroundCut", "BackgroundCut's service (needs an API key and credits)"),
        Choice("local", "Offline model", "u2netp on this computer: no key, no upload"),
    ),
    default="auto",
)

QUALITIES = Choices(
    "quality",
    (
        Choice("High", "High", "Best edges, slowest"),
        Choice("Medium", "Medium", "Balanced"),
        Choice("Low", "Low", "Fastest"),
    ),
    default="Medium",
)

CHANNELS = Choices(
    "channels",
    (
        Choice("rgba", "Cut-out", "The finished cut-out, with the service's own edge colours"),
        Choice("alpha", "Mask", "The mask only"),
    ),
    default="rgba",
)

# -- return types: the wire's free form, and the three formats the hosts offer -------------
#: PNG, WEBP (lossless alpha, small) or WEBP_N with N in 1..100 (a WebP quality)
RETURN_TYPE_PATTERN = re.compile(r"^(PNG|WEBP|WEBP_([1-9][0-9]?|100))$")
RETURN_TYPES_TEXT = "PNG, WEBP or WEBP_1 .. WEBP_100"
#: the API's own default is PNG; its documentation recommends WEBP (small files), and
#: WebP keeps the alpha lossless while a 12 MP answer decodes twice as fast
DEFAULT_RETURN_TYPE = "WEBP"

RETURN_FORMATS = Choices(
    "return format",
    (
        Choice("webp-lossless", "WebP lossless", "Smallest download with no loss", wire="WEBP"),
        Choice("png", "PNG", "Lossless PNG", wire="PNG"),
        Choice(
            "webp-quality", "WebP with a quality", "Lossy WebP at the WebP quality below", wire="WEBP_{q}"
        ),
    ),
    default="webp-lossless",
)
WEBP_QUALITY_RANGE = (1, 100)
DEFAULT_WEBP_QUALITY = 90


def canonical_return_type(text: object) -> str:
    """The canonical return type for `text` in any case (`webp_90` → `WEBP_90`)."""
    if isinstance(text, str) and text.isascii():
        wire = text.strip().upper()
        if RETURN_TYPE_PATTERN.match(wire):
            return wire
    raise OptionError(invalid("return_type", text, RETURN_TYPES_TEXT))


def return_type_for(fmt: str, webp_quality: int = DEFAULT_WEBP_QUALITY) -> str:
    """The wire return type of a host's format choice (`webp-quality` uses the quality)."""
    return canonical_return_type(
        RETURN_FORMATS.get(RETURN_FORMATS.canonical(fmt)).wire.format(q=int(webp_quality))
    )


# -- what each host adds ---------------------------------------------------------------
GIMP_OUTPUTS = Choices(
    "output",
    (
        Choice(
            "layer-mask",
            "Layer mask on the layer",
            "Add the cut as a mask on the selected layer (non-destructive)",
        ),
        Choice(
            "rgba-layer",
            "New cut-out layer",
            "Add a new layer '<name> (cut)' above, with the background removed",
        ),
        Choice("mask-layer", "New mask layer", "Add a new grayscale layer holding the mask"),
        Choice(
            "selection",
            "Select subject",
            "Make the subject the image's selection (see Selection mode); the layer is untouched",
        ),
    ),
    default="layer-mask",
)

GIMP_SELECTION_MODES = Choices(
    "selection mode",
    (
        Choice("replace", "Replace the selection", "The subject becomes the selection"),
        Choice("add", "Add to the selection", "The subject is added to the current selection"),
        Choice(
            "subtract", "Subtract from the selection", "The subject is taken out of the current selection"
        ),
        Choice("intersect", "Intersect with the selection", "Keep only the selection's part of the subject"),
    ),
    default="replace",
)

BLENDER_OUTPUTS = Choices(
    "output",
    (
        Choice("RGBA", "Cut-out", "A new RGBA image with the background removed"),
        Choice("MASK", "Mask", "A new grayscale image holding the mask"),
    ),
    default="RGBA",
)
