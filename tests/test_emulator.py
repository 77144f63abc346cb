"""The emulator itself over real loopback sockets: it survives a long session (bounded memory,
timeouts, limits on bytes actually read), and offers the faults and timings client tests use."""

from __future__ import annotations

import gzip
import http.client
import io
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import pytest
import requests
from bgcut.answer import sniff
from bgcut.emulator import Emulator
from imagery import encode, subject_photo

KEY = "test-key-7f3a9c2e51b84d06"
PNG = encode(subject_photo(48, 36, seed=5)[0])
BOUNDARY = "bgcut-test-boundary"
MAX_BODY = 12_000_000


def multipart(image: bytes, pad: int = 0) -> bytes:
    """A cut request's body; `pad` bytes of a text field make it as large as needed."""
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="quality"\r\n\r\nLow\r\n'.encode()]
    if pad:
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="pad"\r\n\r\n'
        parts.append(head.encode() + b"x" * pad + b"\r\n")
    file_head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image_file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    )
    parts += [file_head.encode() + image + b"\r\n", f"--{BOUNDARY}--\r\n".encode()]
    return b"".join(parts)


def request_head(headers: dict[str, str], method: str = "POST", path: str = "/v2/cut/") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def cut_headers(key: str = KEY, length: int | None = None, chunked: bool = False) -> dict[str, str]:
    headers = {"Authorization": key, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    elif length is not None:
        headers["Content-Length"] = str(length)
    return headers


def address(emu: Emulator) -> tuple[str, int]:
    url = urlsplit(emu.endpoint)
    return url.hostname or "", url.port or 0


def read_status(sock: socket.socket, timeout: float = 5.0) -> int:
    """The status code of the answer on `sock` (headers read, body left)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        piece = sock.recv(4096)
        if not piece:
            raise ConnectionError(f"closed before a status line: {data!r}")
        data += piece
    return int(data.split(b" ", 2)[1])


def closed_by_peer(sock: socket.socket, within: float) -> bool:
    """True when the server closes (EOF or reset) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionError, OSError) as exc:
            return not isinstance(exc, TimeoutError)
    return False


