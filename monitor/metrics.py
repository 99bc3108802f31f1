"""Prometheus metrics of the watch daemon, created on a registry that is passed in.

Names follow the Prometheus conventions: the unit in the name (``_seconds``,
``_timestamp_seconds``, ``_meters``), ``_total`` on counters, and label sets that stay
bounded (targets and frames come from the configuration, gains from the configured gains,
reasons, statuses and channels from fixed sets here). Tests create a fresh
:class:`prometheus_client.CollectorRegistry` and read values back with
``registry.get_sample_value`` (after prometheus client_python).

Two kinds of metric:

- **Where each target stands** (probabilities, LSTT, displacement, level, unacknowledged
  alerts, freshness, thresholds): a function of the database, handed over whole per target
  as a :class:`TargetReading` (:meth:`WatchMetrics.set_target`, made by
  :mod:`monitor.service.metrics_restore` at start and after each poll). A reading replaces
  the target's previous one at once, so a scrape never sees half of a poll's update and a
  series that no longer applies (a reference region of an old series) disappears.
- **What this process did** (counters, histograms, poll times, outbox depth): updated as
  things happen; counters start at zero for every configured label set.
"""

from __future__ import annotations

import logging
import math
import threading
import time as _time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import make_wsgi_app
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.errors import ArchiveError, ArchiveUnavailable, BrokenProduct, InputError
from monitor.wsgi_thread import ServedApp, serve_in_thread

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
#: Delivery channels (``Notifier.channel``) whose counters start at zero.
DELIVERY_CHANNELS: tuple[str, ...] = ("email", "webhook")
#: Label values of the correction counter (bounded).
CORRECTION_METHODS = ("gacos", "icams", "empirical", "none")
#: Label values of the alert counter and of ``probability_threshold``
#: (:class:`monitor.domain.AlertLevel` above NONE, lower case).
ALERT_LEVELS: tuple[str, ...] = ("watch", "warning")

#: Poll of one target: listing, fetching and scoring, seconds.
POLL_BUCKETS_S: tuple[float, ...] = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
#: Scoring of one epoch (CNN at every gain and LSTT), seconds.
SCORING_BUCKETS_S: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)

_RESTORED = " (a function of the database: restored at start, updated after each poll)"

#: The gauges of :class:`TargetReading`: short name -> (help, label names).
TARGET_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "poll_interval_seconds": (
        "Configured seconds between polls of the target", ("target",)),
    "probability_threshold": (
        "Detector probability at or above which a step counts for an alert level "
        "(the target's p_watch and p_warning)", ("target", "level")),
    "lstt_alpha": (
        "LSTT p-value at or below which the target differs from its references "
        "(the target's lstt_alpha)", ("target",)),
    "alert_level": (
        "Current alert level of the target by the alert policy over every stored score "
        "(0 none, 1 watch, 2 warning)" + _RESTORED, ("target",)),
    "alerts_unacknowledged": (
        "Alerts of the target nobody has acknowledged (as of the target's last poll or the "
        "daemon's start)", ("target",)),
    "probability_decision": (
        "The detector's deformation probability over the target at the frame's newest "
        "scored epoch: the one the alert policy decides on (atmosphere-corrected when a correction "
        "was made)" + _RESTORED, ("target", "frame")),
    "probability_raw": (
        "The detector's deformation probability over the target at the frame's newest "
        "scored epoch before any atmospheric correction" + _RESTORED, ("target", "frame")),
    "probability_gls": (
        "P of the series' GLS Mogi filter over the target at the frame's newest scored epoch "
        "(0.5 at its threshold), which confirms the detector's in the single-map rule; absent "
        "before the filter's warm-up of 20 increments" + _RESTORED, ("target", "frame")),
    "probability_gain_decision": (
        "CNN deformation probability at one wrap gain, frame's newest scored epoch, as "
        "decided on (corrected when a correction was made)" + _RESTORED,
        ("target", "frame", "gain")),
    "probability_gain_raw": (
        "CNN deformation probability at one wrap gain, frame's newest scored epoch, before "
        "any atmospheric correction" + _RESTORED, ("target", "frame", "gain")),
    "lstt_p_value": (
        "Combined LSTT p-value of the target against its reference regions, frame's newest "
        "scored epoch, as decided on (corrected when a correction was made)" + _RESTORED,
        ("target", "frame")),
    "lstt_p_value_reference": (
        "LSTT p-value of the target against one reference region, frame's newest scored "
        "epoch, before any correction" + _RESTORED, ("target", "frame", "reference")),
    "displacement_meters": (
        "Signed bell amplitude of the cumulative displacement over the target at the "
        "frame's newest scored epoch, metres of line of sight, positive towards the "
        "satellite" + _RESTORED, ("target", "frame")),
    "scored_epoch_timestamp_seconds": (
        "Acquisition date (midnight UTC) of the frame's newest scored epoch" + _RESTORED,
        ("target", "frame")),
    "newest_epoch_timestamp_seconds": (
        "Acquisition date (midnight UTC) of the newest ingested epoch of a frame"
        + _RESTORED, ("target", "frame")),
    "archive_lag_seconds": (
        "Seconds from the acquisition (midnight UTC) of the newest ingested epoch of a "
        "frame to its ingestion here" + _RESTORED, ("target", "frame")),
}


