"""Decode the service's answer safely: PNG or WebP only, size checked before decoding."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

from .errors import BadAnswerError, Remedy

#: The service never returns more than 12 MP; anything far larger is a bomb.
MAX_ANSWER_PIXELS = 13_000_000


def sniff(data: bytes) -> str | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_answer(data: bytes) -> np.ndarray:
    """Return the answer as H×W×4 (rgba) or H×W×1 (alpha) uint8."""
    kind = sniff(data)
    if kind is None:
        head = data[:60].decode("latin-1", "replace").replace("\n", " ").strip()
        raise BadAnswerError(
            "The service answered 200 but sent no PNG/WebP image "
            f"({len(data)} bytes starting {head[:40]!r}).",
            remedy=Remedy.CHECK_ENDPOINT,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=[kind])
            w, h = im.size
            if w * h > MAX_ANSWER_PIXELS or w < 1 or h < 1:
                raise BadAnswerError(
                    f"The service's answer declares {w}×{h} pixels, more than the API can "
                    "return; it was refused unread. Try again; report it if it persists."
                )
            im.load()
    except BadAnswerError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on corrupt data
        raise BadAnswerError(
            f"The service's {kind} answer is damaged or truncated ({type(exc).__name__}). "
            "Try again; the cut was not applied."
        ) from exc
    if (
        im.mode in ("L", "LA", "I", "I;16", "1", "P")
        and "A" not in im.mode
        and not (im.mode == "P" and "transparency" in im.info)
    ):
        return np.asarray(im.convert("L"))[..., None]
    rgba = im if im.mode == "RGBA" else im.convert("RGBA")
    out = np.asarray(rgba)
    rgba.close()
    im.close()
    return out
