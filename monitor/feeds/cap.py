"""OASIS Common Alerting Protocol 1.2 documents, one per alert, and their validation
against the OASIS schema (``monitor/data/schemas/CAP-v1.2.xsd``).

A document says: who sent it (``sender`` from ``[feeds]``), when (the alert's own
``created_at``, so the same alert always gives the same bytes), that it is an automated
ground-deformation notice (category ``Geo``, event :data:`~monitor.feeds.wording.EVENT`,
urgency, severity and certainty from :data:`~monitor.feeds.wording.CAP_GRADES`), the
scores as ``parameter`` pairs, the quicklook (``web`` and ``resource``) and the target disc
as a ``polygon`` (:data:`POLYGON_VERTICES` points on the circle, closed) and a ``circle``.
An alert of an update kind (:data:`UPDATE_KINDS`: ``cleared``) is an ``Update`` that
``references`` the alerts it closes; any other kind is an ``Alert``.

Times follow CAP 1.2 section 3.3.2: ``YYYY-MM-DDThh:mm:ss`` with a numeric zone, UTC
written ``-00:00`` (never ``Z``). Text is escaped by lxml; characters XML 1.0 cannot carry
(control characters in a free-text name) are dropped.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from lxml import etree

from monitor.config import FeedSettings
from monitor.domain import AlertLevel
from monitor.errors import FeedError
from monitor.feeds import wording
from monitor.feeds.records import Disc, Notice

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
#: MIME type of a CAP document (IANA registration ``application/cap+xml``).
CAP_MIME = "application/cap+xml"
#: Alert kinds that update earlier alerts (``msgType`` Update with ``references``).
UPDATE_KINDS = frozenset({"cleared"})
#: Vertices of the polygon approximating the target disc (the ring has one more: closed).
POLYGON_VERTICES = 32
#: Mean Earth radius, km (IUGG), for the disc's polygon.
EARTH_RADIUS_KM = 6371.0088
#: CAP 1.2, 3.3.2: "The timezone for UTC MUST be represented as -00:00".
UTC_SUFFIX = "-00:00"
#: Folder (under the feeds' folder and ``base_url``) of the CAP files and the quicklooks.
CAP_FOLDER = "cap"
QUICKLOOK_FOLDER = "quicklooks"

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold (lxml escapes the rest)."""
    return _NOT_XML.sub("", text)


def identifier(sender: str, target_id: str, alert_id: int) -> str:
    """CAP identifier of an alert: ``insar-monitor.<sender domain>.<target id>.<alert id>``
    (unique per sender, stable, without spaces, commas, ``<`` or ``&``)."""
    domain = sender.rsplit("@", 1)[-1]
    return f"insar-monitor.{domain}.{target_id}.{alert_id}"


def cap_time(moment: datetime) -> str:
    """A CAP date-time: UTC to the second, written ``2024-03-01T12:00:00-00:00``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise FeedError(f"CAP time {moment!r} is naive; the store keeps timezone-aware UTC")
    utc = moment.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    return utc.isoformat(timespec="seconds") + UTC_SUFFIX


def cap_file_name(notice_identifier: str) -> str:
    """File name of a CAP document, relative to the feeds' folder."""
    return f"{CAP_FOLDER}/{notice_identifier}.xml"


def disc_ring(lon: float, lat: float, radius_km: float,
              n: int = POLYGON_VERTICES) -> list[tuple[float, float]]:
    """``n`` points on the circle of ``radius_km`` around (``lon``, ``lat``), clockwise
    from north, plus the first again: a closed ring of ``(lat, lon)`` degrees on the sphere
    (destination-point formula; longitudes wrapped to [-180, 180))."""
    if n < 3:
        raise FeedError(f"a polygon needs at least 3 vertices, got {n}")
    d = radius_km / EARTH_RADIUS_KM
    phi, lam = math.radians(lat), math.radians(lon)
    ring = []
    for k in range(n):
        theta = 2 * math.pi * k / n
        phi2 = math.asin(math.sin(phi) * math.cos(d)
                         + math.cos(phi) * math.sin(d) * math.cos(theta))
        lam2 = lam + math.atan2(math.sin(theta) * math.sin(d) * math.cos(phi),
                                math.cos(d) - math.sin(phi) * math.sin(phi2))
        lon2 = (math.degrees(lam2) + 180.0) % 360.0 - 180.0
        ring.append((math.degrees(phi2), lon2))
    return [*ring, ring[0]]


