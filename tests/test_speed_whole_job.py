"""The faster whole job keeps every pixel: the cut-out composed over a copy of the service's
answer equals the one filled from the source, and a WebP answer that decodes to exactly
the mask or the cut-out is written as received, with bgcut's XMP marker added as a RIFF
chunk (no pixel decoded or encoded again) that Pillow and bgcut's own marker reader find."""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
from bgcut import writing
from bgcut.api import remove_background
from bgcut.cutout import _compose, build_cutout
from bgcut.emulator.segment import segment
from bgcut.marker import marker_kind
from bgcut.options import CutOptions
from bgcut.source import Source, load_source
from bgcut.upload import upload_as_received
from imagery import subject_photo
from PIL import Image


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, payload) of each chunk, checking the RIFF and chunk sizes add up."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    chunks, at = [], 12
    while at < len(data):
        fourcc, size = struct.unpack("<4sI", data[at : at + 8])
        chunks.append((fourcc, data[at + 8 : at + 8 + size]))
        at += 8 + size + (size & 1)
    assert at == len(data)
    return chunks


def decoded(data: bytes | Path) -> tuple[str, np.ndarray, bytes | None]:
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
        im.load()
        return im.mode, np.asarray(im), im.info.get("xmp")


def webp(pixels: np.ndarray, **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="WEBP", **params)
    return buf.getvalue()


RGBA = subject_photo(97, 61, seed=5)[0]
ALPHA = np.dstack([RGBA, segment(RGBA)])


@pytest.mark.parametrize(
    ("pixels", "params", "first"),
    [
        (ALPHA, {"lossless": True, "exact": True}, b"VP8L"),  # simple lossless, with alpha
        (RGBA, {"lossless": True}, b"VP8L"),  # simple lossless, opaque
        (RGBA, {"quality": 80}, b"VP8 "),  # simple lossy
        (ALPHA, {"quality": 80}, b"VP8X"),  # extended: VP8X, ALPH, VP8
        (segment(RGBA), {"lossless": True}, b"VP8L"),  # a mask, as the service sends one
    ],
)
def test_marked_webp_keeps_the_bitstream_and_every_pixel(tmp_path, pixels, params, first):
    data = webp(pixels, **params)
    assert riff_chunks(data)[0][0] == first
    path = tmp_path / "out.webp"
    writing.write_atomic(path, writing.marked_webp_writer(data, "mask"), replace=False)
    written = path.read_bytes()
    chunks = riff_chunks(written)
    assert chunks[0][0] == b"VP8X" and chunks[0][1][0] & 0x04  # XMP announced
    assert chunks[-1][0] == b"XMP " and b'bgcut:output="mask"' in chunks[-1][1]
    original = [c for c in riff_chunks(data) if c[0] != b"VP8X"]
    assert chunks[1:-1] == original  # the image chunks byte for byte
    width, height = (int.from_bytes(chunks[0][1][i : i + 3], "little") + 1 for i in (4, 7))
    assert (height, width) == pixels.shape[:2]
    mode, got, xmp = decoded(path)
    want_mode, want, _ = decoded(data)
    assert mode == want_mode and np.array_equal(got, want)
    assert xmp is not None and b'bgcut:output="mask"' in xmp
    assert marker_kind(path) == "mask"


def test_a_webp_with_its_own_xmp_is_not_marked_again():
    data = webp(ALPHA, lossless=True, xmp=b"<x:xmpmeta/>")
    with pytest.raises(ValueError):
        writing.marked_webp_writer(data, "cut-out")
    mask = ALPHA[..., 3]
    answer = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
    assert writing.raw_answer(data, answer, mask, lambda: answer) is None


