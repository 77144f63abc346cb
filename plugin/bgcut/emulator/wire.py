"""The emulator's connection handling on top of werkzeug's dev server.

What werkzeug leaves open and a long-running emulator needs: a per-connection socket
timeout (a stalled client cannot hold a thread forever), the TLS handshake done in the
connection's own thread under that timeout (not in the accept loop, where one silent
client blocked everyone), request bodies read with a byte bound that holds for chunked
uploads too, and a bounded linger after an error answer instead of werkzeug's drain of
up to 10 GB.
"""

from __future__ import annotations

import io
import re
import socket
import ssl
import time
from collections.abc import Callable

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
HANDLER = "bgcut.handler"  # environ key: the connection's handler, to hang up on it
PIECE = 1 << 16
LINGER_BYTES = 1 << 20  # what is still read after an error when the declared body is huge
LINGER_SECONDS = 2.0  # silence allowed while the rest of a body is discarded (twice that in all)


class ClientGone(Exception):
    """The client stopped sending its body: it closed (timed_out False) or went silent."""

    def __init__(self, timed_out: bool) -> None:
        super().__init__("timed out" if timed_out else "closed")
        self.timed_out = timed_out


class BodyTooLarge(Exception):
    """More body bytes arrived than the limit allows (checked on bytes read, not declared)."""


class BadChunking(Exception):
    """The chunked transfer encoding itself was malformed."""


class Upload:
    """The request body as read off the wire: bounded, counted, and knowing if it ended."""

    def __init__(self, environ: dict) -> None:
        self.stream = environ["wsgi.input"]
        self.chunked = "wsgi.input_terminated" in environ
        raw = environ.get("CONTENT_LENGTH") or ""
        self.declared: int | None = int(raw) if raw.isdigit() and not self.chunked else None
        self.bad_length = bool(raw) and not raw.isdigit() and not self.chunked
        self.read_bytes = 0
        self.wait = 0.0  # seconds spent waiting for the client's bytes
        self.done = not self.chunked and not self.declared
        self.abandoned = False  # hung up on: nothing more is read

    def read(self, limit: int) -> bytes:
        """The whole body, at most `limit` bytes; raises BodyTooLarge, ClientGone, BadChunking."""
        if self.declared is not None and self.declared > limit:
            raise BodyTooLarge
        if self.done:  # no body at all: neither a length nor chunks
            return b""
        want = self.declared if self.declared is not None else limit + 1
        parts: list[bytes] = []
        started = time.perf_counter()
        try:
            self._pull(want, parts.append)
        finally:
            self.wait += time.perf_counter() - started
        if self.read_bytes > limit:
            raise BodyTooLarge
        if self.declared is not None and self.read_bytes < self.declared:
            raise ClientGone(timed_out=False)
        self.done = True
        return b"".join(parts)

    def discard(self, budget: int, seconds: float) -> bool:
        """Read and drop the rest of the body, at most `budget` bytes within `seconds`;
        True if it ended."""
        if self.done or self.abandoned:
            return self.done
        left = budget if self.declared is None else min(budget, self.declared - self.read_bytes)
        try:
            self._pull(left, lambda _: None, deadline=time.monotonic() + seconds)
        except (ClientGone, BadChunking):
            return False
        if self.declared is not None:
            self.done = self.read_bytes >= self.declared
        return self.done

    def _pull(self, want: int, sink: Callable[[bytes], object], deadline: float | None = None) -> None:
        goal = self.read_bytes + want
        while self.read_bytes < goal:
            if deadline is not None and time.monotonic() > deadline:
                raise ClientGone(timed_out=True)
            try:
                piece = self.stream.read(min(PIECE, goal - self.read_bytes))
            except TimeoutError:
                raise ClientGone(timed_out=True) from None
            except (ConnectionError, ssl.SSLError):
                raise ClientGone(timed_out=False) from None
            except (OSError, ValueError):  # werkzeug's DechunkedInput: a bad chunk header
                if self.chunked:
                    raise BadChunking from None
                raise ClientGone(timed_out=False) from None
            if not piece:
                if self.chunked:
                    self.done = True
                return
            self.read_bytes += len(piece)
            sink(piece)


