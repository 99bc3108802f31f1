"""Okada (1985) surface displacement of a finite rectangular dislocation in a half-space.

Source: Okada, Y. (1985), Surface deformation due to shear and tensile faults in a
half-space, Bull. Seismol. Soc. Am. 75(4), 1135-1154: equations (25)-(30) for the surface
displacement of strike-slip (U1), dip-slip (U2) and tensile (U3) dislocations on a
rectangle, with Chinnery's notation for the four corners, and the rules for singular
cases given there and in Okada (1992, Bull. Seismol. Soc. Am. 82(2), 1018-1040, DC3D):
``cos(dip) = 0`` (eq. 29), ``R + eta = 0``, ``R + xi = 0``, ``q = 0`` and ``xi = 0``.
Anantrasirichai et al. (2019a, section 3.1) use this model for earthquakes, dykes and sills.

Verified against Okada (1985) Table 2 (cases 2-4, all three dislocation types) in
``tests/test_sources.py``.

Two frames:

* :func:`okada85_local` works in Okada's own frame: x along strike, z up, the fault
  dipping towards -y; the lower edge of the fault runs from (0, 0, -d) to (L, 0, -d) and
  the fault extends up-dip by W, so its upper edge lies at y = W cos(dip),
  depth d - W sin(dip). This is the frame of Okada's Table 2 check values.
* :func:`okada_rectangle` works in the map frame (x = east, y = north) with the
  Aki & Richards (1980) conventions: strike in degrees clockwise from north, the fault
  dipping to the right of the strike direction, rake measured in the fault plane
  anticlockwise from the strike direction (0 = left-lateral, 90 = reverse/thrust,
  180 = right-lateral, -90 = normal), slip being the hanging wall's motion relative to the
  footwall. ``(xs_m, ys_m, depth_m)`` is the CENTROID of the fault plane: its horizontal
  position and its depth below the surface (the convention of most volcano-geodesy codes).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.sources._checks import coordinates, finite, poisson, positive
from monitor.science.sources.enu import ENU

#: Below this |cos(dip)| (dip within about 0.001 deg of vertical) the cos(dip) = 0 formulas
#: are used. DC3D uses 1e-6, but the general formulas lose about 20 eps / cos^2(dip) to
#: cancellation; 2e-5 balances that against the O(cos dip) error of the vertical formulas.
_COS_EPS = 2.0e-5
#: Points are processed in blocks of this many so that temporaries stay in cache.
_BLOCK = 8192

Array = NDArray[np.float64]


def _chinnery(f: Array) -> Array:
    """Chinnery's sum f(x, p) - f(x, p - W) - f(x - L, p) + f(x - L, p - W), (2, 2, n) -> (n,)."""
    out = f[0, 0] - f[0, 1]
    out -= f[1, 0]
    out += f[1, 1]
    return out


