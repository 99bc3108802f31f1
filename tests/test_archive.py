"""Archive adapters: one contract suite for the local directory and the LiCSAR HTTP client.

The HTTP client runs against real HTTP servers on 127.0.0.1 (``ThreadingHTTPServer``) serving
a generated LiCSAR-layout archive in the three forms the portal uses: Apache listings, HTML
pages of links to another host, and Atom XML feeds. Faults (500, 429, 403, slow answers,
truncated, invalid and all-NaN files, hostile links) are injected in the handler.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from monitor.archive import (
    LicsarHttpArchive,
    LocalArchive,
    advance_cursor,
)
from monitor.archive.listing import (
    parse_atom_enclosures,
    parse_html_listing,
    validate_name,
)
from monitor.errors import (
    ArchiveError,
    ArchiveTimeout,
    ArchiveUnavailable,
    BrokenProduct,
    InputError,
    RasterError,
)
from monitor.io.licsar import PAIR_RE, FrameLayout
from monitor.io.rasters import read_raster, write_raster
from monitor.io.synth_archive import write_synthetic_archive
from monitor.metrics import (
    FAILURE_LABELS,
    FAILURE_REASONS,
    TargetReading,
    WatchMetrics,
    failure_label,
)
from monitor.ports import Archive
from monitor.science.geometry import SENTINEL1, phase_to_displacement
from monitor.science.synth_series import SeriesScenario
from monitor.service.metrics_restore import frame_reading
from monitor.service.target_status import FrameStatus

FRAME = "022D_04826_121209"
N_EPOCHS = 5


@dataclass
class ServerState:
    """What the test handler serves and what it saw."""

    root: Path
    mode: str = "apache"
    mirror_base: str = ""
    base: str = ""
    gets: Counter[str] = field(default_factory=Counter)
    heads: Counter[str] = field(default_factory=Counter)
    status: dict[str, int] = field(default_factory=dict)
    fail_first: dict[str, int] = field(default_factory=dict)
    slow: dict[str, float] = field(default_factory=dict)
    body_fault: dict[str, str] = field(default_factory=dict)
    extra_links: dict[str, list[str]] = field(default_factory=dict)
    nan_tif: bytes = b""

    def reset(self, mode: str = "apache") -> None:
        self.mode = mode
        for d in (self.gets, self.heads, self.status, self.fail_first, self.slow,
                  self.body_fault, self.extra_links):
            d.clear()


class Handler(BaseHTTPRequestHandler):
    """Serves ``state.root`` like the LiCSAR portal (``/mirror`` and ``/blobs`` alias it)."""

    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _send(self, code: int, body: bytes, ctype: str, head: bool,
              length: int | None = None, last_modified: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        if last_modified:
            self.send_header("Last-Modified", last_modified)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        st = self.server.state
        path = urlsplit(self.path).path
        (st.heads if head else st.gets)[path] += 1
        if path in st.slow and not head:
            time.sleep(st.slow[path])
        if path in st.status:
            self._send(st.status[path], b"forced failure for the test", "text/plain", head)
            return
        if st.fail_first.get(path, 0) > 0 and not head:
            st.fail_first[path] -= 1
            self._send(500, b"internal boom", "text/plain", head)
            return
        rel = unquote(path)
        for alias in ("/mirror", "/blobs"):
            if rel.startswith(alias + "/"):
                rel = rel[len(alias):]
        fs = st.root / rel.lstrip("/")
        if fs.is_dir():
            self._send(200, self._listing(path, fs).encode(), "text/html", head)
        elif fs.is_file():
            data = fs.read_bytes()
            lm = formatdate(fs.stat().st_mtime, usegmt=True)
            fault = st.body_fault.get(path, "")
            if fault == "truncate" and not head:
                self._send(200, data[: len(data) // 2], "image/tiff", head, len(data), lm)
                self.close_connection = True
                return
            if fault == "garbage":
                data = b"<html>not a GeoTIFF</html>".ljust(len(data), b" ")
            elif fault == "nan":
                data = st.nan_tif
            self._send(200, data, "image/tiff", head, None, lm)
        elif st.mode == "atom" and rel.endswith(".xml") and (st.root / rel[1:-4]).is_file():
            href = "/blobs" + path[:-4]
            feed = ('<?xml version="1.0" encoding="utf-8"?>'
                    '<feed xmlns="http://www.w3.org/2005/Atom"><title>LiCSAR</title>'
                    f'<entry><title>{fs.name}</title>'
                    f'<link rel="enclosure" type="image/tiff" href="{href}"/></entry></feed>')
            self._send(200, feed.encode(), "application/atom+xml", head)
        else:
            self._send(404, b"Not Found: no such product", "text/plain", head)

    def _listing(self, path: str, fs: Path) -> str:
        st = self.server.state
        children = sorted(fs.iterdir())
        # Pair, metadata and epoch directories hold files: served in the mode's form.
        is_pair = PAIR_RE.match(fs.name) is not None or fs.name == "metadata" \
            or fs.parent.name == "epochs"
        if is_pair and st.mode == "links":
            hrefs = [f"{st.mirror_base}/mirror{path}{c.name}" for c in children]
        elif is_pair and st.mode == "atom":
            hrefs = [c.name + ".xml" for c in children]
        else:
            hrefs = [c.name + ("/" if c.is_dir() else "") for c in children]
        parent = path.rstrip("/").rsplit("/", 1)[0] + "/"
        links = ['<a href="?C=N;O=D">Name</a>', f'<a href="{parent}">Parent Directory</a>']
        links += [f'<a href="{h}">{h}</a>' for h in [*hrefs, *st.extra_links.get(path, [])]]
        return "<html><body><h1>Index of " + path + "</h1>" + "<br>".join(links) + "</body></html>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: ServerState


def _start(state: ServerState) -> _Server:
    srv = _Server(("127.0.0.1", 0), Handler)
    srv.state = state
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("licsar")
    scenario = SeriesScenario(start=date(2024, 1, 6), n_epochs=N_EPOCHS, interval_days=12,
                              onset=date(2024, 1, 30), rate_m_per_yr=0.5, decorrelate=False,
                              turbulent_sigma_m=0.0, stratified_strength="none")
    write_synthetic_archive(root / "22", scenario=scenario, frame=FRAME, volcano="synthetic",
                            centre_lonlat=(14.14, 40.83), size_px=32, seed=1,
                            delays="gacos,icams")
    # Delays as the portal publishes them: both models for the first epoch, GACOS only for
    # the second, none for the last (no epoch directory at all).
    layout = FrameLayout(root / "22", FRAME)
    epochs = scenario.epochs
    layout.epoch_delay(epochs[1], "icams").unlink()
    for f in layout.epoch_dir(epochs[-1]).iterdir():
        f.unlink()
    layout.epoch_dir(epochs[-1]).rmdir()
    return root


@pytest.fixture(scope="module")
def servers(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerState]:
    nan_path = tmp_path_factory.mktemp("nan") / "nan.tif"
    write_raster(nan_path, np.full((32, 32), np.nan, np.float32), nodata=np.nan)
    state = ServerState(root=root, nan_tif=nan_path.read_bytes())
    main, mirror = _start(state), _start(state)
    state.mirror_base = f"http://127.0.0.1:{mirror.server_address[1]}"
    state.base = f"http://127.0.0.1:{main.server_address[1]}"
    yield state
    for srv in (main, mirror):
        srv.shutdown()
        srv.server_close()


@pytest.fixture()
def server(servers: ServerState) -> ServerState:
    servers.reset()
    return servers


def _http(state: ServerState, **kw: object) -> LicsarHttpArchive:
    args: dict[str, object] = {"timeout_s": (2.0, 2.0), "retries": 2, "backoff_s": 0.0,
                               "allowed_hosts": [urlsplit(state.mirror_base).netloc]}
    args.update(kw)
    return LicsarHttpArchive(state.base, **args)  # type: ignore[arg-type]


def _file_path(layout_pair: tuple[date, date], kind: str = "unw") -> str:
    p = f"{layout_pair[0]:%Y%m%d}_{layout_pair[1]:%Y%m%d}"
    return f"/22/{FRAME}/interferograms/{p}/{p}.geo.{kind}.tif"


IMPLS = ["local", "http-apache", "http-links", "http-atom"]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest, root: Path, server: ServerState) -> Archive:
    if request.param == "local":
        return LocalArchive(root)
    server.reset(request.param.removeprefix("http-"))
    return _http(server)


def _pairs(root: Path) -> list[tuple[date, date]]:
    return FrameLayout(root / "22", FRAME).pairs()


# -- contract suite (STYLE rule 8) ---------------------------------------------------------


def test_contract_lists_every_pair(impl: Archive, root: Path) -> None:
    assert isinstance(impl, Archive)
    assert impl.wavelength_m == SENTINEL1.wavelength_m and impl.phase_sign == -1
    refs = impl.list_products(FRAME)
    assert [(r.date1, r.date2) for r in refs] == _pairs(root)
    assert len(refs) == N_EPOCHS - 1
    for r in refs:
        assert r.frame == FRAME
        assert r.unw.name == f"{r.pair}.geo.unw.tif"
        assert r.cc is not None and r.cc.name == f"{r.pair}.geo.cc.tif"


def test_contract_fetch_is_byte_identical(impl: Archive, root: Path, tmp_path: Path) -> None:
    layout = FrameLayout(root / "22", FRAME)
    for ref in impl.list_products(FRAME):
        got = impl.fetch(ref, tmp_path)
        src_unw = layout.unw(ref.date1, ref.date2).read_bytes()
        src_cc = layout.cc(ref.date1, ref.date2).read_bytes()
        assert Path(got.unw_path).read_bytes() == src_unw
        assert got.cc_path is not None and Path(got.cc_path).read_bytes() == src_cc
        assert got.sha256 == hashlib.sha256(src_unw).hexdigest()
        assert got.extra["cc_sha256"] == hashlib.sha256(src_cc).hexdigest()
        assert Path(got.unw_path).parent == tmp_path / FRAME / ref.pair
    assert not list(tmp_path.rglob("*.part"))


def test_contract_decode_gives_los_metres_coherence_and_grid(impl: Archive, root: Path,
                                                              tmp_path: Path) -> None:
    """Every adapter decodes its own products: LiCSAR's radians with 0 = no data become LOS
    metres with NaN, its uint8 coherence becomes 0-1, on the phase's EPSG:4326 grid."""
    layout = FrameLayout(root / "22", FRAME)
    ref = impl.list_products(FRAME)[0]
    decoded = impl.decode(impl.fetch(ref, tmp_path), 10_000_000)
    phase = layout.read_unw(ref.date1, ref.date2)
    assert decoded.ref == ref and decoded.shape == phase.shape
    assert decoded.displacement_m.dtype == np.float32
    np.testing.assert_allclose(decoded.displacement_m,
                               phase_to_displacement(phase.data, SENTINEL1), rtol=1e-6)
    raw = read_raster(layout.unw(ref.date1, ref.date2), require_finite=False).data
    assert np.array_equal(np.isnan(decoded.displacement_m), (raw == 0) | np.isnan(raw))
    on_disk = read_raster(layout.cc(ref.date1, ref.date2), require_finite=False)
    assert on_disk.source_dtype == "uint8"  # the LiCSAR encoding the adapter undoes
    coh = decoded.coherence
    assert coh.dtype == np.float32 and coh.shape == decoded.shape
    finite = coh[np.isfinite(coh)]
    assert finite.size and finite.min() >= 0.0 and finite.max() <= 1.0
    np.testing.assert_allclose(coh, on_disk.data / 255.0, rtol=1e-6)
    assert decoded.crs == "EPSG:4326" and decoded.transform == phase.transform
    with pytest.raises(RasterError, match="pixels"):
        impl.decode(impl.fetch(ref, tmp_path), 10)