def polygon(disc: Disc, n: int = POLYGON_VERTICES) -> str:
    """CAP ``polygon``: space-separated ``lat,lon`` pairs (WGS 84), first = last."""
    pairs = [f"{la:.5f},{lo:.5f}" for la, lo in disc_ring(disc.lon, disc.lat,
                                                          disc.radius_km, n)]
    return " ".join(pairs)


def circle(disc: Disc) -> str:
    """CAP ``circle``: ``lat,lon radius_km``."""
    return f"{disc.lat:.5f},{disc.lon:.5f} {disc.radius_km:g}"


def msg_type(kind: str) -> str:
    """``Update`` for the update kinds (:data:`UPDATE_KINDS`), ``Alert`` otherwise."""
    return "Update" if kind in UPDATE_KINDS else "Alert"


def feed_url(settings: FeedSettings, path: str) -> str | None:
    """``base_url`` + ``path``; None when no base URL is set."""
    return settings.base_url + path if settings.base_url else None


def _num(x: float | None, spec: str) -> str | None:
    return None if x is None or not math.isfinite(x) else format(x, spec)


def parameters(n: Notice) -> list[tuple[str, str]]:
    """The ``parameter`` pairs of a notice (missing values are left out)."""
    way = wording.direction(n.displacement_m)
    pairs: list[tuple[str, str | None]] = [
        ("deformation_level", wording.level_name(n.level)),
        ("deformation_level_number", str(int(n.level))),
        ("official_volcano_alert_level", "not issued by this system"),
        ("alert_kind", n.kind),
        ("target_id", n.disc.target_id),
        ("epoch", f"{n.epoch:%Y-%m-%d}"),
        ("frame", n.frame),
        ("p_decision", _num(n.p_decision, ".4f")),
        ("p_raw", _num(n.p_raw, ".4f")),
        ("atmospheric_correction", n.correction or "none"),
        ("lstt_p", _num(n.lstt_p, ".4g")),
        ("los_displacement_m", _num(n.displacement_m, "+.4f")),
        ("los_direction", way),
        ("max_abs_cumulative_los_m", _num(n.max_abs_displacement_m, ".4f")),
        ("detector_sha256", n.detector_sha256),
    ]
    return [(k, v) for k, v in pairs if v is not None]


def description(n: Notice) -> str:
    """CAP ``description``: what was seen, the numbers, why, and that it is not an
    official volcano alert level."""
    place = f"{n.disc.lat:.4f} N, {n.disc.lon:.4f} E"
    frame = f" (Sentinel-1 frame {n.frame})" if n.frame else ""
    if n.kind in UPDATE_KINDS:
        seen = (f"insar-monitor, an automated system that scores satellite radar (InSAR) "
                f"interferograms, no longer detects ground deformation at {n.disc.name} "
                f"(the {n.disc.radius_km:g} km disc around {place}) as of the acquisition "
                f"of {n.epoch:%Y-%m-%d}{frame}: its earlier notices are cleared.")
    else:
        seen = (f"insar-monitor, an automated system that scores satellite radar (InSAR) "
                f"interferograms, detected ground deformation at {n.disc.name} (the "
                f"{n.disc.radius_km:g} km disc around {place}) in the acquisition of "
                f"{n.epoch:%Y-%m-%d}{frame}: {wording.level_phrase(n.level)}.")
    corr = f", after atmospheric correction ({n.correction})" if n.correction else ""
    numbers = (f"Detector probability {wording.fmt_p(n.p_decision)}{corr} (raw "
               f"{wording.fmt_p(n.p_raw)}); LSTT p-value {wording.fmt_lstt(n.lstt_p)}; "
               f"line-of-sight displacement of the target "
               f"{wording.displacement_phrase(n.displacement_m)}.")
    why = f"Why: {n.reason.rstrip('.')}." if n.reason else ""
    return " ".join(part for part in (wording.NOT_OFFICIAL, seen, numbers, why) if part)


def _sub(parent: Any, tag: str, text: str | None = None) -> Any:
    el = etree.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = xml_text(text)
    return el


def _pairs(parent: Any, tag: str, pairs: Iterable[tuple[str, str]]) -> None:
    for name, value in pairs:
        p = _sub(parent, tag)
        _sub(p, "valueName", name)
        _sub(p, "value", value)


