"""The e-mail delivery channel: the alert e-mail an observatory receives (text, HTML and
the quicklook PNG), handed to an SMTP server or a dry-run folder.

The message is built from :class:`~monitor.domain.AlertMessage`, a small record independent
of the database, so the outbox maps rows to it and this module never imports SQLAlchemy.
The quicklook is embedded in the HTML (``cid:``) and also attached as a file, because many
mail clients hide inline images. :class:`EmailNotifier` is the
:class:`~monitor.ports.Notifier` the outbox talks to; another channel (a CAP feed, a
webhook) is another Notifier beside it.
"""

from __future__ import annotations

import hashlib
import html
import math
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from monitor.domain import AlertDelivery, AlertMessage, DeliveryResult
from monitor.errors import DeliveryError, InputError, MonitorError
from monitor.notify.smtp import Sender

QUICKLOOK_FILENAME = "quicklook.png"


def _fmt(value: float | None, spec: str, none: str = "n/a") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return format(value, spec)


def displacement_text(alert: AlertMessage) -> str:
    """The signed displacement over the target in words: ``"2.1 cm towards the satellite
    (uplift or motion towards the sensor)"``, ``"n/a"`` when not measured."""
    d = alert.displacement_m
    if d is None or (isinstance(d, float) and math.isnan(d)):
        return "n/a"
    size = f"{abs(d) * 100:.1f} cm"
    if alert.direction == "towards":
        return f"{size} towards the satellite (uplift or motion towards the sensor)"
    if alert.direction == "away":
        return f"{size} away from the satellite (subsidence or motion away from the sensor)"
    return f"{size} (no motion along the line of sight)"


def lstt_text(alert: AlertMessage) -> str:
    """The LSTT p-value with the floor of its permutation null: ``"p = 0.048 (the smallest
    p the test can give with 20 permutations is 0.048)"``."""
    if alert.lstt_p is None or math.isnan(alert.lstt_p):
        return "n/a"
    text = f"p = {alert.lstt_p:.3g}"
    if alert.lstt_permutations is not None and alert.lstt_floor is not None:
        text += (f" (the smallest p the test can give with {alert.lstt_permutations} "
                 f"permutations is {alert.lstt_floor:.2g})")
    return text


def _facts(alert: AlertMessage) -> list[tuple[str, str]]:
    gains = ", ".join(f"gain {g:g}: {p:.2f}" for g, p in alert.p_by_gain) or "n/a"
    peak = (f"{alert.peak_lat:.4f} N, {alert.peak_lon:.4f} E"
            if alert.peak_lat is not None and alert.peak_lon is not None else "n/a")
    level = alert.level.upper()
    if alert.cleared:
        level = (f"{level} ({alert.cleared_level.upper()} cleared)" if alert.cleared_level
                 else f"{level} (cleared)")
    return [
        ("Target", f"{alert.target_name} ({alert.target_id})"),
        ("Location", f"{alert.lat:.4f} N, {alert.lon:.4f} E"),
        ("Frame", alert.frame or "n/a"),
        ("Epoch", f"{alert.epoch:%Y-%m-%d}"),
        ("Alert level", level),
        *([("Why", alert.reason)] if alert.reason else []),
        ("Displacement over the target (line of sight)", displacement_text(alert)),
        ("Detector probability", f"{alert.p_fused:.3f}" + (
            f" (after atmospheric correction: {alert.correction})" if alert.correction
            else "") + (
            f" (0.5 at this series' own threshold, from {alert.series_arrivals} earlier "
            "acquisitions)" if alert.series_arrivals else "")),
        *([("Raw fused probability (before correction)", f"{alert.p_fused_raw:.3f}")]
          if alert.correction and alert.p_fused_raw is not None else []),
        ("GLS Mogi filter (the series' own noise), which confirms the detector",
         "not judged (fewer than 20 earlier increments)" if alert.gls_p is None
         else f"P {alert.gls_p:.3f}"),
        ("Probability per gain", gains),
        ("LSTT p-value (references pooled, empirical null from the same map)",
         lstt_text(alert)),
        *([("Decision", alert.decision)] if alert.decision else []),
        ("Max |cumulative LOS displacement|", f"{alert.cumulative_max_m * 100:.1f} cm"),
        ("Probability peak", peak),
        ("Detector model sha256", alert.model_sha256),
    ]


def _headline(alert: AlertMessage) -> str:
    if alert.cleared:
        was = f"the {alert.cleared_level.upper()} level" if alert.cleared_level else "a level"
        return f"insar-monitor cleared {was} of {alert.target_name}."
    return f"insar-monitor raised a {alert.level.upper()} alert for {alert.target_name}."


def _closing(alert: AlertMessage) -> list[str]:
    lines = [f"Acknowledge with: {alert.ack_command}"] if alert.ack_command else []
    return lines + ([alert.link_text] if alert.link_text else [])


def alert_text(alert: AlertMessage, has_quicklook: bool = True) -> str:
    """The plain-text body (the quicklook paragraph only when a picture goes with it)."""
    lines = [_headline(alert), ""]
    lines += [f"{k}: {v}" for k, v in _facts(alert)]
    if has_quicklook:
        lines += ["", "The quicklook (quicklook.png) shows the wrapped cumulative displacement "
                  "(one colour cycle = 2.8 cm LOS) with the P > 0.5 (dark green) and P > 0.8 "
                  "(bright green) contours, and the probability and LSTT history of the "
                  "target."]
    closing = _closing(alert)
    if closing:
        lines += ["", *closing]
    return "\n".join(lines) + "\n"


