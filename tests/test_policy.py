from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitor.config import AlertSettings
from monitor.domain import AlertLevel
from monitor.notify.policy import StepScore, evaluate, qualifying_level

W, N = AlertLevel.WARNING, AlertLevel.NONE
START = date(2024, 1, 6)


def _history(ps: list[float | None], qs: list[float | None] | None = None) -> list[StepScore]:
    qs = qs if qs is not None else [0.01] * len(ps)
    return [StepScore(START + timedelta(days=12 * i), p, q)
            for i, (p, q) in enumerate(zip(ps, qs, strict=True))]


def test_qualifying_levels_by_combination() -> None:
    s = StepScore(START, 0.9, 0.5)
    assert qualifying_level(s, AlertSettings(combine="cnn")) == W
    assert qualifying_level(s, AlertSettings(combine="cnn_and_lstt")) == N
    assert qualifying_level(StepScore(START, 0.6, 0.01), AlertSettings()) == AlertLevel.WATCH
    only_lstt = StepScore(START, 0.1, 0.01)
    assert qualifying_level(only_lstt, AlertSettings(combine="cnn_or_lstt")) == AlertLevel.WATCH
    assert qualifying_level(only_lstt, AlertSettings(combine="cnn_and_lstt")) == N


def test_the_gls_filter_confirms_the_network() -> None:
    def step(p: float, gls: float | None) -> StepScore:
        return StepScore(START, p, 0.01, gls_p=gls)

    settings = AlertSettings()
    assert settings.confirm == "gls"
    assert qualifying_level(step(0.9, 0.3), settings) == N  # not confirmed
    assert qualifying_level(step(0.9, 0.6), settings) == AlertLevel.WATCH  # the smaller
    assert qualifying_level(step(0.9, 0.95), settings) == W
    assert qualifying_level(step(0.4, 0.99), settings) == N  # the filter alone raises nothing
    assert qualifying_level(step(0.9, None), settings) == W  # not judged: the network alone
    assert qualifying_level(step(0.9, 0.3), AlertSettings(confirm="none")) == W
    with pytest.raises(ValueError, match="confirm"):
        AlertSettings(confirm="both")  # type: ignore[arg-type]
    unconfirmed = [StepScore(START + timedelta(days=12 * i), 0.9, 0.01, gls_p=0.2)
                   for i in range(5)]
    assert not any(s.raised for s in evaluate(unconfirmed, settings))


def test_raise_after_k_and_only_when_level_rises() -> None:
    settings = AlertSettings(raise_after=2, clear_after=2)
    steps = evaluate(_history([0.2, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9, 0.6]), settings)
    raised = [(s.epoch, s.raised) for s in steps if s.raised]
    assert [lvl for _, lvl in raised] == [AlertLevel.WATCH, W]
    assert raised[0][0] == START + timedelta(days=24)  # second watch-level epoch
    assert raised[1][0] == START + timedelta(days=60)  # second warning-level epoch
    # warning then back to watch scores: the level stays (no new alert, no clear)
    assert steps[-1].level == W and steps[-1].raised is None


def test_single_spike_raises_nothing_and_clear_after_m() -> None:
    settings = AlertSettings(raise_after=2, clear_after=3)
    steps = evaluate(_history([0.95, 0.1, 0.95, 0.2, 0.7, 0.7, 0.1, 0.1, 0.1, 0.6, 0.6]),
                     settings)
    w = AlertLevel.WATCH
    assert [s.level for s in steps] == [N, N, N, N, N, w, w, w, N, N, w]
    assert [s.cleared for s in steps].count(True) == 1
    # Raised again after clearing, by the single-map rule alone on the same series: the
    # level is restored but no second alert goes out (deformation already alerted on).
    assert sum(1 for s in steps if s.raised) == 1
    assert "already alerted on" in steps[-1].reason


def test_unscored_epochs_neither_count_nor_break_runs() -> None:
    settings = AlertSettings(raise_after=2)
    steps = evaluate(_history([0.9, None, 0.9], [0.01, None, 0.01]), settings)
    assert steps[1].reason == "not scored"
    assert steps[2].raised == W


def test_recomputation_is_identical_and_order_independent() -> None:
    h = _history([0.2, 0.7, 0.8, 0.9, 0.3, 0.2, 0.1, 0.9, 0.95])
    settings = AlertSettings()
    assert evaluate(h, settings) == evaluate(list(reversed(h)), settings)


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="p_warning"):
        AlertSettings(p_watch=0.9, p_warning=0.6)
