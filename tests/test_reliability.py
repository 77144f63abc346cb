"""Faults over real loopback HTTP: every one gives the right typed error in bounded time,
retries only where safe, and batches report every item once and never pay twice."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import bgcut
import pytest
from bgcut import errors
from bgcut.emulator import Emulator
from imagery import subject_photo

TRIALS = 3
IMG = subject_photo(96, 72, seed=200)[0]


@contextmanager
def refused_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}/v2/cut/"


@contextmanager
def blackhole():
    """A listener whose accept queue is full: further connects get no answer (loopback)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    filler = socket.create_connection(server.getsockname())
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/v2/cut/"
    finally:
        filler.close()
        server.close()


def cut(endpoint, key, **client):
    engine = bgcut.make_engine("backgroundcut", api_key=key, endpoint=endpoint, cache=False)
    for name, value in client.items():
        setattr(engine.client, name, value)
    return bgcut.remove_background(IMG, engine=engine)


# (name, how to get an endpoint, fault to inject, count, client settings, error, words, max seconds)
CASES = [
    ("connection refused", "refused", None, 0, {}, errors.NetworkError, "Cannot connect", 8),
    ("unresolvable host", "dns", None, 0, {}, errors.NetworkError, "Cannot resolve", 8),
    (
        "connect timeout",
        "blackhole",
        None,
        0,
        {"timeout": (0.3, 5)},
        errors.NetworkError,
        "Timed out connecting",
        8,
    ),
    ("read timeout mid-body", "emu", "stall", 10, {"timeout": (2, 0.4)}, errors.NetworkError, "", 10),
    ("connection reset", "emu", "reset", 10, {}, errors.NetworkError, "reset", 8),
    ("dropped connection", "emu", "drop", 10, {}, errors.NetworkError, "", 8),
    ("truncated body", "emu", "truncate", 10, {}, errors.NetworkError, "truncated", 8),
    ("HTTP 500", "emu", "status:500", 10, {}, errors.ServiceError, "No credit was charged", 8),
    ("HTTP 502", "emu", "status:502", 10, {}, errors.ServiceError, "try again", 8),
    ("HTTP 503", "emu", "status:503", 10, {}, errors.ServiceError, "try again", 8),
    ("HTML page with 200", "emu", "html200", 1, {}, errors.BadAnswerError, "no PNG/WebP image", 3),
    ("valid image of the wrong size", "emu", "wrong_size", 1, {}, errors.BadAnswerError, "does not match", 3),
    ("429 storm", "emu", "rate_limit:0.02", 200, {}, errors.RateLimitError, "rate limit", 8),
]


def _endpoint(kind, emu):
    if kind == "emu":
        return emu.endpoint
    if kind == "dns":
        return "https://bgcut-test.invalid/v2/cut/"
    return None


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_single_cut_fault_gives_typed_error_in_bounded_time(case, trial, key):
    name, kind, fault, count, client, error, words, bound = case
    with Emulator({key: 100}) as emu:
        if fault:
            fkind, _, value = fault.partition(":")
            emu.inject(fkind, float(value or 3.0 if fkind == "stall" else value or 0), count=count)
        start = time.monotonic()
        if kind == "refused":
            with refused_port() as url, pytest.raises(error) as info:
                cut(url, key, **client)
        elif kind == "blackhole":
            with blackhole() as url, pytest.raises(error) as info:
                cut(url, key, **client)
        else:
            with pytest.raises(error) as info:
                cut(_endpoint(kind, emu), key, **client)
        elapsed = time.monotonic() - start
        assert elapsed < bound, f"{name}: {elapsed:.1f} s"
        assert words.lower() in str(info.value).lower()
        assert key not in str(info.value)
        if fault and fault.split(":")[0] in ("html200", "wrong_size"):
            assert len(emu.seen) == 1  # a bad answer is not retried blindly
        if fault and fault.startswith("status"):
            assert emu.charged(key) == 0


@pytest.mark.parametrize("fault", ["reset", "drop", "truncate", "status:503", "rate_limit:0.05", "gzip"])
def test_a_transient_fault_is_retried_to_success(fault, key):
    with Emulator({key: 100}) as emu:
        kind, _, value = fault.partition(":")
        emu.inject(kind, float(value or 0), count=1)
        result = cut(emu.endpoint, key)
        assert result.mask.shape == IMG.shape[:2]
        assert [s.status for s in emu.seen][-1] == 200


BATCH_FAULTS = [
    "reset",
    "truncate",
    "status:500",
    "html200",
    "wrong_size",
    "rate_limit:0.05",
    "stall",
    "gzip",
]


