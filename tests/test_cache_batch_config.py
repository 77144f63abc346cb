"""Never pay twice, batches lose nothing, and the key lives only in its 0600 file."""

from __future__ import annotations

import os
import stat

import bgcut
import numpy as np
import pytest
from bgcut import config, errors
from bgcut.emulator import Emulator
from imagery import subject_photo


def test_repeating_a_cut_costs_no_credit(emulator, key):
    img, _ = subject_photo(seed=20)
    first = bgcut.remove_background(img, api_key=key, endpoint=emulator.endpoint)
    second = bgcut.remove_background(img, api_key=key, endpoint=emulator.endpoint)
    assert not first.from_cache and second.from_cache
    assert np.array_equal(first.rgba, second.rgba) and np.array_equal(first.mask, second.mask)
    assert emulator.charged(key) == 1
    third = bgcut.remove_background(
        img, bgcut.CutOptions(quality="High"), api_key=key, endpoint=emulator.endpoint
    )
    assert not third.from_cache and emulator.charged(key) == 2
    assert bgcut.AnswerCache().clear() == 2


def test_cache_can_be_turned_off(emulator, key):
    img, _ = subject_photo(seed=21)
    for _ in range(2):
        bgcut.remove_background(img, api_key=key, endpoint=emulator.endpoint, cache=False)
    assert emulator.charged(key) == 2


def test_batch_with_402_half_way_reports_every_item_and_rerun_pays_only_failures(key):
    images = [subject_photo(160, 120, seed=s)[0] for s in range(8)]
    with Emulator({key: 5}) as emu:
        items = bgcut.cut_many(images, api_key=key, endpoint=emu.endpoint, jobs=3)
        assert [i.index for i in items] == list(range(8))
        ok = [i for i in items if i.ok]
        failed = [i for i in items if not i.ok]
        assert len(ok) == 5 and len(failed) == 3
        # the first 402 ends the batch: what was in flight says 402, the rest was not sent
        assert any(isinstance(i.error, errors.CreditsError) for i in failed)
        assert all(isinstance(i.error, (errors.CreditsError, errors.NotSentError)) for i in failed)
        emu.add_key(key, 3)
        again = bgcut.cut_many(images, api_key=key, endpoint=emu.endpoint, jobs=3)
        assert all(i.ok for i in again)
        assert sum(i.cutout.from_cache for i in again) == 5
        assert emu.charged(key) == 3


def test_batch_paces_to_the_dynamic_limit_without_losing_items(key):
    images = [subject_photo(96, 72, seed=s)[0] for s in range(30)]
    with Emulator({key: 100}, minute=0.6, base_limit=4) as emu:
        seen = []
        items = bgcut.cut_many(
            images,
            api_key=key,
            endpoint=emu.endpoint,
            jobs=4,
            minute=0.6,
            initial_limit=4,
            cache=False,
            progress=lambda d, t, item: seen.append((d, t)),
        )
        assert all(i.ok for i in items), [i.error for i in items if not i.ok]
        assert emu.charged(key) == 30
        statuses = [s.status for s in emu.seen]
        assert statuses.count(200) == 30
        assert statuses.count(429) <= 8
        assert seen[-1] == (30, 30) and len(seen) == 30


def test_a_bad_item_does_not_stop_the_batch(emulator, key, tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    img, _ = subject_photo(96, 72)
    items = bgcut.cut_many(
        [img, empty, tmp_path / "missing.jpg", img], api_key=key, endpoint=emulator.endpoint
    )
    assert [i.ok for i in items] == [True, False, False, True]
    assert isinstance(items[1].error, errors.InputError) and "empty" in str(items[1].error)
    assert isinstance(items[2].error, errors.InputError)


def test_key_precedence_and_0600_file(monkeypatch):
    assert config.find_key() is None
    with pytest.raises(errors.MissingKeyError) as info:
        config.resolve_key()
    assert "bgcut config --set-key" in str(info.value)
    path = config.store_key("file-key-1234567890")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert config.resolve_key() == "file-key-1234567890"
    monkeypatch.setenv("BACKGROUNDCUT_API_KEY", "env-key-1234567890")
    assert config.resolve_key() == "env-key-1234567890"
    assert config.resolve_key("arg-key-1234567890") == "arg-key-1234567890"
    assert config.mask_key("file-key-1234567890") == "****7890"
    assert config.forget_key() and "api_key" not in config.read_config()


def test_endpoint_rules(monkeypatch):
    assert config.resolve_endpoint() == "https://api.backgroundcut.co/v2/cut/"
    monkeypatch.setenv("BACKGROUNDCUT_ENDPOINT", "http://127.0.0.1:9/v2/cut/")
    assert config.resolve_endpoint() == "http://127.0.0.1:9/v2/cut/"
    for bad in ("http://example.com/v2/cut/", "http://10.0.0.1/v2/cut/"):
        with pytest.raises(errors.InsecureEndpointError):
            config.check_endpoint(bad)
    config.check_endpoint("http://[::1]:8/v2/cut/")
    with pytest.raises(errors.ConfigError):
        config.check_endpoint("ftp://example.com/")
    with pytest.raises(errors.ConfigError):
        config.check_endpoint("https://user:pw@example.com/")


def test_repr_and_errors_never_show_the_key(emulator, key):
    client = bgcut.BackgroundCutClient(key, emulator.endpoint)
    engine = bgcut.make_engine(api_key=key, endpoint=emulator.endpoint)
    assert key not in repr(client) and key not in repr(engine)
    with pytest.raises(errors.AuthError) as info:
        bgcut.remove_background(subject_photo(64, 48)[0], api_key="bad" + key, endpoint=emulator.endpoint)
    assert key not in str(info.value) and key not in repr(info.value)


def test_batch_learns_a_lower_limit_than_assumed_from_429s(key):
    images = [subject_photo(64, 48, seed=100 + s)[0] for s in range(24)]
    with Emulator({key: 100}, minute=0.8, base_limit=3) as emu:
        items = bgcut.cut_many(
            images, api_key=key, endpoint=emu.endpoint, jobs=4, minute=0.8, initial_limit=8, cache=False
        )
        statuses = [s.status for s in emu.seen]
    assert all(i.ok for i in items), [i.error for i in items if not i.ok]
    assert statuses.count(200) == 24 and emu.charged(key) == 24
    assert 1 <= statuses.count(429) <= 12