def test_contract_since_cursor(impl: Archive, root: Path) -> None:
    pairs = _pairs(root)
    refs = impl.list_products(FRAME, since=pairs[1][1])
    assert [(r.date1, r.date2) for r in refs] == pairs[2:]
    assert impl.list_products(FRAME, since=pairs[-1][1]) == []
    assert advance_cursor(pairs[1][1], refs) == pairs[-1][1]
    assert advance_cursor(pairs[-1][1], refs[:1]) == pairs[-1][1]  # never backwards
    assert advance_cursor(None, []) is None


def test_contract_unknown_frame_is_archive_error(impl: Archive) -> None:
    with pytest.raises(ArchiveError, match="124D_04854_171313") as info:
        impl.list_products("124D_04854_171313")
    assert not isinstance(info.value, ArchiveUnavailable)
    with pytest.raises(InputError, match="not-a-frame"):
        impl.list_products("not-a-frame")


# -- HTTP behaviour --------------------------------------------------------------------------


def test_head_skips_unchanged_files(server: ServerState, root: Path, tmp_path: Path) -> None:
    arch = _http(server)
    ref = arch.list_products(FRAME)[0]
    path = _file_path((ref.date1, ref.date2))
    first = arch.fetch(ref, tmp_path)
    assert server.gets[path] == 1
    second = arch.fetch(ref, tmp_path)
    assert server.gets[path] == 1 and server.heads[path] == 2
    assert second.sha256 == first.sha256
    src = FrameLayout(root / "22", FRAME).unw(ref.date1, ref.date2)
    st = src.stat()
    try:
        os.utime(src, (st.st_atime, st.st_mtime + 3600))  # upstream re-published the file
        arch.fetch(ref, tmp_path)
        assert server.gets[path] == 2
    finally:
        os.utime(src, (st.st_atime, st.st_mtime))


