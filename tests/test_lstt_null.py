"""The LSTT with an empirical null from the map (monitor.science.lstt_null).

Synthetic fields are exponential turbulence (circulant embedding, fixed seeds); the real
check uses the committed Erta Ale crop (tests/data/erta_ale_014A, see its README).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from monitor.errors import InputError
from monitor.science.atmosphere import turbulent_delay
from monitor.science.lstt_null import MIN_NULL_WINDOWS, NullTest, lstt_null
from monitor.science.lstt_regions import disc_mask, lstt_regions

CROP = Path(__file__).parent / "data" / "erta_ale_014A"
SIZE = 96
PIXEL_M = 100.0
#: Correlation length 1.5 km (15 px) against a 1 km target disc: the thinned LSTT leaves
#: too few samples and its fallback to a finer step is liberal.
LENGTH_M = 1500.0
RADIUS_PX = 10.0


def _regions() -> tuple[np.ndarray, list[np.ndarray]]:
    centre = ((SIZE - 1) / 2.0, (SIZE - 1) / 2.0)
    target = disc_mask((SIZE, SIZE), centre, RADIUS_PX)
    refs = [np.zeros((SIZE, SIZE), bool) for _ in range(3)]
    refs[0][:24, :24] = True
    refs[1][-24:, :24] = True
    refs[2][:24, -24:] = True
    return target, refs


def _fields(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [turbulent_delay((SIZE, SIZE), PIXEL_M, 0.01, LENGTH_M, rng) for _ in range(n)]


def _band(n: int, alpha: float) -> tuple[float, float]:
    lo, hi = stats.binom.ppf([0.005, 0.995], n, alpha)
    return float(lo) / n, float(hi) / n


def _old_rule(field: np.ndarray, target: np.ndarray, refs: list[np.ndarray],
              rng: np.random.Generator) -> float:
    """The watch's previous rule 2: thinned at 3.5 correlation lengths, then a finer step
    giving the smallest region about 16 samples."""
    try:
        return lstt_regions(field, target, refs, rng=rng).p_value
    except InputError:
        step = max(1, int(math.sqrt(min(int(m.sum()) for m in (target, *refs)) / 16)))
        return lstt_regions(field, target, refs, spacing_px=step, rng=rng).p_value


def test_result_fields_and_p_value_bounds() -> None:
    target, refs = _regions()
    field = _fields(1, 3)[0]
    result = lstt_null(field, target, refs, rng=np.random.default_rng(0))
    assert isinstance(result, NullTest)
    n = result.n_null
    assert MIN_NULL_WINDOWS <= n <= 100 and result.null_pe.shape == (n,)
    assert 1.0 / (n + 1) <= result.p_value <= 1.0
    assert result.p_value == (1 + np.count_nonzero(result.null_pe >= result.pe)) / (n + 1)
    assert result.spacing_px == round(math.sqrt(target.sum() / 100))
    assert [r.index for r in result.per_reference] == [0, 1, 2]
    assert all(1.0 / (n + 1) <= r.p_value <= 1.0 for r in result.per_reference)
    q = result.null_quantiles
    assert q["0.5"] <= q["0.95"] <= q["0.99"]
    again = lstt_null(field, target, refs, rng=np.random.default_rng(0))
    assert (again.p_value, again.pe) == (result.p_value, result.pe)


def test_type_one_error_within_binomial_band_where_the_old_rule_is_liberal() -> None:
    target, refs = _regions()
    fields = _fields(150, 11)
    p_new = np.array([lstt_null(f, target, refs, rng=np.random.default_rng(k)).p_value
                      for k, f in enumerate(fields)])
    for alpha in (0.05, 0.01):
        lo, hi = _band(p_new.size, alpha)
        assert lo <= np.mean(p_new <= alpha) <= hi, (alpha, np.mean(p_new <= alpha))
    # the thinned test with the previous fallback rejects far too often on the same fields
    old = fields[:60]
    p_old = np.array([_old_rule(f, target, refs, np.random.default_rng(k))
                      for k, f in enumerate(old)])
    assert np.mean(p_old <= 0.05) > _band(len(old), 0.05)[1]


def test_power_on_an_obvious_deformation() -> None:
    """A 10 cm bump (Gaussian, 500 m wide) in the disc, on 1 cm turbulence."""
    target, refs = _regions()
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    c = (SIZE - 1) / 2.0
    bump = 0.10 * np.exp(-((rows - c) ** 2 + (cols - c) ** 2) / (2 * 5.0 ** 2))
    for k, field in enumerate(_fields(5, 21)):
        result = lstt_null(field + bump, target, refs, rng=np.random.default_rng(k))
        assert result.p_value <= 0.02, (k, result.p_value)


def test_errors_name_what_is_wrong() -> None:
    target, refs = _regions()
    field = _fields(1, 5)[0]
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="target_mask: the region is empty"):
        lstt_null(field, np.zeros_like(target), refs, rng=rng)
    with pytest.raises(InputError, match="target_mask: expected a boolean mask"):
        lstt_null(field, target[:-1], refs, rng=rng)
    with pytest.raises(InputError, match=r"reference_masks\[1\]: expected a boolean mask"):
        lstt_null(field, target, [refs[0], refs[1][:, :-2]], rng=rng)
    with pytest.raises(InputError, match="field: expected a non-empty 2-D"):
        lstt_null(field[0], target, refs, rng=rng)
    holed = field.copy()
    holed[target] = np.nan
    with pytest.raises(InputError, match="target_mask: 0 valid samples.*all NaN"):
        lstt_null(holed, target, refs, rng=rng)
    big = disc_mask((SIZE, SIZE), ((SIZE - 1) / 2.0, (SIZE - 1) / 2.0), 30.0)
    with pytest.raises(InputError, match="no room for null windows"):
        lstt_null(field, big, refs, rng=rng)
    with pytest.raises(InputError, match=r"reference_masks\[0\]: overlaps the target"):
        lstt_null(field, target, [target | refs[0]], rng=rng)
    with pytest.raises(InputError, match="reference_masks: need at least one"):
        lstt_null(field, target, [], rng=rng)


def test_a_p_value_on_every_epoch_of_the_real_crop() -> None:
    from monitor.io.licsar_frame import open_frame, read_frame, read_grid
    from monitor.science.grids import GroundDisc
    from monitor.service.series_scan import prepare_series

    layout = open_frame(CROP, "014A_07688_131313")
    grid, dem = read_grid(layout)
    products = read_frame(layout, grid, dem, coherence_threshold=0.1)
    prepared = prepare_series(products, GroundDisc(40.67, 13.60, 3.0), None,
                              coherence_threshold=0.1, dem=dem)
    regions = prepared.regions
    p_values = [lstt_null(m, regions.target_mask, list(regions.references),
                          rng=np.random.default_rng(k)).p_value
                for k, m in enumerate(prepared.maps[1:], 1)]
    assert len(p_values) == len(prepared.series.epochs) - 1 == 14
    assert all(0 < p <= 1 for p in p_values)
    # the last map holds the January 2017 dyke (about 17 cm in the disc)
    assert p_values[-1] <= 0.05
