"""What goes over the wire, and what each status code becomes (real loopback HTTP)."""

from __future__ import annotations

import base64
import io
import time

import bgcut
import numpy as np
import pytest
from bgcut import errors
from bgcut.answer import sniff
from bgcut.client import BackgroundCutClient
from bgcut.options import CutOptions
from bgcut.upload import prepare_upload
from imagery import encode, iou, subject_photo
from PIL import Image


def cut(emulator, key, img, options=None, **kw):
    return bgcut.remove_background(img, options, api_key=key, endpoint=emulator.endpoint, cache=False, **kw)


def test_sends_exact_fields_header_and_png_bytes(emulator, key):
    img, truth = subject_photo()
    options = CutOptions(quality="High", return_type="WEBP_100", channels="rgba", max_resolution=5_000_000)
    result = cut(emulator, key, img, options)
    seen = emulator.seen[-1]
    assert seen.method == "POST" and seen.path == "/v2/cut/"
    assert seen.authorization == key
    assert seen.fields == {
        "max_resolution": "5000000",
        "quality": "High",
        "return_type": "WEBP_100",
        "channels": "rgba",
    }
    assert seen.file_type == "image/png"
    sent = np.asarray(Image.open(io.BytesIO(seen.file_bytes)))
    assert np.array_equal(sent, img)  # lossless: the exact pixels went up
    assert result.upload.format == "PNG" and result.upload.bytes == len(seen.file_bytes)
    assert result.rgba.shape == (480, 640, 4) and result.mask.shape == (480, 640)
    assert iou(result.mask > 127, truth) > 0.97
    assert emulator.credits(key) == 99


def test_base64_upload_field(emulator, key):
    img, truth = subject_photo(seed=1)
    result = cut(emulator, key, img, CutOptions(upload_field="image_file_b64"))
    seen = emulator.seen[-1]
    assert seen.file_type == "base64" and "image_file_b64" not in seen.fields
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(seen.file_bytes))), img)
    assert iou(result.mask > 127, truth) > 0.97


@pytest.mark.parametrize("return_type", ["PNG", "WEBP", "WEBP_50", "WEBP_100"])
@pytest.mark.parametrize("channels", ["rgba", "alpha"])
def test_both_layers_for_every_return_type_and_channel_mode(emulator, key, return_type, channels):
    img, truth = subject_photo(seed=2)
    result = cut(emulator, key, img, CutOptions(return_type=return_type, channels=channels))
    assert result.rgba.dtype == np.uint8 and result.rgba.shape == (480, 640, 4)
    assert iou(result.mask > 127, truth) > 0.95
    assert np.array_equal(result.rgba[..., 3], result.mask)
    inside = truth & (result.mask == 255)
    # where the subject is fully kept, the cut-out shows the source's exact colours
    assert np.array_equal(result.rgba[..., :3][inside], img[inside])


def test_rgba_mode_uses_the_services_colours_at_full_size(emulator, key):
    img, _ = subject_photo(seed=3)
    result = cut(emulator, key, img, CutOptions(return_type="PNG"))
    # the emulator returns the source's colours; both paths must agree pixel for pixel
    assert np.array_equal(result.rgba[..., :3], img)
    assert not result.mask_refined


def test_option_errors_name_allowed_values_before_any_request(emulator, key):
    for bad, allowed in [
        (dict(quality="Best"), "High, Medium, Low"),
        (dict(return_type="JPEG"), "WEBP_1 .. WEBP_100"),
        (dict(return_type="WEBP_0"), "WEBP_1 .. WEBP_100"),
        (dict(return_type="WEBP_101"), "WEBP_1 .. WEBP_100"),
        (dict(channels="rgb"), "rgba, alpha"),
        (dict(max_resolution=12_000_001), "1 to 12000000"),
        (dict(max_resolution=0), "1 to 12000000"),
    ]:
        with pytest.raises(errors.OptionError) as info:
            CutOptions(**bad)
        assert allowed in str(info.value)
        assert isinstance(info.value, ValueError)
    assert emulator.seen == []


def _client(emulator, key, **kw):
    return BackgroundCutClient(key, emulator.endpoint, **kw)


def _upload(options=None):
    img, _ = subject_photo(64, 48)
    return prepare_upload(img, options or CutOptions())


@pytest.mark.parametrize(
    "status, kind, words",
    [
        (500, errors.ServiceError, "No credit was charged"),
        (502, errors.ServiceError, "try again"),
        (503, errors.ServiceError, "try again"),
    ],
)
def test_5xx_is_retried_then_succeeds(emulator, key, status, kind, words):
    emulator.inject("status", status, count=2)
    data = _client(emulator, key, sleep=lambda s: None).fetch_answer(_upload(), CutOptions())
    assert sniff(data) == "WEBP"
    assert [s.status for s in emulator.seen] == [status, status, 200]
    assert emulator.charged(key) == 1
    emulator.inject("status", status, count=1)
    with pytest.raises(kind) as info:
        _client(emulator, key).fetch_answer_once(_upload(), CutOptions())
    assert words in str(info.value)


def test_401_missing_or_wrong_key_is_final_and_says_how_to_fix(emulator):
    with pytest.raises(errors.AuthError) as info:
        _client(emulator, "wrong-key-000000000000").fetch_answer(_upload(), CutOptions())
    assert "bgcut config --set-key" in str(info.value) and "401" in str(info.value)
    assert "wrong-key" not in str(info.value)
    assert len(emulator.seen) == 1


