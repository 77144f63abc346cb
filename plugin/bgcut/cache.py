"""Never pay twice: the service's answers kept by the hash of what was sent.

The key is the SHA-256 of the uploaded bytes, the options and the endpoint (an emulator's
answer must never stand in for the real service's). The API key is not part of it and
nothing here is secret: only answer images are stored.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .config import cache_dir

DEFAULT_MAX_BYTES = 2 * 1024**3
PRUNE_EVERY = 50


class AnswerCache:
    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root) if root is not None else cache_dir() / "answers"
        self.max_bytes = max_bytes
        self._puts = 0

    def __repr__(self) -> str:
        return f"AnswerCache({str(self.root)!r})"

    @staticmethod
    def key(upload_bytes: bytes, options_token: str, endpoint: str) -> str:
        h = hashlib.sha256()
        for part in (endpoint.encode(), b"\0", options_token.encode(), b"\0", upload_bytes):
            h.update(part)
        return h.hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        os.utime(path)
        return data

    def put(self, key: str, data: bytes) -> None:
        """Best effort: a cache that cannot be written only costs a later credit."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
            self._puts += 1
            if self._puts % PRUNE_EVERY == 1:
                self._prune()
        except OSError:
            return

    def clear(self) -> int:
        removed = 0
        for path in self._files():
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def _files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob("*/*") if not p.name.startswith(".")]

    def _prune(self) -> None:
        sizes: list[tuple[float, int, Path]] = []
        for path in self._files():
            try:
                st = path.stat()
            except OSError:
                continue
            sizes.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in sizes)
        for _, size, path in sorted(sizes):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
