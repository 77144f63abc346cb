"""The same upload asked for twice at once is sent once: the second asker waits for the first.

Three identical files in one batch are one credit: the cache covers answers that already
arrived, this covers the ones still on their way.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .cancel import POLL, is_abandoned
from .errors import CancelledError, NotSentError


@dataclass
class Slot:
    """What the first asker got: the answer, or the error it ended with."""

    shared: bytes | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class InFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Slot] = {}

    @contextmanager
    def claim(self, key: str, cancel: threading.Event | None = None) -> Iterator[Slot]:
        """Yields a slot: with `shared` set when a twin request delivered the answer, else
        empty for the caller to fill by sending the request itself."""
        while True:
            with self._lock:
                first = self._pending.get(key)
                if first is None:
                    mine = self._pending[key] = Slot()
                    break
            _wait(first, cancel)
            if first.shared is not None:
                yield Slot(first.shared)
                return
            if first.error is not None and not isinstance(first.error, CancelledError):
                # the same request would end the same way (and a charged failure, an answer
                # cut short, must not be bought again by each twin)
                raise copy.copy(first.error) from first.error
            # the twin was stopped before it got an answer: this caller tries for itself
        try:
            yield mine
        except BaseException as exc:
            mine.error = exc
            raise
        finally:
            with self._lock:
                del self._pending[key]
            mine.done.set()


def _wait(slot: Slot, cancel: threading.Event | None) -> None:
    while not slot.done.wait(POLL):
        if is_abandoned(cancel):
            raise NotSentError("Stopped while waiting for the same image's answer; no credit was spent.")