def cap_document(n: Notice, settings: FeedSettings) -> bytes:
    """The CAP 1.2 document of one alert, UTF-8 bytes with an XML declaration.

    The same notice and settings give the same bytes (no clock is read). The document
    is not validated here: :func:`validate` is what stands between it and publication.
    """
    root = etree.Element(f"{{{CAP_NS}}}alert", nsmap={None: CAP_NS})
    _sub(root, "identifier", n.identifier)
    _sub(root, "sender", settings.sender)
    _sub(root, "sent", cap_time(n.created_at))
    _sub(root, "status", settings.status)
    _sub(root, "msgType", msg_type(n.kind))
    _sub(root, "source", "insar-monitor automated InSAR deformation detection")
    _sub(root, "scope", "Public")
    _sub(root, "note", wording.NOT_OFFICIAL)
    if n.kind in UPDATE_KINDS and n.references:
        _sub(root, "references", " ".join(f"{settings.sender},{r.identifier},"
                                          f"{cap_time(r.sent)}" for r in n.references))
    info = _sub(root, "info")
    _sub(info, "language", settings.language)
    _sub(info, "category", "Geo")
    _sub(info, "event", wording.EVENT)
    grades = wording.CAP_GRADES[AlertLevel(n.level)]
    _sub(info, "responseType", grades.response)
    _sub(info, "urgency", grades.urgency)
    _sub(info, "severity", grades.severity)
    _sub(info, "certainty", grades.certainty)
    _sub(info, "audience", "Volcano observatories and civil protection")
    _pairs(info, "eventCode", [("insar-monitor:deformation_level",
                                wording.level_name(n.level))])
    _sub(info, "senderName", wording.SENDER_NAME)
    _sub(info, "headline", wording.headline(n.disc.name, n.level, n.epoch,
                                            n.kind in UPDATE_KINDS))
    _sub(info, "description", description(n))
    _sub(info, "instruction", wording.INSTRUCTION)
    quicklook = (feed_url(settings, f"{QUICKLOOK_FOLDER}/{n.quicklook_name}")
                 if n.quicklook_name else None)
    if quicklook:
        _sub(info, "web", quicklook)
    _pairs(info, "parameter", parameters(n))
    if n.quicklook_name:
        res = _sub(info, "resource")
        _sub(res, "resourceDesc", "quicklook: wrapped cumulative displacement with the "
                                  "detector's probability contours, and the score history")
        _sub(res, "mimeType", "image/png")
        if n.quicklook_size is not None:
            _sub(res, "size", str(int(n.quicklook_size)))
        _sub(res, "uri", quicklook or f"../{QUICKLOOK_FOLDER}/{n.quicklook_name}")
        if n.quicklook_sha1:
            _sub(res, "digest", n.quicklook_sha1)
    area = _sub(info, "area")
    _sub(area, "areaDesc", f"{n.disc.name}: target disc of {n.disc.radius_km:g} km radius "
                           f"around {n.disc.lat:.4f} N, {n.disc.lon:.4f} E")
    _sub(area, "polygon", polygon(n.disc))
    _sub(area, "circle", circle(n.disc))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                pretty_print=True))


@functools.cache
def _schema() -> Any:
    import xmlschema

    source = resources.files("monitor") / "data" / "schemas" / "CAP-v1.2.xsd"
    with resources.as_file(source) as path:
        return xmlschema.XMLSchema(str(path))


def schema_errors(document: bytes) -> list[str]:
    """What the OASIS CAP 1.2 schema finds wrong with ``document`` (empty: valid)."""
    try:
        tree = etree.fromstring(document)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed XML: {exc}"]
    return [f"{e.path}: {e.reason}" if getattr(e, "path", None) else str(e.reason)
            for e in _schema().iter_errors(tree)]


def validate(document: bytes, what: str) -> None:
    """Refuse a document the CAP 1.2 schema rejects.

    Args:
        document: The CAP XML.
        what: Names it in the error (``alert 12 of target 221080``).

    Raises:
        FeedError: Naming ``what`` and the schema's first complaints.
    """
    errors = schema_errors(document)
    if errors:
        shown = "; ".join(errors[:3]) + (f" (and {len(errors) - 3} more)"
                                          if len(errors) > 3 else "")
        raise FeedError(f"the CAP document of {what} is not valid CAP 1.2 ({shown}); it was "
                        "not published")
