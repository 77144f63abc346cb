"""Prepare the upload so that 413 and over-12-MP answers cannot happen.

PNG is lossless but slow to encode and large (a 12 MP photo makes 10-20 MB of it, ~0.5 s),
so PNG is used for pictures up to 4 MP when it is sure or predicted to fit (the service
then sees the source's own pixels: the emulator's mask is exactly the source's); larger
ones go as JPEG at quality 95 without chroma subsampling, about 0.44 of PNG's bytes at
12 MP. Measured against the PNG upload (benchmarks/upload_choice.py), 4:2:0 saves another
~20 % but blurs colour exactly where the answer's edge colours come from (edge RGB error
p99 21-28 levels against 7-9 for 4:4:4, mask error up to 38 levels against 13), and
quality 92 or lower doubles the pixels whose keep/drop side flips on a real photo; so
q95 4:4:4 is the smallest upload within the stated error (edge RGB p99 <= 10, flips <=
0.6 %). The image is scaled down when it has more pixels than `max_resolution` (and
12 MP) or when even the lossy encoding is too big.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .options import MAX_PIXELS, CutOptions
from .parallel import for_each_band
from .shrink import box_reduce
from .source import JPEG_START, ORIENTATION

#: Output bytes per band of that resize: several bands per core at 12 MP.
_RESIZE_BAND_BYTES = 4 << 20

#: The service refuses bodies over 12 MB; keep room for the multipart envelope.
MAX_UPLOAD_BYTES = 12_000_000
ENVELOPE_BYTES = 4_096
_PNG_SAMPLE_ROWS = 64
PNG_MAX_PIXELS = 4_000_000
_JPEG_QUALITIES = (95, 90, 85)


@dataclass(frozen=True)
class UploadInfo:
    """What was done to the source before it left the machine."""

    format: str
    bytes: int
    width: int
    height: int
    scale: float

    @property
    def downscaled(self) -> bool:
        return self.scale < 1.0


@dataclass(frozen=True)
class Upload:
    data: bytes
    info: UploadInfo
    content_type: str
    filename: str


def file_budget(options: CutOptions) -> int:
    """Largest encoded file that keeps the whole request within the limit."""
    budget = MAX_UPLOAD_BYTES - ENVELOPE_BYTES
    if options.upload_field == "image_file_b64":
        budget = budget * 3 // 4
    return budget


def target_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """Largest size with the source's aspect ratio and at most max_pixels pixels."""
    max_pixels = min(max_pixels, MAX_PIXELS)
    if width * height <= max_pixels:
        return width, height
    s = math.sqrt(max_pixels / (width * height))
    w, h = max(1, int(width * s)), max(1, int(height * s))
    while w * h > max_pixels:
        if w >= h:
            w -= 1
        else:
            h -= 1
    return w, h


def prepare_upload(rgb8: np.ndarray, options: CutOptions) -> Upload:
    height, width = rgb8.shape[:2]
    budget = file_budget(options)
    w, h = target_size(width, height, options.max_resolution)
    while True:
        pixels = rgb8 if (w, h) == (width, height) else _resize(rgb8, w, h)
        encoded = _encode_within(pixels, budget)
        if encoded is not None:
            fmt, data = encoded
            info = UploadInfo(fmt, len(data), w, h, w / width)
            return _wrap(data, info, options)
        w, h = target_size(w, h, int(w * h * 0.7))


def upload_as_received(data: bytes, options: CutOptions) -> Upload | None:
    """The source file itself as the upload, when it is a JPEG the service can take as it
    is (RGB, no ICC profile, not turned by EXIF, within the pixel and byte limits): nothing
    is encoded (the q95 encode costs ~0.2 s at 12 MP), the service sees the very pixels the
    cut-out is composed from, and the source can be decoded while the request is in flight.
    Its metadata (EXIF, XMP, comments: where and with what it was taken) is left out, as a
    re-encoded upload has none. None when the upload must be prepared from the pixels
    (`prepare_upload`)."""
    if data[:3] != JPEG_START:
        return None
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as im:
            width, height = im.size
            plain = (
                im.mode == "RGB" and "icc_profile" not in im.info and im.getexif().get(ORIENTATION, 1) == 1
            )
    except (OSError, SyntaxError, ValueError):
        return None
    stripped = strip_jpeg_metadata(data) if plain else None
    if stripped is None or target_size(width, height, options.max_resolution) != (width, height):
        return None
    if len(stripped) > min(file_budget(options), _AS_READ_BYTES_PER_PIXEL * width * height):
        return None  # over the limit, or more to upload than a q95 re-encode would be
    return _wrap(stripped, UploadInfo("JPEG", len(stripped), width, height, 1.0), options)


