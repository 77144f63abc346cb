"""The emulator's HTTP server (werkzeug), its accounts, request log and fault injection."""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import json
import logging
import math
import re
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
from PIL import Image
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import generate_adhoc_ssl_context, load_ssl_context
from werkzeug.wrappers import Request

from ..answer import sniff
from ..choices import RETURN_TYPE_PATTERN
from ..config import mask_key
from ..options import MAX_PIXELS, QUALITIES, CutOptions
from .ratelimit import DynamicLimit
from .records import KEEP_RECORDS, KEEP_UPLOADS, Fault, Seen, SeenLog
from .segment import segment
from .wire import LINGER_BYTES, BadChunking, BodyTooLarge, ClientGone, Server, Upload, hang_up, linger

PATH = "/v2/cut/"
BALANCE_PATH = "/v2/_emulator/balance"  # not part of the service: a key's credits, for people
MAX_BODY = 12_000_000
MAX_DECODE_PIXELS = 60_000_000
TIMEOUT = 30.0  # seconds a connection may stay silent before the emulator drops it
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")

__all__ = ["BALANCE_PATH", "MAX_BODY", "PATH", "Emulator", "Fault", "Seen"]


@dataclass
class _Account:
    credits: int
    charged: int = 0


class _Abort(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass
class _Answer:
    """What goes back: status 0 means no answer at all (the connection is dropped)."""

    status: int
    body: bytes = b""
    ctype: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False  # the body is gzip-compressed: say so in Content-Encoding
    cut_after: float | None = (
        None  # truncate, rate_limit_cut: half the body, then close after this many seconds
    )


class Emulator:
    """Run with `with Emulator({'KEY': 10}) as emu:`; `emu.endpoint` is the cut URL.

    `timeout` drops a connection silent for that long; `log` gets one line per request
    (silent when None); only the last `keep_uploads` requests keep their bytes in `seen`.
    """

    def __init__(
        self,
        keys: dict[str, int] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        minute: float = 60.0,
        base_limit: int = 40,
        service_time: float = 0.0,
        ssl_context: object | None = None,
        segmentation: str = "simple",
        timeout: float | None = TIMEOUT,
        log: TextIO | None = None,
        keep_uploads: int = KEEP_UPLOADS,
    ) -> None:
        _check_settings(minute, base_limit, timeout, keys or {})
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()  # a slow log stream must not hold up the accounts
        self._accounts = {k: _Account(c) for k, c in (keys or {}).items()}
        self.limits = DynamicLimit(base_limit, minute, origin=time.monotonic())
        self.service_time = service_time
        self.segment = _segmenter(segmentation)
        self.seen: SeenLog = SeenLog(keep_uploads)
        self._arrivals: deque[float] = deque(maxlen=KEEP_RECORDS)
        self.timeout = timeout
        self.log = log
        self._faults: deque[Fault] = deque()
        self._host, self._port, self._ssl = host, port, _tls_context(ssl_context)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._serving = False
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    # -- accounts and faults -------------------------------------------------------------
    def add_key(self, key: str, credits: int) -> None:
        with self._lock:
            self._accounts[key] = _Account(credits)

    def credits(self, key: str) -> int:
        with self._lock:
            return self._accounts[key].credits

    def charged(self, key: str) -> int:
        with self._lock:
            return self._accounts[key].charged

    def arrivals(self, before: float | None = None) -> list[float]:
        """When requests to the cut URL arrived (time.monotonic), including those still being
        answered, which `seen` lists only once done: what a client sent, and when."""
        with self._lock:
            times = list(self._arrivals)
        return times if before is None else [t for t in times if t < before]

    def report(self) -> list[str]:
        """Each key's balance as a person may see it: masked, numbered, never the key."""
        with self._lock:
            accounts = list(self._accounts.items())
        return [
            f"key {i} {mask_key(key)}: {a.credits} credits left, {a.charged} charged"
            for i, (key, a) in enumerate(accounts, 1)
        ]

    def inject(
        self, kind: str, value: float = 0.0, count: int = 1, *, retry_after: str | None = None
    ) -> None:
        """Queue `count` faults for the next requests (gzip waits for the next 200)."""
        faults = [Fault(kind, value, retry_after) for _ in range(count)]
        with self._lock:
            self._faults.extend(faults)

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start the emulator first"
        return self._url(PATH)

    @property
    def balance_url(self) -> str:
        assert self._server is not None, "start the emulator first"
        return self._url(BALANCE_PATH)

    def _url(self, path: str) -> str:
        assert self._server is not None
        scheme = "https" if self._ssl else "http"
        host = "localhost" if self._ssl else self._host
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self._server.server_port}{path}"

    def bind(self) -> Emulator:
        """Listen now (so `endpoint` has the real port, even for port 0), serve later."""
        if self._server is None:
            self._server = Server(
                self._host, self._port, self._wsgi, conn_timeout=self.timeout, tls=self._ssl, note=self._note
            )
        return self

    def start(self) -> Emulator:
        self.bind()
        assert self._server is not None
        self._serving = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stopped or interrupted (Ctrl+C)."""
        self.bind()
        assert self._server is not None
        self._serving = True
        try:
            self._server.serve_forever()
        finally:
            self._serving = False

    def stop(self) -> None:
        if self._server is not None:
            if self._serving:
                self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._serving = False

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request ---------------------------------------------------------------------
    def _wsgi(self, environ: dict, start_response):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        upload = Upload(environ)
        if environ.get("PATH_INFO") == BALANCE_PATH:
            return self._balance(environ, start_response, upload, started)
        with self._lock:
            self._arrivals.append(time.monotonic())
        request = Request(environ)
        seen = Seen(
            request.method,
            request.path,
            request.headers.get("Authorization"),
            {},
            None,
            None,
            None,
            0,
            declared_size=upload.declared,
        )
        fault = self._next_fault()
        seen.fault = fault.kind if fault else None
        answer = self._outcome(environ, upload, seen, fault)
        seen.status = answer.status
        seen.body_size = upload.read_bytes
        seen.server_time = max(0.0, time.perf_counter() - started - upload.wait)
        if fault is not None and fault.kind == "gzip" and answer.status != 200:
            self._requeue(fault)  # it waits for the next 200
            seen.fault = None
        seen.finished = time.monotonic()
        with self._lock:
            self.seen.append(seen)
        self._log_line(seen.method, seen.path, answer, upload, seen.server_time, seen.authorization)
        if answer.status == 0:
            raise ConnectionResetError("no answer: an injected drop, or the client went away")
        return self._send(environ, start_response, answer, upload, seen.server_time)

    def _outcome(self, environ: dict, upload: Upload, seen: Seen, fault: Fault | None) -> _Answer:
        """Run the contract; turn every refusal, fault and vanished client into an answer."""
        try:
            if fault is not None and fault.kind in ("drop", "reset"):
                self._kill(environ, upload, reset=fault.kind == "reset")
                return _Answer(0)
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.value)
            body, ctype, key = self._handle(environ, upload, seen, fault)
        except _Abort as abort:
            answer = _Answer(abort.status, (abort.message + "\n").encode(), headers=abort.headers)
            if fault is not None and fault.kind == "rate_limit_cut" and abort.status == 429:
                answer.cut_after = 0.0
            return answer
        except ClientGone as gone:
            hang_up(environ, upload)
            if not gone.timed_out:
                return _Answer(0)
            return _Answer(408, b"Request timeout: the upload stopped arriving\n")
        if fault is not None and fault.kind == "html200":
            self._refund(key)
            page = b"<!DOCTYPE html><html><body><h1>Gateway Timeout</h1></body></html>"
            return _Answer(200, page, "text/html; charset=utf-8")
        self._charge(key, seen)
        if fault is not None and fault.kind == "gzip":
            return _Answer(200, gzip.compress(body), ctype, gzip=True)  # as a CDN would
        answer = _Answer(200, body, ctype)
        if fault is not None and fault.kind in ("truncate", "stall"):
            answer.cut_after = fault.value
        return answer

    def _send(self, environ: dict, start_response, answer: _Answer, upload: Upload, took: float):  # type: ignore[no-untyped-def]
        headers = [("Content-Type", answer.ctype), ("Content-Length", str(len(answer.body)))]
        headers += [("X-Emulator-Time", f"{took:.6f}"), *answer.headers.items()]
        if answer.gzip:
            headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
        reason = HTTP_STATUS_CODES.get(answer.status, "Unknown")
        start_response(f"{answer.status} {reason}", headers)
        if answer.cut_after is not None:
            return _truncated(environ, answer.body, answer.cut_after)
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else answer.body
        budget = LINGER_BYTES if (upload.declared or 0) > MAX_BODY else MAX_BODY + LINGER_BYTES
        return _then_close(environ, body, upload, max(0, budget - upload.read_bytes))

    def _balance(self, environ: dict, start_response, upload: Upload, started: float):  # type: ignore[no-untyped-def]
        """GET with the key in Authorization: that key's credits and charges, nothing else."""
        key = environ.get("HTTP_AUTHORIZATION")
        with self._lock:
            account = self._accounts.get(key or "")
            numbers = None if account is None else {"credits": account.credits, "charged": account.charged}
        if environ["REQUEST_METHOD"] != "GET":
            answer = _Answer(405, b"Method not allowed: use GET\n")
        elif numbers is None:
            answer = _Answer(401, b"API key missing or invalid\n")
        else:
            answer = _Answer(200, json.dumps(numbers).encode() + b"\n", "application/json")
        took = time.perf_counter() - started
        self._log_line(environ["REQUEST_METHOD"], BALANCE_PATH, answer, upload, took, key)
        return self._send(environ, start_response, answer, upload, took)

    # -- the contract --------------------------------------------------------------------
    def _handle(
        self, environ: dict, upload: Upload, seen: Seen, fault: Fault | None
    ) -> tuple[bytes, str, str]:
        if seen.path != PATH:
            raise _Abort(450, f"Invalid POST URL: use exactly {PATH}")
        if seen.method != "POST":
            raise _Abort(405, "Method not allowed: use POST")
        if upload.bad_length:
            raise _Abort(400, "Invalid Content-Length header")
        if (upload.declared or 0) > MAX_BODY:
            raise _Abort(413, "Request entity too large: the upload must not exceed 12 MB")
        key = seen.authorization or ""
        with self._lock:
            account = self._accounts.get(key)
        if account is None:
            raise _Abort(401, "API key missing or invalid")
        raw = _read_body(upload)  # before admission: a body that never arrives costs no slot
        if fault is not None and fault.kind in ("rate_limit", "rate_limit_cut"):
            raise _Abort(429, "Rate limit exceeded", {"Retry-After": _fault_retry(fault)})
        admitted, reset, _ = self._admit(key)
        if not admitted:
            raise _Abort(429, "Rate limit exceeded", {"Retry-After": _retry_after(reset)})
        if fault is not None and fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            raise _Abort(int(fault.value), "Internal error", extra)
        data = self._read_fields(environ, raw, seen)
        options = _validate(seen.fields)
        with self._lock:
            if account.credits <= 0:
                raise _Abort(402, "Payment required: no credits left")
            account.credits -= 1  # reserved now so concurrent requests cannot overdraw
        try:
            if self.service_time:
                time.sleep(self.service_time)
            rgb = _decode_image(data)
            body, ctype = _render(
                rgb, options, self.segment, wrong_size=bool(fault and fault.kind == "wrong_size")
            )
        except BaseException:
            self._refund(key)
            raise
        return body, ctype, key

    def _admit(self, key: str) -> tuple[bool, float, int]:
        with self._lock:
            return self.limits.admit(key, time.monotonic())

    def _read_fields(self, environ: dict, raw: bytes, seen: Seen) -> bytes:
        request = _form_request(environ, raw)
        try:
            form, files = request.form, request.files
        except Exception:  # noqa: BLE001 - werkzeug raises several types on bad multipart
            raise _Abort(400, "Malformed multipart body") from None
        seen.fields = {k: v for k, v in form.items() if k != "image_file_b64"}
        upload = files.get("image_file")
        if upload is not None:
            data = upload.read()
            seen.file_name, seen.file_type, seen.file_bytes = upload.filename, upload.mimetype, data
            return data
        b64 = form.get("image_file_b64")
        if b64 is not None:
            try:
                data = base64.b64decode(b64, validate=True)
            except (binascii.Error, ValueError):
                raise _Abort(400, "image_file_b64 is not valid base64") from None
            seen.file_name, seen.file_type, seen.file_bytes = None, "base64", data
            return data
        raise _Abort(400, "No image: send image_file or image_file_b64")

    def _charge(self, key: str, seen: Seen) -> None:
        with self._lock:
            self._accounts[key].charged += 1
            seen.charged = True

    def _refund(self, key: str) -> None:
        with self._lock:
            self._accounts[key].credits += 1

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _requeue(self, fault: Fault) -> None:
        with self._lock:
            self._faults.appendleft(fault)

    # -- logging -------------------------------------------------------------------------
    def _log_line(
        self, method: str, path: str, answer: _Answer, upload: Upload, took: float, key: str | None
    ) -> None:
        """One line per request; the key only ever masked, client text made printable."""
        status = str(answer.status) if answer.status else "---"
        self._note(
            f"{_printable(method, 16)} {_printable(path, 200)} {status} in={upload.read_bytes}B "
            f"out={len(answer.body)}B {took:.3f}s key={mask_key(key)}"
        )

    def _note(self, text: str) -> None:
        if self.log is None:
            return
        line = f"{time.strftime('%H:%M:%S')} {text.rstrip()}\n"
        with self._log_lock:
            try:
                self.log.write(line)
                self.log.flush()
            except (OSError, ValueError):  # a closed stream must not break serving
                pass

    @staticmethod
    def _kill(environ: dict, upload: Upload, *, reset: bool) -> None:
        """The injected drop: take the request in, then close without a word (or RST)."""
        try:
            _read_body(upload)
        except (_Abort, ClientGone):
            pass
        hang_up(environ, upload)
        sock: socket.socket | None = environ.get("werkzeug.socket")
        if sock is None:
            return
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def _then_close(environ: dict, body: bytes, upload: Upload, budget: int) -> Iterator[bytes]:
    """The answer, then the rest of the body within bounds, then no more reading."""
    try:
        yield body
        linger(environ, upload, budget)
    finally:
        hang_up(environ)


