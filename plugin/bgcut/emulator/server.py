"""The emulator's HTTP server (werkzeug), its accounts, request log and fault injection."""

from __future__ import annotations

import base64
import binascii
import io
import logging
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
from PIL import Image
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from ..answer import sniff
from ..options import MAX_PIXELS, QUALITIES, CutOptions
from .ratelimit import DynamicLimit
from .segment import segment

PATH = "/v2/cut/"
MAX_BODY = 12_000_000
MAX_DECODE_PIXELS = 60_000_000
_RETURN_TYPE = re.compile(r"^(PNG|WEBP|WEBP_([1-9][0-9]?|100))$")
_FAULTS = ("delay", "drop", "reset", "truncate", "stall", "status", "html200", "wrong_size", "rate_limit")


@dataclass
class Fault:
    """Applied to the next matching request: kind plus its parameter (seconds or status)."""

    kind: str
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in _FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}: one of {', '.join(_FAULTS)}")


@dataclass
class Seen:
    """One request as the emulator received it (for tests to assert on)."""

    method: str
    path: str
    authorization: str | None
    fields: dict[str, str]
    file_name: str | None
    file_type: str | None
    file_bytes: bytes | None
    body_size: int
    status: int = 0
    charged: bool = False
    fault: str | None = None


@dataclass
class _Account:
    credits: int
    charged: int = 0


class _Abort(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        self.status, self.message, self.headers = status, message, headers or {}


class Emulator:
    """Run with `with Emulator({'KEY': 10}) as emu:`; `emu.endpoint` is the cut URL."""

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
    ) -> None:
        self._lock = threading.Lock()
        self._accounts = {k: _Account(c) for k, c in (keys or {}).items()}
        self.limits = DynamicLimit(base_limit, minute, origin=time.monotonic())
        self.service_time = service_time
        self.segment = _segmenter(segmentation)
        self.seen: list[Seen] = []
        self._faults: deque[Fault] = deque()
        self._host, self._port, self._ssl = host, port, ssl_context
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
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

    def inject(self, kind: str, value: float = 0.0, count: int = 1) -> None:
        with self._lock:
            self._faults.extend(Fault(kind, value) for _ in range(count))

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start the emulator first"
        scheme = "https" if self._ssl else "http"
        host = "localhost" if self._ssl else self._host
        return f"{scheme}://{host}:{self._server.server_port}{PATH}"

    def start(self) -> Emulator:
        self._server = make_server(
            self._host,
            self._port,
            self._wsgi,
            threaded=True,
            ssl_context=self._ssl,  # type: ignore[arg-type]
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server = make_server(self._host, self._port, self._wsgi, threaded=True, ssl_context=self._ssl)  # type: ignore[arg-type]
        self._server.serve_forever()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the contract --------------------------------------------------------------------
    def _wsgi(self, environ: dict, start_response):  # type: ignore[no-untyped-def]
        request = Request(environ)
        request.max_form_memory_size = 2 * MAX_BODY
        request.max_form_parts = 100
        seen = Seen(
            request.method,
            request.path,
            request.headers.get("Authorization"),
            {},
            None,
            None,
            None,
            request.content_length or 0,
        )
        fault = self._next_fault()
        seen.fault = fault.kind if fault else None
        try:
            if fault is not None and fault.kind in ("drop", "reset"):
                self._kill(environ, request, reset=fault.kind == "reset")
                seen.status = 0
                raise ConnectionResetError("emulated fault: connection dropped")
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.value)
            body, ctype, charged_key = self._handle(request, seen, fault)
            seen.status = 200
        except _Abort as abort:
            seen.status = abort.status
            _drain(request)
            resp = Response(abort.message + "\n", abort.status, headers=abort.headers, mimetype="text/plain")
            return resp(environ, start_response)
        finally:
            with self._lock:
                self.seen.append(seen)
        if fault is not None and fault.kind == "html200":
            self._refund(charged_key)
            page = b"<!DOCTYPE html><html><body><h1>Gateway Timeout</h1></body></html>"
            return Response(page, 200, mimetype="text/html")(environ, start_response)
        self._charge(charged_key, seen)
        if fault is not None and fault.kind in ("truncate", "stall"):
            return self._truncated(environ, start_response, body, ctype, stall=fault.value)
        return Response(body, 200, mimetype=ctype)(environ, start_response)

    def _handle(self, request: Request, seen: Seen, fault: Fault | None) -> tuple[bytes, str, str]:
        if request.path != PATH:
            raise _Abort(450, f"Invalid POST URL: use exactly {PATH}")
        if request.method != "POST":
            raise _Abort(405, "Method not allowed: use POST")
        if (request.content_length or 0) > MAX_BODY:
            raise _Abort(413, "Request entity too large: the upload must not exceed 12 MB")
        key = request.headers.get("Authorization")
        with self._lock:
            account = self._accounts.get(key or "")
        if account is None:
            raise _Abort(401, "API key missing or invalid")
        if fault is not None and fault.kind == "rate_limit":
            raise _Abort(429, "Rate limit exceeded", {"Retry-After": _retry_after(fault.value)})
        admitted, reset, _ = self._admit(key or "")
        if not admitted:
            raise _Abort(429, "Rate limit exceeded", {"Retry-After": _retry_after(reset)})
        if fault is not None and fault.kind == "status":
            raise _Abort(int(fault.value), "Internal error")
        data = self._read_fields(request, seen)
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
            self._refund(key or "")
            raise
        return body, ctype, key or ""

    def _admit(self, key: str) -> tuple[bool, float, int]:
        with self._lock:
            return self.limits.admit(key, time.monotonic())

    def _read_fields(self, request: Request, seen: Seen) -> bytes:
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

    @staticmethod
    def _kill(environ: dict, request: Request, *, reset: bool) -> None:
        _drain(request)
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

    @staticmethod
    def _truncated(environ: dict, start_response, body: bytes, ctype: str, stall: float = 0.0):  # type: ignore[no-untyped-def]
        """Half the body, then (after `stall` seconds of silence) the connection closes."""
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        sock: socket.socket | None = environ.get("werkzeug.socket")

        def chunks():  # type: ignore[no-untyped-def]
            yield body[: len(body) // 2]
            if stall:
                time.sleep(stall)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        return chunks()


def _drain(request: Request) -> None:
    try:
        stream = request.stream
        while stream.read(1 << 16):
            pass
    except Exception:  # noqa: BLE001 - the client may be gone already
        pass


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
    if not _RETURN_TYPE.match(return_type):
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
    from ..api import local_available

    if kind == "auto" and not local_available():
        return segment
    from ..local import LocalEngine
    from ..source import Source

    engine = LocalEngine()

    def local_segment(rgb: np.ndarray) -> np.ndarray:
        return engine.cut(Source(rgb), CutOptions()).mask

    return local_segment


def _render(rgb: np.ndarray, options: dict[str, object], segment, *, wrong_size: bool) -> tuple[bytes, str]:  # type: ignore[no-untyped-def]
    h, w = rgb.shape[:2]
    limit = int(options["max_resolution"])  # type: ignore[arg-type]
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