def post(emu: Emulator, key: str = KEY, body: bytes | None = None) -> requests.Response:
    headers = {"Authorization": key, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    return requests.post(emu.endpoint, data=body or multipart(PNG), headers=headers, timeout=10)


def wait_until(predicate, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def threads_since(before: set[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before]


@contextmanager
def raw_sockets(emu: Emulator, n: int) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        yield [stack.enter_context(socket.create_connection(address(emu), timeout=5)) for _ in range(n)]


# -- a long session ----------------------------------------------------------------------
def test_only_the_last_uploads_keep_their_bytes():
    """120 uploads used to stay in memory; now only the last 32 keep their bytes."""
    blob = os.urandom(200_000)
    with Emulator({KEY: 100}) as emu:
        for _ in range(40):
            assert post(emu, body=multipart(blob)).status_code == 400  # not an image: no credit
        kept = [s for s in emu.seen if s.file_bytes is not None]
        assert len(emu.seen) == 40 and [s.status for s in emu.seen] == [400] * 40
        assert len(kept) == 32 and kept == emu.seen[-32:] and kept[-1].file_bytes == blob
        assert all(s.fields == {"quality": "Low"} for s in emu.seen)  # metadata stays
        assert emu.credits(KEY) == 100


def test_stalled_connections_are_dropped_and_their_threads_end():
    with Emulator({KEY: 10}, timeout=0.5) as emu:
        before = set(threading.enumerate())
        with raw_sockets(emu, 21) as socks:
            for i, s in enumerate(socks[:14]):
                s.sendall(b"POST /v2/cut/ HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"")
            for s in socks[14:]:
                s.sendall(request_head(cut_headers(length=50_000)) + b"--partial body")
            assert wait_until(lambda: len(threads_since(before)) >= 21, 3)  # one thread per connection
            assert wait_until(lambda: not threads_since(before), 5)
            for s in socks[14:]:
                assert read_status(s) == 408  # a body that stops arriving is timed out
            assert all(closed_by_peer(s, 2) for s in socks)
        assert post(emu).status_code == 200  # still serving
        assert [s.status for s in emu.seen] == [408] * 7 + [200] and emu.charged(KEY) == 1


def test_a_silent_tls_client_does_not_block_the_others(tmp_path):
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with Emulator({KEY: 5}, ssl_context=ctx, timeout=1.0) as emu, raw_sockets(emu, 1):
        headers = {"Authorization": KEY, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        answer = requests.post(
            emu.endpoint, data=multipart(PNG), headers=headers, verify=str(ca_file), timeout=5
        )
        assert answer.status_code == 200 and sniff(answer.content) == "PNG"


def test_a_body_that_never_arrives_costs_no_rate_limit_slot():
    with Emulator({KEY: 10}, base_limit=2, minute=60, timeout=1.0) as emu:
        with raw_sockets(emu, 2) as silent:
            for s in silent:
                s.sendall(request_head(cut_headers(length=80_000)) + b"--" + BOUNDARY.encode())
            time.sleep(0.3)  # both are in the server, waiting for their bodies
            assert [post(emu).status_code for _ in range(2)] == [200, 200]
            assert [read_status(s) for s in silent] == [408, 408]
        assert post(emu).status_code == 429  # the two real ones did use the window
        assert sorted(s.status for s in emu.seen) == [200, 200, 408, 408, 429]
        assert emu.credits(KEY) == 8 and emu.charged(KEY) == 2


def test_a_chunked_upload_over_12_mb_is_413_after_reading_at_most_12_mb():
    body = multipart(PNG, pad=12_600_000)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(c), c) for c in (body[i : i + (1 << 16)] for i in range(0, len(body), 1 << 16))
    )
    with Emulator({KEY: 10}) as emu, socket.create_connection(address(emu), timeout=10) as sock:
        sender = threading.Thread(
            target=_send_quietly, args=(sock, request_head(cut_headers(chunked=True)) + chunks + b"0\r\n\r\n")
        )
        sender.start()
        assert read_status(sock, 10) == 413
        sender.join(10)
        seen = emu.seen[-1]
        assert seen.status == 413 and not seen.charged and seen.declared_size is None
        assert MAX_BODY < seen.body_size <= MAX_BODY + 1
        assert emu.credits(KEY) == 10


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # the server may close once it has answered


def test_a_declared_huge_body_is_answered_and_not_read():
    with Emulator({KEY: 10}) as emu, socket.create_connection(address(emu), timeout=5) as sock:
        sock.sendall(request_head(cut_headers(length=10**20)) + b"x" * 1000)
        assert read_status(sock, 3) == 413
        sent, piece, deadline = 0, b"x" * (1 << 20), time.monotonic() + 10
        with pytest.raises(OSError):  # reset or broken pipe: the server stopped reading
            while sent < 400 << 20 and time.monotonic() < deadline:
                sock.sendall(piece)
                sent += len(piece)
            raise AssertionError(f"the server read on: {sent} bytes taken")
        assert sent < 64 << 20  # a bounded linger (about 1 MB) plus the kernel's buffers


def test_an_error_answer_does_not_wait_for_a_body_that_stalls():
    with Emulator({KEY: 10}) as emu, socket.create_connection(address(emu), timeout=5) as sock:
        sock.sendall(request_head(cut_headers(key="wrong-key-0000", length=5_000_000)) + b"--x")
        started = time.monotonic()
        assert read_status(sock, 3) == 401
        assert time.monotonic() - started < 1.0
        assert closed_by_peer(sock, 6)  # discarding the rest gives up after a short silence
        assert emu.seen[-1].status == 401 and emu.seen[-1].body_size == 0


def test_bad_settings_are_refused_at_construction():
    for settings in ({"minute": 0}, {"minute": float("nan")}, {"base_limit": 0}, {"timeout": -1}):
        with pytest.raises(ValueError):
            Emulator({KEY: 1}, **settings)


# -- what client tests and benchmarks use ------------------------------------------------
def test_gzip_fault_compresses_the_next_200_and_charges_once():
    with Emulator({KEY: 10}) as emu:
        emu.inject("gzip")
        host, port = address(emu)
        status, headers, _ = _post_raw(host, port, "wrong-key-0000")
        assert status == 401 and headers["Content-Encoding"] is None  # waits for a 200
        status, headers, raw = _post_raw(host, port, KEY)
        assert status == 200 and headers["Content-Encoding"] == "gzip"
        assert int(headers["Content-Length"]) == len(raw) and sniff(gzip.decompress(raw)) == "PNG"
        status, headers, raw = _post_raw(host, port, KEY)
        assert headers["Content-Encoding"] is None and sniff(raw) == "PNG"
        assert emu.charged(KEY) == 2 and emu.credits(KEY) == 8
        assert [s.fault for s in emu.seen] == [None, "gzip", None]


def _post_raw(host: str, port: int, key: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    """http.client does not decompress, so the bytes are the wire's."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", "/v2/cut/", body=multipart(PNG), headers=cut_headers(key))
        answer = conn.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        conn.close()


@pytest.mark.parametrize("value", ["3600", "inf", "-5", "Fri, 01 Jan 2099 00:00:00 GMT", "garbage"])
def test_rate_limit_fault_sends_retry_after_verbatim(value):
    with Emulator({KEY: 10}, base_limit=1) as emu:
        emu.inject("rate_limit", retry_after=value)
        answer = post(emu)
        assert answer.status_code == 429 and answer.headers["Retry-After"] == value
        assert post(emu).status_code == 200  # the injected 429 used no slot of the one
        assert emu.charged(KEY) == 1


def test_numeric_retry_after_and_a_5xx_with_one():
    with Emulator({KEY: 10}) as emu:
        emu.inject("rate_limit", 5.0)
        emu.inject("status", 503, retry_after="7")
        first, second = post(emu), post(emu)
        assert (first.status_code, first.headers["Retry-After"]) == (429, "5")
        assert (second.status_code, second.headers["Retry-After"]) == (503, "7")


def test_server_time_is_sent_and_recorded_without_the_upload_wait():
    with Emulator({KEY: 10}) as emu:
        emu.inject("delay", 0.3)
        slow_server = post(emu)
        took = float(slow_server.headers["X-Emulator-Time"])
        assert (
            0.3 <= took < 2.0 and f"{emu.seen[-1].server_time:.6f}" == slow_server.headers["X-Emulator-Time"]
        )
        refused = post(emu, key="wrong-key-0000")
        assert refused.status_code == 401 and float(refused.headers["X-Emulator-Time"]) < 0.1
        body = multipart(PNG)
        with socket.create_connection(address(emu), timeout=5) as sock:
            sock.sendall(request_head(cut_headers(length=len(body))) + body[:100])
            time.sleep(0.5)  # a slow upload is the network's time, not the server's
            sock.sendall(body[100:])
            assert read_status(sock) == 200
        assert emu.seen[-1].status == 200 and emu.seen[-1].server_time < 0.4


def test_one_masked_log_line_per_request():
    log = io.StringIO()
    with Emulator({KEY: 10}, log=log) as emu:
        post(emu)
        post(emu, key="short")
        requests.get(emu.endpoint.replace("/v2/cut/", "/v2/%0Aforged 200"), timeout=5)
    lines = log.getvalue().splitlines()
    assert len(lines) == 3 and KEY not in log.getvalue()
    assert re.search(r"POST /v2/cut/ 200 in=\d+B out=\d+B [\d.]+s key=\*\*\*\*4d06$", lines[0])
    assert "POST /v2/cut/ 401" in lines[1] and lines[1].endswith("key=****")
    assert "GET /v2/\\x0aforged\\x20200 450" in lines[2]


def test_silent_by_default_even_for_timeouts(capfd):
    with Emulator({KEY: 10}, timeout=0.3) as emu, raw_sockets(emu, 1) as (sock,):
        post(emu)
        assert closed_by_peer(sock, 3)
    assert capfd.readouterr() == ("", "")


def test_balance_endpoint_shows_one_keys_numbers_only():
    with Emulator({KEY: 10, "other-key-123456": 3}) as emu:
        emu.inject("status", 500)
        url = emu.balance_url
        assert url.endswith("/v2/_emulator/balance")
        assert requests.get(url, headers={"Authorization": KEY}, timeout=5).json() == {
            "credits": 10,
            "charged": 0,
        }
        assert requests.get(url, headers={"Authorization": "nope"}, timeout=5).status_code == 401
        assert requests.get(url, timeout=5).status_code == 401
        assert requests.post(url, headers={"Authorization": KEY}, timeout=5).status_code == 405
        assert emu.seen == []  # not part of the service: not recorded, and no fault used up
        assert post(emu).status_code == 500 and post(emu).status_code == 200
        answer = requests.get(url, headers={"Authorization": KEY}, timeout=5)
        assert answer.json() == {"credits": 9, "charged": 1} and KEY not in answer.text


# -- the command -------------------------------------------------------------------------
def _command(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bgcut", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_command_prints_the_bound_port_logs_and_balances(stop):
    proc = _command("--port", "0", "--key", f"{KEY}:5", "--segmentation", "simple")
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        endpoint = re.search(r"(http://127\.0\.0\.1:(\d+)/v2/cut/)", first)
        assert endpoint and endpoint.group(2) != "0", first
        headers = {"Authorization": KEY, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        assert requests.post(endpoint.group(1), data=multipart(PNG), headers=headers, timeout=10).ok
        assert (
            requests.post(endpoint.group(1), headers={"Authorization": "nope"}, timeout=10).status_code == 401
        )
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "key 1 ****4d06: 4 credits left, 1 charged" in out
    lines = [line for line in err.splitlines() if " /v2/cut/ " in line]
    assert len(lines) == 2 and " 200 " in lines[0] and " 401 " in lines[1]
    assert KEY not in first + out + err


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--minute", "0"], "--minute must be a positive"),
        (["--minute", "inf"], "--minute must be a positive"),
        (["--base-limit", "0"], "--base-limit must be at least 1"),
        (["--port", "70000"], "--port must be 0 to 65535"),
        (["--timeout", "0"], "--timeout must be a positive"),
        (["--key", "no-credits-given"], "--key wants KEY:CREDITS"),
        (["--key", "same-key:1", "--key", "same-key:2"], "the same key was given twice"),
        (["--key", "with space:5"], "printable ASCII without spaces"),
    ],
)
def test_command_refuses_bad_flags_cleanly(flags, words):
    proc = _command("--port", "0", *flags)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 2 and words in err and "Traceback" not in err
    assert "no-credits-given" not in err  # a malformed spec may be a real key
