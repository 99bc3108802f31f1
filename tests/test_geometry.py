from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.geometry import (
    ALOS2,
    SENTINEL1,
    Sensor,
    displacement_to_phase,
    fringe_count,
    los_unit_vector,
    phase_to_displacement,
    project_to_los,
    rewrap,
    rewrap_phase,
    sensor_by_name,
    wrap,
)


def test_wavelengths() -> None:
    assert SENTINEL1.wavelength_m == pytest.approx(0.05546576)
    assert ALOS2.wavelength_m == pytest.approx(0.2384, rel=1e-3)
    assert sensor_by_name("ALOS2") is ALOS2
    with pytest.raises(InputError, match="unknown sensor 'ers'"):
        sensor_by_name("ers")
    with pytest.raises(InputError, match="wavelength_m"):
        Sensor("x", -1.0)


def test_los_vector_is_unit_and_points_to_satellite() -> None:
    # Ascending Sentinel-1 (heading ~ -10 deg) looks east: the satellite is to the west.
    e, n, u = los_unit_vector(39.0, -10.0)
    assert math.isclose(e * e + n * n + u * u, 1.0)
    assert e < -0.6 and u == pytest.approx(math.cos(math.radians(39)))
    # Descending (heading ~ 190 deg) looks west: the satellite is to the east.
    e, _, _ = los_unit_vector(39.0, 190.0)
    assert e > 0.6
    with pytest.raises(InputError, match="incidence_deg"):
        los_unit_vector(95.0, 0.0)


def test_projection() -> None:
    up = np.ones((3, 3))
    zero = np.zeros((3, 3))
    los = project_to_los(zero, zero, up, 30.0, 0.0)
    np.testing.assert_allclose(los, math.cos(math.radians(30)), rtol=1e-6)
    # Vertical incidence sees only the vertical.
    np.testing.assert_allclose(project_to_los(up, up, zero, 0.0, 77.0), 0.0, atol=1e-7)


def test_phase_metres_round_trip_and_sign() -> None:
    d = np.array([0.01, -0.02, 0.0277])
    ph = displacement_to_phase(d, SENTINEL1)
    # Motion towards the satellite shortens the range: negative phase for LiCSAR's sign.
    assert ph[0] < 0
    np.testing.assert_allclose(phase_to_displacement(ph, SENTINEL1), d, rtol=1e-6)
    # One full cycle of 2 pi is half a wavelength of LOS motion.
    assert abs(phase_to_displacement(2 * np.pi, SENTINEL1)) == pytest.approx(0.02773288)
    assert abs(phase_to_displacement(2 * np.pi, ALOS2)) == pytest.approx(0.1192, rel=1e-3)


def test_wrap_range_and_nan() -> None:
    x = np.linspace(-20, 20, 1001)
    w = wrap(x)
    assert w.min() >= -np.pi and w.max() < np.pi
    np.testing.assert_allclose(np.exp(1j * w), np.exp(1j * x), atol=1e-12)
    assert np.isnan(wrap(np.array([np.nan]))[0])


def test_rewrap_gain_one_equals_wrap(rng: np.random.Generator) -> None:
    d = rng.normal(scale=0.05, size=(20, 20))
    F = 0.028
    np.testing.assert_allclose(rewrap(d, 1, 0.0, F), wrap(2 * np.pi * d / F), atol=1e-5)


def test_fringe_count_scales_with_gain() -> None:
    # A 7 cm bowl: 2.5 fringes at mu = 1, counted by the wrap discontinuities along a profile.
    x = np.linspace(-1, 1, 4001)
    d = 0.07 * np.exp(-(x**2) / 0.1)
    for mu in (1, 2, 4, 8):
        psi = rewrap(d, mu)
        jumps = int(np.sum(np.abs(np.diff(psi)) > np.pi))
        assert jumps == pytest.approx(2 * fringe_count(d, mu), abs=2)
        assert fringe_count(d, mu) == pytest.approx(mu * 0.07 / 0.028, rel=1e-3)


def test_rewrap_offset_and_nan() -> None:
    d = np.array([0.0, np.nan])
    out = rewrap(d, 1, np.pi / 2)
    assert out[0] == pytest.approx(np.pi / 2) and np.isnan(out[1])
    with pytest.raises(InputError, match="gain"):
        rewrap(d, 0)
    with pytest.raises(InputError, match="fringe_spacing_m"):
        rewrap(d, 1, 0, -0.028)


def test_integer_rewrap_of_wrapped_phase_is_exact(rng: np.random.Generator) -> None:
    phi = rng.uniform(-30, 30, size=1000)
    for mu in (1, 2, 3, 8):
        a = rewrap_phase(wrap(phi), mu)
        b = wrap(mu * phi)
        np.testing.assert_allclose(np.angle(np.exp(1j * (a - b))), 0, atol=1e-4)
    with pytest.raises(InputError, match="integer"):
        rewrap_phase(phi, 1.5)
