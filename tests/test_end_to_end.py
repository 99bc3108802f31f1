"""End to end: the watch daemon with real parts (issue 5, "What the tests must show").

A real HTTP server on 127.0.0.1 (``ThreadingHTTPServer``, Apache-style listings) serves a
generated LiCSAR-layout archive ``<root>/<track>/<frame>/...``; the daemon polls it through
:class:`~monitor.archive.LicsarHttpArchive` every second, scores with the packaged
``compact`` CNN, stores to SQLite (and PostgreSQL when ``MONITOR_TEST_POSTGRES_URL`` is
set), sends alert e-mail to a real SMTP server on 127.0.0.1
(aiosmtpd) and serves ``/metrics`` over HTTP. The frame is a Mogi source inflating at
0.6 m/yr from ``ONSET``, 16 epochs 12 days apart, 128 x 128 pixels, 1 mm turbulence, no
stratification and no decorrelation: the first ``N_FIRST`` epochs are published before the
daemon starts, the rest while it runs. With seed 3 the detector of version 2 gave the target
a raw fused probability of 0.66 and 0.72 at the 5th and 6th epochs, 0.77 at the 7th and
0.82-0.96 from the 8th on; after the second look (no delay files: the band-filtered
phase-elevation fit) 0.62 and 0.67, 0.74, then 0.78-0.96: WATCH raised at the 6th epoch, in
the first poll, WARNING at the 10th, in a later poll. The calibrated detector of version 3
(step 7) scores the uplift higher sooner; the assertions hold for both.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import torch
from aiosmtpd.controller import Controller

from monitor.config import Settings, load_settings
from monitor.domain import AlertLevel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.science.synth_series import SeriesScenario
from monitor.service.daemon import Daemon, PollOutcome
from monitor.store import Store, make_engine, upgrade

torch.set_num_threads(1)

FRAME = "022D_04826_121209"
TRACK = "22"  # int(FRAME[:3]): the portal lists tracks without leading zeros
TARGET = "e2e1"
RECIPIENT = "observatory@example.org"
N_EPOCHS = 16
N_FIRST = 6  # epochs published before the daemon starts (N_FIRST - 1 pairs)
ONSET = date(2024, 1, 24)
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
SCENARIO = SeriesScenario(n_epochs=N_EPOCHS, onset=ONSET, rate_m_per_yr=0.6,
                          turbulent_sigma_m=0.001, stratified_strength="none",
                          decorrelate=False)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WAIT_S = 20.0


class FixedClock:
    """A clock stopped at ``NOW`` (after every epoch of the scenario)."""

    def now(self) -> datetime:
        return NOW


# -- the portal: Apache-style listings of a directory tree ------------------------------------


class PortalHandler(BaseHTTPRequestHandler):
    """Serves ``server.root`` as Apache index pages (directories) and files."""

    server: Portal

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(head=False)

    def _send(self, code: int, body: bytes, ctype: str, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        path = urlsplit(self.path).path
        self.server.requests.append(path)
        fs = self.server.root / unquote(path).lstrip("/")
        if fs.is_dir():
            hrefs = [c.name + ("/" if c.is_dir() else "") for c in sorted(fs.iterdir())]
            links = ['<a href="?C=N;O=D">Name</a>', '<a href="../">Parent Directory</a>']
            links += [f'<a href="{h}">{h}</a>' for h in hrefs]
            page = f"<html><body><h1>Index of {path}</h1>{'<br>'.join(links)}</body></html>"
            self._send(200, page.encode(), "text/html", head)
        elif fs.is_file():
            self._send(200, fs.read_bytes(), "image/tiff", head)
        else:
            self._send(404, b"Not Found", "text/plain", head)


class Portal(ThreadingHTTPServer):
    daemon_threads = True
    root: Path
    requests: list[str]


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    srv = Portal(("127.0.0.1", 0), PortalHandler)
    srv.root = tmp_path / "portal"
    srv.root.mkdir()
    srv.requests = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def publish(staging: Path, served: Path, first: int, last: int | None) -> None:
    """Make the frame's metadata and its pairs ``first:last`` (date order) appear on the portal.

    Each pair directory is copied beside the served tree and renamed into it, so the daemon
    never lists a half-copied pair.
    """
    src, dst = staging / TRACK / FRAME, served / TRACK / FRAME
    shutil.copytree(src / "metadata", dst / "metadata", dirs_exist_ok=True)
    (dst / "interferograms").mkdir(parents=True, exist_ok=True)
    tmp = served.parent / "publishing"
    tmp.mkdir(exist_ok=True)
    for name in sorted(p.name for p in (src / "interferograms").iterdir())[first:last]:
        shutil.copytree(src / "interferograms" / name, tmp / name)
        os.replace(tmp / name, dst / "interferograms" / name)


# -- the mail server -------------------------------------------------------------------------


class Collect:
    """aiosmtpd handler keeping every message and its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any,  # noqa: N802
                          envelope: Any) -> str:
        self.messages.append((bytes(envelope.content), list(envelope.rcpt_tos)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Controller, Collect]]:
    # No credentials in the environment: the sender must not attempt a login.
    monkeypatch.delenv("MONITOR_SMTP_USERNAME", raising=False)
    monkeypatch.delenv("MONITOR_SMTP_PASSWORD", raising=False)
    handler = Collect()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    try:
        yield ctl, handler
    finally:
        ctl.stop()


