"""Publish the feeds: a CAP 1.2 document per alert, the Atom feed of them and the GeoJSON
map of every target (``[feeds]``; builders in :mod:`monitor.feeds`).

Where each target stands comes from :func:`~monitor.service.target_status.watch_status`
(the level by the poll's own policy, the newest score, each frame's lag, the alerts), so
the feeds never disagree with the alerts the poll raised or the status page. Files are
written atomically under ``out_dir``::

    cap/<identifier>.xml    one per alert of a configured target (validated first)
    atom.xml                the Atom feed of them, newest first
    alerts.geojson          one Feature per configured target
    quicklooks/<name>.png   the alerts' quicklooks, copied so that the folder stands alone

Every CAP document is validated against the OASIS CAP 1.2 schema before anything is
written (one whose file already holds the same bytes was validated when it was written);
an invalid one stops the publication with a :class:`~monitor.errors.FeedError`
naming the alert (the previous files stay). Documents carry the alerts' own times, never
the clock: the same store gives byte-identical files, and a file whose bytes did not change
is not rewritten. Alerts of targets no longer in the configuration are not published.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from monitor.config import Settings
from monitor.domain import AlertLevel
from monitor.errors import InputError
from monitor.feeds import cap
from monitor.feeds.atom import ATOM_FILE, atom_feed
from monitor.feeds.geojson import GEOJSON_FILE, geojson_bytes
from monitor.feeds.records import Disc, FrameLag, Notice, NoticeRef, TargetState
from monitor.io.atomic import atomic_write
from monitor.ports import Store
from monitor.service.alert_maps import quicklook_path
from monitor.service.target_status import ScoreView, TargetStatus, watch_status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedReport:
    """What one publication wrote.

    Attributes:
        out_dir: The feeds' folder.
        cap_files: Every CAP document (written or already identical), by alert order.
        atom: The Atom feed.
        geojson: The GeoJSON map.
        quicklooks: The quicklooks copied beside them.
        written: Files whose bytes changed (written this time).
        unchanged: Files already holding the same bytes (left alone).
        validated: CAP documents validated against the schema this time (the new or
            changed ones).
        published_at: The time of the publication (not written into any document).
    """

    out_dir: Path
    cap_files: tuple[Path, ...]
    atom: Path
    geojson: Path
    quicklooks: tuple[Path, ...]
    written: int
    unchanged: int
    validated: int
    published_at: datetime


def _disc(status: TargetStatus) -> Disc:
    t = status.target
    return Disc(t.id, t.name, t.lon, t.lat, t.radius_km)


def _notices(store: Store, settings: Settings, status: TargetStatus
             ) -> tuple[list[Notice], dict[Path, Path]]:
    """The notices of one target's alerts, oldest first, and the quicklooks they name
    (``{source: name inside the feeds' folder}``)."""
    feeds = settings.feeds
    target = status.target
    views: dict[date, ScoreView] = {v.epoch: v for v in status.history}
    cum_max = {e.epoch: e.cum_max_m for e in store.list_epochs(target.id)}
    notices: list[Notice] = []
    quicklooks: dict[Path, Path] = {}
    episode: list[NoticeRef] = []  # alerts since the last update kind (what it clears)
    for alert in status.alerts:
        ident = cap.identifier(feeds.sender, target.id, alert.id)
        view = views.get(alert.epoch)
        score = store.get_score(target.id, alert.epoch)
        png = quicklook_path(settings, target.id, alert.epoch)
        png_bytes = png.read_bytes() if png.is_file() else None
        if png_bytes is not None:
            quicklooks[png] = Path(cap.QUICKLOOK_FOLDER) / png.name
        update = alert.kind in cap.UPDATE_KINDS
        notices.append(Notice(
            identifier=ident, alert_id=alert.id, kind=alert.kind,
            level=AlertLevel(alert.level), created_at=alert.created_at, disc=_disc(status),
            epoch=alert.epoch, reason=alert.message,
            frame=view.frame if view else None,
            p_decision=view.p_decision if view else None,
            p_raw=view.p_raw if view else None,
            correction=view.correction if view else None,
            lstt_p=view.lstt_p_decision if view else None,
            displacement_m=view.bell_m if view else None,
            max_abs_displacement_m=cum_max.get(alert.epoch),
            detector_sha256=score.model_sha256 if score else None,
            quicklook_name=png.name if png_bytes is not None else None,
            quicklook_size=len(png_bytes) if png_bytes is not None else None,
            quicklook_sha1=hashlib.sha1(png_bytes).hexdigest() if png_bytes else None,
            references=tuple(episode) if update else ()))
        if update:
            episode = []
        else:
            episode.append(NoticeRef(ident, alert.created_at))
    return notices, quicklooks


def _state(status: TargetStatus, latest_notice: str | None) -> TargetState:
    latest = status.latest
    frames = tuple(FrameLag(f.frame, f.newest_epoch, f.ingested_at,
                            None if f.ingested_at is None or f.newest_epoch is None
                            else (f.lag_s(f.ingested_at) or 0.0) / 86400.0)
                   for f in status.frames)
    return TargetState(
        disc=_disc(status), level=status.level, level_since=status.level_since,
        epoch=latest.epoch if latest else None, frame=latest.frame if latest else None,
        p_decision=latest.p_decision if latest else None,
        p_raw=latest.p_raw if latest else None,
        lstt_p=latest.lstt_p_decision if latest else None,
        displacement_m=latest.bell_m if latest else None, frames=frames,
        unacknowledged=status.unacknowledged, alerts=len(status.alerts),
        latest_notice=latest_notice)


def feeds_dir(settings: Settings) -> Path:
    """``[feeds] dir``, or a ``feeds`` folder beside ``watch.quicklook_dir`` when empty."""
    if settings.feeds.dir:
        return Path(settings.feeds.dir)
    return Path(settings.watch.quicklook_dir).parent / "feeds"


def _holds(path: Path, data: bytes) -> bool:
    return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data


def _put(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless it already holds those bytes."""
    if _holds(path, data):
        return False
    with atomic_write(path) as f:
        f.write(data)
    return True


def publish_feeds(store: Store, settings: Settings, out_dir: str | Path | None,
                  now: datetime) -> FeedReport:
    """Write the CAP documents, the Atom feed and the GeoJSON map of ``store``.

    Args:
        store: The watch's store (read only).
        settings: The configuration (targets, policy, ``[feeds]``, quicklook folder).
        out_dir: The feeds' folder (None: :func:`feeds_dir`).
        now: The time, timezone-aware UTC (reported, never written into a document).

    Raises:
        FeedError: A CAP document is not valid CAP 1.2 (names the alert); nothing written.
        InputError: ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError(f"now={now!r} is naive; pass a timezone-aware UTC datetime")
    out = Path(out_dir) if out_dir is not None else feeds_dir(settings)
    statuses = watch_status(store, settings)
    notices: list[Notice] = []
    quicklooks: dict[Path, Path] = {}
    states: list[TargetState] = []
    for status in statuses:
        mine, pngs = _notices(store, settings, status)
        notices += mine
        quicklooks.update(pngs)
        states.append(_state(status, mine[-1].identifier if mine else None))
    documents: dict[Path, bytes] = {}
    validated = 0
    for n in notices:
        path = out / cap.cap_file_name(n.identifier)
        doc = cap.cap_document(n, settings.feeds)
        if not _holds(path, doc):  # a file already holding these bytes was validated
            cap.validate(doc, f"alert {n.alert_id} ({n.kind}, {n.epoch}) of target "
                              f"{n.disc.target_id}")
            validated += 1
        documents[path] = doc
    documents[out / ATOM_FILE] = atom_feed(notices, settings.feeds)
    documents[out / GEOJSON_FILE] = geojson_bytes(states)
    for src, name in quicklooks.items():
        documents[out / name] = src.read_bytes()
    written = sum(_put(path, data) for path, data in documents.items())
    report = FeedReport(
        out_dir=out, cap_files=tuple(out / cap.cap_file_name(n.identifier) for n in notices),
        atom=out / ATOM_FILE, geojson=out / GEOJSON_FILE,
        quicklooks=tuple(out / name for name in quicklooks.values()), written=written,
        unchanged=len(documents) - written, validated=validated, published_at=now)
    log.info("feeds published to %s: %d CAP document(s), %d file(s) written, %d unchanged",
             out, len(notices), written, report.unchanged)
    return report
