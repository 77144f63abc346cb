"""The road every cut takes: source → upload → (cache | service) → answer → layers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .answer import decode_answer
from .cache import AnswerCache
from .client import BackgroundCutClient, Pacer
from .cutout import Cutout, build_cutout
from .errors import BadAnswerError
from .options import CutOptions
from .source import Source
from .upload import prepare_upload

Progress = Callable[[float, str], None]


@runtime_checkable
class Engine(Protocol):
    name: str
    notice: str | None  # a line for the user about the engine choice, when there is one

    def cut(
        self,
        source: Source,
        options: CutOptions,
        *,
        progress: Progress | None = None,
        pacer: Pacer | None = None,
        cancel: threading.Event | None = None,
    ) -> Cutout: ...


class BackgroundCutEngine:
    """The cloud API; answers are cached so the same pixels and options cost one credit."""

    name = "backgroundcut"
    notice: str | None = None

    def __init__(self, client: BackgroundCutClient, cache: AnswerCache | None) -> None:
        self.client = client
        self.cache = cache

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
    ) -> Cutout:
        report = progress or _silent
        report(0.05, "Preparing the upload")
        upload = prepare_upload(source.rgb8(), options)
        options = options.for_size(upload.info.width, upload.info.height)
        key = AnswerCache.key(upload.data, options.cache_token(), self.client.endpoint)
        answer_bytes = self.cache.get(key) if self.cache is not None else None
        from_cache = answer_bytes is not None
        if answer_bytes is None:
            report(0.2, f"Uploading {upload.info.bytes / 1e6:.1f} MB to BackgroundCut")
            answer_bytes = self.client.cut(upload, options, pacer=pacer, cancel=cancel)
        report(0.85, "Building the layers")
        answer = decode_answer(answer_bytes)
        check_shape(answer, upload.info.width, upload.info.height)
        cutout = build_cutout(source, answer, options, upload.info, engine=self.name, from_cache=from_cache)
        if self.cache is not None and not from_cache:
            self.cache.put(key, answer_bytes)
        report(1.0, "Done")
        return cutout


def check_shape(answer, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    """An answer must show the uploaded picture: same aspect ratio, at most its size."""
    h, w = answer.shape[:2]
    if w > width or h > height or abs(w / h - width / height) > 0.02 * (width / height) + 2 / h:
        raise BadAnswerError(
            f"The service answered with a {w}×{h} image for a {width}×{height} upload; it does "
            "not match, so it was not used. Try again; nothing was changed."
        )


def _silent(fraction: float, text: str) -> None:
    return None