def test_500_retried_then_unavailable(server: ServerState) -> None:
    sleeps: list[float] = []
    arch = _http(server, retries=2, backoff_s=0.01, sleep=sleeps.append)
    path = f"/22/{FRAME}/interferograms/"
    server.fail_first[path] = 10
    with pytest.raises(ArchiveUnavailable, match="HTTP 500") as info:
        arch.list_products(FRAME)
    assert server.gets[path] == 3 and sleeps == [0.01, 0.02]
    assert "internal boom" in str(info.value) and path in str(info.value)


def test_transient_500_recovers(server: ServerState, root: Path) -> None:
    server.fail_first[f"/22/{FRAME}/interferograms/"] = 2
    assert len(_http(server, retries=2).list_products(FRAME)) == N_EPOCHS - 1


@pytest.mark.parametrize(("status", "unavailable"), [(429, True), (503, True), (403, False)])
def test_status_mapping(server: ServerState, status: int, unavailable: bool) -> None:
    path = f"/22/{FRAME}/interferograms/"
    server.status[path] = status
    with pytest.raises(ArchiveError, match=f"HTTP {status}.*forced failure") as info:
        _http(server, retries=1).list_products(FRAME)
    assert isinstance(info.value, ArchiveUnavailable) == unavailable
    assert server.gets[path] == (2 if unavailable else 1)


