"""The two-scene chain and SNAPHU (monitor/io/sar_chain.py, monitor/io/snaphu_unwrap.py) on
simulated ALOS-2-like pairs with a known deformation, topography and offset."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.interpolate import griddata

from monitor.errors import InputError
from monitor.io.sar_chain import make_differential_interferogram
from monitor.io.snaphu_unwrap import unwrap
from monitor.science.sar.interferogram import multilook
from monitor.science.sar.simulate import simulate_pair

LOOKS = (3, 3)


@pytest.fixture(scope="module")
def volcano():  # type: ignore[no-untyped-def]
    """A 600 m cone inflating (Mogi, 2 km deep, 4e6 m^3: 21 cm of LOS, 1.8 L-band fringes)
    seen with 300 m of perpendicular baseline and a 0.4 x 0.35 pixel offset."""
    pair = simulate_pair(np.random.default_rng(21), (160, 160), coherence=0.9,
                         cone_height_m=600.0, source_dvolume_m3=4e6, source_depth_m=2000.0,
                         source_offset_m=(300.0, -200.0))
    result = make_differential_interferogram(pair.primary, pair.secondary, dem=pair.dem,
                                             looks=LOOKS, spacing_deg=0.0004)
    return pair, result


def test_chain_recovers_the_deformation_within_5_mm(volcano) -> None:  # type: ignore[no-untyped-def]
    pair, result = volcano
    truth = multilook(pair.los_m.astype(np.float64), LOOKS)
    los = result.radar.los_m
    ok = np.isfinite(los)
    assert ok.mean() > 0.95
    diff = los[ok] - truth[ok]
    diff -= diff.mean()  # the unwrapped phase is known up to a constant
    rms_mm = 1e3 * float(np.sqrt(np.mean(diff ** 2)))
    assert rms_mm < 5.0  # measured 2.7 mm
    # the sign: inflation moves the ground towards the satellite, positive LOS
    assert np.corrcoef(los[ok], truth[ok])[0, 1] > 0.99
    prov = result.provenance
    assert prov["phase_sign"] == -1 and prov["wavelength_m"] == pytest.approx(0.2384)
    assert prov["perpendicular_baseline_m"] == pytest.approx(300.0, rel=0.02)
    assert len(prov["phase_removed"]) == 2  # flat earth + orbits, topography
    fitted = prov["offsets_fitted"]
    assert fitted["line_coeffs"][0][0] == pytest.approx(0.4, abs=0.02)
    assert fitted["pixel_coeffs"][0][0] == pytest.approx(0.35, abs=0.02)
    assert set(prov["stage_s"]) >= {"offsets", "resample", "unwrap", "geocode"}


def test_geocoding_places_the_deformation_centre_within_a_pixel(volcano) -> None:  # type: ignore[no-untyped-def]
    pair, result = volcano
    spacing = result.transform.a
    assert result.transform.e == -spacing and result.crs == "EPSG:4326"
    gy, gx = result.los_m.shape
    cols, rows = np.meshgrid(np.arange(gx) + 0.5, np.arange(gy) + 0.5)
    lon = result.transform.c + cols * spacing
    lat = result.transform.f - rows * spacing
    # the truth put on the same grid independently: the simulator's forward geolocation
    # of every radar pixel, triangulated (no orbit inversion involved)
    truth = griddata((pair.lon_deg.ravel(), pair.lat_deg.ravel()), pair.los_m.ravel(),
                     (lon, lat), method="linear")
    both = np.isfinite(truth) & np.isfinite(result.los_m)
    assert both.mean() > 0.5
    found = result.los_m - np.median(result.los_m[both] - truth[both])
    diff = found[both] - truth[both]
    assert 1e3 * np.sqrt(np.mean(diff ** 2)) < 5.0

    def centroid(values: np.ndarray) -> np.ndarray:
        w = np.clip(np.where(both, values - 0.5 * np.max(truth[both]), 0.0), 0.0, None)
        return np.array([np.sum(w * lon) / w.sum(), np.sum(w * lat) / w.sum()])

    assert np.abs(centroid(found) - centroid(truth)).max() < spacing
    # the coherence is geocoded too, NaN only outside the footprint
    assert np.nanmean(result.coherence) > 0.85


def test_snaphu_unwraps_a_ramp_of_several_fringes_exactly() -> None:
    ii, jj = np.mgrid[0:90, 0:110]
    ramp = 0.35 * jj + 0.12 * ii  # 6.8 fringes across
    rng = np.random.default_rng(1)
    ifg = np.exp(1j * ramp) * (1.0 + 0.1 * rng.standard_normal(ramp.shape))
    coh = np.full(ramp.shape, 0.9, np.float32)
    coh[40:50, 40:60] = 0.05  # an incoherent lake, masked and NaN in the result
    out = unwrap(ifg.astype(np.complex64), coh, nlooks=9.0)
    ok = np.isfinite(out.phase_rad)
    assert not ok[40:50, 40:60].any() and ok.mean() > 0.97
    offset = out.phase_rad[ok] - ramp[ok]
    assert np.ptp(offset) < 1e-3
    assert abs(offset[0] / (2 * np.pi) - round(offset[0] / (2 * np.pi))) < 1e-3
    assert out.n_components == 1


def test_snaphu_wrapper_refuses_bad_input() -> None:
    ifg = np.ones((20, 20), np.complex64)
    with pytest.raises(InputError, match="no pixel has coherence"):
        unwrap(ifg, np.full((20, 20), 0.05), nlooks=4)
    with pytest.raises(InputError, match="same 2-D shape"):
        unwrap(ifg, np.ones((20, 21)), nlooks=4)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        unwrap(ifg, np.full((20, 20), 3.0), nlooks=4)
    with pytest.raises(InputError, match="complex"):
        unwrap(np.ones((20, 20)), np.ones((20, 20)), nlooks=4)


def test_a_pair_too_fragmented_to_unwrap_is_refused_not_retried() -> None:
    """Scattered coherent pixels (15%, none connected to a region of 1% of the image) of
    random phase: SNAPHU keeps no connected component. That is what the pair holds, an
    InputError (the archive quarantines the product), not a ProcessingError retried at
    every poll."""
    rng = np.random.default_rng(1)
    ifg = np.exp(1j * rng.uniform(-np.pi, np.pi, (120, 120))).astype(np.complex64)
    coh = np.where(rng.random((120, 120)) < 0.15, 0.5, 0.0).astype(np.float32)
    with pytest.raises(InputError, match="no pixel of interferogram in a connected component"):
        unwrap(ifg, coh, nlooks=4)


@pytest.fixture(scope="module")
def small_pair():  # type: ignore[no-untyped-def]
    return simulate_pair(np.random.default_rng(22), (96, 96), coherence=0.9)


def test_mismatched_scenes_are_refused(small_pair) -> None:  # type: ignore[no-untyped-def]
    p, s = small_pair.primary, small_pair.secondary
    other_band = dataclasses.replace(s, geometry=dataclasses.replace(s.geometry,
                                                                     wavelength_m=0.0555))
    with pytest.raises(InputError, match="wavelength_m differs"):
        make_differential_interferogram(p, other_band)
    with pytest.raises(InputError, match="polarisations differ"):
        make_differential_interferogram(p, dataclasses.replace(s, polarisation="HV"))
    with pytest.raises(InputError, match="same scene twice"):
        make_differential_interferogram(p, p)
    with pytest.raises(InputError, match="must be complex"):
        make_differential_interferogram(p, dataclasses.replace(s, slc=np.abs(s.slc)))


def test_scenes_that_do_not_overlap_are_refused(small_pair) -> None:  # type: ignore[no-untyped-def]
    s = small_pair.secondary
    g = s.geometry
    elsewhere = dataclasses.replace(s, geometry=dataclasses.replace(
        g, slant_range_first_m=g.slant_range_first_m - 90 * g.range_pixel_spacing_m))
    with pytest.raises(InputError, match="inside the secondary crop"):
        make_differential_interferogram(small_pair.primary, elsewhere)


def test_an_incoherent_pair_is_refused(small_pair) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="no multilooked pixel has coherence above"):
        make_differential_interferogram(small_pair.primary, small_pair.secondary,
                                        coherence_threshold=0.99, unwrap_phase=False)
    noise = simulate_pair(np.random.default_rng(23), (96, 96), coherence=0.0)
    with pytest.raises(InputError, match="windows matched"):
        make_differential_interferogram(noise.primary, noise.secondary)


def test_a_fitted_plane_stands_in_for_the_orbits(small_pair) -> None:  # type: ignore[no-untyped-def]
    result = make_differential_interferogram(small_pair.primary, small_pair.secondary,
                                             looks=LOOKS, flat_earth="plane",
                                             unwrap_phase=False)
    z = multilook(result.radar.ifg / np.maximum(np.abs(result.radar.ifg), 1e-12), (4, 4))
    resid = np.angle(z * np.conj(np.sum(z)))
    # 12 flat-earth fringes over the crop; the plane leaves their curvature only
    assert np.abs(resid).max() / (2 * np.pi) < 0.1
    assert result.radar.plane_rad is not None and np.ptp(result.radar.plane_rad) > 2 * np.pi * 5
    assert np.isnan(result.los_m).all()  # not unwrapped: nothing is invented


def test_an_orbit_error_leaves_a_ramp_that_the_residual_plane_takes_away() -> None:
    # the stored secondary orbit is 10 m off cross-track: a ramp of about 0.2 fringe
    pair = simulate_pair(np.random.default_rng(31), (96, 96), orbit_error_m=(10.0, 0.0))

    def worst_fringe(remove: bool) -> float:
        r = make_differential_interferogram(pair.primary, pair.secondary, looks=LOOKS,
                                            unwrap_phase=False, remove_residual_plane=remove)
        z = multilook(r.radar.ifg / np.maximum(np.abs(r.radar.ifg), 1e-12), (4, 4))
        return float(np.abs(np.angle(z * np.conj(np.sum(z)))).max() / (2 * np.pi))

    assert worst_fringe(False) > 0.07  # measured 0.099
    assert worst_fringe(True) < 0.04  # measured 0.018
