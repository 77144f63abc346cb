"""A JPEG sent as read (`upload.upload_as_received`) takes nothing but the picture itself
with it, and one that cannot be decoded here never reaches the service: files as cameras
and phones write them (a second picture after the first one's end, segments between
progressive scans), over real HTTP to the emulator."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from bgcut.api import remove_background
from bgcut.emulator.segment import segment
from bgcut.errors import InputError
from bgcut.options import CutOptions
from imagery import subject_photo
from PIL import Image

ALPHA = CutOptions(channels="alpha", return_type="PNG")


def _jpeg(rgb: np.ndarray, **params: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", **params)
    return buf.getvalue()


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _cut_as_read(data: bytes, emulator, key: str, secrets: tuple[bytes, ...]) -> bytes:
    """Cut `data`; the bytes the service got, checked to be a JPEG of the very pixels (not
    re-encoded), none of `secrets` among them, and the mask the service's for them."""
    assert all(secret in data for secret in secrets)
    cut = remove_background(data, ALPHA, api_key=key, endpoint=emulator.endpoint)
    sent = emulator.seen[-1].file_bytes
    assert sent is not None and len(emulator.seen) == 1 and emulator.charged(key) == 1
    assert cut.upload is not None and cut.upload.format == "JPEG" and cut.upload.bytes == len(sent)
    assert [secret for secret in secrets if secret in sent] == []
    assert sent.endswith(b"\xff\xd9") and sent.count(b"\xff\xd8") == 1  # one picture, ending at its end
    assert np.array_equal(_decoded(sent), _decoded(data))
    assert np.array_equal(cut.mask, segment(_decoded(data)))
    return sent


def test_the_second_picture_of_a_multi_picture_jpeg_stays_home(emulator, key):
    """Phones and 3D/depth cameras write MPF files: a second JPEG, with its own EXIF, after
    the first one's end marker; the file still ends in FFD9."""
    rgb = subject_photo(800, 600, seed=1)[0]
    exif = Image.Exif()
    exif[0x010F] = "SecondPictureMaker"
    buf = io.BytesIO()
    Image.fromarray(rgb).save(
        buf,
        "MPO",
        save_all=True,
        append_images=[Image.fromarray(rgb[::2, ::2].copy())],
        quality=90,
        exif=exif,
    )
    data = buf.getvalue()
    assert data.count(b"SecondPictureMaker") == 2
    _cut_as_read(data, emulator, key, (b"SecondPictureMaker", b"MPF"))


def test_a_picture_appended_after_the_end_marker_stays_home(emulator, key):
    rgb = subject_photo(800, 600, seed=2)[0]
    data = _jpeg(rgb, quality=90) + _jpeg(rgb[::4, ::4].copy(), quality=50, comment=b"appended at 51.5N 0.1W")
    _cut_as_read(data, emulator, key, (b"51.5N",))


def test_comments_and_app_segments_between_progressive_scans_stay_home(emulator, key):
    """Between a progressive JPEG's scans come tables, and may come COM and APPn too."""
    data = _jpeg(subject_photo(800, 600, seed=3)[0], quality=90, progressive=True)
    second_tables = data.index(b"\xff\xc4", data.index(b"\xff\xda"))
    data = (
        data[:second_tables]
        + _segment(0xFE, b"between scans: shot at home")
        + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>dc:creator Jane Doe</x:xmpmeta>")
        + data[second_tables:]
    )
    _cut_as_read(data, emulator, key, (b"shot at home", b"Jane Doe", b"xmpmeta"))


def test_only_the_jfif_and_adobe_segments_of_app0_and_app14_are_kept(emulator, key):
    data = _jpeg(subject_photo(800, 600, seed=4)[0], quality=90)
    data = data[:2] + _segment(0xE0, b"NOTE\0taken by Jane Doe") + _segment(0xEE, b"Notes\0Jane") + data[2:]
    _cut_as_read(data, emulator, key, (b"Jane Doe", b"Notes"))


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpeg_that_does_not_decode_is_refused_before_it_reaches_the_service(emulator, key, progressive):
    """Its marker structure is plain and its end marker there, so it is decoded while it is
    sent; that decode failing must still stop it before the service has all of it: no
    credit at risk (a service with a laxer decoder would charge), and the local message."""
    data = bytearray(_jpeg(subject_photo(1600, 1200, seed=5)[0], quality=90, progressive=progressive))
    scan = data.index(b"\xff\xda")
    data[scan + 6] = 0x33  # the first component's Huffman tables: ones never defined
    with pytest.raises(InputError, match="not a readable image"):
        remove_background(bytes(data), ALPHA, api_key=key, endpoint=emulator.endpoint)
    assert [seen.file_bytes for seen in emulator.seen if seen.file_bytes is not None] == []
    assert emulator.charged(key) == 0
