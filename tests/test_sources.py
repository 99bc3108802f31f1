"""Deformation sources: Mogi, Okada (1985), penny-shaped crack (Fialko et al. 2001), draws.

Each source is checked against a known truth: hand-computed closed forms (Mogi), the
published check list of Okada (1985, Table 2), and physical limits (point tensile crack,
uplift-volume identities, Sneddon's full-space crack, thin-plate bending).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from monitor.errors import InputError
from monitor.science.sources import (
    ENU,
    SOURCE_KINDS,
    DykeParams,
    EarthquakeParams,
    MogiParams,
    OkadaSillParams,
    PennySillParams,
    SourceRanges,
    draw_source,
    mogi,
    okada85_local,
    okada_rectangle,
    penny_crack,
    penny_volume_m3,
)


def _point_sill(r: np.ndarray, depth: float, dvolume: float) -> tuple[np.ndarray, np.ndarray]:
    """Point horizontal tensile crack of potency ``dvolume`` (Okada 1985 point source,
    tensile, dip 0): u_z = 3 dV d^3 / (2 pi R^5), u_r = 3 dV r d^2 / (2 pi R^5).
    Independent of Poisson's ratio."""
    r5 = (r * r + depth * depth) ** 2.5
    return 3 * dvolume * depth**3 / (2 * np.pi * r5), 3 * dvolume * r * depth**2 / (2 * np.pi * r5)


def _polar_grid(r_max: float, n: int = 801) -> tuple[np.ndarray, np.ndarray, float]:
    """Square grid centred on the origin, (ny, nx), with its pixel size."""
    ax = np.linspace(-r_max, r_max, n)
    x, y = np.meshgrid(ax, ax[::-1])
    return x, y, float(ax[1] - ax[0])


# ---------------------------------------------------------------- ENU


def test_enu_superposition_and_scaling() -> None:
    a = ENU.from_arrays(np.ones((2, 3)), 2.0, np.zeros((2, 3)))
    b = ENU.zeros((2, 3))
    c = 2.0 * (a + b)
    assert c.shape == (2, 3) and c.east.dtype == np.float32
    np.testing.assert_array_equal(c.north, 4.0)
    np.testing.assert_array_equal((-a).east, -1.0)
    with pytest.raises(InputError, match="share one shape"):
        ENU(np.zeros(3, np.float32), np.zeros(4, np.float32), np.zeros(3, np.float32))


# ---------------------------------------------------------------- Mogi


