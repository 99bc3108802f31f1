"""Where each watched target stands, read from the store: one definition for everything
that shows it (the metrics restored at start, the status page, the GeoJSON feed).

The current level is the alert policy run over the target's stored scores
(:func:`monitor.notify.policy.evaluate`), exactly as the poll runs it, so a restart, a page
and a feed never disagree with the alerts the poll raised. Each score belongs to the frame
named in its signal (``"FRAME@segment start"``, :func:`monitor.service.scoring.series_key`);
scores written before the signal existed belong to the target's only frame when it has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from monitor.config import AlertSettings, Settings, TargetSettings
from monitor.domain import AlertLevel
from monitor.notify.policy import PolicyStep, StepScore, evaluate
from monitor.ports import Store
from monitor.store import Alert, Score

#: Every stored score is read: the policy runs over the whole history, as the poll does.
POLICY_HISTORY = 100_000


def alert_settings_of(settings: Settings, target: TargetSettings) -> AlertSettings:
    """The alert settings of ``target``: its own ``alerts`` table, else ``[alerts]``."""
    return target.alerts or settings.alerts


def policy_input(score: Score) -> StepScore:
    """What the policy reads of a stored score (its deciding scores and its signal)."""
    signal = score.signal or {}
    return StepScore(score.epoch, score.decision_p_fused, score.decision_lstt_p,
                     signal.get("bell_m"), signal.get("step_m"), str(signal.get("series", "")),
                     signal.get("step_lstt_p"), signal.get("gls_p"))


def score_frame(score: Score, frames: Sequence[str]) -> str | None:
    """The frame a stored score belongs to (from its signal's series key); the target's
    only frame for a score without one; None when that cannot be told."""
    series = str((score.signal or {}).get("series", ""))
    if "@" in series:
        return series.split("@", 1)[0]
    return frames[0] if len(frames) == 1 else None


@dataclass(frozen=True)
class ScoreView:
    """One stored score as dashboards, pages and feeds show it.

    Attributes:
        epoch: The scored cumulative epoch.
        frame: Its frame (None: unknown, see :func:`score_frame`).
        p_decision: The fused CNN probability the policy decided on (corrected when a
            correction was made).
        p_raw: The fused CNN probability before any atmospheric correction.
        p_by_gain_decision: ``{gain: P}`` the policy's scores come from.
        p_by_gain_raw: ``{gain: P}`` before correction.
        lstt_p_decision: The LSTT p-value the policy decided on.
        lstt_p_raw: The LSTT p-value before correction.
        lstt_by_reference: ``{reference name: p}`` (raw scores).
        correction: ``gacos``, ``icams``, ``empirical`` when the deciding scores are
            corrected ones, else None.
        bell_m: Signed bell amplitude of the cumulative map, metres of LOS (positive
            towards the satellite); None when not measured.
        step_m: Size of the newest interferogram's change over the target, metres.
        gls_p: P of the series' GLS filter, which confirms ``p_decision`` in the
            single-map rule (None: not judged).
    """

    epoch: date
    frame: str | None
    p_decision: float | None
    p_raw: float | None
    p_by_gain_decision: dict[float, float]
    p_by_gain_raw: dict[float, float]
    lstt_p_decision: float | None
    lstt_p_raw: float | None
    lstt_by_reference: dict[str, float]
    correction: str | None
    bell_m: float | None
    step_m: float | None
    gls_p: float | None = None

    @classmethod
    def of(cls, score: Score, frames: Sequence[str]) -> ScoreView:
        """The view of a stored score of a target watching ``frames``."""
        raw_gains = {float(g): float(p) for g, p in (score.p_by_gain or {}).items()}
        corrected = score.corrected and score.p_by_gain_corrected is not None
        dec_gains = ({float(g): float(p) for g, p in (score.p_by_gain_corrected or {}).items()}
                     if corrected else raw_gains)
        refs = {str(name): float(r["p"]) for name, r in (score.lstt_by_reference or {}).items()
                if isinstance(r, dict) and r.get("p") is not None}
        signal = score.signal or {}
        bell, step = signal.get("bell_m"), signal.get("step_m")
        return cls(epoch=score.epoch, frame=score_frame(score, frames),
                   p_decision=score.decision_p_fused, p_raw=score.p_fused,
                   p_by_gain_decision=dec_gains, p_by_gain_raw=raw_gains,
                   lstt_p_decision=score.decision_lstt_p, lstt_p_raw=score.lstt_p,
                   lstt_by_reference=refs,
                   correction=score.correction_method if score.corrected else None,
                   bell_m=None if bell is None else float(bell),
                   step_m=None if step is None else float(step),
                   gls_p=None if signal.get("gls_p") is None else float(signal["gls_p"]))


@dataclass(frozen=True)
class FrameStatus:
    """One frame of a target.

    Attributes:
        frame: The frame id.
        newest_epoch: Latest acquisition of an ingested product (None: nothing ingested).
        ingested_at: When that product was ingested (UTC).
        latest: The frame's newest score (None: none yet).
    """

    frame: str
    newest_epoch: date | None
    ingested_at: datetime | None
    latest: ScoreView | None

    def lag_s(self, now: datetime) -> float | None:
        """Seconds from the newest acquisition (midnight UTC) to ``now``; None when nothing
        was ingested."""
        if self.newest_epoch is None:
            return None
        start = datetime(self.newest_epoch.year, self.newest_epoch.month,
                         self.newest_epoch.day, tzinfo=now.tzinfo)
        return max(0.0, (now - start).total_seconds())


@dataclass(frozen=True)
class TargetStatus:
    """Where one target stands.

    Attributes:
        target: Its settings (id, name, centre, radius, frames, recipients).
        level: The current alert level (the policy over every stored score).
        level_since: The epoch the current level (above NONE) was reached, else None.
        latest: The newest score of any frame (None: nothing scored yet).
        frames: One entry per configured frame, in configuration order.
        history: Every stored score, oldest first.
        steps: The policy's answer for each of them, same order.
        alerts: The target's alerts, oldest first.
    """

    target: TargetSettings
    level: AlertLevel
    level_since: date | None
    latest: ScoreView | None
    frames: tuple[FrameStatus, ...]
    history: tuple[ScoreView, ...]
    steps: tuple[PolicyStep, ...]
    alerts: tuple[Alert, ...]

    @property
    def unacknowledged(self) -> int:
        """Alerts nobody has acknowledged yet."""
        return sum(a.acknowledged_at is None for a in self.alerts)


def _level_since(steps: Sequence[PolicyStep]) -> date | None:
    since: date | None = None
    previous = AlertLevel.NONE
    for s in steps:
        if s.level != previous:
            since = s.epoch if s.level > AlertLevel.NONE else None
            previous = s.level
    return since


def target_status(store: Store, settings: Settings, target: TargetSettings) -> TargetStatus:
    """Read ``target``'s status from ``store`` (no writes)."""
    scores = store.latest_scores(target.id, POLICY_HISTORY)
    steps = evaluate([policy_input(s) for s in scores], alert_settings_of(settings, target))
    views = tuple(ScoreView.of(s, target.frames) for s in scores)
    ingested = store.newest_ingested(target.id)
    frames = []
    for frame in target.frames:
        mine = [v for v in views if v.frame == frame]
        newest = ingested.get(frame)
        frames.append(FrameStatus(frame, newest[0] if newest else None,
                                  newest[1] if newest else None,
                                  mine[-1] if mine else None))
    level = steps[-1].level if steps else AlertLevel.NONE
    return TargetStatus(target=target, level=level, level_since=_level_since(steps),
                        latest=views[-1] if views else None, frames=tuple(frames),
                        history=views, steps=tuple(steps),
                        alerts=tuple(store.list_alerts(target.id)))


def watch_status(store: Store, settings: Settings) -> list[TargetStatus]:
    """Every configured target's status, in configuration order."""
    return [target_status(store, settings, t) for t in settings.targets]
