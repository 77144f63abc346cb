"""Ctrl+C and SIGTERM as a user means them: the first stops sending, the second stops waiting,
a third ends the process there and then.

Answers already on their way are paid for, so after the first signal they are still
received, kept and written; only a second signal leaves them behind. A third one is for
work already under way on this machine (decoding, writing a large file): outputs are
written aside and renamed in, so ending the process then leaves no half-written file.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from .cancel import Cancel

REASONS: dict[int, str] = {
    signal.SIGINT: "you pressed Ctrl+C",
    signal.SIGTERM: "bgcut was asked to stop (SIGTERM)",
}


@dataclass
class Stopped:
    """The first signal received (None when there was none)."""

    signum: int | None = None


@contextmanager
def stop_on_signals(cancel: Cancel, say: Callable[[str], None]) -> Iterator[Stopped]:
    """While inside, SIGINT/SIGTERM drive `cancel`; the previous handlers come back after.
    Outside the main thread (a host's worker) signals are not ours to take: no-op."""
    stopped = Stopped()
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stopped.signum is None:
            stopped.signum = signum
            cancel.stop(REASONS.get(signum, f"signal {signum}"))
            say(
                "bgcut: stopping: nothing more will be sent; answers already on their way are "
                "kept and written. Press Ctrl+C again to stop waiting for them."
            )
        elif not cancel.is_abandoned():
            cancel.abandon()
            say(
                "bgcut: not waiting for the answers in flight (the service may still charge for "
                "them). Press Ctrl+C once more to stop at once."
            )
        else:
            say("bgcut: stopped at once; every file is whole or absent (writes are atomic).")
            os._exit(128 + stopped.signum)

    previous = {sig: signal.signal(sig, handle) for sig in REASONS}
    try:
        yield stopped
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
