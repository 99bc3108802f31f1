"""The alert policy: scores of successive epochs -> alert levels with hysteresis.

Each scored epoch *qualifies* for the highest level whose condition it meets:

* ``cnn``: fused probability over the target >= ``p_watch`` (watch) or ``p_warning``
  (warning);
* ``cnn_and_lstt``: the CNN condition and an LSTT p-value <= ``lstt_alpha`` (the target's
  displacement differs from every reference region);
* ``cnn_or_lstt``: the CNN condition, or the LSTT condition alone for ``watch``.

The level rises to L after ``raise_after`` consecutive epochs qualifying for L or above
(an epoch qualifying for warning also counts towards watch), and falls back to ``NONE``
after ``clear_after`` consecutive epochs qualifying for nothing. An alert is raised only
when the level rises, never while it stays or falls. Unscored epochs (no data, the first
epoch of a segment) neither count nor break a run.

The policy is a pure function of the score history, so recomputing it after a restart
gives the same levels and the same alerts (idempotence is then enforced by the store's
unique key on target, epoch and kind).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from monitor.config import AlertSettings
from monitor.domain import AlertLevel


@dataclass(frozen=True)
class StepScore:
    """What the policy reads of one epoch (None: not scored)."""

    epoch: date
    p_fused: float | None
    lstt_p: float | None


@dataclass(frozen=True)
class PolicyState:
    """Where the policy stands after an epoch.

    Attributes:
        level: Current level.
        runs: For each level (indexed by its value), the number of consecutive scored
            epochs that qualified for it or a higher level (index 0 is unused).
        quiet_length: Consecutive scored epochs qualifying for nothing.
    """

    level: AlertLevel = AlertLevel.NONE
    runs: tuple[int, ...] = (0, 0, 0)
    quiet_length: int = 0


@dataclass(frozen=True)
class PolicyStep:
    """The policy's answer for one epoch."""

    epoch: date
    qualifies: AlertLevel
    level: AlertLevel
    raised: AlertLevel | None
    cleared: bool
    reason: str


def qualifying_level(score: StepScore, settings: AlertSettings) -> AlertLevel:
    """The highest level this epoch's scores meet (NONE if unscored or quiet)."""
    p, q = score.p_fused, score.lstt_p
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


def step(state: PolicyState, score: StepScore, settings: AlertSettings
         ) -> tuple[PolicyState, PolicyStep]:
    """Advance the policy by one epoch."""
    if score.p_fused is None and score.lstt_p is None:
        return state, PolicyStep(score.epoch, AlertLevel.NONE, state.level, None, False,
                                 "not scored")
    q = qualifying_level(score, settings)
    runs = tuple((n + 1) if q >= lvl and lvl > AlertLevel.NONE else 0
                 for lvl, n in zip(AlertLevel, state.runs, strict=True))
    quiet = state.quiet_length + 1 if q == AlertLevel.NONE else 0
    level = state.level
    raised: AlertLevel | None = None
    cleared = False
    supported = max((lvl for lvl in AlertLevel if lvl > AlertLevel.NONE
                     and runs[lvl] >= settings.raise_after), default=AlertLevel.NONE)
    if supported > level:
        level, raised = supported, supported
        reason = f"{settings.raise_after} consecutive epochs at {supported.name.lower()}"
    elif level > AlertLevel.NONE and quiet >= settings.clear_after:
        level, cleared = AlertLevel.NONE, True
        reason = f"{settings.clear_after} consecutive quiet epochs"
    else:
        reason = f"qualifies for {q.name.lower()}"
    new = PolicyState(level, runs, quiet)
    return new, PolicyStep(score.epoch, q, level, raised, cleared, reason)


def evaluate(history: Iterable[StepScore], settings: AlertSettings) -> list[PolicyStep]:
    """Run the policy over a whole score history, in epoch order."""
    state = PolicyState()
    out = []
    for s in sorted(history, key=lambda s: s.epoch):
        state, result = step(state, s, settings)
        out.append(result)
    return out
