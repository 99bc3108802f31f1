"""Tests for monitor.science.atmosphere: turbulent (exponential covariance), stratified delays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft as sfft

from monitor.errors import InputError
from monitor.science.atmosphere import (
    STRATIFIED_K1_RANGES_M_PER_M,
    StratifiedCoefficients,
    _embedding_sqrt_eigenvalues,
    draw_stratified_coefficients,
    draw_turbulence_parameters,
    empirical_variogram,
    fit_exponential_variogram,
    stratified_delay,
    turbulent_delay,
    zenith_to_los,
)
from monitor.science.dem import synthetic_dem

SHAPE = (256, 256)
PIXEL_M = 100.0
SIGMA_M = 0.003
LENGTH_M = 2000.0
N_DRAWS = 50
MAX_LAG = 60  # 6 km = 3 L


@pytest.fixture(scope="module")
def draws() -> np.ndarray:
    rng = np.random.default_rng(20240601)
    return np.stack(
        [turbulent_delay(SHAPE, PIXEL_M, SIGMA_M, LENGTH_M, rng) for _ in range(N_DRAWS)]
    )


def _mean_variogram(
    fields: np.ndarray, direction: str, max_lag: int
) -> tuple[np.ndarray, np.ndarray]:
    gammas = []
    for f in fields:
        lags, g = empirical_variogram(f, PIXEL_M, max_lag, direction=direction)  # type: ignore[arg-type]
        gammas.append(g)
    return lags, np.mean(gammas, axis=0)


def _model(lags: np.ndarray) -> np.ndarray:
    return SIGMA_M**2 * (1.0 - np.exp(-lags / LENGTH_M))


def test_turbulent_variogram_recovers_sigma_and_length(draws: np.ndarray) -> None:
    lags, gx = _mean_variogram(draws, "x", MAX_LAG)
    _, gy = _mean_variogram(draws, "y", MAX_LAG)
    sigma, length = fit_exponential_variogram(lags, 0.5 * (gx + gy))
    assert sigma == pytest.approx(SIGMA_M, rel=0.10)
    assert length == pytest.approx(LENGTH_M, rel=0.10)


@pytest.mark.parametrize("direction", ["x", "y", "diag", "antidiag"])
def test_turbulent_field_is_isotropic(draws: np.ndarray, direction: str) -> None:
    # Each direction's averaged variogram follows the same model at its own lag lengths
    # (diagonal steps are sqrt(2) pixels), up to 1.5 L.
    max_lag = 30 if direction in ("x", "y") else 21
    lags, g = _mean_variogram(draws, direction, max_lag)
    np.testing.assert_allclose(g, _model(lags), rtol=0.10)


def test_turbulent_field_is_stationary(draws: np.ndarray) -> None:
    # Mean square (true mean is 0) in each quadrant and at the corners matches sigma^2.
    h, w = SHAPE[0] // 2, SHAPE[1] // 2
    quadrants = [draws[:, :h, :w], draws[:, :h, w:], draws[:, h:, :w], draws[:, h:, w:]]
    for q in quadrants:
        assert float(np.mean(q.astype(np.float64) ** 2)) == pytest.approx(SIGMA_M**2, rel=0.15)
    assert abs(float(draws.mean())) < 0.2 * SIGMA_M


def test_turbulent_pointwise_variance_matches_sigma() -> None:
    # Over many draws of a small grid, every pixel (corners included) has variance sigma^2.
    rng = np.random.default_rng(7)
    fields = np.stack([turbulent_delay((24, 24), 500.0, 2.0, 4000.0, rng) for _ in range(2000)])
    var = fields.astype(np.float64).var(axis=0)
    assert float(var.mean()) == pytest.approx(4.0, rel=0.03)
    for corner in (var[0, 0], var[0, -1], var[-1, 0], var[-1, -1]):
        assert float(corner) == pytest.approx(4.0, rel=0.15)
    # Covariance between pixels 3 apart along x and along the diagonal (the exact model).
    cov_x = float(np.mean(fields[:, :, 3:] * fields[:, :, :-3]))
    cov_d = float(np.mean(fields[:, 2:, 2:] * fields[:, :-2, :-2]))
    assert cov_x == pytest.approx(4.0 * math.exp(-1500.0 / 4000.0), rel=0.05)
    assert cov_d == pytest.approx(4.0 * math.exp(-math.hypot(1000.0, 1000.0) / 4000.0), rel=0.05)


@pytest.mark.parametrize(
    ("shape", "pixel_m", "length_m"),
    [((256, 256), 100.0, 2000.0), ((500, 500), 90.0, 18000.0), ((64, 64), 100.0, 18000.0)],
)
def test_embedding_reproduces_covariance(
    shape: tuple[int, int], pixel_m: float, length_m: float
) -> None:
    # The covariance implied by the (clipped) embedding eigenvalues equals exp(-d/L) at
    # every lag inside the grid within the documented tolerance.
    root = _embedding_sqrt_eigenvalues(shape, pixel_m, length_m, 2e-3).astype(np.float64)
    m0, m1 = root.shape
    assert m0 >= 2 * shape[0] and m1 >= 2 * shape[1]
    implied = sfft.ifft2(root**2 * (m0 * m1)).real[: shape[0], : shape[1]]
    iy, ix = np.mgrid[: shape[0], : shape[1]]
    target = np.exp(-pixel_m * np.hypot(iy, ix) / length_m)
    assert float(np.abs(implied - target).max()) <= 2e-3 + 1e-5


def test_turbulent_is_reproducible_and_float32() -> None:
    a = turbulent_delay((50, 70), 100.0, 0.003, 8000.0, np.random.default_rng(1))
    b = turbulent_delay((50, 70), 100.0, 0.003, 8000.0, np.random.default_rng(1))
    c = turbulent_delay((50, 70), 100.0, 0.003, 8000.0, np.random.default_rng(2))
    assert a.shape == (50, 70) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_turbulent_sigma_zero_gives_zeros() -> None:
    out = turbulent_delay((30, 40), 100.0, 0.0, 5000.0, np.random.default_rng(0))
    assert out.shape == (30, 40) and out.dtype == np.float32
    assert not out.any()


@pytest.mark.parametrize(
    ("shape", "pixel_m", "sigma_m", "length_m", "needle"),
    [
        ((0, 10), 100.0, 0.003, 8000.0, "shape"),
        ((10, -2), 100.0, 0.003, 8000.0, "shape"),
        ((10,), 100.0, 0.003, 8000.0, "shape"),
        ((10, 10), 0.0, 0.003, 8000.0, "pixel_m"),
        ((10, 10), float("nan"), 0.003, 8000.0, "pixel_m"),
        ((10, 10), 100.0, -0.001, 8000.0, "sigma_m"),
        ((10, 10), 100.0, float("inf"), 8000.0, "sigma_m"),
        ((10, 10), 100.0, 0.003, 0.0, "length_m"),
        ((10, 10), 100.0, 0.003, -5.0, "length_m"),
        ((16, 16), 100.0, 0.003, 50000.0, "too long"),
    ],
)
def test_turbulent_rejects_bad_inputs(
    shape: tuple[int, int], pixel_m: float, sigma_m: float, length_m: float, needle: str
) -> None:
    with pytest.raises(InputError, match=needle):
        turbulent_delay(shape, pixel_m, sigma_m, length_m, np.random.default_rng(0))


def test_draw_turbulence_parameters_follow_seed_ranges() -> None:
    rng = np.random.default_rng(3)
    params = [draw_turbulence_parameters(rng) for _ in range(2000)]
    s2_mm2 = np.array([(p.sigma_m * 1e3) ** 2 for p in params])
    lengths_km = np.array([p.length_m / 1e3 for p in params])
    assert s2_mm2.min() >= 5.0 and s2_mm2.max() <= 9.0
    assert s2_mm2.mean() == pytest.approx(7.0, abs=0.1)
    assert lengths_km.min() >= 4.0 and lengths_km.max() <= 18.0
    np.testing.assert_allclose(lengths_km * 2, np.round(lengths_km * 2), atol=1e-9)
    assert len(np.unique(lengths_km)) == 29


def test_empirical_variogram_of_a_ramp_is_exact() -> None:
    # f = a * x (x in metres east): gamma_x(k) = 0.5 (a k p)^2, gamma_y = 0, even with NaNs.
    a, p = 0.01, 50.0
    field = np.tile(a * p * np.arange(40, dtype=np.float64), (30, 1))
    field[5, 7] = np.nan
    lags, gx = empirical_variogram(field, p, 10, direction="x")
    np.testing.assert_allclose(lags, p * np.arange(1, 11))
    np.testing.assert_allclose(gx, 0.5 * (a * lags) ** 2, rtol=1e-12)
    _, gy = empirical_variogram(field, p, 10, direction="y")
    np.testing.assert_allclose(gy, 0.0, atol=1e-20)
    lags_d, gd = empirical_variogram(field, p, 10, direction="antidiag")
    np.testing.assert_allclose(lags_d, p * math.sqrt(2) * np.arange(1, 11))
    np.testing.assert_allclose(gd, 0.5 * (a * p * np.arange(1, 11)) ** 2, rtol=1e-12)


def test_empirical_variogram_rejects_bad_lag() -> None:
    with pytest.raises(InputError, match="max_lag_px"):
        empirical_variogram(np.zeros((10, 10)), 100.0, 10)
    with pytest.raises(InputError, match="direction"):
        empirical_variogram(np.zeros((10, 10)), 100.0, 3, direction="z")  # type: ignore[arg-type]


def test_fit_exponential_variogram_on_exact_model() -> None:
    lags = np.linspace(100.0, 20000.0, 50)
    gamma = 4e-5 * (1.0 - np.exp(-lags / 6000.0))
    sigma, length = fit_exponential_variogram(lags, gamma)
    assert sigma == pytest.approx(math.sqrt(4e-5), rel=1e-6)
    assert length == pytest.approx(6000.0, rel=1e-6)


# --------------------------------------------------------------------------- stratified


def test_stratified_delay_recovers_k1_k2_by_least_squares() -> None:
    rng = np.random.default_rng(11)
    dem = synthetic_dem((200, 200), 100.0, "stratovolcano", rng, height_m=3000.0)
    k1, k2 = 2.0e-5, -3.0e-9
    delay = stratified_delay(dem, k1, k2, ref_height_m=0.0)
    h = dem.astype(np.float64).ravel()
    design = np.column_stack([h, h * h])
    (k1_hat, k2_hat), *_ = np.linalg.lstsq(design, delay.astype(np.float64).ravel(), rcond=None)
    assert k1_hat == pytest.approx(k1, rel=1e-4)
    assert k2_hat == pytest.approx(k2, rel=1e-3)


def test_stratified_reference_height_defaults_to_lowest_point() -> None:
    dem = np.array([[100.0, 200.0], [300.0, 1100.0]])
    delay = stratified_delay(dem, 1e-5, 1e-9)
    expected = 1e-5 * (dem - 100.0) + 1e-9 * (dem - 100.0) ** 2
    np.testing.assert_allclose(delay, expected, rtol=1e-6)
    assert delay[0, 0] == 0.0
    assert delay.dtype == np.float32


def test_stratified_keeps_nan_and_only_nan() -> None:
    dem = np.array([[np.nan, 500.0], [1000.0, 0.0]])
    delay = stratified_delay(dem, 1e-5)
    assert np.isnan(delay[0, 0])
    np.testing.assert_allclose(delay[1:, :].ravel(), [1e-2, 0.0], atol=1e-9)
    assert delay[0, 1] == pytest.approx(5e-3)
    with pytest.raises(InputError, match="no finite height"):
        stratified_delay(np.full((3, 3), np.nan), 1e-5)


@pytest.mark.parametrize("strength", ["weak", "strong"])
def test_draw_stratified_coefficients_ranges(strength: str) -> None:
    rng = np.random.default_rng(5)
    lo, hi = STRATIFIED_K1_RANGES_M_PER_M[strength]
    dem = np.linspace(0.0, 3000.0, 31)[None, :]
    signs = set()
    for _ in range(500):
        c = draw_stratified_coefficients(rng, strength)  # type: ignore[arg-type]
        assert isinstance(c, StratifiedCoefficients) and c.strength == strength
        assert lo <= abs(c.k1_m_per_m) <= hi
        signs.add(math.copysign(1.0, c.k1_m_per_m))
        # Curvature opposes the slope and keeps the delay monotonic over 3 km of relief.
        assert c.k2_m_per_m2 * c.k1_m_per_m <= 0
        assert abs(c.k2_m_per_m2) <= 0.5 * abs(c.k1_m_per_m) / (2 * 1500.0) + 1e-18
        d = np.abs(c.delay(dem, ref_height_m=0.0)[0])
        assert np.all(np.diff(d) >= -1e-9)
        if strength == "strong":
            assert 0.015 - 1e-6 <= d[-1] <= 0.09
        else:
            assert d[-1] <= 0.018
    assert signs == {-1.0, 1.0}


def test_draw_stratified_coefficients_rejects_bad_strength() -> None:
    with pytest.raises(InputError, match="strength"):
        draw_stratified_coefficients(np.random.default_rng(0), "medium")  # type: ignore[arg-type]


def test_zenith_to_los() -> None:
    out = zenith_to_los(np.array([[0.01, -0.02]]), math.radians(60.0))
    np.testing.assert_allclose(out, [[0.02, -0.04]], rtol=1e-6)
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        zenith_to_los(np.ones(2), np.array([0.0, 0.5])), [1.0, 1 / math.cos(0.5)], rtol=1e-6
    )
    with pytest.raises(InputError, match="incidence_rad"):
        zenith_to_los(np.ones(2), math.pi / 2)
