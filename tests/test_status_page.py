"""The read-only status page: routes, headers, escaping, traversal, a broken database, the
daemon's server, and the page in headless Chromium.

The watched world is the synthetic archive of ``tests/test_pipeline.py``: target
``synth1`` watches a Mogi source inflating from ``ONSET`` at 0.5 m/yr (it reaches WATCH or
WARNING, with quicklooks), ``synth2`` a quiet frame, ``synth3`` a frame never polled. The
pages are requested over HTTP from the server running on 127.0.0.1 (raw paths through
``http.client``, so ``..%2f`` reaches the server as sent).

``MONITOR_WRITE_SCREENSHOT=1 pytest tests/test_status_page.py -k chromium`` also writes the
Chromium screenshot of this world to ``docs/images/status_page.png`` (the committed one).
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import torch

from monitor.config import Settings, load_settings
from monitor.domain import AlertLevel
from monitor.errors import InputError
from monitor.figures.history import target_history_figure
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.context import WatchContext
from monitor.service.daemon import Daemon
from monitor.service.pipeline import poll_target
from monitor.service.status_page import WatchStatusSource
from monitor.service.target_status import watch_status
from monitor.store import Store, make_engine, upgrade
from monitor.web.status_page import StatusPageApp, StatusPageServer, start_status_page_server

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "images" / "status_page.png"
FRAME1 = "022D_04826_121209"
FRAME2 = "087A_05000_131313"
FRAME3 = "124D_05291_081406"
ONSET = date(2024, 2, 23)
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
SCENARIO1 = SeriesScenario(n_epochs=12, onset=ONSET, rate_m_per_yr=0.5,
                           stratified_strength="none", decorrelate=False)
SCENARIO2 = SeriesScenario(n_epochs=6, onset=None, stratified_strength="none",
                           decorrelate=False)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert(1)</script> &\"'"
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
NAMES = {"synth1": "Inflating volcano (synthetic Mogi source)",
         "synth2": "Quiet volcano (synthetic)", "synth3": "Newly added volcano"}


class FixedClock:
    def now(self) -> datetime:
        return NOW


@dataclass
class World:
    settings: Settings
    store: Store
    source: WatchStatusSource
    server: StatusPageServer
    tmp: Path


def write_config(tmp: Path, names: dict[str, str]) -> Path:
    targets = ""
    for tid, frame, lon, lat in (("synth1", FRAME1, 120.0, 14.0),
                                 ("synth2", FRAME2, 121.0, 15.0),
                                 ("synth3", FRAME3, 122.0, 16.0)):
        targets += f"""