def _okada85(
    x: Array, y: Array, d: float, sd: float, cd: float, length: float, width: float,
    u1: float, u2: float, u3: float, nu: float,
) -> tuple[Array, Array, Array]:
    """Okada (1985) eqs (25)-(30) at 1-D surface points ``x``, ``y`` (Okada frame).

    The four corners of Chinnery's notation are evaluated at once on arrays shaped
    ``(2, 2, n)`` (xi index, eta index, point). Every term of eqs (25)-(27) is summed
    over the corners first (the sum is linear and ``q`` does not depend on the corner),
    then the three dislocation types are combined on ``(n,)`` arrays. Returns float64
    ``(ux, uy, uz)``; a point that coincides with a corner of a surface-breaking fault
    (R = 0, a true singularity) gets 0, as in DC3D.
    """
    k = 1.0 - 2.0 * nu  # mu / (lambda + mu)
    p = y * cd + d * sd
    q1 = y * sd - d * cd  # (n,)
    q = q1[None, None, :]
    xi = np.stack([x, x - length])[:, None, :]
    eta = np.stack([p, p - width])[None, :, :]
    xi2 = xi * xi
    q2 = q * q
    eta2 = eta * eta
    xq2 = xi2 + q2  # X^2, (2, 1, n)
    r = eta2 + xq2
    np.sqrt(r, out=r)  # R, (2, 2, n)
    ytil = eta * cd + q * sd  # (1, 2, n)
    dtil = eta * sd - q * cd  # depth of the corner's edge: >= 0 on the surface
    # R = 0, R + eta = 0 and R + xi = 0 all need q = 0: points off the plane of the fault
    # (the usual case) skip the special-case masks.
    q_zero = not q1.all()

    # R + eta, R + xi and R + dtil without cancellation where eta, xi or dtil < 0.
    r_pe = r + np.abs(eta)
    if (eta < 0.0).any():
        np.divide(xq2, r_pe, out=r_pe, where=eta < 0.0)
    r_px = r + np.abs(xi)
    np.divide(q2 + eta2, r_px, out=r_px, where=xi < 0.0)
    r_pd = r + np.abs(dtil)
    if (dtil < 0.0).any():
        np.divide(xi2 + ytil * ytil, r_pd, out=r_pd, where=dtil < 0.0)
    zero_pe = (r_pe == 0.0) if q_zero else None  # xi = q = 0, eta < 0 (dips < 0 only)
    if zero_pe is not None and zero_pe.any():
        # Okada (1992): use ln(R + eta) = -ln(R - eta) and drop the 1 / (R + eta) terms.
        ln_rpe = np.log(np.where(zero_pe, 1.0 / (r + np.abs(eta)), r_pe))
        inv_rpe = np.where(zero_pe, 0.0, 1.0 / np.where(zero_pe, 1.0, r_pe))
    else:
        ln_rpe = np.log(r_pe)
        inv_rpe = 1.0 / r_pe
    a0 = inv_rpe / r  # 1 / (R (R + eta))
    rr = r * r_px
    if q_zero:
        b0 = np.zeros_like(r)  # 1 / (R (R + xi)), 0 where R + xi = 0 (Okada 1992)
        np.divide(1.0, rr, out=b0, where=rr > 0.0)
        theta = np.zeros_like(r)  # atan(xi eta / (q R)), 0 where q = 0 (Okada 1992)
        np.divide(xi * eta, q * r, out=theta, where=q != 0.0)
    else:
        b0 = np.divide(1.0, rr, out=rr)
        theta = xi * eta
        theta /= q
        theta /= r
    np.arctan(theta, out=theta)
    inv_rpd = 1.0 / r_pd

    if cd != 0.0:  # eq. (28)
        x_big = np.sqrt(xq2)
        rx = r + x_big
        i5 = eta * (x_big + q * cd)
        i5 += (x_big * sd) * rx
        rx *= xi * cd
        if xi.all():
            i5 /= rx
        else:  # I5 = 0 where xi = 0 (Okada 1985)
            np.divide(i5, rx, out=i5, where=xi != 0.0)
            i5[np.broadcast_to(xi == 0.0, i5.shape)] = 0.0
        np.arctan(i5, out=i5)
        i5 *= 2.0 * k / cd
        i4 = np.log(r_pd)
        i4 -= sd * ln_rpe
        i4 *= k / cd
        i3 = ytil * inv_rpd
        i3 -= cd * ln_rpe
        i3 *= k / cd
        i3 += (sd / cd) * i4
        i1 = xi * inv_rpd
        i1 *= -k / cd
        i1 -= (sd / cd) * i5
    else:  # eq. (29), cos(dip) = 0
        inv2 = inv_rpd * inv_rpd
        i1 = (-0.5 * k) * (xi * q) * inv2
        i3 = 0.5 * k * (eta * inv_rpd + (ytil * q) * inv2 - ln_rpe)
        i4 = (-k * q) * inv_rpd
        i5 = (-k * sd) * xi * inv_rpd

    # Eqs (25)-(27), each term summed over the corners, then the three types combined:
    # a = q / (R (R + eta)) = q a0 and b = q / (R (R + xi)) = q b0.
    c = sd * (u2 * cd - u3 * sd)
    s_axi = _chinnery(a0 * xi) * q1
    s_th = _chinnery(theta)
    s_i1 = _chinnery(i1)
    s_i3 = _chinnery(i3)
    ux = (u3 * q1 * q1) * _chinnery(a0) - u1 * s_axi - u1 * s_th - (u1 * sd) * s_i1 + c * s_i3
    uy = (u3 * sd - u2 * cd) * s_th + c * s_i1 - (u3 * sd) * s_axi
    uz = (u3 * cd) * s_axi - (u2 * sd + u3 * cd) * s_th + c * _chinnery(i5)
    if u2 != 0.0:
        ux -= (u2 * q1) * _chinnery(1.0 / r)
    if u2 != 0.0 or u3 != 0.0:
        s_by = _chinnery(b0 * ytil) * q1
        s_bd = _chinnery(b0 * dtil) * q1
        uy -= u2 * s_by + u3 * s_bd
        uz += u3 * s_by - u2 * s_bd
    if u1 != 0.0:
        s_qe = _chinnery(inv_rpe) * q1
        uy -= u1 * q1 * _chinnery(a0 * ytil)
        uy -= (u1 * sd) * (-k * _chinnery(ln_rpe) - s_i3) + (u1 * cd) * s_qe  # I2 = -k ln - I3
        uz -= u1 * q1 * _chinnery(a0 * dtil)
        uz -= (u1 * sd) * (_chinnery(i4) + s_qe)

    out = []
    for u in (ux, uy, uz):
        u *= 1.0 / (2.0 * math.pi)
        if q_zero:
            u[~np.isfinite(u)] = 0.0  # R = 0 at a corner of a surface-breaking fault
        out.append(u)
    return out[0], out[1], out[2]


