"""HTTP requests with a total deadline, a size cap and redirects to allowed hosts only.

``requests`` bounds each socket operation (connect, one read) but not a request: a server
trickling one byte a second never trips a 60 s read timeout, and a read of a 64 KiB chunk
loops until the chunk is full. Here every request carries a :class:`Deadline` (wall clock,
``time.monotonic``):

* the read timeout is cut to what the deadline leaves;
* while the request is sent, its headers awaited and its body streamed, a watchdog timer
  shuts the connection's socket down when the deadline passes, so a read blocked on a
  silent or trickling peer returns at once and the request fails with
  :class:`~monitor.errors.ArchiveTimeout` naming the URL (the sessions used get a
  :class:`TrackingAdapter`, through which the watchdog finds the connection in use);
* the body is counted as it arrives and refused past its cap (and before reading when
  ``Content-Length`` already says it is too large), so nothing larger than the cap is kept;
* redirects are not followed by ``requests``: :func:`open_response` follows at most
  :data:`MAX_REDIRECTS` hops, each to an allowed host and never from https to http.

What each failure becomes is decided in :mod:`monitor.archive.http_errors`.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from monitor.archive.hosts import HostAllowList, host_of
from monitor.archive.http_errors import (
    archive_error,
    check_response,
    deadline_exceeded,
    gave_up,
    redirect_refused,
    throttled_beyond,
    too_large,
)
from monitor.archive.listing import decode_body
from monitor.errors import ArchiveThrottled, ArchiveUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Redirect hops followed per request.
MAX_REDIRECTS = 5
#: Bytes of an error answer read for its message.
ERROR_BODY_BYTES = 4096
_REDIRECT_CODES = (301, 302, 303, 307, 308)


class Deadline:
    """The wall-clock end of one request, all its attempts and waits included.

    Args:
        seconds: The time allowed, seconds.
        clock: Monotonic clock in seconds (injected by tests).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.end - self._clock()

    def expired(self) -> bool:
        return self.remaining() <= 0


#: The connection each thread is using for its current request (thread id -> connection).
_IN_FLIGHT: dict[int, HTTPConnection] = {}
_IN_FLIGHT_LOCK = threading.Lock()


class _TrackedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[threading.get_ident()] = self
        super().request(*args, **kwargs)


class _TrackedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[threading.get_ident()] = self
        super().request(*args, **kwargs)


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


class TrackingAdapter(HTTPAdapter):
    """A ``requests`` adapter whose connections record which thread is using them, so
    that the deadline's watchdog can shut the right socket down (also while the headers
    are awaited, before any response object exists)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _TrackedHTTPPool,
                                                   "https": _TrackedHTTPSPool}


def track_connections(session: requests.Session) -> None:
    """Mount :class:`TrackingAdapter` on ``session`` for http and https."""
    for prefix in ("http://", "https://"):
        if not isinstance(session.get_adapter(prefix), TrackingAdapter):
            session.mount(prefix, TrackingAdapter())


def _socket_of(ident: int, resp: requests.Response | None) -> socket.socket | None:
    """The socket thread ``ident`` is reading from: its tracked connection's; once a
    response exists, the response's connection's, or, when http.client handed the socket
    over to a response that ends with the connection (no Content-Length), the response's
    own socket file's."""
    with _IN_FLIGHT_LOCK:
        conn: object = _IN_FLIGHT.get(ident)
    candidates = [getattr(conn, "sock", None)]
    if resp is not None:
        raw = resp.raw
        candidates.append(getattr(getattr(raw, "connection", None), "sock", None))
        reader = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        candidates.append(getattr(reader, "_sock", None))
    return next((s for s in candidates if isinstance(s, socket.socket)), None)