[[targets]]
id = "{tid}"
name = {_toml_string(names[tid])}
lon = {lon}
lat = {lat}
radius_km = 1.5
archive = "local"
frames = ["{frame}"]
recipients = ["observatory@example.org"]
"""
    cfg = tmp / "monitor.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///{tmp}/watch.db"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
[email]
mode = "dry-run"
outbox_dir = "{tmp}/outbox"
[metrics]
enabled = false
[status_page]
port = 0
refresh_s = 0
[archives.local]
kind = "local"
root = "{tmp}/archive"
{targets}""", encoding="utf-8")
    return cfg


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def serve(settings: Settings, store: Store, tmp: Path) -> World:
    source = WatchStatusSource(settings, store, FixedClock())
    app = StatusPageApp(source, settings.watch.quicklook_dir, refresh_s=0)
    return World(settings, store, source, start_status_page_server(app, "127.0.0.1", 0), tmp)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model: LoadedModel) -> Iterator[World]:
    """synth1 and synth2 polled once (real scores, alerts and quicklooks), synth3 never;
    the first alert of synth1 acknowledged."""
    tmp = tmp_path_factory.mktemp("status")
    archive = tmp / "archive"
    write_synthetic_archive(archive, scenario=SCENARIO1, frame=FRAME1, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=3)
    write_synthetic_archive(archive, scenario=SCENARIO2, frame=FRAME2, volcano="synthetic",
                            size_px=128, centre_lonlat=(121.0, 15.0), seed=4)
    settings = load_settings(write_config(tmp, NAMES), environ={})
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    ctx = WatchContext.from_settings(settings, store, model, None)
    for tid in ("synth1", "synth2"):
        report = poll_target(ctx, settings.target(tid), NOW)
        assert report.failures == ()
    alerts = store.list_alerts("synth1")
    assert alerts, "the inflating target must have raised an alert"
    store.acknowledge_alert(alerts[0].id, "duty volcanologist", NOW)
    w = serve(settings, store, tmp)
    yield w
    w.server.shutdown()


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Targets named with markup, an alert whose message and acknowledger carry it too;
    nothing scored (no CNN needed)."""
    tmp = tmp_path_factory.mktemp("evil")
    settings = load_settings(write_config(tmp, {"synth1": EVIL, "synth2": f"B {EVIL}",
                                                "synth3": "C"}), environ={})
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    t = settings.target("synth1")
    store.upsert_target(t.id, t.name, t.lon, t.lat, t.radius_km, NOW)
    alert = store.raise_alert(t.id, date(2024, 5, 1), "deformation", AlertLevel.WATCH,
                              f"{EVIL} level watch", NOW)
    assert alert is not None
    store.acknowledge_alert(alert.id, EVIL, NOW)
    w = serve(settings, store, tmp)
    yield w
    w.server.shutdown()


def request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    """One request with ``path`` sent exactly as given (no client-side normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def get_text(port: int, path: str) -> str:
    status, headers, body = request(port, "GET", path)
    assert status == 200, (path, status, body[:300])
    assert headers["content-type"] == "text/html; charset=utf-8"
    return body.decode("utf-8")


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC) and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def assert_security_headers(headers: dict[str, str]) -> None:
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_watch_list_shows_each_target_as_target_status_reads_it(world: World) -> None:
    port = world.server.port
    status, headers, body = request(port, "GET", "/")
    assert status == 200
    assert_security_headers(headers)
    html = body.decode()
    assert "not official volcano alert levels" in html
    assert "<script" not in html  # no script at all: the CSP would refuse it anyway
    by_id = {s.target.id: s for s in watch_status(world.store, world.settings)}
    s1, s2, s3 = by_id["synth1"], by_id["synth2"], by_id["synth3"]
    assert s1.level >= AlertLevel.WATCH and s2.level == AlertLevel.NONE
    assert s3.latest is None
    # Riskiest first: the alerting target, then the quiet one by P, then the unscored one.
    rows = [html.index(f'data-target="{tid}"') for tid in ("synth1", "synth2", "synth3")]
    assert rows == sorted(rows)
    row1 = html[rows[0]:rows[1]]
    assert f'data-level="{s1.level.name}"' in row1 and NAMES["synth1"] in row1
    assert s1.latest is not None and s1.level_since is not None
    assert s1.latest.p_decision is not None and s1.latest.p_raw is not None
    assert s1.latest.epoch.isoformat() in row1 and s1.level_since.isoformat() in row1
    assert f"{s1.latest.p_decision:.2f}" in row1 and f"{s1.latest.p_raw:.2f}" in row1
    lag_days = s1.frames[0].lag_s(NOW) / 86400  # type: ignore[operator]
    assert f"{lag_days:.1f} d" in row1
    # The last alert's quicklook, as a thumbnail linking to the full image.
    last = s1.alerts[-1].epoch
    name = f"synth1_{last:%Y%m%d}.png"
    assert f'<a href="/quicklook/{name}"><img class="thumb" src="/quicklook/{name}"' in row1
    assert f">{s1.unacknowledged} of {len(s1.alerts)}<" in row1
    assert s1.unacknowledged == len(s1.alerts) - 1
    row3 = html[rows[2]:]
    assert 'data-level="none"' in row3 and "—" in row3


def test_target_page_plot_and_quicklook(world: World) -> None:
    port = world.server.port
    html = get_text(port, "/target/synth1")
    alerts = world.store.list_alerts("synth1")
    assert "duty volcanologist" in html and '<img class="plot" src="/plot/synth1.png"' in html
    # the short synthetic series is within the GLS filter's warm-up
    assert "<th>GLS filter P (confirms the detector)</th><td>not judged</td>" in html
    assert html.count("<tr class=\"level-") == len(alerts)
    assert ("not acknowledged" in html) == (len(alerts) > 1)
    for a in alerts:
        assert a.epoch.isoformat() in html
    status, headers, png = request(port, "GET", "/plot/synth1.png")
    assert status == 200 and headers["content-type"] == "image/png"
    assert_security_headers(headers)
    assert png_size(png) == (900, 640) and len(png) > 20_000
    # Cached per newest score: the same bytes until a score or an alert is added.
    assert world.source.history_png("synth1") is world.source.history_png("synth1")
    status, _, quiet = request(port, "GET", "/plot/synth3.png")
    assert status == 200 and png_size(quiet) == (900, 640)
    name = f"synth1_{alerts[-1].epoch:%Y%m%d}.png"
    status, headers, ql = request(port, "GET", f"/quicklook/{name}")
    assert status == 200 and headers["content-type"] == "image/png"
    assert ql == (world.tmp / "quicklooks" / name).read_bytes() and png_size(ql)[0] > 100
    assert "No alert has been raised" in get_text(port, "/target/synth2")


