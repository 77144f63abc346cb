"""One POST to the API and its raw reply: session, TLS verification, proxies, the multipart
upload (with progress), a capped read, and a thread the caller may stop waiting for.

Redirects are never followed, so the key cannot be carried to another host; the emulator on
loopback is never reached through a proxy. A failed request becomes a NetworkError chosen
by the type of what requests raised, chained to a redacted `Cause` of it.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from urllib3.fields import RequestField
from urllib3.filepost import encode_multipart_formdata

from .config import is_loopback
from .errors import BadAnswerError, Cause, CertificateError, NetworkError, Remedy, TruncatedAnswerError
from .version import __version__

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = (10.0, 180.0)
TRUNCATED_ONCE = "The answer was cut short in transit (truncated)."

OnSent = Callable[[int, int], None]
#: a multipart field: (name, (filename, data)) or (name, (filename, data, content type))
Part = tuple[str, tuple]

_RESOLVE = (socket.gaierror, getattr(urllib3.exceptions, "NameResolutionError", socket.gaierror))
_RESET = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    urllib3.exceptions.ProtocolError,
)


@dataclass
class Reply:
    status: int
    body: bytes
    retry_after: str | None


class KeyAuth(requests.auth.AuthBase):
    """Sets the bare key as the Authorization header. Being an explicit auth, it also keeps
    requests from replacing the header with ~/.netrc credentials; its repr hides the key."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.key
        return request

    def __repr__(self) -> str:
        return "KeyAuth(****)"