@pytest.mark.parametrize("fault", BATCH_FAULTS)
def test_batch_reports_every_item_once_and_rerun_pays_only_failures(fault, key):
    images = [subject_photo(80, 60, seed=300 + i)[0] for i in range(6)]
    with Emulator({key: 100}) as emu:
        kind, _, value = fault.partition(":")
        emu.inject(kind, float(value or (1.5 if kind == "stall" else 0)), count=3)
        engine = bgcut.make_engine("backgroundcut", api_key=key, endpoint=emu.endpoint)
        engine.client.timeout = (2, 0.5)
        seen_progress = []
        items = bgcut.cut_many(
            images, engine=engine, jobs=2, progress=lambda d, t, i: seen_progress.append(i.index)
        )
        assert sorted(i.index for i in items) == list(range(6)) and sorted(seen_progress) == list(range(6))
        failed = [i for i in items if not i.ok]
        assert all(isinstance(i.error, errors.BgcutError) and str(i.error) for i in failed)
        delivered = 6 - len(failed)
        charged_first = emu.charged(key)
        rerun = bgcut.cut_many(images, engine=engine, jobs=2)
        assert all(i.ok for i in rerun)
        assert sum(i.cutout.from_cache for i in rerun) == delivered
        assert emu.charged(key) - charged_first == len(failed)  # the rerun paid only for failures
        # credits for answers that never arrived whole (truncated in transit) are the only extra
        lost_in_transit = sum(1 for s in emu.seen if s.charged and s.fault in ("truncate", "stall"))
        wrong = sum(1 for s in emu.seen if s.charged and s.fault == "wrong_size")
        assert emu.charged(key) == 6 + lost_in_transit + wrong


def test_402_half_way_through_a_batch_is_final_for_the_rest(key):
    images = [subject_photo(80, 60, seed=400 + i)[0] for i in range(8)]
    with Emulator({key: 4}) as emu:
        items = bgcut.cut_many(images, engine="backgroundcut", api_key=key, endpoint=emu.endpoint, jobs=3)
        assert sum(i.ok for i in items) == 4
        refused = [i for i in items if isinstance(i.error, errors.CreditsError)]
        unsent = [i for i in items if isinstance(i.error, errors.NotSentError)]
        assert len(refused) + len(unsent) == 4 and 1 <= len(refused) <= 3
        assert [s.status for s in emu.seen].count(402) == len(refused) <= 3  # never retried


RETRY_AFTER_FORMS = [
    ("3600", True),
    ("Fri, 01 Jan 2099 00:00:00 GMT", True),
    ("inf", True),
    ("-5", False),
    ("0", False),
    ("garbage", False),
    ("1.5", False),
]


@pytest.mark.parametrize("form, too_long", RETRY_AFTER_FORMS, ids=[f[0] for f in RETRY_AFTER_FORMS])
def test_every_retry_after_form_ends_in_bounded_time_and_requests(form, too_long, key):
    with Emulator({key: 10}) as emu:
        emu.inject("rate_limit", retry_after=form, count=3)
        start = time.monotonic()
        if too_long:
            with pytest.raises(errors.RateLimitError) as info:
                cut(emu.endpoint, key, retry_budget=8.0)
            assert "asks to wait" in str(info.value) and len(emu.seen) == 1
            assert time.monotonic() - start < 2.0
        else:
            result = cut(emu.endpoint, key, retry_budget=8.0)
            assert result.mask.shape == IMG.shape[:2]
            assert [s.status for s in emu.seen] == [429, 429, 429, 200]
            assert 2.0 <= time.monotonic() - start < 8.0 or form in ("garbage",)


def test_a_429_whose_body_breaks_off_keeps_its_status_and_the_pacer_paces(key):
    """The refusal's text is only detail: a 429 whose body is cut short is still a 429 with
    its Retry-After, so the shared pacer holds every sender back (not a network failure
    retried at once)."""
    from bgcut.client import BackgroundCutClient
    from bgcut.options import CutOptions
    from bgcut.pacing import RatePacer
    from bgcut.upload import prepare_upload

    upload = prepare_upload(IMG, CutOptions())
    with Emulator({key: 10}) as emu:
        client = BackgroundCutClient(key, emu.endpoint)
        emu.inject("rate_limit_cut", retry_after="2")
        with pytest.raises(errors.RateLimitError) as info:
            client.fetch_answer_once(upload, CutOptions())
        assert (info.value.status, info.value.retry_after) == (429, 2.0)

        emu.inject("rate_limit_cut", retry_after="2")
        pacer = RatePacer()
        heard: list[str] = []
        others: list[threading.Thread] = []
        waited: list[float] = []

        def other_sender(told: float) -> None:  # shares the pacer, asks for a slot after the 429
            pacer.acquire()
            waited.append(time.monotonic() - told)

        def hear(text: str) -> None:  # told right after the 429 reached the pacer
            heard.append(text)
            if "429" in text and not others:
                others.append(threading.Thread(target=other_sender, args=(time.monotonic(),)))
                others[0].start()

        data = client.fetch_answer(upload, CutOptions(), pacer=pacer, notify=hear)
        assert data[:4] == b"RIFF"
        assert [s.status for s in emu.seen][-2:] == [429, 200]
        assert emu.charged(key) == 1
    assert heard[0] == "waiting 2 s: the service's rate limit (429)", heard
    others[0].join(10)
    assert waited and waited[0] >= 1.5  # held back until the service's window ends
