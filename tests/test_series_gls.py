"""The GLS filter of a watched series: its window is centred on the target, it judges
nothing before its warm-up, then flags a source in a cumulative map and few quiet ones,
from the increments before the epoch only, the same way again when the epoch is scored
again; block means stand for the maps they come from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.atmosphere import turbulent_delay
from monitor.science.detect.gls_filter import GlsMogiFilter
from monitor.science.detect.series_gls import (
    REFERENCE_EPOCHS,
    WARM_UP,
    GlsWindow,
    NoiseHistory,
    chain_before,
    confirm,
    gls_window,
    step,
)
from monitor.science.injection import mogi_unit_los
from monitor.science.noise_covariance import (
    block_mean,
    correlation_of_blocks,
    estimate_correlation,
)

SHAPE = (72, 72)
PIXEL = (250.0, 250.0)
CENTRE = (35.5, 35.5)


def _atmospheres(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [turbulent_delay(SHAPE, PIXEL[0], 0.005, 3000.0, rng).astype(np.float64)
            for _ in range(n)]


def _date(k: int) -> date:
    """The second date of a series' ``k``-th increment (12-day repeat)."""
    return date(2024, 1, 1) + timedelta(days=12 * (k + 1))


def _series(seed: int, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cumulative maps and increments of a quiet daisy chain: each date's atmosphere."""
    a = _atmospheres(seed, n + 1)
    return [x - a[0] for x in a[1:]], [a[k] - a[k - 1] for k in range(1, n + 1)]


def test_window_is_centred_on_the_target_and_shrinks_at_the_edge() -> None:
    w = gls_window(SHAPE, PIXEL, CENTRE)
    assert w.shape == (71, 71) and w.factor == 3  # 650 m blocks of 250 m pixels
    edge = gls_window((200, 200), (100.0, 100.0), (60.0, 140.0))
    assert edge.rows == (0, 121) and edge.cols == (81, 200)  # 60 and 59 px each side
    with pytest.raises(InputError, match="off the grid"):
        gls_window(SHAPE, PIXEL, (80.0, 10.0))
    with pytest.raises(InputError, match="5 km of ground on every side"):
        gls_window(SHAPE, PIXEL, (15.0, 35.0))  # 3.75 km from the edge


def test_nothing_is_judged_before_the_warm_up() -> None:
    cums, incs = _series(1, WARM_UP)
    history = NoiseHistory.empty(gls_window(SHAPE, PIXEL, CENTRE))
    for k, (cum, inc) in enumerate(zip(cums, incs, strict=True)):
        history, judged = step(history, cum, inc, PIXEL, None, _date(k))
        assert judged is None
    assert len(history) == WARM_UP and np.isnan(history.arrivals).all()


def test_a_source_is_confirmed_and_quiet_maps_rarely_are() -> None:
    cums, incs = _series(2, WARM_UP + 30)
    history = NoiseHistory.empty(gls_window(SHAPE, PIXEL, CENTRE))
    source = mogi_unit_los(SHAPE, PIXEL, 500.0, -500.0, 3000.0)
    source /= np.abs(source).max()
    quiet, found = [], []
    for k, (cum, inc) in enumerate(zip(cums, incs, strict=True)):
        if k >= WARM_UP:
            _, injected = confirm(history, cum + 0.05 * source, PIXEL, None)
            assert injected is not None
            found.append(injected.p > 0.5)
        history, judged = step(history, cum, inc, PIXEL, None, _date(k))
        if k >= WARM_UP:
            assert judged is not None and judged.history == k
            quiet.append(judged.p > 0.5)
            if k == WARM_UP:  # the first filter scored the warm-up's increments
                assert np.isfinite(history.arrivals).all()
    assert np.mean(found) >= 0.9
    assert np.sum(quiet) <= 4  # 5% of 30 is 1.5: the cumulative null is close to it
    before = NoiseHistory(history.window, history.blocks[:-1], history.arrivals[:-1])
    last = step(before, cums[-1], incs[-1], PIXEL, None, date(2024, 5, 1))
    again = confirm(last[0].before(date(2024, 5, 1)), cums[-1], PIXEL, None)[1]
    assert last[1] == again  # an epoch scored again gets the same judgement
    assert last[0].before(date(2024, 6, 1)) is last[0]  # a later epoch: all before it


def test_the_first_dates_atmosphere_is_averaged_out_of_the_maps_judged() -> None:
    """Every cumulative map of a daisy chain holds its first date's atmosphere, with the
    opposite sign: a bump there looks like a source in every map of the series. Judged
    against the mean position of the series' first dates, the bump weighs a tenth; a
    history that keeps the first date alone (a series file written before the level)
    flags the series throughout."""
    a = _atmospheres(4, WARM_UP + 31)
    bump = mogi_unit_los(SHAPE, PIXEL, 0.0, 0.0, 2500.0)
    a[0] = a[0] + 0.03 * bump / np.abs(bump).max()
    cums, incs = [x - a[0] for x in a[1:]], [a[k] - a[k - 1] for k in range(1, len(a))]
    empty = NoiseHistory.empty(gls_window(SHAPE, PIXEL, CENTRE))
    flags = {}
    for name, history in (("level", empty), ("first date", replace(empty,
                                                                     first_date_only=True))):
        judged_p = []
        for k, (cum, inc) in enumerate(zip(cums, incs, strict=True)):
            history, judged = step(history, cum, inc, PIXEL, None, _date(k))
            if judged is not None:
                judged_p.append(judged.p)
                levels = REFERENCE_EPOCHS if name == "level" else 1
                assert judged.level_dates == levels
                assert judged.record()["gls_level_dates"] == levels
        assert len(judged_p) == 30
        flags[name] = int(np.sum(np.array(judged_p) > 0.5))
    assert flags["first date"] >= 20 and flags["level"] <= 4, flags  # 26 and 1 of 30


def test_the_level_takes_the_first_dates_and_an_epoch_scored_again_leaves_its_own() -> None:
    cums, incs = _series(5, 14)
    history = NoiseHistory.empty(gls_window(SHAPE, PIXEL, CENTRE))
    for k, (cum, inc) in enumerate(zip(cums, incs, strict=True)):
        history = step(history, cum, inc, PIXEL, None, _date(k))[0]
    assert history.level_epochs == tuple(_date(k) for k in range(REFERENCE_EPOCHS - 1))
    expected = np.mean([np.zeros_like(history.levels[0])]
                       + [history.block_means(c) for c in cums[:REFERENCE_EPOCHS - 1]], 0)
    np.testing.assert_allclose(history.level(), expected, atol=1e-7)
    short = NoiseHistory.empty(history.window)
    for k in range(3):
        short = step(short, cums[k], incs[k], PIXEL, None, _date(k))[0]
    again = short.before(_date(2))  # the newest epoch scored again: judged as it was
    assert again.level_epochs == (_date(0), _date(1)) and len(again) == 2
    assert history.before(_date(14)) is history
    with pytest.raises(InputError, match="levels"):
        replace(history, level_epochs=history.level_epochs[::-1])
    with pytest.raises(InputError, match="levels"):
        replace(history, first_date_only=True)


def test_block_means_stand_for_their_maps() -> None:
    maps = _atmospheres(3, 12)
    a = estimate_correlation(maps, 3)
    b = correlation_of_blocks([block_mean(m, 3) for m in maps], 3)
    np.testing.assert_allclose(a.matrix_full, b.matrix_full)
    gls = GlsMogiFilter(PIXEL, a)
    assert gls.measure_blocks(block_mean(maps[0], 3), SHAPE) == gls.measure(maps[0])


def test_a_history_that_does_not_match_its_window_is_refused() -> None:
    window = GlsWindow((0, 72), (0, 72), 3)
    with pytest.raises(InputError, match="do not match"):
        NoiseHistory(window, np.zeros((2, 20, 24), np.float32), np.zeros(2))
    with pytest.raises(InputError, match="do not match"):
        NoiseHistory(window, np.zeros((2, 24, 24), np.float32), np.zeros(3))
    with pytest.raises(InputError, match="differ"):
        correlation_of_blocks([np.zeros((4, 4)), np.zeros((4, 5))], 2)


@dataclass(frozen=True)
class _Pair:
    date1: date
    date2: date


def test_the_products_borrowed_before_a_start_chain_back_without_overlap() -> None:
    d = [date(2024, 1, 1) + timedelta(days=12 * k) for k in range(8)]
    pairs = [_Pair(d[k], d[k + 1]) for k in range(6)]  # a daisy chain up to d[6]
    pairs += [_Pair(d[3], d[5]), _Pair(d[4], d[7]), _Pair(d[1], d[5])]  # longer pairs
    # d[7] is after the series' first date d[6]: nothing reaching past it is taken.
    chain = chain_before(pairs, d[6])
    assert [(p.date1, p.date2) for p in chain] == [(d[k], d[k + 1]) for k in range(6)]
    assert chain_before(pairs, d[6], 2) == [pairs[4], pairs[5]]
    # Where the short pair ending at d[5] is missing, the longer one ending there is
    # taken and the chain goes on from its first date.
    gap = [p for p in pairs if p != _Pair(d[4], d[5])]
    assert [(p.date1, p.date2) for p in chain_before(gap, d[6])] == [
        (d[0], d[1]), (d[1], d[2]), (d[2], d[3]), (d[3], d[5]), (d[5], d[6])]
    assert chain_before(pairs, d[0]) == []
