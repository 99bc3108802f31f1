"""What the feed builders read: one record per alert and one per target, independent of
the database (``monitor/service/feeds.py`` fills them from the store and the settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from monitor.domain import AlertLevel


@dataclass(frozen=True)
class Disc:
    """A target disc on the ground.

    Attributes:
        target_id: The target's id (``[A-Za-z0-9_.-]+``).
        name: Its human name (free text: escaped by the builders).
        lon: Centre longitude, degrees east (WGS 84).
        lat: Centre latitude, degrees north (WGS 84).
        radius_km: Radius, kilometres.
    """

    target_id: str
    name: str
    lon: float
    lat: float
    radius_km: float


@dataclass(frozen=True)
class NoticeRef:
    """An earlier notice that a notice updates (CAP ``references``).

    Attributes:
        identifier: Its CAP identifier.
        sent: Its CAP ``sent`` time (the alert's ``created_at``), timezone-aware.
    """

    identifier: str
    sent: datetime


@dataclass(frozen=True)
class Notice:
    """One alert as the CAP document and the Atom entry say it.

    Attributes:
        identifier: CAP identifier, stable per alert (:func:`monitor.feeds.cap.identifier`).
        alert_id: The alert row's id.
        kind: The alert's kind (``deformation``; ``cleared`` when a level clears).
        level: The level the alert records (NONE for a cleared one).
        created_at: When the alert was raised (timezone-aware UTC): CAP ``sent``, Atom
            ``updated`` and ``published``.
        disc: The target.
        epoch: Acquisition date of the cumulative epoch the alert is about.
        reason: The alert's message (why the policy raised it).
        frame: The LiCSAR frame of the epoch's score (None: unknown).
        p_decision: The detector's probability the policy decided on (None: not scored).
        p_raw: The detector's probability before any atmospheric correction.
        correction: ``gacos``, ``icams``, ``empirical`` when ``p_decision`` is corrected.
        lstt_p: LSTT p-value the policy decided on.
        displacement_m: Signed LOS displacement of the target (bell amplitude), metres,
            positive towards the satellite; None when not measured.
        max_abs_displacement_m: Largest |cumulative LOS displacement| in the target, metres.
        detector_sha256: SHA-256 of the detector weights that scored the epoch.
        quicklook_name: File name of the quicklook PNG (None: no quicklook).
        quicklook_size: Its size in bytes.
        quicklook_sha1: Its SHA-1 (hex; CAP 1.2 ``digest`` is SHA-1).
        references: The notices this one updates (a cleared level: the episode's alerts).
    """

    identifier: str
    alert_id: int
    kind: str
    level: AlertLevel
    created_at: datetime
    disc: Disc
    epoch: date
    reason: str
    frame: str | None = None
    p_decision: float | None = None
    p_raw: float | None = None
    correction: str | None = None
    lstt_p: float | None = None
    displacement_m: float | None = None
    max_abs_displacement_m: float | None = None
    detector_sha256: str | None = None
    quicklook_name: str | None = None
    quicklook_size: int | None = None
    quicklook_sha1: str | None = None
    references: tuple[NoticeRef, ...] = ()


@dataclass(frozen=True)
class FrameLag:
    """One frame of a target in the GeoJSON map.

    Attributes:
        frame: LiCSAR frame id.
        newest_epoch: Latest acquisition ingested (None: nothing yet).
        ingested_at: When it was ingested (UTC).
        lag_days: Days from that acquisition (midnight UTC) to its ingestion.
    """

    frame: str
    newest_epoch: date | None
    ingested_at: datetime | None
    lag_days: float | None


@dataclass(frozen=True)
class TargetState:
    """One target in the GeoJSON map: its level and latest scores.

    Attributes:
        disc: The target.
        level: Current deformation notice level (the policy over every stored score).
        level_since: Epoch that level (above NONE) was reached.
        epoch: Newest scored epoch (None: nothing scored).
        frame: Its frame.
        p_decision: Its deciding fused CNN probability.
        p_raw: Its raw fused CNN probability.
        lstt_p: Its deciding LSTT p-value.
        displacement_m: Its signed LOS displacement (bell amplitude), metres, positive
            towards the satellite.
        frames: One entry per configured frame.
        unacknowledged: Alerts nobody has acknowledged.
        alerts: Alerts in the store.
        latest_notice: CAP identifier of the newest alert (None: none).
    """

    disc: Disc
    level: AlertLevel
    level_since: date | None
    epoch: date | None
    frame: str | None
    p_decision: float | None
    p_raw: float | None
    lstt_p: float | None
    displacement_m: float | None
    frames: tuple[FrameLag, ...] = field(default_factory=tuple)
    unacknowledged: int = 0
    alerts: int = 0
    latest_notice: str | None = None
