"""What the emulator remembers: injected faults and a bounded log of the requests it saw."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

FAULTS = (
    "delay",
    "drop",
    "reset",
    "truncate",
    "stall",
    "status",
    "html200",
    "wrong_size",
    "rate_limit",
    "rate_limit_cut",
    "gzip",
)
KEEP_UPLOADS = 32  # uploads whose bytes stay in memory; older records keep metadata only
KEEP_BYTES = 96_000_000  # and only while they add up to this (the newest is always kept)
KEEP_RECORDS = 10_000  # records kept at all; the oldest go first
CLIP_FIELD = 256  # an old record's form values are cut to this many characters


@dataclass
class Fault:
    """Applied to the next matching request: kind plus its parameter (seconds or status).

    `retry_after`, when set, is sent verbatim as the Retry-After header of a `rate_limit`
    or `status` answer, so client tests can feed it odd values ("inf", "-5", a date).
    `rate_limit_cut` is a `rate_limit` whose body breaks off half-way (as `truncate` does
    to a 200): its status and Retry-After arrive whole, its text does not.
    """

    kind: str
    value: float = 0.0
    retry_after: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}: one of {', '.join(FAULTS)}")
        if self.retry_after is not None and any(c in self.retry_after for c in "\r\n\0"):
            raise ValueError("retry_after must be a single header line")


@dataclass
class Seen:
    """One request as the emulator received it (for tests to assert on).

    `body_size` counts the body bytes actually read, `declared_size` is the Content-Length
    (None when chunked or absent) and `server_time` the emulator's own work in seconds
    (also sent as X-Emulator-Time), not the time spent waiting for the upload.
    """

    method: str
    path: str
    authorization: str | None
    fields: dict[str, str]
    file_name: str | None
    file_type: str | None
    file_bytes: bytes | None
    body_size: int
    status: int = 0
    charged: bool = False
    fault: str | None = None
    declared_size: int | None = None
    server_time: float = 0.0
    finished: float = 0.0  # time.monotonic() when the answer was ready

    def forget_payload(self) -> None:
        """Drop what is big (the upload, long form values) and keep what tests count on."""
        self.file_bytes = None
        self.fields = {k: v[:CLIP_FIELD] for k, v in self.fields.items()}


class SeenLog(list[Seen]):
    """A list (so `emu.seen == []` and indexing still work) that bounds its memory: only
    the last `keep_uploads` records keep their bytes, and those within `keep_bytes` in all
    (the newest always), and at most `keep_records` records stay."""

    def __init__(
        self,
        keep_uploads: int = KEEP_UPLOADS,
        keep_records: int = KEEP_RECORDS,
        keep_bytes: int = KEEP_BYTES,
    ) -> None:
        super().__init__()
        if keep_uploads < 0 or keep_records < 1 or keep_bytes < 0:
            raise ValueError("keep_uploads and keep_bytes must be >= 0, keep_records >= 1")
        self.keep_uploads, self.keep_records, self.keep_bytes = keep_uploads, keep_records, keep_bytes
        self._holding: deque[Seen] = deque()  # records that still hold their bytes, oldest first
        self._held = 0

    def append(self, seen: Seen) -> None:
        super().append(seen)
        self._holding.append(seen)
        self._held += len(seen.file_bytes or b"")
        while len(self._holding) > self.keep_uploads or (
            self._held > self.keep_bytes and len(self._holding) > 1
        ):
            old = self._holding.popleft()
            self._held -= len(old.file_bytes or b"")
            old.forget_payload()
        if len(self) > self.keep_records + self.keep_records // 10:
            del self[: len(self) - self.keep_records]  # in batches, not one shift per request
