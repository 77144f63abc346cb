"""The functions scripts and host bindings call."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from .batch import BatchItem, BatchProgress, run_batch
from .cache import AnswerCache
from .client import BackgroundCutClient
from .cutout import Cutout
from .engine import BackgroundCutEngine, Engine, Progress
from .options import CutOptions
from .pacing import RatePacer
from .source import SourceLike, load_source


def make_engine(
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    cache: bool | AnswerCache = True,
    verify: bool | str = True,
    retry_budget: float = 120.0,
) -> Engine:
    """The BackgroundCut engine, configured from arguments, environment and config file."""
    client = BackgroundCutClient(api_key, endpoint, verify=verify, retry_budget=retry_budget)
    if cache is True:
        answer_cache: AnswerCache | None = AnswerCache()
    elif cache is False:
        answer_cache = None
    else:
        answer_cache = cache
    return BackgroundCutEngine(client, answer_cache)


def remove_background(
    image: SourceLike,
    options: CutOptions | None = None,
    *,
    engine: Engine | None = None,
    linear: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    **engine_args: object,
) -> Cutout:
    """Cut one image; the result holds the RGBA cut-out and the mask at the source's size.

    `linear=True` says float pixels are scene-linear (Blender): they are sent as sRGB and
    the cut-out keeps the caller's own values.
    """
    options = options or CutOptions()
    source = load_source(image, linear=linear)
    engine = engine or make_engine(**engine_args)  # type: ignore[arg-type]
    return engine.cut(source, options, progress=progress, cancel=cancel)


def cut_many(
    images: Sequence[SourceLike] | Iterable[SourceLike],
    options: CutOptions | None = None,
    *,
    engine: Engine | None = None,
    jobs: int = 4,
    minute: float = 60.0,
    initial_limit: int = 40,
    progress: BatchProgress | None = None,
    cancel: threading.Event | None = None,
    **engine_args: object,
) -> list[BatchItem]:
    """Cut many images concurrently, paced to the key's rate limit; never loses an item."""
    engine = engine or make_engine(**engine_args)  # type: ignore[arg-type]
    pacer = RatePacer(initial_limit=initial_limit, minute=minute)
    return run_batch(
        engine, images, options or CutOptions(), jobs=jobs, pacer=pacer, progress=progress, cancel=cancel
    )
