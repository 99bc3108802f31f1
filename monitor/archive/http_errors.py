"""The one place where HTTP failures of the archive client become typed errors (STYLE rule 5).

Transient failures (timeouts, refused or dropped connections, HTTP 5xx and 429) become
:class:`ArchiveUnavailable` (a timeout or a request past its total deadline:
:class:`ArchiveTimeout`; a 429 or 503 with ``Retry-After``: :class:`ArchiveThrottled`) and
are retried by the client; a body that is not the product it claims to be becomes
:class:`BrokenProduct`; everything else (HTTP 4xx, a body over its size cap, a redirect or
link to a host not allowed, a page that is not a directory listing) becomes
:class:`ArchiveError`. Messages name the URL and keep the server's status and the start of
its answer.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import requests

from monitor.errors import ArchiveError, ArchiveThrottled, ArchiveTimeout, ArchiveUnavailable

#: Characters of the server's answer kept in error messages.
SNIPPET_CHARS = 200


def _snippet(response: requests.Response, body_start: str | None = None) -> str:
    if body_start is not None:
        text = body_start
    else:
        try:
            text = response.text
        except (requests.RequestException, UnicodeDecodeError, RuntimeError, OSError):
            text = ""
    text = " ".join(text.split())
    return text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")


def archive_error(
    url: str,
    *,
    exc: BaseException | None = None,
    response: requests.Response | None = None,
    detail: str = "",
    body_start: str | None = None,
) -> ArchiveError:
    """Map a failed request, a bad status or a bad body to the archive error tree.

    Args:
        url: The URL requested (named in the message).
        exc: The exception raised by ``requests`` (or a parser), if any.
        response: The server's response, if one came back.
        detail: What was wrong with the body (malformed listing, broken product...).
        body_start: The start of the server's answer, already read within the request's
            deadline and size cap (the body is not read again when given).

    Returns:
        ``ArchiveTimeout`` for timeouts, ``ArchiveUnavailable`` for connection errors,
        HTTP 5xx and 429; ``ArchiveError`` otherwise. The caller raises it.
    """
    if response is not None and response.status_code >= 400:
        status = response.status_code
        snippet = _snippet(response, body_start)
        msg = f"{url}: HTTP {status} {response.reason or ''}".rstrip()
        if snippet:
            msg += f" (server said: {snippet!r})"
        if detail:
            msg += f"; {detail}"
        if status >= 500 or status == 429:
            wait_s = retry_after_s(response)
            if wait_s is not None and status in (429, 503):
                return ArchiveThrottled(f"{msg}; the archive asks to wait {wait_s:.0f} s "
                                        "(Retry-After)", retry_after_s=wait_s)
            return ArchiveUnavailable(msg + "; the archive is failing, will retry later")
        return ArchiveError(msg + "; check the base URL, frame id and pair")
    if isinstance(exc, requests.Timeout):
        return ArchiveTimeout(f"{url}: timed out ({exc}); the archive is slow or down")
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return ArchiveUnavailable(f"{url}: connection failed or dropped ({exc})")
    if isinstance(exc, requests.RequestException):
        return ArchiveError(f"{url}: request failed ({exc})")
    msg = f"{url}: {detail or 'invalid answer'}"
    if exc is not None:
        msg += f" ({exc})"
    if response is not None:
        snippet = _snippet(response, body_start)
        if snippet:
            msg += f" (HTTP {response.status_code}, server said: {snippet!r})"
    return ArchiveError(msg)


def check_response(response: requests.Response, url: str,
                   body_start: str | None = None) -> None:
    """Raise the mapped error when ``response`` has an HTTP error status."""
    if response.status_code >= 400:
        raise archive_error(url, response=response, body_start=body_start)


def retry_after_s(response: requests.Response, now_s: float | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, seconds (delta-seconds or an HTTP date;
    a date in the past is 0); None when absent or unreadable."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now_s is None else now_s))


def throttled_beyond(url: str, exc: ArchiveThrottled, cap_s: float,
                     left_s: float) -> ArchiveThrottled:
    """A ``Retry-After`` the client will not wait for: longer than ``max_retry_after_s`` or
    than what the request's deadline leaves."""
    wait = exc.retry_after_s if exc.retry_after_s is not None else float("nan")
    return ArchiveThrottled(
        f"{exc}; not waiting {wait:.0f} s in this poll (cap max_retry_after_s = {cap_s:g} s, "
        f"{max(left_s, 0.0):.0f} s left of the deadline); retried at a later poll",
        retry_after_s=exc.retry_after_s)


