"""Typed errors as data: what went wrong, its kind, the HTTP status, and what to do next.

Every error says what went wrong (`problem`) and, when the user can do something about it,
a `Remedy`: what to do, phrased by each host in its own words from one table here (the CLI
names a command, GIMP a dialog step, Blender its preferences). `str(exc)` is the CLI's
wording; a binding shows `message_for(exc, host=...)` instead. A `Notice` (a line that
reports no failure, such as an engine's) carries a remedy the same way.

No error text ever contains the API key: messages are built from fixed strings and
server-provided details that are truncated and stripped of the Authorization value, and a
cause chained under an error is a `Cause` (the library exception's type and redacted text),
never the library exception itself, which holds the request and its headers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager


class Remedy(enum.Enum):
    """What the user can do about an error; each host phrases it (see `PHRASES`)."""

    SET_KEY = "set-key"  # no key is stored anywhere
    REPLACE_KEY = "replace-key"  # the stored key was refused (401)
    FIX_ENDPOINT = "fix-endpoint"  # the endpoint is not the API's cut URL
    CHECK_ENDPOINT = "check-endpoint"  # a 200 that is not an image: maybe not the API at all
    RESET_CONFIG = "reset-config"  # bgcut's own config file cannot be read
    PASTE_KEY_AGAIN = "paste-key-again"  # the stored key has a character no key has
    KEY_FOR_QUALITY = "key-for-quality"  # `auto` cut offline because no key is set
    INSTALL_MODEL = "install-model"  # the offline model is missing or not the known file
    INSTALL_RUNTIME = "install-runtime"  # the offline engine's onnxruntime is missing
    LOWER_QUALITY = "lower-quality"  # the service took longer than the read timeout


HOSTS = ("cli", "gimp", "blender")

_BLENDER_PREFS = "Edit ▸ Preferences ▸ Add-ons ▸ bgcut"
_LOCAL_ENGINE = "pip install 'bgcut[local]' and `bgcut engine install`"
_GIMP_LOCAL = "`python3 install.py --gimp --local-engine` in the bgcut folder"
_BLENDER_LOCAL = (
    "install the add-on built with the offline engine (`python3 install.py --blender "
    f"--local-engine` in the bgcut folder), or choose Engine: BackgroundCut in {_BLENDER_PREFS}"
)

#: Remedy → host → the sentence that host shows; the CLI's wording is also `str(exc)`.
PHRASES: dict[Remedy, dict[str, str]] = {
    Remedy.SET_KEY: {
        "cli": "Run `bgcut config --set-key` (or set the BACKGROUNDCUT_API_KEY environment "
        "variable); get a key from your BackgroundCut account page. To cut offline without a "
        f"key, install the local engine: {_LOCAL_ENGINE}.",
        "gimp": "Run Layer ▸ Transparency ▸ Remove Background… from GIMP's menu and paste your "
        "key (from your BackgroundCut account page) when it asks; for scripts, store it once "
        "with `bgcut config --set-key`. To cut offline without a key, choose Engine: Offline "
        "model in the dialog (after `bgcut engine install`).",
        "blender": f"Paste your key (from your BackgroundCut account page) into API key in "
        f"{_BLENDER_PREFS}; to cut offline without a key, choose Engine: Offline model there.",
    },
    Remedy.REPLACE_KEY: {
        "cli": "Copy it again from your BackgroundCut account and store it with "
        "`bgcut config --set-key`; a key in BACKGROUNDCUT_API_KEY wins over the stored one, "
        "so fix or unset that variable if it is set.",
        "gimp": "Copy it again from your BackgroundCut account and store it with "
        "`bgcut config --set-key` in a terminal (GIMP asks for a key only while none is "
        "stored), then run Remove Background again.",
        "blender": f"Copy it again from your BackgroundCut account and paste it into API key in {_BLENDER_PREFS}.",
    },
    Remedy.FIX_ENDPOINT: {
        "cli": "Fix it with `bgcut config --endpoint` or unset BACKGROUNDCUT_ENDPOINT.",
        "gimp": "Unset BACKGROUNDCUT_ENDPOINT (or fix it with `bgcut config --endpoint`) and restart GIMP.",
        "blender": f"Clear Endpoint in {_BLENDER_PREFS} (and unset BACKGROUNDCUT_ENDPOINT).",
    },
    Remedy.CHECK_ENDPOINT: {
        "cli": "Check the endpoint (`bgcut config --show`); try again later if it persists.",
        "gimp": "Check the endpoint (BACKGROUNDCUT_ENDPOINT, or `bgcut config --show` in a "
        "terminal); try again later if it persists.",
        "blender": f"Check Endpoint in {_BLENDER_PREFS}; try again later if it persists.",
    },
    Remedy.RESET_CONFIG: {
        "cli": "Remove it and run `bgcut config --set-key` again.",
        "gimp": "Remove it, then run Remove Background again and paste your key when GIMP asks.",
        "blender": f"Remove it, then paste your key into API key in {_BLENDER_PREFS}.",
    },
    Remedy.PASTE_KEY_AGAIN: {
        "cli": "Run `bgcut config --set-key` and paste the key again.",
        "gimp": "Store the key again with `bgcut config --set-key` in a terminal (GIMP asks "
        "for a key only while none is stored), then run Remove Background again.",
        "blender": f"Paste the key again into API key in {_BLENDER_PREFS}.",
    },
    Remedy.KEY_FOR_QUALITY: {
        "cli": "For the service's quality, set a key with `bgcut config --set-key`.",
        "gimp": "For the service's quality, choose Engine: BackgroundCut in the dialog and "
        "paste your key when GIMP asks.",
        "blender": f"For the service's quality, paste your key into API key in {_BLENDER_PREFS}.",
    },
    Remedy.INSTALL_MODEL: {
        "cli": "Run `bgcut engine install` to fetch it (about 4.6 MB, checksum verified).",
        "gimp": "Run `bgcut engine install` in a terminal to fetch it (about 4.6 MB, checksum "
        f"verified), or install the plug-in with its own copy: {_GIMP_LOCAL}; then restart GIMP.",
        "blender": f"To cut offline, {_BLENDER_LOCAL}.",
    },
    Remedy.INSTALL_RUNTIME: {
        "cli": "Install it with pip install 'bgcut[local]'.",
        "gimp": f"Install the plug-in with the offline engine: {_GIMP_LOCAL}; then restart GIMP.",
        "blender": f"To cut offline, {_BLENDER_LOCAL}.",
    },
    Remedy.LOWER_QUALITY: {
        "cli": 'Try again, or use quality Low (`--quality Low`, or quality="Low" in Python) for a '
        "faster answer.",
        "gimp": "Try again, or choose Quality: Low in the dialog for a faster answer.",
        "blender": f"Try again, or choose Quality: Low in {_BLENDER_PREFS} for a faster answer.",
    },
}

UNCHANGED = "Nothing was changed."


class BgcutError(Exception):
    """Base of every error bgcut raises on purpose."""

    #: a short stable identifier, for scripts and bug reports
    kind = "error"
    #: the HTTP status that caused it, where there is one
    status: int | None = None
    #: seconds the service asked to wait (its Retry-After), where it said
    retry_after: float | None = None
    remedy: Remedy | None = None

    def __init__(self, message: str = "", *, remedy: Remedy | None = None) -> None:
        self.problem = message
        if remedy is not None:
            self.remedy = remedy
        super().__init__(phrase(message, self.remedy, "cli"))

    def __reduce__(self) -> tuple:
        """Copied and pickled as it is, not built again from its text (its subclasses'
        constructors differ, and the text already holds the remedy)."""
        return _restore, (type(self), self.args, self.__dict__)


class OptionError(BgcutError, ValueError):
    """An option value the API would refuse; raised before any network call."""

    kind = "option"


class InputError(BgcutError, ValueError):
    """The source image cannot be read or is not a picture bgcut can cut."""

    kind = "input"


class ConfigError(BgcutError):
    """The endpoint or local configuration is unusable."""

    kind = "config"


class InsecureEndpointError(ConfigError):
    """The API key would travel in clear text."""

    kind = "insecure-endpoint"


class MissingKeyError(BgcutError):
    """No API key was found anywhere bgcut looks."""

    kind = "missing-key"

    def __init__(self, message: str = "No BackgroundCut API key is set.") -> None:
        super().__init__(message, remedy=Remedy.SET_KEY)


class ApiError(BgcutError):
    """The service answered with an error status."""

    kind = "api"

    def __init__(
        self,
        message: str = "",
        status: int | None = None,
        *,
        retry_after: float | None = None,
        remedy: Remedy | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy)
        if status is not None:
            self.status = status
        if retry_after is not None:
            self.retry_after = retry_after


class BadRequestError(ApiError):
    kind = "bad-request"
    status = 400


class AuthError(ApiError):
    kind = "auth"
    status = 401
    remedy = Remedy.REPLACE_KEY


class CreditsError(ApiError):
    kind = "credits"
    status = 402


class EndpointError(ApiError):
    """405/450 or a redirect: the configured endpoint is not the API's cut URL."""

    kind = "endpoint"


