"""Tests for monitor.science.decorrelation: coherence maps, incoherent patches, masking, noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import logit
from scipy.stats import norm

from monitor.errors import InputError
from monitor.science.decorrelation import (
    _logit_offset,
    apply_decorrelation,
    coherence_map,
    incoherent_patches,
    phase_noise_std,
    smooth_gaussian_field,
)
from monitor.science.geometry import SENTINEL1_WAVELENGTH_M


def test_coherence_map_range_dtype_and_reproducibility() -> None:
    a = coherence_map((80, 90), 100.0, np.random.default_rng(3), n_patches=3)
    b = coherence_map((80, 90), 100.0, np.random.default_rng(3), n_patches=3)
    assert a.shape == (80, 90) and a.dtype == np.float32
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("mean", "spread"), [(0.3, 1.5), (0.45, 1.0), (0.7, 0.5)])
def test_coherence_map_mean_matches_request(mean: float, spread: float) -> None:
    rng = np.random.default_rng(8)
    maps = np.stack(
        [
            coherence_map((128, 128), 100.0, rng, mean=mean, spread=spread, length_m=400.0)
            for _ in range(30)
        ]
    )
    assert float(maps.mean()) == pytest.approx(mean, abs=0.015)


def test_masked_fraction_follows_the_threshold_relation() -> None:
    # logit(g) is normal with mean a and sd spread, so P(g <= t) = Phi((logit t - a) / spread).
    mean, spread, threshold = 0.3, 1.5, 0.1
    expected = norm.cdf((logit(threshold) - _logit_offset(mean, spread)) / spread)
    rng = np.random.default_rng(12)
    fractions = []
    for _ in range(30):
        coh = coherence_map((128, 128), 100.0, rng, mean=mean, spread=spread, length_m=400.0)
        out = apply_decorrelation(np.ones_like(coh), coh, threshold, noise=False)
        masked = np.isnan(out)
        assert np.array_equal(masked, coh <= threshold)  # exactly the thresholded pixels
        fractions.append(masked.mean())
    assert float(np.mean(fractions)) == pytest.approx(expected, abs=0.01)
    assert 0.05 < expected < 0.3


def test_smooth_field_has_unit_variance_and_gaussian_correlation() -> None:
    rng = np.random.default_rng(2)
    sigma_px = 4.0
    fields = np.stack([smooth_gaussian_field((64, 64), sigma_px, rng) for _ in range(200)]).astype(
        np.float64
    )
    assert float(np.mean(fields**2)) == pytest.approx(1.0, rel=0.05)
    lag = 6
    corr = float(np.mean(fields[:, :, lag:] * fields[:, :, :-lag]))
    assert corr == pytest.approx(math.exp(-(lag**2) / (4 * sigma_px**2)), abs=0.05)
    # The padding keeps opposite edges independent (no periodic wrap-around).
    assert abs(float(np.mean(fields[:, :, 0] * fields[:, :, -1]))) < 0.05


def test_incoherent_patches_area_and_count() -> None:
    rng = np.random.default_rng(4)
    areas = [
        incoherent_patches((400, 400), rng, 1, (12.0, 12.0), irregularity=0.0).sum()
        for _ in range(30)
    ]
    circle = math.pi * 12.0**2
    assert max(areas) == pytest.approx(circle, rel=0.05)  # uncut circles have the disc's area
    assert all(a <= 1.05 * circle for a in areas)
    assert not incoherent_patches((50, 50), rng, 0).any()
    many = incoherent_patches((300, 300), rng, 20, (5.0, 20.0))
    assert 0.02 < many.mean() < 0.5


def test_coherence_patches_and_water_are_incoherent() -> None:
    rng = np.random.default_rng(6)
    dem = np.full((100, 100), 200.0)
    dem[:, :30] = 0.0  # sea
    dem[50, 50] = np.nan
    coh = coherence_map((100, 100), 100.0, rng, mean=0.8, spread=0.3, dem_m=dem)
    assert float(coh[:, :30].max()) < 0.1 and float(coh[50, 50]) < 0.1
    land = np.ones((100, 100), dtype=bool)
    land[:, :35] = False
    land[49:52, 49:52] = False  # the NaN pixel and its neighbours' NaN gradients
    assert float(coh[land].min()) > 0.3
    patchy = coherence_map(
        (200, 200),
        100.0,
        np.random.default_rng(7),
        mean=0.8,
        spread=0.3,
        n_patches=4,
        patch_radius_m=(500.0, 1500.0),
    )
    low = patchy < 0.1
    n_blobs = ndimage.label(low)[1]
    assert 1 <= n_blobs <= 4  # the patches, and nothing else, are incoherent
    assert 0.005 < low.mean() < 0.3
    assert float(patchy[~low].min()) > 0.3


def test_slopes_lower_coherence() -> None:
    yy, xx = np.mgrid[0:100, 0:100]
    dem = np.where(xx < 50, 100.0, 100.0 + 60.0 * (xx - 50))  # flat west, 0.6 slope east
    flat = steep = 0.0
    for seed in range(10):
        coh = coherence_map((100, 100), 100.0, np.random.default_rng(seed), mean=0.6, dem_m=dem)
        flat += float(coh[:, 5:45].mean())
        steep += float(coh[:, 55:95].mean())
    assert steep < flat - 0.1 * 10


@pytest.mark.parametrize(("g", "looks"), [(0.5, 20), (0.9, 4), (0.2, 50)])
def test_phase_noise_std_follows_cramer_rao(g: float, looks: int) -> None:
    rng = np.random.default_rng(9)
    coh = np.full((400, 400), g, dtype=np.float32)
    out = apply_decorrelation(np.zeros_like(coh), coh, rng=rng, n_looks=looks, units_per_rad=1.0)
    expected = math.sqrt(1 - g * g) / (g * math.sqrt(2 * looks))
    assert float(out.std()) == pytest.approx(expected, rel=0.01)
    assert float(out.mean()) == pytest.approx(0.0, abs=0.01 * expected)
    np.testing.assert_allclose(phase_noise_std(coh[:1, :1], looks), expected, rtol=1e-6)


def test_noise_in_metres_uses_units_per_rad() -> None:
    rng = np.random.default_rng(10)
    coh = np.full((300, 300), 0.5, dtype=np.float32)
    m_per_rad = SENTINEL1_WAVELENGTH_M / (4 * math.pi)
    out = apply_decorrelation(np.zeros_like(coh), coh, rng=rng, units_per_rad=m_per_rad)
    expected = math.sqrt(0.75) / (0.5 * math.sqrt(2 * 20)) * m_per_rad
    assert float(out.std()) == pytest.approx(expected, rel=0.02)


def test_nan_never_becomes_zero() -> None:
    rng = np.random.default_rng(11)
    values = np.full((50, 50), 0.02, dtype=np.float32)
    values[5, 5] = np.nan
    coh = np.full((50, 50), 0.6, dtype=np.float32)
    coh[10:20, 10:20] = 0.05
    coh[30, 30] = np.nan
    coh[40, 40] = 0.1  # exactly the threshold: masked
    for noise in (False, True):
        out = apply_decorrelation(values, coh, 0.1, rng=rng, noise=noise, units_per_rad=0.0044)
        assert np.isnan(out[5, 5]) and np.isnan(out[30, 30]) and np.isnan(out[40, 40])
        assert np.isnan(out[10:20, 10:20]).all()
        assert np.isnan(out).sum() == 100 + 3
        assert not (out == 0).any()
    assert np.isnan(values[5, 5]) and values[10, 10] == np.float32(0.02)  # input untouched


def test_phase_noise_std_edges() -> None:
    assert float(phase_noise_std(np.array(1.0))) == 0.0
    assert math.isinf(float(phase_noise_std(np.array(0.0))))
    with pytest.raises(InputError, match="n_looks"):
        phase_noise_std(np.array(0.5), n_looks=0)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"rng": None}, "needs rng"),
        ({"units_per_rad": None}, "units_per_rad"),
        ({"threshold": 1.5}, "threshold"),
        ({"coherence": np.ones((3, 4))}, "shape"),
    ],
)
def test_apply_decorrelation_errors(kwargs: dict[str, object], needle: str) -> None:
    args: dict[str, object] = {
        "values": np.zeros((4, 4)),
        "coherence": np.ones((4, 4)),
        "threshold": 0.1,
        "rng": np.random.default_rng(0),
        "noise": True,
        "units_per_rad": 1.0,
    }
    args.update(kwargs)
    with pytest.raises(InputError, match=needle):
        apply_decorrelation(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"mean": 1.0}, "mean"),
        ({"spread": -1.0}, "spread"),
        ({"length_m": 0.0}, "length_m"),
        ({"dem_m": np.zeros((3, 3))}, "dem_m shape"),
        ({"n_patches": -1}, "n_patches"),
    ],
)
def test_coherence_map_errors(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        coherence_map((10, 10), 100.0, np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]
