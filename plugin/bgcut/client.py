"""The one documented call, with typed errors and bounded, jittered retries.

Three concerns, three modules: `transport` sends one request and reads its reply, `retry`
decides whether and when to try again, `statuses` turns a refusal into its typed error.
This module ties them together for one cut: a pacer's slot, the request (abandonable when
the caller may stop waiting), then success, a retry, or the error that ends the cut.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests

from .cancel import POLL, Cancel, is_abandoned
from .cancel import sleep as interruptible_sleep
from .config import check_endpoint, resolve_endpoint, resolve_key
from .errors import (
    AbandonedError,
    BadAnswerError,
    CancelledError,
    CertificateError,
    NetworkError,
    NotSentError,
    RateLimitError,
    ServiceError,
    TruncatedAnswerError,
)
from .options import CutOptions
from .pacing import Notify, Pacer
from .retry import MIN_RETRY_AFTER, RetryPolicy, describe_wait, parse_retry_after, wait_too_long
from .statuses import status_error
from .transport import DEFAULT_TIMEOUT, MAX_ANSWER_BYTES, Call, KeyAuth, OnSent, Part, Transport
from .upload import Upload

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "MIN_RETRY_AFTER",
    "BackgroundCutClient",
    "Notify",
    "Pacer",
    "describe_wait",
    "parse_retry_after",
    "wait_too_long",
]

log = logging.getLogger(__name__)

NOT_SENT = "Stopped before this image was sent; no credit was spent."
ABANDONED = (
    "Stopped while waiting for the service's answer, which may still be charged "
    "(if it lands while this program still runs, it is kept: cutting again is free)."
)


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
        self.__auth = KeyAuth(resolve_key(api_key))
        self._transport = Transport(
            self.endpoint, self.__auth, timeout=timeout, verify=verify, session=session
        )
        self.retry_budget = retry_budget
        self.max_failures = max_failures
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"BackgroundCutClient(endpoint={self.endpoint!r}, key=****)"

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds of each request."""
        return self._transport.timeout

    @timeout.setter
    def timeout(self, value: tuple[float, float]) -> None:
        self._transport.timeout = value

    @property
    def verify(self) -> bool | str:
        """TLS verification: True, or a CA bundle's path."""
        return self._transport.verify

    @verify.setter
    def verify(self, value: bool | str) -> None:
        self._transport.verify = value

    def fetch_answer(
        self,
        upload: Upload,
        options: CutOptions,
        *,
        pacer: Pacer | None = None,
        cancel: threading.Event | None = None,
        notify: Notify | None = None,
        on_late: Callable[[bytes], None] | None = None,
        on_sent: OnSent | None = None,
    ) -> bytes:
        """The service's answer (the PNG/WebP bytes an engine decodes into a Cutout): POST
        with retries until success, a final error, or the retry budget is spent (see
        `retry.RetryPolicy`). `on_late` receives an answer that lands after the caller
        abandoned the request (it is paid: the engine keeps it in the cache).
        `on_sent(sent, total)` hears the upload's bytes as they go."""
        tell = notify or _quiet
        policy = RetryPolicy(self.retry_budget, self.max_failures, paced=pacer is not None)
        while True:
            try:
                ticket = self._slot(pacer, cancel, tell)
            except CancelledError as exc:
                policy.stopped(exc)
                raise
            policy.granted()
            try:
                data = self._send(upload, options, cancel, on_late, on_sent)
            except RateLimitError as exc:
                if pacer is not None:  # the other senders hold back too, even if this one gives up
                    pacer.on_rate_limited(exc.retry_after, ticket)
                wait = policy.after_rate_limit(exc)
                tell(f"waiting {wait:.0f} s: the service's rate limit (429)")
                self._wait(wait, cancel, policy)
                continue
            except CertificateError:
                raise  # the same certificate again would fail the same way
            except TruncatedAnswerError as exc:
                policy.after_truncated(exc)
                tell("the answer was cut short in transit; asking once more")
                continue
            except (NetworkError, ServiceError) as exc:
                wait = policy.after_failure(exc)
                tell(f"retrying in {wait:.0f} s after a failed request")
                self._wait(wait, cancel, policy)
                continue
            if pacer is not None:
                pacer.on_success(ticket)
            return data

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
        on_sent: OnSent | None = None,
    ) -> bytes:
        """One request; in a thread of its own when the caller may abandon it mid-flight."""
        if not isinstance(cancel, Cancel):
            return self.fetch_answer_once(upload, options, on_sent=on_sent)
        call = Call(lambda sent: self.fetch_answer_once(upload, options, on_sent=sent), on_sent)
        while not call.done.wait(POLL):
            if is_abandoned(cancel):
                if call.leave(on_late):
                    break
                log.debug("the caller stopped waiting for the request in flight")
                raise AbandonedError(ABANDONED)
        return call.result()

    def fetch_answer_once(self, upload: Upload, options: CutOptions, on_sent: OnSent | None = None) -> bytes:
        """One request; raises the typed error for anything but a 200 with a whole body."""
        reply = self._transport.post(_parts(upload, options), on_sent)
        if reply.status == 200:
            if not reply.body:
                raise BadAnswerError("The service answered 200 with an empty body. Try again.")
            return reply.body
        error = status_error(reply.status, reply.body, reply.retry_after, self.__auth.key)
        log.debug("refused: %s (%d, Retry-After %s)", error.kind, reply.status, error.retry_after)
        raise error

    def _wait(self, seconds: float, cancel: threading.Event | None, policy: RetryPolicy) -> None:
        """A stop while waiting ends the cut as a stop before the next try does (after a
        charged answer cut short, that is not "nothing spent")."""
        if seconds <= 0:
            return
        try:
            if self._sleep is not None:
                self._sleep(seconds)
            else:
                interruptible_sleep(seconds, cancel)
        except CancelledError as exc:
            policy.stopped(exc)
            raise


def _parts(upload: Upload, options: CutOptions) -> list[Part]:
    """The form: the options' fields, then the image (a file, or base64 text)."""
    parts: list[Part] = [(k, (None, v)) for k, v in options.form_fields().items()]
    if options.upload_field == "image_file_b64":
        parts.append(("image_file_b64", (None, upload.data)))
    else:
        parts.append(("image_file", (upload.filename, upload.data, upload.content_type)))
    return parts


def _quiet(text: str) -> None:
    return None
