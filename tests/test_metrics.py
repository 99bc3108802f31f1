"""Prometheus metrics: values on a passed-in registry, and the /metrics endpoint over HTTP."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor import __version__
from monitor.errors import InputError
from monitor.metrics import (
    FrameReading,
    TargetReading,
    WatchMetrics,
    failure_reason,
    start_metrics_server,
)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


FRAME = "022D_04826_121209"
READING = TargetReading(
    target="etna", poll_interval_s=3600.0, p_watch=0.5, p_warning=0.8, lstt_alpha=0.05,
    level=2, unacknowledged=1,
    frames=(FrameReading(FRAME, newest_epoch=date(2024, 8, 18), archive_lag_s=2.25 * 86400,
                         scored_epoch=date(2024, 8, 18), p_decision=0.62, p_raw=0.83,
                         p_by_gain_decision={1: 0.5, 2.0: 0.7, 4: 0.6, 8: 0.65},
                         p_by_gain_raw={1: 0.7, 2.0: 0.9, 4: 0.85, 8: 0.87},
                         lstt_p=0.01, lstt_p_by_reference={"ref_north": 0.004},
                         displacement_m=0.031, gls_p=0.71),
            FrameReading("087A_05000_131313")))


def filled(registry: CollectorRegistry) -> WatchMetrics:
    m = WatchMetrics(registry)
    m.set_targets(1)
    m.declare_target("etna")
    m.set_target(READING)
    m.product_ingested("etna", 3)
    m.product_failed("etna", "timeout")
    m.product_failed("etna", "cosmic rays")
    m.observe_poll("etna", 2.0, finished_at=datetime(2024, 8, 20, 6, 0, tzinfo=UTC))
    m.observe_poll("etna", 1.0, attempted_at=datetime(2024, 8, 20, 7, 0, tzinfo=UTC))
    m.observe_scoring("etna", 0.3)
    m.alert_raised("etna", "WARNING")
    m.delivery(sent=True)
    m.delivery(sent=False)
    m.delivery(sent=True)
    m.delivery(sent=False, channel="webhook", given_up=True)
    m.set_outbox_depth(4)
    m.set_outbox_depth(1, channel="webhook")
    return m


def test_values_on_the_registry(registry: CollectorRegistry) -> None:
    filled(registry)
    get = registry.get_sample_value
    assert get("insar_monitor_build_info", {"version": __version__}) == 1
    assert abs(time.time() - (get("insar_monitor_start_time_seconds") or 0)) < 60
    assert get("insar_monitor_targets") == 1
    assert get("insar_monitor_poll_interval_seconds", {"target": "etna"}) == 3600
    assert get("insar_monitor_probability_threshold", {"target": "etna", "level": "watch"}) \
        == 0.5
    assert get("insar_monitor_probability_threshold",
               {"target": "etna", "level": "warning"}) == 0.8
    assert get("insar_monitor_lstt_alpha", {"target": "etna"}) == 0.05
    assert get("insar_monitor_alert_level", {"target": "etna"}) == 2
    assert get("insar_monitor_alerts_unacknowledged", {"target": "etna"}) == 1
    frame = {"target": "etna", "frame": FRAME}
    assert get("insar_monitor_probability_decision", frame) == pytest.approx(0.62)
    assert get("insar_monitor_probability_raw", frame) == pytest.approx(0.83)
    assert get("insar_monitor_probability_gls", frame) == pytest.approx(0.71)
    assert get("insar_monitor_probability_gain_decision", {**frame, "gain": "2"}) == 0.7
    assert get("insar_monitor_probability_gain_raw", {**frame, "gain": "2"}) == 0.9
    assert get("insar_monitor_probability_gain_raw", {**frame, "gain": "8"}) == 0.87
    assert get("insar_monitor_lstt_p_value", frame) == 0.01
    assert get("insar_monitor_lstt_p_value_reference", {**frame, "reference": "ref_north"}) \
        == 0.004
    assert get("insar_monitor_displacement_meters", frame) == 0.031
    assert get("insar_monitor_scored_epoch_timestamp_seconds", frame) == \
        datetime(2024, 8, 18, tzinfo=UTC).timestamp()
    # The second frame has nothing ingested or scored: no series rather than a made-up 0.
    other = {"target": "etna", "frame": "087A_05000_131313"}
    assert get("insar_monitor_probability_decision", other) is None
    assert get("insar_monitor_probability_gls", other) is None
    assert get("insar_monitor_archive_lag_seconds", other) is None
    assert get("insar_monitor_products_ingested_total", {"target": "etna"}) == 3
    assert get("insar_monitor_products_failed_total",
               {"target": "etna", "reason": "timeout"}) == 1
    assert get("insar_monitor_products_failed_total",
               {"target": "etna", "reason": "other"}) == 1
    assert get("insar_monitor_products_failed_total",
               {"target": "etna", "reason": "http"}) == 0
    assert get("insar_monitor_products_failed_total",
               {"target": "etna", "reason": "cosmic rays"}) is None
    assert get("insar_monitor_poll_duration_seconds_count", {"target": "etna"}) == 2
    assert get("insar_monitor_poll_duration_seconds_sum", {"target": "etna"}) == 3.0
    assert get("insar_monitor_poll_duration_seconds_bucket",
               {"target": "etna", "le": "2.5"}) == 2
    assert get("insar_monitor_poll_duration_seconds_bucket",
               {"target": "etna", "le": "0.5"}) == 0
    assert get("insar_monitor_scoring_duration_seconds_sum", {"target": "etna"}) == 0.3
    assert get("insar_monitor_last_successful_poll_timestamp_seconds",
               {"target": "etna"}) == datetime(2024, 8, 20, 6, tzinfo=UTC).timestamp()
    assert get("insar_monitor_last_poll_timestamp_seconds",
               {"target": "etna"}) == datetime(2024, 8, 20, 7, tzinfo=UTC).timestamp()
    assert get("insar_monitor_newest_epoch_timestamp_seconds", frame) == \
        datetime(2024, 8, 18, tzinfo=UTC).timestamp()
    assert get("insar_monitor_archive_lag_seconds", frame) == (2 * 86400 + 6 * 3600)
    assert get("insar_monitor_alerts_raised_total",
               {"target": "etna", "level": "warning"}) == 1
    assert get("insar_monitor_alerts_raised_total", {"target": "etna", "level": "watch"}) == 0
    assert get("insar_monitor_deliveries_total", {"channel": "email", "status": "sent"}) == 2
    assert get("insar_monitor_deliveries_total", {"channel": "email", "status": "failed"}) == 1
    assert get("insar_monitor_deliveries_total",
               {"channel": "webhook", "status": "failed"}) == 1
    assert get("insar_monitor_deliveries_given_up_total", {"channel": "webhook"}) == 1
    assert get("insar_monitor_deliveries_given_up_total", {"channel": "email"}) == 0
    assert get("insar_monitor_outbox_depth", {"channel": "email"}) == 4
    assert get("insar_monitor_outbox_depth", {"channel": "webhook"}) == 1


def test_a_reading_replaces_the_targets_previous_one(registry: CollectorRegistry) -> None:
    m = filled(registry)
    frame = {"target": "etna", "frame": FRAME}
    newer = replace(READING, level=0, frames=(replace(
        READING.frames[0], p_decision=0.1, lstt_p_by_reference={"ring": 0.5}),))
    m.set_target(newer)
    m.set_target(replace(READING, target="agung", frames=()))
    get = registry.get_sample_value
    assert get("insar_monitor_probability_decision", frame) == 0.1
    assert get("insar_monitor_alert_level", {"target": "etna"}) == 0
    assert get("insar_monitor_lstt_p_value_reference", {**frame, "reference": "ring"}) == 0.5
    # A reference region of the old reading is gone, not left at its last value.
    assert get("insar_monitor_lstt_p_value_reference",
               {**frame, "reference": "ref_north"}) is None
    assert get("insar_monitor_alert_level", {"target": "agung"}) == 2
    # A bad reading changes nothing.
    with pytest.raises(InputError, match="probability_raw"):
        m.set_target(replace(newer, frames=(replace(newer.frames[0], p_raw=1.5),)))
    assert get("insar_monitor_probability_decision", frame) == 0.1


def test_delivery_counters_start_at_zero(registry: CollectorRegistry) -> None:
    WatchMetrics(registry)
    for channel in ("email", "webhook"):
        for status in ("sent", "failed"):
            assert registry.get_sample_value("insar_monitor_deliveries_total",
                                             {"channel": channel, "status": status}) == 0
        assert registry.get_sample_value("insar_monitor_deliveries_given_up_total",
                                         {"channel": channel}) == 0
        assert registry.get_sample_value("insar_monitor_outbox_depth",
                                         {"channel": channel}) == 0


def test_failure_reasons_are_bounded() -> None:
    assert [failure_reason(r) for r in ("fetch", "HTTP", " validate ", "timeout", "disk",
                                         "")] == ["fetch", "http", "validate", "timeout",
                                                  "other", "other"]


def test_bad_values_are_refused(registry: CollectorRegistry) -> None:
    m = WatchMetrics(registry)
    with pytest.raises(InputError, match="p_watch"):
        m.set_target(replace(READING, p_watch=1.2))
    with pytest.raises(InputError, match="unacknowledged"):
        m.set_target(replace(READING, unacknowledged=-1))
    with pytest.raises(InputError, match="depth"):
        m.set_outbox_depth(-1)
    with pytest.raises(InputError, match="timezone"):
        m.observe_poll("etna", 1.0, finished_at=datetime(2024, 1, 1))


def scrape(registry: CollectorRegistry) -> str:
    """Serve ``registry`` on a free port, GET /metrics once, stop the server."""
    server = start_metrics_server(registry, "127.0.0.1", 0)
    try:
        assert server.port > 0
        with urllib.request.urlopen(server.url, timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text: str = resp.read().decode("utf-8")
    finally:
        server.shutdown()
    with pytest.raises(OSError):  # the server is gone after shutdown
        urllib.request.urlopen(server.url, timeout=2)
    return text


def test_endpoint_serves_the_probabilities(registry: CollectorRegistry) -> None:
    filled(registry)
    families = {f.name: f for f in text_string_to_metric_families(scrape(registry))}
    decision = families["insar_monitor_probability_decision"]
    assert decision.type == "gauge"
    assert [(s.labels, s.value) for s in decision.samples] == [
        ({"target": "etna", "frame": FRAME}, 0.62)]
    per_gain = {s.labels["gain"]: s.value
                for s in families["insar_monitor_probability_gain_raw"].samples}
    assert per_gain == {"1": 0.7, "2": 0.9, "4": 0.85, "8": 0.87}
    lstt = families["insar_monitor_lstt_p_value_reference"].samples
    assert [(s.labels["reference"], s.value) for s in lstt] == [("ref_north", 0.004)]
    assert families["insar_monitor_products_failed"].type == "counter"
    assert families["insar_monitor_poll_duration_seconds"].type == "histogram"
    # The old names are gone: one name for the deciding P, one for the raw P.
    assert "insar_monitor_probability_fused" not in families
    assert "insar_monitor_probability" not in families


def test_promtool_accepts_the_exposition(registry: CollectorRegistry) -> None:
    if shutil.which("promtool") is None:
        pytest.skip("promtool not on PATH: exposition lint not run")
    filled(registry)
    lint = subprocess.run(["promtool", "check", "metrics"], input=scrape(registry), text=True,
                          capture_output=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_port_in_use_is_named(registry: CollectorRegistry) -> None:
    server = start_metrics_server(registry, "127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{server.port}"):
            start_metrics_server(CollectorRegistry(), "127.0.0.1", server.port)
    finally:
        server.shutdown()
