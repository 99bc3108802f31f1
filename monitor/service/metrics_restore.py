"""The metrics that say where each target stands, as a function of the database.

One definition, used twice: at the daemon's start (:func:`restore_metrics`, so a dashboard
is right after a restart, before any new acquisition) and after each poll of a target
(:func:`export_target`), so the gauges after a poll and after a restart on the same
database are the same. Everything comes from
:func:`monitor.service.target_status.target_status` (the level by the poll's own policy,
each frame's newest ingested acquisition and newest score, raw and deciding P) and the
store's outbox.

What the database does not hold is not restored: the time of the last (successful) poll
(set by the first poll, which runs at start) and the counters and histograms of this
process (they start at zero, as Prometheus expects of a restarted process).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from monitor.config import Settings, TargetSettings
from monitor.metrics import DELIVERY_CHANNELS, FrameReading, TargetReading, WatchMetrics
from monitor.ports import Store
from monitor.service.target_status import (
    FrameStatus,
    TargetStatus,
    alert_settings_of,
    target_status,
    watch_status,
)


def frame_reading(frame: FrameStatus) -> FrameReading:
    """What the gauges show of one frame: its newest ingested acquisition, the archive lag
    (ingestion time minus the acquisition's midnight UTC) and its newest score."""
    lag = None if frame.ingested_at is None else frame.lag_s(frame.ingested_at)
    s = frame.latest
    if s is None:
        return FrameReading(frame.frame, newest_epoch=frame.newest_epoch, archive_lag_s=lag)
    return FrameReading(
        frame.frame, newest_epoch=frame.newest_epoch, archive_lag_s=lag,
        scored_epoch=s.epoch, p_decision=s.p_decision, p_raw=s.p_raw,
        p_by_gain_decision=s.p_by_gain_decision, p_by_gain_raw=s.p_by_gain_raw,
        lstt_p=s.lstt_p_decision, lstt_p_by_reference=s.lstt_by_reference,
        displacement_m=s.bell_m, gls_p=s.gls_p)


def target_reading(settings: Settings, status: TargetStatus) -> TargetReading:
    """The :class:`~monitor.metrics.TargetReading` of a target's status."""
    target = status.target
    alerts = alert_settings_of(settings, target)
    return TargetReading(
        target=target.id, poll_interval_s=float(target.poll_interval_s),
        p_watch=alerts.p_watch, p_warning=alerts.p_warning, lstt_alpha=alerts.lstt_alpha,
        level=int(status.level), unacknowledged=status.unacknowledged,
        frames=tuple(frame_reading(f) for f in status.frames))


def export_target(metrics: WatchMetrics, store: Store, settings: Settings,
                  target: TargetSettings) -> TargetStatus:
    """Set the target's gauges from the store (after a poll of it); returns its status."""
    status = target_status(store, settings, target)
    metrics.declare_target(target.id)
    metrics.declare_frames(target.id, target.frames)
    metrics.set_target(target_reading(settings, status))
    return status


def export_outbox(metrics: WatchMetrics, store: Store, now: datetime,
                  channels: Iterable[str] = DELIVERY_CHANNELS) -> None:
    """Set the outbox gauges of each channel from the store: deliveries waiting
    (``outbox_depth``), failed permanently (``deliveries_failed``) and the age of the
    oldest one waiting at ``now`` (``outbox_oldest_age_seconds``)."""
    for channel in sorted(set(channels) | set(DELIVERY_CHANNELS)):
        metrics.set_outbox_depth(store.outbox_depth(channel), channel)
        metrics.set_deliveries_failed(store.failed_count(channel), channel)
        oldest = store.oldest_waiting(channel)
        metrics.set_outbox_oldest_age(
            0.0 if oldest is None else (now - oldest).total_seconds(), channel)


def restore_metrics(metrics: WatchMetrics, store: Store, settings: Settings,
                    now: datetime | None = None) -> list[TargetStatus]:
    """Set every gauge the database determines, for every configured target, and the
    outbox gauges of each delivery channel (at the daemon's start, before the first poll;
    ``now``: the clock's time, default the system's); returns the statuses."""
    metrics.set_targets(len(settings.targets))
    statuses = watch_status(store, settings)
    for status in statuses:
        metrics.declare_target(status.target.id)
        metrics.declare_frames(status.target.id, status.target.frames)
        metrics.set_target(target_reading(settings, status))
    export_outbox(metrics, store, now or datetime.now(UTC))
    return statuses