def _epoch_seconds(day: date) -> float:
    """Midnight UTC of ``day`` as Unix seconds."""
    return datetime.combine(day, time(0, 0), tzinfo=UTC).timestamp()


def _utc_seconds(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise InputError(f"metrics: time {moment!r} must be timezone-aware (UTC)")
    return moment.timestamp()


@dataclass(frozen=True)
class FrameReading:
    """One frame of a :class:`TargetReading`; None (or empty) leaves a series out.

    Attributes:
        frame: The frame id.
        newest_epoch: Newest ingested acquisition.
        archive_lag_s: Seconds from that acquisition (midnight UTC) to its ingestion.
        scored_epoch: The frame's newest scored epoch.
        p_decision: Fused P the policy decided on (0-1).
        p_raw: Fused P before any atmospheric correction (0-1).
        p_by_gain_decision: ``{gain: P}`` as decided on.
        p_by_gain_raw: ``{gain: P}`` before correction.
        lstt_p: The deciding combined LSTT p-value (0-1).
        lstt_p_by_reference: ``{reference name: p}`` (raw).
        displacement_m: Signed bell amplitude of the cumulative map, metres of LOS.
        gls_p: P of the series' GLS filter (0-1; None: not judged).
    """

    frame: str
    newest_epoch: date | None = None
    archive_lag_s: float | None = None
    scored_epoch: date | None = None
    p_decision: float | None = None
    p_raw: float | None = None
    p_by_gain_decision: Mapping[float, float] = field(default_factory=dict)
    p_by_gain_raw: Mapping[float, float] = field(default_factory=dict)
    lstt_p: float | None = None
    lstt_p_by_reference: Mapping[str, float] = field(default_factory=dict)
    displacement_m: float | None = None
    gls_p: float | None = None


@dataclass(frozen=True)
class TargetReading:
    """Where one target stands, as the gauges of :data:`TARGET_GAUGES` show it.

    Attributes:
        target: The target id.
        poll_interval_s: Configured seconds between polls.
        p_watch: Fused P for ``watch``; ``p_warning`` for ``warning``.
        p_warning: See ``p_watch``.
        lstt_alpha: The LSTT significance level.
        level: Current alert level (:class:`monitor.domain.AlertLevel` value).
        unacknowledged: Alerts not acknowledged.
        frames: One entry per configured frame.
    """

    target: str
    poll_interval_s: float
    p_watch: float
    p_warning: float
    lstt_alpha: float
    level: int
    unacknowledged: int
    frames: tuple[FrameReading, ...] = ()


_Samples = dict[str, list[tuple[tuple[str, ...], float]]]


def _reading_samples(r: TargetReading) -> _Samples:
    """The samples of a reading, by short gauge name (validated)."""
    out: _Samples = {name: [] for name in TARGET_GAUGES}
    t = r.target
    out["poll_interval_seconds"].append(((t,), float(r.poll_interval_s)))
    out["probability_threshold"] += [((t, "watch"), _unit(r.p_watch, "p_watch")),
                                     ((t, "warning"), _unit(r.p_warning, "p_warning"))]
    out["lstt_alpha"].append(((t,), _unit(r.lstt_alpha, "lstt_alpha")))
    out["alert_level"].append(((t,), float(r.level)))
    if r.unacknowledged < 0:
        raise InputError(f"metrics: unacknowledged must be >= 0, got {r.unacknowledged!r}")
    out["alerts_unacknowledged"].append(((t,), float(r.unacknowledged)))
    for f in r.frames:
        tf = (t, f.frame)
        for name, value in (("probability_decision", f.p_decision),
                            ("probability_raw", f.p_raw), ("lstt_p_value", f.lstt_p),
                            ("probability_gls", f.gls_p)):
            if value is not None:
                out[name].append((tf, _unit(value, f"{name}[{f.frame}]")))
        for name, gains in (("probability_gain_decision", f.p_by_gain_decision),
                            ("probability_gain_raw", f.p_by_gain_raw)):
            out[name] += [((*tf, _gain_label(g)), _unit(p, f"{name}[{g}]"))
                          for g, p in sorted(gains.items())]
        out["lstt_p_value_reference"] += [((*tf, ref), _unit(p, f"lstt_p[{ref}]"))
                                          for ref, p in sorted(f.lstt_p_by_reference.items())]
        if f.displacement_m is not None:
            out["displacement_meters"].append((tf, float(f.displacement_m)))
        if f.scored_epoch is not None:
            out["scored_epoch_timestamp_seconds"].append((tf, _epoch_seconds(f.scored_epoch)))
        if f.newest_epoch is not None:
            out["newest_epoch_timestamp_seconds"].append((tf, _epoch_seconds(f.newest_epoch)))
        if f.archive_lag_s is not None:
            out["archive_lag_seconds"].append((tf, max(0.0, float(f.archive_lag_s))))
    return out


class _TargetGauges(Collector):
    """The gauges of :data:`TARGET_GAUGES`, one whole reading per target."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_target: dict[str, _Samples] = {}

    def set(self, reading: TargetReading) -> None:
        samples = _reading_samples(reading)  # validates before anything is replaced
        with self._lock:
            self._by_target[reading.target] = samples

    def _families(self, by_target: Iterable[_Samples]) -> Iterator[Metric]:
        families = {name: GaugeMetricFamily(f"{PREFIX}_{name}", text, labels=list(labels))
                    for name, (text, labels) in TARGET_GAUGES.items()}
        for samples in by_target:
            for name, rows in samples.items():
                for labels, value in rows:
                    families[name].add_metric(list(labels), value)
        yield from families.values()

    def describe(self) -> Iterator[Metric]:
        return self._families(())

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot = list(self._by_target.values())
        return self._families(snapshot)


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
        self.build_info = Gauge(
            f"{p}_build_info", "Version of the running insar-monitor (value 1)", ["version"],
            registry=registry)
        self.build_info.labels(version=__version__).set(1)
        self.start_time = Gauge(
            f"{p}_start_time_seconds", "Unix time the metrics of this process were created "
            "(the daemon's start)", registry=registry)
        self.start_time.set(_time.time())
        self.targets = Gauge(
            f"{p}_targets", "Targets in the configuration", registry=registry)
        self._target_gauges = _TargetGauges()
        registry.register(self._target_gauges)
        self.products_ingested = Counter(
            f"{p}_products_ingested", "Products fetched, validated and appended to the "
            "series", ["target"], registry=registry)
        self.products_failed = Counter(
            f"{p}_products_failed", "Product attempts that failed, by reason",
            ["target", "reason"], registry=registry)
        self.listings_failed = Counter(
            f"{p}_listings_failed", "Listings of a target's frame that failed, by reason "
            "(no product of the frame is tried in that poll)", ["target", "reason"],
            registry=registry)
        self.frames_blocked = Gauge(
            f"{p}_frames_blocked", "Frames of the target whose series cannot go on: a "
            "quarantined product that no listed pair bridges (insar-monitor products list "
            "--status quarantined)", ["target"], registry=registry)
        self.poll_duration = Histogram(
            f"{p}_poll_duration_seconds", "Duration of one poll of a target",
            ["target"], buckets=POLL_BUCKETS_S, registry=registry)
        self.scoring_duration = Histogram(
            f"{p}_scoring_duration_seconds", "Duration of scoring one epoch of a target",
            ["target"], buckets=SCORING_BUCKETS_S, registry=registry)
        self.last_successful_poll = Gauge(
            f"{p}_last_successful_poll_timestamp_seconds", "Unix time of the last poll of "
            "the target that completed without error (not stored in the database: absent "
            "after a restart until the first poll, which runs at start)", ["target"],
            registry=registry)
        self.last_poll = Gauge(
            f"{p}_last_poll_timestamp_seconds", "Unix time of the last poll of the target, "
            "whether or not it succeeded (not stored in the database)", ["target"],
            registry=registry)
        self.alerts_raised = Counter(
            f"{p}_alerts_raised", "Alerts raised by this process, by level",
            ["target", "level"], registry=registry)
        self.corrections = Counter(
            f"{p}_atmospheric_corrections", "Flagged steps corrected for stratified delay "
            "and rescored, by method (none: no correction could be made)",
            ["target", "method"], registry=registry)
        self.deliveries = Counter(
            f"{p}_deliveries", "Alert delivery attempts, by channel and outcome",
            ["channel", "status"], registry=registry)
        self.deliveries_given_up = Counter(
            f"{p}_deliveries_given_up", "Deliveries that failed permanently (a bad address, "
            "a webhook 4xx, a message that cannot be built; kept for `outbox retry`), by "
            "channel", ["channel"], registry=registry)
        self.outbox_depth = Gauge(
            f"{p}_outbox_depth", "Deliveries queued or retrying, not yet sent, by channel",
            ["channel"], registry=registry)
        self.deliveries_failed = Gauge(
            f"{p}_deliveries_failed", "Deliveries that failed permanently and wait for an "
            "operator (`insar-monitor outbox retry`), by channel (a function of the database: "
            "restored at start, updated after each outbox pass)",
            ["channel"], registry=registry)
        self.outbox_oldest_age = Gauge(
            f"{p}_outbox_oldest_age_seconds", "Age of the oldest delivery still in the "
            "outbox (queued or retrying), seconds since it was queued; 0 when empty",
            ["channel"], registry=registry)
        # -- backfill progress (issue 17): one frame's poll through its due products --
        self.backfill_remaining = Gauge(
            f"{p}_backfill_products_remaining", "Products the frame's poll under way still "
            "has to ingest (the daisy chain ahead of its series); after the poll, those it "
            "did not reach (0: caught up)", ["target", "frame"], registry=registry)
        self.backfill_rate = Gauge(
            f"{p}_backfill_rate_products_per_second", "Products per second of the frame's "
            "poll under way (0 when no poll works on the frame)", ["target", "frame"],
            registry=registry)
        self.backfill_eta = Gauge(
            f"{p}_backfill_eta_seconds", "Estimated seconds left of the frame's poll under "
            "way at its rate so far (0 when no poll works on the frame)",
            ["target", "frame"], registry=registry)
        for channel in DELIVERY_CHANNELS:  # export zeros so rate() works from the start
            for status in DELIVERY_STATUSES:
                self.deliveries.labels(channel=channel, status=status)
            self.deliveries_given_up.labels(channel=channel)
            self.outbox_depth.labels(channel=channel)
            self.deliveries_failed.labels(channel=channel)
            self.outbox_oldest_age.labels(channel=channel)

    def declare_target(self, target: str) -> None:
        """Start the target's counters and histograms at zero (every bounded label set), so
        ``rate()`` and ``increase()`` see the first event and dashboards have a series."""
        self.products_ingested.labels(target=target)
        for reason in FAILURE_REASONS:
            self.products_failed.labels(target=target, reason=reason)
            self.listings_failed.labels(target=target, reason=reason)
        self.frames_blocked.labels(target=target)
        for level in ALERT_LEVELS:
            self.alerts_raised.labels(target=target, level=level)
        for method in CORRECTION_METHODS:
            self.corrections.labels(target=target, method=method)
        self.poll_duration.labels(target=target)
        self.scoring_duration.labels(target=target)

    def declare_frames(self, target: str, frames: Iterable[str]) -> None:
        """Start the backfill gauges of the target's frames (at 0 until a poll sets them;
        values already set are kept)."""
        for frame in frames:
            self.backfill_remaining.labels(target=target, frame=frame)
            self.backfill_rate.labels(target=target, frame=frame)
            self.backfill_eta.labels(target=target, frame=frame)

    def set_backfill(self, target: str, frame: str, *, remaining: int, rate_per_s: float,
                     eta_s: float) -> None:
        """Where a frame's poll stands (:mod:`monitor.service.progress`): products left,
        products per second, estimated seconds left.

        Raises:
            InputError: a negative or non-finite value; nothing is changed then.
        """
        values = {"remaining": float(remaining), "rate_per_s": float(rate_per_s),
                  "eta_s": float(eta_s)}
        bad = {k: v for k, v in values.items() if not (math.isfinite(v) and v >= 0)}
        if bad:
            raise InputError(f"set_backfill {target} {frame}: expected finite values >= 0, "
                             f"got {bad}")
        self.backfill_remaining.labels(target=target, frame=frame).set(values["remaining"])
        self.backfill_rate.labels(target=target, frame=frame).set(values["rate_per_s"])
        self.backfill_eta.labels(target=target, frame=frame).set(values["eta_s"])

    def set_targets(self, count: int) -> None:
        """Number of configured targets."""
        self.targets.set(count)

    def set_target(self, reading: TargetReading) -> None:
        """Replace everything :data:`TARGET_GAUGES` says of ``reading.target`` at once.

        Raises:
            InputError: A probability, p-value or threshold outside [0, 1], or a negative
                count; nothing is changed then.
        """
        self._target_gauges.set(reading)

    def product_ingested(self, target: str, count: int = 1) -> None:
        """Count ``count`` products appended to the series of ``target``."""
        self.products_ingested.labels(target=target).inc(count)

    def product_failed(self, target: str, reason: str) -> None:
        """Count a failed product; ``reason`` outside :data:`FAILURE_REASONS` -> ``other``."""
        self.products_failed.labels(target=target, reason=failure_reason(reason)).inc()

    def listing_failed(self, target: str, reason: str) -> None:
        """Count a failed listing of one of ``target``'s frames; ``reason`` as for
        :meth:`product_failed`."""
        self.listings_failed.labels(target=target, reason=failure_reason(reason)).inc()

    def set_frames_blocked(self, target: str, count: int) -> None:
        """Frames of ``target`` blocked after its latest poll."""
        self.frames_blocked.labels(target=target).set(count)

    def observe_poll(self, target: str, duration_s: float, *,
                     finished_at: datetime | None = None,
                     attempted_at: datetime | None = None) -> None:
        """Record a poll's duration and when it ran (``attempted_at``); with
        ``finished_at`` it also was a successful poll (and ran then)."""
        self.poll_duration.labels(target=target).observe(duration_s)
        if finished_at is not None:
            self.last_successful_poll.labels(target=target).set(_utc_seconds(finished_at))
        at = attempted_at or finished_at
        if at is not None:
            self.last_poll.labels(target=target).set(_utc_seconds(at))

    def observe_scoring(self, target: str, duration_s: float) -> None:
        """Record the time spent scoring one epoch of ``target``."""
        self.scoring_duration.labels(target=target).observe(duration_s)

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
        """Count one delivery attempt on ``channel`` as ``sent`` or ``failed``; a failed one
        that will not be retried is also counted as given up."""
        self.deliveries.labels(channel=channel, status="sent" if sent else "failed").inc()
        if given_up and not sent:
            self.deliveries_given_up.labels(channel=channel).inc()

    def set_outbox_depth(self, depth: int, channel: str = "email") -> None:
        """Number of deliveries of ``channel`` still queued."""
        if depth < 0:
            raise InputError(f"set_outbox_depth: depth must be >= 0, got {depth!r}")
        self.outbox_depth.labels(channel=channel).set(depth)

    def set_deliveries_failed(self, count: int, channel: str = "email") -> None:
        """Number of deliveries of ``channel`` that failed permanently and wait for an
        operator."""
        if count < 0:
            raise InputError(f"set_deliveries_failed: count must be >= 0, got {count!r}")
        self.deliveries_failed.labels(channel=channel).set(count)

    def set_outbox_oldest_age(self, age_s: float, channel: str = "email") -> None:
        """Seconds since the oldest delivery of ``channel`` still waiting was queued (0:
        none waits)."""
        self.outbox_oldest_age.labels(channel=channel).set(max(0.0, float(age_s)))


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


#: The running ``/metrics`` endpoint (:func:`start_metrics_server`).
MetricsServer = ServedApp


def start_metrics_server(registry: CollectorRegistry, host: str = "127.0.0.1",
                         port: int = 9309) -> MetricsServer:
    """Serve ``registry`` over HTTP (``/metrics``) from a daemon thread
    (:func:`monitor.wsgi_thread.serve_in_thread`).

    Args:
        registry: The registry :class:`WatchMetrics` was created on.
        host: Listen address; 127.0.0.1 by default (expose it deliberately).
        port: TCP port; 0 picks a free one (read it back from the result).

    Returns:
        The running server; call ``shutdown()`` to stop it.

    Raises:
        OSError: The address is in use or cannot be bound (message names host:port).
    """
    return serve_in_thread(make_wsgi_app(registry), host, port, name="metrics",
                           section="metrics", path="/metrics")
