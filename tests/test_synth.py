from __future__ import annotations

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.synth import (
    CLASS_NAMES,
    SCHEMES,
    SynthRecipe,
    dataset_sample,
    draw_components,
    make_sample,
)

SMALL = SynthRecipe(shape=(64, 64), pixel_m=200.0)


def test_weight_scheme_has_91_classes() -> None:
    assert len(SCHEMES["weights"]) == 91
    assert len(CLASS_NAMES["weights"]) == 91
    assert SCHEMES["2class"] == ((0.0, 1.0, 1.0), (1.0, 1.0, 1.0))


def test_same_seed_same_sample() -> None:
    a = dataset_sample(7, 3, SMALL, "2class")
    b = dataset_sample(7, 3, SMALL, "2class")
    c = dataset_sample(7, 4, SMALL, "2class")
    np.testing.assert_array_equal(a.x, b.x)
    assert a.meta == b.meta
    assert a.label != c.label
    assert not np.array_equal(np.nan_to_num(a.x), np.nan_to_num(dataset_sample(8, 3, SMALL,
                                                                               "2class").x))


def test_compose_is_linear_and_nan_where_incoherent(rng: np.random.Generator) -> None:
    recipe = SynthRecipe(shape=(64, 64), pixel_m=200.0, decorrelation_fraction=1.0)
    comp = draw_components(rng, recipe)
    x = comp.compose(1.0, 0.5, 0.25)
    ok = ~comp.incoherent
    expect = comp.deformation + 0.5 * comp.stratified + 0.25 * comp.turbulent + comp.noise
    np.testing.assert_allclose(x[ok], expect[ok], atol=1e-7)
    assert np.isnan(x[comp.incoherent]).all()
    # incoherent pixels are exactly those at or below the coherence threshold
    np.testing.assert_array_equal(comp.incoherent, comp.coherence <= 0.1)


def test_two_class_labels_and_components(rng: np.random.Generator) -> None:
    recipe = SynthRecipe(shape=(64, 64), pixel_m=200.0, decorrelation_fraction=0.0,
                         peak_los_m=(0.05, 0.05))
    pos = make_sample(rng, recipe, "2class", 1)
    neg = make_sample(rng, recipe, "2class", 0)
    assert pos.meta["class_name"] == "D+S+T" and neg.meta["class_name"] == "S+T"
    assert pos.meta["peak_los_m"] == pytest.approx(0.05)
    assert neg.meta["peak_los_m"] == 0.0
    assert np.isfinite(pos.x).all()


def test_atmosphere_amplitudes_follow_recipe() -> None:
    # Turbulent part alone: std over many samples near the requested sigma.
    recipe = SynthRecipe(shape=(96, 96), pixel_m=100.0, turbulent_sigma_m=(0.003, 0.003),
                         turbulent_length_m=(1000.0, 1000.0), decorrelation_fraction=0.0)
    stds = [float(np.std(draw_components(np.random.default_rng(i), recipe,
                                         with_deformation=False).turbulent))
            for i in range(20)]
    assert np.mean(stds) == pytest.approx(0.003, rel=0.15)


def test_dem_pool_is_used(rng: np.random.Generator) -> None:
    pool = [np.full((80, 80), 10.0, np.float32)]
    comp = draw_components(rng, SMALL, dem_pool=pool, with_deformation=False)
    assert comp.meta["dem"] == "pool[0]"
    assert np.ptp(comp.stratified) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(InputError, match="smaller than the sample shape"):
        draw_components(rng, SMALL, dem_pool=[np.zeros((10, 10))])


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"shape": (4, 4)}, "shape"),
        ({"pixel_m": 0.0}, "pixel_m"),
        ({"incidence_deg": (30.0, 10.0)}, "incidence_deg"),
        ({"source_kinds": ("volcano",)}, "unknown source kinds"),
        ({"peak_los_m": (0.0, 0.1)}, "peak_los_m"),
        ({"decorrelation_fraction": 1.5}, "decorrelation_fraction"),
        ({"stratified_strength": "huge"}, "stratified_strength"),
        ({"dem_kinds": ()}, "DEM kinds"),
    ],
)
def test_bad_recipe(kwargs: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        SynthRecipe(**kwargs)


def test_bad_scheme_and_label(rng: np.random.Generator) -> None:
    with pytest.raises(InputError, match="unknown scheme 'five'"):
        make_sample(rng, SMALL, "five", 0)
    with pytest.raises(InputError, match="label 2 out of range"):
        make_sample(rng, SMALL, "2class", 2)
    with pytest.raises(InputError, match="non-negative"):
        dataset_sample(-1, 0, SMALL, "2class")


@pytest.mark.parametrize("kind", ["mogi", "sill_penny", "earthquake", "dyke", "sill_okada"])
def test_coarse_source_evaluation_matches_full_grid(kind: str) -> None:
    from monitor.science.geometry import project_to_los
    from monitor.science.grids import grid_xy
    from monitor.science.sources import draw_source
    from monitor.science.synth import evaluate_source, smoothness_scale_m, source_los

    shape, pixel = (120, 100), 100.0
    x, y = grid_xy(shape, pixel)
    worst = 0.0
    checked = 0
    for i in range(30):
        params = draw_source(np.random.default_rng([5, i]), kind)
        if smoothness_scale_m(params) < 8 * pixel:
            continue  # evaluated on the full grid anyway
        fast = evaluate_source(params, shape, pixel)
        full = params.displacement(x, y)
        los_fast = source_los(params, shape, pixel, 30.0, 100.0)
        los_full = project_to_los(full.east, full.north, full.up, 30.0, 100.0)
        for a, b in ((fast.east, full.east), (fast.north, full.north), (fast.up, full.up),
                     (los_fast, los_full)):
            peak = max(float(np.abs(full.east).max()), float(np.abs(full.north).max()),
                       float(np.abs(full.up).max()))
            worst = max(worst, float(np.abs(a - b).max()) / peak)
        checked += 1
    assert checked >= 3
    assert worst < 5e-3, f"coarse evaluation off by {worst:.2e} of the peak"
