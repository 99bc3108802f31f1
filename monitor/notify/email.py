"""Composing the alert e-mail an observatory receives: text, HTML and the quicklook PNG.

The message is built from :class:`AlertMessage`, a small record independent of the
database, so the store maps its rows to it and this module never imports SQLAlchemy. The
quicklook is embedded in the HTML (``cid:``) and also attached as a file, because many
mail clients hide inline images.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from monitor.errors import InputError

QUICKLOOK_FILENAME = "quicklook.png"


@dataclass(frozen=True)
class AlertMessage:
    """What an alert e-mail says.

    Attributes:
        target_id: Target id (for example the Smithsonian GVP volcano number).
        target_name: Human name of the target.
        lon: Target centre longitude, degrees east.
        lat: Target centre latitude, degrees north.
        epoch: Acquisition date of the scored cumulative epoch.
        level: Alert level name (``watch``, ``warning``).
        p_fused: Fused CNN probability over the target (mean over gains, seed 003 eq. 1).
        p_by_gain: ``(gain, probability)`` pairs, one per wrap gain.
        lstt_p: Smallest LSTT p-value over the reference regions, None when not scored.
        cumulative_max_m: Largest absolute cumulative LOS displacement in the target, metres.
        peak_lon: Longitude of the probability peak, degrees east (None if unknown).
        peak_lat: Latitude of the probability peak, degrees north (None if unknown).
        model_sha256: SHA-256 of the detector weights that scored the epoch (provenance).
        link_text: Free text added at the end, e.g. a dashboard URL or how to acknowledge.
        correction: The atmospheric correction the scores above come from (``gacos``,
            ``icams``, ``empirical``), None when they are the raw scores.
        p_fused_raw: The raw fused probability when ``p_fused`` is a corrected one.
        decision: One sentence on which scores the policy decided on, and why (for
            example that no correction could be made).
    """

    target_id: str
    target_name: str
    lon: float
    lat: float
    epoch: date
    level: str
    p_fused: float
    p_by_gain: tuple[tuple[float, float], ...]
    lstt_p: float | None
    cumulative_max_m: float
    peak_lon: float | None
    peak_lat: float | None
    model_sha256: str
    link_text: str = ""
    correction: str | None = None
    p_fused_raw: float | None = None
    decision: str = ""

    def __post_init__(self) -> None:
        if not 0.0 <= self.p_fused <= 1.0:
            raise InputError(f"AlertMessage: p_fused must be in [0, 1], got {self.p_fused!r}")
        if self.lstt_p is not None and not 0.0 <= self.lstt_p <= 1.0:
            raise InputError(f"AlertMessage: lstt_p must be in [0, 1] or None, "
                             f"got {self.lstt_p!r}")
        if not self.level:
            raise InputError("AlertMessage: level must name the alert level, got ''")

    @property
    def subject(self) -> str:
        return (f"[insar-monitor] {self.level.upper()} {self.target_name} ({self.target_id}) "
                f"epoch {self.epoch:%Y-%m-%d}")


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
        ("Fused CNN probability", f"{alert.p_fused:.3f}" + (
            f" (after atmospheric correction: {alert.correction})" if alert.correction
            else "")),
        *([("Raw fused probability (before correction)", f"{alert.p_fused_raw:.3f}")]
          if alert.correction and alert.p_fused_raw is not None else []),
        ("Probability per gain", gains),
        ("LSTT p-value (min over references)", _fmt(alert.lstt_p, ".3g")),
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