# -- configuration ---------------------------------------------------------------------------


def write_config(tmp: Path, portal_port: int, smtp_port: int, db_url: str) -> Path:
    cfg = tmp / "monitor.toml"
    # [alerts]: the CNN alone, two qualifying steps in a row, so that the alert is certain.
    # The default (cnn_and_lstt) also needs the LSTT p-value of the target disc against
    # reference discs, which on a 128-pixel frame (about 13 km) only comes out after the
    # scorer falls back to a finer grid step: too few reference samples to rely on.
    cfg.write_text(f"""
[database]
url = "{db_url}"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
jitter_s = 0
[alerts]
combine = "cnn"
raise_after = 2
[correction]
# The second look runs as configured by default: no delay files here, so the band-filtered
# phase-elevation fit. Measured on this scenario with the version-2 detector (calm air, no
# stratification, seed 3): P 0.66 -> 0.62 and 0.72 -> 0.67 at the 5th and 6th epochs (WATCH
# at the same epoch as on the raw scores), WARNING one epoch (12 days) later than raw.
enabled = true
[science]
# The CNN: this scenario's alerts come from its single-map rule. On a 128-pixel frame
# (13 km, under one 20 km window) the block detector, the default, is not calibrated.
detector = "cnn"
[email]
mode = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "insar-monitor@example.org"
timeout_s = 5
[metrics]
enabled = true
host = "127.0.0.1"
port = 0
[status_page]
port = 0
[archives.portal]
kind = "licsar_http"
base_url = "http://127.0.0.1:{portal_port}"
timeout_s = 5
retries = 1

[[targets]]
id = "{TARGET}"
name = "End-to-end volcano"
lon = 120.0
lat = 14.0
radius_km = 1.5
archive = "portal"
frames = ["{FRAME}"]
recipients = ["{RECIPIENT}"]
""", encoding="utf-8")
    return cfg


def every_second(settings: Settings) -> Settings:
    """The settings with the target polled every second (the file refuses under 10 s)."""
    targets = tuple(t.model_copy(update={"poll_interval_s": 1.0}) for t in settings.targets)
    return settings.model_copy(update={"targets": targets})


def ingested(outcomes: tuple[PollOutcome, ...]) -> int:
    return sum(o.report.ingested for o in outcomes if o.report is not None)


def attachments(msg: EmailMessage) -> list[tuple[str, bytes]]:
    out = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        out.append((part.get_content_type(), payload))
    return out


def check_email(raw: bytes, rcpt_tos: list[str], epoch: date, level: str) -> None:
    """One alert e-mail: envelope, headers naming the target, epoch and level, a PNG."""
    assert rcpt_tos == [RECIPIENT]
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    subject = str(msg["Subject"])
    assert f"{level} End-to-end volcano ({TARGET}) epoch {epoch:%Y-%m-%d}" in subject, subject
    assert str(msg["To"]) == RECIPIENT
    assert str(msg["From"]) == "insar-monitor@example.org"
    pngs = [data for ctype, data in attachments(msg) if ctype == "image/png"]
    assert len(pngs) == 1 and pngs[0].startswith(PNG_MAGIC) and len(pngs[0]) > 1000


