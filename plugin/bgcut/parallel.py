"""Work spread over the machine's cores in threads: numpy, zlib and Pillow release the GIL
for their inner loops, so bands of one picture run side by side in one process (no copy
of the picture to another process, and it works the same inside GIMP and Blender).

The threads are kept for the process (one pool): started afresh for every call they cost
about 1 ms each while onnxruntime's threads still hold the cores, and a local cut made
eight of them. Work handed out from inside the pool runs in the thread that asks, so a
band's work can itself use for_each without waiting on threads it occupies."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

_T = TypeVar("_T")
_I = TypeVar("_I")
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_in_pool = threading.local()


def workers_for(count: int) -> int:
    return max(1, min(count, os.cpu_count() or 1))


def in_order(work: Callable[[_I], _T], items: Sequence[_I]) -> Iterator[_T]:
    """work(item) for each item in threads, yielded in order, a few items ahead at most
    (what is not yet consumed stays bounded)."""
    workers = workers_for(len(items))
    if workers == 1 or getattr(_in_pool, "yes", False):
        yield from map(work, items)
        return
    pool = _shared_pool()
    pending: deque[Future[_T]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= 2 * workers:
                yield pending[0].result()  # kept in `pending` while waited on (Ctrl+C)
                pending.popleft()
        while pending:
            yield pending[0].result()
            pending.popleft()
    finally:  # an error, Ctrl+C or an early stop: what has begun ends before the caller goes on
        for future in pending:
            future.cancel()
        wait(pending)


def for_each(work: Callable[[_I], object], items: Sequence[_I]) -> None:
    """work(item) for every item, in threads; the first error is raised once all stop."""
    for _ in in_order(work, items):
        pass


def for_each_band(work: Callable[[slice], object], height: int, row_bytes: int, band_bytes: int) -> None:
    """work(rows) for consecutive bands of whole rows, each about `band_bytes` (at least
    one row), in threads."""
    rows = max(1, band_bytes // max(1, row_bytes))
    for_each(lambda top: work(slice(top, min(height, top + rows))), range(0, height, rows))


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 1, thread_name_prefix="bgcut-band", initializer=_mark
            )
        return _pool


def _mark() -> None:
    _in_pool.yes = True


def _forget_pool() -> None:
    """A forked child has none of its parent's threads (and the lock may have been held
    by one of them at the fork): it starts a pool and a lock of its own."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
