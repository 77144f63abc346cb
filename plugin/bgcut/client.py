"""The one documented call, with typed errors and bounded, jittered retries.

Only failures where no image was delivered are retried (429, 5xx, no connection, resets,
timeouts): the service charges a credit only for a 200 answer. 400/401/402/405/413/450
are final. Redirects are never followed, so the key cannot be carried to another host.
"""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import requests
from urllib3.fields import RequestField
from urllib3.filepost import encode_multipart_formdata

from .cancel import POLL, Cancel, is_abandoned
from .cancel import sleep as interruptible_sleep
from .config import check_endpoint, is_loopback, resolve_endpoint, resolve_key
from .errors import (
    AbandonedError,
    ApiError,
    AuthError,
    BadAnswerError,
    BadRequestError,
    CancelledError,
    CreditsError,
    EndpointError,
    NetworkError,
    NotSentError,
    RateLimitError,
    ServiceError,
    TooLargeError,
    TruncatedAnswerError,
)
from .options import CutOptions
from .upload import Upload
from .version import __version__

MAX_ANSWER_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = (10.0, 180.0)
MAX_RATE_LIMITED = 50  # a storm of 429s ends the item's retries even while the pacer grants slots
#: a Retry-After of zero or less (or in the past) is read as this many seconds
MIN_RETRY_AFTER = 1.0
NOT_SENT = "Stopped before this image was sent; no credit was spent."
TRUNCATED_ONCE = "The answer was cut short in transit (truncated)."
TRUNCATED_STOPPED = (
    "The service's answer was cut short in transit (truncated) and was charged; bgcut stopped "
    "before asking again, so running again will cost one more credit."
)
TRUNCATED_TWICE = (
    "The service's answer was cut short in transit twice (truncated); each of those answers "
    "was charged. Check your connection; running again will cost one more credit."
)

Notify = Callable[[str], None]


class Pacer(Protocol):
    def acquire(self, cancel: threading.Event | None = None, notify: Notify | None = None) -> int: ...
    def on_rate_limited(self, retry_after: float | None, ticket: int | None = None) -> None: ...
    def on_success(self, ticket: int | None = None) -> None: ...


