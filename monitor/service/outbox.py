"""Stage 6 of the watch: hand the queued alerts (the outbox) to their delivery channels.

Each due delivery (:meth:`~monitor.ports.Store.pending_deliveries`) becomes an
:class:`~monitor.domain.AlertDelivery` built from its alert, the epoch's score and the
quicklook PNG written when the alert was raised, and goes to the
:class:`~monitor.ports.Notifier` of its row's ``channel`` (``email``: the recipient is an
address, and the message carries a deterministic ``Message-ID`` from the alert id and
recipient; ``webhook``: the recipient is a ``[webhooks.NAME]`` name, and the POST carries
a stable id from the alert id and that name; so a message sent twice after a crash is the
same message). The outbox treats every channel alike: success -> ``mark_delivery_sent``;
a retryable failure (an SMTP 4xx, an HTTP 5xx, 408 or 429, a connection, a timeout) ->
``mark_delivery_failed`` with exponential backoff up to :data:`MAX_DELIVERY_ATTEMPTS`; a
permanent one (an SMTP 5xx, an HTTP 4xx, a bad address, a missing secret, a message that
cannot be built, a channel nobody delivers) gives up at once.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.domain import (
    ALERT_KIND_CLEARED,
    AlertDelivery,
    AlertLevel,
    AlertMessage,
    DeliveryResult,
)
from monitor.errors import InputError, MonitorError
from monitor.notify.policy import evaluate
from monitor.ports import Notifier
from monitor.service.alert_maps import quicklook_path
from monitor.service.context import WatchContext, build_notifiers
from monitor.service.target_status import (
    POLICY_HISTORY,
    alert_settings_of,
    policy_input,
    score_frame,
)
from monitor.store import Alert, Score

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
        outbox_depth: Deliveries still waiting afterwards (every channel).
    """

    sent: int
    failed: int
    given_up: int
    outbox_depth: int


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def ack_command(alert_id: int, config_file: str | None) -> str:
    """The command that acknowledges an alert, as it can be run (NAME: who acknowledges);
    ``--config FILE`` literally when the configuration's path is not known."""
    config = shlex.quote(config_file) if config_file else "FILE"
    return f"insar-monitor alerts ack {alert_id} --by NAME --config {config}"


def _cleared_level(ctx: WatchContext, alert: Alert, scores: list[Score]) -> str | None:
    """The level a ``cleared`` alert cleared: the policy's level before that epoch (the
    policy over the stored scores, as the poll ran it); None when it cannot be told."""
    target = next((t for t in ctx.settings.targets if t.id == alert.target_id), None)
    if target is None:
        return None
    previous = AlertLevel.NONE
    for step in evaluate([policy_input(s) for s in scores],
                         alert_settings_of(ctx.settings, target)):
        if step.epoch == alert.epoch:
            return previous.name.lower() if step.cleared and previous else None
        previous = step.level
    return None


def _message(ctx: WatchContext, alert: Alert) -> tuple[AlertMessage, bytes | None, str | None]:
    """What the alert says, its quicklook PNG and the PNG's file name (None, None when
    there is no picture: always for a clear)."""
    store = ctx.store
    target = next((t for t in store.list_targets() if t.id == alert.target_id), None)
    if target is None:
        raise InputError(f"alert {alert.id}: target {alert.target_id!r} is not in the store")
    scores = store.latest_scores(alert.target_id, POLICY_HISTORY)
    score = next((s for s in scores if s.epoch == alert.epoch), None)
    if score is None or score.p_fused is None:
        raise InputError(f"alert {alert.id}: no score of target {alert.target_id} at epoch "
                         f"{alert.epoch}")
    epoch = next((e for e in store.list_epochs(alert.target_id) if e.epoch == alert.epoch),
                 None)
    configured = next((t for t in ctx.settings.targets if t.id == alert.target_id), None)
    frames = configured.frames if configured is not None else ()
    frame = score_frame(score, frames) or (score.params or {}).get("frame")
    permutations = (score.params or {}).get("lstt_permutations")
    bell = (score.signal or {}).get("bell_m")
    cleared = alert.kind == ALERT_KIND_CLEARED
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
        cleared=cleared,
        cleared_level=_cleared_level(ctx, alert, scores) if cleared else None,
        frame=None if frame is None else str(frame), radius_km=target.radius_km,
        displacement_m=None if bell is None else float(bell),
        lstt_permutations=None if permutations is None else int(permutations),
        ack_command=ack_command(alert.id, ctx.config_file))
    if cleared:
        return msg, None, None
    png_path = quicklook_path(ctx.settings, alert.target_id, alert.epoch)
    if not png_path.is_file():
        return msg, None, None
    return msg, png_path.read_bytes(), png_path.name


