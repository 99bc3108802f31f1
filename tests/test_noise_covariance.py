"""The frame's noise correlation: block means, the masked FFT estimate on fields of known
covariance (isotropic and elongated), the shrinkage of a short past towards the fitted
exponential, per-map scale, the matrices, and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.atmosphere import turbulent_delay
from monitor.science.noise_covariance import (
    MAX_BLOCKS,
    PRIOR_MAPS,
    block_factor,
    block_mean,
    estimate_correlation,
    fit_exponential,
)
from monitor.science.turbulence import powerlaw_delay

SHAPE = (60, 60)
PIXEL = 200.0


def _exponential(n: int, length_m: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [turbulent_delay(SHAPE, PIXEL, 0.01, length_m, rng) for _ in range(n)]


def test_block_mean_ignores_nan_and_needs_half_the_block() -> None:
    x = np.arange(20, dtype=float).reshape(4, 5)
    x[0, 0] = np.nan
    x[2:4, 2] = np.nan
    x[3, 3] = np.nan
    b = block_mean(x, 2)
    assert b.shape == (2, 2)  # the fifth column is past the last whole block
    assert b[0, 0] == pytest.approx((1 + 5 + 6) / 3)
    assert b[0, 1] == pytest.approx((2 + 3 + 7 + 8) / 4)
    assert b[1, 0] == pytest.approx((10 + 11 + 15 + 16) / 4)
    assert math.isnan(b[1, 1])  # one valid pixel of four: less than half the block
    assert block_mean(x, 2, min_fraction=0.25)[1, 1] == pytest.approx(13.0)


def test_exponential_turbulence_is_recovered() -> None:
    corr = estimate_correlation(_exponential(40, 2000.0, 1), 2)
    assert corr.shape == (30, 30) and corr.n_maps == 40 and corr.factor == 2
    east = [corr.at(0, k) for k in (1, 2, 4, 8)]
    north = [corr.at(k, 0) for k in (1, 2, 4, 8)]
    assert east == sorted(east, reverse=True) and north == sorted(north, reverse=True)
    # 400 m blocks, L = 2 km: exp(-0.2) = 0.82 at one block (block means correlate a little
    # more, the mean removed over 12 km a little less)
    assert corr.at(0, 1) == pytest.approx(math.exp(-0.2), abs=0.08)
    assert corr.at(1, 0) == pytest.approx(math.exp(-0.2), abs=0.08)
    white = estimate_correlation([np.random.default_rng(s).normal(size=SHAPE)
                                  for s in range(10)], 2)
    assert abs(white.at(0, 1)) < 0.05 and abs(white.at(1, 0)) < 0.05


def test_elongated_turbulence_gives_an_anisotropic_estimate() -> None:
    rng = np.random.default_rng(2)
    maps = [powerlaw_delay(SHAPE, PIXEL, 0.01, rng, axis_ratio=3.0, angle_deg=0.0)
            for _ in range(30)]
    raw = estimate_correlation(maps, 2, prior_maps=0)
    assert raw.at(0, 3) > raw.at(3, 0) + 0.15  # structures elongated east-west
    # the isotropic prior weighs 10 maps against the 30: the anisotropy is kept, a quarter less
    shrunk = estimate_correlation(maps, 2)
    assert shrunk.prior_weight == pytest.approx(0.25)
    assert shrunk.at(0, 3) - shrunk.at(3, 0) == pytest.approx(
        0.75 * (raw.at(0, 3) - raw.at(3, 0)), abs=0.05)


def test_a_short_past_is_shrunk_towards_the_fitted_exponential() -> None:
    reference = estimate_correlation(_exponential(300, 2000.0, 11), 2, prior_maps=0)
    errors: dict[str, list[float]] = {"raw": [], "shrunk": []}
    for seed in (12, 13, 14):
        few = _exponential(20, 2000.0, seed)
        raw = estimate_correlation(few, 2, prior_maps=0)
        shrunk = estimate_correlation(few, 2)
        assert raw.prior_weight == 0 and math.isnan(raw.length_blocks)
        assert shrunk.prior_weight == pytest.approx(PRIOR_MAPS / (PRIOR_MAPS + 20))
        # 400 m blocks, L = 2 km: 5 blocks, less the mean each map loses over 12 km
        assert 2.5 < shrunk.length_blocks < 6.0
        for name, corr in (("raw", raw), ("shrunk", shrunk)):
            errors[name].append(float(np.linalg.norm(corr.matrix_full
                                                     - reference.matrix_full)))
    # 20 maps estimate the long lags poorly; the one-parameter fit does not
    assert all(s < r for s, r in zip(errors["shrunk"], errors["raw"], strict=True))
    assert np.mean(errors["shrunk"]) < 0.92 * np.mean(errors["raw"])


def test_one_map_gives_its_own_exponential() -> None:
    one = _exponential(1, 2000.0, 21)[0]
    own = estimate_correlation([one], 2, prior_maps=math.inf)
    raw = estimate_correlation([one], 2, prior_maps=0)
    assert own.prior_weight == 1.0 and own.n_maps == 1
    assert own.length_blocks == pytest.approx(fit_exponential(raw.lags, raw.shape))
    lags = np.hypot(*np.meshgrid(np.arange(3), np.arange(3), indexing="ij"))
    np.testing.assert_allclose([[own.at(i, j) for j in range(3)] for i in range(3)],
                               np.exp(-lags / own.length_blocks))
    np.linalg.cholesky(own.matrix_full)


def test_each_map_brings_its_own_scale() -> None:
    maps = _exponential(12, 2000.0, 3)
    stormy = [m * (10.0 if i % 2 else 1.0) for i, m in enumerate(maps)]
    a, b = estimate_correlation(maps, 2), estimate_correlation(stormy, 2)
    np.testing.assert_allclose(a.lags, b.lags, atol=1e-6)


def test_holes_and_the_matrices() -> None:
    maps = _exponential(12, 2000.0, 4)
    for m in maps:
        m[5:25, 10:40] = np.nan  # the same incoherent patch on every date
    corr = estimate_correlation(maps, 2)
    full = corr.matrix_full
    np.testing.assert_allclose(np.diag(full), 1.0)
    np.testing.assert_allclose(full, full.T)
    np.linalg.cholesky(full)
    valid = np.isfinite(block_mean(maps[0], 2))
    sub = corr.matrix(valid)
    assert sub.shape == (valid.sum(), valid.sum())
    np.linalg.cholesky(sub)
    with pytest.raises(InputError, match="block grid"):
        corr.matrix(np.ones((3, 3), bool))


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="no quiet map"):
        estimate_correlation([], 2)
    with pytest.raises(InputError, match="prior_maps"):
        estimate_correlation([np.zeros((20, 20))], 2, prior_maps=-1)
    with pytest.raises(InputError, match="prior_maps"):
        estimate_correlation([np.zeros((20, 20))], 2, prior_maps=math.nan)
    with pytest.raises(InputError, match="differ in shape"):
        estimate_correlation([np.zeros((20, 20)), np.zeros((20, 21))], 2)
    with pytest.raises(InputError, match="use larger blocks"):
        estimate_correlation([np.zeros((200, 200))], 1)
    with pytest.raises(InputError, match="valid blocks"):
        estimate_correlation([np.full((20, 20), np.nan), np.zeros((20, 20))], 2)
    with pytest.raises(InputError, match="2-D"):
        block_mean(np.zeros(5), 2)
    with pytest.raises(InputError, match="at least 1"):
        block_mean(np.zeros((4, 4)), 0)
    with pytest.raises(InputError, match="smaller than one block"):
        block_mean(np.zeros((4, 4)), 5)
    with pytest.raises(InputError, match="positive"):
        block_factor((100.0, 0.0), 650.0)


def test_block_factor_keeps_the_matrix_small() -> None:
    assert block_factor((108.0, 111.0), 650.0) == 6
    assert block_factor((108.0, 111.0), 650.0, (181, 185)) == 6
    big = block_factor((100.0, 100.0), 200.0, (1000, 1000))
    assert (1000 // big) ** 2 <= MAX_BLOCKS and (1000 // (big - 1)) ** 2 > MAX_BLOCKS
