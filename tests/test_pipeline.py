"""One poll of a target: stages, idempotence, new products, crash safety, failures, CLI.

The archive is synthetic (:func:`monitor.io.synth_archive.write_synthetic_archive`): a
Mogi source inflating from ``ONSET`` at 0.5 m/yr under weak turbulence, 12 epochs 12 days
apart, 128 x 128 pixels of 0.001 degree; the detector is the packaged ``compact`` model.
The first poll, the repeated poll and the crash test run on SQLite and, when
``MONITOR_TEST_POSTGRES_URL`` is set, on PostgreSQL (a fresh schema per test).
"""

from __future__ import annotations

import errno
import json
import shutil
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import torch
from prometheus_client import CollectorRegistry

from monitor.archive import LocalArchive
from monitor.cli import main
from monitor.config import Settings, load_settings
from monitor.domain import AlertLevel, FetchedProduct, ProductRef, ProductStatus
from monitor.errors import DeliveryError, InputError
from monitor.io.licsar_frame import open_frame, read_frame, read_grid
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.metrics import WatchMetrics
from monitor.notify.email import EmailNotifier
from monitor.science.synth_series import SeriesScenario
from monitor.science.timeseries import DaisyChainState, cumulative_series
from monitor.service.context import WatchContext
from monitor.service.outbox import deliver_outbox
from monitor.service.pipeline import PollReport, poll_target
from monitor.service.series_files import load_state, series_path
from monitor.store import Product, Store, make_engine, upgrade

torch.set_num_threads(1)

FRAME1 = "022D_04826_121209"
FRAME2 = "087A_05000_131313"
ONSET = date(2024, 2, 23)
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
SCENARIO1 = SeriesScenario(n_epochs=12, onset=ONSET, rate_m_per_yr=0.5,
                           stratified_strength="none", decorrelate=False)
SCENARIO2 = SeriesScenario(n_epochs=6, onset=None, stratified_strength="none",
                           decorrelate=False)


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both frames written once; tests publish (copy) some or all of their pairs."""
    root = tmp_path_factory.mktemp("staging")
    write_synthetic_archive(root, scenario=SCENARIO1, frame=FRAME1, volcano="synthetic",
                            size_px=128, centre_lonlat=(120.0, 14.0), seed=3)
    write_synthetic_archive(root, scenario=SCENARIO2, frame=FRAME2, volcano="synthetic",
                            size_px=128, centre_lonlat=(121.0, 15.0), seed=4)
    return root


def publish(staging: Path, archive: Path, frame: str, n_pairs: int | None = None) -> None:
    """Copy the frame's metadata and its first ``n_pairs`` pairs (all when None)."""
    src = staging / frame
    dst = archive / frame
    shutil.copytree(src / "metadata", dst / "metadata", dirs_exist_ok=True)
    pairs = sorted(p.name for p in (src / "interferograms").iterdir())
    for name in pairs[:n_pairs]:
        shutil.copytree(src / "interferograms" / name, dst / "interferograms" / name,
                        dirs_exist_ok=True)


def write_config(tmp: Path, db_url: str | None = None) -> Path:
    cfg = tmp / "monitor.toml"
    cfg.write_text(f"""
[database]
url = "{db_url or f'sqlite:///{tmp}/watch.db'}"
[watch]
series_dir = "{tmp}/series"
cache_dir = "{tmp}/cache"
quicklook_dir = "{tmp}/quicklooks"
[science]
# The CNN: this scenario's alerts come from its single-map rule. On a 128-pixel frame
# (13 km, under one 20 km window) the block detector, the default, is not calibrated.
detector = "cnn"
[email]
mode = "dry-run"
outbox_dir = "{tmp}/outbox"
[archives.local]
kind = "local"
root = "{tmp}/archive"
[[targets]]
id = "synth1"
name = "Synthetic One"
lon = 120.0
lat = 14.0
radius_km = 1.5
archive = "local"
frames = ["{FRAME1}"]
recipients = ["observatory@example.org"]
[[targets]]
id = "synth2"
name = "Synthetic Two"
lon = 121.0
lat = 15.0
radius_km = 1.5
archive = "local"
frames = ["{FRAME2}"]
recipients = ["observatory@example.org"]
""", encoding="utf-8")
    return cfg


