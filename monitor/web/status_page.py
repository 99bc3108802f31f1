"""The read-only status page: a WSGI application and the thread that serves it.

Routes (GET and HEAD only; any other method is 405, any other path 404):

- ``/``: the watch list, riskiest first (level, then deciding P), with the last alert's
  quicklook of each target;
- ``/target/<id>``: one target: its frames, its history figure and its alerts;
- ``/plot/<id>.png``: the history figure (:mod:`monitor.figures.history`);
- ``/quicklook/<target>_<YYYYMMDD>.png``: an alert quicklook, read only from the quicklook
  folder, by a strict file-name pattern (no folders, no ``..``);
- ``/healthz``: ``ok`` while the server answers.

Everything shown goes through jinja2 with autoescape, so a target name or an alert message
is text, never markup. Every response carries a Content-Security-Policy that allows no
script and no other origin, ``X-Content-Type-Options: nosniff`` and ``Cache-Control:
no-store``. A database that cannot be read gives a 503 page saying so (logged); any other
failure a 500 page; neither shows a stack trace.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2

from monitor.domain import AlertLevel
from monitor.errors import StoreError
from monitor.web.page_data import StatusSource, TargetRow
from monitor.wsgi_thread import ServedApp, serve_in_thread

log = logging.getLogger(__name__)

#: Headers of every response.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy",
     "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
ALLOWED_METHODS = ("GET", "HEAD")
#: A quicklook's file name as :func:`monitor.service.alert_maps.quicklook_path` writes it:
#: a target id (letters, digits, ``_.-``, not starting with a dot) and a date.
QUICKLOOK_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}_[0-9]{8}\.png")
_TARGET = re.compile(r"/target/([A-Za-z0-9_.-]{1,64})")
_PLOT = re.compile(r"/plot/([A-Za-z0-9_.-]{1,64})\.png")
_QUICKLOOK = re.compile(r"/quicklook/([^/]*)")
#: How each level is named and coloured on the page (colours as the history figure's).
LEVEL_LABELS: dict[AlertLevel, str] = {AlertLevel.NONE: "none", AlertLevel.WATCH: "WATCH",
                                       AlertLevel.WARNING: "WARNING"}
#: Seconds a request may stall (a browser's idle preconnection included) before its
#: thread gives up on it.
REQUEST_TIMEOUT_S = 10.0

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Response:
    """What the application answers: status, content type, body and extra headers."""

    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = field(default=())


def risk_order(rows: Sequence[TargetRow]) -> list[TargetRow]:
    """The rows riskiest first: higher level, then higher deciding P (none last); ties keep
    the configuration order."""
    return sorted(rows, key=lambda r: (-int(r.level), -(r.p_decision if r.p_decision
                                                        is not None else -1.0)))


def _p(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _p_value(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1e}" if 0 < value < 1e-3 else f"{value:.3f}"


def _day(value: date | None) -> str:
    return "—" if value is None else value.isoformat()


def _days(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} d"


def _when(value: datetime | None) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def _level(value: AlertLevel) -> str:
    return LEVEL_LABELS.get(AlertLevel(value), str(value))


def _level_class(value: AlertLevel) -> str:
    return AlertLevel(value).name.lower()


def template_environment() -> jinja2.Environment:
    """The templates (package data ``monitor/web/templates``), autoescaped, with the
    page's filters."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("monitor.web", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(p=_p, p_value=_p_value, day=_day, days=_days, when=_when,
                       level=_level, level_class=_level_class)
    return env


