"""The fast paths of the whole job keep what they promise: light commands load no heavy
module, a mask equal to the service's answer is written as received (plus the marker),
the fast PNG and WebP encoders give back exactly the cut-out's pixels, and the upload
keeps the emulator's mask."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import requests
from bgcut import shrink, writing
from bgcut.api import remove_background
from bgcut.cli import main
from bgcut.emulator.segment import segment
from bgcut.marker import MARKER_KEY, marker_kind
from bgcut.options import CutOptions
from imagery import subject_photo
from PIL import Image
from test_outputs import decode_png16

HEAVY = ("numpy", "PIL", "requests", "onnxruntime")
PROBE = """
import runpy, sys
sys.argv = ["bgcut", *sys.argv[1:]]
try:
    runpy.run_module("bgcut", run_name="__main__")
except SystemExit:
    pass
print("LOADED", sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def loaded_by(*args: str) -> tuple[list[str], str]:
    """The heavy modules `bgcut ARGS` imported (a fresh interpreter), and its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, timeout=120
    )
    line = [ln for ln in done.stderr.splitlines() if ln.startswith("LOADED")][-1]
    return eval(line.removeprefix("LOADED "), {}), done.stdout  # noqa: S307 - our own print


@pytest.mark.parametrize("args", [["--help"], ["config", "--show"], ["cache", "--clear"], ["cut", "--help"]])
def test_light_commands_load_no_numpy_pillow_or_requests(args):
    loaded, out = loaded_by(*args)
    assert loaded == []
    assert out  # the command did its work (help text, settings, what was removed)


def test_a_cut_with_the_service_never_loads_onnxruntime(tmp_path, emulator, key):
    src = tmp_path / "a.png"
    Image.fromarray(subject_photo(160, 120)[0]).save(src)
    loaded, _ = loaded_by("cut", str(src), "--api-key", key, "--endpoint", emulator.endpoint)
    assert loaded == ["PIL", "numpy", "requests"]
    assert (tmp_path / "a-cut.png").is_file()


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, out = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def without_marker(data: bytes) -> bytes:
    """The PNG with bgcut's two tEXt chunks (Software, bgcut) taken out."""
    pos, out = 8, [data[:8]]
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        keyword = body.partition(b"\0")[0]
        if not (kind == b"tEXt" and keyword in (b"Software", MARKER_KEY.encode())):
            out.append(data[pos : pos + 12 + length])
        pos += 12 + length
    return b"".join(out)


def test_a_mask_equal_to_the_answer_is_written_as_received_plus_the_marker(tmp_path, emulator, key, capsys):
    src = tmp_path / "a.png"
    Image.fromarray(subject_photo(320, 240)[0]).save(src)
    out = tmp_path / "mask.png"
    args = ["cut", str(src), "-o", str(out), "--channels", "alpha", "--return-type", "PNG"]
    assert main([*args, "--api-key", key, "--endpoint", emulator.endpoint]) == 0
    sent = emulator.seen[-1]
    again = requests.post(  # the same request once more: the answer the service gives
        emulator.endpoint,
        headers={"Authorization": key},
        files={"image_file": (sent.file_name, sent.file_bytes, sent.file_type)},
        data=sent.fields,
        timeout=30,
    )
    answer = again.content
    written = out.read_bytes()
    assert answer[:8] == b"\x89PNG\r\n\x1a\n" and len(written) > len(answer)
    assert without_marker(written) == answer
    assert marker_kind(out) == "mask"
    assert png_chunks(written)[0][0] == b"IHDR"
    with Image.open(out) as a, Image.open(io.BytesIO(answer)) as b:
        assert a.mode == b.mode == "L"
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_a_webp_answer_or_a_refined_mask_is_encoded_not_passed_through(tmp_path, emulator, key):
    rgb = subject_photo(320, 240)[0]
    cut = remove_background(rgb, CutOptions(channels="alpha"), api_key=key, endpoint=emulator.endpoint)
    assert cut.answer is None  # the default answer is WebP
    cut.save(tmp_path / "m.png", "alpha")
    with Image.open(tmp_path / "m.png") as im:
        assert np.array_equal(np.asarray(im), cut.mask)
    small = CutOptions(channels="alpha", return_type="PNG", max_resolution=20_000)
    refined = remove_background(rgb, small, api_key=key, endpoint=emulator.endpoint)
    assert refined.mask_refined and refined.answer is None


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_outputs_decode_to_exactly_the_cutouts_pixels(tmp_path, emulator, key, suffix):
    rgb = subject_photo(640, 480, seed=3)[0]
    cut = remove_background(rgb, api_key=key, endpoint=emulator.endpoint)
    assert 0 < int((cut.mask == 0).sum()) < cut.mask.size
    cut.save(tmp_path / f"cut{suffix}")
    cut.save(tmp_path / f"mask{suffix}", "alpha")
    with Image.open(tmp_path / f"cut{suffix}") as im:
        assert im.mode == "RGBA"
        assert np.array_equal(np.asarray(im), cut.rgba)  # RGB under transparent pixels too
    with Image.open(tmp_path / f"mask{suffix}") as im:
        assert np.array_equal(np.asarray(im.convert("L")), cut.mask)
    assert marker_kind(tmp_path / f"cut{suffix}") == "cut-out"
    assert marker_kind(tmp_path / f"mask{suffix}") == "mask"


def idat_stream(data: bytes) -> bytes:
    return b"".join(body for kind, body in png_chunks(data) if kind == b"IDAT")


@pytest.mark.parametrize(
    "shape, dtype", [((1100, 2000, 4), np.uint8), ((9000, 1000), np.uint8), ((1500, 900, 4), np.uint16)]
)
def test_the_banded_png_encoder_is_exact_over_many_bands(tmp_path, shape, dtype):
    rng = np.random.default_rng(5)
    smooth = np.cumsum(rng.integers(0, 3, size=shape), axis=1) % (256 if dtype == np.uint8 else 65536)
    pixels = smooth.astype(dtype)
    path = tmp_path / "x.png"
    writing.write_atomic(path, writing.png_writer(pixels, "cut-out"), replace=False)
    data = path.read_bytes()
    chunks = png_chunks(data)
    assert [k for k, _ in chunks if k != b"IDAT"] == [b"IHDR", b"tEXt", b"tEXt", b"IEND"]
    assert sum(k == b"IDAT" for k, _ in chunks) >= 4  # several bands, deflated apart
    stream = idat_stream(data)
    assert stream[:2] == b"\x78\x01"
    raw = zlib.decompress(stream)  # checks the combined Adler-32
    row = shape[1] * (shape[2] if len(shape) == 3 else 1) * pixels.itemsize + 1
    assert len(raw) == shape[0] * row
    if dtype == np.uint16:
        assert np.array_equal(decode_png16(data), pixels)
    else:
        with Image.open(path) as im:
            assert np.array_equal(np.asarray(im), pixels)


def test_png_level_is_a_fast_one_and_smaller_than_raw(tmp_path):
    assert writing.PNG_LEVEL in (1, 2, 3)
    pixels = np.zeros((300, 400, 4), np.uint8)
    data = writing.png_bytes(pixels)
    assert len(data) < pixels.size // 50
    with Image.open(io.BytesIO(data)) as im:
        assert np.array_equal(np.asarray(im), pixels)


def test_marked_png_writer_splices_the_marker_after_ihdr(tmp_path):
    buf = io.BytesIO()
    grey = np.arange(64 * 48, dtype=np.uint8).reshape(48, 64)
    Image.fromarray(grey).save(buf, format="PNG")
    path = tmp_path / "m.png"
    writing.write_atomic(path, writing.marked_png_writer(buf.getvalue(), "mask"), replace=False)
    kinds = [k for k, _ in png_chunks(path.read_bytes())]
    assert kinds[:3] == [b"IHDR", b"tEXt", b"tEXt"]
    assert without_marker(path.read_bytes()) == buf.getvalue()
    assert marker_kind(path) == "mask"
    with pytest.raises(ValueError):
        writing.marked_png_writer(b"RIFF....WEBPVP8 ", "mask")


def test_an_upload_up_to_4_mp_keeps_the_emulators_mask_identical(emulator, key):
    rgb = subject_photo(640, 480, seed=7)[0]
    cut = remove_background(
        rgb, CutOptions(channels="alpha", return_type="PNG"), api_key=key, endpoint=emulator.endpoint
    )
    assert cut.upload is not None and cut.upload.format == "PNG" and not cut.upload.downscaled
    assert emulator.seen[-1].file_bytes is not None
    with Image.open(io.BytesIO(emulator.seen[-1].file_bytes)) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), rgb)
    assert np.array_equal(cut.mask, segment(rgb))
    assert cut.answer is not None and cut.answer.layer == "alpha"