class _KeyAuth(requests.auth.AuthBase):
    """Sets the bare key as the Authorization header. Being an explicit auth, it also keeps
    requests from replacing the header with ~/.netrc credentials; its repr hides the key."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.key
        return request

    def __repr__(self) -> str:
        return "_KeyAuth(****)"


class BackgroundCutClient:
    """Holds the key privately; `repr()` and every error text leave it out."""

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        *,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry_budget: float = 120.0,
        max_failures: int = 3,
        verify: bool | str = True,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.endpoint = check_endpoint(resolve_endpoint(endpoint))
        self.__auth = _KeyAuth(resolve_key(api_key))
        self.timeout = timeout
        self.retry_budget = retry_budget
        self.max_failures = max_failures
        self.verify = verify
        self._session = session or requests.Session()
        self._sleep = sleep
        host = urlsplit(self.endpoint).hostname or ""
        self._proxies = _no_proxies() if is_loopback(host) else None

    def __repr__(self) -> str:
        return f"BackgroundCutClient(endpoint={self.endpoint!r}, key=****)"

    def cut(
        self,
        upload: Upload,
        options: CutOptions,
        *,
        pacer: Pacer | None = None,
        cancel: threading.Event | None = None,
        notify: Notify | None = None,
        on_late: Callable[[bytes], None] | None = None,
        on_sent: Callable[[int, int], None] | None = None,
    ) -> bytes:
        """POST with retries until success, a final error, or the retry budget is spent.

        429 is retried for as long as the budget allows (it is normal under load); with a
        pacer the budget counts from the slot it grants, since waiting one's turn in a
        batch is not failing. A Retry-After beyond the budget fails at once. Transport
        failures and 5xx are retried at most `max_failures` times, so a dead network is
        reported within seconds; an answer cut short after its 200 (already paid) is
        bought again at most once. `on_late` receives an answer that lands after the
        caller abandoned the request (it is paid: the engine keeps it in the cache).
        `on_sent(sent, total)` hears the upload's bytes as they go (not when the request may
        be abandoned, where it runs in a thread of its own).
        """
        tell = notify or _quiet
        deadline = time.monotonic() + self.retry_budget
        failures = limited = truncated = 0
        while True:
            try:
                ticket = self._slot(pacer, cancel, tell)
            except CancelledError:
                if truncated:  # the answer cut short was charged: not "nothing spent"
                    raise TruncatedAnswerError(TRUNCATED_STOPPED) from None
                raise
            if pacer is not None:
                deadline = max(deadline, time.monotonic() + self.retry_budget / 4)
            try:
                data = self._send(upload, options, cancel, on_late, on_sent)
            except RateLimitError as exc:
                limited += 1
                if pacer is not None:  # the other senders hold back too, even if this one gives up
                    pacer.on_rate_limited(exc.retry_after, ticket)
                wait = self._rate_limit_wait(exc, limited, deadline, pacer is not None)
                tell(f"waiting {wait:.0f} s: the service's rate limit (429)")
                self._wait(wait, cancel)
                continue
            except TruncatedAnswerError:
                truncated += 1
                if truncated > 1:
                    raise TruncatedAnswerError(TRUNCATED_TWICE) from None
                tell("the answer was cut short in transit; asking once more")
                continue
            except (NetworkError, ServiceError):
                failures += 1
                wait = _backoff(failures - 1)
                if failures > self.max_failures or time.monotonic() + wait > deadline:
                    raise
                tell(f"retrying in {wait:.0f} s after a failed request")
                self._wait(wait, cancel)
                continue
            if pacer is not None:
                pacer.on_success(ticket)
            return data

    def _rate_limit_wait(self, exc: RateLimitError, limited: int, deadline: float, paced: bool) -> float:
        """How long to wait after a 429; a Retry-After beyond the whole budget ends the
        cut at once (and a batch with it), saying how long the service asked for."""
        if exc.retry_after is not None and exc.retry_after > self.retry_budget:
            raise RateLimitError(
                wait_too_long(exc.retry_after, self.retry_budget), exc.retry_after, too_long=True
            ) from None
        if limited > MAX_RATE_LIMITED:
            raise exc
        if exc.retry_after is not None:
            wait = exc.retry_after
        else:
            wait = 0.0 if paced else _backoff(limited - 1)  # the pacer holds every sender back
        if time.monotonic() + wait > deadline:
            if exc.retry_after is None:
                raise exc
            raise RateLimitError(wait_too_long(exc.retry_after, self.retry_budget), exc.retry_after) from None
        return wait

    @staticmethod
    def _slot(pacer: Pacer | None, cancel: threading.Event | None, tell: Notify) -> int | None:
        """Permission to send now: the pacer's ticket; NotSentError once the caller said stop."""
        if cancel is not None and cancel.is_set():
            raise NotSentError(NOT_SENT)
        if pacer is None:
            return None
        ticket = pacer.acquire(cancel, notify=tell)
        if cancel is not None and cancel.is_set():
            raise NotSentError(NOT_SENT)
        return ticket

    def _send(
        self,
        upload: Upload,
        options: CutOptions,
        cancel: threading.Event | None,
        on_late: Callable[[bytes], None] | None,
        on_sent: Callable[[int, int], None] | None = None,
    ) -> bytes:
        """One request; in a thread of its own when the caller may abandon it mid-flight."""
        if not isinstance(cancel, Cancel):
            return self.cut_once(upload, options, on_sent=on_sent)
        call = _Call(lambda: self.cut_once(upload, options))
        while not call.done.wait(POLL):
            if is_abandoned(cancel):
                if call.leave(on_late):
                    break
                raise AbandonedError(
                    "Stopped while waiting for the service's answer, which may still be charged "
                    "(if it lands while this program still runs, it is kept: cutting again is free)."
                )
        return call.result()

    def cut_once(
        self, upload: Upload, options: CutOptions, on_sent: Callable[[int, int], None] | None = None
    ) -> bytes:
        """One request; raises the typed error for anything but a 200 with a whole body."""
        parts: list[tuple[str, tuple]] = [(k, (None, v)) for k, v in options.form_fields().items()]
        if options.upload_field == "image_file_b64":
            parts.append(("image_file_b64", (None, upload.data)))
        else:
            parts.append(("image_file", (upload.filename, upload.data, upload.content_type)))
        headers = {"User-Agent": f"bgcut/{__version__}"}
        body: dict = {"files": parts}
        if on_sent is not None:  # the same multipart body requests builds, read out as it is sent
            data, headers["Content-Type"] = _multipart(parts)
            body = {"data": _Sending(data, on_sent)}
        try:
            resp = self._session.post(
                self.endpoint,
                headers=headers,
                auth=self.__auth,
                proxies=self._proxies,
                **body,
                timeout=self.timeout,
                allow_redirects=False,
                verify=self.verify,
                stream=True,
            )
        except requests.exceptions.RequestException as exc:
            raise _transport_error(exc, self.endpoint, self.timeout[1]) from None
        with resp:
            try:
                body = _read_capped(resp)
            except requests.exceptions.RequestException as exc:
                if resp.status_code == 200:
                    raise TruncatedAnswerError(TRUNCATED_ONCE) from None
                raise _transport_error(exc, self.endpoint, self.timeout[1]) from None
        if resp.status_code == 200:
            if not body:
                raise BadAnswerError("The service answered 200 with an empty body. Try again.")
            return body
        raise _status_error(resp.status_code, body, resp.headers.get("Retry-After"), self.__auth.key)

    def _wait(self, seconds: float, cancel: threading.Event | None) -> None:
        if seconds <= 0:
            return
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            interruptible_sleep(seconds, cancel)