class TooLargeError(ApiError):
    kind = "too-large"
    status = 413


class RateLimitError(ApiError):
    kind = "rate-limit"
    status = 429

    def __init__(
        self,
        message: str = "",
        retry_after: float | None = None,
        too_long: bool = False,
        *,
        remedy: Remedy | None = None,
    ) -> None:
        super().__init__(message, remedy=remedy)
        self.retry_after = retry_after
        #: the service asked for a wait longer than the retry budget: later requests of a
        #: batch would be refused the same way, so none is sent
        self.too_long = too_long


class ServiceError(ApiError):
    """5xx: the service failed; safe to retry because no credit is charged."""

    kind = "service"


class NetworkError(BgcutError):
    """The request did not complete: no connection, a timeout, a reset."""

    kind = "network"


class CertificateError(NetworkError):
    """The endpoint's TLS certificate could not be verified: asking again cannot help."""

    kind = "certificate"


class TruncatedAnswerError(NetworkError):
    """A 200 answer ended early in transit: it was charged, so it is bought again at most once."""

    kind = "truncated"


class BadAnswerError(BgcutError):
    """The service said 200 but the body is not a usable image."""

    kind = "bad-answer"


class EngineError(BgcutError):
    """The local engine cannot run (missing model or runtime)."""

    kind = "engine"


