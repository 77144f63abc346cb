"""Many cuts at once, paced to the rate limit; every item comes back exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from .cancel import Cancel
from .cutout import Cutout
from .engines.protocol import Engine
from .errors import (
    AbandonedError,
    AuthError,
    BgcutError,
    CancelledError,
    CreditsError,
    NotSentError,
    RateLimitError,
)
from .options import CutOptions
from .pacing import Pacer, RatePacer
from .source import SourceLike, load_source


@dataclass
class BatchItem:
    """One input's outcome: a cut-out, or the error that explains why not."""

    index: int
    input: SourceLike
    cutout: Cutout | None = None
    error: BgcutError | None = None

    @property
    def ok(self) -> bool:
        return self.cutout is not None

    @property
    def sent(self) -> bool:
        """False when nothing was spent on this item (the batch stopped before it)."""
        return not isinstance(self.error, NotSentError)

    @property
    def status(self) -> str:
        return "done" if self.ok else "failed" if self.sent else "not sent"

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"{self.status}: {type(self.error).__name__}"
        return f"BatchItem({self.index}, {state})"


BatchProgress = Callable[[int, int, BatchItem], None]
BatchStatus = Callable[[BatchItem, str], None]


def run_batch(
    engine: Engine,
    inputs: Sequence[SourceLike] | Iterable[SourceLike],
    options: CutOptions,
    *,
    jobs: int = 4,
    pacer: Pacer | None = None,
    progress: BatchProgress | None = None,
    cancel: threading.Event | None = None,
    on_item: Callable[[BatchItem], None] | None = None,
    status: BatchStatus | None = None,
) -> list[BatchItem]:
    """Every item comes back once: done, failed (why) or not sent. Nothing new is sent after
    `cancel` is set, after a 401/402 (the rest would be refused the same way), or after the
    service asked for a wait longer than the retry budget."""
    items = [BatchItem(i, obj) for i, obj in enumerate(inputs)]
    pacer = pacer or RatePacer()  # one pacer for the whole batch: they share the key's limit
    stop = Cancel(parent=cancel)

    def work(item: BatchItem) -> BatchItem:
        try:
            if stop.is_set():
                raise NotSentError(_not_sent(stop))
            source = load_source(item.input)
            tell = None if status is None else (lambda text: status(item, text))
            item.cutout = engine.cut(source, options, pacer=pacer, cancel=stop, notify=tell)
            if on_item is not None:
                on_item(item)
        except AbandonedError as exc:
            item.error = exc
        except CancelledError:
            item.error = NotSentError(_not_sent(stop))
        except BgcutError as exc:
            item.error = exc
            if _ends_batch(exc):
                stop.stop(_halt_reason(exc))
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
            item.error = BgcutError(f"Unexpected failure ({type(exc).__name__}).")
        if item.error is not None:
            item.cutout = None  # a cut-out that could not be written is not done
        return item

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="bgcut") as pool:
        futures = [pool.submit(work, item) for item in items]
        for done, fut in enumerate(as_completed(futures), 1):
            if progress is not None:
                progress(done, len(items), fut.result())
    return items


def _ends_batch(exc: BgcutError) -> bool:
    return isinstance(exc, (AuthError, CreditsError)) or (isinstance(exc, RateLimitError) and exc.too_long)


def _halt_reason(exc: BgcutError) -> str:
    if isinstance(exc, AuthError):
        return "the service refused the API key (401) for an earlier image"
    if isinstance(exc, CreditsError):
        return "the account has no credits left (402)"
    return "the service asked to wait longer than bgcut waits (429)"


def _not_sent(stop: Cancel) -> str:
    return f"Not sent: {stop.reason or 'the batch was stopped'}. No credit was spent on it."
