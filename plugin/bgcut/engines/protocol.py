"""What every engine offers, on its own so that an engine needs nothing of another's."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ..cutout import Cutout
from ..options import CutOptions
from ..pacing import Notify, Pacer
from ..source import Source

#: Hears how far a cut is (0..1) and what it is doing, in words for the user.
Progress = Callable[[float, str], None]


@runtime_checkable
class Engine(Protocol):
    """One cut of one source; an engine that sends nothing ignores `pacer` and `notify`."""

    name: str
    #: a line for the user about the engine choice, when there is one (an `errors.Notice`,
    #: which each host shows in its own words with `errors.message_for`)
    notice: str | None

    def cut(
        self,
        source: Source,
        options: CutOptions,
        *,
        progress: Progress | None = None,
        pacer: Pacer | None = None,
        cancel: threading.Event | None = None,
        notify: Notify | None = None,
    ) -> Cutout: ...
