"""The functions scripts and host bindings call."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from .batch import BatchItem, BatchProgress, BatchStatus, run_batch
from .cache import AnswerCache
from .client import BackgroundCutClient
from .config import find_key
from .cutout import Cutout
from .engine import BackgroundCutEngine, Engine, Progress
from .errors import MissingKeyError, OptionError
from .model import is_installed
from .options import CutOptions
from .pacing import RatePacer, configured_rate_limit
from .source import SourceLike, load_source

ENGINES = ("auto", "backgroundcut", "local")
AUTO_LOCAL_NOTICE = (
    "No BackgroundCut API key is set: using the local u2netp engine. For the service's "
    "quality, set a key with `bgcut config --set-key`."
)


def has_onnxruntime() -> bool:
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


def local_available() -> bool:
    """The local engine can run: its model is installed and onnxruntime importable."""
    return is_installed() and has_onnxruntime()


def make_engine(
    engine: str = "auto",
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    cache: bool | AnswerCache = True,
    verify: bool | str = True,
    retry_budget: float = 120.0,
) -> Engine:
    """The engine to cut with: BackgroundCut, the local model, or `auto` (BackgroundCut when
    a key is configured, otherwise local; the engine's `notice` then says so)."""
    if engine not in ENGINES:
        raise OptionError(f"Invalid engine {engine!r}: allowed values are {', '.join(ENGINES)}.")
    if engine == "auto" and find_key(api_key) is None and not local_available():
        raise MissingKeyError()
    if engine == "local" or (engine == "auto" and find_key(api_key) is None):
        from .local import LocalEngine

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
    if not isinstance(engine, Engine):
        engine = make_engine(engine or "auto", **engine_args)  # type: ignore[arg-type]
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
    if not isinstance(engine, Engine):
        engine = make_engine(engine or "auto", **engine_args)  # type: ignore[arg-type]
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
