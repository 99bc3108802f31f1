"""The records the status page shows, and where it gets them.

The page reads everything through a :class:`StatusSource`: the service implements it over
its one reading of where each target stands (:mod:`monitor.service.target_status`), so the
page shows the level, scores and lags the poll decided on and never computes its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from monitor.domain import AlertLevel


@dataclass(frozen=True)
class FrameRow:
    """One frame of a target.

    Attributes:
        frame: LiCSAR frame id.
        newest_epoch: Newest ingested acquisition (None: nothing ingested yet).
        lag_days: Days from that acquisition (midnight UTC) to the page's time.
    """

    frame: str
    newest_epoch: date | None
    lag_days: float | None


@dataclass(frozen=True)
class AlertRow:
    """One alert of a target.

    Attributes:
        kind: What was detected (e.g. ``deformation``).
        level: The level it raised.
        epoch: The epoch it was raised at.
        message: Its text (as e-mailed).
        acknowledged_by: Who acknowledged it (None: nobody yet).
        acknowledged_at: When (UTC).
    """

    kind: str
    level: AlertLevel
    epoch: date
    message: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None


@dataclass(frozen=True)
class TargetRow:
    """One target as the watch list shows it.

    Attributes:
        id: Target id (configuration).
        name: Target name (configuration; shown escaped).
        level: Current level (the alert policy over every stored score).
        level_since: Epoch the current level (above NONE) was reached.
        latest_epoch: Newest scored epoch of any frame (None: nothing scored).
        latest_frame: Its frame.
        p_decision: The detector's P the policy decided on at that epoch.
        p_raw: The detector's P before any atmospheric correction.
        lstt_p_decision: LSTT p-value the policy decided on.
        lstt_p_raw: LSTT p-value before any correction.
        correction: The correction the deciding scores come from (None: raw).
        frames: One row per configured frame.
        unacknowledged: Alerts nobody acknowledged yet.
        quicklook: File name of the last alert's quicklook in the quicklook folder (None:
            no alert, or its image is not on disk).
        alerts: Every alert, oldest first.
        gls_p: P of the series' GLS filter at that epoch, which confirms the detector's P in
            the single-map rule (None: not judged).
    """

    id: str
    name: str
    level: AlertLevel
    level_since: date | None
    latest_epoch: date | None
    latest_frame: str | None
    p_decision: float | None
    p_raw: float | None
    lstt_p_decision: float | None
    lstt_p_raw: float | None
    correction: str | None
    frames: tuple[FrameRow, ...]
    unacknowledged: int
    quicklook: str | None
    alerts: tuple[AlertRow, ...]
    gls_p: float | None = None


class StatusSource(Protocol):
    """Where the page reads the watch from (implemented by the service).

    Every method may raise :class:`~monitor.errors.StoreError` when the database cannot be
    read; the page answers 503 then.
    """

    def now(self) -> datetime:
        """The time the page states (UTC)."""
        ...

    def targets(self) -> Sequence[TargetRow]:
        """Every configured target, in configuration order."""
        ...

    def target(self, target_id: str) -> TargetRow | None:
        """One target; None when no such target is configured."""
        ...

    def history_png(self, target_id: str) -> bytes | None:
        """The target's history figure as PNG bytes; None when no such target."""
        ...
