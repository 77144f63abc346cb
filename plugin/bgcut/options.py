"""Cut options, validated before any upload and kept in the API's own spelling.

The allowed values and defaults are bgcut.choices'; a value given in another case
(`high`, `webp_90`) is stored canonically, so the wire and the cache key never see it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import choices
from .choices import MAX_PIXELS, RETURN_TYPES_TEXT, invalid
from .errors import OptionError

__all__ = ["CHANNELS", "MAX_PIXELS", "QUALITIES", "RETURN_TYPES_TEXT", "UPLOAD_FIELDS", "CutOptions"]

#: the canonical values, for callers that only test membership (the emulator, scripts)
QUALITIES = choices.QUALITIES.values()
CHANNELS = choices.CHANNELS.values()
UPLOAD_FIELDS = ("image_file", "image_file_b64")
WEBP_MAX_SIDE = 16383


@dataclass(frozen=True)
class CutOptions:
    """What to ask the service for; `form_fields()` is what goes on the wire (all but
    `decontaminate`, which only changes how bgcut composes the cut-out)."""

    quality: str = choices.QUALITIES.default
    return_type: str = choices.DEFAULT_RETURN_TYPE
    channels: str = choices.CHANNELS.default
    max_resolution: int = MAX_PIXELS
    upload_field: str = "image_file"
    #: where bgcut builds the cut-out itself (local engine, alpha answers, sources above
    #: 12 MP), estimate the subject's own colour at the soft edge so the old background
    #: does not show through; local only: never sent, not part of the cache key
    decontaminate: bool = True

    def __post_init__(self) -> None:
        canonical = {
            "quality": choices.QUALITIES.canonical(self.quality),
            "return_type": choices.canonical_return_type(self.return_type),
            "channels": choices.CHANNELS.canonical(self.channels),
        }
        for name, value in canonical.items():
            object.__setattr__(self, name, value)  # frozen: set once, here
        if self.upload_field not in UPLOAD_FIELDS:
            raise OptionError(invalid("upload_field", self.upload_field, ", ".join(UPLOAD_FIELDS)))
        if not isinstance(self.decontaminate, bool):
            raise OptionError(invalid("decontaminate", self.decontaminate, "True or False"))
        mr = self.max_resolution
        if isinstance(mr, bool) or not isinstance(mr, int) or not 1 <= mr <= MAX_PIXELS:
            raise OptionError(
                invalid("max_resolution", mr, f"a whole number of pixels from 1 to {MAX_PIXELS}")
            )

    def form_fields(self) -> dict[str, str]:
        return {
            "max_resolution": str(self.max_resolution),
            "quality": self.quality,
            "return_type": self.return_type,
            "channels": self.channels,
        }

    def for_size(self, width: int, height: int) -> CutOptions:
        """WebP cannot hold a side over 16383 pixels; such answers are asked for as PNG
        (the layers come back the same, only the transport differs)."""
        if self.return_type.startswith("WEBP") and max(width, height) > WEBP_MAX_SIDE:
            return replace(self, return_type="PNG")
        return self

    def cache_token(self) -> str:
        """Everything that changes the service's answer, in a stable order."""
        return "&".join(f"{k}={v}" for k, v in sorted(self.form_fields().items()))