def make_world(tmp: Path, staging: Path, model: LoadedModel, n_pairs1: int | None = None,
               metrics: WatchMetrics | None = None, db_url: str | None = None
               ) -> tuple[Settings, WatchContext, Path]:
    """Archive, configuration and an upgraded database (``db_url``, else SQLite in ``tmp``)."""
    publish(staging, tmp / "archive", FRAME1, n_pairs1)
    publish(staging, tmp / "archive", FRAME2)
    cfg = write_config(tmp, db_url)
    settings = load_settings(cfg, environ={})
    upgrade(settings.database.url)
    store = Store(make_engine(settings.database.url))
    return settings, WatchContext.from_settings(settings, store, model, metrics), cfg


def counts(ctx: WatchContext) -> dict[str, int]:
    s = ctx.store
    return {"epochs": len(s.list_epochs("synth1")),
            "scores": len(s.latest_scores("synth1", 1000)),
            "alerts": len(s.list_alerts()), "outbox": s.outbox_depth()}


def state1(settings: Settings) -> DaisyChainState:
    state = load_state(series_path(settings.watch.series_dir, "synth1", FRAME1))
    assert state is not None
    return state


def emails(settings: Settings) -> list[Path]:
    folder = Path(settings.email.outbox_dir)
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def test_first_poll_ingests_scores_and_alerts_after_onset(tmp_path: Path, staging: Path,
                                                          model: LoadedModel,
                                                          watch_database_url: str) -> None:
    registry = CollectorRegistry()
    settings, ctx, _ = make_world(tmp_path, staging, model, metrics=WatchMetrics(registry),
                                  db_url=watch_database_url)
    report = poll_target(ctx, settings.target("synth1"), NOW)
    assert isinstance(report, PollReport)
    assert (report.listed, report.fetched, report.ingested, report.scored) == (11, 11, 11, 11)
    assert report.failures == () and report.reconciled == 0
    assert [e.epoch for e in report.epochs] == list(
        SCENARIO1.start + timedelta(days=12 * k) for k in range(12))
    assert report.epochs[0].p_fused is None  # first epoch: zero by definition, not scored
    store = ctx.store
    products = store.pending_products("synth1", NOW + timedelta(days=1))
    assert products == []
    scores = store.latest_scores("synth1", 100)
    assert len(scores) == 11 and all(s.model_sha256 == model.sha256 for s in scores)
    assert all(s.code_version and s.params["frame"] == FRAME1 for s in scores)
    # Known truth 1: the incremental series equals the batch daisy chain of the same
    # products with the same reference region (to float32 rounding of the inputs).
    layout = open_frame(staging, FRAME1)
    grid, dem = read_grid(layout)
    batch = cumulative_series(read_frame(layout, grid, dem).interferograms,
                              reference=state1(settings).reference_mask, method="daisy-chain")
    np.testing.assert_allclose(state1(settings).cumulative_m, batch.displacement[-1],
                               atol=1e-6)
    # Known truth 2: the largest cumulative LOS in the target disc at the last epoch is the
    # Mogi peak less what the references (on the bulge's flank, 3-6 km out) move, within
    # the turbulence: between 70 % and 100 % of the true peak.
    truth = json.loads((staging / f"{FRAME1}.synth_truth.json").read_text())
    last = store.list_epochs("synth1")[-1]
    cum_max = last.cum_max_m
    assert cum_max is not None
    assert 0.7 * abs(truth["peak_los_m"][-1]) < cum_max < abs(truth["peak_los_m"][-1])
    # Before onset nothing qualifies; after it the CNN and the LSTT agree and an alert rises.
    before = [e.p_fused for e in report.epochs if e.epoch <= ONSET and e.p_fused is not None]
    assert len(before) == 4 and max(before) < 0.5
    # The level rises after the onset only: WATCH first, then (the packaged detector of
    # version 3 is sure of the uplift two epochs later) WARNING; one e-mail per alert.
    alerts = store.list_alerts("synth1")
    n = len(alerts)
    assert 1 <= n <= 2 and all(a.epoch > ONSET and a.kind == "deformation" for a in alerts)
    assert [a.level for a in alerts] == [AlertLevel.WATCH, AlertLevel.WARNING][:n]
    assert report.alerts_raised == n and report.deliveries_queued == n
    assert all((tmp_path / "quicklooks" / f"synth1_{a.epoch:%Y%m%d}.png").is_file()
               for a in alerts)
    # Every step is decided: no quicklook maps are left on disk.
    assert not list((tmp_path / "series" / "alert_maps").glob("*.npz"))
    delivered = deliver_outbox(ctx, NOW)
    assert (delivered.sent, delivered.failed, delivered.outbox_depth) == (n, 0, 0)
    files = emails(settings)
    assert len(files) == n
    text = "".join(f.read_text() for f in files)
    assert "WATCH" in text and "synth1" in text and "image/png" in text
    get = registry.get_sample_value
    assert get("insar_monitor_products_ingested_total", {"target": "synth1"}) == 11
    assert get("insar_monitor_alerts_raised_total", {"target": "synth1", "level": "watch"}) == 1
    assert get("insar_monitor_outbox_depth", {"channel": "email"}) == 0
    assert get("insar_monitor_deliveries_total", {"channel": "email", "status": "sent"}) == n