def test_library_save_passthrough_keeps_the_marker_on_a_renamed_mask(tmp_path, emulator, key):
    rgb = subject_photo(320, 240, seed=2)[0]
    cut = remove_background(
        rgb, CutOptions(channels="alpha", return_type="PNG"), api_key=key, endpoint=emulator.endpoint
    )
    out = Path(tmp_path / "renamed.png")
    cut.save(out, "alpha")
    assert marker_kind(out) == "mask"
    assert without_marker(out.read_bytes()) == cut.answer.data


def _from_scan(data: bytes) -> bytes:
    """A JPEG's bytes from its first start-of-scan marker on (the image data itself)."""
    return data[data.index(b"\xff\xda") :]


def test_a_plain_jpeg_goes_as_read_without_its_metadata(tmp_path, emulator, key):
    rgb = subject_photo(1600, 1200, seed=5)[0]
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    exif[0x0131] = "SecretSoftware 1.0"  # Software
    path = tmp_path / "photo.jpg"
    Image.fromarray(rgb).save(path, quality=90, exif=exif, comment=b"shot at home, 51.5N 0.1W")
    data = path.read_bytes()
    with Image.open(path) as im:
        decoded = np.asarray(im.convert("RGB"))
    cut = remove_background(
        path, CutOptions(channels="alpha", return_type="PNG"), api_key=key, endpoint=emulator.endpoint
    )
    sent = emulator.seen[-1].file_bytes
    assert sent is not None and len(emulator.seen) == 1
    assert cut.upload is not None and cut.upload.format == "JPEG" and cut.upload.bytes == len(sent)
    for secret in (b"Exif", b"CameraMaker", b"SecretSoftware", b"51.5N"):
        assert secret in data and secret not in sent
    assert _from_scan(sent) == _from_scan(data)  # the image data byte for byte, not re-encoded
    with Image.open(io.BytesIO(sent)) as im:
        assert np.array_equal(np.asarray(im), decoded)
    assert np.array_equal(cut.mask, segment(decoded))


