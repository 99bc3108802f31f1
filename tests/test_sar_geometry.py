"""Orbit interpolation, range-Doppler geolocation, lon/lat polynomials and the simulator's
geometry (monitor/science/sar/{ellipsoid,orbit,geolocation,polynomial,simulate}.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.sar.ellipsoid import ecef_to_geodetic, enu_basis, geodetic_to_ecef
from monitor.science.sar.geolocation import geolocate, radar_coordinates
from monitor.science.sar.orbit import Orbit, zero_doppler_time
from monitor.science.sar.polynomial import evaluate
from monitor.science.sar.scene import StateVectors
from monitor.science.sar.simulate import _Kepler, simulate_pair


@pytest.fixture(scope="module")
def sim():  # type: ignore[no-untyped-def]
    return simulate_pair(np.random.default_rng(7), (64, 80), cone_height_m=600.0,
                         perpendicular_baseline_m=250.0)


def test_geodetic_round_trip_to_a_tenth_of_a_millimetre() -> None:
    lon = np.array([120.99, -70.0, 14.14, 0.0])
    lat = np.array([14.0, -33.4, 40.83, 89.0])
    h = np.array([943.0, -50.0, 0.0, 628e3])
    lon2, lat2, h2 = ecef_to_geodetic(geodetic_to_ecef(lon, lat, h))
    assert np.allclose(h2, h, atol=1e-4)
    assert np.allclose(lat2, lat, atol=1e-9) and np.allclose(lon2, lon, atol=1e-9)
    basis = enu_basis(lon, lat)
    assert np.allclose(np.einsum("nij,nkj->nik", basis, basis), np.eye(3), atol=1e-12)


def test_hermite_orbit_reproduces_a_keplerian_orbit_to_a_millimetre() -> None:
    k = _Kepler(6378137.0 + 628e3, np.deg2rad(97.9), 0.3, 0.2)
    t = np.arange(15) * 60.0 - 420.0
    pos, vel = k.state(t)
    orbit = Orbit(StateVectors(datetime(2020, 1, 1, tzinfo=UTC), 60.0, pos, vel))
    tq = np.linspace(-400.0, 400.0, 97)
    p_true, v_true = k.state(tq)
    state = orbit.state(tq + 420.0)
    assert np.abs(state[0] - p_true).max() < 1e-3  # metres
    assert np.abs(state[1] - v_true).max() < 1e-5  # metres per second
    with pytest.raises(InputError, match="does not cover"):
        orbit.state(np.array([2000.0]))


def test_range_doppler_round_trip_and_height(sim) -> None:  # type: ignore[no-untyped-def]
    scene = sim.primary
    orbit = Orbit(scene.geometry.orbit)
    lines = np.array([0.0, 10.5, 63.0, -5.0])
    pixels = np.array([0.0, 40.25, 79.0, 90.0])
    for h in (0.0, 1234.5):
        xyz = geolocate(scene, orbit, lines, pixels, height_m=h)
        assert np.allclose(ecef_to_geodetic(xyz)[2], h, atol=1e-3)
        l2, p2 = radar_coordinates(scene, orbit, xyz)
        assert np.allclose(l2, lines, atol=1e-4) and np.allclose(p2, pixels, atol=1e-4)
    # zero Doppler: the ground point is perpendicular to the velocity at its time
    t = zero_doppler_time(orbit, xyz, 0.0)
    s, v, _ = orbit.state(t)
    cosines = np.einsum("ni,ni->n", xyz - s, v) / np.linalg.norm(xyz - s, axis=1) \
        / np.linalg.norm(v, axis=1)
    assert np.abs(cosines).max() < 1e-9


def test_geolocation_on_the_dem_lands_on_the_terrain(sim) -> None:  # type: ignore[no-untyped-def]
    orbit = Orbit(sim.primary.geometry.orbit)
    xyz = geolocate(sim.primary, orbit, np.array([32.0, 5.0]), np.array([40.0, 70.0]), sim.dem)
    lon, lat, h = ecef_to_geodetic(xyz)
    assert np.allclose(h, sim.dem.sample(lon, lat), atol=0.05)
    assert h[0] > 100.0  # the cone's flank, not the ellipsoid


def test_simulated_geometry_is_alos2_like(sim) -> None:  # type: ignore[no-untyped-def]
    g = sim.primary.geometry
    orbit = Orbit(g.orbit)
    centre = geolocate(sim.primary, orbit, 31.5, 39.5, sim.dem)
    s = orbit.position(orbit.seconds(g.first_line_time) + (sim.primary.line0 + 31.5)
                       * g.line_interval_s)
    up = enu_basis(*ecef_to_geodetic(centre)[:2])[2]
    los = (s - centre) / np.linalg.norm(s - centre)
    assert np.rad2deg(np.arccos(los @ up)) == pytest.approx(35.0, abs=0.2)
    altitude = ecef_to_geodetic(s)[2]
    assert 600e3 < altitude < 660e3
    assert 700e3 < np.linalg.norm(s - centre) < 800e3
    # right-looking ascending over the Philippines: the radar looks east
    east = enu_basis(*ecef_to_geodetic(centre)[:2])[0]
    assert -los @ east > 0.5
    # the lon/lat polynomials agree with the orbit geolocation on the ellipsoid
    lines = np.array([0.0, 50.0, 100.0]) + 3.0
    pixels = np.array([5.0, 60.0, 120.0])
    xyz = geolocate(sim.primary, orbit, lines - sim.primary.line0, pixels - sim.primary.pixel0)
    lon, lat, _ = ecef_to_geodetic(xyz)
    plon, plat = evaluate(g.pixel_to_lonlat, lines, pixels)
    assert np.abs(plon - lon).max() < 1e-6 and np.abs(plat - lat).max() < 1e-6
    ppix, pline = evaluate(g.lonlat_to_pixel, lat, lon)
    assert np.abs(pline - lines).max() < 0.01 and np.abs(ppix - pixels).max() < 0.01


def test_simulator_refuses_bad_parameters() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="coherence"):
        simulate_pair(rng, (32, 32), coherence=1.5)
    with pytest.raises(InputError, match="margin"):
        simulate_pair(rng, (32, 32), offset_px=(30.0, 0.0), margin=10)
    with pytest.raises(InputError, match="look_side"):
        simulate_pair(rng, (32, 32), look_side="up")