def test_mogi_matches_hand_computed_values() -> None:
    # d = 2000 m, dV = 1e6 m^3, nu = 0.25: C = (1 - nu) / pi * dV = 238732.4146 m^3.
    # Point 1, 1500 m east of the source: R = 2500 m, R^3 = 1.5625e10 m^3,
    #   u_r = C * 1500 / R^3 = 0.0229183 m, u_z = C * 2000 / R^3 = 0.0305577 m.
    # Point 2, at (+1200, -1600) m from the source: r = 2000 m, R^3 = 2.2627417e10 m^3,
    #   u_r = u_z = C * 2000 / R^3 = 0.0211012 m; east = 0.6 u_r, north = -0.8 u_r.
    # Point 3, above the source: u_z = C / d^2 = 0.0596831 m.
    xs, ys = 1000.0, -500.0
    x = np.array([xs + 1500.0, xs + 1200.0, xs])
    y = np.array([ys, ys - 1600.0, ys])
    u = mogi(x, y, xs_m=xs, ys_m=ys, depth_m=2000.0, dvolume_m3=1e6, nu=0.25)
    np.testing.assert_allclose(u.east, [0.0229183, 0.0126607, 0.0], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(u.north, [0.0, -0.0168809, 0.0], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(u.up, [0.0305577, 0.0211012, 0.0596831], rtol=1e-5)
    assert u.up.dtype == np.float32


def test_mogi_is_radially_symmetric_and_conserves_uplift_volume() -> None:
    ang = np.linspace(0, 2 * np.pi, 37)[:-1]
    r = 3500.0
    u = mogi(200 + r * np.cos(ang), -300 + r * np.sin(ang), xs_m=200, ys_m=-300,
             depth_m=4000.0, dvolume_m3=-2e6)
    np.testing.assert_allclose(u.up, u.up[0], rtol=1e-6)
    radial = u.east * np.cos(ang) + u.north * np.sin(ang)
    tangential = -u.east * np.sin(ang) + u.north * np.cos(ang)
    np.testing.assert_allclose(radial, radial[0], rtol=1e-5)
    assert radial[0] < 0  # deflation pulls the surface inwards
    np.testing.assert_allclose(tangential, 0.0, atol=1e-7 * abs(radial[0]))
    # Uplift volume inside radius Rm: 2 (1 - nu) dV (1 - d / sqrt(Rm^2 + d^2)).
    x, y, px = _polar_grid(60e3)
    up = mogi(x, y, depth_m=4000.0, dvolume_m3=1e6).up.astype(np.float64)
    rr = np.hypot(x, y)
    vol = up[rr <= 60e3].sum() * px * px
    expected = 2 * 0.75 * 1e6 * (1 - 4000.0 / math.hypot(60e3, 4000.0))
    assert vol == pytest.approx(expected, rel=5e-3)


# ---------------------------------------------------------------- Okada 1985

# Okada (1985), Bull. Seismol. Soc. Am. 75(4), Table 2 "Checklist for numerical
# calculations", page 1149: surface displacement (ux, uy, uz) for unit dislocations,
# lambda = mu (nu = 0.25), L = 3, W = 2, in Okada's frame. Values as tabulated there and
# as used in F. Beauducel's okada85 checklist (okada_checklist.m, IPGP, 2011).
#   case 2: x = 2, y = 3, d = 4, dip = 70
#   case 3: x = 0, y = 0, d = 4, dip = 90
#   case 4: x = 0, y = 0, d = 4, dip = -90
OKADA_CASES = {2: (2.0, 3.0, 4.0, 70.0), 3: (0.0, 0.0, 4.0, 90.0), 4: (0.0, 0.0, 4.0, -90.0)}
OKADA_TABLE2 = {
    (2, "strike"): (-8.689e-3, -4.298e-3, -2.747e-3),
    (2, "dip"): (-4.682e-3, -3.527e-2, -3.564e-2),
    (2, "tensile"): (-2.660e-4, +1.056e-2, +3.214e-3),
    (3, "strike"): (0.0, +5.253e-3, 0.0),
    (3, "dip"): (0.0, 0.0, 0.0),
    (3, "tensile"): (+1.223e-2, 0.0, -1.606e-2),
    (4, "strike"): (0.0, -1.303e-3, 0.0),
    (4, "dip"): (0.0, 0.0, 0.0),
    (4, "tensile"): (+3.507e-3, 0.0, -7.740e-3),
}
UNIT = {"strike": (1.0, 0.0, 0.0), "dip": (0.0, 1.0, 0.0), "tensile": (0.0, 0.0, 1.0)}


def _agrees_to_printed_digits(computed: float, published: float) -> bool:
    """Table 2 prints 4 significant digits: the computed value must round to it.

    Equivalent to |computed - published| <= half a unit of the 4th digit (a relative
    tolerance of 5e-5 to 5e-4 depending on the leading digit); zeros must be 0 to 1e-12.
    """
    if published == 0.0:
        return abs(computed) < 1e-12
    half_unit = 0.5 * 10.0 ** (math.floor(math.log10(abs(published))) - 3)
    return abs(computed - published) <= half_unit * (1 + 1e-9)


@pytest.mark.parametrize("case_mode", sorted(OKADA_TABLE2))
def test_okada85_reproduces_table2_check_values(case_mode: tuple[int, str]) -> None:
    case, mode = case_mode
    x, y, d, dip = OKADA_CASES[case]
    u = okada85_local(x, y, d, dip, 3.0, 2.0, *UNIT[mode], nu=0.25)
    got = [float(c) for c in u]
    for g, want in zip(got, OKADA_TABLE2[case_mode], strict=True):
        assert _agrees_to_printed_digits(g, want), (case, mode, got, OKADA_TABLE2[case_mode])


@pytest.mark.parametrize("mode", ["strike", "dip", "tensile"])
def test_okada_map_frame_wrapper_matches_table2(mode: str) -> None:
    # Strike 90 puts Okada's x along east and y along north. Case 2 in metres (Okada's
    # solution depends only on length ratios): lower edge from (0, 0) to (3 km, 0) at
    # 4 km depth, so the centroid is at (1.5 km, W/2 cos 70) and depth 4 km - W/2 sin 70.
    dip = math.radians(70.0)
    kw = {"strike": {"rake_deg": 0.0, "slip_m": 1.0}, "dip": {"rake_deg": 90.0, "slip_m": 1.0},
          "tensile": {"opening_m": 1.0}}[mode]
    u = okada_rectangle(
        2000.0, 3000.0, xs_m=1500.0, ys_m=1000.0 * math.cos(dip),
        depth_m=4000.0 - 1000.0 * math.sin(dip), strike_deg=90.0, dip_deg=70.0,
        length_m=3000.0, width_m=2000.0, **kw,
    )
    want = OKADA_TABLE2[(2, mode)]
    got = (float(u.east), float(u.north), float(u.up))
    np.testing.assert_allclose(got, want, rtol=5e-4)


def test_okada_rotation_and_aki_richards_conventions() -> None:
    # Rotating strike and observation point together rotates the horizontal vector.
    base = {"xs_m": 0.0, "ys_m": 0.0, "depth_m": 3000.0, "dip_deg": 60.0, "length_m": 4000.0,
            "width_m": 2000.0, "rake_deg": 30.0, "slip_m": 1.0, "opening_m": 0.2}
    px, py = 1700.0, -2300.0
    u0 = okada_rectangle(px, py, strike_deg=20.0, **base)
    th = math.radians(-75.0)  # strike += 75 deg is a clockwise map rotation
    c, s = math.cos(th), math.sin(th)
    u1 = okada_rectangle(c * px - s * py, s * px + c * py, strike_deg=95.0, **base)
    e0, n0 = float(u0.east), float(u0.north)
    np.testing.assert_allclose(
        [float(u1.east), float(u1.north), float(u1.up)],
        [c * e0 - s * n0, s * e0 + c * n0, float(u0.up)], rtol=1e-5, atol=1e-9,
    )
    # A thrust (rake 90) on a north-striking fault dipping east (to the right of strike):
    # the upper edge projects to x = -3 km cos 45 = -2.12 km and the hanging wall, east
    # of it and above the fault, rises most (at x = -1 km). Were the dip to the west, the
    # maximum would be at x = +1 km.
    x, y, _ = _polar_grid(15e3, 121)
    up = okada_rectangle(x, y, xs_m=0, ys_m=0, depth_m=5000.0, strike_deg=0.0, dip_deg=45.0,
                         length_m=8000.0, width_m=6000.0, rake_deg=90.0, slip_m=1.0).up
    iy, ix = np.unravel_index(np.argmax(up), up.shape)
    assert -2121.0 < x[iy, ix] < 0.0 and abs(y[iy, ix]) < 1000.0 and up.max() > 0.1
    # Left-lateral slip (rake 0) on a north-striking vertical fault: east side moves north.
    u = okada_rectangle([3000.0, -3000.0], [0.0, 0.0], xs_m=0, ys_m=0, depth_m=3000.0,
                        strike_deg=0.0, dip_deg=90.0, length_m=10e3, width_m=4000.0,
                        slip_m=1.0)
    assert u.north[0] > 0 > u.north[1]  # seen from either side, the other moves left


def test_okada_vertical_limit_and_surface_breaking_faults_are_finite() -> None:
    x, y, _ = _polar_grid(8e3, 81)  # grid points fall exactly on the traces below
    kw = {"xs_m": 0.0, "ys_m": 0.0, "strike_deg": 0.0, "length_m": 4000.0, "width_m": 3000.0,
          "rake_deg": 45.0, "slip_m": 1.0, "opening_m": 0.5}
    # Near-vertical dips use the general (1 / cos dip) formulas, whose cancellation grows
    # as cos(dip) -> 0; they must still converge linearly to the cos(dip) = 0 formulas.
    v = okada_rectangle(x, y, depth_m=4000.0, dip_deg=90.0, **kw)
    peak = float(np.abs(v.up).max())
    for dip in (89.9, 89.99, 89.998):
        nv = okada_rectangle(x, y, depth_m=4000.0, dip_deg=dip, **kw)
        diff = max(float(np.abs(a - b).max()) for a, b in
                   zip((v.east, v.north, v.up), (nv.east, nv.north, nv.up), strict=True))
        assert diff <= 5.0 * math.cos(math.radians(dip)) * peak  # observed 3.8 cos(dip)
    for dip in (90.0, 60.0, 20.0):
        depth = 0.5 * 3000.0 * math.sin(math.radians(dip))  # upper edge at the surface
        u = okada_rectangle(x, y, depth_m=depth, dip_deg=dip, **kw)
        for comp in (u.east, u.north, u.up):
            assert np.isfinite(comp).all()
        assert 0.1 < float(np.abs(u.up).max()) < 2.0
    # A horizontal sill and points straight above its corners and edges.
    u = okada_rectangle([2000.0, 0.0, 2000.0], [1500.0, 1500.0, 0.0], xs_m=0, ys_m=0,
                        depth_m=1000.0, strike_deg=0.0, dip_deg=0.0, length_m=3000.0,
                        width_m=4000.0, opening_m=1.0)
    assert np.isfinite(u.up).all() and (u.up > 0).all()


def test_okada_tensile_sill_far_field_is_a_point_tensile_crack_not_mogi() -> None:
    """Far field of a small horizontal tensile crack, and what Mogi can and cannot match.

    A horizontal tensile dislocation of area A and opening U tends, for r >> its size, to
    a point tensile crack of potency dV = A U, whose uplift 3 dV d^3 / (2 pi R^5) is
    independent of nu and integrates to exactly dV over the surface. A Mogi source gives
    (1 - nu) dV_m d / (pi R^3), integrating to 2 (1 - nu) dV_m: the two have the same
    uplift volume when dV_m = dV / (2 (1 - nu)), but not the same shape - the crack's
    centre uplift is then 3 times Mogi's and its half-width 0.565 d instead of 0.766 d.
    """
    depth, side, opening = 4000.0, 400.0, 1.0
    dv = side * side * opening
    r = np.linspace(0.0, 20e3, 41)
    u = okada_rectangle(r, 0.0, xs_m=0, ys_m=0, depth_m=depth, strike_deg=30.0, dip_deg=0.0,
                        length_m=side, width_m=side, opening_m=opening)
    uz, ur = _point_sill(r, depth, dv)
    peak = uz[0]
    # Finite-size corrections are O((side / depth)^2) = 1%: observed below 0.5% of peak.
    np.testing.assert_allclose(u.up, uz, atol=5e-3 * peak)
    np.testing.assert_allclose(u.east, ur, atol=5e-3 * peak)
    # Uplift volume of the finite sill equals its opening volume (1% budget for the grid
    # and the tail beyond 60 km, which holds (d / 60 km)^3 = 3e-4 of it).
    x, y, px = _polar_grid(60e3)
    big = okada_rectangle(x, y, xs_m=0, ys_m=0, depth_m=depth, strike_deg=0.0, dip_deg=0.0,
                          length_m=2000.0, width_m=2000.0, opening_m=0.5).up
    assert big.astype(np.float64).sum() * px * px == pytest.approx(2000.0**2 * 0.5, rel=1e-2)
    # The Mogi source with the same uplift volume has a different shape.
    nu = 0.25
    m = mogi(r, 0.0, depth_m=depth, dvolume_m3=dv / (2 * (1 - nu)), nu=nu)
    assert float(u.up[0]) / float(m.up[0]) == pytest.approx(3.0, rel=1e-2)
    half_sill = np.interp(0.5, (u.up / u.up[0])[::-1], r[::-1])
    half_mogi = np.interp(0.5, (m.up / m.up[0])[::-1], r[::-1])
    assert half_sill / depth == pytest.approx(math.sqrt(2**0.4 - 1), abs=0.02)
    assert half_mogi / depth == pytest.approx(math.sqrt(2 ** (2 / 3) - 1), abs=0.02)


# ---------------------------------------------------------------- penny-shaped crack


def _sneddon_volume(p: float, a: float, mu: float, nu: float) -> float:
    """Full-space pressurised penny crack: dV = 16 (1 - nu^2) P a^3 / (3 E) (Sneddon 1946)
    = 8 (1 - nu) P a^3 / (3 mu) with E = 2 mu (1 + nu)."""
    return 16 * (1 - nu**2) * p * a**3 / (3 * 2 * mu * (1 + nu))


def test_penny_deep_limit_is_sneddon_point_crack() -> None:
    # h = depth / radius = 20: corrections are O(1 / h^2) = 0.25%.
    a, d, p, mu, nu = 300.0, 6000.0, 5e6, 3e10, 0.25
    dv = penny_volume_m3(depth_m=d, radius_m=a, dpressure_pa=p, shear_modulus_pa=mu, nu=nu)
    assert dv == pytest.approx(_sneddon_volume(p, a, mu, nu), rel=1e-3)
    r = np.linspace(0.0, 20e3, 41)
    u = penny_crack(r, 0.0, xs_m=0.0, ys_m=0.0, depth_m=d, radius_m=a, dpressure_pa=p)
    uz, ur = _point_sill(r, d, _sneddon_volume(p, a, mu, nu))
    np.testing.assert_allclose(u.up, uz, atol=5e-3 * uz[0])
    np.testing.assert_allclose(u.east, ur, atol=5e-3 * uz[0])


def test_penny_volume_grows_as_the_crack_nears_the_surface() -> None:
    a, p = 2000.0, 1e6
    ratios = [penny_volume_m3(depth_m=h * a, radius_m=a, dpressure_pa=p)
              / _sneddon_volume(p, a, 3e10, 0.25) for h in (8.0, 2.0, 1.0, 0.5, 0.2)]
    assert all(b > c for b, c in zip(ratios[1:], ratios[:-1], strict=False))
    assert 1.0 < ratios[0] < 1.01 and ratios[-1] > 5.0


@pytest.mark.parametrize("h", [0.1, 0.5, 2.0])
def test_penny_uplift_volume_equals_crack_volume(h: float) -> None:
    # For any horizontal crack in a half-space the surface uplift volume equals the
    # crack's opening volume (each point tensile element contributes exactly its
    # potency; radial shear on the crack contributes none). This ties the Hankel-integral
    # displacement to the crack volume computed from the Fredholm solution.
    a = 1000.0
    x, y, px = _polar_grid(60e3, 1201)
    up = penny_crack(x, y, xs_m=0, ys_m=0, depth_m=h * a, radius_m=a, dpressure_pa=1e6).up
    vol = up.astype(np.float64).sum() * px * px
    assert vol == pytest.approx(penny_volume_m3(depth_m=h * a, radius_m=a, dpressure_pa=1e6),
                                rel=5e-3)


def test_penny_shallow_limit_is_a_bending_clamped_plate() -> None:
    # For h -> 0 the overburden behaves as a clamped circular plate of thickness d under
    # pressure P: w(r) = P (a^2 - r^2)^2 / (64 D), D = mu d^3 / (6 (1 - nu)), and its top
    # surface moves outwards by u_r = -(d / 2) dw/dr. The half-space is softer than a
    # clamp at the rim, so the exact solution exceeds the plate by a margin that vanishes
    # as h -> 0 (about linearly in h).
    a, p, mu, nu = 1000.0, 1e6, 3e10, 0.25
    excess = []
    for h in (0.1, 0.05):
        d = h * a
        plate_d = mu * d**3 / (6 * (1 - nu))
        u = penny_crack([0.0, 0.5 * a], 0.0, xs_m=0, ys_m=0, depth_m=d, radius_m=a,
                        dpressure_pa=p, shear_modulus_pa=mu, nu=nu)
        w0 = p * a**4 / (64 * plate_d)
        ur_half = d / 2 * p * 4 * (0.5 * a) * (a * a - 0.25 * a * a) / (64 * plate_d)
        ratio_up, ratio_ur = float(u.up[0]) / w0, float(u.east[1]) / ur_half
        assert 1.0 < ratio_up < 1.4 and 1.0 < ratio_ur < 1.4
        excess.append(ratio_up - 1.0)
    assert excess[1] < 0.6 * excess[0]


def test_penny_profile_shape_deep_versus_shallow() -> None:
    # Deep (h = 10): the point tensile crack's (1 + r^2 / d^2)^(-5/2), to O(1 / h^2).
    d = 8000.0
    r = np.array([0.0, 0.1, 0.3, 0.6, 1.0]) * d
    deep = penny_crack(r, 0.0, xs_m=0, ys_m=0, depth_m=d, radius_m=800.0, dpressure_pa=1e6).up
    np.testing.assert_allclose(deep / deep[0], (1 + (r / d) ** 2) ** -2.5, atol=0.01)
    a = 1000.0
    r = np.array([0.0, 500.0, 1000.0, 3000.0])
    shallow = penny_crack(r, 0.0, xs_m=0, ys_m=0, depth_m=200.0, radius_m=a,
                          dpressure_pa=1e6).up
    # Flat-topped dome confined over the crack: still 60% of the peak at r = a / 2
    # (a point source at that depth would give 0.7%), little beyond the rim.
    assert shallow[1] / shallow[0] > 0.6
    assert abs(shallow[3]) < 0.01 * shallow[0]


def test_penny_map_is_symmetric_linear_and_table_matches_direct() -> None:
    n = 500
    ax = (np.arange(n) - 250) * 110.0
    x, y = np.meshgrid(ax, ax[::-1])
    kw = {"xs_m": 3000.0, "ys_m": -2000.0, "depth_m": 800.0, "radius_m": 5000.0}
    grid = penny_crack(x, y, dpressure_pa=2e6, **kw)  # table + interpolation path
    idx = np.random.default_rng(3).integers(0, x.size, 1500)
    direct = penny_crack(x.ravel()[idx], y.ravel()[idx], dpressure_pa=2e6, **kw)
    peak = float(np.abs(grid.up).max())
    for g, dd in zip((grid.east, grid.north, grid.up), (direct.east, direct.north, direct.up),
                     strict=True):
        np.testing.assert_allclose(g.ravel()[idx], dd, atol=1e-4 * peak)
    neg = penny_crack(x.ravel()[idx], y.ravel()[idx], dpressure_pa=-2e6, **kw)
    np.testing.assert_allclose(neg.up, -direct.up, rtol=1e-6)
    ring = np.linspace(0, 2 * np.pi, 13)[:-1]
    u = penny_crack(3000 + 4000 * np.cos(ring), -2000 + 4000 * np.sin(ring),
                    dpressure_pa=2e6, **kw)
    np.testing.assert_allclose(u.up, u.up[0], rtol=1e-5)
    radial = u.east * np.cos(ring) + u.north * np.sin(ring)
    np.testing.assert_allclose(radial, radial[0], rtol=1e-5)


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mogi(0, 0, depth_m=0.0, dvolume_m3=1e6), "depth_m"),
        (lambda: mogi(0, 0, depth_m=-10.0, dvolume_m3=1e6), "depth_m"),
        (lambda: mogi(0, 0, depth_m=1e3, dvolume_m3=1e6, nu=0.5), "nu"),
        (lambda: mogi(0, 0, depth_m=1e3, dvolume_m3=1e6, nu=0.0), "nu"),
        (lambda: mogi(0, 0, depth_m=1e3, dvolume_m3=float("nan")), "dvolume_m3"),
        (lambda: mogi(np.zeros(3), np.zeros(4), depth_m=1e3, dvolume_m3=1.0), "broadcast"),
        (lambda: mogi([np.nan], [0.0], depth_m=1e3, dvolume_m3=1.0), "finite"),
        (lambda: okada_rectangle(0, 0, xs_m=0, ys_m=0, depth_m=5e3, strike_deg=0, dip_deg=45,
                                 length_m=0.0, width_m=1e3, slip_m=1), "length_m"),
        (lambda: okada_rectangle(0, 0, xs_m=0, ys_m=0, depth_m=5e3, strike_deg=0, dip_deg=45,
                                 length_m=1e3, width_m=-1.0, slip_m=1), "width_m"),
        (lambda: okada_rectangle(0, 0, xs_m=0, ys_m=0, depth_m=-5e3, strike_deg=0, dip_deg=45,
                                 length_m=1e3, width_m=1e3, slip_m=1), "depth_m"),
        (lambda: okada_rectangle(0, 0, xs_m=0, ys_m=0, depth_m=5e3, strike_deg=0, dip_deg=95,
                                 length_m=1e3, width_m=1e3, slip_m=1), "dip_deg"),
        (lambda: okada_rectangle(0, 0, xs_m=0, ys_m=0, depth_m=5e3, strike_deg=0, dip_deg=45,
                                 length_m=1e3, width_m=1e3, slip_m=1, nu=0.6), "nu"),
        (lambda: okada_rectangle(0, 0, xs_m=0, ys_m=0, depth_m=1e3, strike_deg=0, dip_deg=90,
                                 length_m=1e3, width_m=3e3, slip_m=1), "above the surface"),
        (lambda: okada85_local(0, 0, 1.0, 70, 3, 2, 1, 0, 0), "above the surface"),
        (lambda: penny_crack(0, 0, xs_m=0, ys_m=0, depth_m=0.0, radius_m=1e3,
                             dpressure_pa=1e6), "depth_m"),
        (lambda: penny_crack(0, 0, xs_m=0, ys_m=0, depth_m=1e3, radius_m=0.0,
                             dpressure_pa=1e6), "radius_m"),
        (lambda: penny_crack(0, 0, xs_m=0, ys_m=0, depth_m=10.0, radius_m=1e3,
                             dpressure_pa=1e6), "too shallow"),
        (lambda: penny_crack(0, 0, xs_m=0, ys_m=0, depth_m=1e3, radius_m=1e3,
                             dpressure_pa=1e6, nu=-0.1), "nu"),
        (lambda: penny_crack(0, 0, xs_m=0, ys_m=0, depth_m=1e3, radius_m=1e3,
                             dpressure_pa=1e6, shear_modulus_pa=0.0), "shear_modulus_pa"),
    ],
)
def test_bad_source_arguments_raise_input_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=match):
        call()


