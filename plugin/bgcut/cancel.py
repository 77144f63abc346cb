"""Stopping in two steps, as a user means it: first "send nothing more", then "stop waiting".

A `Cancel` is a `threading.Event` (so the hosts' and scripts' plain events still work: set
means no new upload starts, answers already on their way still land and are kept, since
they are paid). `abandon()` is the second step: requests in flight are left at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import CancelledError

#: how often a wait linked to a caller's event looks at it again
POLL = 0.05


class Cancel(threading.Event):
    def __init__(self, parent: threading.Event | None = None) -> None:
        super().__init__()
        self._parent = parent
        self.abandoned = threading.Event()
        self.reason: str | None = None

    def stop(self, reason: str | None = None) -> None:
        """No new request is sent; the first reason given is kept for the report."""
        if self.reason is None:
            self.reason = reason
        self.set()

    def abandon(self) -> None:
        self.stop()
        self.abandoned.set()

    def is_set(self) -> bool:
        if self._parent is not None and self._parent.is_set():
            if not super().is_set():
                self.stop(getattr(self._parent, "reason", None))
            if is_abandoned(self._parent):
                self.abandoned.set()
        return super().is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Waits on this event and on the parent's (polled: an Event cannot be chained)."""
        if self._parent is None:
            return super().wait(timeout)
        return _poll(self.is_set, timeout)

    def is_abandoned(self) -> bool:
        self.is_set()
        return self.abandoned.is_set()


def is_abandoned(cancel: threading.Event | None) -> bool:
    """True when the caller wants requests in flight left behind (a plain Event never does)."""
    if isinstance(cancel, Cancel):
        return cancel.is_abandoned()
    return False


def sleep(seconds: float, cancel: threading.Event | None) -> None:
    """Sleep, or raise CancelledError as soon as the caller says stop."""
    if cancel is None:
        threading.Event().wait(seconds)
    elif cancel.wait(seconds):
        raise CancelledError("Cancelled; nothing was changed.")


def _poll(done: Callable[[], bool], timeout: float | None) -> bool:
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = threading.Event()
    while not done():
        left = POLL if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return False
        pause.wait(min(POLL, left))
    return True
