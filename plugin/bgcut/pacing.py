"""Pace requests to a key's dynamic rate limit (40/min by default, doubling to 500/min).

A sliding window keeps at most `limit` requests in any `minute`; after a minute that used
most of the limit without a 429 the limit doubles, as the service grants. A 429 blocks all
senders until the service's Retry-After (or a short growing backoff) and, when the minute
was far from full, lowers the limit to what the service actually allowed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from .errors import CancelledError

LIMIT_STEPS = (40, 80, 160, 320, 500)
HIGH_USAGE = 0.75


class RatePacer:
    def __init__(
        self,
        initial_limit: int = 40,
        max_limit: int = 500,
        minute: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = initial_limit
        self.max_limit = max_limit
        self.minute = minute
        self._clock = clock
        self._lock = threading.Lock()
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._limit_since = clock()
        self._streak = 0
        self.rate_limited = 0

    def acquire(self, cancel: threading.Event | None = None) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._expire(now)
                self._maybe_grow(now)
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                elif len(self._sent) < self.limit:
                    self._sent.append(now)
                    return
                else:
                    wait = self._sent[0] + self.minute - now
            _sleep(max(wait, 0.001), cancel)

    def on_success(self) -> None:
        with self._lock:
            self._streak = 0

    def on_rate_limited(self, retry_after: float | None) -> None:
        with self._lock:
            now = self._clock()
            self.rate_limited += 1
            self._expire(now)
            used = len(self._sent)
            if used < self.limit * 0.5:
                self.limit = max(1, used)
                self._limit_since = now
            if retry_after is not None:
                wait = retry_after
                self._limit_since = now + retry_after - self.minute
            else:
                wait = min(self.minute / 2, self.minute / 30 * (2**self._streak))
            self._streak += 1
            self._blocked_until = max(self._blocked_until, now + wait)

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.minute:
            self._sent.popleft()

    def _maybe_grow(self, now: float) -> None:
        if now - self._limit_since < self.minute or self.limit >= self.max_limit:
            return
        if len(self._sent) >= self.limit * HIGH_USAGE:
            self.limit = min(self.limit * 2, self.max_limit)
        self._limit_since = now


def _sleep(seconds: float, cancel: threading.Event | None) -> None:
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise CancelledError("Cancelled; nothing was changed.")