def _lossless_jpeg(rgb: np.ndarray) -> bytes:
    """A lossless JPEG (SOF3, predictor 1: the pixel to the left), 8-bit RGB: a kind of JPEG
    libjpeg-turbo decodes but cannot scale."""
    h, w, _ = rgb.shape
    sof = struct.pack(">BHHB", 8, h, w, 3) + b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    dht = bytes([0x00]) + bytes([0, 0, 0, 0, 17] + [0] * 11) + bytes(range(17))  # 17 codes of 5 bits
    sos = bytes([3]) + b"".join(bytes([i, 0x00]) for i in (1, 2, 3)) + bytes([1, 0, 0])
    a = rgb.astype(int)
    pred = np.empty_like(a)
    pred[:, 1:] = a[:, :-1]
    pred[1:, 0] = a[:-1, 0]
    pred[0, 0] = 128
    bits = []
    for d in (a - pred).ravel():
        size = int(abs(d)).bit_length()
        bits.append(format(size, "05b"))
        if size:
            bits.append(format((d if d > 0 else d - 1) & ((1 << size) - 1), f"0{size}b"))
    stream = "".join(bits)
    stream += "1" * (-len(stream) % 8)
    scan = bytearray()
    for i in range(0, len(stream), 8):
        scan.append(int(stream[i : i + 8], 2))
        if scan[-1] == 0xFF:
            scan.append(0)
    out = b"\xff\xd8"
    for marker, body in ((b"\xff\xc3", sof), (b"\xff\xc4", dht), (b"\xff\xda", sos)):
        out += marker + struct.pack(">H", 2 + len(body)) + body
    return out + bytes(scan) + b"\xff\xd9"


def test_a_jpeg_the_quick_check_cannot_read_is_decoded_whole(emulator, key):
    """A lossless JPEG has no 1/8 scale, so the quick check fails; the full decode decides
    (it reads, exactly), and the cut goes ahead."""
    from bgcut.source import Decoding, _check_jpeg, load_source

    rgb = subject_photo(80, 60, seed=9)[0]
    data = _lossless_jpeg(rgb)
    from bgcut.errors import InputError

    with pytest.raises(InputError):
        _check_jpeg(data, "photo.jpg")
    source = load_source(data)
    assert isinstance(source._pixels, Decoding)  # the threaded road, with its check
    source.readable()
    assert np.array_equal(source.pixels, rgb)
    cut = remove_background(data, api_key=key, endpoint=emulator.endpoint)
    assert cut.mask.shape == (60, 80) and np.array_equal(cut.mask, segment(rgb))