def alert_html(alert: AlertMessage, image_cid: str | None) -> str:
    """The HTML body; ``image_cid`` (without angle brackets) embeds the quicklook."""
    rows = "\n".join(f"<tr><th align='left'>{html.escape(k)}</th>"
                     f"<td>{html.escape(v)}</td></tr>" for k, v in _facts(alert))
    img = (f"<p><img src=\"cid:{html.escape(image_cid)}\" alt=\"quicklook\" "
           "style=\"max-width:100%\"></p>\n"
           "<p>Wrapped cumulative displacement, one colour cycle = 2.8 cm LOS; dark and "
           "bright green contours: P &gt; 0.5 and P &gt; 0.8.</p>\n" if image_cid else "")
    closing = "".join(f"<p>{html.escape(line)}</p>" for line in _closing(alert))
    if alert.cleared:
        was = alert.cleared_level.upper() if alert.cleared_level else "level"
        title = f"CLEARED: {was} at {alert.target_name}"
    else:
        title = f"{alert.level.upper()}: deformation at {alert.target_name}"
    return (f"<html><body><h2>{html.escape(title)}</h2>\n<table>\n{rows}\n</table>\n{img}"
            f"{closing}</body></html>\n")


def compose_alert_email(alert: AlertMessage, *, sender: str, recipients: list[str],
                        created_at: datetime, quicklook_png: bytes | None = None,
                        message_id: str | None = None) -> EmailMessage:
    """Build the alert message: text, HTML alternative, quicklook inline and attached.

    Args:
        alert: What to say.
        sender: ``From`` address.
        recipients: ``To`` addresses (one per delivery keeps retries per recipient).
        created_at: ``Date`` header, timezone-aware (the alert's time, not "now", so a
            rebuilt message is identical).
        quicklook_png: PNG bytes from :func:`monitor.figures.alert.alert_quicklook_png`.
        message_id: ``Message-ID`` with angle brackets; a deterministic one (from the alert
            and recipient) lets receivers and the dry-run folder drop duplicates.
    """
    if not recipients:
        raise InputError("compose_alert_email: recipients must list at least one address")
    if created_at.tzinfo is None:
        raise InputError(f"compose_alert_email: created_at must be timezone-aware, "
                         f"got {created_at!r}")
    if quicklook_png is not None and not quicklook_png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise InputError("compose_alert_email: quicklook_png is not PNG data")
    domain = sender.rsplit("@", 1)[-1]
    msg = EmailMessage()
    msg["Subject"] = alert.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(created_at)
    msg["Message-ID"] = message_id or make_msgid("insar-monitor", domain=domain)
    msg["X-Insar-Monitor-Target"] = alert.target_id
    msg["X-Insar-Monitor-Level"] = alert.level
    msg["X-Insar-Monitor-Kind"] = alert.kind
    msg.set_content(alert_text(alert, has_quicklook=quicklook_png is not None))
    cid = make_msgid("quicklook", domain=domain) if quicklook_png is not None else None
    msg.add_alternative(alert_html(alert, cid[1:-1] if cid else None), subtype="html")
    if quicklook_png is not None and cid is not None:
        html_part = msg.get_body(preferencelist=("html",))
        if html_part is None:  # pragma: no cover - added just above
            raise InputError("compose_alert_email: the HTML alternative is missing")
        html_part.add_related(quicklook_png, maintype="image", subtype="png", cid=cid,
                              filename=QUICKLOOK_FILENAME, disposition="inline")
        msg.add_attachment(quicklook_png, maintype="image", subtype="png",
                           filename=f"{alert.target_id}_{alert.epoch:%Y%m%d}_"
                                    f"{QUICKLOOK_FILENAME}")
    return msg


def message_id(alert_id: int, recipient: str, sender: str) -> str:
    """Deterministic ``Message-ID`` of one delivery (alert id and recipient)."""
    digest = hashlib.sha256(recipient.lower().encode()).hexdigest()[:12]
    return f"<alert-{alert_id}-{digest}@{sender.rsplit('@', 1)[-1]}>"


class EmailNotifier:
    """Delivers alerts as e-mail, one message per recipient (a :class:`~monitor.ports.Notifier`).

    Args:
        sender: ``From`` address (its domain ends the ``Message-ID``).
        transport: What hands the composed message over: :class:`~monitor.notify.smtp.
            SmtpSender` or :class:`~monitor.notify.smtp.DryRunSender`.
    """

    channel = "email"

    def __init__(self, sender: str, transport: Sender) -> None:
        self.sender = sender
        self.transport = transport

    def deliver(self, delivery: AlertDelivery) -> DeliveryResult:
        """Compose the alert e-mail and send it; a transport failure is a result, not an
        exception (retryable as the SMTP reply says, see :mod:`monitor.notify.smtp`); a
        message that cannot be built (a header with a line break, a bad address) is a
        permanent failure."""
        mid = message_id(delivery.alert_id, delivery.recipient, self.sender)
        try:
            email = compose_alert_email(
                delivery.message, sender=self.sender, recipients=[delivery.recipient],
                created_at=delivery.created_at, quicklook_png=delivery.quicklook_png,
                message_id=mid)
        except (MonitorError, ValueError, TypeError) as exc:  # the message's own fault
            return DeliveryResult(False, retryable=False, detail=(
                f"the e-mail of alert {delivery.alert_id} to {delivery.recipient} cannot be "
                f"built: {exc}"))
        try:
            self.transport.send(email)
        except DeliveryError as exc:
            return DeliveryResult(False, retryable=exc.retryable, detail=str(exc),
                                  needs_operator=exc.needs_operator)
        except MonitorError as exc:  # a transport's set-up (credentials, a folder)
            return DeliveryResult(False, retryable=True, detail=str(exc),
                                  needs_operator=True)
        return DeliveryResult(True, detail=f"sent as {mid}")
