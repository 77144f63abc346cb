"""The answer cache folder is not trusted: a damaged, empty, linked or odd entry costs one
new request (with a notice) instead of failing every rerun, links are never followed, and
`bgcut cache --clear` empties whatever is there without touching anything outside it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import bgcut
import numpy as np
import pytest
from bgcut import cli, errors
from bgcut.answer import decode_answer
from bgcut.cache import AnswerCache
from imagery import encode, subject_photo

needs_links = pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="POSIX links")


def cache_root() -> Path:
    return Path(os.environ["BGCUT_CACHE_DIR"]) / "answers"


def entries() -> list[Path]:
    """Every answer file the cache holds, by walking real folders only."""
    root = cache_root()
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.exists() else []


def cut(img: np.ndarray, emulator, key: str) -> bgcut.Cutout:
    return bgcut.remove_background(img, api_key=key, endpoint=emulator.endpoint)


def first_cut(emulator, key: str, seed: int) -> tuple[np.ndarray, Path, bytes]:
    """Cut once so the cache holds exactly one answer; (picture, its entry, its bytes)."""
    img, _ = subject_photo(160, 120, seed=seed)
    assert not cut(img, emulator, key).from_cache
    [entry] = entries()
    return img, entry, entry.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_entry_is_dropped_with_a_notice_and_fetched_once_more(emulator, key, caplog, damage):
    img, entry, good = first_cut(emulator, key, seed=800)
    entry.write_bytes({"truncated": good[: len(good) // 2], "empty": b"", "garbage": b"<html>oops"}[damage])
    with caplog.at_level(logging.WARNING, logger="bgcut.cache"):
        again = cut(img, emulator, key)
    assert not again.from_cache and emulator.charged(key) == 2
    notices = [r.getMessage() for r in caplog.records if r.name == "bgcut.cache"]
    assert len(notices) == 1 and "damaged answer" in notices[0] and str(entry) in notices[0]
    assert entry.read_bytes() == good  # the fresh answer replaced the bad one
    assert cut(img, emulator, key).from_cache and emulator.charged(key) == 2


@needs_links
def test_a_linked_entry_is_removed_not_followed(emulator, key, tmp_path):
    img, entry, good = first_cut(emulator, key, seed=801)
    outside = tmp_path / "outside.png"
    outside.write_bytes(good)  # a perfectly usable answer: following the link would "work"
    entry.unlink()
    entry.symlink_to(outside)
    again = cut(img, emulator, key)
    assert not again.from_cache and emulator.charged(key) == 2
    assert not entry.is_symlink() and entry.read_bytes() == good
    assert outside.read_bytes() == good


@needs_links
def test_a_linked_shard_folder_is_never_read_nor_written_through(emulator, key, tmp_path):
    img, entry, good = first_cut(emulator, key, seed=802)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / entry.name).write_bytes(good)
    shard = entry.parent
    entry.unlink()
    shard.rmdir()
    shard.symlink_to(elsewhere, target_is_directory=True)
    again = cut(img, emulator, key)
    assert not again.from_cache and emulator.charged(key) == 2
    assert shard.is_dir() and not shard.is_symlink() and entry.read_bytes() == good
    assert sorted(p.name for p in elsewhere.iterdir()) == [entry.name]  # nothing new written there
    assert (elsewhere / entry.name).read_bytes() == good


@needs_links
def test_put_replaces_a_linked_shard_folder_instead_of_writing_through_it(tmp_path):
    cache = AnswerCache(tmp_path / "answers")
    key = AnswerCache.key(b"upload", "opts", "http://127.0.0.1/v2/cut/")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cache.root.mkdir()
    (cache.root / key[:2]).symlink_to(elsewhere, target_is_directory=True)
    answer = encode(subject_photo(40, 30)[0])
    cache.put(key, answer)
    assert list(elsewhere.iterdir()) == []
    assert not (cache.root / key[:2]).is_symlink()
    assert (cache.root / key[:2] / key).read_bytes() == answer
    assert cache.get(key) == answer


@needs_links
def test_pruning_never_deletes_through_a_linked_shard_folder(tmp_path):
    cache = AnswerCache(tmp_path / "answers", max_bytes=0)  # prune everything it may
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    precious = elsewhere / ("f" * 64)
    precious.write_bytes(b"not the cache's")
    cache.root.mkdir()
    (cache.root / "ff").symlink_to(elsewhere, target_is_directory=True)
    key = AnswerCache.key(b"upload", "opts", "x")
    cache.put(key, encode(subject_photo(40, 30)[0]))  # the first put prunes
    assert precious.read_bytes() == b"not the cache's"
    assert not (cache.root / key[:2] / key).exists()  # its own answers were pruned


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_an_entry_that_is_not_a_file_never_hangs_a_read(tmp_path):
    cache = AnswerCache(tmp_path / "answers")
    key = AnswerCache.key(b"upload", "opts", "x")
    (cache.root / key[:2]).mkdir(parents=True)
    os.mkfifo(cache.root / key[:2] / key)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(cache.get(key)), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the stuck reader so the test run can end
        with open(cache.root / key[:2] / key, "wb"):
            pass
        pytest.fail("reading a FIFO cache entry blocked")
    assert result == [None] and not (cache.root / key[:2] / key).exists()


def test_load_checks_with_the_callers_test_and_drops_what_fails_it(tmp_path):
    """The engine's size check goes through `load`: a wrong-size answer is dropped too."""
    notes: list[str] = []
    cache = AnswerCache(tmp_path / "answers", notice=notes.append)
    key = AnswerCache.key(b"upload", "opts", "x")
    cache.put(key, encode(subject_photo(40, 30)[0]))

    def for_a_160x120_upload(data: bytes) -> np.ndarray:
        answer = decode_answer(data)
        if answer.shape[:2] != (120, 160):
            raise errors.BadAnswerError("wrong size")
        return answer

    assert cache.load(key, for_a_160x120_upload) is None
    assert len(notes) == 1 and "BadAnswerError" in notes[0]
    assert not (cache.root / key[:2] / key).exists()
    good = encode(subject_photo(160, 120)[0])
    cache.put(key, good)
    assert cache.load(key, for_a_160x120_upload).shape == (120, 160, 4)


