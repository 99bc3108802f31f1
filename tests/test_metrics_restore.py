"""The gauges of where each target stands are a function of the database: the same after a
poll and after a restart (monitor.service.metrics_restore).

``twin`` watches two frames of one track on a small synthetic archive: ``inflating`` holds
a Mogi source inflating from ``ONSET`` at 0.5 m/yr, ``quiet`` weak turbulence only, its
acquisitions 6 days after the other's (so each frame has its own newest score). ``empty``
watches a frame with nothing published. The detector is the packaged ``compact`` model.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import torch
from prometheus_client import CollectorRegistry

from monitor.config import Settings, settings_from_mapping
from monitor.domain import AlertLevel, ProductRef, RemoteFile, ScoreCorrection
from monitor.io.models import LoadedModel
from monitor.io.synth_archive import write_synthetic_archive
from monitor.metrics import TARGET_GAUGES, WatchMetrics
from monitor.science.synth_series import SeriesScenario
from monitor.service.daemon import Daemon
from monitor.service.metrics_restore import restore_metrics
from monitor.store import Store, make_engine, upgrade

torch.set_num_threads(1)

INFLATING = "022D_04826_121209"
QUIET = "022D_04827_121210"
EMPTY = "087A_05000_131313"
ONSET = date(2024, 1, 20)
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)
CENTRE = (120.0, 14.0)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for frame, start, n, onset, seed in ((INFLATING, date(2024, 1, 6), 8, ONSET, 3),
                                         (QUIET, date(2024, 1, 12), 4, None, 5)):
        scenario = SeriesScenario(start=start, n_epochs=n, onset=onset, rate_m_per_yr=0.5,
                                  stratified_strength="none", decorrelate=False)
        write_synthetic_archive(root, scenario=scenario, frame=frame, volcano="synthetic",
                                size_px=128, centre_lonlat=CENTRE, seed=seed)
    return root


def make_settings(tmp: Path, archive: Path) -> Settings:
    def target(tid: str, frames: list[str], lon: float) -> dict[str, object]:
        return {"id": tid, "name": f"Target {tid}", "lon": lon, "lat": CENTRE[1],
                "radius_km": 1.5, "archive": "local", "frames": frames,
                "poll_interval_s": 600, "recipients": ["observatory@example.org"]}

    settings = settings_from_mapping({
        "database": {"url": f"sqlite:///{tmp / 'watch.db'}"},
        "watch": {"series_dir": str(tmp / "series"), "cache_dir": str(tmp / "cache"),
                  "quicklook_dir": str(tmp / "quicklooks"), "jitter_s": 0},
        "email": {"mode": "dry-run", "outbox_dir": str(tmp / "outbox")},
        "metrics": {"enabled": False},
        "alerts": {"p_watch": 0.45},
        "archives": {"local": {"kind": "local", "root": str(archive)}},
        "targets": [target("twin", [INFLATING, QUIET], CENTRE[0]),
                    target("empty", [EMPTY], CENTRE[0] + 1.0)],
    }, "test_metrics_restore")
    upgrade(settings.database.url)
    return settings


def standing(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]],
                                                  float]:
    """Every sample of the gauges a restart restores, by (name, labels)."""
    names = {f"insar_monitor_{n}" for n in TARGET_GAUGES} | {
        "insar_monitor_targets", "insar_monitor_outbox_depth"}
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples if s.name in names}


def test_a_restart_exports_what_the_poll_exported(tmp_path: Path, archive: Path,
                                                  model: LoadedModel) -> None:
    settings = make_settings(tmp_path, archive)
    polled = Daemon(settings, "test.toml", clock=FixedClock(), model_loader=lambda: model)
    outcomes = polled.run_once()
    assert outcomes[0].report is not None and outcomes[0].report.scored == 7 + 3
    after_poll = standing(polled.registry)

    store = Store(make_engine(settings.database.url))
    alerts = store.list_alerts("twin")
    assert alerts, "the inflating frame raises an alert"
    get = polled.registry.get_sample_value
    # Both frames of the target have their own series (they used to overwrite each other).
    scores = store.latest_scores("twin", 100)
    for frame in (INFLATING, QUIET):
        newest = [s for s in scores if s.params["frame"] == frame][-1]
        labels = {"target": "twin", "frame": frame}
        assert get("insar_monitor_probability_decision", labels) == newest.decision_p_fused
        assert get("insar_monitor_probability_raw", labels) == newest.p_fused
        assert get("insar_monitor_lstt_p_value", labels) == newest.decision_lstt_p
        assert get("insar_monitor_displacement_meters", labels) == newest.signal["bell_m"]
        assert get("insar_monitor_scored_epoch_timestamp_seconds", labels) == \
            datetime(newest.epoch.year, newest.epoch.month, newest.epoch.day,
                     tzinfo=UTC).timestamp()
        raw_gains = {float(g): p for g, p in newest.p_by_gain.items()}
        assert sorted(raw_gains) == [1.0, 2.0, 4.0, 8.0]
        for gain, p in raw_gains.items():
            assert get("insar_monitor_probability_gain_raw", {**labels, "gain": f"{gain:g}"}) \
                == p
        assert get("insar_monitor_archive_lag_seconds", labels) is not None
    assert get("insar_monitor_displacement_meters",
               {"target": "twin", "frame": INFLATING}) > 0.01  # uplift, positive
    # The inflating frame's newest step was corrected: the deciding P is not the raw one.
    newest = [s for s in scores if s.params["frame"] == INFLATING][-1]
    assert newest.corrected and newest.decision_p_fused != newest.p_fused
    assert get("insar_monitor_alert_level", {"target": "twin"}) == max(a.level for a in alerts)
    assert get("insar_monitor_alerts_unacknowledged", {"target": "twin"}) == len(alerts)
    assert get("insar_monitor_alert_level", {"target": "empty"}) == AlertLevel.NONE
    assert get("insar_monitor_probability_decision",
               {"target": "empty", "frame": EMPTY}) is None
    assert get("insar_monitor_probability_threshold",
               {"target": "twin", "level": "watch"}) == 0.45
    assert get("insar_monitor_targets") == 2

    # A fresh process on the same database: the same gauges before any poll.
    restarted = Daemon(settings, "test.toml", clock=FixedClock(), model_loader=lambda: model)
    restarted.prepare()
    assert standing(restarted.registry) == after_poll
    assert not restarted.outcomes
    # Counters start at zero for every configured label set; poll times are not stored.
    rget = restarted.registry.get_sample_value
    assert rget("insar_monitor_alerts_raised_total", {"target": "twin", "level": "watch"}) == 0
    assert rget("insar_monitor_last_successful_poll_timestamp_seconds",
                {"target": "twin"}) is None

    # Acknowledging an alert (another process, the CLI) shows at the next restore.
    store.acknowledge_alert(alerts[0].id, "duty officer", NOW)
    restore_metrics(restarted.metrics, store, settings)
    assert rget("insar_monitor_alerts_unacknowledged", {"target": "twin"}) == len(alerts) - 1


@pytest.fixture
def one_score(tmp_path: Path, archive: Path) -> Iterator[tuple[Settings, Store]]:
    settings = make_settings(tmp_path, archive)
    store = Store(make_engine(settings.database.url))
    store.upsert_target("twin", "Target twin", CENTRE[0], CENTRE[1], 1.5, NOW)
    yield settings, store


def test_the_deciding_p_is_the_corrected_one(one_score: tuple[Settings, Store]) -> None:
    settings, store = one_score
    epoch, ingested = date(2024, 3, 6), datetime(2024, 3, 9, 6, tzinfo=UTC)
    ref = ProductRef(INFLATING, date(2024, 2, 23), epoch,
                     RemoteFile("file:///x/a.unw.tif", "a.unw.tif"))
    (product,) = store.record_listed_products("twin", [ref], NOW)
    store.mark_product_ingested(product.id, ingested)
    store.record_score(
        "twin", epoch, p_fused=0.91, p_by_gain={"1.0": 0.8, "2.0": 0.95}, model_sha256="0" * 64,
        code_version="test", params={"frame": INFLATING}, now=NOW, lstt_p=0.001,
        lstt_by_reference={"north": {"p": 0.001, "pe": 0.2}, "south": {"p": 0.0005}},
        correction=ScoreCorrection("gacos", 0.31, {"1.0": 0.3, "2.0": 0.2}, 0.2, {}),
        signal={"bell_m": -0.012, "step_m": 0.004,
                "series": f"{INFLATING}@2024-01-06"})
    registry = CollectorRegistry()
    restore_metrics(WatchMetrics(registry), store, settings)
    get = registry.get_sample_value
    labels = {"target": "twin", "frame": INFLATING}
    assert get("insar_monitor_probability_decision", labels) == 0.31
    assert get("insar_monitor_probability_raw", labels) == 0.91
    assert get("insar_monitor_probability_gain_decision", {**labels, "gain": "2"}) == 0.2
    assert get("insar_monitor_probability_gain_raw", {**labels, "gain": "2"}) == 0.95
    assert get("insar_monitor_lstt_p_value", labels) == 0.2
    assert get("insar_monitor_lstt_p_value_reference", {**labels, "reference": "south"}) == \
        0.0005
    assert get("insar_monitor_displacement_meters", labels) == -0.012
    assert get("insar_monitor_archive_lag_seconds", labels) == 3 * 86400 + 6 * 3600
    assert get("insar_monitor_newest_epoch_timestamp_seconds", labels) == \
        datetime(2024, 3, 6, tzinfo=UTC).timestamp()
    assert get("insar_monitor_probability_decision", {"target": "twin", "frame": QUIET}) is None
    assert get("insar_monitor_outbox_depth", {"channel": "email"}) == 0
