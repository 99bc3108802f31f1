"""The status page's data, read through the one definition of where each target stands.

:class:`WatchStatusSource` implements the page's :class:`~monitor.web.page_data.
StatusSource` over :func:`~monitor.service.target_status.watch_status`: the level the poll's
own policy gives, each frame's newest ingested acquisition and its lag, the newest score
raw and deciding, the alerts, and the last alert's quicklook
(:func:`~monitor.service.alert_maps.quicklook_path`). Nothing here computes a level or a
score of its own. :func:`start_status_page` wires it to the web application and serves it.
"""

from __future__ import annotations

import threading
from datetime import datetime

from monitor.config import Settings
from monitor.domain import AlertLevel
from monitor.figures.history import target_history_figure
from monitor.figures.style import png_bytes
from monitor.ports import Clock, Store
from monitor.service.alert_maps import quicklook_path
from monitor.service.target_status import (
    TargetStatus,
    alert_settings_of,
    target_status,
    watch_status,
)
from monitor.web.page_data import AlertRow, FrameRow, TargetRow
from monitor.web.status_page import StatusPageApp, StatusPageServer, start_status_page_server

DAY_S = 86_400.0

#: What a cached history figure was drawn from: newest score epoch, number of scores, and
#: the alerts' epochs and levels (a new score or alert draws it again).
_PlotKey = tuple[object, ...]


class WatchStatusSource:
    """The page's view of the watch (see the module docstring).

    Args:
        settings: The configuration (targets, alert thresholds, quicklook folder).
        store: The watch's records (read only).
        clock: The time the page states and the lags are measured to.
    """

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._plots: dict[str, tuple[_PlotKey, bytes]] = {}
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self.clock.now()

    def targets(self) -> list[TargetRow]:
        now = self.now()
        return [self.row(s, now) for s in watch_status(self.store, self.settings)]

    def target(self, target_id: str) -> TargetRow | None:
        status = self._status(target_id)
        return None if status is None else self.row(status, self.now())

    def history_png(self, target_id: str) -> bytes | None:
        """The history figure, drawn again only when the target's newest score or its
        alerts changed (kept in memory, one per target)."""
        status = self._status(target_id)
        if status is None:
            return None
        key: _PlotKey = (status.latest.epoch if status.latest else None, len(status.history),
                         tuple((a.epoch, a.level) for a in status.alerts))
        with self._lock:  # one drawing at a time (matplotlib is not thread-safe)
            cached = self._plots.get(target_id)
            if cached is not None and cached[0] == key:
                return cached[1]
            png = self._draw(status)
            self._plots[target_id] = (key, png)
            return png

    def row(self, status: TargetStatus, now: datetime) -> TargetRow:
        """The watch-list row of one target's status at ``now``."""
        t, latest = status.target, status.latest
        frames = tuple(
            FrameRow(f.frame, f.newest_epoch,
                     None if (lag := f.lag_s(now)) is None else lag / DAY_S)
            for f in status.frames)
        alerts = tuple(AlertRow(a.kind, AlertLevel(a.level), a.epoch, a.message,
                                a.acknowledged_by, a.acknowledged_at)
                       for a in status.alerts)
        quicklook = None
        if status.alerts:
            path = quicklook_path(self.settings, t.id, status.alerts[-1].epoch)
            quicklook = path.name if path.is_file() else None
        return TargetRow(
            id=t.id, name=t.name, level=status.level, level_since=status.level_since,
            latest_epoch=latest.epoch if latest else None,
            latest_frame=latest.frame if latest else None,
            p_decision=latest.p_decision if latest else None,
            p_raw=latest.p_raw if latest else None,
            lstt_p_decision=latest.lstt_p_decision if latest else None,
            lstt_p_raw=latest.lstt_p_raw if latest else None,
            correction=latest.correction if latest else None, frames=frames,
            unacknowledged=status.unacknowledged, quicklook=quicklook, alerts=alerts,
            gls_p=latest.gls_p if latest else None)

    def _status(self, target_id: str) -> TargetStatus | None:
        target = next((t for t in self.settings.targets if t.id == target_id), None)
        return None if target is None else target_status(self.store, self.settings, target)

    def _draw(self, status: TargetStatus) -> bytes:
        t, h = status.target, status.history
        policy = alert_settings_of(self.settings, t)
        fig = target_history_figure(
            [v.epoch for v in h], p_decision=[v.p_decision for v in h],
            p_raw=[v.p_raw for v in h], lstt_p=[v.lstt_p_decision for v in h],
            bell_m=[v.bell_m for v in h], frames=[v.frame for v in h],
            alert_epochs=[a.epoch for a in status.alerts],
            alert_levels=[AlertLevel(a.level).name.lower()
                          for a in status.alerts],
            p_watch=policy.p_watch, p_warning=policy.p_warning,
            lstt_alpha=policy.lstt_alpha, title=f"{t.name} ({t.id})")
        return png_bytes(fig)


def start_status_page(settings: Settings, store: Store, clock: Clock) -> StatusPageServer:
    """Serve the status page on ``[status_page]`` host and port from a daemon thread.

    Raises:
        OSError: The address cannot be bound (the message names it).
    """
    page = settings.status_page
    app = StatusPageApp(WatchStatusSource(settings, store, clock),
                        settings.watch.quicklook_dir, refresh_s=page.refresh_s)
    return start_status_page_server(app, page.host, page.port)
