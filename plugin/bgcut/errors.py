"""Typed errors: every message says what went wrong and what the user can do next.

No error text ever contains the API key: messages are built from fixed strings and
server-provided details that are truncated and stripped of the Authorization value.
"""

from __future__ import annotations


class BgcutError(Exception):
    """Base of every error bgcut raises on purpose."""

    #: True when repeating the same request later may succeed.
    retryable = False


class OptionError(BgcutError, ValueError):
    """An option value the API would refuse; raised before any network call."""


class InputError(BgcutError, ValueError):
    """The source image cannot be read or is not a picture bgcut can cut."""


class ConfigError(BgcutError):
    """The endpoint or local configuration is unusable."""


class InsecureEndpointError(ConfigError):
    """The API key would travel in clear text."""


class MissingKeyError(BgcutError):
    """No API key was found anywhere bgcut looks."""

    def __init__(self) -> None:
        super().__init__(
            "No BackgroundCut API key is set. Run `bgcut config --set-key` (or set the "
            "BACKGROUNDCUT_API_KEY environment variable); get a key from your "
            "BackgroundCut account page. To cut offline without a key, install the local "
            "engine: pip install 'bgcut[local]' and `bgcut engine install`."
        )


class ApiError(BgcutError):
    """The service answered with an error status."""

    status: int = 0

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequestError(ApiError):
    status = 400


class AuthError(ApiError):
    status = 401


class CreditsError(ApiError):
    status = 402


class EndpointError(ApiError):
    """405/450 or a redirect: the configured endpoint is not the API's cut URL."""


class TooLargeError(ApiError):
    status = 413


class RateLimitError(ApiError):
    status = 429
    retryable = True

    def __init__(self, message: str, retry_after: float | None = None, too_long: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        #: the service asked for a wait longer than the retry budget: later requests of a
        #: batch would be refused the same way, so none is sent
        self.too_long = too_long


class ServiceError(ApiError):
    """5xx: the service failed; safe to retry because no credit is charged."""

    retryable = True


class NetworkError(BgcutError):
    """The request did not complete: no connection, a timeout, a reset."""

    retryable = True


class TruncatedAnswerError(NetworkError):
    """A 200 answer ended early in transit: it was charged, so it is bought again at most once."""


class BadAnswerError(BgcutError):
    """The service said 200 but the body is not a usable image."""

    retryable = True


class EngineError(BgcutError):
    """The local engine cannot run (missing model or runtime)."""


class CancelledError(BgcutError):
    """The user cancelled the cut."""


class NotSentError(CancelledError):
    """A batch item that was never sent: the user stopped, or the service refused the key
    or had no credits left for an earlier item. Nothing was spent on it."""


class AbandonedError(CancelledError):
    """The user stopped waiting for a request in flight; its answer, if it still lands, is
    kept in the cache (it is paid for)."""


class InvalidKeyError(OptionError, ConfigError):
    """The API key has a character no key has (a line break, a space, non-ASCII).

    Raised wherever a key enters (argument, environment, config file, a host's prompt),
    before any request. It is an OptionError for callers who passed the key and a
    ConfigError for those who configured it; its message names the source, never the key.
    """


class OutputError(BgcutError):
    """An output cannot be written where asked: it exists, is a link or a folder, its name
    asks for a format without alpha, or the disk refused it. Any previous file is kept."""