def test_timeout_is_unavailable(server: ServerState) -> None:
    path = f"/22/{FRAME}/interferograms/"
    server.slow[path] = 1.0
    t0 = time.monotonic()
    with pytest.raises(ArchiveUnavailable, match="timed out"):
        _http(server, timeout_s=(0.5, 0.3), retries=1).list_products(FRAME)
    assert server.gets[path] == 2 and time.monotonic() - t0 < 2.0


def _label_of_failure(server: ServerState, root: Path, tmp: Path, case: str) -> BaseException:
    """Make one real failure of an adapter and return the error it raised."""
    arch = _http(server, timeout_s=(0.5, 0.3), retries=0)
    listing = f"/22/{FRAME}/interferograms/"
    try:
        if case == "slow server":
            server.slow[listing] = 1.0
            arch.list_products(FRAME)
        elif case == "HTTP 503":
            server.status[listing] = 503
            arch.list_products(FRAME)
        elif case == "connection refused":
            LicsarHttpArchive("http://127.0.0.1:1", timeout_s=(0.5, 0.5),
                              retries=0).list_products(FRAME)
        elif case == "HTTP 404":
            arch.list_products("124D_04854_171313")
        elif case == "no such local frame":
            LocalArchive(root).list_products("124D_04854_171313")
        elif case in ("garbage over HTTP", "NaN over HTTP"):
            ref = arch.list_products(FRAME)[1]
            server.body_fault[_file_path((ref.date1, ref.date2))] = case.split()[0].lower()
            arch.fetch(ref, tmp)
        elif case == "garbage in the local archive":
            bad = tmp / "archive"
            shutil.copytree(root, bad)
            ref = LocalArchive(bad).list_products(FRAME)[1]
            Path(ref.unw.url.removeprefix("file://")).write_bytes(b"not a GeoTIFF" * 64)
            LocalArchive(bad).fetch(ref, tmp / "cache")
        elif case == "bad frame id":
            LocalArchive(root).list_products("not-a-frame")
    except Exception as exc:  # noqa: BLE001 - the point is to look at what came back
        return exc
    raise AssertionError(f"{case}: no failure")


@pytest.mark.parametrize(("case", "label", "kind"), [
    ("slow server", "timeout", ArchiveTimeout),
    ("HTTP 503", "http", ArchiveUnavailable),
    ("connection refused", "http", ArchiveUnavailable),
    ("HTTP 404", "fetch", ArchiveError),
    ("no such local frame", "fetch", ArchiveError),
    ("garbage over HTTP", "validate", BrokenProduct),
    ("NaN over HTTP", "validate", BrokenProduct),
    ("garbage in the local archive", "validate", BrokenProduct),
    ("bad frame id", "other", InputError),
])
def test_every_failure_label_is_reached_by_a_real_failure(
        server: ServerState, root: Path, tmp_path: Path, case: str, label: str,
        kind: type[BaseException]) -> None:
    exc = _label_of_failure(server, root, tmp_path, case)
    assert isinstance(exc, kind), f"{case}: {type(exc).__name__}: {exc}"
    assert failure_label(exc) == label
    assert label in FAILURE_REASONS


def test_every_failure_label_is_covered() -> None:
    labels = {label for _, label in FAILURE_LABELS} | {"other"}
    assert labels == set(FAILURE_REASONS)


