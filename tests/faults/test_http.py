"""Fault suite for the archive's HTTP client (issue 10: reliability and security).

A real HTTP server on 127.0.0.1, in a thread, answers each path from a script of replies
(:class:`Reply`: status, headers, body, and how the body is delivered: trickled, stalled,
reset after N bytes, with a true, lying or absent Content-Length). Each test scripts the
faults of one kind and checks the typed error and what is left on disk; every faulty reply
served is counted in the ``faults`` tally by kind, and the figures of the reliability note
(time a trickled request holds a worker, largest body written before a refusal) are
measured here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.archive import LicsarHttpArchive, cache
from monitor.archive.bounded_http import _redirect_refusal
from monitor.archive.hosts import HostAllowList, LinkScope
from monitor.archive.listing import NAME_RE, parse_listing_bytes
from monitor.errors import (
    ArchiveError,
    ArchiveThrottled,
    ArchiveTimeout,
    ArchiveUnavailable,
    BrokenProduct,
    InputError,
)
from monitor.io.rasters import write_raster
from monitor.metrics import failure_label
from tests.faults.conftest import FaultTally

FRAME = "022D_04826_121209"
PAIR = "20240106_20240118"
IFG = f"/22/{FRAME}/interferograms/"
PAIR_DIR = f"{IFG}{PAIR}/"
UNW = f"{PAIR_DIR}{PAIR}.geo.unw.tif"
CC = f"{PAIR_DIR}{PAIR}.geo.cc.tif"


@dataclass
class Reply:
    """One scripted answer.

    Attributes:
        status: HTTP status.
        body: The body (what is actually sent may be cut by ``drop_after``).
        ctype: Content-Type.
        length: ``"auto"`` (the body's length), an int (announced, true or not), or None
            (no Content-Length: the body ends when the connection closes).
        headers: Extra headers (Location, Retry-After...).
        trickle_s: Seconds between single bytes of the body (0: all at once).
        trickle_headers: Trickle the status line and headers too (``trickle_s`` apart).
        stall_s: Seconds of silence after the headers, before the body.
        drop_after: End the body after this many bytes: reset the connection (RST) when
            ``rst``, else close it cleanly (FIN).
        head_length: Content-Length announced to HEAD instead (a lie), when given.
        fault: Kind counted in the fault tally when served ("" for a healthy reply).
    """

    status: int = 200
    body: bytes = b""
    ctype: str = "text/html"
    length: int | str | None = "auto"
    headers: dict[str, str] = field(default_factory=dict)
    trickle_s: float = 0.0
    trickle_headers: bool = False
    stall_s: float = 0.0
    drop_after: int | None = None
    rst: bool = True
    head_length: int | None = None
    fault: str = ""


@dataclass
class Script:
    """Replies per path (served in order, the last one repeated) and what was served."""

    routes: dict[str, list[Reply]] = field(default_factory=dict)
    gets: Counter[str] = field(default_factory=Counter)
    served_faults: Counter[str] = field(default_factory=Counter)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_host(self) -> str:
        """The same server under another host name (not on the default allow-list)."""
        return f"http://localhost:{self.port}"

    def set(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def next_reply(self, path: str) -> Reply | None:
        replies = self.routes.get(path)
        if not replies:
            return None
        return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # a socket reset on purpose
            super().finish()

    def _serve(self, head: bool) -> None:
        script = self.server.script
        path = urlsplit(self.path).path
        if not head:
            script.gets[path] += 1
        reply = script.next_reply(path)
        if reply is None:
            reply = Reply(404, b"Not Found", "text/plain")
        if reply.fault and (not head or reply.status >= 300):  # body faults: GET only
            script.served_faults[reply.fault] += 1
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        length = len(reply.body) if reply.length == "auto" else reply.length
        if head and reply.head_length is not None:
            length = reply.head_length
        if length is not None:
            self.send_header("Content-Length", str(length))
        if length is None or reply.drop_after is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.send_header("Last-Modified", formatdate(1_700_000_000, usegmt=True))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.trickle_headers:
            head_bytes = b"".join(self._headers_buffer) + b"\r\n"  # type: ignore[attr-defined]
            self._headers_buffer = []  # type: ignore[attr-defined]
            try:
                for i in range(len(head_bytes)):
                    self.wfile.write(head_bytes[i:i + 1])
                    self.wfile.flush()
                    time.sleep(reply.trickle_s)
            except OSError:
                self.close_connection = True
                return
        else:
            self.end_headers()
        if head:
            return
        try:
            self._body(reply)
        except OSError:  # the client gave up (deadline, cap): nothing more to send
            self.close_connection = True

    def _body(self, reply: Reply) -> None:
        self.wfile.flush()
        if reply.stall_s:
            time.sleep(reply.stall_s)
        body = reply.body if reply.drop_after is None else reply.body[: reply.drop_after]
        if reply.trickle_s:
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(reply.trickle_s)
        else:
            self.wfile.write(body)
            self.wfile.flush()
        if reply.drop_after is not None and reply.rst:  # RST, not FIN: a reset mid-body
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: Script

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that give up (deadline, cap, reset) are the point of these tests


def index_page(path: str, hrefs: list[str]) -> bytes:
    """An Apache-style index page of ``hrefs`` (with its sort and parent links)."""
    parent = path.rstrip("/").rsplit("/", 1)[0] + "/"
    links = ['<a href="?C=N;O=D">Name</a>', f'<a href="{parent}">Parent Directory</a>']
    links += [f'<a href="{h}">{h}</a>' for h in hrefs]
    return (f"<html><head><title>Index of {path}</title></head><body><h1>Index of {path}</h1>"
            + "<br>\n".join(links) + "</body></html>\n").encode()


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A valid unwrapped phase and coherence GeoTIFF (16 x 16, EPSG:4326)."""
    d = tmp_path_factory.mktemp("products")
    rng = np.random.default_rng(10)
    transform = Affine(0.001, 0, 14.1, 0, -0.001, 40.8)
    unw = write_raster(d / "unw.tif", rng.normal(0, 3, (16, 16)), crs="EPSG:4326",
                       transform=transform, compress=None)
    cc = write_raster(d / "cc.tif", rng.integers(1, 255, (16, 16)), crs="EPSG:4326",
                      transform=transform, dtype="uint8", nodata=0, compress=None)
    return {"unw": unw.read_bytes(), "cc": cc.read_bytes()}


@pytest.fixture(scope="module")
def _server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.script = Script(port=srv.server_address[1])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def script(_server: _Server, products: dict[str, bytes],
           faults: FaultTally) -> Iterator[Script]:
    """A healthy archive of one pair; tests replace the replies of the paths they break.
    Every faulty reply served is added to the tally by kind when the test ends."""
    s = Script(port=_server.server_address[1])
    s.set(IFG, Reply(body=index_page(IFG, [PAIR + "/"])))
    s.set(PAIR_DIR, Reply(body=index_page(PAIR_DIR, [f"{PAIR}.geo.unw.tif",
                                                     f"{PAIR}.geo.cc.tif"])))
    s.set(UNW, Reply(body=products["unw"], ctype="image/tiff"))
    s.set(CC, Reply(body=products["cc"], ctype="image/tiff"))
    _server.script = s
    yield s
    for kind, n in s.served_faults.items():
        faults.injected(kind, n)


def client(script: Script, **kw: object) -> LicsarHttpArchive:
    args: dict[str, object] = {"timeout_s": (2.0, 5.0), "retries": 2, "backoff_s": 0.0,
                               "listing_deadline_s": 5.0, "deadline_s": 10.0}
    args.update(kw)
    return LicsarHttpArchive(script.base, **args)  # type: ignore[arg-type]


def _leftovers(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.rglob("*") if p.is_file())


def _escaped(url: str) -> str:
    return url.replace(".", r"\.").replace("?", r"\?")


# -- 500s and 429 ---------------------------------------------------------------------------


def test_500s_retried_then_recover_or_give_up(script: Script) -> None:
    boom = Reply(500, b"internal boom", "text/plain", fault="http 500")
    script.set(IFG, boom, boom, Reply(body=index_page(IFG, [PAIR + "/"])))
    sleeps: list[float] = []
    assert len(client(script, backoff_s=0.01, sleep=sleeps.append).list_products(FRAME)) == 1
    assert sleeps == [0.01, 0.02]
    script.set(IFG, boom)
    with pytest.raises(ArchiveUnavailable, match="HTTP 500.*internal boom.*gave up after 3"):
        client(script).list_products(FRAME)
    assert script.gets[IFG] == 6


def test_429_retry_after_is_honoured_within_the_cap(script: Script) -> None:
    script.set(IFG, Reply(429, b"slow down", "text/plain", headers={"Retry-After": "2"},
                          fault="http 429 Retry-After"),
               Reply(503, b"maintenance", "text/plain",
                     headers={"Retry-After": formatdate(time.time() + 3, usegmt=True)},
                     fault="http 503 Retry-After"),
               Reply(body=index_page(IFG, [PAIR + "/"])))
    sleeps: list[float] = []
    refs = client(script, backoff_s=0.01, max_retry_after_s=10.0,
                  sleep=sleeps.append).list_products(FRAME)
    assert len(refs) == 1
    assert sleeps[0] == 2.0 and 1.0 <= sleeps[1] <= 3.0  # the server's wait, not the backoff


@pytest.mark.parametrize(("retry_after", "why"), [("3600", "cap"), ("20", "deadline")])
def test_429_retry_after_beyond_the_cap_is_a_typed_retryable_error(
        script: Script, retry_after: str, why: str) -> None:
    script.set(IFG, Reply(429, b"quota exceeded", "text/plain",
                          headers={"Retry-After": retry_after}, fault="http 429 Retry-After"))
    sleeps: list[float] = []
    arch = client(script, max_retry_after_s=60.0, listing_deadline_s=5.0, sleep=sleeps.append)
    with pytest.raises(ArchiveThrottled, match=f"{_escaped(IFG)}.*HTTP 429.*quota exceeded"
                       f".*not waiting {retry_after} s") as info:
        arch.list_products(FRAME)
    assert info.value.retry_after_s == float(retry_after)
    assert isinstance(info.value, ArchiveUnavailable)  # retryable: the next poll tries again
    assert failure_label(info.value) == "http"
    assert script.gets[IFG] == 1 and sleeps == []  # not waited for, not hammered either


# -- trickled and stalled bodies: the total deadline ----------------------------------------


@pytest.mark.parametrize("length", ["auto", None], ids=["content-length", "no-length"])
def test_trickled_listing_hits_the_deadline(script: Script, faults: FaultTally,
                                            length: str | None) -> None:
    """One byte every 50 ms (a 600-byte listing would take 30 s) with a 60 s read timeout
    that never fires: the 1.5 s total deadline does, naming the URL; the partial listing
    (which lists no pair yet) is never read as 'nothing new'."""
    page = index_page(IFG, [PAIR + "/"])
    script.set(IFG, Reply(body=page, length=length, trickle_s=0.05, fault="trickled listing"))
    arch = client(script, timeout_s=(2.0, 60.0), listing_deadline_s=1.5)
    t0 = time.monotonic()
    with pytest.raises(ArchiveTimeout, match=f"{_escaped(IFG)}: no complete answer within "
                       r"the total deadline of 1\.5 s"):
        arch.list_products(FRAME, since=date(2024, 1, 1))
    held = time.monotonic() - t0
    assert 1.5 <= held < 2.5
    assert script.gets[IFG] == 1  # the deadline covers the retries: no second trickle
    faults.measured(f"trickled listing ({length or 'no'} length): worker held s "
                    "(listing_deadline_s 1.5)", round(held, 3))


def test_trickled_headers_hit_the_deadline(script: Script) -> None:
    """A status line and headers trickled a byte every 50 ms (readline() of http.client
    never times out on them): the deadline still fires."""
    script.set(IFG, Reply(body=index_page(IFG, [PAIR + "/"]), trickle_s=0.05,
                          trickle_headers=True, headers={"X-Pad": "a" * 400},
                          fault="trickled headers"))
    t0 = time.monotonic()
    with pytest.raises(ArchiveTimeout, match=f"{_escaped(IFG)}: no complete answer"):
        client(script, timeout_s=(2.0, 30.0), listing_deadline_s=1.0).list_products(FRAME)
    assert time.monotonic() - t0 < 2.0 and script.gets[IFG] == 1


def test_silent_peer_after_headers_hits_the_deadline(script: Script) -> None:
    """Headers, then silence longer than the deadline but shorter than the read timeout."""
    script.set(IFG, Reply(body=index_page(IFG, [PAIR + "/"]), stall_s=8.0,
                          fault="stalled listing"))
    t0 = time.monotonic()
    with pytest.raises(ArchiveTimeout, match=_escaped(IFG)):
        client(script, timeout_s=(2.0, 30.0), listing_deadline_s=1.0).list_products(FRAME)
    assert time.monotonic() - t0 < 2.0


def test_trickled_product_hits_the_deadline(script: Script, products: dict[str, bytes],
                                            tmp_path: Path, faults: FaultTally) -> None:
    arch = client(script, deadline_s=1.5)
    ref = arch.list_products(FRAME)[0]
    script.set(UNW, Reply(body=products["unw"], ctype="image/tiff", trickle_s=0.01,
                          fault="trickled product"))
    t0 = time.monotonic()
    with pytest.raises(ArchiveTimeout, match=f"{_escaped(ref.unw.url)}: no complete answer"):
        arch.fetch(ref, tmp_path)
    held = time.monotonic() - t0
    assert held < 2.5 and script.gets[UNW] == 1
    assert _leftovers(tmp_path) == []  # neither the final file nor a .part
    faults.measured("trickled product: worker held s (deadline_s 1.5)", round(held, 3))


# -- resets and truncation --------------------------------------------------------------------


def test_listing_reset_mid_body_is_retried(script: Script) -> None:
    page = index_page(IFG, [PAIR + "/"])
    reset = Reply(body=page, drop_after=60, fault="connection reset mid-body")
    script.set(IFG, reset, Reply(body=page))
    assert len(client(script).list_products(FRAME)) == 1
    script.set(IFG, reset)
    with pytest.raises(ArchiveUnavailable, match=f"{_escaped(IFG)}.*gave up after 3"):
        client(script).list_products(FRAME)


@pytest.mark.parametrize(("reply", "error"), [
    (Reply(ctype="image/tiff", drop_after=300, fault="connection reset mid-body"),
     ArchiveUnavailable),
    (Reply(ctype="image/tiff", length=None, drop_after=300, rst=False,
           fault="truncated product"),
     BrokenProduct),
], ids=["reset-with-length", "cut-without-length"])
def test_truncated_product_never_cached(script: Script, products: dict[str, bytes],
                                        tmp_path: Path, reply: Reply,
                                        error: type[BaseException]) -> None:
    arch = client(script)
    ref = arch.list_products(FRAME)[0]
    script.set(UNW, dataclasses.replace(reply, body=products["unw"]))
    with pytest.raises(error, match=_escaped(ref.unw.url)) as info:
        arch.fetch(ref, tmp_path)
    assert type(info.value) is error or isinstance(info.value, error)
    assert _leftovers(tmp_path) == []
    assert script.gets[UNW] == (3 if error is ArchiveUnavailable else 1)


# -- oversize bodies --------------------------------------------------------------------------


@pytest.fixture
def discarded(monkeypatch: pytest.MonkeyPatch, faults: FaultTally) -> Iterator[list[int]]:
    """Sizes of the ``.part`` files the client removed (what reached the disk)."""
    sizes: list[int] = []
    real = cache.discard

    def spy(part: Path) -> None:
        sizes.append(part.stat().st_size if part.exists() else 0)
        real(part)

    monkeypatch.setattr(cache, "discard", spy)
    yield sizes
    if sizes:
        prev = faults.figures.get("largest body written before refusal, bytes", 0.0)
        faults.measured("largest body written before refusal, bytes", max(prev, *sizes))


#: Product cap of the oversize tests: over two of the client's 1 MiB chunks, so that some
#: of a refused body does reach the disk before the refusal (and is removed).
CAP = 2_500_000


@pytest.mark.parametrize("how", ["announced", "head-lies-get-has-no-length", "no-length"])
def test_oversize_product_refused_nothing_larger_than_the_cap_on_disk(
        script: Script, tmp_path: Path, discarded: list[int], how: str) -> None:
    big = b"II*\x00" + bytes(range(256)) * 32_000  # 8 MB
    arch = client(script, max_product_bytes=CAP)
    ref = arch.list_products(FRAME)[0]
    if how == "announced":
        script.set(UNW, Reply(body=big, ctype="image/tiff", fault="oversize body"))
    elif how == "no-length":
        script.set(UNW, Reply(body=big, ctype="image/tiff", length=None, fault="oversize body"))
    else:  # HEAD says 1000 bytes, GET sends a megabyte without Content-Length
        script.set(UNW, Reply(body=big, ctype="image/tiff", length=None, head_length=1000,
                              fault="oversize body"))
    match = "announced" if how == "announced" else f"more than {CAP:,} bytes arrived"
    with pytest.raises(ArchiveError, match=f"{_escaped(ref.unw.url)}: product larger "
                       f"than the cap of {CAP:,} bytes.*{match}") as info:
        arch.fetch(ref, tmp_path)
    assert not isinstance(info.value, ArchiveUnavailable)  # not retried: it will not shrink
    assert _leftovers(tmp_path) == []
    assert all(n <= CAP for n in discarded)
    if how == "announced":
        assert discarded == [] and script.gets[UNW] == 0  # refused from HEAD, GET never sent
    else:
        assert discarded and script.gets[UNW] == 1


@pytest.mark.parametrize("length", ["auto", None], ids=["announced", "no-length"])
def test_oversize_listing_refused(script: Script, length: str | None) -> None:
    huge = index_page(IFG, [f"{PAIR}/"] + [f"junk{i:06d}/" for i in range(20_000)])
    script.set(IFG, Reply(body=huge, length=length, fault="oversize body"))
    how = "announced" if length else "more than 65,536 bytes arrived"
    with pytest.raises(ArchiveError, match=f"{_escaped(IFG)}: listing larger than the cap "
                       f"of 65,536 bytes.*{how}") as info:
        client(script, max_listing_bytes=65_536).list_products(FRAME)
    assert not isinstance(info.value, ArchiveUnavailable)


# -- pages that are not listings --------------------------------------------------------------

LOGIN = (b'<!DOCTYPE html><html><head><title>Sign in</title></head><body>'
         b'<form method="post" action="/login?next=/22/"><input name="user">'
         b'<input type="password" name="pw"><a href="/forgot">Forgot?</a></form></body></html>')
NOT_LISTINGS = {
    "login page": (LOGIN, "text/html", "a login form"),
    "error page without links": (b"<html><body><h1>Service moved</h1><a href='/'>home</a>"
                                 b"<a href='https://status.example.org/?x=1'>status</a>"
                                 b"</body></html>", "text/html", "no index heading"),
    "JSON": (b'{"error": "unauthorised"}', "application/json", "Content-Type"),
    "plain text": (b"Service temporarily replaced by a placeholder.", "text/plain",
                   "no HTML markup"),
    "binary garbage": (b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(
        np.random.default_rng(3).integers(0, 256, 2000, dtype=np.uint8)),
        "application/octet-stream", "binary data"),
    "UTF-16 without a byte-order mark or charset": (
        "<html><title>Index of /</title></html>".encode("utf-16-le"), "text/html",
        "binary data"),
    "truncated index page": (index_page(IFG, [PAIR + "/"])[:-30], "text/html", "cut short"),
    "XML that is not Atom": (b'<?xml version="1.0"?><error><code>403</code></error>',
                             "application/xml", "not an Atom feed"),
}


@pytest.mark.parametrize("kind", list(NOT_LISTINGS))
def test_a_page_that_is_not_a_listing_is_an_error_not_no_products(
        script: Script, faults: FaultTally, kind: str) -> None:
    body, ctype, why = NOT_LISTINGS[kind]
    script.set(IFG, Reply(body=body, ctype=ctype, fault=f"not a listing: {kind}"))
    faults.bad_input(f"listing: {kind}")
    with pytest.raises(ArchiveError, match=f"{_escaped(IFG)}: not a directory listing.*{why}"
                       ) as info:
        client(script).list_products(FRAME, since=date(2024, 1, 1))
    assert not isinstance(info.value, ArchiveUnavailable)
    assert script.gets[IFG] == 1  # not retried: the same page would come back


def test_a_real_empty_listing_is_nothing_new(script: Script) -> None:
    script.set(IFG, Reply(body=index_page(IFG, [])))
    assert client(script).list_products(FRAME) == []


# -- other hosts: links and redirects -----------------------------------------------------------


def test_links_to_another_host_refused_unless_allowed(script: Script, faults: FaultTally,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    mirrored = [f"{script.other_host}{PAIR_DIR}{PAIR}.geo.{k}.tif" for k in ("unw", "cc")]
    script.set(PAIR_DIR, Reply(body=index_page(PAIR_DIR, mirrored),
                               fault="link to another host"))
    with caplog.at_level(logging.WARNING, logger="monitor.archive"):
        assert client(script).list_products(FRAME) == []  # the pair has no usable file
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2 and all("not in allowed_hosts" in m for m in refused)
    refs = client(script, allowed_hosts=[f"localhost:{script.port}"]).list_products(FRAME)
    assert [r.unw.url for r in refs] == mirrored[:1]


def test_links_outside_the_frame_tree_refused(script: Script,
                                              caplog: pytest.LogCaptureFixture) -> None:
    script.set(IFG, Reply(body=index_page(IFG, [
        PAIR + "/", "/22/087A_05000_131313/interferograms/20240106_20240130/",
        f"{script.base}/private/{PAIR}/"]), fault="link outside the frame"))
    with caplog.at_level(logging.WARNING, logger="monitor.archive"):
        refs = client(script).list_products(FRAME)
    assert [r.pair for r in refs] == [PAIR]
    assert sum("outside the frame's tree" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize("what", ["listing", "product"])
def test_redirect_to_another_host_refused_unless_allowed(script: Script, tmp_path: Path,
                                                         products: dict[str, bytes],
                                                         what: str) -> None:
    path = IFG if what == "listing" else UNW
    arch = client(script)
    ref = arch.list_products(FRAME)[0]
    elsewhere = f"{script.other_host}/mirror{path}"
    script.set(path, Reply(302, b"", headers={"Location": elsewhere},
                           fault="redirect to another host"))
    with pytest.raises(ArchiveError, match=f"{_escaped(path)}: redirect to "
                       f"'{_escaped(elsewhere)}' refused: host 'localhost:{script.port}' is "
                       "not in allowed_hosts") as info:
        if what == "listing":
            arch.list_products(FRAME)
        else:
            arch.fetch(ref, tmp_path)
    assert not isinstance(info.value, ArchiveUnavailable)
    assert _leftovers(tmp_path) == []
    healthy = (Reply(body=index_page(f"/mirror{IFG}", [PAIR + "/"])) if what == "listing"
               else Reply(body=products["unw"], ctype="image/tiff"))
    script.set(f"/mirror{path}", healthy)
    allowed = client(script, allowed_hosts=[f"localhost:{script.port}"])
    if what == "listing":
        script.set(f"/mirror{PAIR_DIR}", *script.routes[PAIR_DIR])
        assert [r.pair for r in allowed.list_products(FRAME)] == [PAIR]
    else:
        assert Path(allowed.fetch(ref, tmp_path).unw_path).is_file()


def test_redirects_on_the_same_host_followed_a_few_hops_only(script: Script) -> None:
    script.set(IFG, Reply(301, b"", headers={"Location": "/moved/" + IFG.lstrip("/")}))
    script.set("/moved" + IFG, Reply(body=index_page("/moved" + IFG, [PAIR + "/"])))
    script.set(f"/moved{IFG}{PAIR}/", *script.routes[PAIR_DIR])
    assert [r.pair for r in client(script).list_products(FRAME)] == [PAIR]
    script.set(IFG, Reply(302, b"", headers={"Location": IFG}, fault="redirect loop"))
    with pytest.raises(ArchiveError, match="more than 5 redirects"):
        client(script).list_products(FRAME)


def test_redirect_from_https_to_http_refused() -> None:
    hosts = HostAllowList.of("https://portal.example.org/LiCSAR")
    assert _redirect_refusal("https://portal.example.org/a", "http://portal.example.org/a",
                             hosts) == "from https to http"
    assert _redirect_refusal("https://portal.example.org/a", "https://portal.example.org/b",
                             hosts) is None
    assert "not in allowed_hosts" in str(_redirect_refusal(
        "https://portal.example.org/a", "https://portal.example.org.evil.net/a", hosts))
    assert not hosts.allows("https://portal.example.org@evil.net/a")
    assert not hosts.allows("ftp://portal.example.org/a")
    assert not hosts.allows("http://[::1/a")
    with pytest.raises(InputError, match="host:port"):
        HostAllowList.of("https://portal.example.org", ["https://mirror.example.org/"])


# -- fuzzing the listing parser ------------------------------------------------------------------

PAGE = f"http://127.0.0.1:8080{IFG}"
SCOPE = LinkScope(HostAllowList.of("http://127.0.0.1:8080", ["mirror.example.org"]),
                  f"/22/{FRAME}/")
_HREF = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["../", "..", "?C=N;O=D", "#x", "/", PAIR + "/", "%2e%2e/x",
                     "file:///etc/passwd", "http://[::1", "http://h:99999/x",
                     f"http://mirror.example.org/m/22/{FRAME}/a.tif", "http://evil.net/x",
                     "javascript:alert(1)", "a\\b", "\x00", "&#0;", "%00", "a%2Fb"]),
)
_CONTENT_TYPES = st.sampled_from(["", "text/html", "text/html; charset=utf-16",
                                  "text/html; charset=bogus", "application/atom+xml",
                                  "text/plain; charset=rot13", "application/json"])


def _check_listing_or_typed_error(body: bytes, ctype: str) -> None:
    try:
        listing = parse_listing_bytes(body, PAGE, ctype, None, SCOPE)
    except ArchiveError:
        return
    for e in listing.entries:
        assert NAME_RE.match(e.name) and e.name not in (".", "..")
        assert SCOPE.refusal(e.url) is None, e.url


_FIXTURES_OK = [HealthCheck.function_scoped_fixture]  # the tally and server outlive examples


@settings(max_examples=400, deadline=None, suppress_health_check=_FIXTURES_OK)
@given(body=st.binary(max_size=3000), ctype=_CONTENT_TYPES)
def test_fuzz_listing_parser_any_bytes(faults: FaultTally, body: bytes, ctype: str) -> None:
    faults.bad_input("listing parser fuzz: random bytes")
    _check_listing_or_typed_error(body, ctype)


@settings(max_examples=400, deadline=None, suppress_health_check=_FIXTURES_OK)
@given(hrefs=st.lists(_HREF, max_size=8), junk=st.text(max_size=40),
       index=st.booleans(), atom=st.booleans(), ctype=_CONTENT_TYPES)
def test_fuzz_listing_parser_structured(faults: FaultTally, hrefs: list[str], junk: str,
                                        index: bool, atom: bool, ctype: str) -> None:
    """Pages shaped like listings (index pages, Atom feeds) with hostile hrefs and junk."""
    if atom:
        links = "".join(f'<link rel="enclosure" href="{h}"/>' for h in hrefs)
        text = f'<feed xmlns="http://www.w3.org/2005/Atom"><entry>{links}</entry>{junk}</feed>'
    else:
        links = "".join(f'<a href="{h}">{junk}</a>' for h in hrefs)
        head = "<title>Index of /x</title>" if index else ""
        text = f"<html>{head}<body>{links}{junk}</body></html>"
    for encoding in ("utf-8", "utf-16"):
        faults.bad_input("listing parser fuzz: structured pages")
        _check_listing_or_typed_error(text.encode(encoding, errors="surrogatepass"), ctype)


@settings(max_examples=60, deadline=None, suppress_health_check=_FIXTURES_OK)
@given(body=st.one_of(st.binary(max_size=1500),
                      st.lists(_HREF, max_size=6).map(lambda hs: index_page(IFG, hs))))
def test_fuzz_list_products_over_http(script: Script, faults: FaultTally, body: bytes) -> None:
    """Any bytes served as the frame's listing give valid product refs or a typed error."""
    faults.bad_input("listing fuzz over HTTP")
    script.set(IFG, Reply(body=body, ctype="text/html"))
    try:
        refs = client(script, retries=0).list_products(FRAME)
    except ArchiveError:
        return
    for ref in refs:
        assert ref.frame == FRAME and ref.unw.name == f"{ref.pair}.geo.unw.tif"
        assert ref.unw.url.startswith(script.base + f"/22/{FRAME}/")

