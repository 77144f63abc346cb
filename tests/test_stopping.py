"""Stopping as a user means it: Ctrl+C/SIGTERM, a wrong key, an empty account.

Real CLI processes and real signals against the emulator over loopback; what is counted is
what the emulator was sent and what landed on disk.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import bgcut
import pytest
from bgcut import errors
from bgcut.emulator import Emulator
from imagery import subject_photo
from PIL import Image

IMAGES = 12


def shoot(folder: Path, count: int = IMAGES) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"p{i:02d}.png"
        Image.fromarray(subject_photo(64, 48, seed=900 + i)[0]).save(path)
        paths.append(path)
    return paths


def start_cli(args: list[str], emu: Emulator, key: str) -> subprocess.Popen:
    env = dict(os.environ, BACKGROUNDCUT_API_KEY=key, BACKGROUNDCUT_ENDPOINT=emu.endpoint)
    return subprocess.Popen(
        [sys.executable, "-m", "bgcut", "cut", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_requests(emu: Emulator, count: int, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while len(emu.arrivals()) < count:
        assert time.monotonic() < end, "the CLI never sent its first requests"
        time.sleep(0.02)


def summary_names(stderr: str, paths: list[Path]) -> dict[str, str]:
    """Which summary line (done / failed / not sent) names each input."""
    found: dict[str, str] = {}
    for line in stderr.splitlines():
        head = line.strip().split(":", 1)[0]
        if head in ("done", "failed", "not sent"):
            for p in paths:
                if str(p) in line:
                    assert p.name not in found, f"{p.name} named twice"
                    found[p.name] = head
    return found


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_sending_keeps_what_is_in_flight_and_names_every_input(tmp_path, key, signum, code):
    paths = shoot(tmp_path / "shoot")
    out = tmp_path / "out"
    with Emulator({key: 100}, service_time=1.0) as emu:
        proc = start_cli([str(tmp_path / "shoot"), "--out-dir", str(out), "--jobs", "2"], emu, key)
        time.sleep(3.0)
        proc.send_signal(signum)
        signalled = time.monotonic()
        sent_before = len(emu.arrivals(before=time.monotonic()))
        _, stderr = proc.communicate(timeout=30)
        exited = time.monotonic()
        arrivals = emu.arrivals()
        last_answer = max(s.finished for s in emu.seen)
    assert proc.returncode == code, stderr
    assert len(arrivals) == sent_before, f"{len(arrivals) - sent_before} requests after the signal"
    assert 2 <= sent_before < IMAGES
    assert exited - max(last_answer, signalled) < 2.0
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == sent_before, stderr  # answers in flight at the signal were kept and written
    for name in written:
        with Image.open(out / name) as im:
            assert im.mode == "RGBA" and im.size == (64, 48)
    names = summary_names(stderr, paths)
    assert len(names) == IMAGES
    assert list(names.values()).count("done") == sent_before
    assert list(names.values()).count("not sent") == IMAGES - sent_before
    assert "No credit was spent" in stderr


def test_a_second_ctrl_c_leaves_the_requests_in_flight_at_once(tmp_path, key):
    paths = shoot(tmp_path / "shoot")
    out = tmp_path / "out"
    with Emulator({key: 100}, service_time=6.0) as emu:
        proc = start_cli([str(tmp_path / "shoot"), "--out-dir", str(out), "--jobs", "2"], emu, key)
        wait_for_requests(emu, 2)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        second = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - second
        assert len(emu.arrivals()) == 2
    assert proc.returncode == 130, stderr
    assert took < 1.5, f"{took:.1f} s after the second Ctrl+C"
    assert not out.exists() or list(out.iterdir()) == []
    names = summary_names(stderr, paths)
    assert len(names) == IMAGES and list(names.values()).count("not sent") == IMAGES - 2


def test_cut_many_cancel_stops_sending_but_keeps_what_is_in_flight(key):
    images = [subject_photo(64, 48, seed=950 + i)[0] for i in range(8)]
    with Emulator({key: 100}, service_time=0.8) as emu:
        cancel = threading.Event()  # a plain Event works: set means send nothing more
        threading.Timer(1.2, cancel.set).start()
        items = bgcut.cut_many(
            images, engine="backgroundcut", api_key=key, endpoint=emu.endpoint, jobs=2, cancel=cancel
        )
        done = [i for i in items if i.ok]
        assert len(done) + [i.status for i in items].count("not sent") == 8
        assert 2 <= len(done) <= 4
        assert len(emu.arrivals()) == len(done) == emu.charged(key)


def test_abandon_stops_waiting_and_a_late_answer_is_kept_so_a_redo_is_free(key):
    images = [subject_photo(64, 48, seed=990 + i)[0] for i in range(4)]
    with Emulator({key: 100}, service_time=1.0) as emu:
        cancel = bgcut.Cancel()
        threading.Timer(0.4, cancel.abandon).start()
        start = time.monotonic()
        items = bgcut.cut_many(
            images, engine="backgroundcut", api_key=key, endpoint=emu.endpoint, jobs=2, cancel=cancel
        )
        assert time.monotonic() - start < 1.0  # not the 1 s the service takes, plus more
        assert [i.status for i in items] == ["failed", "failed", "not sent", "not sent"]
        assert all(isinstance(i.error, errors.AbandonedError) for i in items[:2])
        time.sleep(1.2)  # the two answers land after all, and they are paid
        assert emu.charged(key) == 2
        redo = bgcut.cut_many(images[:2], engine="backgroundcut", api_key=key, endpoint=emu.endpoint)
        assert all(i.ok and i.cutout.from_cache for i in redo)
        assert emu.charged(key) == 2


def test_a_stop_while_waiting_to_retry_after_a_charged_answer_is_not_called_free(key):
    """A 200 cut short in transit is charged; the retry then meets a 429 and waits. A stop
    during that wait must say a credit was spent, not "nothing was spent"."""
    with Emulator({key: 100}) as emu:
        emu.inject("truncate")
        emu.inject("rate_limit", retry_after="5")
        cancel = threading.Event()

        def stop_once_the_429_is_answered() -> None:
            end = time.monotonic() + 10
            while len(emu.seen) < 2 and time.monotonic() < end:
                time.sleep(0.01)
            cancel.set()

        threading.Thread(target=stop_once_the_429_is_answered, daemon=True).start()
        start = time.monotonic()
        (item,) = bgcut.cut_many(
            [subject_photo(64, 48, seed=960)[0]],
            engine="backgroundcut",
            api_key=key,
            endpoint=emu.endpoint,
            cancel=cancel,
        )
        took = time.monotonic() - start
        assert [(s.status, s.fault) for s in emu.seen] == [(200, "truncate"), (429, "rate_limit")]
        assert emu.charged(key) == 1
    assert took < 4.0  # the stop ended the 5 s wait
    assert item.status == "failed"
    assert type(item.error) is errors.TruncatedAnswerError
    assert "was charged" in str(item.error) and "one more credit" in str(item.error)
    assert "no credit was spent" not in str(item.error).lower()


def test_a_wrong_key_ends_the_batch_with_one_message(tmp_path, key):
    paths = shoot(tmp_path / "shoot")
    with Emulator({key: 100}) as emu:
        proc = start_cli([str(tmp_path / "shoot"), "--jobs", "2"], emu, "wrong-key-0000000000000")
        _, stderr = proc.communicate(timeout=60)
        statuses = [s.status for s in emu.seen]
    assert proc.returncode == 1
    assert 1 <= statuses.count(401) <= 2 and len(statuses) == statuses.count(401)
    assert stderr.count("API key is missing or invalid (401)") == 1, stderr
    names = summary_names(stderr, paths)
    assert len(names) == IMAGES and list(names.values()).count("not sent") >= IMAGES - 2
    assert "refused the API key" in stderr and "wrong-key-0000000000000" not in stderr
    assert not list(tmp_path.glob("shoot/*-cut.png"))


def test_an_empty_account_ends_the_batch_and_a_rerun_pays_only_for_what_is_missing(tmp_path, key):
    paths = shoot(tmp_path / "shoot")
    with Emulator({key: 3}) as emu:
        proc = start_cli([str(tmp_path / "shoot"), "--jobs", "2"], emu, key)
        _, stderr = proc.communicate(timeout=60)
        statuses = [s.status for s in emu.seen]
        assert proc.returncode == 1
        assert statuses.count(200) == 3 and 1 <= statuses.count(402) <= 2
        assert len(statuses) <= 3 + 2
        assert "No BackgroundCut credits left (402)" in stderr and stderr.count("(402)") <= 3
        names = summary_names(stderr, paths)
        assert list(names.values()).count("done") == 3 and len(names) == IMAGES
        emu.add_key(key, 20)
        emu.seen.clear()
        proc = start_cli([str(tmp_path / "shoot"), "--jobs", "2"], emu, key)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
        assert [s.status for s in emu.seen].count(200) == IMAGES - 3
        assert emu.charged(key) == IMAGES - 3  # add_key opened a fresh account
    assert len(list(tmp_path.glob("shoot/*-cut.png"))) == IMAGES
