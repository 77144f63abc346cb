"""The service's WebP answers decode to the same pixels on bgcut's two direct roads (libwebp's
threaded WebPDecode into bgcut's array; Pillow's own libwebp decoder, no extra copies) as
through Image.open, for every kind of WebP the API can send; sizes beyond the API's are
refused before any pixel is decoded."""

from __future__ import annotations

import io
import struct
import tracemalloc

import bgcut.webp as libwebp
import numpy as np
import pytest
from bgcut import errors
from bgcut.answer import _check_size, _webp_direct, decode_answer
from imagery import subject_photo
from PIL import Image

RGB = subject_photo(97, 61, seed=41)[0]
ALPHA = np.linspace(0, 255, 97 * 61).reshape(61, 97).astype(np.uint8)


def webp(pixels: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="WEBP", **kw)
    return buf.getvalue()


def public_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("alpha", [True, False])
@pytest.mark.parametrize("how", [{"quality": 80}, {"quality": 5}, {"lossless": True, "exact": True}])
def test_direct_webp_decode_equals_image_open(alpha, how):
    px = np.dstack([RGB, ALPHA]) if alpha else RGB
    data = webp(px, **how)
    direct = _webp_direct(data)
    assert direct is not None  # the road taken, not the fallback
    assert direct.shape == (61, 97, 4) and direct.dtype == np.uint8
    assert np.array_equal(direct, public_decode(data))
    threaded = libwebp.decode(data, _check_size)
    assert threaded is not None and threaded.shape == (61, 97, 4)
    assert np.array_equal(threaded, direct)
    assert np.array_equal(decode_answer(data), direct)
    if "lossless" in how:
        assert np.array_equal(direct[..., :3], RGB)
        assert np.array_equal(direct[..., 3], ALPHA if alpha else np.full_like(ALPHA, 255))


def test_an_animated_webp_is_left_to_image_open():
    frames = [Image.fromarray(RGB), Image.fromarray(255 - RGB)]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    data = buf.getvalue()
    assert _webp_direct(data) is None
    assert libwebp.decode(data, _check_size) is None
    assert np.array_equal(decode_answer(data), public_decode(data))  # its first frame


def test_a_webp_declaring_more_than_the_api_sends_is_refused_unread():
    data = bytearray(webp(RGB, lossless=True))
    at = data.index(b"VP8L") + 8 + 1  # after the chunk header and the 0x2f signature
    bits = (16383) | (16383 << 14)  # 14-bit width-1 and height-1: 16384 × 16384
    old = struct.unpack("<I", data[at : at + 4])[0]
    data[at : at + 4] = struct.pack("<I", (old & ~((1 << 28) - 1)) | bits)
    tracemalloc.start()
    with pytest.raises(errors.BadAnswerError) as info:
        decode_answer(bytes(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "declares 16384×16384" in str(info.value) or "damaged" in str(info.value)
    assert peak < 20 * 2**20


def test_the_threaded_road_finds_pillows_libwebp_here():
    """On this machine (Pillow's Linux wheel) the threaded road is the one answers take."""
    lib = libwebp.library()
    assert lib is not None and lib.WebPGetDecoderVersion() >= 0x010000


@pytest.mark.parametrize("alpha", [True, False])
def test_a_large_answer_decodes_alike_on_every_road(alpha):
    """Several of libwebp's row batches and its second thread: still the same pixels."""
    rng = np.random.default_rng(5)
    big = np.repeat(np.repeat(rng.integers(0, 256, (150, 200, 4), dtype=np.uint8), 8, 0), 8, 1)
    data = webp(big if alpha else big[..., :3], quality=90, method=0)
    threaded = libwebp.decode(data, _check_size)
    assert threaded is not None
    assert np.array_equal(threaded, public_decode(data))


def test_a_truncated_webp_is_left_to_pillow_and_reported_damaged():
    data = webp(np.dstack([RGB, ALPHA]), quality=80)
    cut = data[: len(data) * 2 // 3]
    assert libwebp.decode(cut, _check_size) is None
    with pytest.raises(errors.BadAnswerError, match="damaged or truncated"):
        decode_answer(cut)


def test_the_size_is_checked_before_the_threaded_road_decodes():
    seen = []

    def refuse(w: int, h: int) -> None:
        seen.append((w, h))
        raise errors.BadAnswerError("too large")

    with pytest.raises(errors.BadAnswerError):
        libwebp.decode(webp(RGB, lossless=True), refuse)
    assert seen == [(97, 61)]


def _chunks(data: bytes) -> list[tuple[bytes, int]]:
    pos, out = 12, []
    while pos < len(data):
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        out.append((data[pos : pos + 4], pos))
        pos += 8 + size + (size & 1)
    return out


def _with_riff_size(data: bytearray) -> bytes:
    data[4:8] = struct.pack("<I", len(data) - 8)
    return bytes(data)


def test_a_vp8x_that_disowns_its_alpha_is_opaque_on_every_road():
    """A damaged flag: libwebp alone would decode the ALPH chunk; Pillow's road (the
    demuxer's flags) says opaque, and so does the threaded road."""
    data = bytearray(webp(np.dstack([RGB, ALPHA]), quality=80))
    assert [tag for tag, _ in _chunks(bytes(data))] == [b"VP8X", b"ALPH", b"VP8 "]
    data[20] &= ~0x10
    threaded = libwebp.decode(bytes(data), _check_size)
    assert threaded is not None and (threaded[..., 3] == 255).all()
    assert np.array_equal(threaded, public_decode(bytes(data)))


@pytest.mark.parametrize(
    "damage",
    ["trailing bytes", "chunk after the image", "reserved flag", "odd riff size", "unknown chunk"],
)
def test_a_container_that_is_not_exactly_well_formed_is_left_to_pillow(damage):
    """libwebp's simple decoder is laxer than the demuxer Pillow uses; bgcut's road takes
    only exact containers, so either road gives the same verdict (pixels or 'damaged')."""
    data = bytearray(webp(np.dstack([RGB, ALPHA]), quality=80))
    if damage == "trailing bytes":
        data += b"\0\0\0\0"
    elif damage == "chunk after the image":
        data = bytearray(_with_riff_size(data + b"EXIF" + struct.pack("<I", 4) + b"Exif"))
    elif damage == "reserved flag":
        data[20] |= 0x01
    elif damage == "odd riff size":
        data[4:8] = struct.pack("<I", len(data) - 9)
    else:
        at = _chunks(bytes(data))[1][1]
        data[at : at + 4] = b"JUNK"
    data = bytes(data)
    assert libwebp.decode(data, _check_size) is None
    try:
        expected = public_decode(data)
    except Exception:  # noqa: BLE001 - Pillow refuses it: so must bgcut
        with pytest.raises(errors.BadAnswerError):
            decode_answer(data)
    else:
        assert np.array_equal(decode_answer(data), expected)
