"""The block detector against its series' own quiet past (rule 1 in a series).

Real noise comes from the committed Erta Ale crop (tests/data/erta_ale_014A: 14 real
Sentinel-1 pairs of 2016-01-17 to 2017-02-04, the last one with the January 2017 dyke):
its 13 quiet increments, flipped and negated, make a history of real quiet maps.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from monitor.config import Settings, load_settings
from monitor.io.models import load_block_model
from monitor.noise_bank import load_noise_bank
from monitor.science.detect import series_blocks
from monitor.science.detect.blocks import BlockDetector
from monitor.science.detect.gls_filter import conformal_quantile
from monitor.science.detect.series_blocks import (
    EVENT_P,
    MIN_ARRIVALS,
    SPANS,
    arrival_scores,
    event_logit,
    judge,
    series_threshold,
)
from monitor.science.detect.series_gls import NoiseHistory
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.science.injection import mogi_unit_los
from monitor.science.interferograms import Interferogram
from monitor.science.scoring import score_epoch
from monitor.science.timeseries import append, append_step, start_daisy_chain
from monitor.service.scoring import (
    detector_for,
    frame_regions,
    new_noise_history,
    scoring_params,
)

CROP = Path(__file__).parent / "data" / "erta_ale_014A"
FRAME = "014A_07688_131313"


@pytest.fixture(scope="module")
def real() -> tuple[list[np.ndarray], FrameGrid, BlockDetector, GroundDisc]:
    bank = load_noise_bank(str(CROP), FRAME, load_settings(None),
                           events=((date(2017, 1, 11), date(2018, 12, 31)),))
    quiet = [np.asarray(e.displacement_m, np.float64) for e in bank.epochs]
    variants = [sign * m[::fy, ::fx] for sign in (1.0, -1.0) for fy in (1, -1)
                for fx in (1, -1) for m in quiet]
    grid = bank.grid
    ny, nx = grid.shape
    target = GroundDisc(*grid.lonlat(ny // 2, nx // 2), 3.0)
    detector = detector_for(load_block_model(None), scoring_params(Settings()), grid.pixel_m,
                            bank.dem)
    assert isinstance(detector, BlockDetector)
    return variants, grid, detector, target


def _history(maps: list[np.ndarray], grid: FrameGrid, target: GroundDisc) -> NoiseHistory:
    history = new_noise_history(grid, target)
    assert history is not None
    for k, m in enumerate(maps):
        history = history.appended(m, None, date(2020, 1, 1) + timedelta(days=12 * k))
    return history


def _source(grid: FrameGrid, peak_m: float) -> np.ndarray:
    unit = mogi_unit_los(grid.shape, grid.pixel_m, 0.0, 0.0, 3000.0)
    return peak_m * unit / np.abs(unit).max()


def test_the_threshold_is_the_conformal_quantile_of_earlier_scores_events_set_aside() -> None:
    rng = np.random.default_rng(3)
    quiet = rng.normal(-1.0, 1.0, 40)
    assert series_threshold(quiet[:MIN_ARRIVALS - 1]) is None
    assert series_threshold(np.append(quiet[:MIN_ARRIVALS - 1], np.nan)) is None
    threshold, kept, aside = series_threshold(np.concatenate([quiet, [np.nan, 12.0, 30.0]]))
    assert (kept, aside) == (40, 2)  # the two events are not noise; NaN is no score
    assert threshold == conformal_quantile(quiet) == np.sort(quiet)[38]
    # an event inside the quiet scores' spread is kept: the fence is for the far-out ones
    assert series_threshold(np.append(quiet, quiet.max() + 0.1))[2] == 0
    # a network's quiet logits spread widely: a large event can sit inside the fence (the
    # real dyke pair did), and what the packaged calibration calls certain is set aside
    wide = rng.normal(-0.5, 1.8, 30)
    spread = np.append(wide, 9.0)
    q1, q3 = np.quantile(spread, [0.25, 0.75])
    assert q3 + 3 * (q3 - q1) > 9.0
    assert series_threshold(spread)[0] == 9.0  # blind to the next event
    threshold, kept, aside = series_threshold(spread, certain=2.94)
    assert aside == 1 + int((wide >= 2.94).sum()) and threshold < 2.94
    assert series_threshold(np.full(MIN_ARRIVALS + 5, 5.0), certain=2.94) is None  # none kept


def test_the_event_logit_is_where_the_packaged_calibration_reaches_the_fast_path_p() -> None:
    calibration = load_block_model(None).calibration
    assert Settings().alerts.fast_p == EVENT_P
    assert float(calibration.probability(event_logit(calibration))) == pytest.approx(EVENT_P)


def test_the_series_rule_judges_the_newest_increments_against_the_series_quiet_past(
        real: tuple[list[np.ndarray], FrameGrid, BlockDetector, GroundDisc]) -> None:
    maps, grid, detector, target = real
    history = _history(maps[:40], grid, target)
    newest = maps[40]
    quiet = judge(detector, history, newest)
    assert quiet is not None
    scores = arrival_scores(detector, history)
    assert np.isfinite(scores).all() and scores.shape == (40,)
    threshold, kept, aside = series_threshold(scores,
                                              certain=event_logit(detector.calibration))
    assert (quiet.threshold, quiet.arrivals, quiet.set_aside) == (threshold, kept, aside)
    assert kept + aside == 40
    # P is the packaged Platt slopes about the series' threshold
    packaged = detector.calibration
    assert quiet.calibration.threshold == threshold
    assert (quiet.calibration.slope, quiet.calibration.slope_above) == (
        packaged.slope, packaged.slope_above)
    assert quiet.p == pytest.approx(float(quiet.calibration.probability(quiet.logit)))
    assert quiet.p < 0.95 and quiet.span in SPANS
    # the score is the largest logit of the newest one and two increments
    blocks = history.block_means(newest)
    heights = series_blocks._heights(detector, history)
    one, two = detector.block_logits([blocks, blocks + history.blocks[-1]], heights)
    assert quiet.logit == pytest.approx(max(one, two), abs=1e-6)
    # a 5 cm source in the newest increment is certain
    step = judge(detector, history, newest + _source(grid, 0.05))
    assert step is not None and step.p > 0.99 and step.span == 1
    # a step that two acquisitions split stands out most in the span of two
    split = _source(grid, 0.02)
    history2 = _history([*maps[:39], maps[39] + split], grid, target)
    spread = judge(detector, history2, newest + split)
    assert spread is not None and spread.span == 2
    alone = detector.block_logits([history2.block_means(newest + split)], heights)[0]
    assert spread.logit > alone
    # the same numbers again, with the remembered logits forgotten (to the float32
    # rounding of the network's batches, which depend on what was remembered)
    series_blocks._CACHE.clear()
    again = judge(detector, history, newest)
    assert again is not None
    assert (again.span, again.arrivals, again.set_aside) == (
        quiet.span, quiet.arrivals, quiet.set_aside)
    for name in ("p", "logit", "threshold"):
        assert getattr(again, name) == pytest.approx(getattr(quiet, name), abs=1e-5), name
    # fewer earlier increments than the threshold needs: the packaged calibration stands
    assert judge(detector, _history(maps[:MIN_ARRIVALS - 1], grid, target), newest) is None


def test_rule_one_takes_the_series_p_given_the_history_and_records_it(
        real: tuple[list[np.ndarray], FrameGrid, BlockDetector, GroundDisc]) -> None:
    maps, grid, detector, target = real
    history = _history(maps[:30], grid, target)
    regions = frame_regions(grid, target, (GroundDisc(*grid.lonlat(20, 20), 1.5),), None,
                            "test")
    params = scoring_params(Settings())
    increment = maps[30] + _source(grid, 0.03)
    image = (maps[31] + increment).astype(np.float32)
    alone = score_epoch(detector, image, regions, date(2021, 1, 1), params,
                        increment=increment)
    judged = score_epoch(detector, image, regions, date(2021, 1, 1), params,
                         increment=increment, history=history)
    expected = judge(detector, history, increment)
    assert alone.raw.series is None and "series_p" not in alone.params
    assert judged.raw.series == expected and judged.raw.p_fused == expected.p
    assert judged.raw.flag == (expected.p > params.flag_threshold)
    assert judged.params["series_threshold"] == expected.threshold
    assert judged.params["series_span"] == expected.span
    # the windows' map is about the series' threshold too
    windows = detector.recalibrated(expected.calibration).detect(increment)
    np.testing.assert_array_equal(judged.raw.prob_map, windows.prob_map)
    assert detector.calibration.threshold != expected.threshold  # the packaged one stays


def test_the_increment_is_the_interferogram_where_the_chain_lost_pixels() -> None:
    shape = (20, 20)
    ref = np.zeros(shape, bool)
    ref[:4, :4] = True
    coherent, holed = np.ones(shape, np.float32), np.ones(shape, np.float32)
    holed[10:14, 10:14] = 0.0
    d = [date(2024, 1, 1) + timedelta(days=12 * k) for k in range(3)]
    state = start_daisy_chain(d[0], shape, reference=ref, coherence_threshold=0.3)
    state = append(state, Interferogram(d[0], d[1], np.zeros(shape, np.float32), holed))
    before = state.cumulative_m
    after, step = append_step(state, Interferogram(d[1], d[2],
                                                   np.full(shape, 0.01, np.float32), coherent))
    lost = np.isnan(after.cumulative_m - before)
    assert lost[10:14, 10:14].all() and lost.sum() == 16
    assert np.isfinite(step).all() and np.allclose(step, 0.0)  # referenced to the region
    assert np.array_equal(after.cumulative_m, append(state, Interferogram(
        d[1], d[2], np.full(shape, 0.01, np.float32), coherent)).cumulative_m,
        equal_nan=True)


def test_scan_series_takes_the_pairs_interferogram_or_the_maps_difference_without_one() -> None:
    """``series_increments``: the product of the pair (previous epoch, epoch), masked and
    referenced as the chain sums it; the difference of the cumulative maps where an SBAS
    network has no such product."""
    from monitor.science.interferograms import prepare_interferogram
    from monitor.science.timeseries import cumulative_series, synthetic_network
    from monitor.service.series_scan import series_increments

    rng = np.random.default_rng(0)
    shape = (12, 12)
    d = [date(2024, 1, 1) + timedelta(days=12 * k) for k in range(4)]
    truth = np.cumsum(rng.normal(0.0, 0.01, (4, *shape)), axis=0)
    truth[0] = 0.0
    pairs = [(d[0], d[1]), (d[0], d[2]), (d[1], d[3]), (d[2], d[3])]  # no (d1, d2)
    ifgs = synthetic_network(truth, d, pairs)
    coherence = np.ones(shape, np.float32)
    coherence[5:7, 5:7] = 0.0  # incoherent in the first pair only
    ifgs[0] = Interferogram(ifgs[0].date1, ifgs[0].date2, ifgs[0].displacement_m, coherence)
    ref = np.zeros(shape, bool)
    ref[:3, :3] = True
    series = cumulative_series(ifgs, reference=ref, coherence_threshold=0.3, method="sbas")
    maps = series.displacement.astype(np.float32)
    got = series_increments(series, maps, ifgs, ref, 0.3)
    assert sorted(got) == d[1:]
    first = prepare_interferogram(ifgs[0], ref, 0.3)[0]
    np.testing.assert_array_equal(got[d[1]], first)
    assert np.isnan(got[d[1]][5:7, 5:7]).all()
    np.testing.assert_array_equal(got[d[2]], maps[2] - maps[1])  # no product of the pair
    np.testing.assert_array_equal(got[d[3]], prepare_interferogram(ifgs[3], ref, 0.3)[0])