def test_second_poll_changes_nothing(tmp_path: Path, staging: Path, model: LoadedModel,
                                     watch_database_url: str) -> None:
    settings, ctx, _ = make_world(tmp_path, staging, model, db_url=watch_database_url)
    poll_target(ctx, settings.target("synth1"), NOW)
    deliver_outbox(ctx, NOW)
    before, files, image = counts(ctx), emails(settings), state1(settings).cumulative_m
    again = poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=1))
    deliver_outbox(ctx, NOW + timedelta(hours=1))
    assert (again.listed, again.fetched, again.ingested, again.scored, again.alerts_raised,
            again.deliveries_queued, again.reconciled) == (0, 0, 0, 0, 0, 0, 0)
    assert counts(ctx) == before and emails(settings) == files
    np.testing.assert_array_equal(state1(settings).cumulative_m, image)


def test_new_products_are_the_only_ones_processed(tmp_path: Path, staging: Path,
                                                  model: LoadedModel) -> None:
    settings, ctx, _ = make_world(tmp_path / "grow", staging, model, n_pairs1=6)
    first = poll_target(ctx, settings.target("synth1"), NOW)
    assert first.ingested == 6 and state1(settings).last_epoch == date(2024, 3, 18)
    publish(staging, tmp_path / "grow" / "archive", FRAME1)
    second = poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=1))
    assert (second.listed, second.fetched, second.ingested, second.scored) == (5, 5, 5, 5)
    assert [e.epoch for e in second.epochs][0] == date(2024, 3, 30)
    # Same series as one poll of the whole archive.
    s_full, ctx_full, _ = make_world(tmp_path / "full", staging, model)
    poll_target(ctx_full, s_full.target("synth1"), NOW)
    np.testing.assert_allclose(state1(settings).cumulative_m, state1(s_full).cumulative_m,
                               atol=1e-12, equal_nan=True)
    assert counts(ctx) == counts(ctx_full)


