"""Fault tests of the outbox: outages, refusals, set-up mistakes and poisoned messages.

A real SMTP server (aiosmtpd) and a real HTTP webhook receiver on 127.0.0.1; the store on
SQLite and PostgreSQL (``MONITOR_TEST_POSTGRES_URL``). The clock is injected: a simulated
day is ``now`` advanced through every ``[outbox] interval_s`` pass of 24 h while the
servers really refuse connections or answer errors. Alerts and deliveries are written to
the store directly (no detector, no archive): the outbox is what is under test.

Each test records what it injected and what came out in the ``faults`` tally: deliveries
lost must stay 0; duplicates are counted (at-least-once delivery).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from prometheus_client import CollectorRegistry

from monitor.cli import main
from monitor.config import Settings, load_settings
from monitor.domain import AlertDelivery, AlertLevel, DeliveryResult
from monitor.io.models import LoadedModel
from monitor.metrics import WatchMetrics
from monitor.ports import Notifier
from monitor.service.context import WatchContext, build_notifiers
from monitor.service.metrics_restore import restore_metrics
from monitor.service.outbox import DeliveryReport, deliver_outbox
from monitor.store import Alert, Store, make_engine, upgrade
from tests.faults.conftest import FaultTally

T0 = datetime(2027, 3, 1, 6, 0, tzinfo=UTC)
FRAME = "022D_04826_121209"
SECRET_ENV = "OUTBOX_TEST_WEBHOOK_SECRET"
USER_ENV = "OUTBOX_TEST_SMTP_USER"
PASSWORD_ENV = "OUTBOX_TEST_SMTP_PASSWORD"
#: ``[outbox]`` of every world: a pass a minute, retries 60 s doubling up to 1 h.
INTERVAL_S = 60.0
MAX_BACKOFF_S = 3600.0


# -- the servers ------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps every accepted message; ``mail_reply``, ``rcpt_reply`` (a
    reply, or a function of the address) and ``data_reply`` force refusals."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.mail_reply: str | None = None
        self.rcpt_reply: Any = None
        self.data_reply: str | None = None
        self.attempts = 0

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, mail_options: list[str]) -> str:
        self.attempts += 1
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        reply = self.rcpt_reply(address) if callable(self.rcpt_reply) else self.rcpt_reply
        if reply is not None:
            return str(reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any,  # noqa: N802
                          envelope: Any) -> str:
        if self.data_reply is not None:
            return self.data_reply
        self.messages.append(bytes(envelope.content))
        return "250 OK"

    def message_ids(self) -> Counter[str]:
        parse = BytesParser(policy=policy.default).parsebytes
        return Counter(str(parse(m)["Message-ID"]) for m in self.messages)


class SmtpServer:
    """A real SMTP server on a fixed port that can be taken down and brought back."""

    def __init__(self, port: int = 0, **kw: Any) -> None:
        self.mailbox = Mailbox()
        self._kw = kw
        self.port = port
        self.ctl: Controller | None = None

    def up(self) -> None:
        if self.ctl is None:
            ctl = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **self._kw)
            ctl.start()
            self.port, self.ctl = ctl.port, ctl

    def down(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = SmtpServer(port)
    server.up()
    try:
        yield server
    finally:
        server.down()


class Receiver:
    """A webhook receiver on 127.0.0.1 answering ``status`` (a settable attribute) and
    keeping ``(delivery id, status answered)`` of every POST."""

    def __init__(self) -> None:
        self.status = 200
        self.posts: list[tuple[str, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = receiver.status
                receiver.posts.append((self.headers["X-Insar-Monitor-Delivery"], status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if status >= 300 else b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def accepted(self) -> Counter[str]:
        return Counter(i for i, status in self.posts if 200 <= status < 300)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


# -- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    settings: Settings
    ctx: WatchContext
    registry: CollectorRegistry
    config: Path
    alerts: list[Alert] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return self.ctx.store

    def gauge(self, name: str, channel: str) -> float | None:
        return self.registry.get_sample_value(name, {"channel": channel})

    def add_alert(self, target_id: str, name: str, k: int, recipients: list[str],
                  webhooks: tuple[str, ...] | list[str] = (), now: datetime = T0) -> Alert:
        """An alert of ``target_id`` at its k-th epoch, queued to ``recipients`` (e-mail)
        and ``webhooks``; ``name`` is the target's name in the store (a poisoned one
        stands for a row written before the configuration refused it)."""
        store, epoch = self.store, date(2027, 1, 1) + timedelta(days=12 * k)
        store.upsert_target(target_id, name, 14.0 + k, 37.7, 3.0, now=now)
        store.record_epoch(target_id, epoch, 1, 0, "series.npz", 0.03)
        store.record_score(target_id, epoch, p_fused=0.91, p_by_gain={"1": 0.9, "2": 0.92},
                           model_sha256="ab" * 32, code_version="test",
                           params={"frame": FRAME, "lstt_permutations": 20}, now=now,
                           lstt_p=0.01, signal={"bell_m": 0.02})
        alert = store.raise_alert(target_id, epoch, "deformation", AlertLevel.WARNING,
                                  "2 consecutive epochs at warning", now=now)
        assert alert is not None
        store.queue_deliveries(alert.id, recipients, now=now)
        if webhooks:
            store.queue_deliveries(alert.id, list(webhooks), now=now, channel="webhook")
        self.alerts.append(alert)
        return alert


def write_config(tmp: Path, db_url: str, smtp_port: int, hook_url: str) -> Path:
    cfg = tmp / "outbox.toml"
    cfg.write_text(f"""
