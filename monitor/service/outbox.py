"""Stage 6 of the watch: hand the queued alerts (the outbox) to their delivery channels.

Each due delivery (:meth:`~monitor.ports.Store.pending_deliveries`) is first *claimed*
(:meth:`~monitor.ports.Store.claim_delivery`: its next attempt moves ``[outbox]
claim_lease_s`` ahead in one conditional UPDATE, so two passes, in two threads or two
processes, never send it at the same time), then becomes an
:class:`~monitor.domain.AlertDelivery` built from its alert, the epoch's score and the
quicklook PNG written when the alert was raised, and goes to the
:class:`~monitor.ports.Notifier` of its row's ``channel`` (``email``: the recipient is an
address, and the message carries a deterministic ``Message-ID`` from the alert id and
recipient; ``webhook``: the recipient is a ``[webhooks.NAME]`` name, and the POST carries
a stable id from the alert id and that name; so a message sent twice after a crash is the
same message).

Outcomes, the same for every channel:

* success -> ``sent``;
* a retryable failure (an SMTP 4xx, an HTTP 5xx, 408 or 429, a refused connection, a
  timeout, and the set-up's failures: a rejected login, a missing password or secret,
  which are also logged at ERROR with what to fix) -> ``retrying``, due again after an
  exponential backoff (``[outbox] first_backoff_s`` doubling up to ``max_backoff_s``),
  with **no attempt limit**: an outage of a day loses nothing;
* a permanent failure (an SMTP 5xx naming the recipient, an HTTP 4xx, a message that
  cannot be built, a channel nobody delivers) -> ``failed``: it stays in the database with
  its last error, is counted (``deliveries_given_up_total``, the ``deliveries_failed``
  gauge), shown by ``alerts list`` and ``outbox list --failed``, and sent again by
  ``insar-monitor outbox retry``.

One poisoned delivery never stops the pass: any exception while building its message or
inside its channel is caught for that delivery alone, recorded as its failure (permanent
when it is an input error of the message, such as a line break in a header; retryable
otherwise) and logged with the delivery id; the pass goes on with the next one.
``KeyboardInterrupt`` and ``SystemExit`` are not caught.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.domain import (
    ALERT_KIND_CLEARED,
    AlertDelivery,
    AlertLevel,
    AlertMessage,
    DeliveryResult,
)
from monitor.errors import ConfigError, InputError
from monitor.notify.policy import evaluate
from monitor.ports import Notifier
from monitor.service.alert_maps import quicklook_path
from monitor.service.context import WatchContext, build_notifiers
from monitor.service.metrics_restore import export_outbox
from monitor.service.target_status import (
    POLICY_HISTORY,
    alert_settings_of,
    policy_input,
    score_frame,
)
from monitor.store import Alert, Backoff, Delivery, Score

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class DeliveryReport:
    """What one pass over the outbox did.

    Attributes:
        sent: Deliveries accepted by the server (or written by the dry run).
        failed: Deliveries that failed this time (retried later unless given up).
        given_up: Of those, deliveries that failed permanently (status ``failed``).
        outbox_depth: Deliveries still waiting afterwards (every channel).
        needs_operator: Of the failures, those of the set-up (a rejected login, a
            missing password or secret): retried, but someone must fix something.
        failed_total: Deliveries in the store that failed permanently and wait for
            ``outbox retry`` after the pass (this pass's and earlier ones).
    """

    sent: int
    failed: int
    given_up: int
    outbox_depth: int
    needs_operator: int = 0
    failed_total: int = 0

    @property
    def retrying(self) -> int:
        """Failures of this pass that stay queued for a retry."""
        return self.failed - self.given_up

    @property
    def problem(self) -> str | None:
        """What is wrong after the pass, in words (None: nothing): ``"deliveries failed
        permanently"`` when any wait for ``outbox retry``, else ``"deliveries remain queued
        after errors"`` when a failure of this pass is to be retried."""
        if self.given_up or self.failed_total:
            return "deliveries failed permanently"
        if self.failed:
            return "deliveries remain queued after errors"
        return None


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
        ack_command=ack_command(alert.id, ctx.config_file),
        gls_p=_gls_p(score.signal),
        series_arrivals=_series_arrivals(score.params))
    if cleared:
        return msg, None, None
    png_path = quicklook_path(ctx.settings, alert.target_id, alert.epoch)
    if not png_path.is_file():
        return msg, None, None
    return msg, png_path.read_bytes(), png_path.name


def _series_arrivals(params: Mapping[str, Any] | None) -> int | None:
    """The earlier acquisitions behind the series' own threshold of a score's P (None:
    the packaged calibration's, or a score from before it was recorded)."""
    value = (params or {}).get("series_arrivals")
    return None if value is None else int(value)


def _gls_p(signal: Mapping[str, Any] | None) -> float | None:
    """The GLS filter's P stored with a score's signal (None: not judged)."""
    value = (signal or {}).get("gls_p")
    return None if value is None else float(value)


