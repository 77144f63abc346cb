"""The service's dynamic per-key limit: 40/min, doubling after a busy minute, up to 500."""

from __future__ import annotations

import math
from dataclasses import dataclass

BUSY_SHARE = 0.75
TOP_LIMIT = 500


@dataclass
class KeyWindow:
    index: int = -1
    limit: int = 0
    used: int = 0


class DynamicLimit:
    """Fixed windows of `minute` seconds from `origin`; one KeyWindow per key."""

    def __init__(self, base: int = 40, minute: float = 60.0, origin: float = 0.0) -> None:
        self.base = base
        self.minute = minute
        self.origin = origin
        self._windows: dict[str, KeyWindow] = {}

    def admit(self, key: str, now: float) -> tuple[bool, float, int]:
        """(admitted, seconds until the window resets, this window's limit)."""
        index = math.floor((now - self.origin) / self.minute)
        w = self._windows.setdefault(key, KeyWindow(limit=self.base))
        if index != w.index:
            busy = w.index == index - 1 and w.used >= w.limit * BUSY_SHARE
            w.limit = min(w.limit * 2, TOP_LIMIT) if busy else self.base
            w.index, w.used = index, 0
        reset = self.origin + (index + 1) * self.minute - now
        if w.used >= w.limit:
            return False, reset, w.limit
        w.used += 1
        return True, reset, w.limit
