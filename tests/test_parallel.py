"""bgcut.parallel's one pool: its threads are kept between calls, work handed out from
inside it runs where it is asked (no thread waits on itself), and an error stops the call
only once all begun work has ended."""

from __future__ import annotations

import os
import signal
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


def test_ctrl_c_while_waiting_returns_only_once_the_running_band_has_ended():
    """A real SIGINT to this (main) thread lands while it waits on the first band: the
    band still running ends before the KeyboardInterrupt reaches the caller, so nothing
    writes into the caller's arrays after it has moved on. Band 0 cannot end before the
    signal is sent, however slow the machine, so the interrupt always lands inside."""
    out = np.zeros(8, np.int64)
    first_started, sent = threading.Event(), threading.Event()

    def band(i: int) -> None:
        if i == 0:
            first_started.set()
            sent.wait(30)
            time.sleep(0.3)
        out[i] = 1

    def interrupt() -> None:
        first_started.wait(30)
        time.sleep(0.1)
        signal.pthread_kill(main_thread, signal.SIGINT)
        sent.set()

    main_thread = threading.main_thread().ident
    assert main_thread == threading.get_ident()
    sender = threading.Thread(target=interrupt)
    sender.start()
    with pytest.raises(KeyboardInterrupt):
        parallel.for_each(band, range(8))
    sender.join(30)
    snapshot = out.copy()
    assert snapshot[0] == 1  # band 0 had ended
    time.sleep(0.6)
    assert np.array_equal(out, snapshot)  # and nothing ran on afterwards


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")
def test_a_child_forked_while_the_pool_lock_is_held_still_runs_bands():
    parallel.for_each(lambda _: None, range(4))  # the pool exists in the parent
    with parallel._pool_lock:
        pid = os.fork()
        if pid == 0:  # the child: its own pool and lock
            try:
                seen: list[int] = []
                parallel.for_each(seen.append, range(16))
                os._exit(0 if sorted(seen) == list(range(16)) else 1)
            finally:
                os._exit(2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the pool's lock")
    assert os.waitstatus_to_exitcode(status) == 0
