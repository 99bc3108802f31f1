"""Cumulative series: daisy chain and SBAS recover a known truth; gaps, duplicates, appends."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science import sbas
from monitor.science import timeseries as ts
from monitor.science.network import PairNetwork, nearest_neighbour_pairs
from monitor.science.timeseries import Interferogram

N_EPOCHS = 12
SHAPE = (16, 20)
#: Exact recovery: float32 storage of values ~ 5 cm over ~12 summed steps gives errors
#: of a few 1e-9 m; 1 micrometre leaves a wide margin and is still "exact" physically.
EXACT_M = 1e-6


@pytest.fixture
def epochs() -> list[date]:
    return [date(2021, 1, 1) + timedelta(days=12 * k) for k in range(N_EPOCHS)]


@pytest.fixture
def truth(rng: np.random.Generator) -> np.ndarray:
    """Random-walk displacement plus a growing uplift bump, (n_epochs, ny, nx) metres."""
    steps = rng.normal(0.0, 0.003, (N_EPOCHS, *SHAPE))
    steps[0] = 0.0
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    bump = np.exp(-((yy - 8) ** 2 + (xx - 10) ** 2) / 20.0)
    growth = 0.004 * np.arange(N_EPOCHS)[:, None, None] * bump
    return np.cumsum(steps, axis=0) + growth


def daisy_pairs(epochs: list[date]) -> list[tuple[date, date]]:
    return [(epochs[k], epochs[k + 1]) for k in range(len(epochs) - 1)]


def test_daisy_chain_recovers_truth_exactly(epochs, truth) -> None:
    series = ts.cumulative_series(ts.synthetic_network(truth, epochs, daisy_pairs(epochs)))
    assert series.method == "daisy-chain"
    assert series.epochs == tuple(epochs)
    assert series.displacement.dtype == np.float32
    assert series.displacement.shape == (N_EPOCHS, *SHAPE)
    np.testing.assert_allclose(series.displacement, truth - truth[0], atol=EXACT_M)
    # support = number of interferograms summed; 1 at the first epoch (touched once)
    np.testing.assert_array_equal(series.support[:, 3, 4], [1] + list(range(1, N_EPOCHS)))
    assert series.gaps == () and series.segment_displacement is None
    assert series.loop_closure is None  # a chain has no triangle


def test_sbas_recovers_truth_exactly(epochs, truth) -> None:
    pairs = nearest_neighbour_pairs(epochs, 3)
    assert len(pairs) == 3 * N_EPOCHS - 6
    series = ts.cumulative_series(ts.synthetic_network(truth, epochs, pairs))
    assert series.method == "sbas"
    np.testing.assert_allclose(series.displacement, truth - truth[0], atol=EXACT_M)
    closure = series.loop_closure
    assert closure is not None
    assert len(closure.triangles) == len(PairNetwork.from_dates(pairs).triangles) > 0
    assert np.nanmax(closure.rms_m) < EXACT_M
    assert np.nanmax(closure.pixel_rms_m) < EXACT_M
    # support: pairs overlapping (t_0, t_e]; at t_0 the pairs that touch it
    first = np.array([epochs.index(a) for a, _ in pairs])
    expected = [int(np.sum(first == 0))] + [int(np.sum(first < e)) for e in range(1, N_EPOCHS)]
    np.testing.assert_array_equal(series.support[:, 0, 0], expected)
    assert expected[:3] == [3, 3, 6] and expected[-1] == len(pairs)


def test_sbas_error_matches_least_squares_prediction(epochs, rng) -> None:
    """With white noise sigma_n per interferogram, the error of epoch e has the standard
    deviation sigma_n * sqrt([(A^T A)^-1]_ee) of least squares; the RMS over 6,400 pixels
    must match it within 10 % (the sampling error of an RMS over 6,400 values is ~1 %)."""
    shape = (80, 80)
    truth = np.cumsum(rng.normal(0.0, 0.01, (N_EPOCHS, *shape)), axis=0)
    pairs = nearest_neighbour_pairs(epochs, 3)
    sigma_n = 0.002
    ifgs = [Interferogram(i.date1, i.date2, i.displacement_m
                          + rng.normal(0.0, sigma_n, shape).astype(np.float32))
            for i in ts.synthetic_network(truth, epochs, pairs)]
    series = ts.cumulative_series(ifgs)
    net = PairNetwork.from_dates(pairs)
    a = net.design_matrix()[:, 1:]
    predicted = sigma_n * np.sqrt(np.diag(np.linalg.inv(a.T @ a)))
    err = series.displacement[1:] - (truth[1:] - truth[0])
    rms = np.sqrt(np.mean(err ** 2, axis=(1, 2)))
    np.testing.assert_allclose(rms, predicted, rtol=0.10)
    # the redundant network beats the daisy chain, whose error grows as sigma_n * sqrt(e)
    assert np.all(predicted <= sigma_n * np.sqrt(np.arange(1, N_EPOCHS)) + 1e-12)
    # closure residuals of noisy interferograms: RMS of three noises, sigma_n * sqrt(3)
    assert series.loop_closure is not None
    np.testing.assert_allclose(series.loop_closure.rms_m, sigma_n * np.sqrt(3), rtol=0.05)


def test_nan_aware_sbas_uses_only_valid_pairs(epochs, truth, rng) -> None:
    pairs = nearest_neighbour_pairs(epochs, 3)
    ifgs = []
    for ifg in ts.synthetic_network(truth, epochs, pairs):
        d = ifg.displacement_m.copy()
        d[rng.random(SHAPE) < 0.25] = np.nan
        ifgs.append(Interferogram(ifg.date1, ifg.date2, d))
    series = ts.cumulative_series(ifgs)
    finite = np.isfinite(series.displacement)
    assert finite.mean() > 0.9
    np.testing.assert_allclose(series.displacement[finite], (truth - truth[0])[finite],
                               atol=EXACT_M)
    # every NaN is an epoch that the pixel's own valid pairs do not connect to epoch 0
    net = PairNetwork.from_dates(pairs)
    stack = np.stack([i.displacement_m for i in ifgs])
    for e, r, c in zip(*np.nonzero(~finite), strict=True):
        labels = net.component_labels(np.isfinite(stack[:, r, c]))
        touched = np.isfinite(stack[:, r, c])[net.first == 0].any()
        assert labels[e] != labels[0] or not touched
        assert series.support[e, r, c] == 0


def test_banded_and_grouped_solvers_agree(epochs, truth, rng) -> None:
    pairs = nearest_neighbour_pairs(epochs, 3)
    ifgs = []
    for ifg in ts.synthetic_network(truth, epochs, pairs):
        d = ifg.displacement_m + rng.normal(0, 0.002, SHAPE).astype(np.float32)
        d[rng.random(SHAPE) < 0.35] = np.nan
        ifgs.append(Interferogram(ifg.date1, ifg.date2, d))
    net = PairNetwork.from_dates(pairs)
    stack = np.stack([i.displacement_m.ravel() for i in ifgs])
    grouped = sbas.solve(net, stack, min_group=10**9)
    banded = sbas.solve(net, stack, min_group=1)
    np.testing.assert_array_equal(np.isnan(grouped[0]), np.isnan(banded[0]))
    assert np.isnan(grouped[0]).any()  # 35 % holes do disconnect some pixels
    np.testing.assert_allclose(grouped[0], banded[0], atol=EXACT_M)
    np.testing.assert_array_equal(grouped[1], banded[1])


def test_daisy_chain_pixel_lost_after_incoherent_step(epochs, truth) -> None:
    ifgs = ts.synthetic_network(truth, epochs, daisy_pairs(epochs))
    d = ifgs[4].displacement_m.copy()
    d[2, 3] = np.nan
    ifgs[4] = Interferogram(ifgs[4].date1, ifgs[4].date2, d)
    series = ts.cumulative_series(ifgs)
    assert np.isfinite(series.displacement[:5, 2, 3]).all()
    assert np.isnan(series.displacement[5:, 2, 3]).all()  # not continued with a guess
    assert (series.support[5:, 2, 3] == 0).all()


def test_missing_pair_is_reported_not_bridged(epochs, truth) -> None:
    pairs = daisy_pairs(epochs)
    del pairs[5]  # no interferogram between epochs 5 and 6
    series = ts.cumulative_series(ts.synthetic_network(truth, epochs, pairs))
    assert len(series.gaps) == 1
    gap = series.gaps[0]
    assert gap.epochs_before == tuple(epochs[:6]) and gap.epochs_after == tuple(epochs[6:])
    assert gap.bridge == "none" and "2021-03-02" in gap.describe()
    assert series.segments == (tuple(epochs[:6]), tuple(epochs[6:]))
    np.testing.assert_allclose(series.displacement[:6], truth[:6] - truth[0], atol=EXACT_M)
    assert np.isnan(series.displacement[6:]).all()
    assert series.segment_displacement is not None
    np.testing.assert_allclose(series.segment_displacement[6:], truth[6:] - truth[6],
                               atol=EXACT_M)


def test_zero_velocity_bridge_is_explicit(epochs, truth) -> None:
    pairs = daisy_pairs(epochs)
    del pairs[5]
    series = ts.cumulative_series(ts.synthetic_network(truth, epochs, pairs),
                                  bridge="zero-velocity")
    assert series.method == "daisy-chain+bridge=zero-velocity"
    assert series.gaps[0].bridge == "zero-velocity"
    expected = truth[6:] - truth[6] + (truth[5] - truth[0])
    np.testing.assert_allclose(series.displacement[6:], expected, atol=EXACT_M)


def test_sbas_network_cut_in_two(epochs, truth) -> None:
    pairs = [(a, b) for a, b in nearest_neighbour_pairs(epochs, 3)
             if not (a <= epochs[5] and b >= epochs[6])]
    series = ts.cumulative_series(ts.synthetic_network(truth, epochs, pairs))
    assert series.method == "sbas"
    assert [g.last_before for g in series.gaps] == [epochs[5]]
    assert series.segment_displacement is not None
    np.testing.assert_allclose(series.segment_displacement[6:], truth[6:] - truth[6],
                               atol=EXACT_M)
    assert np.isnan(series.displacement[6:]).all()


def test_order_reversal_and_duplicates(epochs, truth) -> None:
    ifgs = ts.synthetic_network(truth, epochs, nearest_neighbour_pairs(epochs, 2))
    reference = ts.cumulative_series(ifgs)
    shuffled = [ifgs[k] for k in np.random.default_rng(1).permutation(len(ifgs))]
    flipped = Interferogram(shuffled[0].date2, shuffled[0].date1, -shuffled[0].displacement_m)
    duplicate = Interferogram(shuffled[3].date1, shuffled[3].date2,
                              shuffled[3].displacement_m.copy())
    series = ts.cumulative_series([flipped, *shuffled[1:], duplicate])
    np.testing.assert_array_equal(series.displacement, reference.displacement)
    report = series.input_report
    assert report.reordered
    assert report.reversed_pairs == ((shuffled[0].date2, shuffled[0].date1),)
    assert report.dropped_duplicates == ((shuffled[3].date1, shuffled[3].date2),)
    conflicting = Interferogram(duplicate.date1, duplicate.date2, duplicate.displacement_m + 0.01)
    with pytest.raises(InputError, match=shuffled[3].label):
        ts.cumulative_series([*ifgs, conflicting])


def test_coherence_mask_and_reference_region(epochs, truth, rng) -> None:
    ref = (slice(0, 4), slice(0, 4))
    stable = truth.copy()
    stable[:, ref[0], ref[1]] = 0.0  # the reference region does not move
    ifgs = []
    for k, ifg in enumerate(ts.synthetic_network(stable, epochs, daisy_pairs(epochs))):
        coherence = rng.uniform(0.3, 1.0, SHAPE).astype(np.float32)
        coherence[10, 10] = 0.1 if k == 2 else coherence[10, 10]  # <= threshold: masked
        offset = np.float32(0.05 * (k + 1))  # unknown per-interferogram constant
        ifgs.append(Interferogram(ifg.date1, ifg.date2, ifg.displacement_m + offset, coherence))
    series = ts.cumulative_series(ifgs, reference=ref)
    np.testing.assert_allclose(series.reference_offsets_m,
                               0.05 * np.arange(1, N_EPOCHS), atol=1e-6)
    good = np.ones(SHAPE, bool)
    good[10, 10] = False
    np.testing.assert_allclose(series.displacement[:, good], (stable - stable[0])[:, good],
                               atol=EXACT_M)
    assert np.isnan(series.displacement[3:, 10, 10]).all()
    assert series.reference_mask is not None and series.reference_mask[:4, :4].all()


def test_loop_closure_flags_an_unwrapping_error(epochs, truth) -> None:
    pairs = nearest_neighbour_pairs(epochs, 3)
    ifgs = ts.synthetic_network(truth, epochs, pairs)
    bad = 7
    d = ifgs[bad].displacement_m.copy()
    d[5, 5] += 0.028  # one fringe of C-band
    ifgs[bad] = Interferogram(ifgs[bad].date1, ifgs[bad].date2, d)
    closure = ts.cumulative_series(ifgs).loop_closure
    assert closure is not None
    net = PairNetwork.from_dates(pairs)
    with_bad = (net.triangles == bad).any(axis=1)
    assert with_bad.any()
    assert np.all(closure.rms_m[~with_bad] < EXACT_M)
    n_pix = SHAPE[0] * SHAPE[1]
    np.testing.assert_allclose(closure.rms_m[with_bad], 0.028 / np.sqrt(n_pix), rtol=1e-3)
    expected_pixel = 0.028 * np.sqrt(with_bad.sum() / with_bad.size)
    np.testing.assert_allclose(closure.pixel_rms_m[5, 5], expected_pixel, rtol=1e-3)
    assert closure.pixel_rms_m[0, 0] < EXACT_M


def test_incremental_append_equals_batch(epochs, truth, rng) -> None:
    ifgs = []
    for ifg in ts.synthetic_network(truth, epochs, daisy_pairs(epochs)):
        d = ifg.displacement_m + rng.normal(0, 0.002, SHAPE).astype(np.float32)
        coherence = rng.uniform(0.05, 1.0, SHAPE).astype(np.float32)
        ifgs.append(Interferogram(ifg.date1, ifg.date2, d, coherence))
    ref = (slice(0, 5), slice(0, 5))
    batch = ts.cumulative_series(ifgs, reference=ref)
    state = ts.start_daisy_chain(epochs[0], SHAPE, reference=ref)
    for k, ifg in enumerate(ifgs):
        state = ts.append(state, ifg)
        assert state.last_epoch == epochs[k + 1] and state.n_epochs == k + 2
        np.testing.assert_array_equal(state.image, batch.displacement[k + 1])
        np.testing.assert_array_equal(state.support, batch.support[k + 1])
    # resuming from a batch series gives the same as appending from the start
    partial = ts.cumulative_series(ifgs[:6], reference=ref)
    resumed = ts.daisy_chain_state(partial)
    for ifg in ifgs[6:]:
        resumed = ts.append(resumed, ifg)
    np.testing.assert_allclose(resumed.image, batch.displacement[-1], atol=EXACT_M)
    with pytest.raises(InputError, match="gap"):
        ts.append(state, Interferogram(epochs[-1] + timedelta(days=12),
                                       epochs[-1] + timedelta(days=24), ifgs[0].displacement_m))
    with pytest.raises(InputError, match="goes back"):
        ts.append(state, ifgs[3])


def test_bad_input_is_refused(epochs, truth) -> None:
    ifgs = ts.synthetic_network(truth, epochs, daisy_pairs(epochs))
    with pytest.raises(InputError, match="empty"):
        ts.cumulative_series([])
    with pytest.raises(InputError, match="shape"):
        ts.cumulative_series([ifgs[0], Interferogram(epochs[1], epochs[2], np.zeros((3, 3)))])
    with pytest.raises(InputError, match="date1 equals date2"):
        Interferogram(epochs[1], epochs[1], np.zeros(SHAPE))
    with pytest.raises(InputError, match="datetime.date"):
        Interferogram(datetime(2021, 1, 1), epochs[1], np.zeros(SHAPE))
    with pytest.raises(InputError, match="2-D"):
        Interferogram(epochs[0], epochs[1], np.zeros(5))
    with pytest.raises(InputError, match="no valid pixel"):
        ts.cumulative_series([*ifgs[:3], Interferogram(epochs[3], epochs[4],
                                                       np.full(SHAPE, np.nan))])
    nan_ref = ifgs[0].displacement_m.copy()
    nan_ref[:2, :2] = np.nan
    with pytest.raises(InputError, match="reference region has no valid pixel"):
        ts.cumulative_series([Interferogram(epochs[0], epochs[1], nan_ref)],
                             reference=(slice(0, 2), slice(0, 2)))
    with pytest.raises(InputError, match="selects no pixel"):
        ts.cumulative_series(ifgs, reference=np.zeros(SHAPE, bool))
    with pytest.raises(InputError, match="method"):
        ts.cumulative_series(ifgs, method="kalman")
    with pytest.raises(InputError, match="bridge"):
        ts.cumulative_series(ifgs, bridge="linear")
    sbas_ifgs = ts.synthetic_network(truth, epochs, nearest_neighbour_pairs(epochs, 2))
    with pytest.raises(InputError, match="non-consecutive"):
        ts.cumulative_series(sbas_ifgs, method="daisy-chain")