def deadline_exceeded(url: str, deadline_s: float, received_bytes: int) -> ArchiveTimeout:
    """The request (all its attempts and waits) ran past its total deadline."""
    return ArchiveTimeout(
        f"{url}: no complete answer within the total deadline of {deadline_s:g} s "
        f"({received_bytes:,} bytes received); the archive is too slow or trickling its "
        "answer; nothing partial is used (raise deadline_s / listing_deadline_s if the "
        "archive is just slow)")


def too_large(url: str, what: str, cap_bytes: int, *, announced: int | None = None,
              received: int | None = None) -> ArchiveError:
    """A body over its size cap, refused from its Content-Length or while counting it."""
    how = (f"the server announced {announced:,} bytes" if announced is not None
           else f"more than {received or cap_bytes:,} bytes arrived")
    key = "max_listing_bytes" if what == "listing" else "max_product_bytes"
    return ArchiveError(f"{url}: {what} larger than the cap of {cap_bytes:,} bytes ({how}); "
                        f"refused, nothing kept (raise [archives.NAME] {key} if it is genuine)")


def redirect_refused(url: str, location: str, reason: str) -> ArchiveError:
    """A redirect the client does not follow (another host, another scheme, too many)."""
    return ArchiveError(f"{url}: redirect to {location!r} refused: {reason}")


def not_a_listing(url: str, reason: str, body_start: str = "") -> ArchiveError:
    """A 200 answer that is not a directory listing (a login page, an error page, garbage):
    an error, never an empty listing."""
    text = " ".join(body_start.split())
    snippet = text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")
    msg = f"{url}: not a directory listing ({reason})"
    if snippet:
        msg += f" (server said: {snippet!r})"
    return ArchiveError(msg + "; check base_url and whether the archive moved or now asks "
                        "for a login")


def gave_up(exc: ArchiveUnavailable, note: str) -> ArchiveUnavailable:
    """``exc`` annotated with why the client stopped retrying; its type (timeout, throttled)
    and ``retry_after_s`` are kept for the metrics and the pipeline."""
    if isinstance(exc, ArchiveThrottled):
        return ArchiveThrottled(f"{exc} ({note})", retry_after_s=exc.retry_after_s)
    return type(exc)(f"{exc} ({note})")


def token_refused(exc: ArchiveError, token_env: str) -> ArchiveError:
    """An HTTP 401 or 403 from an archive that takes a bearer token (the Tellus search and
    download API): the token, not the URL, is what to check. ``exc`` is the mapped error of
    that answer; the token itself is never part of the message (the caller masks any echo
    of it in the server's answer)."""
    return ArchiveError(f"{exc}; the archive refused the API token read from the "
                        f"environment variable {token_env}: check that it is set to a valid, "
                        "unexpired token for this archive")


def bad_json(url: str, what: str, reason: str) -> ArchiveError:
    """A JSON answer of an API (a search page, a file list) that is not what it should be:
    not JSON, a field missing or of the wrong type, a page loop. ``what`` names the part
    (``item 3 (ALOS2...) field 'path_number'``)."""
    return ArchiveError(f"{url}: {what}: {reason}; the archive's answer is not the expected "
                        "search JSON (check base_url, or report the change of the API)")