def _truncated(environ: dict, body: bytes, stall: float) -> Iterable[bytes]:
    """Half the body, then (after `stall` seconds of silence) the connection closes."""
    sock: socket.socket | None = environ.get("werkzeug.socket")
    try:
        yield body[: len(body) // 2]
        if stall:
            time.sleep(stall)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    finally:
        hang_up(environ)


def _read_body(upload: Upload) -> bytes:
    """The body, with the 12 MB limit enforced on the bytes read (chunked uploads too)."""
    try:
        return upload.read(MAX_BODY)
    except BodyTooLarge:
        raise _Abort(413, "Request entity too large: the upload must not exceed 12 MB") from None
    except BadChunking:
        raise _Abort(400, "Malformed chunked body") from None


def _form_request(environ: dict, raw: bytes) -> Request:
    """A request over the bytes already read, so form parsing never touches the socket."""
    sub = dict(environ)
    sub.pop("wsgi.input_terminated", None)
    sub.pop("HTTP_TRANSFER_ENCODING", None)
    sub["wsgi.input"], sub["CONTENT_LENGTH"] = io.BytesIO(raw), str(len(raw))
    request = Request(sub)
    request.max_form_memory_size = 2 * MAX_BODY
    request.max_form_parts = 100
    return request


def _printable(text: str, limit: int) -> str:
    """Client-chosen text as one safe log token (no newlines to forge lines with)."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text[:limit])


def _check_settings(minute: float, base_limit: int, timeout: float | None, keys: dict[str, int]) -> None:
    """Refuse settings that would only fail later, mid-request (e.g. a zero-length minute)."""
    if not (isinstance(minute, (int, float)) and math.isfinite(minute) and minute > 0):
        raise ValueError(f"minute must be a positive number of seconds, not {minute!r}")
    if not isinstance(base_limit, int) or base_limit < 1:
        raise ValueError(f"base_limit must be a whole number >= 1, not {base_limit!r}")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be positive seconds or None, not {timeout!r}")
    bad = [c for c in keys.values() if not isinstance(c, int) or c < 0]
    if bad:
        raise ValueError("credits must be whole numbers >= 0")


def _tls_context(ctx: object | None) -> ssl.SSLContext | None:
    """An SSLContext, (cert, key) file paths or "adhoc", as werkzeug accepts them."""
    if ctx is None or isinstance(ctx, ssl.SSLContext):
        return ctx
    if isinstance(ctx, tuple):
        return load_ssl_context(*ctx)
    if ctx == "adhoc":
        return generate_adhoc_ssl_context()
    raise TypeError(f"ssl_context must be an SSLContext, (cert, key) or 'adhoc', not {ctx!r}")


def _fault_retry(fault: Fault) -> str:
    return fault.retry_after if fault.retry_after is not None else _retry_after(fault.value)


def _retry_after(seconds: float) -> str:
    """Whole seconds as HTTP says; fractions only when a test compresses the minute."""
    if seconds >= 1.0:
        return str(math.ceil(seconds))
    return f"{max(seconds, 0.001):.3f}"


def _validate(fields: dict[str, str]) -> dict[str, object]:
    quality = fields.get("quality", "Medium")
    if quality not in QUALITIES:
        raise _Abort(400, f"Invalid quality {quality!r}: High, Medium or Low")
    return_type = fields.get("return_type", "PNG")
    if not RETURN_TYPE_PATTERN.match(return_type):  # case-sensitive, as the service
        raise _Abort(400, f"Invalid return_type {return_type!r}")
    channels = fields.get("channels", "rgba")
    if channels not in ("rgba", "alpha"):
        raise _Abort(400, f"Invalid channels {channels!r}: rgba or alpha")
    raw = fields.get("max_resolution", str(MAX_PIXELS))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PIXELS:
        raise _Abort(400, f"Invalid max_resolution {raw!r}: 1 to {MAX_PIXELS}")
    return {"return_type": return_type, "channels": channels, "max_resolution": int(raw)}


def _decode_image(data: bytes) -> np.ndarray:
    kind = sniff(data) or ("JPEG" if data[:3] == b"\xff\xd8\xff" else None)
    if kind is None:
        raise _Abort(400, "Unsupported image: only PNG, JPG and WEBP are accepted")
    try:
        im = Image.open(io.BytesIO(data), formats=[kind])
        if im.width * im.height > MAX_DECODE_PIXELS:
            raise _Abort(400, "The input image could not be processed: too many pixels")
        im.load()
        return np.asarray(im.convert("RGB"))
    except _Abort:
        raise
    except Exception:  # noqa: BLE001 - any decoding failure is a 400
        raise _Abort(400, "The input image could not be processed") from None


def _segmenter(kind: str):  # type: ignore[no-untyped-def]
    """simple | local | auto (local when its model and onnxruntime are installed)."""
    if kind not in ("simple", "local", "auto"):
        raise ValueError(f"segmentation must be simple, local or auto, not {kind!r}")
    if kind == "simple":
        return segment
    from ..model import local_available

    if kind == "auto" and not local_available():
        return segment
    from ..engines.local import LocalEngine
    from ..source import Source

    engine = LocalEngine()

    def local_segment(rgb: np.ndarray) -> np.ndarray:
        return engine.cut(Source(rgb), CutOptions()).mask

    return local_segment


def _render(rgb: np.ndarray, options: dict[str, object], segment, *, wrong_size: bool) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    h, w = rgb.shape[:2]
    limit = int(options["max_resolution"])  # type: ignore[call-overload]
    im = Image.fromarray(rgb)
    if w * h > limit:
        s = math.sqrt(limit / (w * h))
        im = im.resize((max(1, int(w * s)), max(1, int(h * s))), Image.Resampling.LANCZOS)
    if wrong_size:
        im = im.resize((max(1, im.width // 3), max(1, im.height // 2)))
    rgb = np.asarray(im)
    alpha = segment(rgb)
    out = (
        Image.fromarray(alpha, "L")
        if options["channels"] == "alpha"
        else Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    )
    return _encode(out, str(options["return_type"]))


def _encode(im: Image.Image, return_type: str) -> tuple[bytes, str]:
    buf = io.BytesIO()
    if return_type != "PNG" and max(im.size) > 16383:
        raise _Abort(400, "The input image could not be processed: too wide for WEBP output")
    if return_type == "PNG":
        im.save(buf, format="PNG", compress_level=1)
        return buf.getvalue(), "image/png"
    quality = 80 if return_type == "WEBP" else int(return_type.split("_")[1])
    if quality == 100:
        im.save(buf, format="WEBP", lossless=True, method=0)
    else:
        im.save(buf, format="WEBP", quality=quality, method=0)
    return buf.getvalue(), "image/webp"
