"""The one documented call, with typed errors and bounded, jittered retries.

Only failures where no image was delivered are retried (429, 5xx, no connection, resets,
timeouts): the service charges a credit only for a 200 answer. 400/401/402/405/413/450
are final. Redirects are never followed, so the key cannot be carried to another host.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

import requests

from .config import check_endpoint, is_loopback, resolve_endpoint, resolve_key
from .errors import (
    ApiError,
    AuthError,
    BadAnswerError,
    BadRequestError,
    CancelledError,
    CreditsError,
    EndpointError,
    NetworkError,
    RateLimitError,
    ServiceError,
    TooLargeError,
)
from .options import CutOptions
from .upload import Upload
from .version import __version__

MAX_ANSWER_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = (10.0, 180.0)
MAX_RATE_LIMITED = 50  # a storm of 429s ends the item's retries even while the pacer grants slots


class Pacer(Protocol):
    def acquire(self, cancel: threading.Event | None = None) -> int: ...
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
        # the emulator on loopback never goes through a proxy from the environment
        self._proxies = {"http": None, "https": None} if is_loopback(host) else None

    def __repr__(self) -> str:
        return f"BackgroundCutClient(endpoint={self.endpoint!r}, key=****)"

    def cut(
        self,
        upload: Upload,
        options: CutOptions,
        *,
        pacer: Pacer | None = None,
        cancel: threading.Event | None = None,
    ) -> bytes:
        """POST with retries until success, a final error, or the retry budget is spent.

        429 is retried for as long as the budget allows (it is normal under load); with a
        pacer the budget counts from the slot it grants, since waiting one's turn in a
        batch is not failing. Transport failures and 5xx are retried at most
        `max_failures` times, so a dead network is reported within seconds.
        """
        deadline = time.monotonic() + self.retry_budget
        failures = limited = 0
        while True:
            if cancel is not None and cancel.is_set():
                raise CancelledError("Cancelled; nothing was changed.")
            ticket = None
            if pacer is not None:
                ticket = pacer.acquire(cancel)
                deadline = max(deadline, time.monotonic() + self.retry_budget / 4)
            try:
                data = self.cut_once(upload, options)
            except RateLimitError as exc:
                limited += 1
                if limited > MAX_RATE_LIMITED:
                    raise
                if pacer is not None:
                    pacer.on_rate_limited(exc.retry_after, ticket)
                    wait = exc.retry_after or 0.0  # the pacer holds every sender back
                else:
                    wait = exc.retry_after if exc.retry_after is not None else _backoff(limited - 1)
                if time.monotonic() + wait > deadline:
                    raise
                self._wait(wait, cancel)
                continue
            except (NetworkError, ServiceError):
                failures += 1
                wait = _backoff(failures - 1)
                if failures > self.max_failures or time.monotonic() + wait > deadline:
                    raise
                self._wait(wait, cancel)
                continue
            if pacer is not None:
                pacer.on_success(ticket)
            return data

    def cut_once(self, upload: Upload, options: CutOptions) -> bytes:
        """One request; raises the typed error for anything but a 200 with a body."""
        parts: list[tuple[str, tuple]] = [(k, (None, v)) for k, v in options.form_fields().items()]
        if options.upload_field == "image_file_b64":
            parts.append(("image_file_b64", (None, upload.data)))
        else:
            parts.append(("image_file", (upload.filename, upload.data, upload.content_type)))
        headers = {"User-Agent": f"bgcut/{__version__}"}
        try:
            resp = self._session.post(
                self.endpoint,
                headers=headers,
                auth=self.__auth,
                proxies=self._proxies,
                files=parts,
                timeout=self.timeout,
                allow_redirects=False,
                verify=self.verify,
                stream=True,
            )
            with resp:
                body = _read_capped(resp)
        except requests.exceptions.SSLError:
            raise NetworkError(
                "The TLS certificate of the endpoint could not be verified, so nothing was "
                "sent. Check the endpoint URL, or your system's certificate store/proxy."
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise NetworkError(
                "Timed out connecting to the BackgroundCut API. Check your internet connection and try again."
            ) from None
        except requests.exceptions.ReadTimeout:
            raise NetworkError(
                f"The BackgroundCut API did not answer within {self.timeout[1]:.0f} s. "
                "Try again, or use quality=Low for a faster answer."
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise NetworkError(_connection_text(exc, self.endpoint)) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
            raise NetworkError(
                "The connection broke while the answer was arriving (truncated). "
                "Try again; nothing was changed."
            ) from None
        except requests.exceptions.RequestException as exc:
            raise NetworkError(
                f"The request failed ({type(exc).__name__}). Check your connection and try again."
            ) from None
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
        elif cancel is not None:
            if cancel.wait(seconds):
                raise CancelledError("Cancelled; nothing was changed.")
        else:
            time.sleep(seconds)


def _read_capped(resp: requests.Response) -> bytes:
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
    if declared and declared.isdigit() and total != int(declared):
        raise NetworkError("The answer was truncated in transit. Try again; nothing was changed.")
    return b"".join(chunks)


def _backoff(attempt: int) -> float:
    """Full jitter: uniform in [0.25·cap, cap], cap doubling from 0.5 s to 20 s."""
    cap = min(20.0, 0.5 * (2**attempt))
    return random.uniform(cap * 0.25, cap)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
