"""Restart after a real kill at every step of a poll and its e-mail (issue 5).

Each test writes a world (a synthetic LiCSAR-layout archive, a configuration, an empty
database, a real SMTP server on 127.0.0.1 from aiosmtpd), then runs one poll of the target
and one pass over the outbox in a child process in which ONE store method or pipeline
function is wrapped so that its ``call``-th call ends the process with ``os._exit(137)``
right after it returns (or right before it runs): no ``finally`` block, no cleanup, no
commit of anything still open, like ``kill -9``. The same poll and delivery then run again
to completion in the test's process, and the outcome is compared with one uninterrupted
run of the same world (module fixture): the same rows (products, epochs, scores, alerts,
deliveries, key columns), the same series file, one quicklook per alert, and every alert
e-mail received by the server exactly once. The exception is the one window that cannot
be closed: the server accepted a message but the process died before
``mark_delivery_sent`` committed; the restart sends it again, with the same
``Message-ID``.

A kill after an alerting epoch was scored and before its quicklook PNG was written used
to lose the PNG (the maps lived only in memory and the restart does not score the epoch
again); they are now kept on disk until the alert is decided
(:mod:`monitor.service.alert_maps`), and every e-mail must carry its picture.

The child is a fork of the test process (the model is already loaded there, which keeps
a kill to about a second instead of the five an interpreter needs to import torch).

Scenario: a Mogi source inflating at 0.6 m/yr from ``ONSET``, 12 epochs 12 days apart,
128 x 128 pixels, 1 mm turbulence (seed 3, as in ``test_end_to_end``); the policy is the
CNN alone, two qualifying steps in a row, which raises WATCH at the 6th epoch and WARNING
at the 9th; two recipients, so four deliveries. Runs on SQLite always and on PostgreSQL
when ``MONITOR_TEST_POSTGRES_URL`` is set (a fresh schema per test).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
import torch
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session

import monitor.service.pipeline as pipeline
from monitor.config import Settings, load_settings
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.notify.smtp import SmtpSender
from monitor.science.synth_series import SeriesScenario
from monitor.science.timeseries import DaisyChainState
from monitor.service.context import WatchContext
from monitor.service.outbox import deliver_outbox
from monitor.service.pipeline import poll_target
from monitor.service.series_files import load_state, series_path
from monitor.store import Store, make_engine, upgrade

torch.set_num_threads(1)

FRAME = "022D_04826_121209"
TARGET = "restart1"
RECIPIENTS = ("observatory@example.org", "duty@example.org")
ONSET = date(2024, 1, 24)
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
SCENARIO = SeriesScenario(n_epochs=12, onset=ONSET, rate_m_per_yr=0.6,
                          turbulent_sigma_m=0.001, stratified_strength="none",
                          decorrelate=False)
#: Exit status of a killed child (128 + SIGKILL, as a shell reports ``kill -9``).
KILLED = 137
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass(frozen=True)
class KillPoint:
    """Where the child dies: the ``call``-th call of ``owner.name``, after it (or before).

    Attributes:
        id: Test id.
        owner: The class or module holding the function.
        name: Its attribute name.
        call: Which call (1-based) kills.
        before: Die before the call instead of after it.
        resends: The kill lands after the server accepted a message and before
            ``mark_delivery_sent``: that message is received twice (at-least-once).
    """

    id: str
    owner: Any
    name: str
    call: int
    before: bool = False
    resends: bool = False


# 11 products, 12 epochs (record_epoch is called once more than the product methods, for
# the first epoch); the 7th product ends at the 8th epoch, after WATCH, before WARNING.
KILL_POINTS = [
    KillPoint("list", Store, "record_listed_products", 1),
    KillPoint("fetch", Store, "mark_product_fetched", 7, ),
    KillPoint("save-series", pipeline, "save_state", 7, ),
    KillPoint("mark-ingested", Store, "mark_product_ingested", 7, ),
    KillPoint("record-epoch", Store, "record_epoch", 8, ),
    # Inside an open transaction, before its COMMIT (the 40th of the run: mid-history,
    # after the WATCH onset).
    KillPoint("uncommitted", Session, "commit", 40, before=True, ),
    KillPoint("record-score", Store, "record_score", 7, ),
    KillPoint("last-score", Store, "record_score", 11, ),
    KillPoint("raise-first-alert", Store, "raise_alert", 1, ),
    KillPoint("raise-second-alert", Store, "raise_alert", 2, ),
    KillPoint("draw-quicklook", pipeline, "alert_quicklook_png", 1, ),
    KillPoint("queue-deliveries", Store, "queue_deliveries", 1, ),
    KillPoint("smtp-before-send", SmtpSender, "send", 2, before=True),
    KillPoint("smtp-accepted-not-marked", SmtpSender, "send", 3, resends=True),
    KillPoint("mark-sent", Store, "mark_delivery_sent", 2),
]


# -- the world -------------------------------------------------------------------------------


class Collect:
    """aiosmtpd handler keeping every message it accepted."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any,  # noqa: N802
                          envelope: Any) -> str:
        self.messages.append(bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Collect]]:
    with pytest.MonkeyPatch.context() as mp:  # no credentials: the sender must not log in
        mp.delenv("MONITOR_SMTP_USERNAME", raising=False)
        mp.delenv("MONITOR_SMTP_PASSWORD", raising=False)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        handler = Collect()
        ctl = Controller(handler, hostname="127.0.0.1", port=port)
        ctl.start()
        try:
            yield port, handler
        finally:
            ctl.stop()


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("staging")
    write_synthetic_archive(root, scenario=SCENARIO, frame=FRAME, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=3)
    return root


