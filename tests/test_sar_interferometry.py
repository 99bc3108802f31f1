"""Coregistration, resampling, interferogram, coherence and geometric phase on simulated
ALOS-2-like scenes (monitor/science/sar/{coregistration,interferogram,geometric_phase}.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft as sfft
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.sar.coregistration import (
    OffsetModel,
    fit_offsets,
    measure_offsets,
    resample,
)
from monitor.science.sar.geometric_phase import geometric_phase
from monitor.science.sar.interferogram import (
    fit_phase_plane,
    multilook,
    multilooked_centres,
    multilooked_interferogram,
)
from monitor.science.sar.simulate import band_limited_noise, simulate_pair

LOOKS = (3, 3)


@pytest.fixture(scope="module")
def flat_pair():  # type: ignore[no-untyped-def]
    """No terrain, no deformation: only flat-earth phase and a sub-pixel offset."""
    return simulate_pair(np.random.default_rng(11), (128, 128), coherence=0.9,
                         offset_px=(0.4, 0.45), perpendicular_baseline_m=300.0)


@pytest.fixture(scope="module")
def cone_pair():  # type: ignore[no-untyped-def]
    """An 800 m cone and 300 m of perpendicular baseline (about 4.7 topographic fringes)."""
    return simulate_pair(np.random.default_rng(12), (128, 128), coherence=0.95,
                         cone_height_m=800.0, cone_radius_m=2500.0)


def _coregister(pair, whole_pixel: bool = False):  # type: ignore[no-untyped-def]
    field = measure_offsets(pair.primary.slc, pair.secondary.slc, window=48, n_windows=(4, 4))
    model = fit_offsets(field, pair.primary.slc.shape, degree=1)
    if whole_pixel:  # what the Tellus InSAR tutorial does: round the shift
        d_line, d_pixel = model(63.5, 63.5)
        model = OffsetModel.constant(float(np.round(d_line)), float(np.round(d_pixel)))
    return model, resample(pair.secondary.slc, model, pair.primary.slc.shape)


def _phase_grid(pair, dem=None):  # type: ignore[no-untyped-def]
    lines, pixels = multilooked_centres(pair.primary.slc.shape, LOOKS)
    rows = np.r_[0.0, lines, 127.0]
    cols = np.r_[0.0, pixels, 127.0]
    return geometric_phase(pair.primary, pair.secondary, rows, cols, dem)


def _ifg(pair, s2, valid, dem=None):  # type: ignore[no-untyped-def]
    g = _phase_grid(pair, dem)
    return multilooked_interferogram(pair.primary.slc, s2, LOOKS, phase_rad=g.phase_rad,
                                     phase_rows=g.rows, phase_cols=g.cols, valid=valid)


def test_offsets_are_measured_to_two_hundredths_of_a_pixel(flat_pair) -> None:  # type: ignore[no-untyped-def]
    model, _ = _coregister(flat_pair)
    d_line, d_pixel = model(np.array([10.0, 64.0, 120.0]), np.array([10.0, 64.0, 120.0]))
    assert np.abs(d_line - 0.4).max() < 0.02
    assert np.abs(d_pixel - 0.45).max() < 0.02
    assert model.n_used >= 12 and max(model.residual_rms_px) < 0.05


def test_subpixel_coregistration_beats_the_whole_pixel_shift(flat_pair) -> None:  # type: ignore[no-untyped-def]
    _, (s2, valid) = _coregister(flat_pair)
    _, (s2_whole, valid_whole) = _coregister(flat_pair, whole_pixel=True)
    _, coh = _ifg(flat_pair, s2, valid)
    _, coh_whole = _ifg(flat_pair, s2_whole, valid_whole)
    both = np.isfinite(coh) & np.isfinite(coh_whole)
    # 0.4 x 0.45 pixel of misregistration costs about a third of the coherence of 0.9
    assert np.mean(coh[both]) > 0.85
    assert np.mean(coh[both]) - np.mean(coh_whole[both]) > 0.15


def test_knab_resampling_keeps_coherence_where_bicubic_does_not() -> None:
    x = band_limited_noise((128, 128), np.random.default_rng(3), 0.8)
    d = (0.4, 0.35)
    y = sfft.ifft2(ndimage.fourier_shift(sfft.fft2(x), d)).astype(np.complex64)
    inner = (slice(12, -12), slice(12, -12))

    def loss(a: np.ndarray) -> float:
        a, b = a[inner], x[inner]
        return 1.0 - float(abs(np.sum(a * np.conj(b)))
                           / np.sqrt(np.sum(abs(a) ** 2) * np.sum(abs(b) ** 2)))

    knab, valid = resample(y, OffsetModel.constant(*d), y.shape)
    ll, pp = np.mgrid[0:128, 0:128].astype(float)
    c = [ll + d[0], pp + d[1]]
    cubic = ndimage.map_coordinates(y.real, c, order=3) \
        + 1j * ndimage.map_coordinates(y.imag, c, order=3)
    assert valid[inner].all()
    assert loss(knab) < 0.002  # measured 0.0006
    assert loss(cubic) > 5 * loss(knab)  # measured 0.0067


def test_flat_earth_from_the_orbits_leaves_under_a_tenth_of_a_fringe(flat_pair) -> None:  # type: ignore[no-untyped-def]
    _, (s2, valid) = _coregister(flat_pair)
    raw, _ = multilooked_interferogram(flat_pair.primary.slc, s2, LOOKS, valid=valid)
    ifg, coh = _ifg(flat_pair, s2, valid)
    # before: many fringes across the scene
    plane = fit_phase_plane(raw, np.ones(raw.shape))
    assert np.ptp(plane) / (2 * np.pi) > 5
    z = multilook(ifg / np.maximum(np.abs(ifg), 1e-12), (6, 6))
    resid = np.angle(z * np.conj(np.sum(z)))
    assert np.abs(resid).max() / (2 * np.pi) < 0.1
    assert np.nanmean(coh) > 0.85


def test_topographic_phase_from_the_dem_removes_the_height_correlation(cone_pair) -> None:  # type: ignore[no-untyped-def]
    _, (s2, valid) = _coregister(cone_pair)
    height = multilook(cone_pair.height_m.astype(np.float64), LOOKS)
    slopes = np.linspace(-0.08, 0.08, 641)  # radians of phase per metre of height

    def height_slope(ifg: np.ndarray) -> float:
        z = ifg / np.maximum(np.abs(ifg), 1e-12)
        score = [abs(np.sum(z * np.exp(-1j * k * height))) for k in slopes]
        return float(slopes[int(np.argmax(score))])

    expected = 2 * np.pi / cone_pair.height_of_ambiguity_m
    without, _ = _ifg(cone_pair, s2, valid)
    with_dem, coh = _ifg(cone_pair, s2, valid, cone_pair.dem)
    assert height_slope(without) == pytest.approx(expected, rel=0.05)
    assert abs(height_slope(with_dem)) < 0.05 * expected
    assert np.nanmean(coh) > 0.9


def test_plane_fit_recovers_a_ramp() -> None:
    ii, jj = np.mgrid[0:60, 0:80]
    ramp = 0.31 * ii - 0.17 * jj + 1.0
    rng = np.random.default_rng(0)
    ifg = np.exp(1j * (ramp + rng.normal(0, 0.3, ramp.shape)))
    coh = np.full(ramp.shape, 0.8)
    coh[:10] = 0.05  # left out
    fitted = fit_phase_plane(ifg, coh)
    resid = np.angle(np.exp(1j * (ramp - fitted)))
    assert np.abs(resid).max() < 0.1


def test_coherence_estimator_matches_the_simulated_coherence() -> None:
    for gamma in (0.3, 0.7):
        pair = simulate_pair(np.random.default_rng(5), (64, 64), coherence=gamma,
                             offset_px=(0.0, 0.0), perpendicular_baseline_m=0.0)
        _, coh = multilooked_interferogram(pair.primary.slc, pair.secondary.slc, (8, 8))
        # 64 looks of band-limited (correlated) samples: bias small at these levels
        assert np.mean(coh) == pytest.approx(gamma, abs=0.08)


def test_incoherent_scenes_are_refused_by_the_offset_fit() -> None:
    pair = simulate_pair(np.random.default_rng(6), (96, 96), coherence=0.0)
    field = measure_offsets(pair.primary.slc, pair.secondary.slc, window=32, n_windows=(3, 3))
    with pytest.raises(InputError, match="windows matched"):
        fit_offsets(field, (96, 96))
    with pytest.raises(InputError, match="window"):
        measure_offsets(pair.primary.slc, pair.secondary.slc, window=200)
