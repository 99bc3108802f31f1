"""The alert policy: scores of successive epochs -> alert levels, episodes and alerts.

Three kinds of evidence, each defined once here:

* **The single-map rule** (``qualifying_level``): the epoch's detector probability over
  the target (the block detector's of its newest increment, or the CNN's fused P of its
  cumulative map) against ``p_watch`` / ``p_warning``, combined with the LSTT p-value
  against ``lstt_alpha`` as ``combine`` says (``cnn``, ``cnn_and_lstt``, ``cnn_or_lstt``:
  ``cnn`` names the detector). With ``confirm = "gls"`` (the default) the detector's P is
  first replaced by the smaller of it and
  the P of the series' own GLS Mogi filter on the same cumulative map
  (:mod:`monitor.science.detect.series_gls`), where that filter has judged the epoch
  (after its warm-up of 20 increments): the network must be confirmed by a test that
  weighs the frame's correlated noise. On real interferograms of Erta Ale the network
  alone flagged 13% of quiet pairs of held-out years, confirmed 0% (``docs/detection.md``).
  The level rises to L after ``raise_after`` consecutive epochs qualifying for L or above.
* **The time-series rule** (:mod:`monitor.science.trend`): the epoch judged with the
  epochs before it of the same frame and chain segment: the most significant new change
  (a ramp or a step of the bell amplitude, :mod:`monitor.science.series_signal`) beyond the
  changes already known. When ``trend_confirm_epochs`` consecutive epochs of the series
  reach ``|z| >= trend_z_watch`` the epoch qualifies for watch (``>= trend_z_warning``:
  warning) and the level is raised at once, without ``raise_after`` (the confirmation is
  the series' own: one date's atmosphere is not a change until the next epoch agrees). A
  change at ``trend_z_warning`` or more needs no confirmation: a broad uplift of
  centimetres in one interval is alerted at its first acquisition even when the CNN,
  which sees fringes, does not call it (the fast path's P).
* **The fast path**: an unambiguous step (fused P >= ``fast_p``, the newest interferogram
  moving the target by >= ``fast_step_m`` (:func:`~monitor.science.series_signal.step_size`)
  and its own LSTT p-value <= ``fast_lstt_alpha``) raises warning at its first epoch. The
  LSTT of the increment, not of the cumulative map: the cumulative map also rejects for
  deformation that was already there.

**Episodes, new against existing** (the distinction of LiCSAlert, Gaddes et al. 2019): a
change that raised an alert becomes *known* for its frame and segment; the time-series rule
then explains the series with it and looks only for changes after it, so a deformation
that persists keeps the level but does not alert again. A new episode (a new rate, a step)
alerts even while a level is raised, at that level or higher, and the alert says "new
episode"; a change whose onset precedes the raising of the current level is the same
episode (the series confirming what the maps showed) and alerts only if it raises the
level. A level raised again by the single-map rule alone is restored without a new alert
when it is not above the highest level already alerted on that series (the cumulative maps
still hold the known deformation). While the series still carries the latest known change
clearly (its refitted size at ``trend_z_watch`` sigma or more,
:func:`~monitor.science.trend.persisting_z`) the epoch qualifies at that level, at most the
level already alerted on the series, so the level is kept and not cleared. A false watch
therefore never hides a real event: the event is a new change of the series and alerts on
its own.

The level falls back to ``NONE`` after ``clear_after`` consecutive epochs qualifying for
nothing. Unscored epochs neither count nor break a run.

The policy is a pure function of the score history, so recomputing it after a restart
gives the same levels and alerts (idempotence is enforced by the store's unique key on
target, epoch and kind).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from monitor.config import AlertSettings
from monitor.domain import AlertLevel
from monitor.science.trend import Change, TrendSettings, best_change, persisting_z


@dataclass(frozen=True)
class StepScore:
    """What the policy reads of one epoch (None: not scored or not measured).

    Attributes:
        epoch: The epoch.
        p_fused: Deciding fused CNN probability over the target.
        lstt_p: Deciding LSTT p-value.
        bell_m: Bell amplitude of the cumulative map (time-series rule).
        step_m: How much the newest interferogram moved the target (fast path).
        series: Which series the epoch belongs to (frame and chain segment): the
            time-series rule compares epochs of one series only.
        step_lstt_p: LSTT p-value of the newest interferogram alone (fast path).
        gls_p: P of the series' GLS filter on the cumulative map (None: not judged).
    """

    epoch: date
    p_fused: float | None
    lstt_p: float | None
    bell_m: float | None = None
    step_m: float | None = None
    series: str = ""
    step_lstt_p: float | None = None
    gls_p: float | None = None


@dataclass(frozen=True)
class PolicyState:
    """Where the policy stands after an epoch.

    Attributes:
        level: Current level.
        runs: For each level (indexed by its value), the number of consecutive scored
            epochs that qualified for it or a higher level (index 0 is unused).
        quiet_length: Consecutive scored epochs qualifying for nothing.
        points: Per series, the ``(epoch, bell amplitude)`` of its measured epochs.
        known: Per series, the changes that raised alerts (episodes).
        alerted: Per series, the highest level alerted on it.
        level_since: The epoch the current level (above NONE) was first raised at.
        trend_runs: Per series, consecutive epochs whose best new change reached
            ``trend_z_watch``.
    """

    level: AlertLevel = AlertLevel.NONE
    runs: tuple[int, ...] = (0, 0, 0)
    quiet_length: int = 0
    points: dict[str, tuple[tuple[date, float], ...]] = field(default_factory=dict)
    known: dict[str, tuple[Change, ...]] = field(default_factory=dict)
    alerted: dict[str, AlertLevel] = field(default_factory=dict)
    level_since: date | None = None
    trend_runs: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyStep:
    """The policy's answer for one epoch.

    Attributes:
        epoch: The epoch.
        qualifies: The highest level any rule gives the epoch.
        level: The level after the epoch.
        raised: The level of the alert raised at this epoch (None: no alert).
        cleared: The level was cleared at this epoch.
        reason: Why, in words.
        change: The time-series rule's best new change (None: not enough epochs).
        fast: The fast path fired.
        new_episode: The alert is a new episode while a level was already raised.
    """

    epoch: date
    qualifies: AlertLevel
    level: AlertLevel
    raised: AlertLevel | None
    cleared: bool
    reason: str
    change: Change | None = None
    fast: bool = False
    new_episode: bool = False


def trend_settings(settings: AlertSettings) -> TrendSettings:
    """The time-series detector's settings from the alert policy's."""
    return TrendSettings(window_epochs=settings.trend_window_epochs,
                         history_epochs=settings.trend_history_epochs,
                         min_epochs=settings.trend_min_epochs)


def qualifying_level(score: StepScore, settings: AlertSettings) -> AlertLevel:
    """The highest level the single-map rule gives this epoch (NONE if unscored or quiet)."""
    p, q = confirmed_p(score, settings), score.lstt_p
    lstt = q is not None and q <= settings.lstt_alpha
    cnn = AlertLevel.NONE
    if p is not None:
        if p >= settings.p_warning:
            cnn = AlertLevel.WARNING
        elif p >= settings.p_watch:
            cnn = AlertLevel.WATCH
    if settings.combine == "cnn":
        return cnn
    if settings.combine == "cnn_and_lstt":
        return cnn if lstt else AlertLevel.NONE
    if cnn > AlertLevel.NONE:
        return cnn
    return AlertLevel.WATCH if lstt else AlertLevel.NONE


def confirmed_p(score: StepScore, settings: AlertSettings) -> float | None:
    """The CNN's P as the single-map rule reads it: with ``confirm = "gls"``, the smaller
    of it and the GLS filter's P where the filter has judged the epoch (module
    docstring)."""
    p = score.p_fused
    if p is not None and settings.confirm == "gls" and score.gls_p is not None:
        return min(p, score.gls_p)
    return p


def is_fast(score: StepScore, settings: AlertSettings) -> bool:
    """The fast path: an unambiguous step (module docstring)."""
    return (score.p_fused is not None and score.p_fused >= settings.fast_p
            and score.step_lstt_p is not None
            and score.step_lstt_p <= settings.fast_lstt_alpha
            and score.step_m is not None and score.step_m >= settings.fast_step_m)


def trend_level(change: Change | None, settings: AlertSettings) -> AlertLevel:
    """The level the time-series rule gives a change."""
    if change is None:
        return AlertLevel.NONE
    z = abs(change.z)
    if z >= settings.trend_z_warning:
        return AlertLevel.WARNING
    if z >= settings.trend_z_watch:
        return AlertLevel.WATCH
    return AlertLevel.NONE


def _judge_series(state: PolicyState, score: StepScore, settings: AlertSettings
                  ) -> tuple[dict[str, tuple[tuple[date, float], ...]], Change | None,
                             AlertLevel]:
    """The series with this epoch, its best new change and the level at which it still
    carries the latest known change (a persisting deformation keeps its level)."""
    points = dict(state.points)
    if score.bell_m is None:
        return points, None, AlertLevel.NONE
    mine = (*points.get(score.series, ()), (score.epoch, float(score.bell_m)))
    points[score.series] = mine
    epochs, values = [e for e, _ in mine], [v for _, v in mine]
    known = state.known.get(score.series, ())
    change = best_change(epochs, values, known, trend_settings(settings))
    z = persisting_z(epochs, values, known, trend_settings(settings))
    persists = AlertLevel.NONE if z is None else trend_level(
        Change(score.epoch, "step", 0.0, z, 0.0), settings)
    return points, change, persists


def step(state: PolicyState, score: StepScore, settings: AlertSettings
         ) -> tuple[PolicyState, PolicyStep]:
    """Advance the policy by one epoch."""
    if score.p_fused is None and score.lstt_p is None and score.bell_m is None:
        return state, PolicyStep(score.epoch, AlertLevel.NONE, state.level, None, False,
                                 "not scored")
    single = qualifying_level(score, settings)
    points, change, persists = _judge_series(state, score, settings)
    # Persistence keeps a level, never raises one above what was alerted on the series.
    persists = min(persists, state.alerted.get(score.series, AlertLevel.NONE))
    by_trend = trend_level(change, settings)
    trend_runs = dict(state.trend_runs)
    if score.bell_m is not None:
        trend_runs[score.series] = (trend_runs.get(score.series, 0) + 1
                                    if by_trend > AlertLevel.NONE else 0)
        if trend_runs[score.series] < settings.trend_confirm_epochs \
                and by_trend < AlertLevel.WARNING:
            by_trend = AlertLevel.NONE
    fast = is_fast(score, settings)
    q = max(single, by_trend, persists, AlertLevel.WARNING if fast else AlertLevel.NONE)
    runs = tuple((n + 1) if q >= lvl and lvl > AlertLevel.NONE else 0
                 for lvl, n in zip(AlertLevel, state.runs, strict=True))
    quiet = state.quiet_length + 1 if q == AlertLevel.NONE else 0
    by_runs = max((lvl for lvl in AlertLevel if lvl > AlertLevel.NONE
                   and runs[lvl] >= settings.raise_after), default=AlertLevel.NONE)
    new_evidence = max(by_trend, AlertLevel.WARNING if fast else AlertLevel.NONE)
    known, alerted = dict(state.known), dict(state.alerted)
    mine = known.get(score.series, ())
    before = alerted.get(score.series, AlertLevel.NONE)
    level, raised, cleared, new_episode = state.level, None, False, False
    found = None
    if new_evidence > AlertLevel.NONE:
        found = change if by_trend > AlertLevel.NONE and change is not None else \
            Change(score.epoch, "step", float(score.step_m or 0.0), float("inf"), 0.0)
        known[score.series] = (*mine, found)
    confirms = (found is not None and not fast and state.level_since is not None
                and found.onset <= state.level_since)
    if found is not None and not (confirms and new_evidence <= state.level):
        # A new change: an alert whether or not a level is already raised. A change that
        # began before the current level was raised is the same episode: it alerts only
        # when it raises the level.
        new_episode = state.level > AlertLevel.NONE and not confirms
        level = raised = max(state.level, new_evidence, by_runs)
        why = ("unambiguous step (fast path): P "
               f"{score.p_fused:.3f}, LSTT p of the step {score.step_lstt_p:.3g}, "
               f"{(score.step_m or 0.0) * 100:.1f} cm in the newest interferogram"
               if fast and by_trend == AlertLevel.NONE else
               f"the series shows {found.describe()}")
        reason = ("new episode: " if new_episode else "") + why
    elif found is not None:
        reason = (f"the series confirms the episode raised at {state.level_since}: "
                  f"{found.describe()}")
    elif by_runs > state.level:
        level = by_runs
        if by_runs > before:
            raised = by_runs
            reason = f"{settings.raise_after} consecutive epochs at {by_runs.name.lower()}"
        else:
            # The cumulative maps still hold deformation already alerted on.
            reason = (f"{settings.raise_after} consecutive epochs at {by_runs.name.lower()} "
                      "on maps that hold deformation already alerted on "
                      f"({before.name.lower()}); no new change in the series")
    elif state.level > AlertLevel.NONE and quiet >= settings.clear_after:
        level, cleared = AlertLevel.NONE, True
        reason = f"{settings.clear_after} consecutive quiet epochs"
    else:
        reason = f"qualifies for {q.name.lower()}"
    if raised is not None:
        alerted[score.series] = max(before, raised)
    since = None if level == AlertLevel.NONE else (
        state.level_since if state.level > AlertLevel.NONE else score.epoch)
    if found is not None:
        trend_runs[score.series] = 0
    new = PolicyState(level, runs, quiet, points, known, alerted, since, trend_runs)
    return new, PolicyStep(score.epoch, q, level, raised, cleared, reason, change, fast,
                           new_episode)


def evaluate(history: Iterable[StepScore], settings: AlertSettings) -> list[PolicyStep]:
    """Run the policy over a whole score history, in epoch order."""
    state = PolicyState()
    out = []
    for s in sorted(history, key=lambda s: s.epoch):
        state, result = step(state, s, settings)
        out.append(result)
    return out
