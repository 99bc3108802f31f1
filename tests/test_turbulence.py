"""Tests for monitor.science.turbulence: power-law spectra, anisotropy, modulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.turbulence import (
    HANSSEN_REGIMES,
    KOLMOGOROV_BETA,
    powerlaw_delay,
    powerlaw_spectrum,
    structure_function,
)

SHAPE = (256, 256)
PIXEL_M = 100.0
SIGMA_M = 0.01
LAGS = [4, 8, 16]


def _slope(beta: float, n: int = 12, seed: int = 5) -> float:
    rng = np.random.default_rng(seed)
    d = np.mean([structure_function(powerlaw_delay(SHAPE, PIXEL_M, SIGMA_M, rng, beta=beta),
                                    PIXEL_M, LAGS)[1] for _ in range(n)], axis=0)
    return float(np.polyfit(np.log(LAGS), np.log(d), 1)[0])


def test_kolmogorov_structure_function_grows_as_r_to_two_thirds() -> None:
    # D(r) ~ r^(beta - 2) for a 2-D spectrum k^-beta: 2/3 for beta = 8/3.
    assert _slope(KOLMOGOROV_BETA) == pytest.approx(2.0 / 3.0, abs=0.12)


def test_steeper_spectrum_gives_steeper_structure_function() -> None:
    # beta = 11/3 (3-D Kolmogorov below the layer thickness): D ~ r^(5/3).
    assert _slope(11.0 / 3.0) == pytest.approx(5.0 / 3.0, abs=0.2)


def test_spectrum_slope_of_the_drawn_field_matches_beta() -> None:
    rng = np.random.default_rng(11)
    power = np.zeros((SHAPE[0], SHAPE[1] // 2 + 1))
    for _ in range(10):
        f = powerlaw_delay(SHAPE, PIXEL_M, SIGMA_M, rng, beta=KOLMOGOROV_BETA, pad=4.0)
        power += np.abs(np.fft.rfft2(f * np.outer(np.hanning(SHAPE[0]), np.hanning(SHAPE[1])))) ** 2
    ky = np.fft.fftfreq(SHAPE[0])[:, None]
    kx = np.fft.rfftfreq(SHAPE[1])[None, :]
    k = np.hypot(ky, kx)
    band = (k > 0.02) & (k < 0.2)
    slope = np.polyfit(np.log(k[band]), np.log(power[band]), 1)[0]
    assert -slope == pytest.approx(KOLMOGOROV_BETA, abs=0.25)


def test_std_over_the_grid_is_exactly_sigma_and_mean_zero() -> None:
    f = powerlaw_delay((100, 150), 90.0, 0.007, np.random.default_rng(1))
    assert f.dtype == np.float32 and f.shape == (100, 150)
    assert float(f.std()) == pytest.approx(0.007, rel=1e-4)
    assert abs(float(f.mean())) < 1e-6


def test_same_seed_same_field_other_seed_other_field() -> None:
    kwargs = {"axis_ratio": 2.0, "angle_deg": 30.0, "amplitude_variation": 0.5}
    a = powerlaw_delay((64, 64), 100.0, 0.01, np.random.default_rng(3), **kwargs)
    b = powerlaw_delay((64, 64), 100.0, 0.01, np.random.default_rng(3), **kwargs)
    c = powerlaw_delay((64, 64), 100.0, 0.01, np.random.default_rng(4), **kwargs)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_anisotropy_elongates_structures_along_the_angle() -> None:
    rng = np.random.default_rng(8)
    gx, gy = [], []
    for _ in range(8):
        f = powerlaw_delay(SHAPE, PIXEL_M, SIGMA_M, rng, axis_ratio=4.0, angle_deg=0.0)
        gx.append(np.mean(np.square(f[:, 8:] - f[:, :-8])))
        gy.append(np.mean(np.square(f[8:, :] - f[:-8, :])))
    # Elongated east-west: smoother along rows (x) than along columns (y).
    assert np.mean(gx) < 0.5 * np.mean(gy)
    rng = np.random.default_rng(8)
    gx, gy = [], []
    for _ in range(8):
        f = powerlaw_delay(SHAPE, PIXEL_M, SIGMA_M, rng, axis_ratio=4.0, angle_deg=90.0)
        gx.append(np.mean(np.square(f[:, 8:] - f[:, :-8])))
        gy.append(np.mean(np.square(f[8:, :] - f[:-8, :])))
    assert np.mean(gy) < 0.5 * np.mean(gx)


def test_amplitude_variation_makes_the_local_spread_uneven() -> None:
    def block_std_spread(variation: float) -> float:
        rng = np.random.default_rng(21)
        ratios = []
        for _ in range(6):
            f = powerlaw_delay(SHAPE, PIXEL_M, SIGMA_M, rng, beta=3.5,
                               amplitude_variation=variation, modulation_length_m=3000.0)
            d = np.diff(f, axis=1)  # local roughness, insensitive to the long wavelengths
            blocks = d[:, :248].reshape(8, 32, 8, 31).std(axis=(1, 3))
            ratios.append(float(blocks.max() / blocks.min()))
        return float(np.median(ratios))

    assert block_std_spread(0.8) > 1.8 * block_std_spread(0.0)


def test_spectrum_is_flat_beyond_the_outer_scale_and_continuous_at_the_walls() -> None:
    k = np.array([1e-6, 1e-5, 1.0 / 50_000])
    p = powerlaw_spectrum(k, outer_scale_m=50_000.0)
    np.testing.assert_allclose(p, 1.0)
    walls = np.array([1.0 / 1500.0, 1.0 / 250.0])
    below = powerlaw_spectrum(walls * (1 - 1e-9), HANSSEN_REGIMES)
    above = powerlaw_spectrum(walls * (1 + 1e-9), HANSSEN_REGIMES)
    np.testing.assert_allclose(below, above, rtol=1e-6)
    # Local slopes: 8/3 above 1.5 km, 11/3 between 0.25 and 1.5 km, 5/3 below.
    for lo, hi, beta in ((1 / 20e3, 1 / 3e3, 8 / 3), (1 / 1.2e3, 1 / 400, 11 / 3),
                         (1 / 200, 1 / 50, 5 / 3)):
        slope = math.log(powerlaw_spectrum(np.array([hi]), HANSSEN_REGIMES)[0]
                         / powerlaw_spectrum(np.array([lo]), HANSSEN_REGIMES)[0]) \
            / math.log(hi / lo)
        assert -slope == pytest.approx(beta, rel=1e-9)


def test_hanssen_regimes_draw() -> None:
    f = powerlaw_delay((64, 64), 100.0, 0.01, np.random.default_rng(0),
                       regimes=HANSSEN_REGIMES)
    assert np.isfinite(f).all() and float(f.std()) == pytest.approx(0.01, rel=1e-4)


def test_zero_sigma_gives_zeros() -> None:
    assert not powerlaw_delay((8, 8), 100.0, 0.0, np.random.default_rng(0)).any()


@pytest.mark.parametrize("kwargs, match", [
    ({"sigma_m": -1.0}, "sigma_m"),
    ({"axis_ratio": 0.5}, "axis_ratio"),
    ({"amplitude_variation": -0.1}, "amplitude_variation"),
    ({"pad": 1.0}, "pad"),
    ({"outer_scale_m": 0.0}, "outer_scale_m"),
    ({"regimes": ((1000.0, 2.0), (2000.0, 3.0), (0.0, 1.0))}, "decreasing"),
    ({"regimes": ((0.0, 9.0),)}, "beta"),
    ({"pixel_m": -1.0}, "pixel_m"),
])
def test_bad_inputs_are_refused_by_name(kwargs: dict, match: str) -> None:
    args = {"shape": (16, 16), "pixel_m": 100.0, "sigma_m": 0.01,
            "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        powerlaw_delay(**args)


def test_structure_function_checks_lags_and_ignores_nan() -> None:
    f = np.arange(100, dtype=float).reshape(10, 10)
    f[0, 0] = np.nan
    lags, d = structure_function(f, 10.0, [1])
    assert lags[0] == 10.0 and np.isfinite(d).all()
    with pytest.raises(InputError, match="lags_px"):
        structure_function(f, 10.0, [10])
