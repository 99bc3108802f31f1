"""Prometheus metrics of the watch daemon, created on a registry that is passed in.

Names follow the Prometheus conventions: the unit in the name (``_seconds``,
``_timestamp_seconds``), ``_total`` on counters, and label sets that stay bounded (targets
and frames come from the configuration, reasons and statuses from fixed sets here). Tests
create a fresh :class:`prometheus_client.CollectorRegistry` and read values back with
``registry.get_sample_value`` (after prometheus client_python).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import make_wsgi_app

from monitor.errors import ArchiveError, ArchiveUnavailable, BrokenProduct, InputError

logger = logging.getLogger(__name__)

PREFIX = "insar_monitor"

#: Why a product failed; anything else is counted as ``other``.
FAILURE_REASONS: tuple[str, ...] = ("fetch", "validate", "timeout", "http", "other")
#: The label of a failure by the TYPE of its error, most specific first (never by its
#: message): the one place that maps the error tree to :data:`FAILURE_REASONS`.
FAILURE_LABELS: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "timeout"),          # ArchiveTimeout and any builtin timeout
    (BrokenProduct, "validate"),        # a product that is not what it claims to be
    (ArchiveUnavailable, "http"),       # refused or dropped connections, HTTP 5xx / 429
    (ArchiveError, "fetch"),            # HTTP 4xx, a malformed listing, a failed copy
    (OSError, "fetch"),                 # the disk under the cache
)
#: Outcome of one delivery attempt.
DELIVERY_STATUSES: tuple[str, ...] = ("sent", "failed")
#: Label values of the correction counter (bounded).
CORRECTION_METHODS = ("gacos", "icams", "empirical", "none")

#: Poll of one target: listing, fetching and scoring, seconds.
POLL_BUCKETS_S: tuple[float, ...] = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
#: Scoring of one epoch (CNN at every gain and LSTT), seconds.
SCORING_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


def _epoch_seconds(day: date) -> float:
    """Midnight UTC of ``day`` as Unix seconds."""
    return datetime.combine(day, time(0, 0), tzinfo=UTC).timestamp()


def _utc_seconds(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise InputError(f"metrics: time {moment!r} must be timezone-aware (UTC)")
    return moment.timestamp()


class WatchMetrics:
    """Every metric the watch exports, registered on ``registry``.

    Args:
        registry: Where the metrics live; the daemon passes one registry to this and to
            :func:`start_metrics_server`. Two ``WatchMetrics`` on one registry collide
            (prometheus-client raises ``ValueError`` on duplicate names).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        p = PREFIX
        self.probability_fused = Gauge(
            f"{p}_probability_fused", "Fused CNN deformation probability over the target "
            "(mean over gains) at the newest scored epoch", ["target"], registry=registry)
        self.probability = Gauge(
            f"{p}_probability", "CNN deformation probability over the target at one wrap "
            "gain, newest scored epoch", ["target", "gain"], registry=registry)
        self.lstt_p_value = Gauge(
            f"{p}_lstt_p_value", "LSTT permutation p-value of the target against one stable "
            "reference region, newest scored epoch", ["target", "reference"],
            registry=registry)
        self.products_ingested = Counter(
            f"{p}_products_ingested", "Products fetched, validated and appended to the "
            "series", ["target"], registry=registry)
        self.products_failed = Counter(
            f"{p}_products_failed", "Product attempts that failed, by reason",
            ["target", "reason"], registry=registry)
        self.poll_duration = Histogram(
            f"{p}_poll_duration_seconds", "Duration of one poll of a target",
            ["target"], buckets=POLL_BUCKETS_S, registry=registry)
        self.scoring_duration = Histogram(
            f"{p}_scoring_duration_seconds", "Duration of scoring one epoch of a target",
            ["target"], buckets=SCORING_BUCKETS_S, registry=registry)
        self.last_successful_poll = Gauge(
            f"{p}_last_successful_poll_timestamp_seconds", "Unix time of the last poll of "
            "the target that completed without error", ["target"], registry=registry)
        self.archive_lag = Gauge(
            f"{p}_archive_lag_seconds", "Time from the acquisition of the newest epoch of a "
            "frame to its processing here", ["target", "frame"], registry=registry)
        self.newest_epoch = Gauge(
            f"{p}_newest_epoch_timestamp_seconds", "Acquisition date (midnight UTC) of the "
            "newest epoch seen for a frame", ["target", "frame"], registry=registry)
        self.alerts_raised = Counter(
            f"{p}_alerts_raised", "Alerts raised, by level", ["target", "level"],
            registry=registry)
        self.corrections = Counter(
            f"{p}_atmospheric_corrections", "Flagged steps corrected for stratified delay "
            "and rescored, by method (none: no correction could be made)",
            ["target", "method"], registry=registry)
        self.deliveries = Counter(
            f"{p}_deliveries", "Delivery attempts, by channel and outcome",
            ["channel", "status"], registry=registry)
        self.deliveries_given_up = Counter(
            f"{p}_deliveries_given_up", "Deliveries given up (no further retry), by channel",
            ["channel"], registry=registry)
        self.outbox_depth = Gauge(
            f"{p}_outbox_depth", "Deliveries queued and not yet sent, by channel",
            ["channel"], registry=registry)
        for status in DELIVERY_STATUSES:  # export zeros so rate() works from the start
            self.deliveries.labels(channel="email", status=status)

    def set_probabilities(self, target: str, p_fused: float,
                          p_by_gain: dict[float, float] | None = None) -> None:
        """Probabilities of the newest scored epoch of ``target`` (0-1)."""
        self.probability_fused.labels(target=target).set(_unit(p_fused, "p_fused"))
        for gain, p in (p_by_gain or {}).items():
            self.probability.labels(target=target, gain=_gain_label(gain)).set(
                _unit(p, f"p_by_gain[{gain}]"))

    def set_lstt_p_value(self, target: str, reference: str, p_value: float) -> None:
        """LSTT p-value of ``target`` against the reference region named ``reference``."""
        self.lstt_p_value.labels(target=target, reference=reference).set(
            _unit(p_value, "p_value"))

    def product_ingested(self, target: str, count: int = 1) -> None:
        """Count ``count`` products appended to the series of ``target``."""
        self.products_ingested.labels(target=target).inc(count)

    def product_failed(self, target: str, reason: str) -> None:
        """Count a failed product; ``reason`` outside :data:`FAILURE_REASONS` -> ``other``."""
        self.products_failed.labels(target=target, reason=failure_reason(reason)).inc()

    def observe_poll(self, target: str, duration_s: float, *,
                     finished_at: datetime | None = None) -> None:
        """Record a poll's duration; with ``finished_at`` it also was a successful poll."""
        self.poll_duration.labels(target=target).observe(duration_s)
        if finished_at is not None:
            self.last_successful_poll.labels(target=target).set(_utc_seconds(finished_at))

    def observe_scoring(self, target: str, duration_s: float) -> None:
        """Record the time spent scoring one epoch of ``target``."""
        self.scoring_duration.labels(target=target).observe(duration_s)

    def set_freshness(self, target: str, frame: str, newest_epoch: date,
                      processed_at: datetime) -> None:
        """Newest epoch of a frame and the lag from its acquisition to ``processed_at``."""
        newest_s = _epoch_seconds(newest_epoch)
        self.newest_epoch.labels(target=target, frame=frame).set(newest_s)
        self.archive_lag.labels(target=target, frame=frame).set(
            max(0.0, _utc_seconds(processed_at) - newest_s))

    def alert_raised(self, target: str, level: str) -> None:
        """Count an alert raised for ``target`` at ``level`` (e.g. ``watch``, ``warning``)."""
        self.alerts_raised.labels(target=target, level=level.lower()).inc()

    def correction_made(self, target: str, method: str) -> None:
        """Count a flagged step's correction (``gacos``, ``icams``, ``empirical``, ``none``)."""
        if method not in CORRECTION_METHODS:
            raise InputError(f"correction_made: method must be one of {CORRECTION_METHODS}, "
                             f"got {method!r}")
        self.corrections.labels(target=target, method=method).inc()

    def delivery(self, sent: bool, channel: str = "email", given_up: bool = False) -> None:
        """Count one delivery attempt over ``channel`` as ``sent`` or ``failed`` (and, when
        ``given_up``, a delivery that will not be retried)."""
        self.deliveries.labels(channel=channel, status="sent" if sent else "failed").inc()
        if given_up:
            self.deliveries_given_up.labels(channel=channel).inc()

    def set_outbox_depth(self, depth: int, channel: str = "email") -> None:
        """Number of deliveries of ``channel`` still queued."""
        if depth < 0:
            raise InputError(f"set_outbox_depth: depth must be >= 0, got {depth!r}")
        self.outbox_depth.labels(channel=channel).set(depth)