def _input_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the message itself is bad (retrying cannot help): the
    package's input errors and the builtins a malformed value raises (a line break in a
    header is a ``ValueError``); a set-up problem (``ConfigError``) is not."""
    if isinstance(exc, ConfigError):
        return False
    return isinstance(exc, (InputError, ValueError, TypeError, UnicodeError))


def _attempt(ctx: WatchContext, channels: Mapping[str, Notifier], d: Delivery
             ) -> tuple[DeliveryResult, Alert | None]:
    """One attempt of one delivery; never raises an ``Exception`` (a failure is a
    result), so one poisoned delivery cannot stop the pass."""
    alert: Alert | None = None
    stage = "reading its alert"
    try:
        alert = ctx.store.get_alert(d.alert_id)
        channel = channels.get(d.channel)
        if channel is None:
            return DeliveryResult(False, retryable=False, detail=(
                f"no notifier delivers channel {d.channel!r} (configured: "
                f"{', '.join(sorted(channels))})")), alert
        stage = "building its message"
        msg, png, png_name = _message(ctx, alert)
        stage = f"handing it to the {d.channel} channel"
        return channel.deliver(AlertDelivery(
            delivery_id=d.id, alert_id=alert.id, recipient=d.recipient, message=msg,
            created_at=_utc(alert.created_at), quicklook_png=png,
            quicklook_name=png_name, channel=d.channel)), alert
    except Exception as exc:  # one poisoned message must not stop the others
        bad_input = _input_error(exc)
        log.error("delivery %s of alert %s: %s raised %s: %s", d.id, d.alert_id, stage,
                  type(exc).__name__, exc, exc_info=not bad_input,
                  extra={"alert_id": d.alert_id, "delivery_id": d.id, "channel": d.channel})
        what = "cannot be built" if stage == "building its message" or bad_input else \
            "failed unexpectedly"
        return DeliveryResult(False, retryable=not bad_input, detail=(
            f"the delivery {what} ({stage}): {type(exc).__name__}: {exc}")), alert


def deliver_outbox(ctx: WatchContext, now: datetime, notifier: Notifier | None = None
                   ) -> DeliveryReport:
    """Hand every due delivery to the notifier of its channel once.

    Delivery is at least once: a process killed after the channel accepted a message but
    before ``mark_delivery_sent`` committed sends it again on restart (a lost alert is
    worse than a duplicate). The copy is the same message (for e-mail the same
    ``Message-ID``, from the alert id and the recipient; for a webhook the same delivery
    id, from the alert id and the webhook's name), so receivers can drop it
    (``tests/test_restart.py``, ``tests/test_webhook.py``). Two passes at once (the
    daemon's own schedule and the pass after a poll, or another process) never send the
    same delivery together: each claims a delivery before sending it.

    Args:
        ctx: The context (its ``notifiers``; none: :func:`~monitor.service.context.
            build_notifiers`; the backoff: ``settings.outbox``).
        now: The time, timezone-aware UTC.
        notifier: Replaces the context's notifier of its own channel (tests).
    """
    if now.tzinfo is None:
        raise InputError(f"now={now!r} is naive; pass a timezone-aware UTC datetime")
    store = ctx.store
    channels: Mapping[str, Notifier] = dict(ctx.notifiers) or build_notifiers(ctx.settings)
    if notifier is not None:
        channels = {**channels, notifier.channel: notifier}
    policy = ctx.settings.outbox
    backoff = Backoff(base_s=policy.first_backoff_s, max_s=policy.max_backoff_s)
    sent = failed = given_up = operator = 0
    seen = set(channels)
    for d in store.pending_deliveries(now):
        seen.add(d.channel)
        if not store.claim_delivery(d.id, now, ctx.settings.outbox.claim_lease_s):
            log.debug("delivery %s is being sent by another pass", d.id)
            continue
        result, alert = _attempt(ctx, channels, d)
        fields = {"target": alert.target_id if alert else None,
                  "epoch": alert.epoch if alert else None, "alert_id": d.alert_id,
                  "delivery_id": d.id, "channel": d.channel}
        if result.delivered:
            store.mark_delivery_sent(d.id, now)
            log.info("delivery %s of alert %s to %s by %s sent", d.id, d.alert_id,
                     d.recipient, d.channel, extra=fields)
            sent += 1
            if ctx.metrics is not None:
                ctx.metrics.delivery(sent=True, channel=d.channel)
            continue
        permanent = not result.retryable
        row = store.mark_delivery_failed(d.id, result.detail, now, backoff,
                                         permanent=permanent)
        failed += 1
        given_up += permanent
        waiting = _age(now, d.created_at)
        if permanent:
            log.error("delivery %s of alert %s to %s by %s failed permanently after %d "
                      "attempt(s): %s. It is kept as failed; once the cause is fixed, send "
                      "it again with `insar-monitor outbox retry --delivery %s --config "
                      "FILE`", d.id, d.alert_id, d.recipient, d.channel, row.attempts,
                      result.detail, d.id, extra=fields)
        elif result.needs_operator:
            operator += 1
            log.error("delivery %s of alert %s to %s by %s cannot go out until the set-up "
                      "is fixed (attempt %d, waiting for %s; retried at %s): %s", d.id,
                      d.alert_id, d.recipient, d.channel, row.attempts, waiting,
                      _iso(row.next_attempt_at), result.detail, extra=fields)
        else:
            log.warning("delivery %s of alert %s to %s by %s failed (attempt %d, waiting "
                        "for %s; retried at %s): %s", d.id, d.alert_id, d.recipient,
                        d.channel, row.attempts, waiting, _iso(row.next_attempt_at),
                        result.detail, extra=fields)
        if ctx.metrics is not None:
            ctx.metrics.delivery(sent=False, channel=d.channel, given_up=permanent)
    depth = store.outbox_depth()
    if ctx.metrics is not None:
        export_outbox(ctx.metrics, store, now, seen)
    return DeliveryReport(sent, failed, given_up, depth, operator, store.failed_count())


def _age(now: datetime, since: datetime) -> str:
    seconds = max(0, int((now - _utc(since)).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60} s"


def _iso(moment: datetime | None) -> str:
    return "never" if moment is None else _utc(moment).isoformat(timespec="seconds")