class StatusPageApp:
    """The WSGI application of the status page.

    Args:
        source: Where the watch is read (the service's
            :class:`~monitor.service.status_page.WatchStatusSource`).
        quicklook_dir: The folder of alert quicklooks (``watch.quicklook_dir``).
        refresh_s: Seconds between the browser's reloads of a page (0: none).
    """

    def __init__(self, source: StatusSource, quicklook_dir: str | Path,
                 refresh_s: int = 300) -> None:
        self.source = source
        self.quicklook_dir = Path(quicklook_dir)
        self.refresh_s = int(refresh_s)
        self.env = template_environment()

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "") or "/")
        response = self.respond(method, path)
        status = HTTPStatus(response.status)
        headers = [("Content-Type", response.content_type),
                   ("Content-Length", str(len(response.body))),
                   *SECURITY_HEADERS, *response.headers]
        start_response(f"{status.value} {status.phrase}", headers)
        return [b"" if method == "HEAD" else response.body]

    def respond(self, method: str, path: str) -> Response:
        """The response to ``method`` on ``path`` (never raises)."""
        if method not in ALLOWED_METHODS:
            return self._error(405, "Method not allowed",
                               "This page is read-only: only GET and HEAD are answered.",
                               headers=(("Allow", ", ".join(ALLOWED_METHODS)),))
        try:
            return self._route(path)
        except StoreError as exc:
            log.error("status page %s: the watch database cannot be read: %s", path, exc)
            return self._error(503, "Database unavailable",
                               "The watch database cannot be read right now, so the "
                               "status cannot be shown. The daemon's log says why; this "
                               "page tries again when reloaded.")
        except Exception:  # the page must answer, and never with a stack trace
            log.exception("status page %s failed", path)
            return self._error(500, "Internal error",
                               "The status page failed to draw this view; the daemon's "
                               "log has the details.")

    def _route(self, path: str) -> Response:
        if path == "/":
            rows = risk_order(self.source.targets())
            return self._html(200, "index.html", targets=rows)
        if path == "/healthz":
            return Response(200, "text/plain; charset=utf-8", b"ok\n")
        if m := _TARGET.fullmatch(path):
            row = self.source.target(m.group(1))
            if row is None:
                return self._not_found()
            return self._html(200, "target.html", t=row)
        if m := _PLOT.fullmatch(path):
            png = self.source.history_png(m.group(1))
            return self._not_found() if png is None else Response(200, "image/png", png)
        if m := _QUICKLOOK.fullmatch(path):
            return self._quicklook(m.group(1))
        return self._not_found()

    def _quicklook(self, name: str) -> Response:
        if not QUICKLOOK_NAME.fullmatch(name) or ".." in name:
            log.warning("status page: quicklook name %r refused", name)
            return self._not_found()
        folder = self.quicklook_dir.resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            return self._not_found()
        return Response(200, "image/png", path.read_bytes())

    def _html(self, status: int, template: str, **context: Any) -> Response:
        text = self.env.get_template(template).render(
            now=self.source.now(), refresh_s=self.refresh_s, **context)
        return Response(status, HTML, text.encode("utf-8"))

    def _error(self, status: int, title: str, message: str,
               headers: tuple[tuple[str, str], ...] = ()) -> Response:
        text = self.env.get_template("error.html").render(
            status=status, title=title, message=message, refresh_s=self.refresh_s)
        return Response(status, HTML, text.encode("utf-8"), headers)

    def _not_found(self) -> Response:
        return self._error(404, "Not found", "There is no such page, target or image.")


#: The running status page (:func:`start_status_page_server`).
StatusPageServer = ServedApp


def start_status_page_server(app: StatusPageApp, host: str = "127.0.0.1",
                             port: int = 9310) -> StatusPageServer:
    """Serve ``app`` over HTTP from a daemon thread, one thread per request (a browser's
    idle preconnection must not hold the page; :func:`monitor.wsgi_thread.serve_in_thread`).

    Args:
        app: The application.
        host: Listen address; 127.0.0.1 by default (expose it deliberately).
        port: TCP port; 0 picks a free one (read it back from the result).

    Returns:
        The running server; call ``shutdown()`` to stop it.

    Raises:
        OSError: The address is in use or cannot be bound (message names host:port).
    """
    return serve_in_thread(app, host, port, name="status page", section="status_page",
                           request_timeout_s=REQUEST_TIMEOUT_S)