def test_a_lossless_webp_mask_answer_is_written_as_received(tmp_path, emulator, key):
    rgb = subject_photo(320, 240, seed=4)[0]
    options = CutOptions(channels="alpha", return_type="WEBP_100")
    cut = remove_background(rgb, options, api_key=key, endpoint=emulator.endpoint)
    assert cut.answer is not None and cut.answer[1:] == ("alpha", "WEBP")
    out = tmp_path / "renamed.webp"
    cut.save(out, "alpha")
    chunks = riff_chunks(out.read_bytes())
    assert chunks[1:-1] == [c for c in riff_chunks(cut.answer.data) if c[0] != b"VP8X"]
    mode, pixels, _ = decoded(out)
    assert mode == "RGB" and all(np.array_equal(pixels[..., c], cut.mask) for c in range(3))
    assert np.array_equal(cut.mask, segment(rgb))
    assert marker_kind(out) == "mask"
    # what bgcut writes when it encodes the mask itself decodes the same
    cut.answer = None
    cut.save(tmp_path / "encoded.webp", "alpha")
    again = decoded(tmp_path / "encoded.webp")
    assert again[0] == mode and np.array_equal(again[1], pixels)


def test_a_lossless_webp_cutout_answer_is_written_as_received(tmp_path, emulator, key):
    rgb = subject_photo(320, 240, seed=6)[0]  # small: uploaded as PNG, so the answer is the cut-out
    cut = remove_background(rgb, CutOptions(return_type="WEBP_100"), api_key=key, endpoint=emulator.endpoint)
    assert cut.answer is not None and cut.answer[1:] == ("rgba", "WEBP")
    out = tmp_path / "cut.webp"
    cut.save(out)
    mode, pixels, _ = decoded(out)
    assert mode == "RGBA" and np.array_equal(pixels, cut.rgba)
    assert marker_kind(out) == "cut-out"
    cut.save(out, "alpha", force=True)  # the other layer is encoded, not the answer
    mode, pixels, _ = decoded(out)
    assert np.array_equal(pixels[..., 0], cut.mask) and marker_kind(out) == "mask"


def test_a_webp_quality_asked_for_is_encoded_not_passed_through(tmp_path, emulator, key):
    rgb = subject_photo(320, 240, seed=4)[0]
    options = CutOptions(channels="alpha", return_type="WEBP_100")
    cut = remove_background(rgb, options, api_key=key, endpoint=emulator.endpoint)
    out = tmp_path / "lossy.webp"
    cut.save(out, "alpha", webp_quality=50)
    assert riff_chunks(out.read_bytes())[1][0] != b"VP8L"  # lossy, as asked
    assert marker_kind(out) == "mask"


@pytest.mark.parametrize("shape", [(53, 71), (1201, 2003)])  # one band; several, the last short
@pytest.mark.parametrize("opaque", [False, True])
def test_composing_over_the_answer_equals_filling_from_the_source(opaque, shape):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    answer = rng.integers(0, 256, (*shape, 4), dtype=np.uint8)
    answer[..., 3] = np.where(rng.random(shape) < 0.4, 255, answer[..., 3])
    if opaque:  # an alpha-mode answer in RGBA: the mask is its grey level
        answer[..., 3] = 255
    source = Source(rgb)
    cut = build_cutout(source, answer, CutOptions(), None)
    want = _compose(source, cut.mask, answer, decontaminate=True)
    assert cut.rgba.dtype == np.uint8 and np.array_equal(cut.rgba, want)
    assert np.array_equal(cut.rgba[..., 3], cut.mask)
    interior = cut.mask == 255
    assert np.array_equal(cut.rgba[..., :3][interior], rgb[interior])
    assert np.array_equal(cut.rgba[..., :3][~interior], answer[..., :3][~interior])
    assert not np.shares_memory(cut.rgba, answer)


PLUGINS_PROBE = """
import runpy, sys
sys.argv = ["bgcut", *sys.argv[1:]]
try:
    runpy.run_module("bgcut", run_name="__main__")
except SystemExit:
    pass
print("PLUGINS", sorted(m for m in sys.modules if m.endswith("ImagePlugin")), file=sys.stderr)
"""


def test_a_cut_loads_only_the_pillow_plugins_it_uses(tmp_path, emulator, key):
    src = tmp_path / "a.jpg"
    Image.fromarray(subject_photo(160, 120)[0]).save(src)
    out = tmp_path / "a-cut.png"
    args = ["cut", str(src), "-o", str(out), "--api-key", key, "--endpoint", emulator.endpoint]
    done = subprocess.run(
        [sys.executable, "-c", PLUGINS_PROBE, *args], capture_output=True, text=True, timeout=120
    )
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("PLUGINS")][-1]
    plugins = {name.removeprefix("PIL.") for name in eval(line.removeprefix("PLUGINS "), {})}  # noqa: S307
    assert "WebPImagePlugin" in plugins and "DdsImagePlugin" not in plugins
    assert len(plugins) <= 8  # Pillow's preinit five (BMP, GIF, JPEG, PPM, PNG) and WebP
    with Image.open(out) as im:
        assert im.size == (160, 120) and im.mode == "RGBA"