def test_402_no_credits_is_final_and_charges_nothing(key):
    from bgcut.emulator import Emulator

    with Emulator({key: 0}) as emu:
        with pytest.raises(errors.CreditsError) as info:
            BackgroundCutClient(key, emu.endpoint).fetch_answer(_upload(), CutOptions())
        assert "Buy more credits" in str(info.value)
        assert len(emu.seen) == 1 and emu.seen[0].status == 402 and emu.charged(key) == 0


def test_400_for_an_unprocessable_image(emulator, key):
    from bgcut.upload import Upload, UploadInfo

    junk = Upload(b"GIF89a not really", UploadInfo("PNG", 17, 1, 1, 1.0), "image/png", "image.png")
    with pytest.raises(errors.BadRequestError) as info:
        _client(emulator, key).fetch_answer(junk, CutOptions())
    assert "400" in str(info.value) and "only PNG, JPG and WEBP" in str(info.value)
    assert emulator.charged(key) == 0


def test_450_wrong_url_and_405_wrong_method(emulator, key):
    wrong = emulator.endpoint.rstrip("/")  # the missing trailing slash
    with pytest.raises(errors.EndpointError) as info:
        BackgroundCutClient(key, wrong).fetch_answer(_upload(), CutOptions())
    assert info.value.status == 450 and "trailing slash" in str(info.value)
    import requests

    assert requests.get(emulator.endpoint, timeout=5).status_code == 405
    assert emulator.charged(key) == 0


def test_413_from_the_service_for_an_oversized_body(emulator, key):
    from bgcut.upload import Upload, UploadInfo

    big = Upload(
        b"\x89PNG\r\n\x1a\n" + b"\0" * 12_100_000, UploadInfo("PNG", 0, 1, 1, 1.0), "image/png", "x.png"
    )
    with pytest.raises(errors.TooLargeError) as info:
        _client(emulator, key).fetch_answer(big, CutOptions())
    assert "12 MB" in str(info.value)


def test_429_honours_retry_after_then_succeeds(emulator, key):
    emulator.inject("rate_limit", 0.3)
    start = time.monotonic()
    data = _client(emulator, key).fetch_answer(_upload(), CutOptions())
    assert time.monotonic() - start >= 0.3
    assert sniff(data) == "WEBP"
    assert [s.status for s in emulator.seen] == [429, 200]


def test_429_gives_up_within_the_retry_budget(emulator, key):
    emulator.inject("rate_limit", 5.0)
    start = time.monotonic()
    with pytest.raises(errors.RateLimitError) as info:
        _client(emulator, key, retry_budget=1.0).fetch_answer(_upload(), CutOptions())
    assert time.monotonic() - start < 1.0
    assert info.value.retry_after == 5.0


def test_dynamic_rate_limit_is_enforced(key):
    from bgcut.emulator import Emulator

    with Emulator({key: 100}, minute=30.0, base_limit=3) as emu:
        client = BackgroundCutClient(key, emu.endpoint)
        for _ in range(3):
            client.fetch_answer_once(_upload(), CutOptions())
        with pytest.raises(errors.RateLimitError) as info:
            client.fetch_answer_once(_upload(), CutOptions())
        assert 0 < info.value.retry_after <= 30
        assert emu.charged(key) == 3


def test_network_failures_are_typed(key):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = BackgroundCutClient(key, f"http://127.0.0.1:{port}/v2/cut/", retry_budget=0.5)
    with pytest.raises(errors.NetworkError) as info:
        client.fetch_answer(_upload(), CutOptions())
    assert "Cannot connect" in str(info.value)


@pytest.mark.parametrize("fault", ["drop", "reset", "truncate"])
def test_broken_connections_are_retried(emulator, key, fault):
    emulator.inject(fault)
    data = _client(emulator, key, sleep=lambda s: None).fetch_answer(_upload(), CutOptions())
    assert sniff(data) == "WEBP"
    assert emulator.seen[-1].status == 200


def test_html_page_with_200_is_a_clear_error(emulator, key):
    emulator.inject("html200")
    with pytest.raises(errors.BadAnswerError) as info:
        bgcut.remove_background(
            subject_photo(64, 48)[0], api_key=key, endpoint=emulator.endpoint, cache=False
        )
    assert "no PNG/WebP image" in str(info.value)


def test_read_timeout_is_a_network_error(emulator, key):
    emulator.inject("delay", 1.5)
    client = _client(emulator, key, timeout=(2.0, 0.5), retry_budget=0.1)
    with pytest.raises(errors.NetworkError) as info:
        client.fetch_answer(_upload(), CutOptions())
    assert "did not answer" in str(info.value)


def test_plain_http_to_a_remote_host_is_refused_before_sending(key):
    with pytest.raises(errors.InsecureEndpointError):
        BackgroundCutClient(key, "http://api.backgroundcut.co/v2/cut/")


def test_redirects_are_not_followed(key):
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Response

    hits = []

    def app(environ, start_response):
        hits.append(environ.get("HTTP_AUTHORIZATION"))
        return Response("", 307, headers={"Location": "http://127.0.0.2:9/v2/cut/"})(environ, start_response)

    import threading

    server = make_server("127.0.0.1", 0, app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = BackgroundCutClient(key, f"http://127.0.0.1:{server.server_port}/v2/cut/")
        with pytest.raises(errors.EndpointError) as info:
            client.fetch_answer(_upload(), CutOptions())
        assert "redirect" in str(info.value)
        assert hits == [key]
    finally:
        server.shutdown()


def test_base64_answer_field_decodes_like_file(emulator, key):
    img, _ = subject_photo(32, 24)
    payload = base64.b64encode(encode(img))
    assert base64.b64decode(payload) == encode(img)
