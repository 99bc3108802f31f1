"""Webhooks: signed JSON POSTs to a real HTTP server on 127.0.0.1, retried through the
outbox beside e-mail; cleared levels notify on both channels; the e-mail's new facts and
its acknowledge command.

The receiver is :class:`http.server.ThreadingHTTPServer` in a thread, answering from a
script (status, headers, body, delay) and keeping every request it got. The watch world
of the outbox tests is a store (SQLite, and PostgreSQL when ``MONITOR_TEST_POSTGRES_URL``
is set) with stored scores: a WARNING raised after two qualifying epochs, cleared after
three quiet ones (``[alerts]`` defaults), driven by ``poll_target`` over an empty archive.
"""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from monitor.cli import main
from monitor.config import Settings, WebhookSettings, load_settings
from monitor.domain import AlertDelivery, AlertLevel, AlertMessage
from monitor.errors import ConfigError
from monitor.io.models import LoadedModel
from monitor.metrics import WatchMetrics
from monitor.notify.email import compose_alert_email
from monitor.notify.webhook import (
    DELIVERY_HEADER,
    NOTICE,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    delivery_id,
    sign,
    verify_signature,
    webhook_secret_problems,
)
from monitor.service.context import WatchContext
from monitor.service.outbox import ack_command, deliver_outbox
from monitor.service.pipeline import poll_target
from monitor.store import Store, make_engine, upgrade

SECRET = "correct horse battery staple"
SECRET_ENV = "MONITOR_TEST_WEBHOOK_SECRET"
FRAME = "022D_04826_121209"
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
EPOCHS = [date(2024, 1, 6) + timedelta(days=12 * k) for k in range(6)]
#: (p_fused, lstt_p) per epoch: quiet, two at warning (raised at the 3rd epoch), three
#: quiet (cleared at the 6th).
SCORES = [(0.1, 0.5), (0.9, 0.01), (0.92, 0.004), (0.1, 0.6), (0.12, 0.4), (0.08, 0.7)]
#: Signed bell amplitude of each epoch, metres of LOS (positive: towards the satellite).
BELL_M = [0.0, 0.012, 0.021, 0.02, 0.019, 0.02]
PERMUTATIONS = 20


