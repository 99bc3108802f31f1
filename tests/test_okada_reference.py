"""Independent high-precision check of the Okada (1985) rectangle solution.

Okada's Table 2 (checked in ``tests/test_sources.py``) prints only four significant digits.
This file checks :func:`okada85_local` to far better than 1e-4 relative against a
solution derived independently of its closed-form integrals: the Okada (1985) POINT-source
surface displacement, integrated numerically over the fault plane.

Reference formulas: Okada, Y. (1985), Surface deformation due to shear and tensile faults
in a half-space, Bull. Seismol. Soc. Am. 75(4), 1135-1154, the point-source section:
surface displacements (ux, uy, uz) of a strike-slip (U1), dip-slip (U2) and tensile (U3)
point source buried at (0, 0, -d) (his frame: x along strike, z up, the fault dipping
towards -y), the vector (x, y, d) times the first term:

    strike:  u = -U1 / (2 pi) [3 x q / R^5 (x, y, d) + (I^0_1, I^0_2, I^0_4) sin(dip)]
    dip:     u = -U2 / (2 pi) [3 p q / R^5 (x, y, d) - (I^0_3, I^0_1, I^0_5) sin(dip) cos(dip)]
    tensile: u = U3 / (2 pi) [3 q^2 / R^5 (x, y, d) - (I^0_3, I^0_1, I^0_5) sin^2(dip)]

with p = y cos(dip) + d sin(dip), q = y sin(dip) - d cos(dip), R^2 = x^2 + y^2 + d^2,
k = mu / (lambda + mu) = 1 - 2 nu and

    I^0_1 = k y [1 / (R (R + d)^2) - x^2 (3R + d) / (R^3 (R + d)^3)]
    I^0_2 = k x [1 / (R (R + d)^2) - y^2 (3R + d) / (R^3 (R + d)^3)]
    I^0_3 = k x / R^3 - I^0_2
    I^0_4 = -k x y (2R + d) / (R^3 (R + d)^2)
    I^0_5 = k [1 / (R (R + d)) - x^2 (2R + d) / (R^3 (R + d)^2)]

(the same expressions as Okada's own 1985 Fortran routine SPOINT, which is distributed
with several tsunami codes). U is the potency, dislocation
times area. The finite fault is the superposition of point sources of potency density
U d(xi) d(eta) at (xi, eta cos(dip), -(d - eta sin(dip))), 0 <= xi <= L, 0 <= eta <= W,
which Okada integrated analytically (his eqs. 23-30); here the integral is taken with a
tensor Gauss-Legendre rule instead. For a buried fault the integrand is analytic on the
rectangle, so the rule converges geometrically and 64 x 64 nodes reach round-off.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.science.sources import okada85_local, okada_rectangle

Array = np.ndarray
#: Okada's check geometry (Table 2): L = 3, W = 2, unit dislocations; lengths in km.
LENGTH, WIDTH = 3.0, 2.0
MODES = {"strike": (1.0, 0.0, 0.0), "dip": (0.0, 1.0, 0.0), "tensile": (0.0, 0.0, 1.0)}
#: Observation points (x, y) at many azimuths and distances, including points above the
#: fault, on the lines x = 0 and x = L through its ends (xi = 0: Okada's I5 special case),
#: on y = 0 (q = 0 for a vertical fault) and far away.
POINTS = np.array([
    (2.0, 3.0), (1.5, 0.5), (0.0, 0.0), (3.0, 1.0), (1.5, 0.0), (-3.0, 1.0), (6.0, -4.0),
    (0.0, -2.5), (-5.0, -5.0), (1.5, -7.0), (10.0, 10.0), (-8.0, 2.0), (4.2, 6.5),
])
#: Points for the tiny-fault check: off the lines x = 0, x = L and y = 0, where parts of
#: the field vanish to first order and the fault's finite size would dominate.
RING = np.array([(r * math.cos(a), r * math.sin(a))
                 for r in (1.3, 3.7, 9.0) for a in np.radians([20.0, 115.0, 200.0, 290.0])])


def _point_source(
    x: Array, y: Array, d: Array, sd: float, cd: float, nu: float,
) -> Array:
    """Okada (1985) point-source surface displacement per unit potency.

    Args:
        x, y: Observation point relative to the point source's epicentre (Okada frame).
        d: Source depth, > 0.
        sd, cd: sin and cos of the dip.
        nu: Poisson's ratio.

    Returns:
        ``(3, 3, *shape)``: mode (strike, dip, tensile) x component (ux, uy, uz).
    """
    k = 1.0 - 2.0 * nu
    p = y * cd + d * sd
    q = y * sd - d * cd
    r2 = x * x + y * y + d * d
    r = np.sqrt(r2)
    r3 = r * r2
    rd = r + d
    i1 = k * y * (1.0 / (r * rd**2) - x * x * (3.0 * r + d) / (r3 * rd**3))
    i2 = k * x * (1.0 / (r * rd**2) - y * y * (3.0 * r + d) / (r3 * rd**3))
    i3 = k * x / r3 - i2
    i4 = -k * x * y * (2.0 * r + d) / (r3 * rd**2)
    i5 = k * (1.0 / (r * rd) - x * x * (2.0 * r + d) / (r3 * rd**2))
    c = 3.0 * q / (r3 * r2)
    strike = [-(c * x * x + i1 * sd), -(c * x * y + i2 * sd), -(c * x * d + i4 * sd)]
    dip = [-(c * p * x - i3 * sd * cd), -(c * p * y - i1 * sd * cd), -(c * p * d - i5 * sd * cd)]
    tens = [c * q * x - i3 * sd * sd, c * q * y - i1 * sd * sd, c * q * d - i5 * sd * sd]
    return np.array([strike, dip, tens]) / (2.0 * math.pi)


def _quadrature_rectangle(
    x: Array, y: Array, d: float, dip_deg: float, length: float, width: float, nu: float,
    n: int = 64,
) -> Array:
    """Point source integrated over the rectangle with an n x n Gauss-Legendre rule.

    Same frame and fault as :func:`okada85_local`: lower edge from (0, 0, -d) to
    (length, 0, -d), extending ``width`` up-dip. Returns ``(3, 3, n_points)`` (mode x
    component x point) for unit dislocations.
    """
    dip = math.radians(dip_deg)
    sd, cd = math.sin(dip), math.cos(dip)
    if abs(dip_deg) == 90.0:
        cd = 0.0  # not 6e-17, which leaves a 1e-17 residue where the field is 0 by symmetry
    t, w = np.polynomial.legendre.leggauss(n)
    xi = 0.5 * length * (t + 1.0)
    eta = 0.5 * width * (t + 1.0)
    weight = np.outer(w, w) * (0.25 * length * width)  # (xi, eta)
    xs, ys, ds = np.broadcast_arrays(
        x[:, None, None] - xi[None, :, None],
        y[:, None, None] - eta[None, None, :] * cd,
        d - eta[None, None, :] * sd,
    )
    u = _point_source(xs, ys, ds, sd, cd, nu)
    return np.einsum("mcpij,ij->mcp", u, weight)


def _okada(
    x: Array, y: Array, d: float, dip_deg: float, length: float, width: float, nu: float,
) -> Array:
    """:func:`okada85_local` for the three unit dislocations, ``(3, 3, n_points)``."""
    return np.array([
        okada85_local(x, y, d, dip_deg, length, width, *unit, nu=nu)
        for unit in MODES.values()
    ])


def _relative_error(got: Array, ref: Array) -> Array:
    """Per mode and point: max component error over the norm of the reference vector.

    Where the field vanishes by symmetry (on a vertical fault's plane y = 0: dip slip
    everywhere, strike slip at x = L / 2) the norm is floored at 1e-6 of the mode's
    largest norm.
    """
    norm = np.linalg.norm(ref, axis=1)
    floor = 1e-6 * norm.max(axis=1, keepdims=True)
    return np.abs(got - ref).max(axis=1) / np.maximum(norm, floor)


def test_point_source_matches_a_tiny_finite_fault() -> None:
    # Cross-check of the transcribed point-source formulas before they are trusted for
    # the integral: a 1 m x 1 m fault at 3 km depth, seen from 1.3-9 km, is a point source
    # of potency U x 1e-6 km^2 at its centre, to O((size / distance)^2) ~ 1e-6. Observed
    # worst relative error: 1.2e-6 (at 1.3 km).
    size, d = 1e-3, 3.0
    x, y = RING[:, 0], RING[:, 1]
    for dip in (0.0, 30.0, 70.0, 90.0, -60.0, -90.0):
        sd, cd = math.sin(math.radians(dip)), math.cos(math.radians(dip))
        got = _okada(x, y, d, dip, size, size, 0.25) / size**2
        ref = _point_source(x - 0.5 * size, y - 0.5 * size * cd,
                            np.full_like(x, d - 0.5 * size * sd), sd, cd, 0.25)
        err = _relative_error(got, ref)
        assert err.max() < 5e-6, (dip, err.max())


# (d, dip_deg, nu, rtol): buried faults (upper edge 0.6-4 km deep for the 3 x 2 fault),
# Okada's nu = 0.25 and three others. Observed worst errors: 1e-14 to 1.4e-12 for the
# inclined dips; 1.7e-11 at dip 90 deg (at the floored symmetry zero of _relative_error,
# elsewhere 1e-14); 2.7e-7 at dip 89.9 deg, where Okada's 1 / cos(dip) terms cancel
# (about 20 eps / cos^2(dip), as noted in okada.py), still 400 times inside 1e-4.
CASES = [
    (4.0, 0.0, 0.25, 1e-10), (4.0, 30.0, 0.25, 1e-10), (4.0, 70.0, 0.25, 1e-10),
    (4.0, 90.0, 0.25, 1e-10), (4.0, -60.0, 0.25, 1e-10), (4.0, -90.0, 0.25, 1e-10),
    (2.5, 30.0, 0.25, 1e-10), (2.5, 70.0, 0.35, 1e-10), (3.0, 90.0, 0.1, 1e-10),
    (2.0, 0.0, 0.3, 1e-10), (4.0, 89.9, 0.25, 1e-6),
]


@pytest.mark.parametrize(("d", "dip", "nu", "rtol"), CASES)
def test_okada85_matches_integrated_point_sources(
    d: float, dip: float, nu: float, rtol: float,
) -> None:
    x, y = POINTS[:, 0], POINTS[:, 1]
    ref = _quadrature_rectangle(x, y, d, dip, LENGTH, WIDTH, nu, n=64)
    # The reference is converged: a 40 x 40 rule agrees with the 64 x 64 one.
    coarse = _quadrature_rectangle(x, y, d, dip, LENGTH, WIDTH, nu, n=40)
    assert _relative_error(coarse, ref).max() < 1e-10
    err = _relative_error(_okada(x, y, d, dip, LENGTH, WIDTH, nu), ref)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() < rtol, (list(MODES)[worst[0]], POINTS[worst[1]], err.max())


@pytest.mark.parametrize(
    ("nu", "dip", "d"), [(0.26, 70.0, 4.0), (0.25, 70.5, 4.0), (0.25, 70.0, 4.05)],
)
def test_reference_detects_a_wrong_parameter(nu: float, dip: float, d: float) -> None:
    # The check can fail: Okada evaluated with a Poisson's ratio, dip or depth slightly
    # off the reference's (nu 0.25, dip 70, d 4) differs by well over 1e-3 for every mode.
    x, y = POINTS[:, 0], POINTS[:, 1]
    ref = _quadrature_rectangle(x, y, 4.0, 70.0, LENGTH, WIDTH, 0.25)
    err = _relative_error(_okada(x, y, d, dip, LENGTH, WIDTH, nu), ref)
    assert (err.max(axis=1) > 1e-3).all(), err.max(axis=1)


def test_map_frame_wrapper_matches_point_sources_integrated_in_map_frame() -> None:
    # okada_rectangle (centroid, strike, rake, Aki & Richards) against point sources
    # placed directly in the map frame: node position = centroid + a s + b w, with s the
    # horizontal strike vector and w the up-dip vector (the fault dips to the right of
    # strike). Each node's observation offset is rotated into that node's Okada frame.
    # float32 output: agreement to 1e-6 of the field's largest value.
    strike, dip, rake = 37.0, 55.0, 120.0
    slip, opening, nu = 1.3, 0.4, 0.27
    xc, yc, zc, length, width = 500.0, -800.0, 3000.0, 3000.0, 2000.0
    phi, delta, lam = np.radians([strike, dip, rake])
    s_hat = np.array([math.sin(phi), math.cos(phi)])  # (east, north)
    right = np.array([math.cos(phi), -math.sin(phi)])  # down-dip horizontal direction
    t, w = np.polynomial.legendre.leggauss(64)
    a = 0.5 * length * t  # along strike from the centroid
    b = 0.5 * width * t  # up-dip from the centroid
    weight = np.outer(w, w) * (0.25 * length * width)
    ne = np.array([(r * math.cos(q), r * math.sin(q))
                   for r in (1500.0, 4000.0, 12000.0) for q in np.radians(np.arange(0, 360, 45))])
    # Node horizontal position and depth, (n_a, n_b).
    east = xc + a[:, None] * s_hat[0] - b[None, :] * math.cos(delta) * right[0]
    north = yc + a[:, None] * s_hat[1] - b[None, :] * math.cos(delta) * right[1]
    depth = zc - b[None, :] * math.sin(delta) + 0.0 * a[:, None]
    obs_e, obs_n = xc + ne[:, 0], yc + ne[:, 1]
    de = obs_e[:, None, None] - east
    dn = obs_n[:, None, None] - north
    xl = de * s_hat[0] + dn * s_hat[1]  # Okada x: along strike
    yl = -(de * right[0] + dn * right[1])  # Okada y: the fault dips towards -y
    g = _point_source(xl, yl, np.broadcast_to(depth, xl.shape), math.sin(delta),
                      math.cos(delta), nu)
    u_local = np.einsum("m,mcpij,ij->cp",
                        [slip * math.cos(lam), slip * math.sin(lam), opening], g, weight)
    want_e = u_local[0] * s_hat[0] - u_local[1] * right[0]
    want_n = u_local[0] * s_hat[1] - u_local[1] * right[1]
    u = okada_rectangle(obs_e, obs_n, xs_m=xc, ys_m=yc, depth_m=zc,
                        strike_deg=strike, dip_deg=dip, length_m=length, width_m=width,
                        rake_deg=rake, slip_m=slip, opening_m=opening, nu=nu)
    want = np.stack([want_e, want_n, u_local[2]])
    got = np.stack([u.east, u.north, u.up]).astype(np.float64)
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 1e-6, err  # observed: 4e-8 (float32 rounding)
