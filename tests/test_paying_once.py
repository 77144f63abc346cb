"""Nothing bought twice: compressed answers, answers cut short, Retry-After in every form,
identical inputs, a raised rate limit, and proxies that must never see the key."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import bgcut
import numpy as np
import pytest
from bgcut import errors
from bgcut.client import MIN_RETRY_AFTER, parse_retry_after
from bgcut.emulator import Emulator
from bgcut.pacing import RatePacer
from imagery import subject_photo
from PIL import Image

IMG = subject_photo(64, 48, seed=1200)[0]


def engine_for(emu: Emulator, key: str, **client: object):
    engine = bgcut.make_engine("backgroundcut", api_key=key, endpoint=emu.endpoint)
    for name, value in client.items():
        setattr(engine.client, name, value)
    return engine


def test_a_gzip_answer_is_an_answer_and_bought_once(key):
    with Emulator({key: 10}) as emu:
        emu.inject("gzip")
        cut = bgcut.remove_background(IMG, engine=engine_for(emu, key))
        assert cut.mask.shape == (48, 64)
        assert [s.status for s in emu.seen] == [200] and emu.charged(key) == 1
        again = bgcut.remove_background(IMG, engine=engine_for(emu, key))
        assert again.from_cache and emu.charged(key) == 1


def test_an_answer_cut_short_is_bought_again_at_most_once_and_says_a_rerun_costs(key):
    with Emulator({key: 10}) as emu:
        emu.inject("truncate", count=5)
        with pytest.raises(errors.NetworkError) as info:
            bgcut.remove_background(IMG, engine=engine_for(emu, key))
        assert len(emu.seen) == 2 and emu.charged(key) == 2
        assert "truncated" in str(info.value) and "one more credit" in str(info.value)
    with Emulator({key: 10}) as emu:
        emu.inject("truncate", count=1)
        cut = bgcut.remove_background(IMG, engine=engine_for(emu, key))
        assert cut.mask.shape == (48, 64) and len(emu.seen) == 2 and emu.charged(key) == 2


@pytest.mark.parametrize(
    "value, words",
    [("3600", "60 min"), ("Fri, 01 Jan 2099 00:00:00 GMT", "days"), ("inf", "indefinitely")],
)
def test_a_retry_after_beyond_the_budget_fails_at_once_saying_how_long(key, value, words):
    with Emulator({key: 10}) as emu:
        emu.inject("rate_limit", retry_after=value, count=5)
        start = time.monotonic()
        with pytest.raises(errors.RateLimitError) as info:
            bgcut.remove_background(IMG, engine=engine_for(emu, key))
        assert time.monotonic() - start < 2.0
        assert len(emu.seen) == 1
        assert words in str(info.value) and "asks to wait" in str(info.value)


def test_a_long_retry_after_ends_a_batch_without_sending_the_rest(key):
    images = [subject_photo(64, 48, seed=1210 + i)[0] for i in range(6)]
    with Emulator({key: 10}) as emu:
        emu.inject("rate_limit", retry_after="3600", count=50)
        start = time.monotonic()
        items = bgcut.cut_many(images, engine=engine_for(emu, key), jobs=2)
        assert time.monotonic() - start < 3.0
        assert len(emu.seen) <= 2
        assert [i.status for i in items].count("not sent") >= 4


def test_a_negative_or_zero_retry_after_is_floored_not_a_tight_loop(key):
    assert parse_retry_after("-5") == parse_retry_after("0") == MIN_RETRY_AFTER
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == MIN_RETRY_AFTER
    assert parse_retry_after("garbage") is None and parse_retry_after("nan") is None
    assert parse_retry_after("inf") == float("inf")
    images = [subject_photo(64, 48, seed=1220 + i)[0] for i in range(3)]
    with Emulator({key: 10}) as emu:
        emu.inject("rate_limit", retry_after="-5", count=1000)
        items = bgcut.cut_many(images, engine=engine_for(emu, key, retry_budget=2.5), jobs=3)
        assert all(isinstance(i.error, errors.RateLimitError) for i in items)
        assert len(emu.seen) <= 3 * 4  # a second apart at least, within the 2.5 s budget


def test_the_progress_line_says_when_it_waits_for_the_rate_limit(tmp_path, key):
    src = tmp_path / "p.png"
    Image.fromarray(IMG).save(src)
    with Emulator({key: 10}) as emu:
        emu.inject("rate_limit", retry_after="2", count=1)
        env = dict(os.environ, BACKGROUNDCUT_API_KEY=key, BACKGROUNDCUT_ENDPOINT=emu.endpoint)
        res = subprocess.run(
            [sys.executable, "-m", "bgcut", "cut", str(src)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        assert "p.png: waiting 2 s: the service's rate limit (429)" in res.stderr
        assert [s.status for s in emu.seen] == [429, 200]


def test_identical_inputs_in_one_batch_are_bought_once_and_all_written(tmp_path, key):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    for name in ("a", "b", "c"):
        Image.fromarray(IMG).save(shoot / f"{name}.png")
    with Emulator({key: 10}, service_time=0.5) as emu:
        env = dict(os.environ, BACKGROUNDCUT_API_KEY=key, BACKGROUNDCUT_ENDPOINT=emu.endpoint)
        res = subprocess.run(
            [sys.executable, "-m", "bgcut", "cut", str(shoot), "--jobs", "3", "--no-cache"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 0, res.stderr
        assert len(emu.seen) == 1 and emu.charged(key) == 1
    outputs = [np.asarray(Image.open(shoot / f"{n}-cut.png")) for n in ("a", "b", "c")]
    assert all(np.array_equal(outputs[0], o) for o in outputs[1:])


def test_a_raised_base_rate_limit_is_used_from_the_first_minute(key):
    images = [subject_photo(32, 24, seed=1300 + i)[0] for i in range(60)]
    with Emulator({key: 200}, minute=30.0, base_limit=100) as emu:
        start = time.monotonic()
        items = bgcut.cut_many(
            images, engine=engine_for(emu, key), jobs=4, minute=30.0, initial_limit=100
        )  # (60 different images: the engine's answer cache cannot save a request here)
        took = time.monotonic() - start
        assert all(i.ok for i in items)
        assert [s.status for s in emu.seen].count(429) == 0
        assert took < 25.0  # held to 40, the batch would wait for a second 30 s "minute"


def test_the_base_rate_limit_is_taken_from_the_command_line_and_the_config(tmp_path, key):
    from bgcut.cli import main
    from bgcut.pacing import configured_rate_limit

    assert configured_rate_limit() == 40
    assert main(["config", "--rate-limit", "120"]) == 0
    assert configured_rate_limit() == 120
    with pytest.raises(SystemExit):
        main(["cut", "x.png", "--rate-limit", "0"])


def test_the_pacer_learns_upward_after_busy_minutes_without_429s():
    now = [0.0]
    pacer = RatePacer(initial_limit=50, minute=60.0, clock=lambda: now[0])
    for expected in (50, 100, 200, 400, 500):
        for _ in range(expected):
            pacer.acquire()
            pacer.on_success()
        assert pacer.limit == expected
        now[0] += 60.0
    # a 429 late in a window lowers the limit to what got through; a busy minute raises it
    for _ in range(200):
        pacer.acquire()
        pacer.on_success()
    assert pacer.limit == 500
    pacer.on_rate_limited(1.0)
    assert pacer.limit == 200
    now[0] += 1.0
    pacer.acquire()
    assert pacer.limit == 400


# -- proxies -------------------------------------------------------------------------------


class Recorder:
    """A loopback 'proxy' that records every byte it is sent; with `tunnel_to` it answers
    CONNECT and then relays blindly, as an HTTP proxy does for HTTPS."""

    def __init__(self, tunnel_to: int | None = None) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.tunnel_to = tunnel_to
        self.plain: list[bytes] = []
        self.relayed = bytearray()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(65536)
            if not chunk:
                break
            head += chunk
        self.plain.append(head)
        if self.tunnel_to is None or not head.startswith(b"CONNECT "):
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.tunnel_to))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        threading.Thread(target=self._pipe, args=(upstream, conn, False), daemon=True).start()
        self._pipe(conn, upstream, True)

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if record:
                    self.relayed.extend(chunk)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


@contextmanager
def proxy_env(monkeypatch: pytest.MonkeyPatch, url: str, names: tuple[str, ...]):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in names:
        monkeypatch.setenv(name, url)
    yield


@pytest.mark.parametrize("scheme", ["http", "socks5"])
def test_no_proxy_variable_sees_a_loopback_endpoint(monkeypatch, tmp_path, key, scheme):
    recorder = Recorder()
    url = f"{scheme}://127.0.0.1:{recorder.port}"
    names = ("ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")
    try:
        with proxy_env(monkeypatch, url, names), Emulator({key: 5}) as emu:
            cut = bgcut.remove_background(IMG, engine=engine_for(emu, key))
            assert cut.mask.shape == (48, 64) and emu.seen[-1].authorization == key
            src = tmp_path / "p.png"
            Image.fromarray(IMG).save(src)
            res = subprocess.run(
                [sys.executable, "-m", "bgcut", "cut", str(src), "--emulator"],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert res.returncode == 0, res.stderr
        assert recorder.connections == 0
    finally:
        recorder.close()


def test_through_a_plain_http_proxy_only_connect_is_in_clear_text(monkeypatch, tmp_path, key):
    import trustme

    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.backgroundcut.co").configure_cert(ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with Emulator({key: 5}, ssl_context=ctx) as emu:
        port = int(emu.endpoint.split(":")[2].split("/")[0])
        recorder = Recorder(tunnel_to=port)
        try:
            with proxy_env(monkeypatch, f"http://127.0.0.1:{recorder.port}", ("ALL_PROXY", "HTTPS_PROXY")):
                engine = bgcut.make_engine(
                    "backgroundcut",
                    api_key=key,
                    endpoint="https://api.backgroundcut.co/v2/cut/",
                    verify=str(ca_file),
                    cache=False,
                )
                cut = bgcut.remove_background(IMG, engine=engine)
        finally:
            recorder.close()
        assert cut.mask.shape == (48, 64) and emu.seen[-1].authorization == key
    # (other libraries in this process may use the proxy too: onnxruntime's telemetry did,
    # before the local engine turned it off; only bgcut's request is judged here)
    ours = [h for h in recorder.plain if b"backgroundcut" in h]
    assert ours and all(h.startswith(b"CONNECT api.backgroundcut.co:443 ") for h in ours)
    assert all(key.encode() not in h for h in recorder.plain)
    assert key.encode() not in bytes(recorder.relayed) and len(recorder.relayed) > 1000


def test_twins_share_a_failed_answer_instead_of_buying_it_again(key):
    """Four identical images whose answer is cut short twice: 2 credits, not 2 per twin."""
    with Emulator({key: 10}, service_time=0.3) as emu:
        emu.inject("truncate", count=2)
        items = bgcut.cut_many([IMG] * 4, engine=engine_for(emu, key), jobs=4)
        assert all(isinstance(i.error, errors.TruncatedAnswerError) for i in items)
        assert len(emu.seen) == 2 and emu.charged(key) == 2