def test_crash_between_save_and_mark_does_not_append_twice(
        tmp_path: Path, staging: Path, model: LoadedModel, monkeypatch: pytest.MonkeyPatch,
        watch_database_url: str) -> None:
    settings, ctx, _ = make_world(tmp_path / "crash", staging, model, db_url=watch_database_url)
    original = Store.mark_product_ingested
    calls = {"n": 0}

    def killed_on_eighth(self: Store, product_id: int, now: datetime) -> Product:
        calls["n"] += 1
        if calls["n"] == 8:
            raise RuntimeError("killed between save_state and mark_product_ingested")
        return original(self, product_id, now)

    monkeypatch.setattr(Store, "mark_product_ingested", killed_on_eighth)
    with pytest.raises(RuntimeError, match="killed"):
        poll_target(ctx, settings.target("synth1"), NOW)
    assert state1(settings).n_epochs == 9  # the series holds the 8th product ...
    assert len(ctx.store.latest_scores("synth1", 100)) == 7  # ... but it is not scored
    monkeypatch.setattr(Store, "mark_product_ingested", original)
    resumed = poll_target(ctx, settings.target("synth1"), NOW + timedelta(minutes=5))
    assert resumed.reconciled == 1 and resumed.ingested == 3 and resumed.scored == 4
    deliver_outbox(ctx, NOW + timedelta(minutes=5))
    s_ok, ctx_ok, _ = make_world(tmp_path / "clean", staging, model)
    poll_target(ctx_ok, s_ok.target("synth1"), NOW)
    deliver_outbox(ctx_ok, NOW)
    st, ok = state1(settings), state1(s_ok)
    assert (st.n_epochs, st.last_epoch) == (ok.n_epochs, ok.last_epoch) == (12, date(2024, 5, 17))
    np.testing.assert_allclose(st.cumulative_m, ok.cumulative_m, atol=1e-12, equal_nan=True)
    assert counts(ctx) == counts(ctx_ok)
    n = len(ctx_ok.store.list_alerts())
    assert n >= 1 and len(ctx.store.list_alerts()) == n and len(emails(settings)) == n
    again = poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=1))
    deliver_outbox(ctx, NOW + timedelta(hours=1))
    assert again.alerts_raised == 0 and len(emails(settings)) == n


def test_broken_product_stops_its_chain_only(tmp_path: Path, staging: Path,
                                             model: LoadedModel) -> None:
    settings, ctx, _ = make_world(tmp_path, staging, model)
    broken = (tmp_path / "archive" / FRAME1 / "interferograms" / "20240211_20240223"
              / "20240211_20240223.geo.unw.tif")
    good = broken.read_bytes()
    broken.write_bytes(good[:200])
    report = poll_target(ctx, settings.target("synth1"), NOW)
    assert report.ingested == 3 and len(report.failures) == 1
    failure = report.failures[0]
    assert (failure.pair, failure.stage, failure.reason) == ("20240211_20240223", "fetch",
                                                             "validate")
    # What the archive holds is unusable: quarantined (not retried by itself), and with no
    # other pair starting at 2024-02-11 in a daisy chain the frame is blocked there.
    row = ctx.store.get_product("synth1", FRAME1, date(2024, 2, 11), date(2024, 2, 23))
    assert row.status == ProductStatus.QUARANTINED.value and row.attempts == 1
    assert row.last_error is not None and "broken product" in row.last_error
    assert [(b.frame, b.at) for b in report.blocked] == [(FRAME1, date(2024, 2, 11))]
    assert not report.ok and report.quarantined == 1
    later = ctx.store.get_product("synth1", FRAME1, date(2024, 2, 23), date(2024, 3, 6))
    assert later.status == ProductStatus.LISTED.value
    assert state1(settings).last_epoch == date(2024, 2, 11)
    other = poll_target(ctx, settings.target("synth2"), NOW)
    assert other.failures == () and other.ingested == 5 and other.alerts_raised == 0
    assert other.ok
    # Polled again unchanged, the product stays set aside (and the frame reported blocked)
    # until an operator re-queues it ...
    waiting = poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=2))
    assert waiting.ingested == 0 and waiting.failures == () and len(waiting.blocked) == 1
    ctx.store.requeue_product(row.id, NOW + timedelta(hours=2))
    again = poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=3))
    assert again.ingested == 0 and again.quarantined == 1  # still truncated: set aside
    # ... or the archive publishes it again (another size): then it and those after it go in.
    broken.write_bytes(good)
    retry = poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=4))
    assert retry.ok and retry.ingested == 8
    assert state1(settings).last_epoch == date(2024, 5, 17)