# ---------------------------------------------------------------- draws

_RANGE_OF = {
    MogiParams: {"depth_m": "mogi_depth_m"},
    PennySillParams: {"depth_m": "penny_depth_m", "radius_m": "penny_radius_m",
                      "dpressure_pa": "penny_dpressure_pa"},
    EarthquakeParams: {"strike_deg": "quake_strike_deg", "dip_deg": "quake_dip_deg",
                       "rake_deg": "quake_rake_deg", "length_m": "quake_length_m",
                       "depth_m": "quake_depth_m", "slip_m": "quake_slip_m"},
    DykeParams: {"strike_deg": "dyke_strike_deg", "dip_deg": "dyke_dip_deg",
                 "length_m": "dyke_length_m", "depth_m": "dyke_depth_m",
                 "opening_m": "dyke_opening_m"},
    OkadaSillParams: {"strike_deg": "sill_strike_deg", "dip_deg": "sill_dip_deg",
                      "length_m": "sill_length_m", "depth_m": "sill_depth_m",
                      "opening_m": "sill_opening_m"},
}


def test_draws_stay_inside_the_seed_ranges() -> None:
    ranges = SourceRanges()
    rng = np.random.default_rng(7)
    for kind in SOURCE_KINDS:
        for _ in range(300):
            s = draw_source(rng, kind, ranges, centre_xy_m=(1e4, -5e3), centre_jitter_m=2e3)
            assert s.kind == kind
            assert abs(s.xs_m - 1e4) <= 2e3 and abs(s.ys_m + 5e3) <= 2e3
            for attr, name in _RANGE_OF[type(s)].items():
                lo, hi = getattr(ranges, name)
                assert lo <= getattr(s, attr) <= hi, (kind, attr, getattr(s, attr))
            if isinstance(s, MogiParams):
                assert 1e5 <= s.dvolume_m3 <= 1e7
            if isinstance(s, EarthquakeParams | DykeParams | OkadaSillParams):
                top = s.depth_m - 0.5 * s.width_m * math.sin(math.radians(s.dip_deg))
                assert top >= -1e-6 and s.width_m > 0
            if isinstance(s, EarthquakeParams):
                assert s.width_m <= s.length_m * ranges.quake_width_to_length[1] + 1e-9
    # Log-uniform volume: about half of the draws below the geometric mean 1e6 m^3.
    vols = [draw_source(rng, "mogi").dvolume_m3 for _ in range(2000)]  # type: ignore[union-attr]
    assert 0.45 < np.mean(np.array(vols) < 1e6) < 0.55