def _multipart(parts: list[tuple[str, tuple]]) -> tuple[bytes, str]:
    """The multipart body and its Content-Type, built as requests builds `files=` (with
    urllib3's public encoder), so it can be sent as a stream that reports progress."""
    fields = []
    for name, (filename, data, *content_type) in parts:
        field = RequestField(name=name, data=data, filename=filename)
        field.make_multipart(content_type=content_type[0] if content_type else None)
        fields.append(field)
    return encode_multipart_formdata(fields)


class _Sending:
    """A request body that tells `on_sent(sent, total)` as the connection reads it."""

    def __init__(self, data: bytes, on_sent: Callable[[int, int], None]) -> None:
        self._data, self._on_sent, self._pos = data, on_sent, 0

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self):  # requests sends a body with __iter__ and a length as a stream
        while chunk := self.read(65536):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        if chunk:
            self._on_sent(self._pos, len(self._data))
        return chunk


class _Call:
    """A request running in a daemon thread, so its caller can stop waiting for it."""

    def __init__(self, fn: Callable[[], bytes]) -> None:
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._value: bytes | None = None
        self._error: BaseException | None = None
        self._on_late: Callable[[bytes], None] | None = None
        threading.Thread(target=self._run, args=(fn,), daemon=True, name="bgcut-request").start()

    def _run(self, fn: Callable[[], bytes]) -> None:
        try:
            value = fn()
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
            self._on_late = on_late
            return False

    def result(self) -> bytes:
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _no_proxies() -> dict[str, str | None]:
    """Every proxy variable bypassed (ALL_PROXY included), since the emulator on loopback
    must never be reached through a proxy that would see the key."""
    names = {"http", "https", "all", *urllib.request.getproxies()}
    return dict.fromkeys(names)


def _quiet(text: str) -> None:
    return None