def test_naive_time_and_unknown_archive_are_refused(tmp_path: Path, staging: Path,
                                                    model: LoadedModel) -> None:
    settings, ctx, _ = make_world(tmp_path, staging, model)
    with pytest.raises(InputError, match="naive"):
        poll_target(ctx, settings.target("synth1"), datetime(2025, 1, 1))
    bare = WatchContext(settings, ctx.store, {}, model)
    with pytest.raises(InputError, match="archive 'local'"):
        poll_target(bare, settings.target("synth1"), NOW)


def test_cli_poll_scores_where_the_executor_says(tmp_path: Path, staging: Path,
                                                 model: LoadedModel,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``poll --once`` builds the configured ``[executor]`` as the daemon does (one rule for
    every command): an unreachable Dask scheduler is its error, naming the address (exit
    code 8), and nothing is ingested."""
    import socket

    pytest.importorskip("distributed")
    settings, ctx, cfg = make_world(tmp_path, staging, model)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg.write_text(cfg.read_text() + f"""
[executor]
kind = "dask"
dask_scheduler = "tcp://127.0.0.1:{port}"
dask_connect_timeout_s = 1
""")
    assert main(["poll", "synth1", "--once", "--config", str(cfg)]) == 8
    assert f"tcp://127.0.0.1:{port}" in capsys.readouterr().err
    assert ctx.store.list_epochs("synth1") == []


def test_cli_poll_targets_and_alerts(tmp_path: Path, staging: Path, model: LoadedModel,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    settings, _, cfg = make_world(tmp_path, staging, model)
    assert main(["poll", "synth1", "--once", "--config", str(cfg)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 13 and lines[-1]["summary"]["ingested"] == 11
    summary = lines[-1]["summary"]
    assert summary["failures"] == [] and summary["alerts_raised"] >= 1
    assert summary["sent"] == summary["deliveries_queued"] == summary["alerts_raised"]
    assert set(lines[0]) == {"epoch", "frame", "cum_max_m", "p_fused", "lstt_p", "p_corrected",
                             "correction", "level"}
    n = summary["alerts_raised"]
    assert lines[-2]["level"] in ("watch", "warning")
    assert len(emails(settings)) == n
    assert main(["targets", "list", "--config", str(cfg)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["synth1", "synth2"]
    assert rows[0]["epochs"] == 12 and rows[0]["unacknowledged_alerts"] == n
    assert rows[1]["epochs"] == 0
    assert main(["alerts", "list", "--target", "synth1", "--config", str(cfg)]) == 0
    listed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(listed) == n and "watch" in {a["level"] for a in listed}
    for alert in listed:
        assert alert["acknowledged_by"] is None
        assert main(["alerts", "ack", str(alert["id"]), "--by", "duty officer",
                     "--config", str(cfg)]) == 0
        assert json.loads(capsys.readouterr().out)["acknowledged_by"] == "duty officer"
    assert main(["alerts", "list", "--unacknowledged", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["alerts", "ack", "999", "--by", "x", "--config", str(cfg)]) != 0
    assert "999" in capsys.readouterr().err
    assert main(["poll", "nowhere", "--once", "--config", str(cfg)]) != 0
    assert "no target 'nowhere'" in capsys.readouterr().err


def test_cli_poll_exits_non_zero_on_a_failed_product(tmp_path: Path, staging: Path,
                                                     model: LoadedModel,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    _, _, cfg = make_world(tmp_path, staging, model, n_pairs1=3)
    unw = (tmp_path / "archive" / FRAME1 / "interferograms" / "20240118_20240130"
           / "20240118_20240130.geo.unw.tif")
    unw.write_bytes(unw.read_bytes()[:100])
    assert main(["poll", "synth1", "--once", "--config", str(cfg)]) == 4
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])["summary"]
    assert summary["ingested"] == 1 and summary["failures"][0]["pair"] == "20240118_20240130"


def test_cli_refuses_a_database_not_upgraded(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path)
    for argv in (["targets", "list"], ["alerts", "list"], ["poll", "synth1", "--once"]):
        assert main([*argv, "--config", str(cfg)]) != 0
        err = capsys.readouterr().err
        assert f"insar-monitor db upgrade --config {cfg}" in err


def test_a_failing_first_product_holds_back_the_whole_chain(
        tmp_path: Path, staging: Path, model: LoadedModel,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A first product that fails for a reason that may pass (the disk, the archive) holds
    the new series back until its retry; one that is broken is quarantined and the series
    starts after it, so one product never keeps a target from starting."""
    settings, ctx, _ = make_world(tmp_path, staging, model, n_pairs1=4)
    archive = ctx.archives["local"]
    original = type(archive).fetch
    outage = {"on": True}

    def fetch(self: LocalArchive, ref: ProductRef, cache_dir: Path) -> FetchedProduct:
        if outage["on"] and ref.date1 == SCENARIO1.start:
            raise OSError(errno.EIO, "Input/output error", str(cache_dir))
        return original(self, ref, cache_dir)

    monkeypatch.setattr(type(archive), "fetch", fetch)
    first = poll_target(ctx, settings.target("synth1"), NOW)
    assert first.ingested == 0 and len(first.failures) == 1 and first.blocked == ()
    assert load_state(series_path(settings.watch.series_dir, "synth1", FRAME1)) is None
    # Within the backoff the chain does not start at the second product instead.
    waiting = poll_target(ctx, settings.target("synth1"), NOW + timedelta(seconds=10))
    assert waiting.ingested == 0 and waiting.failures == () and "retry" in waiting.notes[0]
    outage["on"] = False
    resumed = poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=1))
    assert resumed.ingested == 4 and state1(settings).first_epoch == SCENARIO1.start
    # A broken first product of a new series: set aside, the series starts after it.
    s2, ctx2, _ = make_world(tmp_path / "broken", staging, model, n_pairs1=4)
    unw = (tmp_path / "broken" / "archive" / FRAME1 / "interferograms" / "20240106_20240118"
           / "20240106_20240118.geo.unw.tif")
    unw.write_bytes(unw.read_bytes()[:100])
    report = poll_target(ctx2, s2.target("synth1"), NOW)
    assert report.quarantined == 1 and report.ingested == 3 and report.blocked == ()
    assert state1(s2).first_epoch == date(2024, 1, 18)
    assert any("starts the series after" in n for n in report.notes)