def test_draws_are_reproducible_and_cover_all_kinds() -> None:
    a = [draw_source(np.random.default_rng(11)) for _ in range(1)]
    b = [draw_source(np.random.default_rng(11)) for _ in range(1)]
    assert a == b
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    seq1 = [draw_source(rng1) for _ in range(50)]
    seq2 = [draw_source(rng2) for _ in range(50)]
    assert seq1 == seq2
    assert {s.kind for s in seq1} == set(SOURCE_KINDS)
    assert seq1 != [draw_source(np.random.default_rng(6)) for _ in range(50)]


def test_drawn_sources_give_finite_displacements_and_can_deflate() -> None:
    rng = np.random.default_rng(2)
    ax = np.linspace(-15e3, 15e3, 48)
    x, y = np.meshgrid(ax, ax[::-1])
    deflating = SourceRanges(deflation_probability=1.0)
    for kind in SOURCE_KINDS:
        for _ in range(5):
            u = draw_source(rng, kind, deflating).displacement(x, y)
            assert all(np.isfinite(c).all() for c in (u.east, u.north, u.up))
            assert u.shape == (48, 48) and u.up.dtype == np.float32
    assert draw_source(rng, "mogi", deflating).dvolume_m3 < 0  # type: ignore[union-attr]
    assert draw_source(rng, "sill_penny", deflating).dpressure_pa < 0  # type: ignore[union-attr]
    assert draw_source(rng, "sill_okada", deflating).opening_m < 0  # type: ignore[union-attr]
    assert draw_source(rng, "dyke", deflating).opening_m > 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"mogi_depth_m": (5e3, 1e3)}, "min must be <= max"),
        ({"mogi_depth_m": (-1.0, 1e3)}, "must be > 0"),
        ({"quake_length_m": (0.0, 1e3)}, "must be > 0"),
        ({"dyke_dip_deg": (45.0, 100.0)}, "dips must lie in"),
        ({"sill_opening_m": (0.1, float("inf"))}, "finite"),
        ({"penny_radius_m": [500.0, 6000.0]}, "tuple"),
        ({"penny_depth_m": (10.0, 6000.0)}, "supported minimum"),
        ({"deflation_probability": 1.5}, "deflation_probability"),
        ({"nu": 0.5}, "nu"),
        ({"shear_modulus_pa": -1.0}, "shear_modulus_pa"),
    ],
)
def test_bad_ranges_raise_input_error(change: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        dataclasses.replace(SourceRanges(), **change)  # type: ignore[arg-type]


def test_bad_draw_arguments_raise_input_error() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="unknown source kind 'volcano'"):
        draw_source(rng, "volcano")
    with pytest.raises(InputError, match="centre_jitter_m"):
        draw_source(rng, "mogi", centre_jitter_m=-1.0)
    with pytest.raises(InputError, match="centre_xy_m"):
        draw_source(rng, "mogi", centre_xy_m=(0.0, float("nan")))
    with pytest.raises(InputError, match="numpy.random.Generator"):
        draw_source(np.random.RandomState(0), "mogi")  # type: ignore[arg-type]
