"""Work spread over the machine's cores in threads: numpy, zlib and Pillow release the GIL
for their inner loops, so bands of one picture run side by side in one process (no copy
of the picture to another process, and it works the same inside GIMP and Blender)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")
_I = TypeVar("_I")


def workers_for(count: int) -> int:
    return max(1, min(count, os.cpu_count() or 1))


def in_order(work: Callable[[_I], _T], items: Sequence[_I]) -> Iterator[_T]:
    """work(item) for each item in threads, yielded in order, a few items ahead at most
    (what is not yet consumed stays bounded)."""
    workers = workers_for(len(items))
    if workers == 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[_T]] = deque()
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def for_each(work: Callable[[_I], object], items: Sequence[_I]) -> None:
    """work(item) for every item, in threads; the first error is raised once all stop."""
    for _ in in_order(work, items):
        pass


def for_each_band(work: Callable[[slice], object], height: int, row_bytes: int, band_bytes: int) -> None:
    """work(rows) for consecutive bands of whole rows, each about `band_bytes` (at least
    one row), in threads."""
    rows = max(1, band_bytes // max(1, row_bytes))
    for_each(lambda top: work(slice(top, min(height, top + rows))), range(0, height, rows))