def _transport_error(exc: Exception, endpoint: str, read_timeout: float) -> NetworkError:
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(
            "The TLS certificate of the endpoint could not be verified, so nothing was "
            "sent. Check the endpoint URL, or your system's certificate store/proxy."
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return NetworkError(
            "Timed out connecting to the BackgroundCut API. Check your internet connection and try again."
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return NetworkError(
            f"The BackgroundCut API did not answer within {read_timeout:.0f} s. "
            "Try again, or use quality=Low for a faster answer."
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return NetworkError(_connection_text(exc, endpoint))
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return NetworkError(
            "The connection broke while the answer was arriving (truncated). Try again; nothing was changed."
        )
    return NetworkError(f"The request failed ({type(exc).__name__}). Check your connection and try again.")


def _read_capped(resp: requests.Response) -> bytes:
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


def _backoff(attempt: int) -> float:
    """Full jitter: uniform in [0.25·cap, cap], cap doubling from 0.5 s to 20 s."""
    cap = min(20.0, 0.5 * (2**attempt))
    return random.uniform(cap * 0.25, cap)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from delay-seconds or an HTTP-date; None when absent or unreadable. Zero,
    negative and past values become MIN_RETRY_AFTER (never a tight loop); "inf" and other
    non-finite numbers become infinity, which no retry budget covers."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - time.time()
    if math.isnan(seconds):
        return None
    if seconds <= 0:
        return MIN_RETRY_AFTER
    return seconds


def wait_too_long(seconds: float, budget: float) -> str:
    return (
        f"The service's rate limit (429) asks to wait {describe_wait(seconds)} before the next "
        f"request, longer than bgcut waits ({describe_wait(budget)}). Run again after that; "
        "cuts already done are kept and cost nothing again."
    )


def describe_wait(seconds: float) -> str:
    if math.isinf(seconds):
        return "indefinitely"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def _detail(body: bytes, key: str) -> str:
    text = body[:300].decode("utf-8", "replace")
    if key:
        text = text.replace(key, "****")
    text = " ".join(text.split())
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return ""
    return text[:200]


def _status_error(status: int, body: bytes, retry_after: str | None, key: str) -> ApiError:
    detail = _detail(body, key)
    said = f" The service said: {detail}" if detail else ""
    if status == 400:
        return BadRequestError(
            "The service refused the request as invalid (400): the image could not be "
            f"processed or a parameter was wrong.{said} Try another image or other options."
        )
    if status == 401:
        return AuthError(
            "The API key is missing or invalid (401). Copy it again from your BackgroundCut "
            "account and store it with `bgcut config --set-key`, or set BACKGROUNDCUT_API_KEY."
        )
    if status == 402:
        return CreditsError(
            "No BackgroundCut credits left (402). Buy more credits in your BackgroundCut "
            "account, then run again; cuts already done are cached and cost nothing."
        )
    if status in (405, 450):
        return EndpointError(
            f"The endpoint is misconfigured ({status}): the API accepts only POST to exactly "
            "https://api.backgroundcut.co/v2/cut/ (with the trailing slash). Fix it with "
            "`bgcut config --endpoint` or unset BACKGROUNDCUT_ENDPOINT.",
            status,
        )
    if 300 <= status < 400:
        return EndpointError(
            f"The endpoint answered with a redirect ({status}); bgcut does not follow "
            "redirects so the key stays with the API. Configure the final https URL.",
            status,
        )
    if status == 413:
        return TooLargeError(
            "The upload was larger than the API's 12 MB limit (413). Lower max_resolution and try again."
        )
    if status == 429:
        return RateLimitError(
            "The API's rate limit was reached (429). Wait a minute and try again, or cut "
            "fewer images at once.",
            parse_retry_after(retry_after),
        )
    if status >= 500:
        return ServiceError(
            f"The BackgroundCut service failed ({status}). No credit was charged; try again "
            "in a few minutes.",
            status,
        )
    return ApiError(f"Unexpected answer {status} from the service.{said}", status)


def _connection_text(exc: Exception, endpoint: str) -> str:
    text = str(exc)
    if "Name or service not known" in text or "NameResolution" in text or "getaddrinfo" in text:
        return (
            "Cannot resolve the API's host name: check your internet connection "
            f"and the endpoint ({endpoint})."
        )
    if "reset" in text.lower() or "aborted" in text.lower() or "RemoteDisconnected" in text:
        return "The connection to the API was reset. Try again; nothing was changed."
    return (
        f"Cannot connect to the BackgroundCut API at {endpoint}. Check your internet "
        "connection (and the emulator, if you use one), then try again."
    )
