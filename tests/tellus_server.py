"""A Tellus-style PALSAR-2 search API on 127.0.0.1, for the tests of the tellus archive
(tests/test_tellus_archive.py) and of the ALOS-2 watch (tests/test_alos2_watch.py).

``/api/search/palsar2-l11`` answers pages of scenes with a ``next`` link,
``/api/publish/palsar2-l11/<id>`` the scene's files (with sha256 checksums),
``/files/<name>`` the files with HTTP Range support; every request must carry the bearer
token :data:`TOKEN`. Faults are injected through :class:`TellusState` (see its fields).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "tellus-test-token-0123456789"


@dataclass
class TellusState:
    """What the test server serves and what it saw."""

    base: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[str, bytes] = field(default_factory=dict)
    scenes: dict[str, list[str]] = field(default_factory=dict)
    page_size: int = 2
    search_mode: str = ""
    file_fault: dict[str, str] = field(default_factory=dict)
    bad_checksum: set[str] = field(default_factory=set)
    no_checksum: bool = False
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    first_search_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.search_mode, self.no_checksum = "", False
        self.file_fault.clear()
        self.bad_checksum.clear()
        self.requests.clear()

    def seen(self, prefix: str) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.requests if r[1].startswith(prefix)]


class TellusHandler(BaseHTTPRequestHandler):
    server: _TellusServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any) -> None:
        self._send(200, json.dumps(data).encode())

    def do_GET(self) -> None:  # noqa: N802
        st = self.server.state
        parts = urlsplit(self.path)
        with st.lock:
            st.requests.append(("GET", parts.path, dict(self.headers.items())))
            if parts.path.startswith("/api/search") and "page=" not in parts.query:
                st.first_search_url = self.path
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {TOKEN}":  # answers like a careless API: echoing what it got
            self._send(401, json.dumps({"error": f"invalid credentials {auth!r}"}).encode())
            return
        if parts.path == "/api/search/palsar2-l11":
            self._search(st, parse_qs(parts.query))
        elif parts.path.startswith("/api/publish/palsar2-l11/"):
            self._publish(st, parts.path.rsplit("/", 1)[1])
        elif parts.path.startswith("/files/"):
            self._file(st, parts.path.rsplit("/", 1)[1])
        else:
            self._send(404, b'{"error": "not found"}')

    def _search(self, st: TellusState, q: dict[str, list[str]]) -> None:
        if st.search_mode == "not-json":
            self._send(200, b"<html>maintenance</html>", "text/html")
            return
        items = st.items
        if "after" in q:
            items = [i for i in items if i["begin_datetime"][:10] >= q["after"][0][:10]]
        if "bbox" in q:
            lo0, la0, lo1, la1 = (float(v) for v in q["bbox"][0].split(","))
            items = [i for i in items if i["bbox"][0] <= lo1 and i["bbox"][2] >= lo0
                     and i["bbox"][1] <= la1 and i["bbox"][3] >= la0]
        page = int(q.get("page", ["0"])[0])
        chunk = items[page * st.page_size:(page + 1) * st.page_size]
        if st.search_mode == "missing-field":
            chunk = [{k: v for k, v in i.items() if k != "path_number"} for i in chunk]
        others = "&".join(f"{k}={v[0]}" for k, v in q.items() if k != "page")
        nxt: str | None = f"{st.base}/api/search/palsar2-l11?{others}&page={page + 1}"
        if st.search_mode == "loop":
            nxt = f"{st.base}/api/search/palsar2-l11?{others}&page=0" if page else nxt
        elif st.search_mode == "foreign-next":
            nxt = "http://elsewhere.example/api/search/palsar2-l11?page=1"
        elif st.search_mode != "endless" and (page + 1) * st.page_size >= len(items):
            nxt = None
        self._json({"items": chunk, "next": nxt})

    def _publish(self, st: TellusState, dataset_id: str) -> None:
        if dataset_id not in st.scenes:
            self._send(404, b'{"error": "no such scene"}')
            return
        files = []
        for name in st.scenes[dataset_id]:
            data = st.blobs[name]
            digest = hashlib.sha256(data).hexdigest()
            if name in st.bad_checksum:
                digest = hashlib.sha256(data + b"x").hexdigest()
            entry: dict[str, Any] = {"file_name": name, "url": f"{st.base}/files/{name}",
                                     "file_size": len(data)}
            if not st.no_checksum:
                entry["checksum"] = f"sha256:{digest}"
            files.append(entry)
        self._json({"files": files})

    def _file(self, st: TellusState, name: str) -> None:
        data = st.blobs.get(name)
        if data is None:
            self._send(404, b"no such file")
            return
        fault = st.file_fault.get(name, "")
        if fault == "short":  # a file that is not the one the file list announces
            data = data[:-10]
        if fault == "drop-once":  # announce the whole file, send half, hang up
            st.file_fault[name] = ""
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", '"v1"')
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and fault != "ignore-range":
            start = int(rng[len("bytes="):].split("-")[0])
            if start >= len(data):
                self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                return
            self._send(206, data[start:], "application/octet-stream",
                       {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}",
                        "ETag": '"v1"'})
            return
        self._send(200, data, "application/octet-stream", {"ETag": '"v1"'})


class _TellusServer(ThreadingHTTPServer):
    state: TellusState

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on a refused file is expected here


@contextmanager
def serving(state: TellusState) -> Iterator[TellusState]:
    """Serve ``state`` on 127.0.0.1 (a free port, ``state.base`` set) while in the block."""
    srv = _TellusServer(("127.0.0.1", 0), TellusHandler)
    srv.state = state
    state.base = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        srv.shutdown()
        srv.server_close()
