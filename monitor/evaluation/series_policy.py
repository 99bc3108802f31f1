"""The alert policy re-run over stored scores: the threshold sweep of ``evaluate series``.

Scoring an epoch (CNN, LSTT, bell amplitude, step) is the expensive part; the policy
(:func:`monitor.notify.policy.evaluate`) is a pure function of the scores. ``evaluate
series`` therefore scores every epoch once, keeps the
:class:`~monitor.notify.policy.StepScore` records, and runs the policy again for each
threshold of the time-series rule:

* :func:`sweep_settings`: the policy's settings with ``trend_z_watch = z`` and
  ``trend_z_warning = max(z, the base warning threshold)``, everything else as the base
  (the configuration's ``[alerts]``, the defaults without ``--config``). The base's own
  ``trend_z_watch`` is always among them: the operating point.
* :func:`single_map_only`: the base with the time-series rule and the fast path switched
  off (thresholds :data:`OFF_Z`, ``fast_p`` at its largest allowed value and
  ``fast_step_m`` :data:`OFF_STEP_M`): what the single-map rule alone would have done, the
  plain baseline of the real mode.
* :func:`quantile`: the linear-interpolation quantile of delays where a series never
  alerted counts as infinitely late (None when the quantile falls on one of those).
* :func:`outcome` and :func:`curve_point`: what the policy makes of the synthetic series
  (:mod:`monitor.evaluation.series`, rule 5) at one threshold: false alerts per
  volcano-year and each case's delays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from monitor.config import AlertSettings
from monitor.errors import InputError
from monitor.notify.policy import PolicyStep, evaluate

if TYPE_CHECKING:
    from monitor.evaluation.series import ScoredCase

DAYS_PER_YEAR = 365.25

#: ``trend_z_watch`` / ``trend_z_warning`` that no series reaches (the rule switched off):
#: the largest the configuration accepts (a 14 cm dyke over 0.3 cm of series noise is
#: about 50 sigma).
OFF_Z = 1000.0
#: ``fast_step_m`` that no interferogram reaches (the fast path switched off), metres: the
#: largest the configuration accepts.
OFF_STEP_M = 100.0


def with_alerts(base: AlertSettings, **changes: Any) -> AlertSettings:
    """``base`` with ``changes``, validated as a configuration file would be."""
    return AlertSettings(**{**base.model_dump(), **changes})


def sweep_settings(base: AlertSettings, z_values: Sequence[float]
                   ) -> list[tuple[float, AlertSettings]]:
    """``(z, settings)`` for every threshold of the sweep and the base's own, ascending.

    Raises:
        InputError: a threshold that is not a positive finite number (``--z-sweep``).
    """
    bad = [z for z in z_values if not (math.isfinite(z) and z > 0)]
    if bad:
        raise InputError(f"--z-sweep: thresholds must be positive numbers of sigma, got "
                         f"{bad[0]!r}")
    zs = sorted({float(z) for z in z_values} | {float(base.trend_z_watch)})
    return [(z, base if z == base.trend_z_watch else with_alerts(
        base, trend_z_watch=z, trend_z_warning=max(z, base.trend_z_warning))) for z in zs]


def single_map_only(base: AlertSettings) -> AlertSettings:
    """The base with the time-series rule and the fast path off (module docstring)."""
    return with_alerts(base, trend_z_watch=OFF_Z, trend_z_warning=OFF_Z,
                       fast_p=math.nextafter(1.0, 0.0), fast_step_m=OFF_STEP_M)


def alert_record(step: PolicyStep) -> dict[str, Any]:
    """An alert raised by the policy, JSON-ready."""
    change = step.change
    return {"epoch": step.epoch.isoformat(),
            "level": None if step.raised is None else step.raised.name.lower(),
            "new_episode": step.new_episode, "fast": step.fast,
            "trend_z": None if change is None else change.z, "reason": step.reason}


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolation quantile ``q`` (0-1) of ``values`` where ``inf`` stands for
    "never"; None when there is no value or the quantile needs one of those."""
    arr = np.sort(np.asarray(values, dtype=np.float64))
    if arr.size == 0:
        return None
    pos = q * (arr.size - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    if not math.isfinite(arr[hi]):
        return None
    return float(arr[lo] + (pos - lo) * (arr[hi] - arr[lo]))


def rate(alerts: int, years: float) -> dict[str, Any]:
    """False alerts over volcano-years, JSON-ready (``per_year`` None without years)."""
    return {"alerts": int(alerts), "years": float(years),
            "per_year": alerts / years if years > 0 else None}


@dataclass(frozen=True)
class Outcome:
    """What the policy made of one scored case (rule 5).

    Attributes:
        false_alerts: Alerts at or before the onset epoch (every alert of a quiet series).
        quiet_years: Time covered by the scored epochs at or before the onset (each since
            the acquisition before it), years.
        delay_days: Days from the onset to the first alert after it (inf: none).
        delay_acquisitions: Acquisitions after the first carrying deformation (inf: none).
        cumulative_m: Peak LOS deformation at that alert, metres (inf: none).
        alert: The detecting alert (None: none).
    """

    false_alerts: int
    quiet_years: float
    delay_days: float
    delay_acquisitions: float
    cumulative_m: float
    alert: dict[str, Any] | None

    def record(self) -> dict[str, Any]:
        """JSON-ready (inf as None)."""
        def fin(v: float) -> float | None:
            return v if math.isfinite(v) else None
        return {"false_alerts": self.false_alerts, "quiet_years": self.quiet_years,
                "delay_days": fin(self.delay_days),
                "delay_acquisitions": fin(self.delay_acquisitions),
                "cumulative_cm": fin(100.0 * self.cumulative_m), "alert": self.alert}


def outcome(scored: ScoredCase, alerts: AlertSettings) -> Outcome:
    """Run the policy over a scored case and read its false alerts and delay off it
    (:mod:`monitor.evaluation.series`, rule 5)."""
    steps = evaluate(scored.scores, alerts)
    onset = scored.case.onset_index
    last_quiet = len(scored.epochs) - 1 if onset is None else onset
    false = quiet_days = 0
    hit: tuple[int, PolicyStep] | None = None
    for idx, (step, score) in enumerate(zip(steps, scored.scores, strict=True), 1):
        if idx <= last_quiet:
            if not (score.p_fused is None and score.lstt_p is None and score.bell_m is None):
                quiet_days += (scored.epochs[idx] - scored.epochs[idx - 1]).days
            false += int(step.raised is not None)
        elif hit is None and step.raised is not None:
            hit = idx, step
    years = quiet_days / DAYS_PER_YEAR
    if hit is None or onset is None:
        return Outcome(false, years, math.inf, math.inf, math.inf, None)
    idx, step = hit
    return Outcome(false, years, float((scored.epochs[idx] - scored.epochs[onset]).days),
                   float(idx - onset - 1), scored.truth_m[idx - 1], alert_record(step))


def _group_summary(cases: Sequence[ScoredCase], outcomes: Sequence[Outcome]
                   ) -> dict[str, Any]:
    """False alerts and delays of the seeds of one case (rule 5)."""
    first = cases[0].case
    out: dict[str, Any] = {
        "group": first.group, "kind": first.kind, "value": first.value,
        "turbulence_cm": first.turbulence_cm, "n": len(cases),
        "without_target": sum(not c.scored_epochs for c in cases),
        "false_alerts": rate(sum(o.false_alerts for o in outcomes),
                             sum(o.quiet_years for o in outcomes))}
    if first.kind != "quiet":
        # A series whose target is never coherent measures the coherence draw, not the
        # policy: it is counted in without_target and left out of the delays.
        seen = [o for c, o in zip(cases, outcomes, strict=True) if c.scored_epochs]
        days = [o.delay_days for o in seen]
        acq = [o.delay_acquisitions for o in seen]
        cm = [100.0 * o.cumulative_m for o in seen]
        out.update({
            "with_target": len(seen), "alerted": sum(math.isfinite(d) for d in days),
            "delay_days": {"median": quantile(days, 0.5), "p90": quantile(days, 0.9)},
            "delay_acquisitions": {"median": quantile(acq, 0.5), "p90": quantile(acq, 0.9)},
            "cumulative_cm": {"median": quantile(cm, 0.5), "p90": quantile(cm, 0.9)}})
    return out


def curve_point(scored: Sequence[ScoredCase], z: float, alerts: AlertSettings,
                operating: bool) -> tuple[dict[str, Any], list[Outcome]]:
    """One threshold of the sweep: false alerts (quiet series, pre-onset epochs, both;
    pooled and per turbulence) and each group's delays; and every case's outcome."""
    outcomes = [outcome(s, alerts) for s in scored]
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(scored):
        groups.setdefault(s.case.group, []).append(k)

    def pooled(quiet: bool | None, turbulence: float | None = None) -> dict[str, Any]:
        """False alerts of the quiet series (True), of the pre-onset epochs (False) or
        both (None), at one turbulence or all (None)."""
        chosen = [o for s, o in zip(scored, outcomes, strict=True)
                  if (quiet is None or (s.case.kind == "quiet") == quiet)
                  and (turbulence is None or s.case.turbulence_cm == turbulence)]
        return rate(sum(o.false_alerts for o in chosen), sum(o.quiet_years for o in chosen))

    turbulences = sorted({s.case.turbulence_cm for s in scored})
    point = {
        "z_watch": z, "z_warning": alerts.trend_z_warning, "operating_point": operating,
        "false_alerts": {"quiet": pooled(True), "pre_onset": pooled(False),
                         "all": pooled(None)},
        "false_alerts_by_turbulence": {
            f"{t:g}": {"quiet": pooled(True, t), "pre_onset": pooled(False, t),
                       "all": pooled(None, t)} for t in turbulences},
        "groups": [_group_summary([scored[k] for k in idx], [outcomes[k] for k in idx])
                   for idx in groups.values()]}
    return point, outcomes