@pytest.mark.parametrize("fault", ["truncate", "garbage", "nan"])
def test_broken_product_never_cached(server: ServerState, tmp_path: Path, fault: str) -> None:
    arch = _http(server, retries=1)
    ref = arch.list_products(FRAME)[1]
    path = _file_path((ref.date1, ref.date2))
    server.body_fault[path] = fault
    with pytest.raises(ArchiveError, match=ref.unw.url.replace(".", r"\.")):
        arch.fetch(ref, tmp_path)
    pair_dir = tmp_path / FRAME / ref.pair
    assert not (pair_dir / ref.unw.name).exists()
    assert not list(tmp_path.rglob("*.part"))
    assert server.gets[path] == (2 if fault == "truncate" else 1)  # only transient retried


def test_hostile_links_are_skipped_and_reported(server: ServerState, root: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    path = f"/22/{FRAME}/interferograms/"
    server.extra_links[path] = ["../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd",
                                "20240106_20240118/..\\..\\x", "20240106_20240118/?x=1",
                                "file:///etc/passwd"]
    with caplog.at_level(logging.WARNING, logger="monitor.archive"):
        refs = _http(server).list_products(FRAME)
    assert [(r.date1, r.date2) for r in refs] == _pairs(root)
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 5
    assert any("../../etc/passwd" in m and "traversal" in m for m in refused)


def test_listing_parsers_validate_names() -> None:
    page = "http://h/22/f/interferograms/"
    html = ('<a href="?C=M;O=A">x</a><a href="/22/f/">up</a><a href="../">up</a>'
            '<a href="20240106_20240118/">p</a><a href="http://other:8/t/a.geo.unw.tif">f</a>'
            '<a href="../../etc/passwd">bad</a><a href="/abs/../x">bad</a>')
    listing = parse_html_listing(html, page)
    assert [(e.name, e.url, e.is_dir) for e in listing.entries] == [
        ("20240106_20240118", page + "20240106_20240118/", True),
        ("a.geo.unw.tif", "http://other:8/t/a.geo.unw.tif", False)]
    assert [h for h, _ in listing.rejected] == ["../../etc/passwd", "/abs/../x"]
    for bad in ("..", "", "/etc/passwd", "a\\b", "a?b", ".hidden"):
        with pytest.raises(ArchiveError, match="refusing archive name"):
            validate_name(bad, page)
    feed = ('<feed xmlns="http://www.w3.org/2005/Atom"><entry>'
            '<link rel="alternate" href="x.html"/><link rel="enclosure" href="/b/c.tif"/>'
            '</entry></feed>')
    assert [e.url for e in parse_atom_enclosures(feed, "http://h/a/c.tif.xml").entries] == [
        "http://h/b/c.tif"]
    bomb = '<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaa">]><feed>&a;</feed>'
    with pytest.raises(ArchiveError, match="DTD or entity"):
        parse_atom_enclosures(bomb, "http://h/x.xml")
    with pytest.raises(ArchiveError, match="malformed Atom XML"):
        parse_atom_enclosures("<feed><entry></feed>", "http://h/x.xml")


def test_freshness_lag(root: Path) -> None:
    """The daemon's freshness of a real listing (the newest acquisition ingested, and the
    lag from its midnight UTC to its ingestion, as monitor.service.metrics_restore reads
    them from the store)."""
    refs = LocalArchive(root).list_products(FRAME)
    newest = _pairs(root)[-1][1]
    now = datetime(newest.year, newest.month, newest.day, 12, tzinfo=UTC) + timedelta(days=10)
    registry = CollectorRegistry()
    reading = frame_reading(FrameStatus(FRAME, max(r.date2 for r in refs), now, None))
    WatchMetrics(registry).set_target(TargetReading("t", 3600.0, 0.5, 0.8, 0.05, 0, 0,
                                                    (reading,)))
    labels = {"target": "t", "frame": FRAME}
    newest_s = registry.get_sample_value("insar_monitor_newest_epoch_timestamp_seconds",
                                         labels)
    assert newest_s == datetime(newest.year, newest.month, newest.day, tzinfo=UTC).timestamp()
    lag_s = registry.get_sample_value("insar_monitor_archive_lag_seconds", labels)
    assert lag_s is not None and lag_s / 86400.0 == pytest.approx(10.5, abs=1e-9)
    assert registry.get_sample_value("insar_monitor_archive_lag_seconds",
                                     {"target": "t", "frame": "124D_04854_171313"}) is None
    assert frame_reading(FrameStatus(FRAME, None, None, None)).archive_lag_s is None


def test_bad_client_arguments() -> None:
    with pytest.raises(InputError, match="base_url"):
        LicsarHttpArchive("ftp://example.org")
    with pytest.raises(InputError, match="retries"):
        LicsarHttpArchive("http://127.0.0.1:1", retries=-1)


def test_connection_refused_is_unavailable() -> None:
    arch = LicsarHttpArchive("http://127.0.0.1:1", timeout_s=(0.5, 0.5), retries=0)
    with pytest.raises(ArchiveUnavailable, match="connection failed"):
        arch.list_products(FRAME)


@pytest.mark.parametrize(("mode", "marker", "xml_hits"), [
    ("apache", f"/22/{FRAME}/interferograms/", 0),
    ("links", "/mirror/22/", 0),
    ("atom", "/blobs/22/", 2 * (N_EPOCHS - 1)),
])
def test_each_portal_form_is_followed(server: ServerState, mode: str, marker: str,
                                      xml_hits: int) -> None:
    server.reset(mode)
    base = server.base
    refs = _http(server).list_products(FRAME)
    for r in refs:
        assert r.cc is not None
        for f in (r.unw, r.cc):
            assert marker in f.url
            assert f.url.startswith(server.mirror_base if mode == "links" else base)
    assert sum(n for p, n in server.gets.items() if p.endswith(".tif.xml")) == xml_hits


# -- frame metadata and per-epoch delays, fetched for flagged steps (issue 6) ---------------

EPOCHS = SeriesScenario(start=date(2024, 1, 6), n_epochs=N_EPOCHS, interval_days=12,
                        onset=None).epochs
OTHER_FRAME = "087A_05000_131313"  # no such frame in the archive


def _delay_path(epoch: date, kind: str = "gacos") -> str:
    d = f"{epoch:%Y%m%d}"
    return f"/22/{FRAME}/epochs/{d}/{d}{'.icams' if kind == 'icams' else ''}.sltd.geo.tif"


def test_contract_fetch_metadata(impl: Archive, root: Path, tmp_path: Path) -> None:
    layout = FrameLayout(root / "22", FRAME)
    meta = impl.fetch_metadata(FRAME, tmp_path)
    assert meta.frame == FRAME
    for got, src in ((meta.hgt_path, layout.metadata_raster("hgt")),
                     (meta.u_path, layout.metadata_raster("U")),
                     (meta.metadata_txt_path, layout.metadata_txt)):
        assert got is not None and Path(got).parent == tmp_path / FRAME / "metadata"
        assert Path(got).name == src.name and Path(got).read_bytes() == src.read_bytes()
    assert not list(tmp_path.rglob("*.part"))


def test_contract_metadata_absent(impl: Archive, tmp_path: Path) -> None:
    meta = impl.fetch_metadata(OTHER_FRAME, tmp_path)
    assert (meta.hgt_path, meta.u_path, meta.metadata_txt_path) == (None, None, None)
    with pytest.raises(InputError, match="not-a-frame"):
        impl.fetch_metadata("not-a-frame", tmp_path)


def test_contract_epoch_delays(impl: Archive, root: Path, tmp_path: Path) -> None:
    layout = FrameLayout(root / "22", FRAME)
    both = impl.fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    assert sorted(both) == ["gacos", "icams"]
    for kind, path in both.items():
        assert Path(path) == tmp_path / FRAME / "epochs" / f"{EPOCHS[0]:%Y%m%d}" / \
            layout.epoch_delay(EPOCHS[0], kind).name
        assert Path(path).read_bytes() == layout.epoch_delay(EPOCHS[0], kind).read_bytes()
    only_gacos = impl.fetch_epoch_delays(FRAME, EPOCHS[1], tmp_path)
    assert list(only_gacos) == ["gacos"]
    assert impl.fetch_epoch_delays(FRAME, EPOCHS[-1], tmp_path) == {}  # no epoch directory
    assert impl.fetch_epoch_delays(FRAME, date(2030, 1, 1), tmp_path) == {}
    assert impl.fetch_epoch_delays(OTHER_FRAME, EPOCHS[0], tmp_path) == {}
    assert not list(tmp_path.rglob("*.part"))
    # Only the kinds asked for are fetched: a broken file of one never blocks the other.
    other = tmp_path / "only_icams"
    assert list(impl.fetch_epoch_delays(FRAME, EPOCHS[0], other, ("icams",))) == ["icams"]
    assert [p.name for p in other.rglob("*.tif")] == [
        layout.epoch_delay(EPOCHS[0], "icams").name]
    with pytest.raises(InputError, match="unknown delay model"):
        impl.fetch_epoch_delays(FRAME, EPOCHS[0], other, ("era6",))


def test_contract_cached_delays_reused_until_republished(impl: Archive, root: Path,
                                                         tmp_path: Path) -> None:
    first = impl.fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    meta = impl.fetch_metadata(FRAME, tmp_path)
    assert meta.hgt_path is not None
    inodes = {p: os.stat(p).st_ino for p in [*first.values(), meta.hgt_path]}
    again = impl.fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    impl.fetch_metadata(FRAME, tmp_path)
    assert again == first
    assert {p: os.stat(p).st_ino for p in inodes} == inodes  # not copied again
    src = FrameLayout(root / "22", FRAME).epoch_delay(EPOCHS[0], "gacos")
    st = src.stat()
    try:
        os.utime(src, (st.st_atime, st.st_mtime + 3600))  # upstream re-published the file
        impl.fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    finally:
        os.utime(src, (st.st_atime, st.st_mtime))
    assert os.stat(first["gacos"]).st_ino != inodes[first["gacos"]]
    assert os.stat(first["icams"]).st_ino == inodes[first["icams"]]


def _local_frame_copy(root: Path, dest: Path) -> FrameLayout:
    import shutil

    src = FrameLayout(root / "22", FRAME)
    out = FrameLayout(dest, FRAME)
    shutil.copytree(src.metadata_dir, out.metadata_dir)
    shutil.copytree(src.epochs_dir, out.epochs_dir)
    return out


def test_local_broken_delay_and_metadata_never_cached(root: Path, tmp_path: Path) -> None:
    layout = _local_frame_copy(root, tmp_path / "archive")
    cache_dir = tmp_path / "cache"
    arch = LocalArchive(tmp_path / "archive")
    gacos = layout.epoch_delay(EPOCHS[0], "gacos")
    data = gacos.read_bytes()
    gacos.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ArchiveError, match=f"{gacos.name}.*broken product"):
        arch.fetch_epoch_delays(FRAME, EPOCHS[0], cache_dir)
    write_raster(gacos, np.full((32, 32), 2), dtype="int16")  # not a float delay
    with pytest.raises(ArchiveError, match="expected a float raster"):
        arch.fetch_epoch_delays(FRAME, EPOCHS[0], cache_dir)
    layout.metadata_txt.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ArchiveError, match="metadata.txt"):
        arch.fetch_metadata(FRAME, cache_dir)
    cached = [p.name for p in cache_dir.rglob("*") if p.is_file()]
    assert gacos.name not in cached and "metadata.txt" not in cached
    assert not [n for n in cached if n.endswith(".part")]


