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


def _facts(alert: AlertMessage) -> list[tuple[str, str]]:
    gains = ", ".join(f"gain {g:g}: {p:.2f}" for g, p in alert.p_by_gain) or "n/a"
    peak = (f"{alert.peak_lat:.4f} N, {alert.peak_lon:.4f} E"
            if alert.peak_lat is not None and alert.peak_lon is not None else "n/a")
    return [
        ("Target", f"{alert.target_name} ({alert.target_id})"),
        ("Location", f"{alert.lat:.4f} N, {alert.lon:.4f} E"),
        ("Epoch", f"{alert.epoch:%Y-%m-%d}"),
        ("Alert level", alert.level.upper()),
        *([("Why", alert.reason)] if alert.reason else []),
        ("Fused CNN probability", f"{alert.p_fused:.3f}" + (
            f" (after atmospheric correction: {alert.correction})" if alert.correction
            else "")),
        *([("Raw fused probability (before correction)", f"{alert.p_fused_raw:.3f}")]
          if alert.correction and alert.p_fused_raw is not None else []),
        ("Probability per gain", gains),
        ("LSTT p-value (references pooled, empirical null from the same map)",
         _fmt(alert.lstt_p, ".3g")),
        *([("Decision", alert.decision)] if alert.decision else []),
        ("Max |cumulative LOS displacement|", f"{alert.cumulative_max_m * 100:.1f} cm"),
        ("Probability peak", peak),
        ("Detector model sha256", alert.model_sha256),
    ]


def alert_text(alert: AlertMessage) -> str:
    """The plain-text body."""
    lines = [f"insar-monitor raised a {alert.level.upper()} alert for {alert.target_name}.",
             ""]
    lines += [f"{k}: {v}" for k, v in _facts(alert)]
    lines += ["", "The quicklook (quicklook.png) shows the wrapped cumulative displacement "
              "(one colour cycle = 2.8 cm LOS) with the P > 0.5 (dark green) and P > 0.8 "
              "(bright green) contours, and the probability and LSTT history of the target."]
    if alert.link_text:
        lines += ["", alert.link_text]
    return "\n".join(lines) + "\n"


def alert_html(alert: AlertMessage, image_cid: str | None) -> str:
    """The HTML body; ``image_cid`` (without angle brackets) embeds the quicklook."""
    rows = "\n".join(f"<tr><th align='left'>{html.escape(k)}</th>"
                     f"<td>{html.escape(v)}</td></tr>" for k, v in _facts(alert))
    img = (f"<p><img src=\"cid:{html.escape(image_cid)}\" alt=\"quicklook\" "
           "style=\"max-width:100%\"></p>" if image_cid else "")
    link = f"<p>{html.escape(alert.link_text)}</p>" if alert.link_text else ""
    return (f"<html><body><h2>{html.escape(alert.level.upper())}: deformation at "
            f"{html.escape(alert.target_name)}</h2>\n<table>\n{rows}\n</table>\n{img}\n"
            "<p>Wrapped cumulative displacement, one colour cycle = 2.8 cm LOS; dark and "
            "bright green contours: P &gt; 0.5 and P &gt; 0.8.</p>\n"
            f"{link}</body></html>\n")


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
    msg.set_content(alert_text(alert))
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
        exception (retryable as the SMTP reply says); a message that cannot be built is a
        permanent failure."""
        mid = message_id(delivery.alert_id, delivery.recipient, self.sender)
        try:
            email = compose_alert_email(
                delivery.message, sender=self.sender, recipients=[delivery.recipient],
                created_at=delivery.created_at, quicklook_png=delivery.quicklook_png,
                message_id=mid)
            self.transport.send(email)
        except DeliveryError as exc:
            return DeliveryResult(False, retryable=exc.retryable, detail=str(exc))
        except MonitorError as exc:  # a message that cannot be built, no credentials
            return DeliveryResult(False, retryable=False, detail=str(exc))
        return DeliveryResult(True, detail=f"sent as {mid}")
