"""The functions scripts and host bindings call."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterable, Sequence

from . import choices
from .batch import BatchItem, BatchProgress, BatchStatus, run_batch
from .cache import AnswerCache
from .client import BackgroundCutClient
from .config import find_key
from .cutout import Cutout
from .engines.cloud import BackgroundCutEngine
from .engines.protocol import Engine, Progress
from .errors import MissingKeyError, Notice, OptionError, Remedy
from .model import has_onnxruntime, local_available
from .options import CutOptions
from .pacing import RatePacer, configured_rate_limit
from .source import SourceLike, load_source

__all__ = ["cut_many", "has_onnxruntime", "local_available", "make_engine", "remove_background"]

AUTO_LOCAL_NOTICE = Notice(
    "No BackgroundCut API key is set: using the local u2netp engine.", Remedy.KEY_FOR_QUALITY
)


def make_engine(
    engine: str = choices.ENGINES.default,
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    cache: bool | AnswerCache = True,
    verify: bool | str = True,
    retry_budget: float = 120.0,
) -> Engine:
    """The engine to cut with: BackgroundCut, the local model, or `auto` (BackgroundCut when
    a key is configured, otherwise local; the engine's `notice` then says so). The name
    is matched without regard to case."""
    engine = choices.ENGINES.canonical(engine)
    if engine == "auto" and find_key(api_key) is None and not local_available():
        raise MissingKeyError()
    if engine == "local" or (engine == "auto" and find_key(api_key) is None):
        from .engines.local import LocalEngine

        local = LocalEngine()
        if engine == "auto":
            local.notice = AUTO_LOCAL_NOTICE
        return local
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
    engine: Engine | str | None = None,
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
    engine = _engine(engine, engine_args)
    return engine.cut(source, options, progress=progress, cancel=cancel)


def cut_many(
    images: Sequence[SourceLike] | Iterable[SourceLike],
    options: CutOptions | None = None,
    *,
    engine: Engine | str | None = None,
    jobs: int = 4,
    minute: float = 60.0,
    initial_limit: int | None = None,
    progress: BatchProgress | None = None,
    cancel: threading.Event | None = None,
    status: BatchStatus | None = None,
    **engine_args: object,
) -> list[BatchItem]:
    """Cut many images concurrently, paced to the key's rate limit; never loses an item.

    `initial_limit` is the key's base limit per minute (default: `bgcut config
    --rate-limit`, else 40). Setting `cancel` sends nothing more (answers in flight still
    land); a `bgcut.Cancel`'s `abandon()` also stops waiting for them. `status` hears of
    waits and retries per item.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise OptionError(choices.invalid("jobs", jobs, "a whole number of at least 1 (uploads at once)"))
    engine = _engine(engine, engine_args)
    pacer = RatePacer(initial_limit=initial_limit or configured_rate_limit(), minute=minute)
    return run_batch(
        engine,
        images,
        options or CutOptions(),
        jobs=jobs,
        pacer=pacer,
        progress=progress,
        cancel=cancel,
        status=status,
    )


def _engine(engine: Engine | str | None, engine_args: dict[str, object]) -> Engine:
    """The engine given, or one made by name with `engine_args`.

    Beside an engine object those arguments cannot apply (it is already made): they are
    named in a warning rather than dropped without a word. (A TypeError would be stricter;
    existing callers pass `cache=False` beside an engine, so it warns for now.)"""
    if isinstance(engine, Engine):
        if engine_args:
            names = ", ".join(sorted(engine_args))
            warnings.warn(
                f"{names} ignored: these set up an engine made by name, but an engine object was "
                "given; pass them to make_engine() instead.",
                UserWarning,
                stacklevel=3,
            )
        return engine
    return make_engine(engine or choices.ENGINES.default, **engine_args)  # type: ignore[arg-type]