def linger(environ: dict, upload: Upload, budget: int) -> None:
    """After an error answer: discard what is left of the body within bounds, else hang up.

    Reading the rest lets a client that sends everything before reading (most do) see the
    answer instead of a reset; the bounds keep a 10^20-byte declaration from being read.
    """
    sock: socket.socket | None = environ.get("werkzeug.socket")
    previous = sock.gettimeout() if sock is not None else None
    try:
        if sock is not None:
            sock.settimeout(min(previous or LINGER_SECONDS, LINGER_SECONDS))
        finished = upload.discard(budget, LINGER_SECONDS * 2)
    except OSError:
        finished = False
    finally:
        if sock is not None:
            try:
                sock.settimeout(previous)
            except OSError:
                pass
    if not finished:
        hang_up(environ, upload)


def hang_up(environ: dict, upload: Upload | None = None) -> None:
    """Read nothing more from this connection: werkzeug's own drain and its keep-alive
    loop then find an empty stream, and the close that follows drops whatever is unread."""
    if upload is not None:
        upload.abandoned = True
    handler: WSGIRequestHandler | None = environ.get(HANDLER)
    if handler is None:
        return
    handler.close_connection = True
    try:
        handler.rfile.close()
    except OSError:
        pass
    handler.rfile = io.BytesIO()


class Handler(WSGIRequestHandler):
    """werkzeug's handler with a socket timeout, TLS in this thread, and quiet logging."""

    server: Server
    _tls_failed = False

    def setup(self) -> None:
        self.timeout = self.server.conn_timeout  # type: ignore[misc]  # per connection, as socketserver reads it
        if self.server.tls is not None and not self._start_tls():
            return
        super().setup()

    def _start_tls(self) -> bool:
        """Handshake here, under the timeout, so a silent client holds only its own thread."""
        assert self.server.tls is not None
        try:
            self.request.settimeout(self.timeout)
            self.request = self.server.tls.wrap_socket(self.request, server_side=True)
            return True
        except OSError as exc:  # ssl.SSLError and TimeoutError included
            self._tls_failed = True
            self.server.note(f"{self.client_address[0]} TLS handshake failed: {exc}")
            return False

    def handle(self) -> None:
        if not self._tls_failed:
            super().handle()

    def finish(self) -> None:
        if self._tls_failed:
            return
        try:
            super().finish()
        finally:
            getattr(self, "environ", {}).pop(HANDLER, None)  # no handler <-> environ cycle
            if self.server.tls is not None:
                self.request.close()  # socketserver only closes the raw socket it accepted

    def make_environ(self) -> dict:
        environ = super().make_environ()
        environ[HANDLER] = self
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The application logs its own line per request, with more in it."""

    def log_error(self, format: str, *args: object) -> None:
        """Requests that never reach the application (timeouts, bad request lines)."""
        text = _CONTROL.sub("?", format % args)
        self.server.note(f"{self.client_address[0]} {text}")


class Server(ThreadedWSGIServer):
    """One thread per connection, each with `conn_timeout`; TLS is wrapped per connection."""

    def __init__(
        self,
        host: str,
        port: int,
        app: Callable,
        *,
        conn_timeout: float | None,
        tls: ssl.SSLContext | None,
        note: Callable[[str], None],
    ) -> None:
        handler = type("EmulatorHandler", (Handler,), {})  # werkzeug sets protocol_version on it
        super().__init__(host, port, app, handler)
        self.conn_timeout, self.tls, self.note = conn_timeout, tls, note
        self.ssl_context = tls  # what werkzeug's environ reads to say "https"
