"""The time-series detector: is the newest epoch the sign of a change in the series?

Each cumulative epoch carries the atmosphere of its own date (a separate realisation) on
top of the deformation accumulated so far; deformation accumulates, atmosphere does not.
A single map of a slow uplift is therefore never more than a few atmospheres deep, but
the series of its bell amplitudes (:mod:`monitor.science.series_signal`) rises by the same
rate epoch after epoch while its noise stays put. This module fits that.

Model (one frame, one segment of the daisy chain; ``y_i`` the bell amplitude of epoch
``i``, ``t_i`` its time in years)::

    y_i = a + sum_j b_j g_j(t_i) + c g_k(t_i) + e_i

* ``a``: the segment's offset (the atmosphere of its first date and everything before it);
* ``g_j``: the changes already known (episodes the watch has alerted on): they keep
  explaining the series, so a deformation that persists does not alert again;
* ``g_k``: a candidate change starting at epoch ``k``, one of the last
  ``window_epochs`` and carried by at least ``min_support`` epochs: a **ramp**
  ``max(0, t - t_{k-1})`` (a new rate, metres per year) or a **step** ``1[i >= k]``
  (metres);
* ``e_i``: the atmosphere of date ``i``, independent between dates, with a standard
  deviation ``sigma`` estimated from the series itself, robustly: the median absolute
  deviation of consecutive differences divided by ``sqrt(2)`` (a steady rate shifts the
  differences' median and a step is one outlier, neither inflates it).

The score is the largest ``|z| = |c| / se(c)`` over candidate onsets and the two shapes;
the onset and shape that give it are reported. ``se(c)`` is the ordinary least-squares
standard error with ``sigma``. A pre-existing linear trend was tried as a nuisance term
and removed: on synthetic series it absorbed most of a new ramp (8.5 cm/yr was no longer
found within a year), and known changes do that job for deformation the watch has seen.

What it is not: a test at a fixed level. The maximum over onsets and shapes of correlated
``z`` values has no simple null law, and real atmosphere is not Gaussian; the thresholds
are set from measured false alerts per volcano-year on quiet series
(``insar-monitor evaluate series``, ``docs/detection_series.md``).

Sources: the idea of judging each epoch against the series' own noise and telling new
deformation from existing follows Gaddes et al. (2019), Blind signal separation methods for
InSAR: the potential to automatically detect and monitor signals of volcanic deformation,
JGR Solid Earth 124, doi:10.1029/2018JB016210 (LiCSAlert); the change-point form is the
classical two-phase regression (Hinkley 1969, Biometrika 56, doi:10.1093/biomet/56.3.495).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError

DAYS_PER_YEAR = 365.25
#: Smallest noise the detector assumes, metres (keeps a perfectly smooth series finite).
SIGMA_FLOOR_M = 1e-3

ChangeShape = Literal["ramp", "step"]


@dataclass(frozen=True)
class TrendSettings:
    """How far back the detector looks.

    Attributes:
        window_epochs: Candidate onsets among the last this many epochs.
        history_epochs: Epochs of the segment used for the fit (the newest ones).
        min_epochs: Fewest epochs of the segment before a score is given.
        min_support: Fewest epochs that must carry a candidate change (non-zero
            regressor). With 2, a step needs two epochs, but a ramp starting at the
            previous epoch is non-zero at both while an outlier of the newest date alone can
            still dominate it; the policy therefore also asks ``trend_confirm_epochs``
            consecutive epochs (:mod:`monitor.notify.policy`).
    """

    window_epochs: int = 15
    history_epochs: int = 60
    min_epochs: int = 10
    min_support: int = 2

    def __post_init__(self) -> None:
        if self.window_epochs < 1:
            raise InputError(f"trend window_epochs must be >= 1, got {self.window_epochs}")
        if self.min_epochs < 4:
            raise InputError(f"trend min_epochs must be >= 4, got {self.min_epochs}")
        if self.min_support < 1:
            raise InputError(f"trend min_support must be >= 1, got {self.min_support}")
        if self.history_epochs < self.min_epochs:
            raise InputError(f"trend history_epochs ({self.history_epochs}) must not be "
                             f"below min_epochs ({self.min_epochs})")


@dataclass(frozen=True)
class Change:
    """A change of the bell amplitude series.

    Attributes:
        onset: First epoch that carries it.
        shape: ``ramp`` (a new rate) or ``step``.
        size: Rate in metres per year (ramp) or metres (step), signed.
        z: Its size over its standard error.
        sigma_m: The series noise used, metres.
    """

    onset: date
    shape: ChangeShape
    size: float
    z: float
    sigma_m: float

    def describe(self) -> str:
        what = (f"a rate of {self.size * 100:+.1f} cm/yr" if self.shape == "ramp"
                else f"a step of {self.size * 100:+.1f} cm")
        return (f"{what} since {self.onset.isoformat()} ({abs(self.z):.1f} sigma; "
                f"series noise {self.sigma_m * 100:.2f} cm)")

    def record(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"onset": self.onset.isoformat(), "shape": self.shape, "size": self.size,
                "z": self.z, "sigma_m": self.sigma_m}


def series_noise(values: NDArray[np.float64]) -> float:
    """Robust per-epoch noise of a series: MAD of consecutive differences / sqrt(2)."""
    diffs = np.diff(values)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return max(SIGMA_FLOOR_M, 1.4826 * mad / math.sqrt(2.0))


def _regressor(times: NDArray[np.float64], k: int, shape: ChangeShape
               ) -> NDArray[np.float64]:
    """The change of ``shape`` starting at index ``k`` (``k >= 1``)."""
    if shape == "ramp":
        return np.asarray(np.maximum(times - times[k - 1], 0.0))
    return (np.arange(times.size) >= k).astype(np.float64)


def _known_regressor(epochs: Sequence[date], times: NDArray[np.float64], change: Change
                     ) -> NDArray[np.float64] | None:
    """A known change as a column over ``epochs`` (None: it does not vary there)."""
    after = np.array([e >= change.onset for e in epochs])
    if after.all() or not after.any():
        if change.shape == "step" or not after.any():
            return None
        # A ramp that started before the history: a plain linear term.
        return times - times[0]
    k = int(np.argmax(after))
    return _regressor(times, k, change.shape)


def best_change(epochs: Sequence[date], values: Sequence[float],
                known: Sequence[Change] = (), settings: TrendSettings = TrendSettings()
                ) -> Change | None:
    """The most significant new change ending the series (module docstring).

    Args:
        epochs: Epochs of one segment of one frame's series, increasing; the newest is
            the one judged.
        values: Bell amplitudes of those epochs, metres (finite).
        known: Changes already known in this segment (nuisance terms); candidate onsets
            lie after the latest of them.
        settings: Window, history and minimum length.

    Returns:
        The change with the largest ``|z|``, or None when the segment is shorter than
        ``min_epochs`` or no candidate onset remains.

    Raises:
        InputError: epochs and values of different lengths, non-increasing epochs or
            non-finite values.
    """
    if len(epochs) != len(values):
        raise InputError(f"trend: {len(epochs)} epochs but {len(values)} values")
    if any(b <= a for a, b in zip(epochs, epochs[1:], strict=False)):
        raise InputError("trend: epochs must be strictly increasing")
    n_all = len(epochs)
    if n_all < settings.min_epochs:
        return None
    lo = max(0, n_all - settings.history_epochs)
    eps = list(epochs[lo:])
    y = np.asarray(values[lo:], dtype=np.float64)
    if not np.isfinite(y).all():
        raise InputError("trend: values must be finite")
    n = y.size
    times = np.array([(e - eps[0]).days / DAYS_PER_YEAR for e in eps])
    sigma = series_noise(y)
    columns = [np.ones(n)]
    latest = eps[0]
    for change in known:
        col = _known_regressor(eps, times, change)
        if col is not None:
            columns.append(col)
        latest = max(latest, change.onset)
    base = np.column_stack(columns)
    first = max(1, n - settings.window_epochs)
    best: Change | None = None
    for k in range(first, n - settings.min_support + 1):
        if eps[k] <= latest:
            continue
        for shape in ("ramp", "step"):
            design = np.column_stack([base, _regressor(times, k, shape)])
            gram_inv = np.linalg.pinv(design.T @ design)
            var = float(gram_inv[-1, -1])
            if not var > 1e-12:
                continue
            size = float((gram_inv @ design.T @ y)[-1])
            z = size / (sigma * math.sqrt(var))
            if best is None or abs(z) > abs(best.z):
                best = Change(eps[k], shape, size, z, sigma)
    return best


def persisting_z(epochs: Sequence[date], values: Sequence[float], known: Sequence[Change],
                 settings: TrendSettings = TrendSettings()) -> float | None:
    """How clearly the series still carries the latest known change: its size refitted
    with every known change over the history, over its standard error (None: no known
    change varies within the history, or the segment is too short)."""
    n_all = len(epochs)
    if not known or n_all < settings.min_epochs or len(values) != n_all:
        return None
    lo = max(0, n_all - settings.history_epochs)
    eps = list(epochs[lo:])
    y = np.asarray(values[lo:], dtype=np.float64)
    times = np.array([(e - eps[0]).days / DAYS_PER_YEAR for e in eps])
    columns = [np.ones(y.size)]
    for change in known:
        col = _known_regressor(eps, times, change)
        if col is not None:
            columns.append(col)
    latest = _known_regressor(eps, times, known[-1])
    if latest is None or not np.isfinite(y).all():
        return None
    design = np.column_stack(columns)
    gram_inv = np.linalg.pinv(design.T @ design)
    var = float(gram_inv[-1, -1])
    if not var > 1e-12:
        return None
    size = float((gram_inv @ design.T @ y)[-1])
    return size / (series_noise(y) * math.sqrt(var))
