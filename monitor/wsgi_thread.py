"""A WSGI application served over HTTP from a daemon thread: how the daemon runs its
``/metrics`` endpoint (:mod:`monitor.metrics`) and its status page (:mod:`monitor.web`).

One way to bind (an error that names the address and the configuration section), name the
thread, log the address, answer requests (one thread each, so an idle browser connection
holds nothing; request lines logged at debug level) and stop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger(__name__)

#: A WSGI application (PEP 3333).
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """One thread per request."""

    daemon_threads = True


def _handler(name: str, timeout_s: float | None) -> type[WSGIRequestHandler]:
    class Handler(WSGIRequestHandler):
        timeout = timeout_s

        def log_message(self, format: str, *args: object) -> None:
            log.debug(f"{name} %s - " + format, self.address_string(), *args)

    return Handler


@dataclass
class ServedApp:
    """An application served from a daemon thread.

    Attributes:
        name: What it is, in log lines and errors (``metrics``, ``status page``).
        host: Address it listens on.
        port: Port it listens on (the real one when 0 was asked for).
        path: The path of its main page.
    """

    name: str
    host: str
    port: int
    path: str
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        """The address of its main page."""
        return f"http://{self.host}:{self.port}{self.path}"

    def shutdown(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_in_thread(app: WsgiApp, host: str, port: int, *, name: str, section: str,
                    path: str = "/", request_timeout_s: float | None = None) -> ServedApp:
    """Serve ``app`` over HTTP from a daemon thread.

    Args:
        app: The application.
        host: Listen address (127.0.0.1 keeps it on this machine).
        port: TCP port; 0 picks a free one (read it back from the result).
        name: What it is, in the thread's name, log lines and errors.
        section: The configuration section whose ``host``/``port`` an error points to.
        path: The path of its main page (its logged URL).
        request_timeout_s: Socket timeout of one request (None: none).

    Returns:
        The running server; call ``shutdown()`` to stop it.

    Raises:
        OSError: The address is in use or cannot be bound (the message names host:port
            and the section to change).
    """
    try:
        server = make_server(host, port, app, server_class=_ThreadingWSGIServer,
                             handler_class=_handler(name, request_timeout_s))
    except OSError as exc:
        raise OSError(exc.errno, f"{name} cannot listen on {host}:{port}: {exc.strerror}; "
                      f"choose another [{section}] host/port") from exc
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name=f"{name.replace(' ', '-')}-{host}:{server.server_port}",
                              daemon=True)
    thread.start()
    served = ServedApp(name, host, int(server.server_port), path, server, thread)
    log.info("%s served on %s", name, served.url)
    return served
