"""HTTP status → typed error, as a table: one row per status (or range) the API answers.

A row's text may name `{status}` and `{said}` (the service's own words, truncated, the key
stripped, nothing when it sent an HTML page).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import (
    ApiError,
    AuthError,
    BadRequestError,
    CreditsError,
    EndpointError,
    RateLimitError,
    Remedy,
    ServiceError,
    TooLargeError,
)
from .retry import parse_retry_after


@dataclass(frozen=True)
class StatusRow:
    statuses: range
    error: type[ApiError]
    text: str
    remedy: Remedy | None = None


def _one(status: int) -> range:
    return range(status, status + 1)


STATUS_TABLE: tuple[StatusRow, ...] = (
    StatusRow(
        _one(400),
        BadRequestError,
        "The service refused the request as invalid (400): the image could not be processed "
        "or a parameter was wrong.{said} Try another image or other options.",
    ),
    StatusRow(_one(401), AuthError, "The API key is missing or invalid (401).", Remedy.REPLACE_KEY),
    StatusRow(
        _one(402),
        CreditsError,
        "No BackgroundCut credits left (402). Buy more credits in your BackgroundCut account, "
        "then run again; cuts already done are cached and cost nothing.",
    ),
    *(
        StatusRow(
            _one(status),
            EndpointError,
            "The endpoint is misconfigured ({status}): the API accepts only POST to exactly "
            "https://api.backgroundcut.co/v2/cut/ (with the trailing slash).",
            Remedy.FIX_ENDPOINT,
        )
        for status in (405, 450)
    ),
    StatusRow(
        range(300, 400),
        EndpointError,
        "The endpoint answered with a redirect ({status}); bgcut does not follow redirects so "
        "the key stays with the API. Configure the final https URL.",
    ),
    StatusRow(
        _one(413),
        TooLargeError,
        "The upload was larger than the API's 12 MB limit (413). Lower max_resolution and try again.",
    ),
    StatusRow(
        _one(429),
        RateLimitError,
        "The API's rate limit was reached (429). Wait a minute and try again, or cut fewer images at once.",
    ),
    StatusRow(
        range(500, 1000),
        ServiceError,
        "The BackgroundCut service failed ({status}). No credit was charged; try again in a few minutes.",
    ),
)

UNEXPECTED = StatusRow(range(0), ApiError, "Unexpected answer {status} from the service.{said}")


def status_error(status: int, body: bytes, retry_after: str | None, key: str) -> ApiError:
    """The typed error for a non-200 answer, from the first row that holds `status`."""
    row = next((r for r in STATUS_TABLE if status in r.statuses), UNEXPECTED)
    detail = _detail(body, key)
    text = row.text.format(status=status, said=f" The service said: {detail}" if detail else "")
    error = row.error(text, retry_after=parse_retry_after(retry_after), remedy=row.remedy)
    error.status = status
    return error


def _detail(body: bytes, key: str) -> str:
    text = body[:300].decode("utf-8", "replace")
    if key:
        text = text.replace(key, "****")
    text = " ".join(text.split())
    if "<html" in text.lower() or "<!doctype" in text.lower():
        return ""
    return text[:200]