@pytest.mark.parametrize("shape", [(1500, 1000, 4), (4500, 1000)])
def test_png_bytes_rounds_floats_band_by_band_as_a_whole_array_would(shape):
    rng = np.random.default_rng(shape[0])
    floats = rng.uniform(-0.2, 1.2, shape).astype(np.float32)[::-1]  # a bottom-up view, as Blender's
    rounded = (np.clip(floats, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    data = writing.png_bytes(floats)
    assert data == writing.png_bytes(np.ascontiguousarray(rounded))
    assert len(png_idat_lengths(data)) >= 3  # two bands or more, then the closing block
    with Image.open(io.BytesIO(data)) as im:
        assert np.array_equal(np.asarray(im), rounded)


def png_idat_lengths(data: bytes) -> list[int]:
    lengths, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IDAT":
            lengths.append(length)
        at += 12 + length
    return lengths


def jpeg(pixels: np.ndarray, **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", **params)
    return buf.getvalue()


def test_a_plain_jpeg_source_is_uploaded_as_received_and_the_service_sees_its_pixels(emulator, key):
    rgb = subject_photo(640, 480, seed=9)[0]
    data = jpeg(rgb, quality=90)
    up = upload_as_received(data, CutOptions())
    assert up is not None and up.data == data and up.content_type == "image/jpeg"
    assert (up.info.format, up.info.bytes, up.info.width, up.info.height, up.info.scale) == (
        "JPEG",
        len(data),
        640,
        480,
        1.0,
    )
    answer = requests.post(
        emulator.endpoint,
        headers={"Authorization": key},
        files={"image_file": (up.filename, up.data, up.content_type)},
        data=CutOptions(channels="alpha", return_type="PNG").form_fields(),
        timeout=60,
    )
    assert answer.status_code == 200
    mask = np.asarray(Image.open(io.BytesIO(answer.content)))
    assert np.array_equal(mask, segment(load_source(data).rgb8()))  # the very pixels bgcut composes from
    b64 = upload_as_received(data, CutOptions(upload_field="image_file_b64"))
    assert b64 is not None and base64.b64decode(b64.data) == data


def test_a_jpeg_that_must_be_prepared_is_not_uploaded_as_received():
    rgb = subject_photo(640, 480, seed=9)[0]
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: the service may not turn it as bgcut does
    for data in (
        jpeg(rgb, exif=exif.tobytes()),
        jpeg(rgb, icc_profile=b"\0" * 128),
        jpeg(rgb[..., 0]),  # grey
        webp(rgb, quality=90),
        b"\xff\xd8\xff not a picture",
    ):
        assert upload_as_received(data, CutOptions()) is None
    assert upload_as_received(jpeg(rgb), CutOptions(max_resolution=640 * 480 - 1)) is None
    assert upload_as_received(jpeg(rgb), CutOptions(max_resolution=640 * 480)) is not None


def test_a_mask_only_cut_composes_the_cut_out_only_when_it_is_read(emulator, key, tmp_path):
    """`--channels alpha -o mask.png` never writes the cut-out: it is not built (with its
    edge colours estimated) unless read, and then it is what an eager build gives."""
    img, _ = subject_photo(160, 120, seed=91)
    options = CutOptions(channels="alpha", return_type="PNG")
    cut = remove_background(img, options, api_key=key, endpoint=emulator.endpoint)
    cut.save(tmp_path / "mask.png", "alpha")
    assert callable(cut._rgba), "the mask-only cut built its cut-out"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "mask.png")), cut.mask)
    source = load_source(img)
    eager = build_cutout(source, cut.mask[..., None], options, None)
    assert np.array_equal(cut.rgba, eager.rgba) and not callable(cut._rgba)
    whole = remove_background(img, CutOptions(return_type="PNG"), api_key=key, endpoint=emulator.endpoint)
    assert not callable(whole._rgba)
