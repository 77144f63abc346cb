"""Bad input never reaches the user as a traceback: the answer decoder, options, CLI paths
and awkward source files each give a clear error or a correct result (hypothesis + fuzz)."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zlib
from pathlib import Path

import bgcut
import numpy as np
import pytest
from bgcut import errors
from bgcut.answer import decode_answer
from bgcut.cli import plan_outputs
from bgcut.options import CutOptions
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagery import encode, iou, subject_photo
from PIL import Image

SMALL = subject_photo(40, 30, seed=500)[0]
PNG = encode(np.dstack([SMALL, np.full(SMALL.shape[:2], 200, np.uint8)]))
WEBP = encode(np.dstack([SMALL, np.full(SMALL.shape[:2], 200, np.uint8)]), "WEBP", quality=80)
FUZZ_EXAMPLES = int(os.environ.get("BGCUT_FUZZ_EXAMPLES", "1500"))


def decode_or_clear_error(data: bytes) -> None:
    try:
        out = decode_answer(data)
    except errors.BadAnswerError as exc:
        assert str(exc)
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] in (1, 4)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_decoder_on_arbitrary_bytes(data):
    decode_or_clear_error(data)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([PNG, WEBP]),
    cut=st.integers(0, 4000),
    flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(1, 255)), max_size=8),
)
def test_decoder_fuzz_on_damaged_png_and_webp(base, cut, flips):
    data = bytearray(base[: max(1, cut % (len(base) + 1))] if cut % 3 else base)
    for pos, xor in flips:
        if data:
            data[pos % len(data)] ^= xor
    decode_or_clear_error(bytes(data))


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(100_000, 100_000), (65_535, 65_535), (4000, 3500)])
def test_decompression_bomb_is_refused_without_allocating(size):
    tracemalloc.start()
    with pytest.raises(errors.BadAnswerError) as info:
        decode_answer(_png_header_only(*size))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 2**20
    assert "declares" in str(info.value) or "damaged" in str(info.value)


@settings(max_examples=300, deadline=None)
@given(
    quality=st.text(max_size=8),
    return_type=st.text(max_size=10),
    channels=st.text(max_size=6),
    max_resolution=st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.none()),
)
def test_option_values_are_valid_or_a_clear_option_error(quality, return_type, channels, max_resolution):
    try:
        opts = CutOptions(
            quality=quality, return_type=return_type, channels=channels, max_resolution=max_resolution
        )
    except errors.OptionError as exc:
        assert "allowed values are" in str(exc)
        return
    assert opts.quality in ("High", "Medium", "Low") and opts.channels in ("rgba", "alpha")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=40).filter(
        lambda n: "/" not in n and "\0" not in n and n not in (".", "..")
    )
)
def test_cli_outputs_never_escape_the_out_dir(tmp_path, name):
    out_dir = tmp_path / "out"
    plan = plan_outputs([tmp_path / "in" / name], None, str(out_dir), "rgba", force=False).todo
    for _, out in plan:
        assert out.resolve().parent == out_dir.resolve()
        assert out.name.endswith("-cut.png")


def test_cli_never_overwrites_without_force(tmp_path):
    src = tmp_path / "a.png"
    src.write_bytes(b"x")
    (tmp_path / "a-cut.png").write_bytes(b"keep")
    planned = plan_outputs([src], None, None, "rgba", force=False)
    assert planned.todo == [] and planned.refused == []
    assert planned.skipped == [(src, tmp_path / "a-cut.png")]  # already done, not overwritten
    planned = plan_outputs([src], str(src), None, "rgba", force=True)
    assert planned.todo == [] and "replace the input" in planned.refused[0]


def _animated_webp() -> bytes:
    frames = [Image.fromarray(subject_photo(64, 48, seed=s)[0]) for s in (1, 2)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    return buf.getvalue()


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(subject_photo(64, 48, seed=3)[0]).convert("CMYK").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def _png16() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(subject_photo(64, 48, seed=4)[0][..., 0].astype(np.uint16) * 257).save(buf, "PNG")
    return buf.getvalue()


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    buf = io.BytesIO()
    Image.fromarray(subject_photo(64, 48, seed=5)[0]).save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


INPUTS = {
    "empty": (b"", errors.InputError),
    "corrupt": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, errors.InputError),
    "text": (b"hello, not an image", errors.InputError),
    "1x1": (encode(np.array([[[10, 200, 30]]], np.uint8)), (1, 1)),
    "30000x200": (encode(np.tile(SMALL[:1, :1], (200, 30000, 1)), "JPEG", quality=90), (200, 30000)),
    "cmyk jpeg": (_cmyk_jpeg(), (48, 64)),
    "16-bit png": (_png16(), (48, 64)),
    "animated webp": (_animated_webp(), (48, 64)),
    "exif-rotated jpeg": (_exif_rotated(), (64, 48)),
}


@pytest.mark.parametrize("name", list(INPUTS))
def test_awkward_input_files(tmp_path, emulator, key, name):
    data, expect = INPUTS[name]
    path = Path(tmp_path) / f"input-{name.replace(' ', '_')}"
    path.write_bytes(data)
    if isinstance(expect, tuple):
        result = bgcut.remove_background(
            path, engine="backgroundcut", api_key=key, endpoint=emulator.endpoint
        )
        assert result.mask.shape == expect and result.rgba.shape[:2] == expect
        assert emulator.seen[-1].status == 200
    else:
        with pytest.raises(expect) as info:
            bgcut.remove_background(path, engine="backgroundcut", api_key=key, endpoint=emulator.endpoint)
        assert "image" in str(info.value) or "empty" in str(info.value)
        assert emulator.seen == []


def test_cmyk_and_sixteen_bit_give_correct_masks(emulator, key):
    img, truth = subject_photo(120, 90, seed=6)
    cmyk = Image.fromarray(img).convert("CMYK")
    result = bgcut.remove_background(cmyk, engine="backgroundcut", api_key=key, endpoint=emulator.endpoint)
    assert iou(result.mask > 127, truth) > 0.9