def write_world(tmp: Path, staging: Path, db_url: str, smtp_port: int) -> Path:
    """The archive, an upgraded database and the configuration; returns the config path."""
    shutil.copytree(staging / FRAME, tmp / "archive" / FRAME)
    recipients = ", ".join(f'"{r}"' for r in RECIPIENTS)
    cfg = tmp / "monitor.toml"
    cfg.write_text(f"""
[database]
url = "{db_url}"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
[alerts]
combine = "cnn"
raise_after = 2
[correction]
# As by default: flagged steps get the second look (here the band-filtered fit, no delay
# files), so the kill points inside a poll include a correction made and stored.
enabled = true
[email]
mode = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "insar-monitor@example.org"
timeout_s = 5
[archives.local]
kind = "local"
root = "{tmp}/archive"
[[targets]]
id = "{TARGET}"
name = "Restarted volcano"
lon = 120.0
lat = 14.0
radius_km = 1.5
archive = "local"
frames = ["{FRAME}"]
recipients = [{recipients}]
""", encoding="utf-8")
    upgrade(db_url)
    return cfg


def run_watch(cfg: Path, model: LoadedModel, now: datetime) -> None:
    """One poll of the target and one pass over the outbox, as the daemon does."""
    settings = load_settings(cfg, environ={})
    engine = make_engine(settings.database.url)
    try:
        ctx = WatchContext.from_settings(settings, Store(engine), model)
        poll_target(ctx, settings.target(TARGET), now)
        deliver_outbox(ctx, now)
    finally:
        engine.dispose()


