"""When to try a request again and how long to wait first: one cut's retry policy.

Only failures where no image was delivered are retried (429, 5xx, no connection, resets,
timeouts): the service charges a credit only for a 200 answer. A 429 is retried for as
long as the budget allows (it is normal under load); transport failures and 5xx at most
`max_failures` times, so a dead network is reported within seconds; an answer cut short
after its 200 (already paid) is bought again at most once.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time

from .errors import (
    ApiError,
    CancelledError,
    NetworkError,
    RateLimitError,
    TruncatedAnswerError,
)

log = logging.getLogger(__name__)

MAX_RATE_LIMITED = 50  # a storm of 429s ends the item's retries even while the pacer grants slots
#: a Retry-After of zero or less (or in the past) is read as this many seconds
MIN_RETRY_AFTER = 1.0
TRUNCATED_STOPPED = (
    "The service's answer was cut short in transit (truncated) and was charged; bgcut stopped "
    "before asking again, so running again will cost one more credit."
)
TRUNCATED_TWICE = (
    "The service's answer was cut short in transit twice (truncated); each of those answers "
    "was charged. Check your connection; running again will cost one more credit."
)


class RetryPolicy:
    """One cut's retries: a budget in seconds, at most `max_failures` failed requests, and
    one more purchase of an answer cut short. Each `after_*` method returns the seconds to
    wait before trying again, or raises the error that ends the cut."""

    def __init__(self, budget: float, max_failures: int, *, paced: bool = False) -> None:
        self.budget = budget
        self.max_failures = max_failures
        #: a pacer holds every sender back, so a 429 without Retry-After needs no backoff
        self.paced = paced
        self.deadline = time.monotonic() + budget
        self.failures = self.limited = self.truncated = 0

    def granted(self) -> None:
        """The pacer granted a slot: the budget counts (at least a quarter of it) from now,
        since waiting one's turn in a batch is not failing."""
        if self.paced:
            self.deadline = max(self.deadline, time.monotonic() + self.budget / 4)

    def stopped(self, exc: CancelledError) -> None:
        """The caller stopped before the next try: after an answer cut short (charged) that
        is not "nothing spent", so it ends as a TruncatedAnswerError."""
        if self.truncated:
            raise TruncatedAnswerError(TRUNCATED_STOPPED) from exc

    def after_rate_limit(self, exc: RateLimitError) -> float:
        """A Retry-After beyond the whole budget ends the cut at once (and a batch with it),
        saying how long the service asked for."""
        self.limited += 1
        asked = exc.retry_after
        if asked is not None and asked > self.budget:
            raise RateLimitError(wait_too_long(asked, self.budget), asked, too_long=True) from exc
        if self.limited > MAX_RATE_LIMITED:
            raise exc
        if asked is not None:
            wait = asked
        else:
            wait = 0.0 if self.paced else backoff(self.limited - 1)
        if time.monotonic() + wait > self.deadline:
            if asked is None:
                raise exc
            raise RateLimitError(wait_too_long(asked, self.budget), asked) from exc
        log.debug("429 number %d: waiting %.2f s (Retry-After %s)", self.limited, wait, asked)
        return wait

    def after_truncated(self, exc: TruncatedAnswerError) -> float:
        self.truncated += 1
        if self.truncated > 1:
            raise TruncatedAnswerError(TRUNCATED_TWICE) from exc
        log.debug("answer cut short after its 200: asking once more")
        return 0.0

    def after_failure(self, exc: NetworkError | ApiError) -> float:
        """A failed request (no connection, a reset, a timeout, a 5xx)."""
        self.failures += 1
        wait = backoff(self.failures - 1)
        if self.failures > self.max_failures or time.monotonic() + wait > self.deadline:
            log.debug("giving up after %d failed requests (%s)", self.failures, exc.kind)
            raise exc
        log.debug("failed request %d (%s): retrying in %.2f s", self.failures, exc.kind, wait)
        return wait


def backoff(attempt: int) -> float:
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
