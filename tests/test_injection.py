"""Semi-real injection: peak |LOS| exact, position and depth within the stated ranges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.injection import draw_mogi_injection


def test_draws_within_ranges_and_scales_exactly() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        inj = draw_mogi_injection(rng, (181, 185), (108.2, 111.3))
        assert 2000 <= inj.depth_m <= 5000
        assert math.hypot(inj.east_m, inj.north_m) <= 3000
        for peak in (0.01, 0.04):
            assert float(np.abs(inj.scaled(peak)).max()) == pytest.approx(peak, rel=1e-6)
    # uplift is towards the satellite: the unit pattern's extreme is positive
    assert float(inj.unit_los.max()) == pytest.approx(1.0)


def test_nan_of_the_real_map_is_kept() -> None:
    inj = draw_mogi_injection(np.random.default_rng(1), (50, 60), (100.0, 100.0))
    real = np.zeros((50, 60), np.float32)
    real[5:10, 5:10] = np.nan
    x = real + inj.scaled(0.02)
    assert np.isnan(x[5:10, 5:10]).all() and np.isfinite(x).sum() == 50 * 60 - 25


def test_refuses_bad_ranges() -> None:
    with pytest.raises(InputError, match="depths"):
        draw_mogi_injection(np.random.default_rng(0), (10, 10), (100.0, 100.0),
                            depth_range_m=(0.0, 1.0))
