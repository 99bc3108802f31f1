"""Stage 6 of the watch: hand the queued alerts (the outbox) to the delivery channel, one
per recipient.

Each due delivery (:meth:`~monitor.ports.Store.pending_deliveries`) becomes an
:class:`~monitor.domain.AlertDelivery` built from its alert, the epoch's score and the
quicklook PNG written when the alert was raised, and goes to the context's
:class:`~monitor.ports.Notifier` (e-mail today, with a deterministic ``Message-ID`` from the
alert id and recipient, so a message sent twice after a crash is the same message). The
outbox knows no channel: success -> ``mark_delivery_sent``; a retryable failure (4xx,
connection, timeout) -> ``mark_delivery_failed`` with exponential backoff up to
:data:`MAX_DELIVERY_ATTEMPTS`; a permanent one (5xx, bad address, a message that cannot be
built) gives up at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.domain import AlertDelivery, AlertLevel, AlertMessage, DeliveryResult
from monitor.errors import InputError, MonitorError
from monitor.ports import Notifier
from monitor.service.alert_maps import quicklook_path
from monitor.service.context import WatchContext, build_notifier
from monitor.store import Alert

log = logging.getLogger(__name__)

#: Attempts of a delivery before it leaves the outbox as failed.
MAX_DELIVERY_ATTEMPTS = 8


@dataclass(frozen=True)
class DeliveryReport:
    """What one pass over the outbox did.

    Attributes:
        sent: Deliveries accepted by the server (or written by the dry run).
        failed: Deliveries that failed this time (retried later unless given up).
        given_up: Of those, deliveries that will not be retried.
        outbox_depth: Deliveries still waiting afterwards.
    """

    sent: int
    failed: int
    given_up: int
    outbox_depth: int


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _message(ctx: WatchContext, alert: Alert) -> tuple[AlertMessage, bytes | None]:
    store = ctx.store
    target = next((t for t in store.list_targets() if t.id == alert.target_id), None)
    if target is None:
        raise InputError(f"alert {alert.id}: target {alert.target_id!r} is not in the store")
    score = next((s for s in store.latest_scores(alert.target_id, 100_000)
                  if s.epoch == alert.epoch), None)
    if score is None or score.p_fused is None:
        raise InputError(f"alert {alert.id}: no score of target {alert.target_id} at epoch "
                         f"{alert.epoch}")
    epoch = next((e for e in store.list_epochs(alert.target_id) if e.epoch == alert.epoch),
                 None)
    corrected = score.corrected and score.p_fused_corrected is not None
    p_fused = score.p_fused_corrected if corrected else score.p_fused
    by_gain = (score.p_by_gain_corrected or {}) if corrected else score.p_by_gain
    msg = AlertMessage(
        target_id=target.id, target_name=target.name, lon=target.lon, lat=target.lat,
        epoch=alert.epoch, level=AlertLevel(alert.level).name.lower(),
        p_fused=float(p_fused if p_fused is not None else score.p_fused),
        p_by_gain=tuple(sorted((float(g), float(p)) for g, p in by_gain.items())),
        lstt_p=score.decision_lstt_p,
        correction=score.correction_method if corrected else None,
        p_fused_raw=float(score.p_fused) if corrected else None,
        decision=score.decision_note, reason=alert.message,
        cumulative_max_m=float(epoch.cum_max_m) if epoch and epoch.cum_max_m else 0.0,
        peak_lon=score.peak_lon, peak_lat=score.peak_lat, model_sha256=score.model_sha256,
        link_text=f"Acknowledge with: insar-monitor alerts ack {alert.id} --by NAME")
    png_path = quicklook_path(ctx.settings, alert.target_id, alert.epoch)
    png = png_path.read_bytes() if png_path.is_file() else None
    return msg, png


def deliver_outbox(ctx: WatchContext, now: datetime, notifier: Notifier | None = None
                   ) -> DeliveryReport:
    """Hand every due delivery to the notifier once.

    Delivery is at least once: a process killed after the channel accepted a message but
    before ``mark_delivery_sent`` committed sends it again on restart (a lost alert is
    worse than a duplicate). The copy is the same message (for e-mail the same
    ``Message-ID``, from the alert id and the recipient), so mail clients and archives can
    drop it (``tests/test_restart.py`` checks both).

    Args:
        ctx: The context.
        now: The time, timezone-aware UTC.
        notifier: Overrides the context's notifier (tests).
    """
    if now.tzinfo is None:
        raise InputError(f"now={now!r} is naive; pass a timezone-aware UTC datetime")
    store = ctx.store
    channel = notifier or ctx.notifier or build_notifier(ctx.settings)
    sent = failed = given_up = 0
    for d in store.pending_deliveries(now):
        alert = store.get_alert(d.alert_id)
        try:
            msg, png = _message(ctx, alert)
        except MonitorError as exc:
            result = DeliveryResult(False, retryable=False, detail=str(exc))
        else:
            result = channel.deliver(AlertDelivery(
                delivery_id=d.id, alert_id=alert.id, recipient=d.recipient, message=msg,
                created_at=_utc(alert.created_at), quicklook_png=png))
        if not result.delivered:
            limit = MAX_DELIVERY_ATTEMPTS if result.retryable else d.attempts + 1
            row = store.mark_delivery_failed(d.id, result.detail, now, max_attempts=limit)
            failed += 1
            given_up += row.next_attempt_at is None
            log.warning("delivery %s of alert %s to %s by %s failed (%s): %s", d.id,
                        alert.id, d.recipient, channel.channel,
                        "will retry" if row.next_attempt_at else "given up", result.detail,
                        extra={"target": alert.target_id, "epoch": alert.epoch,
                               "alert_id": alert.id, "delivery_id": d.id,
                               "channel": channel.channel})
            if ctx.metrics is not None:
                ctx.metrics.delivery(sent=False, channel=channel.channel,
                                     given_up=row.next_attempt_at is None)
            continue
        store.mark_delivery_sent(d.id, now)
        log.info("delivery %s of alert %s to %s by %s sent", d.id, alert.id, d.recipient,
                 channel.channel, extra={"target": alert.target_id, "epoch": alert.epoch,
                                         "alert_id": alert.id, "delivery_id": d.id,
                                         "channel": channel.channel})
        sent += 1
        if ctx.metrics is not None:
            ctx.metrics.delivery(sent=True, channel=channel.channel)
    depth = store.outbox_depth()
    if ctx.metrics is not None:
        ctx.metrics.set_outbox_depth(depth)
    return DeliveryReport(sent, failed, given_up, depth)