def failure_label(exc: BaseException) -> str:
    """The :data:`FAILURE_REASONS` label of a failed product, by the type of ``exc``
    (:data:`FAILURE_LABELS`); ``other`` when no entry matches."""
    return next((label for kind, label in FAILURE_LABELS if isinstance(exc, kind)), "other")


def failure_reason(reason: str) -> str:
    """Map a failure reason to the bounded label set :data:`FAILURE_REASONS`."""
    r = reason.strip().lower()
    return r if r in FAILURE_REASONS else "other"


def _gain_label(gain: float) -> str:
    """``1.0`` -> ``"1"``, ``0.5`` -> ``"0.5"``: stable labels for the configured gains."""
    return f"{gain:g}"


def _unit(value: float, name: str) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise InputError(f"metrics: {name} must be a probability in [0, 1], got {value!r}")
    return v


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        logger.debug("metrics %s - " + format, self.address_string(), *args)


@dataclass
class MetricsServer:
    """The ``/metrics`` HTTP endpoint running in a daemon thread.

    Attributes:
        host: Address it listens on.
        port: Port it listens on (the real one when 0 was asked for).
    """

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def shutdown(self) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(registry: CollectorRegistry, host: str = "127.0.0.1",
                         port: int = 9309) -> MetricsServer:
    """Serve ``registry`` over HTTP (``/metrics``) from a daemon thread.

    Args:
        registry: The registry :class:`WatchMetrics` was created on.
        host: Listen address; 127.0.0.1 by default (expose it deliberately).
        port: TCP port; 0 picks a free one (read it back from the result).

    Returns:
        The running server; call ``shutdown()`` to stop it.

    Raises:
        OSError: The address is in use or cannot be bound (message names host:port).
    """
    app = make_wsgi_app(registry)
    try:
        server = make_server(host, port, app, handler_class=_QuietHandler)
    except OSError as exc:
        raise OSError(exc.errno, f"metrics endpoint cannot listen on {host}:{port}: "
                      f"{exc.strerror}; choose another [metrics] host/port") from exc
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name=f"metrics-{host}:{server.server_port}", daemon=True)
    thread.start()
    logger.info("metrics served on http://%s:%d/metrics", host, server.server_port)
    return MetricsServer(host=host, port=int(server.server_port), _server=server,
                         _thread=thread)
