"""Horizontal sill with a tapered (Gaussian) opening profile in an elastic half-space.

The penny crack (:mod:`monitor.science.sources.penny`) opens under uniform pressure and
the Okada sill (:mod:`monitor.science.sources.okada`) with uniform opening; real sills
thin towards their edges. Here the opening is ``o(r) = o0 exp(-r^2 / (2 s^2))`` (volume
``2 pi s^2 o0``), built as a continuous distribution of horizontal point tensile cracks.
A horizontal point crack of volume ``dV`` at depth ``d`` moves the surface by (Okada, Y.
(1985), Surface deformation due to shear and tensile faults in a half-space, Bull.
Seismol. Soc. Am. 75(4), 1135-1154, point source with dip 0; independent of Poisson's
ratio)::

    u_z = 3 dV d^3 / (2 pi R^5),   u_r = 3 dV r d^2 / (2 pi R^5),   R^2 = r^2 + d^2

Superposing them is exact in linear elasticity (the crack is assumed not to interact with
itself: the opening is prescribed). With the Hankel transforms
``3 d^3 / R^5 = int k (1 + k d) e^(-k d) J0(k r) dk`` and
``3 d^2 r / R^5 = d int k^2 e^(-k d) J1(k r) dk``, and the Gaussian's transform
``exp(-k^2 s^2 / 2)``, the convolution is one integral per component; in units of the
depth (``kappa = k d``, ``rho = r / d``, ``sigma = s / d``)::

    u_z(rho) = o0 sigma^2 int kappa (1 + kappa) exp(-kappa - kappa^2 sigma^2 / 2) J0(kappa rho)
    u_r(rho) = o0 sigma^2 int kappa^2 exp(-kappa - kappa^2 sigma^2 / 2) J1(kappa rho)

evaluated by composite Gauss-Legendre quadrature on ``kappa`` in [0, 40] on a radial
table, then interpolated linearly. Checks (``tests/test_generator_sources.py``): the
point-crack limit for ``s << d``, and surface uplift volume = opening volume.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import ArrayLike, NDArray
from scipy.special import j0, j1

from monitor.science.sources._checks import coordinates, finite, positive
from monitor.science.sources.enu import ENU

_KAPPA_MAX = 40.0
_PANELS = 400
_NODES_PER_PANEL = 16


@lru_cache(maxsize=1)
def _rule() -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t, w = leggauss(_NODES_PER_PANEL)
    edges = np.linspace(0.0, _KAPPA_MAX, _PANELS + 1)
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    nodes = (mid[:, None] + half[:, None] * t[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    return nodes, weights


def _profile(rho: NDArray[np.float64], sigma: float) -> tuple[NDArray[np.float64],
                                                               NDArray[np.float64]]:
    """``(u_z, u_r) / o0`` at radii ``rho`` (depth units), for ``sigma = s / d``."""
    kappa, w = _rule()
    base = w * np.exp(-kappa - 0.5 * (kappa * sigma) ** 2) * sigma * sigma
    uz = np.empty_like(rho)
    ur = np.empty_like(rho)
    for start in range(0, rho.size, 256):
        arg = np.outer(rho[start:start + 256], kappa)
        uz[start:start + 256] = j0(arg) @ (base * kappa * (1.0 + kappa))
        ur[start:start + 256] = j1(arg) @ (base * kappa * kappa)
    return uz, ur


def gaussian_sill_volume_m3(sigma_m: float, opening_m: float) -> float:
    """Opening volume ``2 pi s^2 o0`` of a Gaussian sill, m^3."""
    return 2.0 * math.pi * sigma_m * sigma_m * opening_m


def gaussian_sill(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    xs_m: float = 0.0,
    ys_m: float = 0.0,
    depth_m: float,
    sigma_m: float,
    opening_m: float,
) -> ENU:
    """Surface displacement of a horizontal sill of Gaussian opening (module docstring).

    Args:
        x_m: East coordinates of the surface points, metres (broadcast with ``y_m``).
        y_m: North coordinates, metres.
        xs_m: East coordinate of the sill centre, metres.
        ys_m: North coordinate of the sill centre, metres.
        depth_m: Depth of the sill plane, metres (> 0).
        sigma_m: Standard deviation ``s`` of the opening profile, metres (> 0).
        opening_m: Central opening ``o0``, metres (negative closes the sill).

    Returns:
        ENU displacement, metres, float32, broadcast shape of ``x_m``, ``y_m``.
    """
    d = positive("depth_m", depth_m, "metres")
    s = positive("sigma_m", sigma_m, "metres")
    o0 = finite("opening_m", opening_m)
    x, y = coordinates(x_m, y_m)
    dx = x - finite("xs_m", xs_m)
    dy = y - finite("ys_m", ys_m)
    r = np.hypot(dx, dy)
    rho = r / d
    if rho.size <= 512:
        uz, ur = _profile(rho.ravel(), s / d)
        uz, ur = uz.reshape(rho.shape), ur.reshape(rho.shape)
    else:
        rho_max = float(rho.max()) if rho.size else 0.0
        table = np.sinh(np.arange(0.0, math.asinh(rho_max) + 0.01, 0.005))
        tz, tr = _profile(table, s / d)
        uz, ur = np.interp(rho, table, tz), np.interp(rho, table, tr)
    uz *= o0
    ur *= o0
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(r > 0, dx / r, 0.0)
        sin = np.where(r > 0, dy / r, 0.0)
    return ENU((ur * cos).astype(np.float32), (ur * sin).astype(np.float32),
               uz.astype(np.float32))
