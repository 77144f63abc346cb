"""bgcut.parallel's one pool: its threads are kept between calls, work handed out from
inside it runs where it is asked (no thread waits on itself), and an error stops the call
only once all begun work has ended."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from bgcut import parallel


def threads_used(items: int) -> set[int]:
    seen: set[int] = set()
    lock = threading.Lock()

    def work(_: int) -> None:
        time.sleep(0.002)
        with lock:
            seen.add(threading.get_ident())

    parallel.for_each(work, range(items))
    return seen


def test_the_pool_keeps_its_threads_between_calls():
    first = threads_used(16)
    if (os.cpu_count() or 1) == 1:  # one core: the work runs in the caller, no pool
        assert first == {threading.get_ident()}
        return
    assert threading.get_ident() not in first
    for _ in range(5):
        assert threads_used(16) <= first | {threading.get_ident()}
    assert len({t.name for t in threading.enumerate() if t.name.startswith("bgcut-band")}) <= (
        os.cpu_count() or 1
    )


def test_work_inside_the_pool_can_use_the_pool_again():
    out = np.zeros((8, 8), np.int64)

    def row(y: int) -> None:
        def cell(x: int) -> None:
            out[y, x] = y * 8 + x

        parallel.for_each(cell, range(8))  # would deadlock if it waited on pool threads

    done = threading.Event()
    runner = threading.Thread(target=lambda: (parallel.for_each(row, range(8)), done.set()))
    runner.start()
    runner.join(30)
    assert done.is_set()
    assert np.array_equal(out, np.arange(64).reshape(8, 8))


def test_an_error_is_raised_after_the_begun_work_has_ended():
    ended: list[int] = []

    def work(i: int) -> None:
        if i == 0:
            raise ValueError("band 0 failed")
        time.sleep(0.05)
        ended.append(i)

    with pytest.raises(ValueError, match="band 0 failed"):
        parallel.for_each(work, range(6))
    started_late = len(ended)
    time.sleep(0.2)
    assert len(ended) == started_late  # nothing still running once the error arrived


def test_in_order_yields_every_result_in_order():
    assert list(parallel.in_order(lambda i: i * i, range(50))) == [i * i for i in range(50)]
