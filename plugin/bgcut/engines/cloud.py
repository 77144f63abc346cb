"""The cloud engine, the road a service cut takes: source → upload → (cache | service) →
answer → layers."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ..answer import decode_answer
from ..cache import AnswerCache
from ..client import BackgroundCutClient
from ..cutout import Cutout, build_cutout
from ..errors import BadAnswerError
from ..inflight import InFlight
from ..options import CutOptions
from ..pacing import Notify, Pacer
from ..source import Source
from ..upload import Upload, prepare_upload, upload_as_received
from ..writing import raw_answer
from .protocol import Progress


class BackgroundCutEngine:
    """The cloud API; answers are cached so the same pixels and options cost one credit, and
    the same upload asked for twice at once is sent once (the second waits for the first)."""

    name = "backgroundcut"
    notice: str | None = None

    def __init__(self, client: BackgroundCutClient, cache: AnswerCache | None) -> None:
        self.client = client
        self.cache = cache
        self._in_flight = InFlight()

    def __repr__(self) -> str:
        return f"BackgroundCutEngine({self.client!r}, cache={self.cache!r})"

    def cut(
        self,
        source: Source,
        options: CutOptions,
        *,
        progress: Progress | None = None,
        pacer: Pacer | None = None,
        cancel: threading.Event | None = None,
        notify: Notify | None = None,
    ) -> Cutout:
        """`notify` hears of waits and retries (the rate limit, a failed request); without
        it they go to `progress` as its text."""
        report = progress or _silent
        report(0.05, "Preparing the upload")
        as_read = (
            None
            if source.file_bytes is None or source.linear
            else upload_as_received(source.file_bytes, options)
        )
        upload = as_read or prepare_upload(source.rgb8(), options)
        options = options.for_size(upload.info.width, upload.info.height)
        key = AnswerCache.key(upload.data, options.cache_token(), self.client.endpoint)
        tell = notify or (lambda text: report(0.2, text))
        received: list[bytes] = []
        read = _reader(upload, received)
        answer = self.cache.load(key, read) if self.cache is not None else None
        from_cache = answer is not None
        if answer is None:
            # a JPEG sent as read is decoded meanwhile: its last bytes wait until it is known
            # to decode, so one that does not never reaches the service whole (nothing charged)
            decoded = source.readable if as_read is not None else None
            answer_bytes, from_cache = self._fetch(
                key, upload, (options, report, tell), pacer, cancel, decoded
            )
            report(0.85, "Building the layers")
            answer = read(answer_bytes)
            if self.cache is not None and not from_cache:
                self.cache.put(key, answer_bytes)
        cutout = build_cutout(
            source,
            answer,
            options,
            upload.info,
            engine=self.name,
            from_cache=from_cache,
            wanted=options.channels,
        )
        rgba = (lambda: cutout.rgba) if options.channels == "rgba" else None  # a mask cut never is one
        cutout.answer = raw_answer(received[-1], answer, cutout.mask, rgba)
        report(1.0, "Done")
        return cutout

    def _fetch(
        self,
        key: str,
        upload: Upload,
        how: tuple[CutOptions, Progress, Notify],
        pacer: Pacer | None,
        cancel: threading.Event | None,
        before_last: Callable[[], object] | None = None,
    ) -> tuple[bytes, bool]:
        """The answer bytes, and True when a twin request (same upload at the same time)
        brought them, so they cost nothing now. `before_last` runs before the upload's last
        bytes go; what it raises ends the request unsent."""
        options, report, tell = how
        with self._in_flight.claim(key, cancel) as slot:
            if slot.shared is not None:
                return slot.shared, True
            size = f"{upload.info.bytes / 1e6:.1f} MB"
            report(0.2, f"Uploading {size} to BackgroundCut")

            def sent(done: int, total: int) -> None:
                if done < total:
                    report(
                        0.2 + 0.5 * done / total,
                        f"Uploading {size} to BackgroundCut: {100 * done // total} %",
                    )
                else:
                    if before_last is not None:
                        before_last()
                    report(0.7, "Waiting for BackgroundCut's answer")

            slot.shared = self.client.fetch_answer(
                upload,
                options,
                pacer=pacer,
                cancel=cancel,
                notify=tell,
                on_late=self._keeper(key),
                on_sent=sent,
            )
            return slot.shared, False

    def _keeper(self, key: str) -> Callable[[bytes], None]:
        """Keeps an answer that lands after the user stopped waiting: it is paid for."""

        def keep(data: bytes) -> None:
            if self.cache is not None:
                self.cache.put(key, data)

        return keep


def _reader(upload: Upload, received: list[bytes]) -> Callable[[bytes], np.ndarray]:
    """Answer bytes to pixels, refused unless they show the uploaded picture (the cache
    checks its entries with it too, so a damaged entry is fetched again); the bytes read
    are kept in `received`, so a layer equal to them can be written as received."""

    def read(data: bytes) -> np.ndarray:
        answer = decode_answer(data)
        check_shape(answer, upload.info.width, upload.info.height)
        received.append(data)
        return answer

    return read


def check_shape(answer: np.ndarray, width: int, height: int) -> None:
    """An answer must show the uploaded picture: same aspect ratio, at most its size."""
    h, w = answer.shape[:2]
    if w > width or h > height or abs(w / h - width / height) > 0.02 * (width / height) + 2 / h:
        raise BadAnswerError(
            f"The service answered with a {w}×{h} image for a {width}×{height} upload; it does "
            "not match, so it was not used. Try again; nothing was changed."
        )


def _silent(fraction: float, text: str) -> None:
    return None