# -- a receiver -----------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1 answering from ``answers`` (then 200 "ok").

    Each answer is ``(status, headers, body, delay_s)``; ``requests`` keeps
    ``(path, headers, body)`` of every POST received.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.answers: list[tuple[int, dict[str, str], bytes, float]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                status, headers, answer, delay = (receiver.answers.pop(0) if receiver.answers
                                                  else (200, {}, b"ok", 0.0))
                time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

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


def message(**kw: Any) -> AlertMessage:
    base = AlertMessage(
        target_id="211060", target_name="Etna", lon=14.999, lat=37.748,
        epoch=date(2024, 8, 18), level="warning", p_fused=0.91,
        p_by_gain=((1.0, 0.88), (2.0, 0.93)), lstt_p=0.048, cumulative_max_m=0.043,
        peak_lon=15.01, peak_lat=37.75, model_sha256="ab" * 32, frame=FRAME,
        radius_km=3.0, displacement_m=-0.021, lstt_permutations=PERMUTATIONS,
        reason="2 consecutive epochs at warning",
        ack_command="insar-monitor alerts ack 7 --by NAME --config /etc/monitor.toml")
    return replace(base, **kw)


def delivery(recipient: str = "observatory", **kw: Any) -> AlertDelivery:
    return AlertDelivery(delivery_id=3, alert_id=7, recipient=recipient, message=message(**kw),
                         created_at=datetime(2024, 8, 20, 6, tzinfo=UTC),
                         quicklook_png=b"\x89PNG\r\n\x1a\nfake",
                         quicklook_name="211060_20240818.png", channel="webhook")


def hook(url: str, **kw: Any) -> WebhookSettings:
    return WebhookSettings(url=url, secret_env=SECRET_ENV, **kw)


def notifier(url: str, environ: dict[str, str] | None = None, **kw: Any) -> WebhookNotifier:
    return WebhookNotifier({"observatory": hook(url, **kw)},
                           environ={SECRET_ENV: SECRET} if environ is None else environ,
                           clock=lambda: 1_735_732_800.0)


# -- signing --------------------------------------------------------------------------------


def test_signature_verifies_only_the_body_time_and_secret_it_was_made_with() -> None:
    body = b'{"id":"alert-7-observatory"}'
    header = sign(SECRET, 1_700_000_000, body)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify_signature(SECRET, "1700000000", body, header)
    assert verify_signature(SECRET.encode(), 1_700_000_000, body.decode(), header + " ")
    assert not verify_signature(SECRET, "1700000001", body, header)  # another time
    assert not verify_signature(SECRET, "1700000000", body + b" ", header)  # another body
    assert not verify_signature("other secret", "1700000000", body, header)
    assert not verify_signature(SECRET, "1700000000", body, "sha256=" + "0" * 64)
    assert not verify_signature(SECRET, "1700000000", body, "")


# -- the notifier against a real server ------------------------------------------------------


def test_post_is_signed_json_with_a_stable_id(receiver: Receiver) -> None:
    n = WebhookNotifier({"observatory": hook(
        receiver.url, quicklook_base_url="https://obs.example.org/ql/")},
        environ={SECRET_ENV: SECRET})
    result = n.deliver(delivery())
    assert result.delivered and "HTTP 200" in result.detail and n.channel == "webhook"
    again = n.deliver(delivery())  # a retry after a crash
    assert again.delivered
    (path, headers, body), (_, headers2, body2) = receiver.requests
    assert path == "/hook" and headers["Content-Type"] == "application/json"
    assert headers[DELIVERY_HEADER] == headers2[DELIVERY_HEADER] == delivery_id(7, "observatory")
    assert body == body2  # the same document every time
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 60
    doc = json.loads(body)
    assert doc["id"] == "alert-7-observatory" and doc["alert_id"] == 7
    assert doc["kind"] == "raised" and doc["level"] == "warning" and doc["notice"] == NOTICE
    assert "not an official volcano alert level" in doc["notice"]
    assert doc["target"] == {"id": "211060", "name": "Etna", "lon": 14.999, "lat": 37.748,
                             "radius_km": 3.0}
    assert (doc["frame"], doc["epoch"]) == (FRAME, "2024-08-18")
    scores = doc["scores"]
    assert scores["p_fused"] == scores["p_fused_raw"] == 0.91
    assert scores["p_by_gain"] == {"1": 0.88, "2": 0.93}
    assert scores["lstt_p"] == 0.048 and scores["lstt_permutations"] == PERMUTATIONS
    assert scores["lstt_p_floor"] == pytest.approx(1 / 21, abs=1e-6)
    assert scores["gls_p"] is None  # the filter did not judge this epoch
    assert scores["displacement_m"] == -0.021 and scores["displacement_direction"] == "away"
    assert doc["quicklook_url"] == "https://obs.example.org/ql/211060_20240818.png"
    assert doc["reason"] == "2 consecutive epochs at warning"
    assert doc["acknowledge"].startswith("insar-monitor alerts ack 7 ")
    assert SECRET not in body.decode() and SECRET not in json.dumps(headers)


def test_no_quicklook_url_without_a_base_url(receiver: Receiver) -> None:
    assert notifier(receiver.url).deliver(delivery()).delivered
    assert json.loads(receiver.requests[0][2])["quicklook_url"] is None


@pytest.mark.parametrize(("status", "retryable"),
                         [(500, True), (503, True), (429, True), (408, True), (400, False),
                          (401, False), (404, False), (410, False)])
def test_server_answers_are_retryable_or_permanent(receiver: Receiver, status: int,
                                                   retryable: bool) -> None:
    receiver.answers.append((status, {}, b"x" * 100_000, 0.0))
    result = notifier(receiver.url).deliver(delivery())
    assert not result.delivered and result.retryable is retryable
    assert f"HTTP {status}" in result.detail and "webhook observatory" in result.detail
    assert len(result.detail) < 1000  # the answer is capped, only its start is kept


def test_a_redirect_is_not_followed_and_not_retried(receiver: Receiver) -> None:
    other = Receiver()
    try:
        receiver.answers.append((307, {"Location": other.url}, b"", 0.0))
        result = notifier(receiver.url).deliver(delivery())
    finally:
        other.close()
    assert not result.delivered and not result.retryable
    assert "HTTP 307" in result.detail and other.url in result.detail
    assert "redirects are not followed" in result.detail
    assert len(receiver.requests) == 1 and other.requests == []


def test_a_missing_secret_needs_an_operator_and_names_the_variable(
        receiver: Receiver) -> None:
    # The set-up's fault, not the message's: retried (so setting it is all it takes).
    result = notifier(receiver.url, environ={}).deliver(delivery())
    assert not result.delivered and result.retryable and result.needs_operator
    assert SECRET_ENV in result.detail and receiver.requests == []
    empty = notifier(receiver.url, environ={SECRET_ENV: ""}).deliver(delivery())
    assert empty.retryable and empty.needs_operator and SECRET_ENV in empty.detail
    hooks = {"observatory": hook(receiver.url),
             "quiet": WebhookSettings(url=receiver.url, secret_env="OTHER_SECRET")}
    problems = webhook_secret_problems(hooks, {"OTHER_SECRET": "x"})
    assert len(problems) == 1 and SECRET_ENV in problems[0] and "observatory" in problems[0]
    assert webhook_secret_problems(hooks, {SECRET_ENV: SECRET, "OTHER_SECRET": "x"}) == []


def test_unknown_webhook_name_is_permanent(receiver: Receiver) -> None:
    result = notifier(receiver.url).deliver(delivery("gone"))
    assert not result.delivered and not result.retryable and "'gone'" in result.detail


def test_closed_port_and_silent_server_are_retryable(receiver: Receiver) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()
    refused = notifier(url).deliver(delivery())
    assert not refused.delivered and refused.retryable and "cannot reach" in refused.detail
    receiver.answers.append((200, {}, b"late", 2.0))
    t0 = time.perf_counter()
    late = notifier(receiver.url, timeout_s=0.3).deliver(delivery())
    assert time.perf_counter() - t0 < 1.5
    assert not late.delivered and late.retryable and "in time" in late.detail


# -- settings -------------------------------------------------------------------------------


CONFIG = """
[archives.a]
kind = "local"
root = "/data"
[[targets]]
id = "t1"
name = "T"
lon = 1.0
lat = 2.0
archive = "a"
frames = ["022D_04826_121209"]
[[targets]]
id = "t2"
name = "U"
lon = 1.0
lat = 2.0
archive = "a"
frames = ["022D_04826_121209"]
"""


def test_webhook_sections_load_with_defaults_and_route_alerts(tmp_path: Path) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(CONFIG + f"""
[webhooks.observatory]
url = "https://obs.example.org/hook"
secret_env = "{SECRET_ENV}"
[webhooks.civil-protection]
url = "http://10.0.0.5:8080/in"
secret_env = "CP_SECRET"
timeout_s = 3
targets = ["t2"]
notify_cleared = false
""")
    s = load_settings(cfg, environ={})
    obs, cp = s.webhooks["observatory"], s.webhooks["civil-protection"]
    assert (obs.timeout_s, obs.targets, obs.notify_cleared, obs.quicklook_base_url) == (
        10.0, (), True, None)
    assert (cp.timeout_s, cp.targets, cp.notify_cleared) == (3.0, ("t2",), False)
    assert s.webhooks_for("t1") == ["observatory"] == s.webhooks_for("t1", cleared=True)
    assert s.webhooks_for("t2") == ["civil-protection", "observatory"]
    assert s.webhooks_for("t2", cleared=True) == ["observatory"]
    # The example's commented block, uncommented, is a valid section.
    example = (Path(__file__).resolve().parents[1] / "deploy" / "monitor.example.toml")
    lines = example.read_text().splitlines()
    start = lines.index("# [webhooks.observatory]")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        if not line.startswith("# #"):
            block.append(line[2:])
    cfg.write_text(CONFIG + "\n".join(block) + "\n")
    assert load_settings(cfg, environ={}).webhooks["observatory"].secret_env


@pytest.mark.parametrize(("section", "needle"), [
    ('url = "ftp://obs.example.org/x"\nsecret_env = "S"', "http:// or https://"),
    ('url = "https:///nohost"\nsecret_env = "S"', "http:// or https://"),
    ('url = "https://obs.example.org/x"', "webhooks.obs.secret_env"),
    ('url = "https://obs.example.org/x"\nsecret_env = "not a name"', "secret_env"),
    ('url = "https://obs.example.org/x"\nsecret_env = "S"\ntargets = ["t3"]',
     "webhooks.obs.targets: ['t3'] are not target ids"),
    ('url = "https://obs.example.org/x"\nsecret_env = "S"\ntimeout_s = 0', "timeout_s"),
    ('url = "https://obs.example.org/x"\nsecret_env = "S"\nsecret = "x"', "unknown key"),
])
def test_bad_webhook_sections_are_refused(tmp_path: Path, section: str, needle: str) -> None:
    cfg = tmp_path / "m.toml"
    cfg.write_text(CONFIG + "[webhooks.obs]\n" + section + "\n")
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        load_settings(cfg, environ={})


def test_config_show_names_the_variable_never_the_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    cfg = tmp_path / "m.toml"
    cfg.write_text(CONFIG + f'[webhooks.obs]\nurl = "https://o.example.org/h"\n'
                            f'secret_env = "{SECRET_ENV}"\n')
    assert main(["config", "show", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert SECRET_ENV in out and SECRET not in out


# -- through the outbox ---------------------------------------------------------------------


def write_world(tmp: Path, db_url: str, hook_url: str) -> Path:
    (tmp / "archive").mkdir(parents=True, exist_ok=True)
    cfg = tmp / "monitor.toml"
    cfg.write_text(f"""
[database]
url = "{db_url}"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
[email]
mode = "dry-run"
outbox_dir = "{tmp}/outbox"
sender = "insar-monitor@example.org"
[archives.local]
kind = "local"
root = "{tmp}/archive"
[webhooks.observatory]
url = "{hook_url}"
secret_env = "{SECRET_ENV}"
[webhooks.raised-only]
url = "{hook_url}/raised"
secret_env = "{SECRET_ENV}"
notify_cleared = false
[webhooks.elsewhere]
url = "{hook_url}/other"
secret_env = "{SECRET_ENV}"
targets = ["other"]
[[targets]]
id = "hooked"
name = "Hooked volcano"
lon = 120.0
lat = 14.0
radius_km = 1.5
archive = "local"
frames = ["{FRAME}"]
recipients = ["observatory@example.org"]
[[targets]]
id = "other"
name = "Other volcano"
lon = 121.0
lat = 15.0
archive = "local"
frames = ["{FRAME}"]
""", encoding="utf-8")
    upgrade(db_url)
    return cfg


def store_scores(store: Store) -> None:
    """The scores of :data:`SCORES` (what earlier polls would have recorded)."""
    store.upsert_target("hooked", "Hooked volcano", 120.0, 14.0, 1.5, now=NOW)
    for epoch, (p, q), bell in zip(EPOCHS, SCORES, BELL_M, strict=True):
        store.record_epoch("hooked", epoch, 1, 0, "series.npz", abs(bell) + 0.003)
        store.record_score("hooked", epoch, p_fused=p, p_by_gain={"1": p, "2": p},
                           model_sha256="cd" * 32, code_version="test",
                           params={"lstt_permutations": PERMUTATIONS, "frame": FRAME},
                           now=NOW, lstt_p=q, peak_lon=120.001, peak_lat=14.001,
                           signal={"bell_m": bell, "step_m": 0.002, "gls_p": p,
                                   "series": f"{FRAME}@{EPOCHS[0]}"})


@pytest.fixture
def world(tmp_path: Path, receiver: Receiver, model: LoadedModel, watch_database_url: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, WatchContext, Path]]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    cfg = write_world(tmp_path, watch_database_url, receiver.url)
    settings = load_settings(cfg, environ={})
    engine = make_engine(settings.database.url)
    try:
        store = Store(engine)
        store_scores(store)
        yield settings, WatchContext.from_settings(settings, store, model,
                                                   config_file=cfg), cfg
    finally:
        engine.dispose()


def emails(settings: Settings) -> list[EmailMessage]:
    parse = BytesParser(policy=policy.default).parsebytes
    folder = Path(settings.email.outbox_dir)
    out = [parse(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
    assert all(isinstance(m, EmailMessage) for m in out)
    return out  # type: ignore[return-value]


def plain(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_a_cleared_level_alerts_and_notifies_both_channels(
        world: tuple[Settings, WatchContext, Path], receiver: Receiver) -> None:
    settings, ctx, _ = world
    report = poll_target(ctx, settings.target("hooked"), NOW)
    assert report.alerts_raised == 1 and report.alerts_cleared == 1
    # E-mail, "observatory" and "raised-only" for the raise; e-mail and "observatory"
    # for the clear; "elsewhere" watches another target.
    assert report.deliveries_queued == 5
    raised, cleared = ctx.store.list_alerts("hooked")
    assert (raised.kind, raised.level, raised.epoch) == ("deformation", AlertLevel.WARNING,
                                                         EPOCHS[2])
    assert (cleared.kind, cleared.level, cleared.epoch) == ("cleared", AlertLevel.NONE,
                                                            EPOCHS[5])
    assert "level warning cleared at epoch 2024-03-06: 3 consecutive quiet epochs" \
        in cleared.message
    assert ctx.store.outbox_depth("email") == 2 and ctx.store.outbox_depth("webhook") == 3
    again = poll_target(ctx, settings.target("hooked"), NOW + timedelta(hours=1))
    assert (again.alerts_raised, again.alerts_cleared, again.deliveries_queued) == (0, 0, 0)

    report_out = deliver_outbox(ctx, NOW + timedelta(hours=1))
    assert (report_out.sent, report_out.failed, report_out.outbox_depth) == (5, 0, 0)
    posts = {(path, json.loads(body)["kind"]): (headers, body)
             for path, headers, body in receiver.requests}
    assert sorted(posts) == [("/hook", "cleared"), ("/hook", "raised"),
                             ("/hook/raised", "raised")]
    headers, body = posts[("/hook", "cleared")]
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    doc = json.loads(body)
    assert doc["id"] == f"alert-{cleared.id}-observatory" == headers[DELIVERY_HEADER]
    assert (doc["level"], doc["cleared_level"], doc["epoch"]) == ("none", "warning",
                                                                  EPOCHS[5].isoformat())
    assert doc["quicklook_url"] is None and doc["frame"] == FRAME
    up = json.loads(posts[("/hook", "raised")][1])
    assert (up["level"], up["cleared_level"], up["scores"]["displacement_direction"]) == (
        "warning", None, "towards")
    assert up["scores"]["lstt_p_floor"] == pytest.approx(1 / (PERMUTATIONS + 1), abs=1e-6)
    # the GLS filter's P that confirmed the network's (stored as the network's here)
    assert up["scores"]["gls_p"] == up["scores"]["p_fused"]
    mails = {str(m["Subject"]).strip(): m for m in emails(settings)}
    assert sorted(mails) == [
        "[insar-monitor] CLEARED WARNING Hooked volcano (hooked) epoch 2024-03-06",
        "[insar-monitor] WARNING Hooked volcano (hooked) epoch 2024-01-30"]
    clear_mail = mails["[insar-monitor] CLEARED WARNING Hooked volcano (hooked) epoch "
                       "2024-03-06"]
    text = plain(clear_mail)
    assert text.startswith("insar-monitor cleared the WARNING level of Hooked volcano.")
    assert "Alert level: NONE (WARNING cleared)" in text and "quicklook" not in text
    assert not any(p.get_content_type() == "image/png" for p in clear_mail.walk())
    assert clear_mail["X-Insar-Monitor-Kind"] == "cleared"


def test_webhook_retried_with_backoff_then_delivered_once(
        world: tuple[Settings, WatchContext, Path], receiver: Receiver) -> None:
    settings, ctx, _ = world
    poll_target(ctx, settings.target("hooked"), NOW)
    # Deliveries go in queue order: the raise's e-mail, then its POST to "observatory",
    # which the receiver answers with a 500; every other POST gets a 200.
    receiver.answers.append((500, {}, b"database down", 0.0))
    first = deliver_outbox(ctx, NOW)
    assert (first.sent, first.failed, first.given_up, first.outbox_depth) == (4, 1, 0, 1)
    (row,) = ctx.store.pending_deliveries(NOW + timedelta(days=1))
    assert (row.channel, row.recipient, row.status, row.attempts) == (
        "webhook", "observatory", "retrying", 1)
    assert "HTTP 500" in (row.last_error or "") and "database down" in (row.last_error or "")
    assert row.next_attempt_at == NOW + timedelta(seconds=60)
    assert deliver_outbox(ctx, NOW + timedelta(seconds=30)).sent == 0  # backing off
    later = deliver_outbox(ctx, NOW + timedelta(minutes=2))
    assert (later.sent, later.failed, later.outbox_depth) == (1, 0, 0)
    assert deliver_outbox(ctx, NOW + timedelta(hours=1)).sent == 0  # nothing sent twice
    hooks = [(h[DELIVERY_HEADER], b) for path, h, b in receiver.requests if path == "/hook"]
    # The failed attempt and its retry carry the same id and body; the clear's is another.
    (failed_id, failed_body), (clear_id, _), (retry_id, retry_body) = hooks
    assert failed_id == retry_id != clear_id and failed_body == retry_body
    raised = next(a for a in ctx.store.list_alerts("hooked") if a.kind == "deformation")
    assert failed_id == delivery_id(raised.id, "observatory")


def test_webhook_refused_with_400_is_given_up_at_once(
        world: tuple[Settings, WatchContext, Path], receiver: Receiver) -> None:
    settings, world_ctx, _ = world
    registry = CollectorRegistry()
    ctx = replace(world_ctx, metrics=WatchMetrics(registry))
    poll_target(ctx, settings.target("hooked"), NOW)
    receiver.answers.extend([(400, {}, b"bad payload", 0.0)] * 10)
    report = deliver_outbox(ctx, NOW)
    assert report.failed == report.given_up == 3 and report.sent == 2  # the e-mails
    assert report.outbox_depth == 0 and len(receiver.requests) == 3
    assert deliver_outbox(ctx, NOW + timedelta(days=1)).failed == 0
    assert len(receiver.requests) == 3  # not retried: kept as failed for `outbox retry`
    assert ctx.store.failed_count("webhook") == 3
    get = registry.get_sample_value
    assert get("insar_monitor_deliveries_total", {"channel": "webhook", "status": "failed"}) == 3
    assert get("insar_monitor_deliveries_given_up_total", {"channel": "webhook"}) == 3
    assert get("insar_monitor_deliveries_total", {"channel": "email", "status": "sent"}) == 2
    assert get("insar_monitor_outbox_depth", {"channel": "webhook"}) == 0
    assert get("insar_monitor_outbox_depth", {"channel": "email"}) == 0
    assert get("insar_monitor_deliveries_failed", {"channel": "webhook"}) == 3
    assert get("insar_monitor_deliveries_failed", {"channel": "email"}) == 0


def test_missing_secret_through_the_outbox_retries_naming_the_variable(
        world: tuple[Settings, WatchContext, Path], receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    settings, ctx, _ = world
    poll_target(ctx, settings.target("hooked"), NOW)
    monkeypatch.delenv(SECRET_ENV)
    report = deliver_outbox(ctx, NOW)
    assert (report.failed, report.given_up, report.needs_operator) == (3, 0, 3)
    assert receiver.requests == [] and ctx.store.outbox_depth("webhook") == 3
    assert SECRET_ENV in caplog.text and SECRET not in caplog.text
    assert any(r.levelname == "ERROR" and SECRET_ENV in r.getMessage() for r in caplog.records)
    monkeypatch.setenv(SECRET_ENV, SECRET)  # the fix alone sends them
    later = deliver_outbox(ctx, NOW + timedelta(hours=1))
    assert later.sent == 3 and len(receiver.requests) == 3


# -- the e-mail -------------------------------------------------------------------------------


def test_alert_email_says_frame_direction_floor_and_a_working_ack_command(
        world: tuple[Settings, WatchContext, Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    settings, ctx, cfg = world
    poll_target(ctx, settings.target("hooked"), NOW)
    deliver_outbox(ctx, NOW)
    raised = next(m for m in emails(settings) if "CLEARED" not in str(m["Subject"]))
    text = plain(raised)
    assert f"Frame: {FRAME}" in text
    assert ("Displacement over the target (line of sight): 2.1 cm towards the satellite "
            "(uplift or motion towards the sensor)") in text
    assert "p = 0.004 (the smallest p the test can give with 20 permutations is 0.048)" \
        in text
    (line,) = [x for x in text.splitlines() if x.startswith("Acknowledge with: ")]
    command = shlex.split(line.removeprefix("Acknowledge with: "))
    assert command[:3] == ["insar-monitor", "alerts", "ack"]
    assert command[command.index("--config") + 1] == str(cfg.absolute())
    args = ["duty officer" if a == "NAME" else a for a in command[1:]]
    capsys.readouterr()
    assert main(args) == 0
    alert = ctx.store.get_alert(int(command[3]))
    assert alert.kind == "deformation" and alert.acknowledged_by == "duty officer"


def test_ack_command_without_a_known_config_says_file() -> None:
    assert ack_command(4, None) == "insar-monitor alerts ack 4 --by NAME --config FILE"
    assert ack_command(4, "/srv/my watch/m.toml") == (
        "insar-monitor alerts ack 4 --by NAME --config '/srv/my watch/m.toml'")


def test_email_of_motion_away_from_the_satellite_and_of_a_clear() -> None:
    msg = compose_alert_email(message(), sender="m@example.org", recipients=["o@example.org"],
                              created_at=datetime(2024, 8, 20, 6, tzinfo=UTC))
    text = plain(msg)
    assert ("2.1 cm away from the satellite (subsidence or motion away from the sensor)"
            in text)
    assert "p = 0.048 (the smallest p the test can give with 20 permutations is 0.048)" \
        in text
    assert "Acknowledge with: insar-monitor alerts ack 7 --by NAME --config " \
           "/etc/monitor.toml" in text
    clear = compose_alert_email(
        message(cleared=True, level="none", cleared_level="watch",
                reason="Etna (211060): level watch cleared at epoch 2024-08-18: 3 "
                       "consecutive quiet epochs"),
        sender="m@example.org", recipients=["o@example.org"],
        created_at=datetime(2024, 8, 20, 6, tzinfo=UTC))
    assert clear["Subject"] == "[insar-monitor] CLEARED WATCH Etna (211060) epoch 2024-08-18"
    html = clear.get_body(("html",))
    assert isinstance(html, EmailMessage) and "CLEARED: WATCH at Etna" in html.get_content()
    unknown = message(displacement_m=None, lstt_permutations=None, frame=None)
    body = plain(compose_alert_email(unknown, sender="m@example.org",
                                     recipients=["o@example.org"],
                                     created_at=datetime(2024, 8, 20, 6, tzinfo=UTC)))
    assert "Frame: n/a" in body and "LOS" in body and "p = 0.048\n" in body


def test_daemon_start_warns_of_a_missing_secret(
        world: tuple[Settings, WatchContext, Path], model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from monitor.service.daemon import Daemon

    settings, _, cfg = world
    monkeypatch.delenv(SECRET_ENV)
    ctx = Daemon(settings, str(cfg), model_loader=lambda: model).prepare()
    assert ctx.config_file == str(cfg.absolute()) and set(ctx.notifiers) == {"email",
                                                                             "webhook"}
    warned = [r.getMessage() for r in caplog.records if SECRET_ENV in r.getMessage()]
    assert len(warned) == 3 and all("webhooks." in w for w in warned)
