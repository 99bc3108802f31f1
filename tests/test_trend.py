"""The time-series rule: bell amplitude per epoch, change-point z, episodes in the policy."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from affine import Affine

from monitor.config import AlertSettings
from monitor.domain import AlertLevel
from monitor.errors import InputError
from monitor.notify.policy import StepScore, evaluate
from monitor.science.grids import FrameGrid
from monitor.science.series_signal import bell_amplitude, step_size
from monitor.science.trend import Change, TrendSettings, best_change, series_noise

START = date(2024, 1, 6)
EPOCHS = [START + timedelta(days=12 * i) for i in range(60)]
GRID = FrameGrid.from_transform((120, 120), Affine(0.001, 0, 14.0, 0, -0.001, 41.0), "test")


def _ramp_series(rng: np.random.Generator, rate: float, onset: int, n: int = 40,
                 sigma: float = 0.01) -> list[float]:
    t = np.array([(e - START).days / 365.25 for e in EPOCHS[:n]])
    signal = rate * np.maximum(t - t[onset - 1], 0.0)
    return list(signal + rng.normal(0.0, sigma, n))


def test_bell_amplitude_recovers_a_bell_on_a_plane() -> None:
    rows, cols = np.mgrid[0:120, 0:120]
    x, y = (cols - 60) * GRID.pixel_m[0], (60 - rows) * GRID.pixel_m[1]
    bell = (1 + (x ** 2 + y ** 2) / 3000.0 ** 2) ** -1.5
    image = (0.04 * bell + 1e-6 * x - 2e-6 * y + 0.3).astype(np.float32)
    image[:10] = np.nan  # incoherent rows are left out, not read as zero
    assert bell_amplitude(image, GRID, (60.0, 60.0), 3000.0) == pytest.approx(0.04, abs=1e-4)
    assert bell_amplitude(np.full((120, 120), np.nan), GRID, (60.0, 60.0), 3000.0) is None
    with pytest.raises(InputError, match="not on the frame grid"):
        bell_amplitude(np.zeros((10, 10)), GRID, (5.0, 5.0), 3000.0)


def test_step_size_is_robust_to_an_offset() -> None:
    inc = np.full((20, 20), 0.5)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    assert step_size(inc, mask) == pytest.approx(0.0)
    inc[8:12, 8:12] += 0.1
    assert step_size(inc, mask) == pytest.approx(0.1)
    assert step_size(np.full((20, 20), np.nan), mask) is None


def test_noise_is_robust_to_a_ramp_and_a_step() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0, 0.01, 200)
    assert series_noise(y) == pytest.approx(0.01, rel=0.15)
    y2 = y + np.linspace(0, 0.5, 200) + np.where(np.arange(200) > 100, 0.2, 0.0)
    assert series_noise(y2) == pytest.approx(0.01, rel=0.2)


def test_a_ramp_is_found_with_its_onset_and_rate() -> None:
    rng = np.random.default_rng(2)
    values = _ramp_series(rng, 0.30, onset=25, sigma=0.005)
    change = best_change(EPOCHS[:40], values)
    assert change is not None and change.shape == "ramp"
    assert abs((change.onset - EPOCHS[25]).days) <= 36
    assert change.size == pytest.approx(0.30, rel=0.3)
    assert change.z > 10


def test_quiet_series_raise_well_under_one_false_alert_per_year() -> None:
    # 40 quiet series of 40 epochs (1.3 years each) with Gaussian atmosphere through the
    # policy's time-series rule on its defaults (single-map rule and fast path silent).
    alerts = years = 0.0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        scores = [StepScore(EPOCHS[i], None, None, float(v), None, "q")
                  for i, v in enumerate(rng.normal(0, 0.01, 40))]
        alerts += sum(1 for s in evaluate(scores, AlertSettings()) if s.raised is not None)
        years += 39 * 12 / 365.25
    assert alerts / years <= 0.15


def test_known_change_absorbs_a_persisting_ramp() -> None:
    rng = np.random.default_rng(3)
    values = _ramp_series(rng, 0.30, onset=20, n=45, sigma=0.005)
    found = best_change(EPOCHS[:30], values[:30])
    assert found is not None and abs(found.z) > 10
    after = best_change(EPOCHS[:45], values, known=[found])
    assert after is None or abs(after.z) < 5


def test_short_series_and_bad_input() -> None:
    assert best_change(EPOCHS[:5], [0.0] * 5) is None
    with pytest.raises(InputError, match="epochs but"):
        best_change(EPOCHS[:12], [0.0] * 11)
    with pytest.raises(InputError, match="increasing"):
        best_change(EPOCHS[:12][::-1], [0.0] * 12)
    with pytest.raises(InputError, match="finite"):
        best_change(EPOCHS[:12], [0.0] * 11 + [float("nan")])
    with pytest.raises(InputError, match="min_epochs"):
        TrendSettings(min_epochs=2)


def _scores(values: list[float], p: float = 0.1, lstt: float = 0.5,
            steps: dict[int, float] | None = None) -> list[StepScore]:
    steps = steps or {}
    return [StepScore(EPOCHS[i], p, lstt, v, steps.get(i, 0.005), "f@2024-01-06")
            for i, v in enumerate(values)]


def test_policy_alerts_a_slow_uplift_once_and_keeps_the_level() -> None:
    rng = np.random.default_rng(4)
    values = _ramp_series(rng, 0.30, onset=20, n=45, sigma=0.005)
    steps = evaluate(_scores(values), AlertSettings())
    alerts = [s for s in steps if s.raised is not None]
    assert len(alerts) == 1, [s.reason for s in alerts]
    assert EPOCHS[20] < alerts[0].epoch <= EPOCHS[26]
    assert "the series shows a rate" in alerts[0].reason
    assert steps[-1].level > AlertLevel.NONE


def test_fast_path_alerts_a_step_at_its_first_epoch() -> None:
    values = [0.0] * 30
    scores = _scores(values, steps={15: 0.08})
    scores[15:] = [StepScore(s.epoch, 0.99, 0.01, s.bell_m, s.step_m, s.series,
                             0.01 if i == 0 else 0.6) for i, s in enumerate(scores[15:])]
    steps = evaluate(scores, AlertSettings())
    raised = [s for s in steps if s.raised is not None]
    assert [s.epoch for s in raised] == [EPOCHS[15]] and raised[0].fast
    assert raised[0].raised == AlertLevel.WARNING
    # P and LSTT alone (the cumulative maps keep the step) do not alert again.
    assert all(s.raised is None for s in steps[16:])


def test_a_false_watch_does_not_hide_a_new_episode() -> None:
    rng = np.random.default_rng(5)
    values = _ramp_series(rng, 0.40, onset=30, n=45, sigma=0.005)
    scores = _scores(values)
    # Atmosphere makes the CNN and LSTT qualify at epochs 12-13: a (false) watch.
    for i in (12, 13):
        scores[i] = StepScore(EPOCHS[i], 0.7, 0.01, values[i], 0.005, "f@2024-01-06")
    steps = evaluate(scores, AlertSettings(clear_after=100))
    raised = [s for s in steps if s.raised is not None]
    assert raised[0].epoch == EPOCHS[13] and raised[0].raised == AlertLevel.WATCH
    assert len(raised) == 2 and raised[1].new_episode and raised[1].epoch > EPOCHS[30]
    assert "new episode" in raised[1].reason


def test_known_change_record_and_describe() -> None:
    c = Change(EPOCHS[3], "ramp", 0.085, 6.2, 0.01)
    assert "+8.5 cm/yr since 2024-02-11" in c.describe()
    assert c.record()["shape"] == "ramp"


def test_fast_path_needs_the_step_itself_to_differ() -> None:
    # P and the cumulative map's LSTT say "deformation", the step is 8 cm, but the LSTT of
    # the newest interferogram alone does not reject (or was not measured): no fast path.
    for step_p in (0.5, None):
        scores = [StepScore(EPOCHS[i], 0.99 if i == 15 else 0.1, 0.01, 0.0,
                            0.08 if i == 15 else 0.005, "f@2024-01-06",
                            step_p if i == 15 else 0.7) for i in range(30)]
        steps = evaluate(scores, AlertSettings())
        assert not any(s.fast for s in steps)
