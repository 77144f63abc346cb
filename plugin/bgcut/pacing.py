"""Pace requests to a key's dynamic rate limit (40/min by default, doubling to 500/min).

The pacer mirrors the documented rule in fixed windows of `minute`: at most `limit`
requests per window; after a window that used most of its limit, the next one allows
twice as many (up to 500); after an idle window, the base again. A 429 means the service
sees it differently: its Retry-After tells where the service's window ends (the pacer
aligns to it) and the successes counted in that window tell the service's real limit.
Without Retry-After, senders back off in short, growing steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from .cancel import sleep
from .config import read_config

DEFAULT_BASE = 40
HIGH_USAGE = 0.75
#: waits shorter than this are not worth telling the user about
NOTICE_AFTER = 1.0

#: Hears, in words for the user, of a wait or a retry.
Notify = Callable[[str], None]


class Pacer(Protocol):
    """What a sender asks of a pacer (RatePacer is the one bgcut has; a test or a caller
    sharing one limit across processes may bring its own)."""

    def acquire(self, cancel: threading.Event | None = None, notify: Notify | None = None) -> int: ...
    def on_rate_limited(self, retry_after: float | None, ticket: int | None = None) -> None: ...
    def on_success(self, ticket: int | None = None) -> None: ...


class RatePacer:
    def __init__(
        self,
        initial_limit: int = DEFAULT_BASE,
        max_limit: int = 500,
        minute: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = initial_limit
        self.limit = initial_limit
        self.max_limit = max_limit
        self.minute = minute
        self._clock = clock
        self._lock = threading.Lock()
        self._start: float | None = None
        self._window = 0
        self._used = 0
        self._ok = 0
        self._blocked_until = 0.0
        self._streak = 0

    def acquire(self, cancel: threading.Event | None = None, notify: Notify | None = None) -> int:
        """Wait for a slot; returns a ticket naming the window the request is sent in."""
        told = False
        while True:
            with self._lock:
                now = self._clock()
                if self._start is None:
                    self._start = now
                self._roll(now)
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                elif self._used < self.limit:
                    self._used += 1
                    return self._window
                else:
                    wait = self._start + self.minute - now
            if notify is not None and not told and wait >= NOTICE_AFTER:
                notify(f"waiting {wait:.0f} s for the rate limit ({self.limit} per minute)")
                told = True
            sleep(max(wait, 0.0005), cancel)

    def on_success(self, ticket: int | None = None) -> None:
        with self._lock:
            self._streak = 0
            if ticket is None or ticket == self._window:
                self._ok += 1

    def on_rate_limited(self, retry_after: float | None, ticket: int | None = None) -> None:
        with self._lock:
            now = self._clock()
            if retry_after is None:
                wait = min(self.minute / 2, self.minute / 30 * (2**self._streak))
                self._streak += 1
                self._blocked_until = max(self._blocked_until, now + wait)
                return
            if self._ok >= self.limit / 4 and (ticket is None or ticket == self._window):
                # what the service really allowed this window; a 429 early in a window is
                # more likely a passing storm than the limit, so it lowers nothing
                self.limit = max(1, self._ok)
            self._start = now + retry_after - self.minute  # the service's window ends then
            self._used = max(self._used, self.limit)  # this window is spent
            self._ok = max(self._ok, self.limit)

    def _roll(self, now: float) -> None:
        assert self._start is not None
        passed = int((now - self._start) // self.minute)
        if passed <= 0:
            return
        if passed == 1 and self._used >= self.limit * HIGH_USAGE:
            self.limit = min(self.limit * 2, self.max_limit)
        elif passed > 1:
            self.limit = self.base
        self._start += passed * self.minute
        self._window += passed
        self._used = 0
        self._ok = 0


def configured_rate_limit() -> int:
    """The key's base limit as the user stated it (`bgcut config --rate-limit`), else 40."""
    stated = read_config().get("rate_limit", "")
    return int(stated) if stated.isdigit() and int(stated) > 0 else DEFAULT_BASE