[database]
url = "{db_url}"
[email]
mode = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "monitor@example.org"
username_env = "{USER_ENV}"
password_env = "{PASSWORD_ENV}"
timeout_s = 5.0
[outbox]
interval_s = {INTERVAL_S}
first_backoff_s = 60.0
max_backoff_s = {MAX_BACKOFF_S}
[watch]
quicklook_dir = "{tmp / 'quicklooks'}"
[metrics]
enabled = false
[status_page]
enabled = false
[feeds]
enabled = false
[webhooks.observatory]
url = "{hook_url}"
secret_env = "{SECRET_ENV}"
timeout_s = 5.0
""", encoding="utf-8")
    return cfg


#: Tests about what a channel answers (SMTP replies, webhook statuses) run on SQLite only:
#: the store's part (claims, backoff, re-queue) runs on both backends in the tests of the
#: retry command and the exit codes here, in tests/test_store.py and in the PostgreSQL kill
#: campaign (tests/faults/test_kills.py); this keeps the suite within its time.
SQLITE_ONLY = pytest.mark.parametrize("watch_database_url", ["sqlite"], indirect=True)


@pytest.fixture
def world(tmp_path: Path, watch_database_url: str, smtp: SmtpServer, receiver: Receiver,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    monkeypatch.delenv(USER_ENV, raising=False)
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    cfg = write_config(tmp_path, watch_database_url, smtp.port, receiver.url)
    upgrade(watch_database_url)
    settings = load_settings(cfg, environ={})
    engine = make_engine(settings.database.url)
    registry = CollectorRegistry()
    try:
        # The outbox reads neither a detector nor an archive.
        ctx = WatchContext(settings, Store(engine), {}, cast(LoadedModel, None),
                           WatchMetrics(registry), build_notifiers(settings))
        yield World(settings, ctx, registry, cfg)
    finally:
        engine.dispose()


def run_passes(w: World, start: datetime, hours: float, *, step_s: float = INTERVAL_S,
               on_pass: Any = None) -> tuple[datetime, list[DeliveryReport]]:
    """Outbox passes every ``step_s`` simulated seconds from ``start`` for ``hours``."""
    now, reports = start, []
    end = start + timedelta(hours=hours)
    while now < end:
        if on_pass is not None:
            on_pass(now)
        reports.append(deliver_outbox(w.ctx, now))
        now += timedelta(seconds=step_s)
    return now, reports


def statuses(w: World) -> Counter[str]:
    return Counter(d.status for d in w.store.list_deliveries())


# -- a day without SMTP -------------------------------------------------------------------------


@SQLITE_ONLY
def test_smtp_down_for_a_simulated_day_loses_nothing_and_sends_once(
        world: World, smtp: SmtpServer, faults: FaultTally) -> None:
    """Twelve hours of refused connections, twelve hours of ``421``, then the server is
    back: every e-mail goes out exactly once within one capped backoff of its return, and
    nothing is given up on the way."""
    w = world
    for k in range(4):
        w.add_alert(f"volcano{k}", f"Volcano {k}", k, ["obs@example.org", "civil@example.org"])
    n = 8
    smtp.down()
    refused_attempts = 0

    def outage(now: datetime) -> None:
        nonlocal refused_attempts
        if now >= T0 + timedelta(hours=12) and smtp.ctl is None:
            smtp.mailbox.mail_reply = "421 4.3.2 service shutting down, try later"
            smtp.up()

    now, reports = run_passes(w, T0, 24, on_pass=outage)
    refused_attempts = sum(r.failed for r in reports)
    assert sum(r.given_up for r in reports) == 0 and sum(r.sent for r in reports) == 0
    assert statuses(w) == Counter({"retrying": n}) and w.store.failed_count() == 0
    assert w.gauge("insar_monitor_outbox_depth", "email") == n
    assert w.gauge("insar_monitor_deliveries_failed", "email") == 0
    age = w.gauge("insar_monitor_outbox_oldest_age_seconds", "email")
    assert age is not None and age >= 24 * 3600 - INTERVAL_S  # how long it has been failing
    attempts = [d.attempts for d in w.store.list_deliveries()]
    assert min(attempts) > 8  # the old outbox gave up after 8 attempts (about 2 h)
    assert smtp.mailbox.attempts > 0  # the 421 half of the day really reached the server
    # The server is back.
    smtp.mailbox.mail_reply = None
    back = now
    now, after = run_passes(w, back, 1.5)
    assert statuses(w) == Counter({"sent": n}) and w.store.outbox_depth() == 0
    ids = smtp.mailbox.message_ids()
    duplicates = sum(c - 1 for c in ids.values())
    assert len(ids) == n and duplicates == 0
    sent_at = [d.sent_at for d in w.store.list_deliveries()]
    delay_s = max((t - back).total_seconds() for t in sent_at if t is not None)
    assert delay_s <= MAX_BACKOFF_S + INTERVAL_S
    assert w.gauge("insar_monitor_outbox_oldest_age_seconds", "email") == 0
    faults.injected("smtp connection refused (attempts)", sum(
        r.failed for r in reports[:int(12 * 3600 / INTERVAL_S)]))
    faults.injected("smtp 421 (attempts)", refused_attempts - sum(
        r.failed for r in reports[:int(12 * 3600 / INTERVAL_S)]))
    faults.duplicates(duplicates)
    faults.lost(n - len(ids))
    faults.measured("outbox: simulated smtp outage, hours", 24)
    faults.measured("outbox: attempts per e-mail during the outage (max)", max(attempts))
    faults.measured("outbox: seconds from smtp return to the last e-mail sent", delay_s)


# -- replies that need an operator, or refuse one message ---------------------------------------


def alerts_list(w: World, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["alerts", "list", "--config", str(w.config)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_550_and_per_recipient_554_fail_visibly_and_outbox_retry_resends_after_the_fix(
        world: World, smtp: SmtpServer, faults: FaultTally,
        capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    w = world
    good = w.add_alert("good", "Good volcano", 0, ["obs@example.org"])
    bad = w.add_alert("typo", "Typo volcano", 1, ["obs@exmaple.org", "desk@example.org"])
    refusals = {"obs@exmaple.org": "550 5.1.1 no such user",
                "desk@example.org": "554 transaction failed"}
    smtp.mailbox.rcpt_reply = refusals.get
    report = deliver_outbox(w.ctx, T0)
    assert (report.sent, report.failed, report.given_up) == (1, 2, 2)
    assert report.problem == "deliveries failed permanently"
    assert any(r.levelname == "ERROR" and "outbox retry --delivery" in r.getMessage()
               for r in caplog.records)
    # Visible: a gauge, the store, `alerts list`, `outbox list --failed`, and never
    # retried by itself.
    assert w.gauge("insar_monitor_deliveries_failed", "email") == 2
    assert w.registry.get_sample_value("insar_monitor_deliveries_given_up_total",
                                       {"channel": "email"}) == 2
    restarted = CollectorRegistry()  # a daemon started now shows them from the first scrape
    restore_metrics(WatchMetrics(restarted), w.store, w.settings, T0)
    assert restarted.get_sample_value("insar_monitor_deliveries_failed",
                                      {"channel": "email"}) == 2
    docs = {d["id"]: d for d in alerts_list(w, capsys)}
    assert [x["status"] for x in docs[good.id]["deliveries"]] == ["sent"]
    shown = {x["recipient"]: x for x in docs[bad.id]["deliveries"]}
    assert shown["obs@exmaple.org"]["status"] == "failed"
    assert "550 5.1.1" in shown["obs@exmaple.org"]["last_error"]
    assert shown["desk@example.org"]["attempts"] == 1
    assert main(["outbox", "list", "--failed", "--config", str(w.config)]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {d["recipient"] for d in listed[:-1]} == set(refusals)
    assert listed[-1]["summary"]["failed"] == 2
    _, later = run_passes(w, T0 + timedelta(minutes=1), 6, step_s=600)
    assert sum(r.failed for r in later) == 0 and len(smtp.mailbox.messages) == 1
    # The fix (the address corrected at the server, the refusal lifted), then a retry.
    smtp.mailbox.rcpt_reply = None
    assert main(["outbox", "retry", "--delivery", str(shown["obs@exmaple.org"]["id"]),
                 "--config", str(w.config)]) == 0
    assert main(["outbox", "retry", "--alert", str(bad.id), "--now",
                 "--config", str(w.config)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert out[-1]["summary"]["sent"] == 2 and out[-1]["summary"]["outbox"] == "ok"
    report = deliver_outbox(w.ctx, T0 + timedelta(days=1))
    assert report.sent == 0 and w.store.failed_count() == 0 and report.problem is None
    ids = smtp.mailbox.message_ids()
    assert len(ids) == 3 and sum(ids.values()) == 3
    assert main(["outbox", "retry", "--all-failed", "--config", str(w.config)]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]["requeued"] == 0
    faults.injected("smtp 550 per recipient", 1)
    faults.injected("smtp 554 per recipient", 1)
    faults.duplicates(sum(ids.values()) - len(ids))
    faults.lost(3 - len(ids))


@SQLITE_ONLY
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("refusal", ["530", "535", "554-data", "454"])
def test_auth_and_session_refusals_retry_until_the_fix_alone_sends(
        refusal: str, world: World, smtp: SmtpServer, faults: FaultTally,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """530 (login required), 535 (bad credentials), 454 (temporary auth failure) and a 554
    after DATA (not per recipient) are the set-up's problem: retried at most an hour
    apart, logged at ERROR with what to fix; fixing it is all it takes."""
    w = world
    logins: list[tuple[bytes, bytes]] = []
    smtp.down()

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"volcano", b"right")
        return AuthResult(success=ok, handled=False)

    auth = refusal in ("530", "535")
    if auth:
        smtp._kw = {"authenticator": authenticator, "auth_required": True,
                    "auth_require_tls": False}
    smtp.up()
    if refusal == "535":
        monkeypatch.setenv(USER_ENV, "volcano")
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
    if refusal == "554-data":
        smtp.mailbox.data_reply = "554 transaction failed"
    if refusal == "454":
        smtp.mailbox.mail_reply = "454 4.7.0 temporary authentication failure"
    for k in range(3):
        w.add_alert(f"v{k}", f"Volcano {k}", k, ["obs@example.org"])
    caplog.set_level(logging.ERROR, logger="monitor.service.outbox")
    now, reports = run_passes(w, T0, 6)
    assert sum(r.given_up for r in reports) == 0 and w.store.failed_count() == 0
    assert sum(r.needs_operator for r in reports) == sum(r.failed for r in reports) > 0
    assert statuses(w) == Counter({"retrying": 3}) and smtp.mailbox.messages == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all("until the set-up is fixed" in e for e in errors)
    if auth:
        assert any("username_env" in e for e in errors)
    # The fix, and nothing else: the right login, or the server's refusal lifted.
    if auth:
        monkeypatch.setenv(USER_ENV, "volcano")
        monkeypatch.setenv(PASSWORD_ENV, "right")
    smtp.mailbox.data_reply = smtp.mailbox.mail_reply = None
    now, _ = run_passes(w, now, 1.5)
    assert statuses(w) == Counter({"sent": 3})
    ids = smtp.mailbox.message_ids()
    assert len(ids) == 3 and sum(ids.values()) == 3
    faults.injected(f"smtp {refusal} (attempts)", sum(r.failed for r in reports))
    faults.duplicates(sum(ids.values()) - len(ids))
    faults.lost(3 - len(ids))


@SQLITE_ONLY
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_username_without_password_retries_naming_the_variable(
        world: World, smtp: SmtpServer, faults: FaultTally,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    w = world

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"volcano",
                                                                            b"anything"))

    smtp.down()
    smtp._kw = {"authenticator": authenticator, "auth_required": True,
                "auth_require_tls": False}
    smtp.up()
    monkeypatch.setenv(USER_ENV, "volcano")  # and PASSWORD_ENV unset
    w.add_alert("v0", "Volcano", 0, ["obs@example.org", "desk@example.org"])
    now, reports = run_passes(w, T0, 3)
    assert sum(r.given_up for r in reports) == 0 and sum(r.needs_operator for r in reports) > 0
    assert smtp.mailbox.attempts == 0  # the server is not even contacted
    assert any(r.levelname == "ERROR" and PASSWORD_ENV in r.getMessage()
               for r in caplog.records)
    doc = w.store.list_deliveries()[0]
    assert doc.status == "retrying" and PASSWORD_ENV in (doc.last_error or "")
    monkeypatch.setenv(PASSWORD_ENV, "anything")
    run_passes(w, now, 1.5)
    assert statuses(w) == Counter({"sent": 2}) and len(smtp.mailbox.message_ids()) == 2
    faults.injected("smtp password variable missing (attempts)", sum(r.failed for r in reports))
    faults.lost(2 - len(smtp.mailbox.message_ids()))


# -- one poisoned message -----------------------------------------------------------------------


class Exploding:
    """Wraps a notifier; raises ``error`` for one recipient (a channel's bug)."""

    def __init__(self, inner: Notifier, recipient: str, error: BaseException) -> None:
        self.inner, self.recipient, self.error = inner, recipient, error
        self.channel = inner.channel

    def deliver(self, delivery: AlertDelivery) -> DeliveryResult:
        if delivery.recipient == self.recipient:
            raise self.error
        return self.inner.deliver(delivery)


def test_a_poisoned_message_fails_alone_and_the_pass_goes_on(
        world: World, smtp: SmtpServer, receiver: Receiver, faults: FaultTally,
        caplog: pytest.LogCaptureFixture) -> None:
    """A target name with CR/LF (a header that cannot be built) and a channel that raises
    on one recipient: those deliveries fail alone, recorded with the delivery id; every
    other alert goes out, on both channels."""
    w = world
    w.add_alert("before", "Before volcano", 0, ["obs@example.org"], ["observatory"])
    poisoned = w.add_alert("poisoned", "Bad\r\nBcc: attacker@example.net", 1,
                           ["obs@example.org"], ["observatory"])
    w.add_alert("after", "After volcano", 2, ["obs@example.org", "bug@example.org"],
                ["observatory"])
    ctx = replace(w.ctx, notifiers={**w.ctx.notifiers, "email": Exploding(
        w.ctx.notifiers["email"], "bug@example.org", RuntimeError("notifier bug"))})
    report = deliver_outbox(ctx, T0)
    # 3 webhooks (the JSON carries the name safely) + 2 good e-mails sent; the poisoned
    # e-mail failed permanently; the exploding one is retryable.
    assert (report.sent, report.failed, report.given_up) == (5, 2, 1)
    rows = {(d.alert_id, d.channel, d.recipient): d for d in w.store.list_deliveries()}
    bad = rows[(poisoned.id, "email", "obs@example.org")]
    assert bad.status == "failed" and "cannot be built" in (bad.last_error or "")
    bug = next(d for d in rows.values() if d.recipient == "bug@example.org")
    assert bug.status == "retrying" and "RuntimeError: notifier bug" in (bug.last_error or "")
    assert any(f"delivery {bug.id} " in r.getMessage() and r.levelname == "ERROR"
               for r in caplog.records)
    assert rows[(poisoned.id, "webhook", "observatory")].status == "sent"
    messages = [BytesParser(policy=policy.default).parsebytes(m)
                for m in smtp.mailbox.messages]
    assert len(messages) == 2 and not any("attacker" in str(m) for m in messages)
    assert len(receiver.accepted()) == 3
    # Interrupts are not swallowed.
    w.store.requeue_deliveries(T0, delivery_ids=[bug.id])
    stop = replace(w.ctx, notifiers={**w.ctx.notifiers, "email": Exploding(
        w.ctx.notifiers["email"], "bug@example.org", KeyboardInterrupt())})
    with pytest.raises(KeyboardInterrupt):
        deliver_outbox(stop, T0 + timedelta(hours=2))
    faults.bad_input("outbox: CR/LF in a target name", 1)
    faults.injected("outbox: notifier raising", 1)
    faults.lost(0 if len(messages) == 2 and len(receiver.accepted()) == 3 else 1)


# -- a webhook answering 500 for hours ----------------------------------------------------------


@SQLITE_ONLY
def test_webhook_500_for_hours_then_delivered_once(
        world: World, receiver: Receiver, faults: FaultTally) -> None:
    w = world
    for k in range(3):
        w.add_alert(f"h{k}", f"Hooked {k}", k, [], ["observatory"])
    receiver.status = 500
    now, reports = run_passes(w, T0, 8)
    assert sum(r.given_up for r in reports) == 0 and statuses(w) == Counter({"retrying": 3})
    answered_500 = sum(1 for _, s in receiver.posts if s == 500)
    receiver.status = 200
    run_passes(w, now, 1.5)
    accepted = receiver.accepted()
    assert statuses(w) == Counter({"sent": 3}) and len(accepted) == 3
    assert set(accepted.values()) == {1}
    faults.injected("webhook 500 (answers)", answered_500)
    faults.duplicates(sum(accepted.values()) - len(accepted))
    faults.lost(3 - len(accepted))


# -- the outbox's own schedule in a running daemon ----------------------------------------------


def daemon_passes_sent(daemon: Any, deadline: float) -> bool:
    """Whether one of the daemon's outbox passes sent something, waiting for it until
    ``deadline`` (monotonic seconds)."""
    while time.monotonic() < deadline:
        if any(p.sent for p in daemon.outbox_passes):
            return True
        time.sleep(0.05)
    return any(p.sent for p in daemon.outbox_passes)


def test_daemon_sends_a_delivery_queued_between_polls_within_the_outbox_interval(
        tmp_path: Path, smtp: SmtpServer, receiver: Receiver, faults: FaultTally,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The target's poll (every day) is stuck for the whole test; a delivery queued
    meanwhile goes out through the ``outbox`` job (every second here) anyway."""
    import monitor.service.daemon as daemon_mod
    from monitor.service.daemon import Daemon

    db_url = f"sqlite:///{tmp_path / 'watch.db'}"
    cfg = write_config(tmp_path, db_url, smtp.port, receiver.url)
    (tmp_path / "archive").mkdir()
    cfg.write_text(cfg.read_text().replace(f"interval_s = {INTERVAL_S}", "interval_s = 1")
                   + f"""
[archives.local]
kind = "local"
root = "{tmp_path / 'archive'}"
[[targets]]
id = "slow"
name = "Slow volcano"
lon = 14.0
lat = 37.7
archive = "local"
frames = ["{FRAME}"]
poll_interval_s = 86400
""", encoding="utf-8")
    upgrade(db_url)
    release = threading.Event()
    polling = threading.Event()

    def stuck_poll(*args: Any, **kwargs: Any) -> Any:
        polling.set()
        release.wait(30)
        raise RuntimeError("poll released at the end of the test")

    monkeypatch.setattr(daemon_mod, "poll_target", stuck_poll)
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    settings = load_settings(cfg, environ={})
    daemon = Daemon(settings, str(cfg), model_loader=lambda: cast(LoadedModel, None))
    daemon.start()
    engine = make_engine(db_url)
    try:
        assert polling.wait(10)  # the poll holds the poll thread from now on
        store = Store(engine)
        w = World(settings, WatchContext(settings, store, {}, cast(LoadedModel, None)),
                  CollectorRegistry(), cfg)
        queued_at = time.monotonic()
        w.add_alert("slow", "Slow volcano", 0, ["obs@example.org"], ["observatory"],
                    now=datetime.now(UTC))
        # The poll stays stuck for up to 30 s: a delivery sent before then went out on the
        # outbox's own schedule (interval 1 s), not after a poll. How long it took is a
        # figure of the tally, not a timed assertion (the machine may be busy).
        deadline = queued_at + 25
        while time.monotonic() < deadline and store.outbox_depth() > 0:
            time.sleep(0.05)
        took = time.monotonic() - queued_at
        assert store.outbox_depth() == 0, "the outbox job did not send during the poll"
        assert polling.is_set() and not release.is_set()
        assert len(smtp.mailbox.message_ids()) == 1 and len(receiver.accepted()) == 1
        # The pass records itself once it returns, after the rows were marked sent.
        assert daemon_passes_sent(daemon, deadline)
    finally:
        release.set()
        daemon.stop(wait=True)
        engine.dispose()
    faults.injected("daemon: poll stuck while a delivery is queued", 1)
    faults.measured("outbox: seconds from queue to sent with a stuck poll", took)
    faults.lost(0)


# -- poll --once and run --once say when the outbox is not clean --------------------------------


def test_poll_and_run_once_exit_7_while_deliveries_fail_or_wait(
        tmp_path: Path, smtp: SmtpServer, receiver: Receiver, faults: FaultTally,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    db_url = f"sqlite:///{tmp_path / 'watch.db'}"
    cfg = write_config(tmp_path, db_url, smtp.port, receiver.url)
    (tmp_path / "archive" / FRAME / "interferograms").mkdir(parents=True)  # nothing new
    cfg.write_text(cfg.read_text() + f"""
[archives.local]
kind = "local"
root = "{tmp_path / 'archive'}"
[[targets]]
id = "quiet"
name = "Quiet volcano"
lon = 14.0
lat = 37.7
archive = "local"
frames = ["{FRAME}"]
""", encoding="utf-8")
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    upgrade(db_url)
    settings = load_settings(cfg, environ={})
    engine = make_engine(db_url)
    try:
        w = World(settings, WatchContext(settings, Store(engine), {}, cast(LoadedModel, None)),
                  CollectorRegistry(), cfg)

        def poll_once() -> tuple[int, dict[str, Any]]:
            capsys.readouterr()
            code = main(["poll", "quiet", "--once", "--config", str(cfg)])
            return code, json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]

        w.add_alert("other", "Other volcano", 0, ["obs@exmaple.org"], now=datetime.now(UTC))
        smtp.mailbox.rcpt_reply = "550 5.1.1 no such user"
        code, summary = poll_once()
        assert code == 7 and summary["outbox"] == "deliveries failed permanently"
        assert (summary["delivery_given_up"], summary["deliveries_failed"]) == (1, 1)
        # Still failed, still said, until an operator re-sends it.
        assert main(["run", "--config", str(cfg), "--once"]) == 7
        smtp.mailbox.rcpt_reply = None
        assert main(["outbox", "retry", "--all-failed", "--config", str(cfg)]) == 0
        assert main(["run", "--config", str(cfg), "--once"]) == 0
        assert len(smtp.mailbox.message_ids()) == 1
        # A failure to be retried: exit 7 as well, and the summary says which.
        w.add_alert("other", "Other volcano", 1, ["obs@example.org"], now=datetime.now(UTC))
        smtp.down()
        code, summary = poll_once()
        assert code == 7 and summary["outbox"] == "deliveries remain queued after errors"
        assert summary["deliveries_failed"] == 0 and summary["outbox_depth"] == 1
    finally:
        engine.dispose()
    faults.injected("cli --once with failing deliveries", 3)
