"""Tests for the added source kinds: two Mogi sources and a sill of Gaussian opening."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.sources import (
    SOURCE_KINDS,
    GaussianSillParams,
    MogiPairParams,
    SourceRanges,
    draw_source,
    gaussian_sill,
    gaussian_sill_volume_m3,
    mogi,
)


def test_thin_gaussian_sill_is_a_point_tensile_crack() -> None:
    d, s = 3000.0, 60.0
    dv = gaussian_sill_volume_m3(s, 1.0)
    r = np.array([0.0, 1000.0, 3000.0, 8000.0])
    enu = gaussian_sill(r, np.zeros_like(r), depth_m=d, sigma_m=s, opening_m=1.0)
    big_r = np.hypot(r, d)
    # Okada (1985) horizontal point crack: u_z = 3 dV d^3 / (2 pi R^5), u_r likewise.
    np.testing.assert_allclose(enu.up, 3 * dv * d**3 / (2 * math.pi * big_r**5), rtol=3e-3)
    np.testing.assert_allclose(enu.east, 3 * dv * r * d**2 / (2 * math.pi * big_r**5),
                               rtol=3e-3, atol=1e-12)


def test_gaussian_sill_uplift_volume_equals_opening_volume() -> None:
    x = np.arange(-40_000.0, 40_001.0, 200.0)
    xx, yy = np.meshgrid(x, x)
    enu = gaussian_sill(xx, yy, depth_m=2000.0, sigma_m=1000.0, opening_m=0.5)
    volume = float(enu.up.astype(np.float64).sum()) * 200.0 * 200.0
    assert volume == pytest.approx(gaussian_sill_volume_m3(1000.0, 0.5), rel=5e-3)


def test_wide_gaussian_sill_uplift_approaches_its_opening() -> None:
    # A sill much wider than deep lifts the surface above its centre by about its opening.
    enu = gaussian_sill(np.array([0.0]), np.array([0.0]), depth_m=300.0, sigma_m=6000.0,
                        opening_m=1.0)
    assert float(enu.up[0]) == pytest.approx(1.0, rel=0.08)


def test_gaussian_sill_refuses_bad_sizes() -> None:
    with pytest.raises(InputError, match="sigma_m"):
        gaussian_sill(0.0, 0.0, depth_m=1000.0, sigma_m=0.0, opening_m=1.0)
    with pytest.raises(InputError, match="depth_m"):
        gaussian_sill(0.0, 0.0, depth_m=-1.0, sigma_m=100.0, opening_m=1.0)


def test_mogi_pair_is_the_sum_of_two_mogi_sources() -> None:
    rng = np.random.default_rng(4)
    p = draw_source(rng, "mogi_pair", centre_jitter_m=5000.0)
    assert isinstance(p, MogiPairParams)
    x, y = np.meshgrid(np.linspace(-5e3, 5e3, 11), np.linspace(-5e3, 5e3, 11))
    a = mogi(x, y, xs_m=p.xs_m, ys_m=p.ys_m, depth_m=p.depth_m, dvolume_m3=p.dvolume_m3)
    b = mogi(x, y, xs_m=p.xs2_m, ys_m=p.ys2_m, depth_m=p.depth2_m, dvolume_m3=p.dvolume2_m3)
    np.testing.assert_allclose(p.displacement(x, y).up, a.up + b.up, rtol=1e-6)


def test_mogi_pair_signs_follow_the_probability() -> None:
    rng = np.random.default_rng(0)
    always = SourceRanges(pair_opposite_probability=1.0)
    never = SourceRanges(pair_opposite_probability=0.0)
    for _ in range(5):
        p = draw_source(rng, "mogi_pair", always)
        q = draw_source(rng, "mogi_pair", never)
        assert p.dvolume_m3 < 0 and p.dvolume2_m3 < 0  # type: ignore[union-attr]
        assert q.dvolume_m3 > 0 and q.dvolume2_m3 > 0  # type: ignore[union-attr]
    with pytest.raises(InputError, match="pair_opposite_probability"):
        SourceRanges(pair_opposite_probability=2.0)


def test_extra_kinds_are_not_drawn_by_default_and_the_default_draw_is_unchanged() -> None:
    assert "mogi_pair" not in SOURCE_KINDS and "sill_gaussian" not in SOURCE_KINDS
    kinds = {draw_source(np.random.default_rng(i)).kind for i in range(60)}
    assert kinds == set(SOURCE_KINDS)
    g = draw_source(np.random.default_rng(1), "sill_gaussian")
    assert isinstance(g, GaussianSillParams) and 500.0 <= g.sigma_m <= 3000.0