class _Watchdog:
    """Shuts the calling thread's connection down when the deadline passes (a read
    blocked in that thread then returns); ``fired`` says it did."""

    def __init__(self, deadline: Deadline, resp: requests.Response | None = None) -> None:
        self.fired = False
        self._resp = resp
        self._ident = threading.get_ident()
        self._timer = threading.Timer(max(deadline.remaining(), 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        sock = _socket_of(self._ident, self._resp)
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also for TLS: it wakes the blocked reader
                # without touching the TLS state that thread is using.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _redirect_refusal(current: str, location: str, hosts: HostAllowList) -> str | None:
    if urlsplit(current).scheme == "https" and urlsplit(location).scheme == "http":
        return "from https to http"
    if not hosts.allows(location):
        return (f"host {host_of(location)!r} is not in allowed_hosts ({hosts.describe()})")
    return None


def open_response(session: requests.Session, method: str, url: str, *,
                  timeout_s: tuple[float, float], deadline: Deadline,
                  hosts: HostAllowList,
                  headers: Mapping[str, str] | None = None) -> requests.Response:
    """Send ``method url`` (streamed) and follow redirects to allowed hosts only.

    ``headers`` (a bearer token, a ``Range``) go with every hop; they can only reach an
    allowed host, since a redirect anywhere else is refused before it is followed.

    Returns:
        The final response, any status; its body not read yet (``resp.url`` is where it
        came from).

    Raises:
        ArchiveTimeout: the deadline passed (or a socket timeout).
        ArchiveUnavailable: the connection failed.
        ArchiveError: a redirect to a host not allowed, from https to http, or too many.
    """
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        left = deadline.remaining()
        if left <= 0:
            raise deadline_exceeded(url, deadline.seconds, 0)
        read_s = min(timeout_s[1], left)
        dog = _Watchdog(deadline)
        try:
            with dog:
                resp = session.request(method, current, stream=True, allow_redirects=False,
                                       timeout=(min(timeout_s[0], read_s), read_s),
                                       headers=dict(headers) if headers else None)
            if dog.fired:
                resp.close()
                raise deadline_exceeded(url, deadline.seconds, 0)
        except requests.RequestException as exc:
            if dog.fired or deadline.expired():
                raise deadline_exceeded(url, deadline.seconds, 0) from None
            raise archive_error(current, exc=exc) from None
        location = resp.headers.get("Location")
        if resp.status_code not in _REDIRECT_CODES or not location:
            return resp
        resp.close()
        target = urljoin(current, location)
        reason = _redirect_refusal(current, target, hosts)
        if reason is not None:
            raise redirect_refused(url, target, reason)
        if resp.status_code == 303 and method != "HEAD":
            method = "GET"
        current = target
    raise redirect_refused(url, current, f"more than {MAX_REDIRECTS} redirects")


def refuse_announced_oversize(resp: requests.Response, url: str, cap_bytes: int,
                              what: str) -> None:
    """Refuse (and close) a response whose Content-Length is over the cap, before reading."""
    length = resp.headers.get("Content-Length", "").strip()
    if length.isdigit() and int(length) > cap_bytes:
        resp.close()
        raise too_large(url, what, cap_bytes, announced=int(length))


def stream_body(resp: requests.Response, url: str, *, deadline: Deadline, cap_bytes: int,
                what: str, sink: Callable[[bytes], object], chunk_bytes: int) -> int:
    """Hand the body of ``resp`` to ``sink`` chunk by chunk within the deadline and the cap.

    Args:
        resp: A streamed response with a success status.
        url: The URL named in errors.
        deadline: The request's deadline.
        cap_bytes: The most bytes accepted; a chunk that would pass it is not handed on.
        what: ``listing`` or ``product`` (named in errors).
        sink: Receives each chunk (appends to a buffer, writes a file...).
        chunk_bytes: Chunk size asked of ``requests``.

    Returns:
        The number of bytes handed to ``sink``.

    Raises:
        ArchiveTimeout: the deadline passed before the body was complete.
        ArchiveUnavailable: the connection dropped mid-body.
        ArchiveError: the body is larger than ``cap_bytes`` (announced or counted).
    """
    n = 0
    try:
        refuse_announced_oversize(resp, url, cap_bytes, what)
        with _Watchdog(deadline, resp) as dog:
            try:
                for chunk in resp.iter_content(chunk_bytes):
                    if dog.fired or deadline.expired():
                        raise deadline_exceeded(url, deadline.seconds, n)
                    if n + len(chunk) > cap_bytes:
                        raise too_large(url, what, cap_bytes, received=cap_bytes)
                    sink(chunk)
                    n += len(chunk)
            except requests.RequestException as exc:
                if dog.fired or deadline.expired():
                    raise deadline_exceeded(url, deadline.seconds, n) from None
                raise archive_error(url, exc=exc, detail=f"{what} truncated") from None
        if dog.fired:  # the shut socket ended a body of unknown length early
            raise deadline_exceeded(url, deadline.seconds, n)
    finally:
        resp.close()
    return n


def raise_for_status(resp: requests.Response, url: str, deadline: Deadline) -> None:
    """For an error status, read the start of the answer (within the deadline) and raise
    the mapped error; nothing for a success."""
    if resp.status_code < 400:
        return
    start = bytearray()

    def keep(chunk: bytes) -> None:
        start.extend(chunk[: ERROR_BODY_BYTES - len(start)])

    with contextlib.suppress(requests.RequestException, OSError, ValueError), \
            _Watchdog(deadline, resp):
        for chunk in resp.iter_content(1024):
            keep(chunk)
            if len(start) >= ERROR_BODY_BYTES or deadline.expired():
                break
    resp.close()
    text = decode_body(bytes(start), resp.encoding)
    check_response(resp, url, body_start=text)


def with_retries(url: str, deadline: Deadline, attempt_once: Callable[[], T], *,
                 retries: int, backoff_s: float, max_retry_after_s: float,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """``attempt_once()`` until it succeeds, retrying transient failures while ``retries``
    and the deadline allow.

    Only :class:`~monitor.errors.ArchiveUnavailable` is retried, after
    ``backoff_s * 2**attempt`` seconds; a ``Retry-After`` is waited for when it is at most
    ``max_retry_after_s`` and within the deadline, else
    :class:`~monitor.errors.ArchiveThrottled` is raised at once (retried at a later poll).

    Raises:
        ArchiveUnavailable: the last attempt's failure, annotated with why the retries
            stopped (its type and ``retry_after_s`` kept).
        ArchiveError: any other failure of an attempt, at once.
    """
    for attempt in range(retries + 1):
        try:
            return attempt_once()
        except ArchiveUnavailable as exc:
            left = deadline.remaining()
            if left <= 0:  # the whole request ran out of time: no retry in this poll
                raise
            delay = backoff_s * 2**attempt
            if isinstance(exc, ArchiveThrottled) and exc.retry_after_s is not None:
                if exc.retry_after_s > max_retry_after_s or exc.retry_after_s >= left:
                    raise throttled_beyond(url, exc, max_retry_after_s, left) from None
                delay = max(delay, exc.retry_after_s)
            if attempt == retries:
                raise gave_up(exc, f"gave up after {attempt + 1} attempts") from None
            if delay >= left:
                raise gave_up(exc, f"gave up after {attempt + 1} attempts: the next "
                              f"in {delay:.1f} s would pass the deadline") from None
            log.warning("archive %s unavailable (attempt %d of %d), retrying in %.1f s: %s",
                        url, attempt + 1, retries + 1, delay, exc)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