def deliver_outbox(ctx: WatchContext, now: datetime, notifier: Notifier | None = None
                   ) -> DeliveryReport:
    """Hand every due delivery to the notifier of its channel once.

    Delivery is at least once: a process killed after the channel accepted a message but
    before ``mark_delivery_sent`` committed sends it again on restart (a lost alert is
    worse than a duplicate). The copy is the same message (for e-mail the same
    ``Message-ID``, from the alert id and the recipient; for a webhook the same delivery
    id, from the alert id and the webhook's name), so receivers can drop it
    (``tests/test_restart.py``, ``tests/test_webhook.py``).

    Args:
        ctx: The context (its ``notifiers``; none: :func:`~monitor.service.context.
            build_notifiers`).
        now: The time, timezone-aware UTC.
        notifier: Replaces the context's notifier of its own channel (tests).
    """
    if now.tzinfo is None:
        raise InputError(f"now={now!r} is naive; pass a timezone-aware UTC datetime")
    store = ctx.store
    channels: Mapping[str, Notifier] = dict(ctx.notifiers) or build_notifiers(ctx.settings)
    if notifier is not None:
        channels = {**channels, notifier.channel: notifier}
    sent = failed = given_up = 0
    seen = set(channels)
    for d in store.pending_deliveries(now):
        seen.add(d.channel)
        alert = store.get_alert(d.alert_id)
        channel = channels.get(d.channel)
        if channel is None:
            result = DeliveryResult(False, retryable=False, detail=(
                f"no notifier delivers channel {d.channel!r} (configured: "
                f"{', '.join(sorted(channels))})"))
        else:
            try:
                msg, png, png_name = _message(ctx, alert)
            except MonitorError as exc:
                result = DeliveryResult(False, retryable=False, detail=str(exc))
            else:
                result = channel.deliver(AlertDelivery(
                    delivery_id=d.id, alert_id=alert.id, recipient=d.recipient,
                    message=msg, created_at=_utc(alert.created_at), quicklook_png=png,
                    quicklook_name=png_name, channel=d.channel))
        if not result.delivered:
            limit = MAX_DELIVERY_ATTEMPTS if result.retryable else d.attempts + 1
            row = store.mark_delivery_failed(d.id, result.detail, now, max_attempts=limit)
            failed += 1
            gave_up = row.next_attempt_at is None
            given_up += gave_up
            log.warning("delivery %s of alert %s to %s by %s failed (%s): %s", d.id,
                        alert.id, d.recipient, d.channel,
                        "given up" if gave_up else "will retry", result.detail,
                        extra={"target": alert.target_id, "epoch": alert.epoch,
                               "alert_id": alert.id, "delivery_id": d.id,
                               "channel": d.channel})
            if ctx.metrics is not None:
                ctx.metrics.delivery(sent=False, channel=d.channel, given_up=gave_up)
            continue
        store.mark_delivery_sent(d.id, now)
        log.info("delivery %s of alert %s to %s by %s sent", d.id, alert.id, d.recipient,
                 d.channel, extra={"target": alert.target_id, "epoch": alert.epoch,
                                   "alert_id": alert.id, "delivery_id": d.id,
                                   "channel": d.channel})
        sent += 1
        if ctx.metrics is not None:
            ctx.metrics.delivery(sent=True, channel=d.channel)
    depth = store.outbox_depth()
    if ctx.metrics is not None:
        for name in sorted(seen):
            ctx.metrics.set_outbox_depth(store.outbox_depth(name), name)
    return DeliveryReport(sent, failed, given_up, depth)
