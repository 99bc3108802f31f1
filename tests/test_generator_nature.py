"""Tests for the generator's added nature: stratification profiles, orbital ramps,
unwrapping errors, incoherent shapes, and their wiring into SynthRecipe."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.atmosphere import stratified_delay
from monitor.science.dem import synthetic_dem
from monitor.science.incoherent_shapes import band_mask, excursion_mask, mask_from_coherence
from monitor.science.orbital import orbital_ramp
from monitor.science.stratification import exponential_stratified_delay, lateral_k1_map
from monitor.science.synth import SynthRecipe, dataset_sample, draw_components
from monitor.science.unwrapping import unwrapping_errors

WAVELENGTH_M = 0.05546576


# --------------------------------------------------------------------------- stratification


def test_exponential_profile_matches_its_expansion_near_the_reference() -> None:
    h = np.linspace(0.0, 50.0, 11)[None, :]
    k1, height = 2e-5, 2000.0
    exp = exponential_stratified_delay(h, k1, height)
    poly = stratified_delay(h, k1, -k1 / (2 * height))
    # They differ by the third-order term k1 dh^3 / (6 H^2) and no more.
    third = k1 * h**3 / (6 * height**2)
    np.testing.assert_allclose(exp - poly, third, atol=2e-9)


def test_exponential_profile_saturates_above_a_tall_summit() -> None:
    h = np.array([[0.0, 3000.0, 6000.0, 30000.0]])
    k1, height = 1e-5, 2000.0
    out = exponential_stratified_delay(h, k1, height)
    assert out[0, 0] == 0.0
    assert np.all(np.diff(out[0]) > 0)  # monotonic, never turns over
    assert out[0, -1] == pytest.approx(k1 * height, rel=1e-5)
    # The quadratic of the same curvature turns over at h = H and goes negative by 2H.
    assert stratified_delay(h, k1, -k1 / (2 * height))[0, 2] < 0


def test_laterally_varying_k1_has_the_requested_spread_and_scales_the_delay() -> None:
    rng = np.random.default_rng(2)
    k1 = lateral_k1_map((128, 128), 100.0, 1e-5, rng, relative_std=0.4, length_m=1500.0)
    rel = k1 / 1e-5 - 1.0
    assert float(rel.std()) == pytest.approx(0.4, rel=0.3)
    dem = np.full((128, 128), 1000.0)
    dem[0, 0] = 0.0
    out = exponential_stratified_delay(dem, k1, 2000.0)
    ratio = out[1:, 1:] / k1[1:, 1:]
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-5)  # delay proportional to k1


def test_stratification_bad_inputs_are_refused() -> None:
    with pytest.raises(InputError, match="scale_height_m"):
        exponential_stratified_delay(np.zeros((4, 4)), 1e-5, 0.0)
    with pytest.raises(InputError, match="k1_m_per_m"):
        exponential_stratified_delay(np.zeros((4, 4)), np.zeros((3, 3)), 2000.0)
    with pytest.raises(InputError, match="relative_std"):
        lateral_k1_map((8, 8), 100.0, 1e-5, np.random.default_rng(0), relative_std=-1.0)


# --------------------------------------------------------------------------- ramps


@pytest.mark.parametrize("quadratic", [0.0, 0.5])
def test_orbital_ramp_has_the_requested_range_and_zero_mean(quadratic: float) -> None:
    ramp = orbital_ramp((60, 80), 100.0, 0.02, np.random.default_rng(4),
                        quadratic_fraction=quadratic)
    assert ramp.dtype == np.float32 and ramp.shape == (60, 80)
    assert float(np.ptp(ramp)) == pytest.approx(0.02, rel=1e-5)
    assert abs(float(ramp.mean())) < 1e-6


def test_planar_ramp_is_a_plane() -> None:
    ramp = orbital_ramp((40, 50), 100.0, 0.01, np.random.default_rng(9)).astype(np.float64)
    rows, cols = np.mgrid[0:40, 0:50]
    design = np.column_stack([np.ones(ramp.size), rows.ravel(), cols.ravel()])
    coef, *_ = np.linalg.lstsq(design, ramp.ravel(), rcond=None)
    assert np.abs(design @ coef - ramp.ravel()).max() < 1e-8


def test_orbital_ramp_bad_inputs() -> None:
    with pytest.raises(InputError, match="peak_to_peak_m"):
        orbital_ramp((8, 8), 100.0, -0.01, np.random.default_rng(0))
    with pytest.raises(InputError, match="quadratic_fraction"):
        orbital_ramp((8, 8), 100.0, 0.01, np.random.default_rng(0), quadratic_fraction=2.0)


# --------------------------------------------------------------------------- unwrapping


def test_unwrapping_errors_are_whole_fringes_on_the_smaller_side() -> None:
    out = unwrapping_errors((100, 120), np.random.default_rng(6), WAVELENGTH_M, n_cuts=1,
                            max_cycles=2)
    cycles = out / (WAVELENGTH_M / 2)
    np.testing.assert_allclose(cycles, np.round(cycles), atol=1e-4)
    jumped = out != 0
    assert 0 < jumped.mean() <= 0.5
    assert set(np.unique(np.round(cycles)).tolist()) <= {-2.0, -1.0, 0.0, 1.0, 2.0}


def test_unwrapping_errors_deterministic_and_zero_without_cuts() -> None:
    a = unwrapping_errors((50, 50), np.random.default_rng(1), WAVELENGTH_M, n_cuts=2,
                          n_islands=1)
    b = unwrapping_errors((50, 50), np.random.default_rng(1), WAVELENGTH_M, n_cuts=2,
                          n_islands=1)
    np.testing.assert_array_equal(a, b)
    assert not unwrapping_errors((50, 50), np.random.default_rng(1), WAVELENGTH_M,
                                 n_cuts=0).any()
    with pytest.raises(InputError, match="max_cycles"):
        unwrapping_errors((8, 8), np.random.default_rng(0), WAVELENGTH_M, max_cycles=0)
    with pytest.raises(InputError, match="wavelength_m"):
        unwrapping_errors((8, 8), np.random.default_rng(0), 0.0)


# --------------------------------------------------------------------------- masks


def test_excursion_mask_has_the_requested_area() -> None:
    mask = excursion_mask((100, 100), 100.0, np.random.default_rng(3), 0.2, 1000.0)
    assert mask.dtype == bool and abs(int(mask.sum()) - 2000) <= 2
    assert not excursion_mask((10, 10), 100.0, np.random.default_rng(3), 0.0).any()
    with pytest.raises(InputError, match="fraction"):
        excursion_mask((10, 10), 100.0, np.random.default_rng(3), 1.0)


def test_band_mask_is_a_long_thin_band() -> None:
    mask = band_mask((200, 200), 100.0, np.random.default_rng(5), width_m=800.0,
                     meander_m=1000.0)
    frac = float(mask.mean())
    # About width / side of the scene (800 m of 20 km), longer if diagonal.
    assert 0.02 < frac < 0.12
    rows, cols = np.nonzero(mask)
    extent = max(np.ptp(rows), np.ptp(cols))
    assert extent > 150  # crosses most of the scene
    with pytest.raises(InputError, match="width_m"):
        band_mask((10, 10), 100.0, np.random.default_rng(0), width_m=0.0)


def test_mask_from_coherence_keeps_the_incoherent_pixel_count() -> None:
    coh = np.ones((50, 50), np.float32)
    coh[10:20, 5:45] = 0.05
    coh[30, 30] = np.nan
    mask = mask_from_coherence(coh, (50, 50), np.random.default_rng(0))
    assert int(mask.sum()) == 401
    with pytest.raises(InputError, match="at least"):
        mask_from_coherence(coh, (60, 60), np.random.default_rng(0))


# --------------------------------------------------------------------------- recipe


SMALL = {"shape": (64, 64), "decorrelation_fraction": 1.0}


def test_default_recipe_draws_nothing_new() -> None:
    comp = draw_components(np.random.default_rng(0), SynthRecipe(**SMALL))
    assert comp.ramp is None and comp.unwrap is None
    for key in ("turbulence", "stratification_profile", "orbital_ramp_m", "unwrap_errors",
                "incoherent_shape"):
        assert key not in comp.meta


def test_powerlaw_recipe_draws_powerlaw_turbulence_of_the_drawn_sigma() -> None:
    recipe = SynthRecipe(**SMALL, turbulence="powerlaw", turbulent_sigma_m=(0.01, 0.01),
                         turbulence_axis_ratio=(1.0, 3.0),
                         turbulence_amplitude_variation=(0.0, 0.5))
    comp = draw_components(np.random.default_rng(1), recipe)
    assert comp.meta["turbulence"] == "powerlaw"
    assert float(comp.turbulent.std()) == pytest.approx(0.01, rel=1e-3)
    kinds = {draw_components(np.random.default_rng(i),
                             SynthRecipe(**SMALL, turbulence="mixed"),
                             with_deformation=False).meta.get("turbulence")
             for i in range(12)}
    assert kinds == {"powerlaw", "exponential"}


def test_recipe_with_everything_on_is_deterministic_and_adds_nuisances() -> None:
    recipe = SynthRecipe(**SMALL, turbulence="mixed", powerlaw_spectrum="hanssen",
                         stratification_profile="exponential",
                         stratified_lateral_variation=(0.2, 0.5),
                         orbital_ramp_m=(0.005, 0.03), orbital_quadratic_fraction=0.3,
                         unwrap_error_fraction=1.0,
                         incoherent_shapes=("blobs", "excursion", "band"),
                         source_kinds=("mogi_pair", "sill_gaussian", "dyke"))
    a = dataset_sample(5, 3, recipe, "2class")
    b = dataset_sample(5, 3, recipe, "2class")
    np.testing.assert_array_equal(a.x, b.x)
    assert a.meta == b.meta
    comp = draw_components(np.random.default_rng(2), recipe)
    assert comp.ramp is not None and 0.005 <= float(np.ptp(comp.ramp)) <= 0.03 + 1e-6
    assert comp.unwrap is not None and comp.unwrap.any()
    assert comp.meta["stratification_profile"] == "exponential"
    x = comp.compose(0.0, 1.0, 1.0)
    plain = (comp.stratified + comp.turbulent + comp.noise + comp.ramp + comp.unwrap)
    ok = ~comp.incoherent
    np.testing.assert_allclose(x[ok], plain[ok], atol=1e-7)
    shapes = {draw_components(np.random.default_rng(i), recipe,
                              with_deformation=False).meta["incoherent_shape"]
              for i in range(15)}
    assert shapes == {"blobs", "excursion", "band"}


def test_extra_source_kinds_are_drawn_by_name_only() -> None:
    assert "mogi_pair" not in SynthRecipe().source_kinds
    comp = draw_components(np.random.default_rng(3),
                           SynthRecipe(shape=(64, 64), source_kinds=("mogi_pair",)))
    assert comp.meta["source"] == "mogi_pair" and comp.meta["peak_los_m"] > 0


@pytest.mark.parametrize("kwargs, match", [
    ({"turbulence": "gaussian"}, "turbulence"),
    ({"powerlaw_spectrum": "kolmogorov"}, "powerlaw_spectrum"),
    ({"stratification_profile": "cubic"}, "stratification_profile"),
    ({"powerlaw_beta": (3.0, 2.0)}, "powerlaw_beta"),
    ({"turbulence_axis_ratio": (0.5, 1.0)}, "turbulence_axis_ratio"),
    ({"orbital_ramp_m": (-0.01, 0.01)}, "orbital_ramp_m"),
    ({"unwrap_error_fraction": 1.5}, "unwrap_error_fraction"),
    ({"unwrap_error_cuts": (2, 1)}, "unwrap_error_cuts"),
    ({"unwrap_error_fraction": 0.5, "unwrap_error_cuts": (0, 0),
      "unwrap_error_islands": (0, 0)}, "at least one"),
    ({"incoherent_shapes": ("lakes",)}, "incoherent shapes"),
    ({"source_kinds": ("mogi_triple",)}, "source kinds"),
])
def test_recipe_refuses_bad_options_by_name(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        SynthRecipe(**kwargs)


def test_synthetic_dem_under_exponential_profile_is_finite() -> None:
    dem = synthetic_dem((64, 64), 100.0, "stratovolcano", np.random.default_rng(0),
                        height_m=3000.0)
    out = exponential_stratified_delay(dem, 2e-5, 1500.0)
    assert np.isfinite(out).all() and float(out.max()) <= 2e-5 * 1500.0 * (1 + 1e-6)
    assert math.isfinite(float(out.min()))