def test_methods_unknown_paths_and_health(world: World) -> None:
    port = world.server.port
    status, headers, body = request(port, "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 1000
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, body = request(port, method, "/")
        assert status == 405 and headers["allow"] == "GET, HEAD", method
        assert_security_headers(headers)
        assert b"read-only" in body
    for path in ("/nope", "/target/nope", "/target/", "/plot/nope.png", "/plot/synth1",
                 "/target/synth1/x", "/quicklook/"):
        status, headers, body = request(port, "GET", path)
        assert status == 404, path
        assert_security_headers(headers)
        assert b"Not found" in body
    status, headers, body = request(port, "GET", "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert_security_headers(headers)


def test_quicklook_refuses_anything_outside_its_folder(world: World) -> None:
    port = world.server.port
    # A file with a quicklook's name beside the folder, and a link to it inside the folder.
    outside = world.tmp / "synth1_20000101.png"
    outside.write_bytes(PNG_MAGIC + b"secret")
    link = world.tmp / "quicklooks" / "synth1_20000102.png"
    link.symlink_to(outside)
    try:
        for path in ("/quicklook/..%2fsynth1_20000101.png",
                     "/quicklook/..%2F..%2Fmonitor.toml", "/quicklook/%2e%2e%2fwatch.db",
                     "/quicklook/../synth1_20000101.png", "/quicklook/..",
                     f"/quicklook/{outside}", f"/quicklook/{'%2F'.join(outside.parts)}",
                     "/quicklook//etc/passwd", "/quicklook/%2Fetc%2Fpasswd",
                     "/quicklook/synth1_20000102.png", "/quicklook/.hidden_20000101.png",
                     "/quicklook/..synth1_20000101.png", "/quicklook/monitor.toml",
                     "/quicklook/synth1_20000101.png%00.png", "/quicklook/synth1_1999.png",
                     "/quicklook/synth1_20990101.png"):
            status, _, body = request(port, "GET", path)
            assert status == 404, path
            assert b"secret" not in body and b"[database]" not in body
    finally:
        link.unlink()
        outside.unlink()


def test_everything_shown_is_escaped(evil: World) -> None:
    port = evil.server.port
    escaped_script = "&lt;script&gt;alert(1)&lt;/script&gt;"
    escaped_quotes = "&amp;&#34;&#39;"
    for path in ("/", "/target/synth1", "/target/synth2"):
        html = get_text(port, path)
        assert "<script" not in html and EVIL not in html, path
        assert escaped_script in html and escaped_quotes in html, path
    page = get_text(port, "/target/synth1")
    # Name in the title and heading, alert message and acknowledger in the table.
    assert page.count(escaped_script) >= 4
    assert f"<title>{escaped_script} {escaped_quotes} (synth1)" in page
    status, _, png = request(port, "GET", "/plot/synth1.png")
    assert status == 200 and png.startswith(PNG_MAGIC)


def test_broken_database_gives_503_and_logs(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(write_config(tmp_path, NAMES), environ={})
    # The file exists but was never upgraded: every read fails ("no such table").
    store = Store(make_engine(settings.database.url))
    w = serve(settings, store, tmp_path)
    try:
        for path in ("/", "/target/synth1", "/plot/synth1.png"):
            status, headers, body = request(w.server.port, "GET", path)
            assert status == 503, path
            assert_security_headers(headers)
            text = body.decode()
            assert "database cannot be read" in text
            assert "Traceback" not in text and "sqlite" not in text.lower()
            assert "no such table" not in text
        assert request(w.server.port, "GET", "/healthz")[0] == 200
    finally:
        w.server.shutdown()
    assert "the watch database cannot be read" in caplog.text
    assert "no such table" in caplog.text


def test_history_figure_checks_its_inputs() -> None:
    days = [date(2024, 1, 1), date(2024, 1, 13)]
    with pytest.raises(InputError, match="p_raw has 1 values for 2 epochs"):
        target_history_figure(days, p_decision=[0.1, 0.2], p_raw=[0.1], lstt_p=[1, 1],
                              bell_m=[0, 0])
    with pytest.raises(InputError, match="1 alert epochs but 0 alert levels"):
        target_history_figure(days, p_decision=[0.1, 0.2], p_raw=[0.1, 0.2],
                              lstt_p=[1, 1], bell_m=[0, 0], alert_epochs=[days[1]])
    fig = target_history_figure(days, p_decision=[None, 0.7], p_raw=[None, 0.9],
                                lstt_p=[None, 0.0], bell_m=[None, -0.02],
                                frames=["A", "A"], alert_epochs=[days[1]],
                                alert_levels=["watch"])
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_lines()}
    assert {"p_decision", "p_raw", "alert 2024-01-13"} <= gids
    bell = [ln for ln in fig.axes[2].get_lines() if ln.get_label() == "bell"][0]
    assert list(bell.get_ydata())[1] == pytest.approx(-2.0)  # centimetres, sign kept


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_daemon_serves_the_page_while_running(tmp_path: Path, model: LoadedModel,
                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor")
    cfg = write_config(tmp_path, NAMES)
    settings = load_settings(cfg, environ={})
    upgrade(settings.database.url)
    for frame in (FRAME1, FRAME2, FRAME3):  # empty frames: every poll finds nothing
        (tmp_path / "archive" / frame / "interferograms").mkdir(parents=True)
    daemon = Daemon(settings, str(cfg), clock=FixedClock(), model_loader=lambda: model)
    daemon.start()
    try:
        assert daemon.status_server is not None
        port = daemon.status_server.port
        assert f"status page served on http://127.0.0.1:{port}/" in caplog.text
        html = get_text(port, "/")
        assert all(f'data-target="{t}"' in html for t in NAMES)
    finally:
        daemon.stop()
    assert daemon.status_server is None and not port_open(port)
    off = settings.model_copy(update={"status_page": settings.status_page.model_copy(
        update={"enabled": False})})
    daemon = Daemon(off, str(cfg), clock=FixedClock(), model_loader=lambda: model)
    daemon.start()
    try:
        assert daemon.status_server is None
    finally:
        daemon.stop()


def chromium() -> str | None:
    """Debian's chromium (``make system-deps`` installs it when it can)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def run_chromium(exe: str, tmp: Path, *args: str, height: int = 900
                 ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--hide-scrollbars", "--no-first-run", f"--window-size=1280,{height}",
         f"--user-data-dir={tmp / 'chromium-profile'}", *args],
        capture_output=True, text=True, timeout=120, check=False,
        env=dict(os.environ, HOME=str(tmp)))


@pytest.mark.slow
def test_page_in_headless_chromium(world: World, tmp_path: Path) -> None:
    exe = chromium()
    if exe is None:
        pytest.skip("chromium not found: `make system-deps` installs Debian's chromium "
                    "(root with apt-get)")
    base = world.server.url
    dom = run_chromium(exe, tmp_path, "--dump-dom", base)
    assert dom.returncode == 0, dom.stderr[-2000:]
    levels = {s.target.id: s.level for s in watch_status(world.store, world.settings)}
    for tid, name in NAMES.items():
        assert name in dom.stdout and f'data-target="{tid}"' in dom.stdout
    assert levels["synth1"].name in dom.stdout  # the badge of the alerting target
    assert dom.stdout.count(">none<") == 2 and "not official volcano alert levels" in dom.stdout
    shot = tmp_path / "status_page.png"
    run = run_chromium(exe, tmp_path, f"--screenshot={shot}", base)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    data = shot.read_bytes()
    assert png_size(data) == (1280, 900) and len(data) > 50_000
    target_shot = tmp_path / "target_page.png"
    run = run_chromium(exe, tmp_path, f"--screenshot={target_shot}", base + "target/synth1",
                       height=1750)
    assert run.returncode == 0 and png_size(target_shot.read_bytes()) == (1280, 1750)
    if os.environ.get("MONITOR_WRITE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
        shutil.copyfile(target_shot, SCREENSHOT.with_name("status_page_target.png"))