class FailingSender:
    """A sender whose server refuses every message."""

    def __init__(self, retryable: bool) -> None:
        self.retryable = retryable
        self.calls = 0

    def send(self, message: EmailMessage) -> None:
        self.calls += 1
        raise DeliveryError("550 mailbox unavailable" if not self.retryable else
                            "421 try later", retryable=self.retryable, host="smtp.test",
                            port=25, smtp_code=421 if self.retryable else 550)


def test_delivery_failures_back_off_or_give_up(tmp_path: Path, staging: Path,
                                               model: LoadedModel) -> None:
    settings, ctx, _ = make_world(tmp_path, staging, model)
    poll_target(ctx, settings.target("synth1"), NOW)
    transient = FailingSender(retryable=True)
    n = len(ctx.store.list_alerts())
    assert n >= 1
    first = deliver_outbox(ctx, NOW, notifier=EmailNotifier(settings.email.sender, transient))
    assert (first.sent, first.failed, first.given_up, first.outbox_depth) == (0, n, 0, n)
    assert deliver_outbox(ctx, NOW + timedelta(seconds=30),
                          notifier=EmailNotifier(settings.email.sender, transient)).failed == 0
    assert transient.calls == n  # still backing off (60 s after the first failure)
    # Transient failures are retried forever, at most [outbox] max_backoff_s (1 h) apart:
    # twelve more attempts (the old outbox gave up after eight) and they are still queued.
    now = NOW
    for _ in range(12):
        now += timedelta(hours=1)
        again = deliver_outbox(ctx, now, notifier=EmailNotifier(settings.email.sender,
                                                                 transient))
        assert (again.failed, again.given_up, again.outbox_depth) == (n, 0, n)
    assert transient.calls == 13 * n
    permanent = FailingSender(retryable=False)
    last = deliver_outbox(ctx, now + timedelta(hours=1),
                          notifier=EmailNotifier(settings.email.sender, permanent))
    assert (last.failed, last.given_up, last.outbox_depth) == (n, n, 0)
    assert last.failed_total == ctx.store.failed_count() == n  # kept for `outbox retry`
    assert last.problem == "deliveries failed permanently"
    assert emails(settings) == []