def _dip_trig(dip_deg: float) -> tuple[float, float]:
    """sin and cos of the dip, with cos set to exactly 0 near +-90 degrees (as DC3D)."""
    rad = math.radians(dip_deg)
    sd, cd = math.sin(rad), math.cos(rad)
    if abs(cd) < _COS_EPS:
        cd = 0.0
        sd = 1.0 if sd > 0 else -1.0
    return sd, cd


def _blocked(
    x: Array, y: Array, d: float, sd: float, cd: float, length: float, width: float,
    u1: float, u2: float, u3: float, nu: float,
) -> tuple[Array, Array, Array]:
    """Evaluate :func:`_okada85` over flattened points block by block."""
    xf, yf = x.ravel(), y.ravel()
    out = np.empty((3, xf.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        for s in range(0, xf.size, _BLOCK):
            e = min(s + _BLOCK, xf.size)
            ux, uy, uz = _okada85(xf[s:e], yf[s:e], d, sd, cd, length, width, u1, u2, u3, nu)
            out[0, s:e], out[1, s:e], out[2, s:e] = ux, uy, uz
    return out[0].reshape(x.shape), out[1].reshape(x.shape), out[2].reshape(x.shape)


def okada85_local(
    x: ArrayLike,
    y: ArrayLike,
    d: float,
    dip_deg: float,
    length: float,
    width: float,
    u1: float,
    u2: float,
    u3: float,
    nu: float = 0.25,
) -> tuple[Array, Array, Array]:
    """Okada (1985) surface displacement in Okada's own frame (float64).

    Frame: x along strike, y perpendicular (the fault dips towards -y for dip > 0), z up.
    The fault's lower edge runs from (0, 0, -d) to (length, 0, -d); the fault extends
    ``width`` up-dip. Negative dips (down to -90) extend the fault below depth ``d``, as in
    Okada's Table 2 case 4.

    Args:
        x: Along-strike surface coordinate(s), any shape broadcastable with ``y``.
        y: Across-strike surface coordinate(s).
        d: Depth of the fault's lower edge (the reference edge), > 0, same unit as x.
        dip_deg: Dip in degrees, in [-90, 90].
        length: Fault length along strike, > 0.
        width: Fault width along dip, > 0.
        u1: Strike-slip dislocation (hanging wall relative to footwall, along +x).
        u2: Dip-slip dislocation (positive = hanging wall up-dip, i.e. reverse).
        u3: Tensile dislocation (opening).
        nu: Poisson's ratio in (0, 0.5); Okada's tables use 0.25 (lambda = mu).

    Returns:
        ``(ux, uy, uz)`` float64 arrays of the broadcast shape, in the unit of the
        dislocations.

    Raises:
        InputError: for a non-positive size or depth, a dip outside [-90, 90], ``nu``
            outside (0, 0.5), or a fault that reaches above the surface.
    """
    d = positive("d", d, "(depth of the lower edge)")
    dip = finite("dip_deg", dip_deg)
    if not -90.0 <= dip <= 90.0:
        raise InputError(f"dip_deg must lie in [-90, 90] degrees, got {dip_deg!r}")
    length = positive("length", length, "(fault length)")
    width = positive("width", width, "(fault width)")
    nu = poisson(nu)
    sd, cd = _dip_trig(dip)
    if d - width * sd < -1e-9 * width:
        raise InputError(
            f"fault reaches above the surface: lower-edge depth d={d!r} with width={width!r} "
            f"and dip {dip_deg!r} deg puts the upper edge at depth {d - width * sd:.6g}; "
            "the upper edge must be at depth >= 0"
        )
    xa, ya = coordinates(x, y)
    return _blocked(xa, ya, d, sd, cd, length, width,
                    finite("u1", u1), finite("u2", u2), finite("u3", u3), nu)


def okada_rectangle(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    xs_m: float,
    ys_m: float,
    depth_m: float,
    strike_deg: float,
    dip_deg: float,
    length_m: float,
    width_m: float,
    rake_deg: float = 0.0,
    slip_m: float = 0.0,
    opening_m: float = 0.0,
    nu: float = 0.25,
) -> ENU:
    """Surface displacement of a rectangular fault or tensile crack (Okada 1985), map frame.

    Args:
        x_m: East coordinates of the surface points, metres, any shape broadcastable with
            ``y_m`` (e.g. ``(ny, nx)``).
        y_m: North coordinates, metres.
        xs_m: East coordinate of the fault-plane centroid, metres.
        ys_m: North coordinate of the fault-plane centroid, metres.
        depth_m: Depth of the fault-plane centroid below the surface, metres, > 0. The
            upper edge, at ``depth_m - width_m / 2 * sin(dip)``, must not be above the
            surface (0 is allowed: a surface-breaking fault).
        strike_deg: Strike, degrees clockwise from north (Aki & Richards: the fault dips
            to the right of the strike direction).
        dip_deg: Dip, degrees in [0, 90] (0 = horizontal sill, 90 = vertical).
        length_m: Length along strike, metres, > 0.
        width_m: Width along dip, metres, > 0.
        rake_deg: Rake, degrees (Aki & Richards; 0 left-lateral, 90 reverse).
        slip_m: Shear slip, metres (hanging wall relative to footwall along the rake).
        opening_m: Tensile opening, metres (positive = opening, negative = closing).
        nu: Poisson's ratio in (0, 0.5).

    Returns:
        ENU displacement in metres (float32) with the broadcast shape of ``x_m``, ``y_m``.
        Values are finite everywhere; on the surface trace of a surface-breaking fault,
        where the true field is discontinuous, they follow Okada's conventions for the
        singular terms.

    Raises:
        InputError: for a non-positive size or depth, a dip outside [0, 90], ``nu``
            outside (0, 0.5), or a fault whose upper edge would be above the surface.
    """
    depth = positive("depth_m", depth_m, "metres (centroid depth)")
    dip = finite("dip_deg", dip_deg)
    if not 0.0 <= dip <= 90.0:
        raise InputError(f"dip_deg must lie in [0, 90] degrees, got {dip_deg!r}")
    length = positive("length_m", length_m, "metres")
    width = positive("width_m", width_m, "metres")
    nu = poisson(nu)
    sd, cd = _dip_trig(dip)
    top = depth - 0.5 * width * sd
    if top < -1e-9 * width:
        raise InputError(
            f"fault reaches above the surface: centroid depth_m={depth_m!r} with "
            f"width_m={width_m!r} and dip_deg={dip_deg!r} puts the upper edge at depth "
            f"{top:.6g} m; use depth_m >= width_m / 2 * sin(dip) = {0.5 * width * sd:.6g} m"
        )
    rake = math.radians(finite("rake_deg", rake_deg))
    slip = finite("slip_m", slip_m)
    u3 = finite("opening_m", opening_m)
    u1, u2 = slip * math.cos(rake), slip * math.sin(rake)
    phi = math.radians(finite("strike_deg", strike_deg))
    ss, cs = math.sin(phi), math.cos(phi)
    x, y = coordinates(x_m, y_m)
    dx = x - finite("xs_m", xs_m)
    dy = y - finite("ys_m", ys_m)
    # Okada frame: x-hat = (sin s, cos s) (along strike), y-hat = (-cos s, sin s) (left of
    # strike, so the fault dips towards -y); origin at the lower edge's start.
    xl = dx * ss + dy * cs + 0.5 * length
    yl = -dx * cs + dy * ss + 0.5 * width * cd
    d_low = depth + 0.5 * width * sd
    ux, uy, uz = _blocked(xl, yl, d_low, sd, cd, length, width, u1, u2, u3, nu)
    return ENU(
        (ux * ss - uy * cs).astype(np.float32),
        (ux * cs + uy * ss).astype(np.float32),
        uz.astype(np.float32),
    )
