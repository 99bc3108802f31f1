"""The Mogi matched filter: a source it knows is found and placed; planes and noise are not
sources; bad maps and settings are refused."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.detect.matched_filter import MogiMatchedFilter
from monitor.science.injection import draw_mogi_injection

PIXEL = (100.0, 110.0)
SHAPE = (121, 131)


def test_an_injected_source_is_explained_and_placed() -> None:
    rng = np.random.default_rng(1)
    source = draw_mogi_injection(rng, SHAPE, PIXEL, depth_range_m=(3000.0, 3000.0),
                                 max_offset_m=0.0)
    noise = np.random.default_rng(2).normal(0.0, 0.001, SHAPE)
    ramp = np.add.outer(np.linspace(0, 0.02, SHAPE[0]), np.linspace(0, -0.01, SHAPE[1]))
    mf = MogiMatchedFilter(PIXEL)
    for sign in (1.0, -1.0):  # uplift or subsidence: either sign of amplitude
        x = sign * source.scaled(0.03) + noise + ramp
        x[10:30, 50:90] = np.nan  # holes are left out, not zeros
        m = mf.measure(x)
        assert m.r2 > 0.9
        assert (m.east_m, m.north_m, m.depth_m) == (0.0, 0.0, 3000.0)
        d = mf.detect(x)
        assert d.flag and d.p_fused == pytest.approx(m.r2)
        assert (d.peak_row, d.peak_col) == (60, 65)
        assert d.p_by_gain == {}


def test_off_centre_source_lands_on_its_grid_node() -> None:
    rng = np.random.default_rng(3)
    source = draw_mogi_injection(rng, SHAPE, PIXEL, depth_range_m=(2000.0, 2000.0),
                                 max_offset_m=0.0)
    # shift the pattern by 20 pixels east (2 km) and 9 rows south (about 1 km)
    shifted = np.full(SHAPE, np.nan, np.float32)
    shifted[9:, 20:] = source.unit_los[:-9, :-20]
    m = MogiMatchedFilter(PIXEL).measure(0.02 * shifted)
    assert m.r2 > 0.9 and m.east_m == 2000.0 and m.north_m == -1000.0 and m.depth_m == 2000.0


def test_planes_and_white_noise_are_not_sources() -> None:
    mf = MogiMatchedFilter(PIXEL)
    plane = np.add.outer(np.linspace(-0.05, 0.05, SHAPE[0]), np.linspace(0, 0.03, SHAPE[1]))
    assert mf.measure(plane).r2 == pytest.approx(0.0, abs=1e-6)
    white = np.random.default_rng(4).normal(0.0, 0.01, SHAPE)
    m = mf.measure(plane + white)
    assert m.r2 < 0.01 and not mf.detect(plane + white).flag


def test_bad_maps_and_settings_are_refused() -> None:
    mf = MogiMatchedFilter(PIXEL)
    with pytest.raises(InputError, match="2-D"):
        mf.measure(np.zeros(10))
    sparse = np.full(SHAPE, np.nan)
    sparse[0, :50] = 0.01
    with pytest.raises(InputError, match="50 valid pixels"):
        mf.measure(sparse)
    for kwargs in ({"pixel_m": (0.0, 100.0)}, {"pixel_m": PIXEL, "depths_m": ()},
                   {"pixel_m": PIXEL, "step_m": 0.0}, {"pixel_m": PIXEL, "threshold": 1.0}):
        with pytest.raises(InputError, match="matched filter"):
            MogiMatchedFilter(**kwargs)  # type: ignore[arg-type]