class CancelledError(BgcutError):
    """The user cancelled the cut."""

    kind = "cancelled"


class NotSentError(CancelledError):
    """A batch item that was never sent: the user stopped, or the service refused the key
    or had no credits left for an earlier item. Nothing was spent on it."""

    kind = "not-sent"


class AbandonedError(CancelledError):
    """The user stopped waiting for a request in flight; its answer, if it still lands, is
    kept in the cache (it is paid for)."""

    kind = "abandoned"


class InvalidKeyError(OptionError, ConfigError):
    """The API key has a character no key has (a line break, a space, non-ASCII).

    Raised wherever a key enters (argument, environment, config file, a host's prompt),
    before any request. It is an OptionError for callers who passed the key and a
    ConfigError for those who configured it; its message names the source, never the key.
    """

    kind = "invalid-key"


class OutputError(BgcutError):
    """An output cannot be written where asked: it exists, is a link or a folder, its name
    asks for a format without alpha, or the disk refused it. Any previous file is kept."""

    kind = "output"


class HostError(BgcutError):
    """A message already in a host's words, shown as it is. The one error a binding raises:
    for its own problems (no layer selected, Blender offline) and, via `for_host`, for a
    core error, which it carries as its cause with the same kind, status and retry-after."""

    kind = "host"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class Notice(str):
    """A line for the user that reports no failure (say, which engine `auto` chose): the
    CLI's wording as a `str`, keeping its problem and remedy for `message_for`."""

    problem: str
    remedy: Remedy | None

    def __new__(cls, problem: str, remedy: Remedy | None = None) -> Notice:
        notice = super().__new__(cls, phrase(problem, remedy, "cli"))
        notice.problem, notice.remedy = problem, remedy
        return notice


class Cause(Exception):
    """What a library raised beneath a BgcutError, as its type and redacted text only.

    The library's own exception is not chained: requests' exceptions hold the request (its
    headers carry the key) and a traceback whose frames hold it too."""

    @classmethod
    def of(cls, exc: BaseException, secret: str = "") -> Cause:
        text = " ".join(str(exc).split())[:300]
        if secret:
            text = text.replace(secret, "****")
        return cls(f"{type(exc).__module__}.{type(exc).__qualname__}: {text}")


def _restore(cls: type[BgcutError], args: tuple, state: dict) -> BgcutError:
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


def phrase(problem: str, remedy: Remedy | None, host: str) -> str:
    """The problem, then what to do in this host's words."""
    if remedy is None:
        return problem
    return f"{problem} {PHRASES[remedy][host]}".strip()


def say_unchanged(text: str) -> str:
    """The one place that adds "Nothing was changed." (once: not when the text says so)."""
    if "nothing was changed" in text.lower():
        return text
    return f"{text.rstrip()} {UNCHANGED}".strip()


def message_for(exc: BaseException | str, host: str = "cli", *, unchanged: bool = False) -> str:
    """What `host` shows for `exc` (or a notice): its own wording of the remedy, and
    "Nothing was changed." when the host knows it is so. A plain string is shown as it is;
    a foreign exception is named by its type only: its text may quote what it was given,
    the key included."""
    if host not in HOSTS:
        raise ValueError(f"Unknown host {host!r}: use one of {', '.join(HOSTS)}.")
    if isinstance(exc, (HostError, str)) and not isinstance(exc, Notice):
        text = str(exc)
    elif isinstance(exc, (BgcutError, Notice)):
        text = phrase(exc.problem, exc.remedy, host)
    else:
        text = f"bgcut failed unexpectedly ({type(exc).__name__}); please report this."
    return say_unchanged(text) if unchanged else text


def for_host(exc: BgcutError, host: str, *, unchanged: bool = False) -> HostError:
    """`exc` as its host shows it, with the same kind, status and retry-after (raise it
    `from exc`)."""
    if isinstance(exc, HostError):
        return exc
    error = HostError(message_for(exc, host, unchanged=unchanged), kind=exc.kind)
    error.status, error.retry_after, error.remedy = exc.status, exc.retry_after, exc.remedy
    return error


@contextmanager
def phrased_for(
    host: str, *, unchanged: bool = False, keep: tuple[type[BgcutError], ...] = ()
) -> Iterator[None]:
    """Core errors raised inside leave as HostErrors in `host`'s words (those of a type in
    `keep` leave as they are, e.g. a cancel the host reports its own way)."""
    try:
        yield
    except BgcutError as exc:
        if isinstance(exc, (HostError, *keep)):
            raise
        raise for_host(exc, host, unchanged=unchanged) from exc
