"""Many cuts at once, paced to the rate limit; every item comes back exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from .cutout import Cutout
from .engine import Engine
from .errors import BgcutError, CancelledError
from .options import CutOptions
from .pacing import RatePacer
from .source import SourceLike, load_source


@dataclass
class BatchItem:
    """One input's outcome: a cut-out, or the error that explains why not."""

    index: int
    input: object
    cutout: Cutout | None = None
    error: BgcutError | None = None

    @property
    def ok(self) -> bool:
        return self.cutout is not None

    def __repr__(self) -> str:
        state = "ok" if self.ok else f"failed: {type(self.error).__name__}"
        return f"BatchItem({self.index}, {state})"


BatchProgress = Callable[[int, int, BatchItem], None]


def run_batch(
    engine: Engine,
    inputs: Sequence[SourceLike] | Iterable[SourceLike],
    options: CutOptions,
    *,
    jobs: int = 4,
    pacer: RatePacer | None = None,
    progress: BatchProgress | None = None,
    cancel: threading.Event | None = None,
    on_item: Callable[[BatchItem], None] | None = None,
) -> list[BatchItem]:
    items = [BatchItem(i, obj) for i, obj in enumerate(inputs)]
    pacer = pacer or RatePacer()

    def work(item: BatchItem) -> BatchItem:
        try:
            if cancel is not None and cancel.is_set():
                raise CancelledError("Cancelled before this item was sent; nothing was spent.")
            source = load_source(item.input)  # type: ignore[arg-type]
            item.cutout = engine.cut(source, options, pacer=pacer, cancel=cancel)
            if on_item is not None:
                on_item(item)
        except BgcutError as exc:
            item.cutout = None
            item.error = exc
        except Exception as exc:  # noqa: BLE001 - one bad item must not stop the batch
            item.cutout = None
            item.error = BgcutError(f"Unexpected failure ({type(exc).__name__}: {exc}).")
        return item

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="bgcut") as pool:
        futures = [pool.submit(work, item) for item in items]
        for done, fut in enumerate(as_completed(futures), 1):
            if progress is not None:
                progress(done, len(items), fut.result())
    return items
