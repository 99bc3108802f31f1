"""Flat-earth, orbital and topographic phase from the two orbits (and a DEM).

For the ground point ``P`` of each primary pixel (on the ellipsoid, or at the DEM's height
when one is given), the interferogram ``primary * conj(secondary)`` holds the geometric
phase

    phi_geo = -4 pi / lambda (R1 - R2),

``R1 = |S1(t1) - P|`` the primary's slant range (the pixel's own range) and
``R2 = |S2(t2) - P|`` the secondary's at its zero-Doppler time ``t2`` (SLC convention
``s = a exp(-j 4 pi R / lambda)``; e.g. Hanssen 2001, section 2.4; Rosen, P. A. et al.
(2000), Synthetic aperture radar interferometry, Proc. IEEE 88(3), 333-382, eq. 12).
On the ellipsoid this is the flat-earth (and orbital) phase; at the DEM's height it also
holds the topographic phase, ``2 pi h / h_a`` for a height of ambiguity
``h_a = lambda R sin(theta) / (2 B_perp)``. What is left after removing it is deformation,
atmosphere, orbit errors and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.science.sar.ellipsoid import ecef_to_geodetic, enu_basis
from monitor.science.sar.geolocation import (
    GeoDem,
    geolocate,
    line_time_s,
    pixel_range_m,
)
from monitor.science.sar.orbit import Orbit, zero_doppler_time
from monitor.science.sar.scene import SlcScene


@dataclass(frozen=True, eq=False)
class GeometricPhase:
    """The geometric phase on a rectilinear grid of primary array coordinates.

    Attributes:
        rows: ``(n,)`` array lines of the grid.
        cols: ``(m,)`` array pixels of the grid.
        phase_rad: ``(n, m)`` geometric phase, radians.
        lon_deg: ``(n, m)`` longitude of the ground points.
        lat_deg: ``(n, m)`` latitude.
        height_m: ``(n, m)`` ellipsoidal height.
        los_enu: ``(n, m, 3)`` ground-to-primary unit vector (east, north, up).
        perpendicular_baseline_m: Baseline perpendicular to the line of sight at the grid
            centre, metres.
        parallel_baseline_m: Baseline along the line of sight at the grid centre, metres.
    """

    rows: NDArray[np.float64]
    cols: NDArray[np.float64]
    phase_rad: NDArray[np.float64]
    lon_deg: NDArray[np.float64]
    lat_deg: NDArray[np.float64]
    height_m: NDArray[np.float64]
    los_enu: NDArray[np.float64]
    perpendicular_baseline_m: float
    parallel_baseline_m: float


def geometric_phase(primary: SlcScene, secondary: SlcScene, rows: NDArray[np.float64],
                    cols: NDArray[np.float64], dem: GeoDem | None = None,
                    orbits: tuple[Orbit, Orbit] | None = None) -> GeometricPhase:
    """Geometric phase of the primary's pixels on the grid ``rows x cols``.

    Args:
        primary: The primary scene.
        secondary: The secondary scene.
        rows: 1-D increasing primary array lines.
        cols: 1-D increasing primary array pixels.
        dem: Terrain (None: the ellipsoid, i.e. flat-earth and orbital phase only).
        orbits: Interpolated orbits of the two scenes (built when None).

    Returns:
        The :class:`GeometricPhase`.
    """
    o1, o2 = orbits if orbits is not None else (Orbit(primary.geometry.orbit),
                                                 Orbit(secondary.geometry.orbit))
    ll, pp = np.meshgrid(np.asarray(rows, np.float64), np.asarray(cols, np.float64),
                         indexing="ij")
    ground = geolocate(primary, o1, ll, pp, dem)
    r1 = pixel_range_m(primary, pp)
    t1 = line_time_s(primary, o1, ll)
    ny2 = secondary.slc.shape[0]
    t_mid2 = float(line_time_s(secondary, o2, (ny2 - 1) / 2.0))
    t2 = zero_doppler_time(o2, ground, t_mid2)
    s2 = o2.position(t2)
    r2 = np.linalg.norm(s2 - ground, axis=-1)
    phase = -4.0 * math.pi / primary.geometry.wavelength_m * (r1 - r2)
    lon, lat, hgt = ecef_to_geodetic(ground)
    s1 = o1.position(t1)
    los = (s1 - ground) / np.linalg.norm(s1 - ground, axis=-1, keepdims=True)
    basis = enu_basis(lon, lat)
    los_enu = np.einsum("...ij,...j->...i", basis, los)
    ci, cj = ll.shape[0] // 2, ll.shape[1] // 2
    b = s2[ci, cj] - s1[ci, cj]
    look = -los[ci, cj]
    b_par = float(b @ look)
    b_perp = float(math.sqrt(max(float(b @ b) - b_par ** 2, 0.0)))
    return GeometricPhase(np.asarray(rows, np.float64), np.asarray(cols, np.float64), phase,
                          lon, lat, hgt, los_enu, b_perp, b_par)