@pytest.mark.parametrize("fault", ["truncate", "garbage", "nan"])
def test_http_broken_delay_never_cached(server: ServerState, tmp_path: Path,
                                        fault: str) -> None:
    arch = _http(server, retries=1)
    path = _delay_path(EPOCHS[0])
    server.body_fault[path] = fault
    with pytest.raises(ArchiveError, match=path.replace(".", r"\.")):
        arch.fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    assert not (tmp_path / FRAME / "epochs" / f"{EPOCHS[0]:%Y%m%d}"
                / path.rsplit("/", 1)[1]).exists()
    assert not list(tmp_path.rglob("*.part"))
    assert server.gets[path] == (2 if fault == "truncate" else 1)  # only transient retried


@pytest.mark.parametrize("where", ["directory", "file", "metadata"])
def test_http_delay_500_retried_then_unavailable(server: ServerState, tmp_path: Path,
                                                 where: str) -> None:
    sleeps: list[float] = []
    arch = _http(server, retries=2, backoff_s=0.01, sleep=sleeps.append)
    path = {"directory": f"/22/{FRAME}/epochs/{EPOCHS[0]:%Y%m%d}/",
            "file": _delay_path(EPOCHS[0], "icams"),
            "metadata": f"/22/{FRAME}/metadata/{FRAME}.geo.hgt.tif"}[where]
    server.fail_first[path] = 10
    with pytest.raises(ArchiveUnavailable, match="HTTP 500.*gave up after 3") as info:
        if where == "metadata":
            arch.fetch_metadata(FRAME, tmp_path)
        else:
            arch.fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    assert server.gets[path] == 3 and sleeps == [0.01, 0.02]
    assert path in str(info.value)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name in path]