def _killed_child(cfg: Path, model: LoadedModel, point: KillPoint) -> None:
    """Body of the child: wrap the kill point, run the watch; 0 if the kill never came."""
    original = getattr(point.owner, point.name)
    calls = 0

    def dying(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == point.call and point.before:
            os._exit(KILLED)
        result = original(*args, **kwargs)
        if calls == point.call:
            os._exit(KILLED)
        return result

    setattr(point.owner, point.name, dying)
    run_watch(cfg, model, NOW)
    os._exit(0)


def run_killed(cfg: Path, model: LoadedModel, point: KillPoint) -> int:
    """Run the watch in a forked child that dies at ``point``; its exit code."""
    child = multiprocessing.get_context("fork").Process(target=_killed_child,
                                                        args=(cfg, model, point))
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        child.join()
        pytest.fail(f"the child killed at {point.id} was still running after 120 s")
    assert child.exitcode is not None
    return child.exitcode


# -- what a run leaves -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Rows (key columns), series, quicklooks and messages a run left."""

    rows: dict[str, list[tuple[Any, ...]]]
    state: DaisyChainState
    quicklooks: list[str]
    messages: list[EmailMessage]


ROW_QUERIES = {
    "products": "SELECT frame, date1, date2, status, checksum FROM products "
                "ORDER BY date1, date2",
    "epochs": "SELECT epoch, n_products, segment, cum_max_m FROM epochs ORDER BY epoch",
    "scores": "SELECT epoch, p_fused, lstt_p, peak_row, peak_col, model_sha256, "
              "correction_method FROM scores ORDER BY epoch",
    # Not the id: PostgreSQL spends a sequence value on every INSERT .. ON CONFLICT DO
    # NOTHING, so a restart that re-raises an alert leaves a gap in the ids.
    "alerts": "SELECT epoch, kind, level, message FROM alerts ORDER BY epoch, kind",
    "deliveries": "SELECT a.epoch, d.recipient, d.status, d.attempts, d.next_attempt_at "
                  "FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
                  "ORDER BY a.epoch, d.recipient",
}


def outcome(cfg: Path, mail: Collect, since: int) -> Outcome:
    settings: Settings = load_settings(cfg, environ={})
    engine = make_engine(settings.database.url)
    try:
        with engine.connect() as conn:
            rows = {name: [tuple(r) for r in conn.execute(sa.text(q))]
                    for name, q in ROW_QUERIES.items()}
    finally:
        engine.dispose()
    state = load_state(series_path(settings.watch.series_dir, TARGET, FRAME))
    assert state is not None
    folder = Path(settings.watch.quicklook_dir)
    quicklooks = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    parse = BytesParser(policy=policy.default).parsebytes
    messages = [parse(raw) for raw in mail.messages[since:]]
    assert all(isinstance(m, EmailMessage) for m in messages)
    return Outcome(rows, state, quicklooks, messages)


def mail_key(msg: EmailMessage) -> tuple[str, str]:
    """Which alert and recipient a message is for (its subject names target, level, epoch)."""
    return str(msg["Subject"]), str(msg["To"])


def has_png(msg: EmailMessage) -> bool:
    return any(p.get_content_type() == "image/png" for p in msg.iter_attachments())


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def reference(backend: str, tmp_path_factory: pytest.TempPathFactory, staging: Path,
              model: LoadedModel, smtp: tuple[int, Collect],
              fresh_database: Callable[[str, Path], AbstractContextManager[str]]
              ) -> Iterator[Outcome]:
    """One uninterrupted poll and delivery of the world."""
    tmp = tmp_path_factory.mktemp(f"reference_{backend}")
    port, mail = smtp
    with fresh_database(backend, tmp) as url:
        cfg = write_world(tmp, staging, url, port)
        since = len(mail.messages)
        run_watch(cfg, model, NOW)
        yield outcome(cfg, mail, since)


def test_reference_run_raises_two_alerts_and_mails_each_recipient_once(
        reference: Outcome) -> None:
    alerts = reference.rows["alerts"]
    assert [a[2] for a in alerts] == [1, 2]  # WATCH, then WARNING
    # WATCH at the 6th epoch; WARNING at a later one, decided after the second look (see
    # test_end_to_end.py; the 7th epoch of this scenario with the detector of version 3).
    assert str(alerts[0][0]) == str(SCENARIO.epochs[5])
    assert str(SCENARIO.epochs[5]) < str(alerts[1][0]) <= str(SCENARIO.epochs[-1])
    assert len(reference.rows["products"]) == 11 and len(reference.rows["epochs"]) == 12
    assert len(reference.rows["scores"]) == 11
    assert [d[2] for d in reference.rows["deliveries"]] == ["sent"] * 4
    assert reference.state.n_epochs == 12
    assert len(reference.quicklooks) == 2
    ids = [str(m["Message-ID"]) for m in reference.messages]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert all(has_png(m) for m in reference.messages)


def crash_and_restart(point: KillPoint, tmp: Path, backend: str, staging: Path,
                      model: LoadedModel, smtp: tuple[int, Collect],
                      fresh_database: Callable[[str, Path], AbstractContextManager[str]]
                      ) -> tuple[int, list[EmailMessage], Outcome]:
    """Kill a watch at ``point``, run it again; (exit code, mail before restart, outcome)."""
    port, mail = smtp
    with fresh_database(backend, tmp) as url:
        cfg = write_world(tmp, staging, url, port)
        since = len(mail.messages)
        code = run_killed(cfg, model, point)
        parse = BytesParser(policy=policy.default).parsebytes
        before = [parse(raw) for raw in mail.messages[since:]]
        run_watch(cfg, model, NOW + timedelta(minutes=5))
        return code, before, outcome(cfg, mail, since)


@pytest.mark.parametrize("point", KILL_POINTS, ids=[p.id for p in KILL_POINTS])
def test_restart_after_a_kill_gives_the_uninterrupted_outcome(
        point: KillPoint, tmp_path: Path, backend: str, reference: Outcome, staging: Path,
        model: LoadedModel, smtp: tuple[int, Collect],
        fresh_database: Callable[[str, Path], AbstractContextManager[str]]) -> None:
    code, _, after = crash_and_restart(point, tmp_path, backend, staging, model, smtp,
                                       fresh_database)
    assert code == KILLED, f"the child was not killed at {point.id} (exit {code})"
    for table, rows in reference.rows.items():
        assert after.rows[table] == rows, table
    st, ok = after.state, reference.state
    assert (st.n_epochs, st.first_epoch, st.last_epoch) == (ok.n_epochs, ok.first_epoch,
                                                            ok.last_epoch)
    np.testing.assert_array_equal(st.cumulative_m, ok.cumulative_m)
    np.testing.assert_array_equal(st.support, ok.support)
    assert st.n_epochs == len(after.rows["epochs"])
    received = Counter(mail_key(m) for m in after.messages)
    expected = Counter(mail_key(m) for m in reference.messages)
    if point.resends:  # the message accepted just before the kill comes again
        twice = [key for key, n in received.items() if n == 2]
        assert len(twice) == 1
        expected[twice[0]] += 1
    assert received == expected
    # One Message-ID per alert and recipient, the same on every copy.
    ids = {mail_key(m): {str(m["Message-ID"])} for m in after.messages}
    for m in after.messages:
        ids[mail_key(m)].add(str(m["Message-ID"]))
    assert all(len(v) == 1 for v in ids.values()) and len(set.union(*ids.values())) == 4
    bare = [str(m["Subject"]) for m in after.messages if not has_png(m)]
    complete = after.quicklooks == reference.quicklooks and not bare
    assert complete, (after.quicklooks, bare)


def test_a_message_accepted_but_not_marked_sent_is_resent_with_its_message_id(
        tmp_path: Path, backend: str, reference: Outcome, staging: Path,
        model: LoadedModel, smtp: tuple[int, Collect],
        fresh_database: Callable[[str, Path], AbstractContextManager[str]]) -> None:
    point = next(p for p in KILL_POINTS if p.resends)
    code, before, after = crash_and_restart(point, tmp_path, backend, staging, model, smtp,
                                            fresh_database)
    assert code == KILLED
    # The child had three messages accepted; the third was never marked sent.
    ids = [str(m["Message-ID"]) for m in before]
    assert len(before) == 3 and len(set(ids)) == 3 and len(after.messages) == 5
    resent, fourth = after.messages[3], after.messages[4]
    assert str(resent["Message-ID"]) == ids[2]
    for header in ("Subject", "To", "Date"):
        assert str(resent[header]) == str(before[2][header])
    assert text_and_png(resent) == text_and_png(before[2])
    # The first two were marked sent: they do not come again; the fourth is new.
    assert str(fourth["Message-ID"]) not in ids
    assert len({mail_key(m) for m in after.messages}) == 4


def text_and_png(msg: EmailMessage) -> tuple[str, bytes]:
    body = msg.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    pngs = [p.get_payload(decode=True) for p in msg.iter_attachments()
            if p.get_content_type() == "image/png"]
    assert len(pngs) == 1 and isinstance(pngs[0], bytes)
    return body.get_content(), pngs[0]
