"""Cut options, spelled exactly as the API spells them, validated before any upload."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from .errors import OptionError

QUALITIES = ("High", "Medium", "Low")
CHANNELS = ("rgba", "alpha")
UPLOAD_FIELDS = ("image_file", "image_file_b64")
MAX_PIXELS = 12_000_000
WEBP_MAX_SIDE = 16383
_RETURN_TYPE = re.compile(r"^(PNG|WEBP|WEBP_([1-9][0-9]?|100))$")
RETURN_TYPES_TEXT = "PNG, WEBP or WEBP_1 .. WEBP_100"


@dataclass(frozen=True)
class CutOptions:
    """What to ask the service for; `form_fields()` is what goes on the wire (all but
    `decontaminate`, which only changes how bgcut composes the cut-out)."""

    quality: str = "Medium"
    #: the API's own default is PNG; its documentation recommends WEBP (small files), and
    #: WebP keeps the alpha lossless while a 12 MP answer decodes twice as fast
    return_type: str = "WEBP"
    channels: str = "rgba"
    max_resolution: int = MAX_PIXELS
    upload_field: str = "image_file"
    #: where bgcut builds the cut-out itself (local engine, alpha answers, sources above
    #: 12 MP), estimate the subject's own colour at the soft edge so the old background
    #: does not show through; local only: never sent, not part of the cache key
    decontaminate: bool = True

    def __post_init__(self) -> None:
        if self.quality not in QUALITIES:
            raise OptionError(_bad("quality", self.quality, ", ".join(QUALITIES)))
        if not isinstance(self.return_type, str) or not _RETURN_TYPE.match(self.return_type):
            raise OptionError(_bad("return_type", self.return_type, RETURN_TYPES_TEXT))
        if self.channels not in CHANNELS:
            raise OptionError(_bad("channels", self.channels, ", ".join(CHANNELS)))
        if self.upload_field not in UPLOAD_FIELDS:
            raise OptionError(_bad("upload_field", self.upload_field, ", ".join(UPLOAD_FIELDS)))
        if not isinstance(self.decontaminate, bool):
            raise OptionError(_bad("decontaminate", self.decontaminate, "True or False"))
        mr = self.max_resolution
        if isinstance(mr, bool) or not isinstance(mr, int) or not 1 <= mr <= MAX_PIXELS:
            raise OptionError(_bad("max_resolution", mr, f"a whole number of pixels from 1 to {MAX_PIXELS}"))

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

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _bad(name: str, value: object, allowed: str) -> str:
    return f"Invalid {name} {value!r}: allowed values are {allowed}."