def test_target_status_reads_what_the_poll_decided(tmp_path: Path, staging: Path,
                                                   model: LoadedModel) -> None:
    """One definition of "where a target stands" (metrics at start, status page, feeds):
    its level is the level of the poll's last policy step, its frames carry the newest
    ingested acquisition and newest score, and its alerts are the store's."""
    from monitor.service.target_status import target_status, watch_status

    settings, ctx, _ = make_world(tmp_path, staging, model)
    report = poll_target(ctx, settings.target("synth1"), NOW)
    status = target_status(ctx.store, settings, settings.target("synth1"))
    assert status.level == max(AlertLevel(a.level) for a in ctx.store.list_alerts("synth1"))
    assert status.level_since is not None and status.level_since > ONSET
    assert len(status.history) == len(status.steps) == report.scored
    assert status.latest is not None and status.latest.epoch == report.epochs[-1].epoch
    assert status.latest.frame == FRAME1 and status.latest.p_raw == report.epochs[-1].p_fused
    (frame,) = status.frames
    assert frame.frame == FRAME1 and frame.newest_epoch == report.epochs[-1].epoch
    assert frame.latest == status.latest and frame.ingested_at == NOW
    newest = report.epochs[-1].epoch
    assert frame.lag_s(NOW) == (NOW - datetime(newest.year, newest.month, newest.day,
                                               tzinfo=UTC)).total_seconds()
    assert status.unacknowledged == len(ctx.store.list_alerts("synth1"))
    quiet = watch_status(ctx.store, settings)[1]  # synth2: never polled
    assert quiet.target.id == "synth2" and quiet.level == AlertLevel.NONE
    assert quiet.latest is None and quiet.frames[0].newest_epoch is None
    assert quiet.frames[0].lag_s(NOW) is None


def test_a_first_epoch_lost_after_the_series_was_saved_is_recorded_again(
        tmp_path: Path, staging: Path, model: LoadedModel) -> None:
    """A new series' file is written before its first epoch's row (the crash-safe order);
    a process killed, or a database that went away, between the two leaves the row
    missing: the next poll records it, with the values the first poll would have."""
    settings, ctx, _ = make_world(tmp_path, staging, model, n_pairs1=2)
    poll_target(ctx, settings.target("synth1"), NOW)
    first = ctx.store.list_epochs("synth1")[0]
    with ctx.store.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM scores WHERE target_id = 'synth1' AND epoch = :e"),
                     {"e": first.epoch})
        conn.execute(sa.text("DELETE FROM epochs WHERE target_id = 'synth1' AND epoch = :e"),
                     {"e": first.epoch})
    assert [e.epoch for e in ctx.store.list_epochs("synth1")][0] != first.epoch
    poll_target(ctx, settings.target("synth1"), NOW + timedelta(hours=1))
    again = ctx.store.list_epochs("synth1")[0]
    assert (again.epoch, again.n_products, again.cum_max_m) == (
        first.epoch, first.n_products, first.cum_max_m)