#: A q95 4:4:4 re-encode of a photo takes about 0.3-0.45 bytes per pixel; a file larger
#: than this would cost more time on the wire than the encode it saves.
_AS_READ_BYTES_PER_PIXEL = 0.5
#: Segments a decoder needs: JFIF's APP0 and Adobe's APP14 (its colour transform), known by
#: the name they start with; any other APPn, and COM, is metadata.
_KEPT_APPS = {0xE0: b"JFIF\0", 0xEE: b"Adobe"}
#: Markers that stand alone inside a scan's data: restarts (RSTn); FF00 is a stuffed FF.
_IN_SCAN = frozenset([0x00, *range(0xD0, 0xD8)])


def strip_jpeg_metadata(data: bytes) -> bytes | None:
    """The first picture of the JPEG up to its end marker, without its APPn segments (but
    JFIF's and Adobe's) and comments, before its first scan or between later ones (a
    progressive JPEG's), nor anything after its end (a multi-picture file's other pictures
    with their own EXIF, a trailer); its entropy-coded scans copied byte for byte. None when
    the marker structure is not plain (then the caller re-encodes)."""
    out = [data[:2]]
    pos = 2
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image: nothing after it goes
            out.append(b"\xff\xd9")
            return b"".join(out)
        if marker in _IN_SCAN or marker in (0x01, 0xD8) or pos + 4 > len(data):
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            return None
        if marker == 0xDA:  # start of scan: its header, then its data up to the next marker
            scan_end = _scan_end(data, end)
            if scan_end is None:
                return None
            end = scan_end
        kept = marker in _KEPT_APPS and data[pos + 4 : end].startswith(_KEPT_APPS[marker])
        is_metadata = (0xE0 <= marker <= 0xEF and not kept) or marker == 0xFE
        if not is_metadata:
            out.append(data[pos:end])
        pos = end
    return None


def _scan_end(data: bytes, pos: int) -> int | None:
    """Where the entropy-coded data from `pos` ends: at the first marker that is not a
    restart or a stuffed FF (fill bytes before it stay with the scan)."""
    while (pos := data.find(b"\xff", pos)) >= 0 and pos + 1 < len(data):
        if data[pos + 1] not in _IN_SCAN and data[pos + 1] != 0xFF:
            return pos
        pos += 1 if data[pos + 1] == 0xFF else 2
    return None


def _wrap(data: bytes, info: UploadInfo, options: CutOptions) -> Upload:
    ctype = "image/png" if info.format == "PNG" else "image/jpeg"
    name = "image.png" if info.format == "PNG" else "image.jpg"
    if options.upload_field == "image_file_b64":
        data = base64.b64encode(data)
    return Upload(data, info, ctype, name)


def _resize(rgb8: np.ndarray, w: int, h: int) -> np.ndarray:
    """The picture shrunk for the upload: an integer box reduction for large steps, then
    bilinear, in bands of output rows on every core (Pillow releases the GIL while it
    resamples): 24 MP to 12 MP in about half the time of one piece. A band reads its own
    rows plus a margin, so the pixels are those of one piece but for rounding (±1)."""
    src = rgb8
    if rgb8.shape[1] >= 2 * w and rgb8.shape[0] >= 2 * h:
        factor = min(rgb8.shape[1] // w, rgb8.shape[0] // h)
        src = box_reduce(rgb8, factor, factor)
    src_h, src_w = src.shape[:2]
    step = src_h / h
    reach = math.ceil(step) + 1  # source rows the filter reads beyond a band's own
    out = np.empty((h, w, 3), np.uint8)

    def band(rows: slice) -> None:
        top = max(0, math.floor(rows.start * step) - reach)
        bottom = min(src_h, math.ceil(rows.stop * step) + reach)
        box = (0.0, rows.start * step - top, float(src_w), rows.stop * step - top)
        part = Image.fromarray(src[top:bottom]).resize(
            (w, rows.stop - rows.start), Image.Resampling.BILINEAR, box=box
        )
        out[rows] = np.asarray(part)

    for_each_band(band, h, 3 * w, _RESIZE_BAND_BYTES)
    return out


def _encode_within(rgb8: np.ndarray, budget: int) -> tuple[str, bytes] | None:
    h, w = rgb8.shape[:2]
    raw = w * h * 3 + h
    if w * h <= PNG_MAX_PIXELS and (raw <= budget * 0.98 or _png_estimate(rgb8) <= budget * 0.8):
        data = _png(rgb8)
        if len(data) <= budget:
            return "PNG", data
    for q in _JPEG_QUALITIES:
        data = _jpeg(rgb8, q)
        if len(data) <= budget:
            return "JPEG", data
    return None


def _png_estimate(rgb8: np.ndarray) -> float:
    """Predict the PNG size from evenly spaced bands of rows (about 1/8 of the image)."""
    h = rgb8.shape[0]
    band = _PNG_SAMPLE_ROWS
    if h <= band * 8:
        return float(len(_png(rgb8)))
    starts = np.linspace(0, h - band, 8).astype(int)
    sample = np.concatenate([rgb8[s : s + band] for s in starts])
    return len(_png(sample)) * h / sample.shape[0]


def _png(rgb8: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb8).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _jpeg(rgb8: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb8).save(buf, format="JPEG", quality=quality, subsampling=0)
    return buf.getvalue()