def test_http_delay_transient_500_recovers(server: ServerState, tmp_path: Path) -> None:
    server.fail_first[f"/22/{FRAME}/epochs/{EPOCHS[0]:%Y%m%d}/"] = 1
    server.fail_first[_delay_path(EPOCHS[0])] = 2
    got = _http(server, retries=2).fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    assert sorted(got) == ["gacos", "icams"]


def test_http_epoch_directory_forbidden_is_an_error(server: ServerState,
                                                    tmp_path: Path) -> None:
    """Only 404 means 'no delays'; another refusal is an error, not a silent {}."""
    path = f"/22/{FRAME}/epochs/{EPOCHS[0]:%Y%m%d}/"
    server.status[path] = 403
    with pytest.raises(ArchiveError, match="HTTP 403") as info:
        _http(server).fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)
    assert not isinstance(info.value, ArchiveUnavailable)


def test_http_hostile_links_in_epoch_listing(server: ServerState, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    d = f"{EPOCHS[1]:%Y%m%d}"
    server.extra_links[f"/22/{FRAME}/epochs/{d}/"] = [
        f"../../../etc/{d}.icams.sltd.geo.tif", f"%2e%2e/{d}.icams.sltd.geo.tif"]
    with caplog.at_level(logging.WARNING, logger="monitor.archive"):
        got = _http(server).fetch_epoch_delays(FRAME, EPOCHS[1], tmp_path)
    assert list(got) == ["gacos"]
    assert sum("refused" in r.getMessage() for r in caplog.records) == 2


@pytest.mark.parametrize(("mode", "marker"), [("links", "/mirror/22/"), ("atom", "/blobs/22/")])
def test_http_delays_follow_each_portal_form(server: ServerState, tmp_path: Path, mode: str,
                                             marker: str) -> None:
    server.reset(mode)
    arch = _http(server)
    assert sorted(arch.fetch_epoch_delays(FRAME, EPOCHS[0], tmp_path)) == ["gacos", "icams"]
    meta = arch.fetch_metadata(FRAME, tmp_path)
    assert None not in (meta.hgt_path, meta.u_path, meta.metadata_txt_path)
    fetched = [p for p, n in server.gets.items() if n and p.endswith((".tif", ".txt"))]
    assert len(fetched) == 5 and all(p.startswith(marker) for p in fetched)


def test_frame_file_cache_paths_refuse_traversal(tmp_path: Path) -> None:
    from monitor.archive.cache import frame_file_path
    from monitor.errors import DatasetError

    assert frame_file_path(tmp_path, FRAME, "epochs", "20240106", "20240106.sltd.geo.tif") \
        == tmp_path / FRAME / "epochs" / "20240106" / "20240106.sltd.geo.tif"
    for parts in (("epochs", "..", "x.tif"), ("metadata", "../../etc/passwd"),
                  ("metadata", "/etc/passwd"), ("epochs", "a\\b")):
        with pytest.raises(ArchiveError, match="refusing archive name"):
            frame_file_path(tmp_path, FRAME, *parts)
    with pytest.raises(DatasetError, match="frame id"):
        frame_file_path(tmp_path, "../x", "metadata", "metadata.txt")
    layout = FrameLayout(tmp_path, FRAME)
    assert layout.epoch_delay(date(2024, 1, 6), "icams").relative_to(tmp_path).as_posix() == \
        f"{FRAME}/epochs/20240106/20240106.icams.sltd.geo.tif"
    with pytest.raises(DatasetError, match="unknown delay kind"):
        layout.epoch_delay(date(2024, 1, 6), "era5")


def test_http_limits_settings_validated_and_wired(tmp_path: Path) -> None:
    """[archives.NAME] deadlines, caps and allowed hosts: finite and positive, hosts as
    'host' or 'host:port'; the daemon's adapter gets them (issue 10)."""
    from monitor.config import load_settings
    from monitor.errors import ConfigError
    from monitor.service.context import build_archive

    base = '[archives.a]\nkind = "licsar_http"\nbase_url = "https://portal.example.org/L"\n'
    cfg = tmp_path / "a.toml"
    cfg.write_text(base + 'deadline_s = 90.0\nlisting_deadline_s = 9.0\nmax_listing_bytes = 1000'
                   '\nmax_product_bytes = 2000\nmax_retry_after_s = 5.0\n'
                   'allowed_hosts = ["Mirror.example.org", "blobs.example.org:8443"]\n')
    arch = build_archive(load_settings(cfg, environ={}).archives["a"])
    assert isinstance(arch, LicsarHttpArchive)
    assert (arch.deadline_s, arch.listing_deadline_s, arch.max_listing_bytes,
            arch.max_product_bytes, arch.max_retry_after_s) == (90.0, 9.0, 1000, 2000, 5.0)
    assert arch.hosts.hosts == ("portal.example.org", "mirror.example.org",
                                "blobs.example.org:8443")
    assert arch.hosts.allows("https://blobs.example.org:8443/x")
    assert not arch.hosts.allows("https://blobs.example.org/x")
    for bad in ("deadline_s = inf", "listing_deadline_s = nan", "deadline_s = 0.0",
                "max_product_bytes = 0", "max_listing_bytes = 100000000",
                "max_retry_after_s = -1.0", 'allowed_hosts = ["https://mirror.example.org/"]',
                'allowed_hosts = ["user@mirror.example.org"]'):
        cfg.write_text(base + bad + "\n")
        with pytest.raises(ConfigError, match=bad.split(" =")[0]):
            load_settings(cfg, environ={})
    with pytest.raises(InputError, match="deadline_s"):
        LicsarHttpArchive("http://127.0.0.1:1", deadline_s=float("inf"))
