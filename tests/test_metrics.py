"""Prometheus metrics: values on a passed-in registry, and the /metrics endpoint over HTTP."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from datetime import UTC, date, datetime

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from monitor.errors import InputError
from monitor.metrics import WatchMetrics, failure_reason, start_metrics_server


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def filled(registry: CollectorRegistry) -> WatchMetrics:
    m = WatchMetrics(registry)
    m.set_probabilities("etna", 0.83, {1: 0.7, 2.0: 0.9, 4: 0.85, 8: 0.87})
    m.set_lstt_p_value("etna", "ref_north", 0.004)
    m.product_ingested("etna", 3)
    m.product_failed("etna", "timeout")
    m.product_failed("etna", "cosmic rays")
    m.observe_poll("etna", 2.0, finished_at=datetime(2024, 8, 20, 6, 0, tzinfo=UTC))
    m.observe_scoring("etna", 0.3)
    m.set_freshness("etna", "022D_04826_121209", date(2024, 8, 18),
                    datetime(2024, 8, 20, 6, 0, tzinfo=UTC))
    m.alert_raised("etna", "WARNING")
    m.delivery(sent=True)
    m.delivery(sent=False)
    m.delivery(sent=True)
    m.set_outbox_depth(4)
    return m


def test_values_on_the_registry(registry: CollectorRegistry) -> None:
    filled(registry)
    get = registry.get_sample_value
    assert get("insar_monitor_probability_fused", {"target": "etna"}) == pytest.approx(0.83)
    assert get("insar_monitor_probability", {"target": "etna", "gain": "2"}) == 0.9
    assert get("insar_monitor_probability", {"target": "etna", "gain": "8"}) == 0.87
    assert get("insar_monitor_lstt_p_value",
               {"target": "etna", "reference": "ref_north"}) == 0.004
    assert get("insar_monitor_products_ingested_total", {"target": "etna"}) == 3
    assert get("insar_monitor_products_failed_total",
               {"target": "etna", "reason": "timeout"}) == 1
    assert get("insar_monitor_products_failed_total",
               {"target": "etna", "reason": "other"}) == 1
    assert get("insar_monitor_products_failed_total",
               {"target": "etna", "reason": "cosmic rays"}) is None
    assert get("insar_monitor_poll_duration_seconds_count", {"target": "etna"}) == 1
    assert get("insar_monitor_poll_duration_seconds_sum", {"target": "etna"}) == 2.0
    assert get("insar_monitor_poll_duration_seconds_bucket",
               {"target": "etna", "le": "2.5"}) == 1
    assert get("insar_monitor_poll_duration_seconds_bucket",
               {"target": "etna", "le": "1.0"}) == 0
    assert get("insar_monitor_scoring_duration_seconds_sum", {"target": "etna"}) == 0.3
    assert get("insar_monitor_last_successful_poll_timestamp_seconds",
               {"target": "etna"}) == datetime(2024, 8, 20, 6, tzinfo=UTC).timestamp()
    frame = {"target": "etna", "frame": "022D_04826_121209"}
    assert get("insar_monitor_newest_epoch_timestamp_seconds", frame) == \
        datetime(2024, 8, 18, tzinfo=UTC).timestamp()
    assert get("insar_monitor_archive_lag_seconds", frame) == (2 * 86400 + 6 * 3600)
    assert get("insar_monitor_alerts_raised_total",
               {"target": "etna", "level": "warning"}) == 1
    email = {"channel": "email"}
    assert get("insar_monitor_deliveries_total", {**email, "status": "sent"}) == 2
    assert get("insar_monitor_deliveries_total", {**email, "status": "failed"}) == 1
    assert get("insar_monitor_outbox_depth", email) == 4


def test_delivery_counters_start_at_zero(registry: CollectorRegistry) -> None:
    WatchMetrics(registry)
    assert registry.get_sample_value("insar_monitor_deliveries_total",
                                     {"channel": "email", "status": "sent"}) == 0
    assert registry.get_sample_value("insar_monitor_deliveries_total",
                                     {"channel": "email", "status": "failed"}) == 0


def test_failure_reasons_are_bounded() -> None:
    assert [failure_reason(r) for r in ("fetch", "HTTP", " validate ", "timeout", "disk",
                                         "")] == ["fetch", "http", "validate", "timeout",
                                                  "other", "other"]


def test_bad_values_are_refused(registry: CollectorRegistry) -> None:
    m = WatchMetrics(registry)
    with pytest.raises(InputError, match="p_fused"):
        m.set_probabilities("etna", 1.2)
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
    fused = families["insar_monitor_probability_fused"]
    assert fused.type == "gauge"
    assert [(s.labels, s.value) for s in fused.samples] == [({"target": "etna"}, 0.83)]
    per_gain = {s.labels["gain"]: s.value
                for s in families["insar_monitor_probability"].samples}
    assert per_gain == {"1": 0.7, "2": 0.9, "4": 0.85, "8": 0.87}
    lstt = families["insar_monitor_lstt_p_value"].samples
    assert [(s.labels["reference"], s.value) for s in lstt] == [("ref_north", 0.004)]
    assert families["insar_monitor_products_failed"].type == "counter"
    assert families["insar_monitor_poll_duration_seconds"].type == "histogram"


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