class Transport:
    """Sends one request and reads its reply; knows nothing of statuses or retries."""

    def __init__(
        self,
        endpoint: str,
        auth: KeyAuth,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        session: requests.Session | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.verify = verify
        self._auth = auth
        self._session = session or requests.Session()
        host = urlsplit(endpoint).hostname or ""
        self._proxies = no_proxies() if is_loopback(host) else None

    def __repr__(self) -> str:
        return f"Transport({self.endpoint!r}, key=****)"

    def post(self, parts: list[Part], on_sent: OnSent | None = None) -> Reply:
        """The reply to one POST; a NetworkError when none came whole (a TruncatedAnswerError
        when it was a 200, which is charged)."""
        headers = {"User-Agent": f"bgcut/{__version__}"}
        body: dict = {"files": parts}
        if on_sent is not None:  # the same multipart body requests builds, read out as it is sent
            data, headers["Content-Type"] = multipart(parts)
            body = {"data": Sending(data, on_sent)}
        log.debug("POST %s (%s)", self.endpoint, ", ".join(name for name, _ in parts))
        failure: NetworkError | None = None
        try:
            resp = self._session.post(
                self.endpoint,
                headers=headers,
                auth=self._auth,
                proxies=self._proxies,  # type: ignore[arg-type]  # None bypasses, as requests documents
                **body,
                timeout=self.timeout,
                allow_redirects=False,
                verify=self.verify,
                stream=True,
            )
        except requests.exceptions.RequestException as exc:
            failure = self._failure(exc)
        if failure is not None:  # raised outside the except: no implicit link to requests' error
            raise failure
        return self._read(resp)

    def _read(self, resp: requests.Response) -> Reply:
        failure: NetworkError | None = None
        with resp:
            try:
                body = read_capped(resp)
            except requests.exceptions.RequestException as exc:
                if resp.status_code != 200:  # a refusal's body is only detail: keep its status
                    log.debug("answer %d, its body broke off (%s)", resp.status_code, type(exc).__name__)
                    return Reply(resp.status_code, b"", resp.headers.get("Retry-After"))
                failure = self._failure(exc, truncated=True)
        if failure is not None:
            raise failure
        log.debug("answer %d, %d bytes", resp.status_code, len(body))
        return Reply(resp.status_code, body, resp.headers.get("Retry-After"))

    def _failure(self, exc: requests.exceptions.RequestException, truncated: bool = False) -> NetworkError:
        error = (
            TruncatedAnswerError(TRUNCATED_ONCE)
            if truncated
            else transport_error(exc, self.endpoint, self.timeout[1])
        )
        error.__cause__ = Cause.of(exc, self._auth.key)
        log.debug("request failed: %s (%s)", error.kind, type(exc).__name__)
        return error


def transport_error(exc: Exception, endpoint: str, read_timeout: float) -> NetworkError:
    """The NetworkError for what requests raised, chosen by its type (and its causes')."""
    if isinstance(exc, requests.exceptions.SSLError):
        return CertificateError(
            "The TLS certificate of the endpoint could not be verified, so nothing was "
            "sent. Check the endpoint URL, or your system's certificate store/proxy."
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return NetworkError(
            "Timed out connecting to the BackgroundCut API. Check your internet connection and try again."
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return NetworkError(
            f"The BackgroundCut API did not answer within {read_timeout:.0f} s.", remedy=Remedy.LOWER_QUALITY
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return NetworkError(_connection_failure(exc, endpoint))
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return NetworkError(
            "The connection broke while the answer was arriving (truncated). Try again; nothing was changed."
        )
    return NetworkError(f"The request failed ({type(exc).__name__}). Check your connection and try again.")


def _connection_failure(exc: Exception, endpoint: str) -> str:
    causes = list(_causes(exc))
    if any(isinstance(c, _RESOLVE) for c in causes):
        return (
            "Cannot resolve the API's host name: check your internet connection "
            f"and the endpoint ({endpoint})."
        )
    if any(isinstance(c, _RESET) for c in causes):
        return "The connection to the API was reset. Try again; nothing was changed."
    return (
        f"Cannot connect to the BackgroundCut API at {endpoint}. Check your internet "
        "connection (and the emulator, if you use one), then try again."
    )


def _causes(exc: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """`exc` and what it wraps: exceptions in its args, urllib3's `reason`, its cause and
    context (requests wraps urllib3's errors, which wrap the socket's)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < depth * 4:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [a for a in current.args if isinstance(a, BaseException)]
        around = [getattr(current, "reason", None), current.__cause__, current.__context__]
        inner += [e for e in around if isinstance(e, BaseException)]
        todo += inner


def read_capped(resp: requests.Response) -> bytes:
    """The decoded body (a gzip answer is an answer); whole when the bytes on the wire
    match the declared Content-Length, which urllib3 checks as it reads."""
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise BadAnswerError(
            f"The service's answer is {int(declared)} bytes, far more than any image it "
            "returns; it was refused. Check the endpoint."
        )
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_content(1 << 16):
        total += len(chunk)
        if total > MAX_ANSWER_BYTES:
            raise BadAnswerError("The service's answer is too large to be an image; refused.")
        chunks.append(chunk)
    wire = getattr(resp.raw, "tell", None)
    if declared and declared.isdigit() and callable(wire) and wire() < int(declared):
        raise requests.exceptions.ChunkedEncodingError("the answer ended before its Content-Length")
    return b"".join(chunks)


def multipart(parts: list[Part]) -> tuple[bytes, str]:
    """The multipart body and its Content-Type, built as requests builds `files=` (with
    urllib3's public encoder), so it can be sent as a stream that reports progress."""
    fields = []
    for name, (filename, data, *content_type) in parts:
        field = RequestField(name=name, data=data, filename=filename)
        field.make_multipart(content_type=content_type[0] if content_type else None)
        fields.append(field)
    return encode_multipart_formdata(fields)


class Sending:
    """A request body that tells `on_sent(sent, total)` as the connection reads it."""

    def __init__(self, data: bytes, on_sent: OnSent) -> None:
        self._data, self._on_sent, self._pos = data, on_sent, 0

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[bytes]:  # requests sends a body with __iter__ and a length as a stream
        while chunk := self.read(65536):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        if chunk:
            self._on_sent(self._pos, len(self._data))
        return chunk


class Call:
    """A request running in a daemon thread, so its caller can stop waiting for it. Its
    upload progress reaches the caller's `on_sent` until the caller leaves."""

    def __init__(self, fn: Callable[[OnSent | None], bytes], on_sent: OnSent | None = None) -> None:
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._value: bytes | None = None
        self._error: BaseException | None = None
        self._on_late: Callable[[bytes], None] | None = None
        self._left = False
        self._on_sent = on_sent
        sent = self._sent if on_sent is not None else None
        threading.Thread(target=self._run, args=(fn, sent), daemon=True, name="bgcut-request").start()

    def _sent(self, done: int, total: int) -> None:
        if not self._left and self._on_sent is not None:
            self._on_sent(done, total)

    def _run(self, fn: Callable[[OnSent | None], bytes], sent: OnSent | None) -> None:
        try:
            value = fn(sent)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            with self._lock:
                self._error = exc
                self.done.set()
            return
        with self._lock:
            self._value = value
            self.done.set()
            late = self._on_late
        if late is not None:
            late(value)

    def leave(self, on_late: Callable[[bytes], None] | None) -> bool:
        """Stop waiting; False when the call is still running (its answer goes to on_late)."""
        with self._lock:
            if self.done.is_set():
                return True
            self._left = True
            self._on_late = on_late
            return False

    def result(self) -> bytes:
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def no_proxies() -> dict[str, str | None]:
    """Every proxy variable bypassed (ALL_PROXY included), since the emulator on loopback
    must never be reached through a proxy that would see the key."""
    names = {"http", "https", "all", *urllib.request.getproxies()}
    return dict.fromkeys(names)
