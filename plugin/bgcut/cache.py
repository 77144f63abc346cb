"""Never pay twice: the service's answers kept by the hash of what was sent.

The key is the SHA-256 of the uploaded bytes, the options and the endpoint (an emulator's
answer must never stand in for the real service's). The API key is not part of it and
nothing here is secret: only answer images are stored.

The folder is not trusted: an entry is used only if it is a regular file that decodes
(and, through `load`, passes the caller's check, e.g. the upload's size); anything else
is removed with a warning on the "bgcut.cache" logger and fetched again. Links inside the
folder are never followed: a linked shard folder or entry is removed (the link, not what
it points to), reads use O_NOFOLLOW and, where the OS allows, go through the shard
folder's descriptor. The root itself is the folder the user configured and may be a link
(e.g. ~/.cache on another disk): it is followed, and `clear` empties it but keeps it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .config import cache_dir
from .errors import BgcutError

DEFAULT_MAX_BYTES = 2 * 1024**3
PRUNE_EVERY = 50
#: An answer is never larger than the client accepts (client.MAX_ANSWER_BYTES).
MAX_ENTRY_BYTES = 64 * 1024 * 1024

log = logging.getLogger("bgcut.cache")
T = TypeVar("T")

_KEY = re.compile(r"[0-9a-f]{64}")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BINARY = getattr(os, "O_BINARY", 0)
#: Shard folders are opened once and their entries reached through the descriptor, so a
#: folder swapped for a link between a check and a use is never followed.
_DIR_FD = bool(_NOFOLLOW and _DIRECTORY) and {os.open, os.stat, os.unlink, os.rename} <= os.supports_dir_fd
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in must not hang a read
_SHARD = re.compile(r"[0-9a-f]{2}")


class _Bad(Exception):
    """An entry that must be removed; the text says why, for the warning."""


@dataclass
class Cleared:
    """What `wipe` removed: answers, links (removed, never followed) and anything else;
    `kept` counts what could not be removed (e.g. no permission)."""

    answers: int = 0
    links: int = 0
    other: int = 0
    bytes: int = 0
    kept: int = 0

    def __str__(self) -> str:
        parts = [f"{self.answers} cached answer(s) ({self.bytes / 1e6:.1f} MB)"]
        if self.links:
            parts.append(f"{self.links} symbolic link(s) (removed, not followed)")
        if self.other:
            parts.append(f"{self.other} other item(s)")
        return ", ".join(parts)


class _Shard:
    """One shard folder, opened without following a link; entries are reached by name."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self.fd = path, fd

    def _ref(self, name: str) -> str:
        return name if self.fd is not None else str(self.path / name)

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self._ref(name), dir_fd=self.fd, follow_symlinks=False)

    def open(self, name: str, flags: int, mode: int = 0o600) -> int:
        return os.open(self._ref(name), flags | _NOFOLLOW | _BINARY, mode, dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        os.unlink(self._ref(name), dir_fd=self.fd)

    def replace(self, src: str, dst: str) -> None:
        os.replace(self._ref(src), self._ref(dst), src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)


class AnswerCache:
    def __init__(
        self,
        root: str | os.PathLike | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        """`notice` receives each "removed a bad entry" sentence (default: a warning log)."""
        self.root = Path(root) if root is not None else cache_dir() / "answers"
        self.max_bytes = max_bytes
        self.notice = notice or log.warning
        self._puts = 0

    def __repr__(self) -> str:
        return f"AnswerCache({str(self.root)!r})"

    @staticmethod
    def key(upload_bytes: bytes, options_token: str, endpoint: str) -> str:
        h = hashlib.sha256()
        for part in (endpoint.encode(), b"\0", options_token.encode(), b"\0", upload_bytes):
            h.update(part)
        return h.hexdigest()

    # -- reading ---------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The stored answer if it is a whole PNG/WebP image; a bad entry is removed."""
        return self.load(key, _decodes)

    def load(self, key: str, decode: Callable[[bytes], T]) -> T | None:
        """`decode(bytes)` of the stored answer, or None when absent or bad.

        `decode` raises a BgcutError (e.g. BadAnswerError from decode_answer or the
        engine's size check) for an answer that must not be used: the entry is then
        removed with a notice, so the next run fetches it again instead of failing.
        """
        shard_name, name = _names(key)
        shard = self._shard(shard_name, create=False)
        if shard is None:
            return None
        try:
            data = self._read(shard, name)
            if data is None:
                return None
            value = decode(data)
        except _Bad as why:
            self._drop(shard, name, str(why))
            return None
        except BgcutError as exc:
            self._drop(shard, name, f"it is not a usable answer ({type(exc).__name__})")
            return None
        finally:
            shard.close()
        return value

    def _read(self, shard: _Shard, name: str) -> bytes | None:
        """The entry's bytes; None when absent or unreadable; _Bad when it must go."""
        try:
            _check_entry(shard.lstat(name))
            fd = shard.open(name, os.O_RDONLY | _NONBLOCK)
        except FileNotFoundError:
            return None
        except _Bad:
            raise
        except OSError:
            if _is_link(shard, name):
                raise _Bad("it is a symbolic link") from None
            return None
        with os.fdopen(fd, "rb") as fh:
            _check_entry(os.fstat(fh.fileno()))
            data = fh.read(MAX_ENTRY_BYTES + 1)
            _touch(fh.fileno(), shard.path / name)
        if len(data) > MAX_ENTRY_BYTES:
            raise _Bad("it is larger than any answer")
        return data

    # -- writing ---------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> None:
        """Best effort: a cache that cannot be written only costs a later credit."""
        shard_name, name = _names(key)
        try:
            shard = self._shard(shard_name, create=True)
        except OSError:
            return
        if shard is None:
            return
        try:
            self._write(shard, name, data)
        except OSError:
            return
        finally:
            shard.close()
        self._puts += 1
        if self._puts % PRUNE_EVERY == 1:
            self._prune()

    def _write(self, shard: _Shard, name: str, data: bytes) -> None:
        """Write beside, then rename over: readers see the old answer or the whole new one."""
        tmp = f".tmp-{secrets.token_hex(8)}"
        fd = shard.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            shard.replace(tmp, name)
        except BaseException:
            _quietly(shard.unlink, tmp)
            raise

    # -- shard folders -----------------------------------------------------------------
    def _shard(self, shard_name: str, create: bool) -> _Shard | None:
        """The shard folder as a real folder inside the root; a link or file there is removed."""
        path = self.root / shard_name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if not create:
                return None
            st = _make_dir(path)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
            self.notice(f"Removed {path} from bgcut's answer cache: it is {kind}.")
            _remove_entry(path)
            if not create:
                return None
            st = _make_dir(path)
        if not stat.S_ISDIR(st.st_mode):
            return None  # it could not be replaced by a real folder: write nothing through it
        return self._open_shard(path, st)

    def _open_shard(self, path: Path, st: os.stat_result) -> _Shard | None:
        if not _DIR_FD:
            return _Shard(path, None)
        try:
            fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW)
        except OSError:
            return None
        opened = os.fstat(fd)
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            os.close(fd)  # swapped since it was checked: not ours to use
            return None
        return _Shard(path, fd)

    def _drop(self, shard: _Shard, name: str, why: str) -> None:
        """Remove a bad entry (a link itself, never its target) and say so."""
        self.notice(
            f"Removed a damaged answer from bgcut's cache ({shard.path / name}): {why}. "
            "It will be fetched again (one credit)."
        )
        try:
            st = shard.lstat(name)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(shard.path / name)
            else:
                shard.unlink(name)
        except OSError:
            return

    # -- whole cache ---------------------------------------------------------------------
    def usage(self) -> tuple[int, int]:
        """How many answers the cache holds and their bytes (links and strays not counted)."""
        entries = self._entries()
        return len(entries), sum(st.st_size for _, _, st in entries)

    def clear(self) -> int:
        """Empty the cache; the number of answers removed."""
        return self.wipe().answers

    def wipe(self) -> Cleared:
        """Remove whatever is inside the root, links unlinked (never followed)."""
        done = Cleared()
        try:
            root_st = os.lstat(self.root)
        except OSError:
            return done
        if not _is_dir_followed(self.root):
            # bgcut's own folder is a file or a dangling link: remove that, never a target
            self._wipe_top(self.root, root_st, done)
            return done
        for entry, st in _scan(self.root):
            self._wipe_top(Path(entry.path), st, done)
        return done

    def _wipe_top(self, path: Path, st: os.stat_result, done: Cleared) -> None:
        """A shard folder counts its entries; anything else at the top counts as one item."""
        if not (stat.S_ISDIR(st.st_mode) and _SHARD.fullmatch(path.name)):
            if _remove_entry(path):
                _count(done, st, answer=False)
            else:
                done.kept += 1
            return
        inside = [(e.name, est) for e, est in _scan(path)]
        if not _remove_entry(path):  # one rmtree: it never follows a link, even one swapped in
            done.kept += 1
            return
        for name, est in inside:
            _count(done, est, answer=stat.S_ISREG(est.st_mode) and bool(_KEY.fullmatch(name)))

    def _entries(self) -> list[tuple[str, str, os.stat_result]]:
        """(shard, name, stat) of answer files in real shard folders; links are skipped."""
        found: list[tuple[str, str, os.stat_result]] = []
        for shard, st in _scan(self.root):
            if not (stat.S_ISDIR(st.st_mode) and _SHARD.fullmatch(shard.name)):
                continue
            for entry, est in _scan(Path(shard.path)):
                if stat.S_ISREG(est.st_mode) and _KEY.fullmatch(entry.name):
                    found.append((shard.name, entry.name, est))
        return found

    def _prune(self) -> None:
        """Oldest-used answers go first until the cache fits `max_bytes`."""
        entries = sorted(self._entries(), key=lambda e: e[2].st_mtime)
        total = sum(st.st_size for _, _, st in entries)
        for shard_name, name, st in entries:
            if total <= self.max_bytes:
                break
            shard = self._shard(shard_name, create=False)
            if shard is not None:
                _quietly(shard.unlink, name)  # through the shard's descriptor: never a link
                shard.close()
            total -= st.st_size


def _names(key: str) -> tuple[str, str]:
    """Shard folder and file name; a key is AnswerCache.key's hex digest, nothing else."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError("A cache key is the hex SHA-256 that AnswerCache.key returns.")
    return key[:2], key


def _decodes(data: bytes) -> bytes:
    """`get`'s check: the bytes are a whole PNG/WebP the engine can decode."""
    from .answer import decode_answer

    decode_answer(data)
    return data


def _touch(fd: int, path: Path) -> None:
    """Mark as recently used, for pruning: through the open file, never a link."""
    try:
        if os.utime in os.supports_fd:
            os.utime(fd)
        else:
            os.utime(path)  # checked above to be a regular file, not a link
    except OSError:
        return


def _check_entry(st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise _Bad("it is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _Bad("it is not a regular file")
    if st.st_size == 0:
        raise _Bad("it is empty")
    if st.st_size > MAX_ENTRY_BYTES:
        raise _Bad("it is larger than any answer")


def _is_link(shard: _Shard, name: str) -> bool:
    try:
        return stat.S_ISLNK(shard.lstat(name).st_mode)
    except OSError:
        return False


def _is_dir_followed(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _make_dir(path: Path) -> os.stat_result:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    return os.lstat(path)


def _remove_entry(path: Path) -> bool:
    """Remove a file, a link (the link itself) or a real folder's tree; False if it stays."""
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)  # refuses links and unlinks (never follows) any inside
        else:
            try:
                os.unlink(path)
            except (IsADirectoryError, PermissionError):
                os.rmdir(path)  # a Windows directory link or junction: removes the link only
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _scan(folder: Path) -> list[tuple[os.DirEntry, os.stat_result]]:
    """A folder's entries with their own (not their targets') status; vanished ones skipped."""
    found: list[tuple[os.DirEntry, os.stat_result]] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                try:
                    found.append((entry, entry.stat(follow_symlinks=False)))
                except OSError:
                    continue
    except OSError:
        return []
    return found


def _count(done: Cleared, st: os.stat_result, *, answer: bool) -> None:
    if answer:
        done.answers += 1
        done.bytes += st.st_size
    elif stat.S_ISLNK(st.st_mode):
        done.links += 1
    else:
        done.other += 1


def _quietly(action: Callable[[str], None], name: str) -> None:
    try:
        action(name)
    except OSError:
        return
