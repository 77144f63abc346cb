"""Upload preparation (never 413, never over 12 MP) and layers at the source's size."""

from __future__ import annotations

import io

import bgcut
import numpy as np
import pytest
from bgcut.options import CutOptions
from bgcut.refine import guided_upsample, luminance
from bgcut.upload import MAX_UPLOAD_BYTES, prepare_upload, target_size
from imagery import iou, resize_mask_plain, subject_photo
from PIL import Image


def test_16_megapixel_source_comes_back_at_16_megapixels(emulator, key):
    img, truth = subject_photo(4800, 3400, seed=5)  # 16.3 MP
    result = bgcut.remove_background(img, api_key=key, endpoint=emulator.endpoint, cache=False)
    seen = emulator.seen[-1]
    assert seen.status == 200 and seen.body_size <= 12_000_000
    sent = Image.open(io.BytesIO(seen.file_bytes))
    assert sent.width * sent.height <= 12_000_000
    assert result.upload.downscaled and result.upload.scale < 1
    assert result.rgba.shape == (3400, 4800, 4) and result.mask.shape == (3400, 4800)
    assert result.mask_refined
    assert iou(result.mask > 127, truth) > 0.97
    # where alpha is full, the cut-out holds the source's own full-resolution pixels
    full = result.mask == 255
    assert np.array_equal(result.rgba[..., :3][full], img[full])


def test_noise_that_png_cannot_fit_goes_as_jpeg_under_the_limit():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)  # PNG would be ~36 MB
    up = prepare_upload(img, CutOptions())
    assert up.info.format == "JPEG" and up.info.bytes <= MAX_UPLOAD_BYTES - 4096
    assert up.data[:3] == b"\xff\xd8\xff"


def test_base64_budget_keeps_the_request_under_12_mb():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (2400, 2400, 3), dtype=np.uint8)
    up = prepare_upload(img, CutOptions(upload_field="image_file_b64"))
    assert len(up.data) <= MAX_UPLOAD_BYTES - 4096


def test_max_resolution_bounds_the_upload():
    img, _ = subject_photo(2000, 1500)
    up = prepare_upload(img, CutOptions(max_resolution=500_000))
    assert up.info.width * up.info.height <= 500_000
    assert abs(up.info.width / up.info.height - 2000 / 1500) < 0.01


@pytest.mark.parametrize("w,h,limit", [(5000, 4000, 12_000_000), (30000, 200, 1_000_000), (7, 3, 20)])
def test_target_size_never_exceeds_the_limit(w, h, limit):
    tw, th = target_size(w, h, limit)
    assert tw * th <= limit and tw >= 1 and th >= 1


def test_guided_upsampling_beats_plain_resizing_on_edges():
    img, truth = subject_photo(1600, 1200, seed=7)
    small = np.asarray(
        Image.fromarray((truth * 255).astype(np.uint8)).resize((200, 150), Image.Resampling.BOX)
    )
    coarse = small.astype(np.float32) / 255
    guided = guided_upsample(coarse, luminance(img))
    plain = resize_mask_plain(coarse, 1600, 1200)
    err_guided = np.abs(guided - truth).mean()
    err_plain = np.abs(plain - truth).mean()
    assert err_guided < err_plain * 0.8, (err_guided, err_plain)


def test_sixteen_bit_and_float_sources_keep_their_precision(emulator, key):
    img, truth = subject_photo(320, 240, seed=8)
    img16 = img.astype(np.uint16) * 257 + 100
    r16 = bgcut.remove_background(img16, api_key=key, endpoint=emulator.endpoint, cache=False)
    assert r16.rgba.dtype == np.uint16
    full = r16.mask == 255  # the soft edge gets its colour estimated (tests/test_decontaminate.py)
    assert np.array_equal(r16.rgba[..., :3][full], img16[full])
    assert iou(r16.mask > 127, truth) > 0.95
    assert r16.rgba[..., 3].max() == 65535
    imgf = img.astype(np.float32) / 255
    rf = bgcut.remove_background(imgf, api_key=key, endpoint=emulator.endpoint, cache=False)
    full = rf.mask == 255
    assert rf.rgba.dtype == np.float32 and np.array_equal(rf.rgba[..., :3][full], imgf[full])


def test_source_alpha_is_respected(emulator, key):
    img, truth = subject_photo(320, 240, seed=9)
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    rgba[:, :160, 3] = 0  # left half already transparent
    result = bgcut.remove_background(rgba, api_key=key, endpoint=emulator.endpoint, cache=False)
    assert result.rgba[:, :160, 3].max() == 0
    assert iou(result.rgba[:, 160:, 3] > 127, truth[:, 160:]) > 0.95


@pytest.mark.parametrize(
    "maker",
    [
        lambda im: Image.fromarray(im),
        lambda im: Image.fromarray(im).convert("L"),
        lambda im: Image.fromarray(im).convert("CMYK"),
        lambda im: Image.fromarray(im).convert("P"),
    ],
)
def test_pillow_inputs_of_any_mode(emulator, key, maker):
    img, truth = subject_photo(320, 240, seed=10)
    result = bgcut.remove_background(maker(img), api_key=key, endpoint=emulator.endpoint, cache=False)
    assert result.mask.shape == (240, 320)
    assert iou(result.mask > 127, truth) > 0.9


def test_exif_rotation_is_honoured(tmp_path, emulator, key):
    img, _ = subject_photo(320, 240, seed=11)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    path = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(path, exif=exif, quality=95)
    result = bgcut.remove_background(path, api_key=key, endpoint=emulator.endpoint, cache=False)
    assert result.mask.shape == (320, 240)
