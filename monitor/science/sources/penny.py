"""Horizontal penny-shaped (circular) crack under uniform pressure in an elastic half-space.

Source: Fialko, Y., Khazan, Y. & Simons, M. (2001), Deformation due to a pressurized
horizontal circular crack in an elastic half-space, with applications to volcano geodesy,
Geophys. J. Int. 146, 181-190 (the sill model of Anantrasirichai et al. 2019a, section 3.1:
radius 0.5-6 km, pressure change 1e5-1e7 Pa, depth 0.5-6 km).

This is Fialko's exact solution, not an approximation. Lengths are scaled by the crack
radius ``a`` (``h = depth / a``) and stresses by the shear modulus ``mu``.

1. Two functions ``phi(t)``, ``psi(t)`` on ``0 <= t <= 1`` solve the coupled Fredholm
   equations of the second kind of Fialko et al. (2001, eq. 26 and appendix A, kernels
   T1-T4 of eqs A2-A5 built from P1-P4)::

       phi(t) - 2/pi int_0^1 [T1(t,r) phi(r) + T3(t,r) psi(r)] dr = -2 t / pi
       psi(t) - 2/pi int_0^1 [T4(t,r) phi(r) + T2(t,r) psi(r)] dr = 0

   solved by the Nystrom method on an ``n``-point Gauss-Legendre rule (Press et al.,
   Numerical Recipes, section 18.1), ``n ~ 5 / h`` (the kernels vary on the scale ``h``).
   For ``h -> infinity`` the kernels vanish and ``phi = -2 t / pi`` is Sneddon's
   full-space crack.
2. The surface displacement is a Hankel integral (eqs 12-13 and 24, with the misprints
   in the factors ``1 - exp(-2 xi h)``, ``2 U`` and ``1 / sinh`` corrected as noted in
   the USGS dMODELS package, Battaglia, Cervelli & Murray 2013)::

       u_z = -2 (1 - nu) a P/mu  int_0^inf J0(r xi) e^(-xi h) [xi h Psi + (1 + xi h) Phi] dxi
       u_r =  2 (1 - nu) a P/mu  int_0^inf J1(r xi) e^(-xi h) [(1 - xi h) Psi - xi h Phi] dxi

   with ``Phi(xi) = int phi(t) sin(xi t) dt`` and
   ``Psi(xi) = int psi(t) [sin(xi t) / (xi t) - cos(xi t)] dt``. Exchanging the order of
   integration, each xi-integral is a Laplace transform of a Bessel function in closed
   form, ``int J0(r xi) e^(-p xi) dxi = 1 / sqrt(p^2 + r^2)`` and its relatives, at the
   complex argument ``p = h - i t`` (principal square root, valid since Re p = h > 0).
   The displacement is therefore an n-term sum per radius, without oscillatory
   quadrature; a map evaluates it on a radial table and interpolates linearly
   (relative error below about 1e-4 of the peak).

The crack's volume change is ``dV = -4 pi (1 - nu) (P/mu) a^3 int_0^1 t phi(t) dt``;
for ``h -> infinity`` it tends to Sneddon's ``8 (1 - nu) P a^3 / (3 mu)``
``= 16 (1 - nu^2) P a^3 / (3 E)``, and the field tends to that of a point tensile crack of
that volume (``u_z = 3 dV d^3 / (2 pi R^5)``). For ``h -> 0`` it tends to the bending of
a clamped plate of thickness ``d``. These three limits, and the identity "surface uplift
volume = crack volume", are what ``tests/test_sources.py`` checks the implementation
against. Supported for ``h >= 0.02`` (Nystrom error ~1e-7 there); smaller ``h`` is refused.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.linalg
from numpy.polynomial.legendre import leggauss
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.sources._checks import coordinates, finite, poisson, positive
from monitor.science.sources.enu import ENU

#: Smallest depth / radius accepted: the Nystrom rule needs about 5 / h nodes.
MIN_DEPTH_TO_RADIUS = 0.02
#: Radial table step in asinh-stretched radius; fine enough for ~1e-4 linear interpolation.
_TABLE_STEP = 0.005
#: Below this many points the profile is evaluated directly instead of through a table.
_DIRECT_MAX_POINTS = 2048

Array = NDArray[np.float64]


def _nodes(h: float) -> int:
    """Gauss-Legendre nodes needed for depth ratio ``h`` (relative error ~1e-8)."""
    return int(min(400, max(24, math.ceil(5.0 / h))))


def _p_functions(h: float, x: Array) -> tuple[Array, Array, Array, Array]:
    """P1-P4 of Fialko et al. (2001), appendix A (page 189)."""
    x2 = x * x
    h2 = h * h
    s = 4.0 * h2 + x2
    p1 = (12.0 * h2 - x2) / s**3
    p2 = np.log(s) + (8.0 * h2 * h2 + 2.0 * x2 * h2 - x2 * x2) / (s * s)
    p3 = 2.0 * (8.0 * h2 * h2 - 2.0 * x2 * h2 + x2 * x2) / s**3
    p4 = (4.0 * h2 - x2) / (s * s)
    return p1, p2, p3, p4


@lru_cache(maxsize=64)
def _fredholm(h: float) -> tuple[Array, Array, Array, Array]:
    """Nystrom solution ``(t, w, phi, psi)`` of Fialko et al. (2001) eq. (A1) for ``h``.

    ``t``, ``w`` are Gauss-Legendre nodes and weights on [0, 1]; ``phi``, ``psi`` the
    solution at the nodes. Arrays are read-only (they are cached).
    """
    n = _nodes(h)
    z, wz = leggauss(n)
    t = 0.5 * (z + 1.0)
    w = 0.5 * wz
    tt = t[:, None]
    rr = t[None, :]
    m1, m2, m3, m4 = _p_functions(h, tt - rr)
    q1, q2, q3, q4 = _p_functions(h, tt + rr)
    t1 = 4.0 * h**3 * (m1 - q1)  # eq. (A2)
    t2 = h / (tt * rr) * (m2 - q2) + h * (m3 + q3)  # eq. (A3)
    t3 = h * h / rr * (m4 - q4 - 2.0 * rr * ((tt - rr) * m1 + (tt + rr) * q1))  # eq. (A4)
    t4 = t3.T  # eq. (A5): T4(t, r) = T3(r, t)
    kernel = np.block([[t1 * w, t3 * w], [t4 * w, t2 * w]])
    rhs = np.concatenate([-2.0 * t / math.pi, np.zeros(n)])
    # scipy's LAPACK call: numpy.linalg.solve stalls for ~0.2 s per call on busy 2-core hosts.
    sol = scipy.linalg.solve(np.eye(2 * n) - (2.0 / math.pi) * kernel, rhs, check_finite=False)
    out = (t, w, sol[:n].copy(), sol[n:].copy())
    for a in out:
        a.setflags(write=False)
    return out


def _profile(rho: Array, h: float) -> tuple[Array, Array]:
    """Dimensionless surface profile ``(U_up, U_r)`` at radii ``rho = r / a`` (1-D).

    The displacement is ``u_up = 2 (1 - nu) a (P / mu) U_up`` and
    ``u_r = 2 (1 - nu) a (P / mu) U_r`` (radially outward).
    """
    t, w, phi, psi = _fredholm(h)
    r = rho[:, None]
    p = h - 1j * t[None, :]
    s = np.sqrt(p * p + r * r)  # principal root: Re s > 0 because Re p > 0
    inv_s = 1.0 / s
    inv_s3 = inv_s * inv_s * inv_s
    l00 = inv_s  # int J0 e^(-p xi) dxi
    l01 = p * inv_s3  # int J0 xi e^(-p xi) dxi
    inv_sp = 1.0 / (s + p)
    l1m1 = r * inv_sp  # int J1 xi^-1 e^(-p xi) dxi = (s - p) / r
    l10 = l1m1 * inv_s  # int J1 e^(-p xi) dxi = (1 - p / s) / r
    l11 = r * inv_s3  # int J1 xi e^(-p xi) dxi
    wphi = w * phi
    wpsi = w * psi
    inv_t = 1.0 / t
    iz = (wpsi * h) * (l00.imag * inv_t - l01.real) + wphi * (l00.imag + h * l01.imag)
    ir = wpsi * (l1m1.imag * inv_t - l10.real - h * l10.imag * inv_t + h * l11.real)
    ir -= (wphi * h) * l11.imag
    return -iz.sum(axis=1), ir.sum(axis=1)


def _table_radii(h: float, rho_max: float) -> Array:
    """Radii for the interpolation table: step ~ min(h, 1) near the rim, ~ rho far away."""
    s = min(h, 1.0)
    step = min(_TABLE_STEP, h / 12.0)
    u_max = math.asinh(rho_max / s)
    n = max(16, math.ceil(u_max / step) + 1)
    return s * np.sinh(np.linspace(0.0, u_max, n))


def penny_volume_m3(
    *, depth_m: float, radius_m: float, dpressure_pa: float,
    shear_modulus_pa: float = 3.0e10, nu: float = 0.25,
) -> float:
    """Volume change of the pressurised crack, m^3 (Fialko et al. 2001).

    Tends to Sneddon's full-space value ``8 (1 - nu) P a^3 / (3 mu)`` when
    ``depth >> radius``; larger for shallower cracks (the free surface makes them more
    compliant).
    """
    h, mu, nu = _check(depth_m, radius_m, shear_modulus_pa, nu)
    p = finite("dpressure_pa", dpressure_pa)
    t, w, phi, _ = _fredholm(h)
    a = float(radius_m)
    return float(-4.0 * math.pi * (1.0 - nu) * p / mu * a**3 * np.sum(w * t * phi))


def _check(depth_m: float, radius_m: float, mu: float, nu: float) -> tuple[float, float, float]:
    d = positive("depth_m", depth_m, "metres")
    a = positive("radius_m", radius_m, "metres")
    mu = positive("shear_modulus_pa", mu, "Pa")
    nu = poisson(nu)
    h = d / a
    if h < MIN_DEPTH_TO_RADIUS:
        raise InputError(
            f"depth_m / radius_m = {d:.6g} / {a:.6g} = {h:.4g} is below the supported "
            f"minimum {MIN_DEPTH_TO_RADIUS} (the crack is too shallow for its size)"
        )
    return h, mu, nu


def penny_crack(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    xs_m: float,
    ys_m: float,
    depth_m: float,
    radius_m: float,
    dpressure_pa: float,
    shear_modulus_pa: float = 3.0e10,
    nu: float = 0.25,
) -> ENU:
    """Surface displacement of a pressurised horizontal circular crack (Fialko et al. 2001).

    Args:
        x_m: East coordinates of the surface points, metres, any shape broadcastable with
            ``y_m`` (e.g. ``(ny, nx)``).
        y_m: North coordinates, metres.
        xs_m: East coordinate of the crack centre, metres.
        ys_m: North coordinate of the crack centre, metres.
        depth_m: Depth of the crack plane, metres, > 0, at least 0.02 radius.
        radius_m: Crack radius, metres, > 0.
        dpressure_pa: Pressure change in the crack, Pa (positive = inflation).
        shear_modulus_pa: Shear modulus of the half-space, Pa.
        nu: Poisson's ratio, in (0, 0.5).

    Returns:
        ENU displacement in metres (float32) with the broadcast shape of ``x_m``, ``y_m``.

    Raises:
        InputError: for a non-positive depth, radius or modulus, ``nu`` outside (0, 0.5),
            or ``depth_m / radius_m < 0.02``.
    """
    h, mu, nu = _check(depth_m, radius_m, shear_modulus_pa, nu)
    scale = 2.0 * (1.0 - nu) * float(radius_m) * finite("dpressure_pa", dpressure_pa) / mu
    x, y = coordinates(x_m, y_m)
    a = float(radius_m)
    dx = x - finite("xs_m", xs_m)
    dy = y - finite("ys_m", ys_m)
    rho = dx * dx
    rho += dy * dy
    np.sqrt(rho, out=rho)
    rho *= 1.0 / a
    # u_r / rho is smooth and finite at the centre: evaluate or interpolate it, not u_r.
    if rho.size <= _DIRECT_MAX_POINTS:
        flat = rho.ravel()
        uz_f, ur_f = _profile(flat, h)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_f = np.where(flat > 0.0, ur_f / flat, 0.0)
        uz, g = uz_f.reshape(rho.shape), g_f.reshape(rho.shape)
    else:
        tab = _table_radii(h, float(rho.max()))
        uz_t, ur_t = _profile(tab, h)
        g_t = np.empty_like(ur_t)
        g_t[1:] = ur_t[1:] / tab[1:]
        g_t[0] = g_t[1]
        uz = np.interp(rho, tab, uz_t)
        g = np.interp(rho, tab, g_t)
    horiz = g * (scale / a)
    return ENU(
        (horiz * dx).astype(np.float32),
        (horiz * dy).astype(np.float32),
        (uz * scale).astype(np.float32),
    )