@pytest.mark.slow
def test_watch_end_to_end_http_archive_database_smtp_metrics(
        tmp_path: Path, portal: Portal, smtp: tuple[Controller, Collect],
        watch_database_url: str) -> None:
    ctl, mail = smtp
    staging = tmp_path / "staging"
    write_synthetic_archive(staging / TRACK, scenario=SCENARIO, frame=FRAME,
                            volcano="synthetic", size_px=128, centre_lonlat=(120.0, 14.0),
                            seed=3)
    publish(staging, portal.root, 0, N_FIRST - 1)
    cfg = write_config(tmp_path, portal.server_address[1], ctl.port, watch_database_url)
    settings = every_second(load_settings(cfg, environ={}))
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    daemon = Daemon(settings, str(cfg), clock=FixedClock())
    daemon.start()
    try:
        assert daemon.metrics_server is not None
        metrics_port = daemon.metrics_server.port

        # First poll: the published pairs are fetched over HTTP, ingested and scored; the
        # inflation already qualifies for WATCH (p_fused >= 0.5 twice after the onset),
        # and the alert e-mail goes out by SMTP in the same run.
        assert daemon.wait_for(lambda o: len(o) >= 1, WAIT_S), "no poll within the wait"
        first = daemon.outcomes[0]
        assert first.error is None and first.report is not None, first.error
        assert first.report.failures == ()
        assert (first.report.listed, first.report.ingested) == (N_FIRST - 1, N_FIRST - 1)
        assert first.report.scored == N_FIRST - 1
        assert any(p.endswith(".geo.unw.tif") for p in portal.requests)
        assert [e.epoch for e in store.list_epochs(TARGET)] == list(SCENARIO.epochs[:N_FIRST])
        assert len(store.latest_scores(TARGET, 100)) == N_FIRST - 1
        alerts = store.list_alerts(TARGET)
        assert [a.level for a in alerts] == [AlertLevel.WATCH]
        assert ONSET < alerts[0].epoch <= SCENARIO.epochs[N_FIRST - 1]
        assert first.delivery is not None and first.delivery.sent == 1
        assert len(mail.messages) == 1
        check_email(*mail.messages[0], alerts[0].epoch, "WATCH")

        # Products published while the daemon runs are picked up by a later poll; the
        # growing signal raises WARNING at a new epoch, e-mailed too.
        publish(staging, portal.root, N_FIRST - 1, None)
        assert daemon.wait_for(lambda o: ingested(o) == N_EPOCHS - 1, WAIT_S), \
            [(o.report, o.error) for o in daemon.outcomes]
        assert all(o.error is None and o.report is not None and not o.report.failures
                   for o in daemon.outcomes)
        assert [e.epoch for e in store.list_epochs(TARGET)] == list(SCENARIO.epochs)
        scores = store.latest_scores(TARGET, 100)
        assert [s.epoch for s in scores] == list(SCENARIO.epochs[1:])
        assert all(s.p_fused is not None and 0.0 <= s.p_fused <= 1.0 for s in scores)
        alerts = store.list_alerts(TARGET)
        assert [a.level for a in alerts] == [AlertLevel.WATCH, AlertLevel.WARNING]
        assert alerts[1].epoch > SCENARIO.epochs[N_FIRST - 1]
        assert daemon.wait_for(lambda o: len(mail.messages) == 2, WAIT_S)
        assert store.outbox_depth() == 0
        check_email(*mail.messages[1], alerts[1].epoch, "WARNING")

        # /metrics over HTTP shows the fused probability of the latest epoch.
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        body = urllib.request.urlopen(url, timeout=5).read().decode()
        line = next(x for x in body.splitlines()
                    if x.startswith('insar_monitor_probability_decision{')
                    and f'target="{TARGET}"' in x)
        value = float(line.split()[-1])
        assert 0.0 <= value <= 1.0
        assert value == pytest.approx(float(scores[-1].decision_p_fused or 0.0), abs=1e-6)
    finally:
        daemon.stop()
    assert not daemon.running and daemon.metrics_server is None
    assert len(mail.messages) == 2  # nothing sent twice