@pytest.mark.parametrize("damage", ["Huffman table", "scan header"])
def test_a_jpeg_whose_header_reads_but_data_does_not_is_refused_with_nothing_charged(
    tmp_path, emulator, key, damage
):
    """A complete-looking JPEG (header read, end marker present) goes out as read while it
    decodes; its last bytes wait for the quick check, which fails as the full decode would."""
    path = tmp_path / "photo.jpg"
    Image.fromarray(subject_photo(800, 600, seed=3)[0]).save(path, quality=90)
    data = bytearray(path.read_bytes())
    if damage == "Huffman table":
        at = data.index(b"\xff\xc4") + 5
        data[at : at + 16] = bytes([255] * 16)  # code counts far beyond 256 codes
    else:
        data = data[: data.index(b"\xff\xda") + 2] + b"\x00\x02" + data[-2:]
    path.write_bytes(bytes(data))
    with Image.open(path) as im:
        assert im.size == (800, 600)  # the header reads: the file is taken for a whole JPEG
    from bgcut.errors import InputError

    with pytest.raises(InputError, match="not a readable image"):
        remove_background(path, api_key=key, endpoint=emulator.endpoint)
    assert emulator.credits(key) == 100
    assert all(seen.file_bytes is None for seen in emulator.seen)  # no upload arrived whole


@pytest.mark.parametrize("damage", ["truncated", "no end marker"])
def test_a_damaged_jpeg_is_refused_before_anything_is_sent(tmp_path, emulator, key, damage):
    path = tmp_path / "photo.jpg"
    Image.fromarray(subject_photo(800, 600, seed=3)[0]).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:-2])
    from bgcut.errors import InputError

    if damage == "truncated":
        with pytest.raises(InputError, match="not a readable image"):
            remove_background(path, api_key=key, endpoint=emulator.endpoint)
        assert len(emulator.seen) == 0
    else:  # decodable without its end marker: then it is re-encoded from the pixels, not sent as read
        remove_background(path, api_key=key, endpoint=emulator.endpoint)
        assert emulator.seen[-1].file_bytes is not None
        assert _from_scan(emulator.seen[-1].file_bytes) != _from_scan(data[:-2])


@pytest.mark.parametrize(
    "src, size",
    [((3000, 4000), (2828, 2121)), ((2048, 2731), (1000, 750)), ((301, 403), (211, 157))],
)
def test_the_banded_upload_resize_gives_the_pixels_of_one_piece(src, size):
    """Bands of output rows on every core (many at the first size): every pixel within
    1 of Pillow's one-piece resize (rounding where bands meet), nearly all equal, the
    picture's first and last rows (where the filter is clamped) exactly."""
    from bgcut.upload import _resize

    rgb = subject_photo(src[1], src[0], seed=8)[0]
    w, h = size
    im = Image.fromarray(rgb)
    if im.width >= 2 * w and im.height >= 2 * h:
        im = im.reduce(min(im.width // w, im.height // h))
    one = np.asarray(im.resize((w, h), Image.Resampling.BILINEAR)).astype(np.int16)
    banded = _resize(rgb, w, h)
    assert banded.shape == (h, w, 3) and banded.dtype == np.uint8
    diff = np.abs(banded - one)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert np.array_equal(banded[[0, -1]], one[[0, -1]])


@pytest.mark.parametrize(("width", "height"), [(4001, 2999), (2999, 4001), (961, 643)])
def test_the_banded_shrink_gives_pillows_pixels_to_the_bit(width, height):
    """The local engine's model input and working picture, and the upload's first step,
    reduce in bands of source rows on every core; the pixels are those of one piece."""
    small, _ = subject_photo(640, 480)
    rgb = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))
    whole = Image.fromarray(rgb)
    for size in [(320, 256), (256, 320), (640, 480), (192, 192)]:
        want = np.asarray(whole.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0))
        assert np.array_equal(shrink.lanczos(rgb, size), want), size
    for factor in [(2, 2), (3, 5), (4, 4)]:
        assert np.array_equal(shrink.box_reduce(rgb, *factor), np.asarray(whole.reduce(factor))), factor
