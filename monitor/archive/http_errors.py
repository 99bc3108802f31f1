"""The one place where HTTP failures of the archive client become typed errors (STYLE rule 5).

Transient failures (timeouts, refused or dropped connections, HTTP 5xx and 429) become
:class:`ArchiveUnavailable` (a timeout: :class:`ArchiveTimeout`) and are retried by the
client; a body that is not the product it claims to be becomes :class:`BrokenProduct`;
everything else (HTTP 4xx, a malformed listing) becomes :class:`ArchiveError`. Messages
name the URL and keep the server's status and the start of its answer.
"""

from __future__ import annotations

import requests

from monitor.errors import ArchiveError, ArchiveTimeout, ArchiveUnavailable

#: Characters of the server's answer kept in error messages.
SNIPPET_CHARS = 200


def _snippet(response: requests.Response) -> str:
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
) -> ArchiveError:
    """Map a failed request, a bad status or a bad body to the archive error tree.

    Args:
        url: The URL requested (named in the message).
        exc: The exception raised by ``requests`` (or a parser), if any.
        response: The server's response, if one came back.
        detail: What was wrong with the body (malformed listing, broken product...).

    Returns:
        ``ArchiveTimeout`` for timeouts, ``ArchiveUnavailable`` for connection errors,
        HTTP 5xx and 429; ``ArchiveError`` otherwise. The caller raises it.
    """
    if response is not None and response.status_code >= 400:
        status = response.status_code
        snippet = _snippet(response)
        msg = f"{url}: HTTP {status} {response.reason or ''}".rstrip()
        if snippet:
            msg += f" (server said: {snippet!r})"
        if detail:
            msg += f"; {detail}"
        if status >= 500 or status == 429:
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
        snippet = _snippet(response)
        if snippet:
            msg += f" (HTTP {response.status_code}, server said: {snippet!r})"
    return ArchiveError(msg)


def check_response(response: requests.Response, url: str) -> None:
    """Raise the mapped error when ``response`` has an HTTP error status."""
    if response.status_code >= 400:
        raise archive_error(url, response=response)