def test_a_wrong_size_entry_is_refetched_by_the_engine(emulator, key):
    img, entry, good = first_cut(emulator, key, seed=803)
    entry.write_bytes(encode(subject_photo(40, 90, seed=1)[0]))  # decodes, but not this upload's shape
    again = cut(img, emulator, key)
    assert not again.from_cache and emulator.charged(key) == 2
    assert entry.read_bytes() == good


def test_the_cli_tells_the_user_when_it_drops_an_entry(emulator, key, tmp_path):
    img, entry, good = first_cut(emulator, key, seed=804)
    entry.write_bytes(good[:100])
    src = tmp_path / "photo.png"
    src.write_bytes(encode(img))
    env = {**os.environ, "BACKGROUNDCUT_API_KEY": key, "BACKGROUNDCUT_ENDPOINT": emulator.endpoint}
    res = subprocess.run(
        [sys.executable, "-m", "bgcut", "cut", str(src)], capture_output=True, text=True, env=env, timeout=120
    )
    assert res.returncode == 0, res.stderr
    assert "Removed a damaged answer" in res.stderr and "fetched again" in res.stderr
    assert emulator.charged(key) == 2 and (tmp_path / "photo-cut.png").exists()


@needs_links
def test_clear_empties_whatever_is_there_and_nothing_outside(emulator, key, tmp_path, capsys):
    _, entry, _ = first_cut(emulator, key, seed=805)
    root = cache_root()
    outside = tmp_path / "keep"
    (outside / "sub").mkdir(parents=True)
    (outside / "precious.txt").write_text("mine")
    (outside / "sub" / "deep.txt").write_text("mine too")
    (entry.parent / "weird-folder").mkdir()  # the old clear() crashed on this
    (entry.parent / "weird-folder" / "x").write_bytes(b"x")
    (root / "stuff" / "deep").mkdir(parents=True)
    (root / "stuff" / "deep" / "f").write_bytes(b"f")
    (root / "notes.txt").write_text("?")
    (root / "ff").symlink_to(outside, target_is_directory=True)  # a linked shard folder
    (root / "link-to-file").symlink_to(outside / "precious.txt")
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    (entry.parent / ("0" * 64)).symlink_to(outside / "precious.txt")

    assert cli.main(["cache", "--clear"]) == 0
    out = capsys.readouterr().out
    assert "1 cached answer(s)" in out and "4 symbolic link(s)" in out and "3 other item(s)" in out
    assert str(root) in out
    assert root.is_dir() and list(root.iterdir()) == []
    assert (outside / "precious.txt").read_text() == "mine"
    assert (outside / "sub" / "deep.txt").read_text() == "mine too"


@needs_links
def test_clear_follows_a_linked_root_but_keeps_it(tmp_path):
    real = tmp_path / "big-disk" / "answers"
    real.mkdir(parents=True)
    link = tmp_path / "answers"
    link.symlink_to(real, target_is_directory=True)
    cache = AnswerCache(link)
    key = AnswerCache.key(b"u", "o", "e")
    answer = encode(subject_photo(40, 30)[0])
    cache.put(key, answer)
    assert (real / key[:2] / key).read_bytes() == answer
    cleared = cache.wipe()
    assert (cleared.answers, cleared.links, cleared.other) == (1, 0, 0)
    assert link.is_symlink() and real.is_dir() and list(real.iterdir()) == []
