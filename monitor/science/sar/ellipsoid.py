"""The WGS84 ellipsoid: geodetic <-> Earth-centred Earth-fixed (ECEF) coordinates.

Longitude and latitude are geodetic degrees, heights metres above the ellipsoid (not the
geoid: SRTM heights are above EGM96 and differ by the geoid undulation, tens of metres),
ECEF positions metres with the last axis holding (x, y, z).

Sources:
    WGS84 constants: NIMA TR8350.2 (2000), Department of Defense World Geodetic System
    1984, table 3.1. The ECEF -> geodetic conversion is Heikkinen's closed form (Heikkinen,
    M. (1982), Geschlossene Formeln zur Berechnung raeumlicher geodaetischer Koordinaten
    aus rechtwinkligen Koordinaten, Z. Vermess. 107, 207-211), as given by Zhu, J. (1994),
    Conversion of Earth-centered Earth-fixed coordinates to geodetic coordinates, IEEE
    Trans. Aerosp. Electron. Syst. 30(3), 957-961: exact to well under a millimetre for
    points near the Earth's surface.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: WGS84 semi-major axis, metres.
WGS84_A = 6378137.0
#: WGS84 flattening.
WGS84_F = 1.0 / 298.257223563
#: WGS84 semi-minor axis, metres.
WGS84_B = WGS84_A * (1.0 - WGS84_F)
#: WGS84 first eccentricity squared.
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
#: Earth's rotation rate, radians per second (WGS84).
EARTH_ROTATION_RAD_S = 7.292115e-5


def prime_vertical_radius(lat_rad: NDArray[np.float64]) -> NDArray[np.float64]:
    """Radius of curvature in the prime vertical ``N(lat)``, metres."""
    return WGS84_A / np.sqrt(1.0 - WGS84_E2 * np.sin(lat_rad) ** 2)


def meridian_radius(lat_rad: NDArray[np.float64]) -> NDArray[np.float64]:
    """Radius of curvature in the meridian ``M(lat)``, metres."""
    return WGS84_A * (1.0 - WGS84_E2) / (1.0 - WGS84_E2 * np.sin(lat_rad) ** 2) ** 1.5


def geodetic_to_ecef(lon_deg: ArrayLike, lat_deg: ArrayLike,
                     height_m: ArrayLike = 0.0) -> NDArray[np.float64]:
    """Geodetic longitude, latitude (degrees) and ellipsoidal height (metres) to ECEF.

    Returns:
        ``broadcast shape + (3,)`` ECEF positions, metres.
    """
    lon = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))
    h = np.asarray(height_m, dtype=np.float64)
    n = prime_vertical_radius(lat)
    x = (n + h) * np.cos(lat) * np.cos(lon)
    y = (n + h) * np.cos(lat) * np.sin(lon)
    z = (n * (1.0 - WGS84_E2) + h) * np.sin(lat)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_geodetic(xyz: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                               NDArray[np.float64]]:
    """ECEF positions (metres, last axis x, y, z) to geodetic coordinates (Heikkinen 1982).

    Returns:
        ``(lon_deg, lat_deg, height_m)``, each of the input shape without its last axis.
    """
    p_xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = p_xyz[..., 0], p_xyz[..., 1], p_xyz[..., 2]
    a, b, e2 = WGS84_A, WGS84_B, WGS84_E2
    ep2 = (a * a - b * b) / (b * b)
    r = np.hypot(x, y)
    f = 54.0 * b * b * z * z
    g = r * r + (1.0 - e2) * z * z - e2 * (a * a - b * b)
    c = e2 * e2 * f * r * r / g ** 3
    s = np.cbrt(1.0 + c + np.sqrt(c * c + 2.0 * c))
    p = f / (3.0 * (s + 1.0 / s + 1.0) ** 2 * g * g)
    q = np.sqrt(1.0 + 2.0 * e2 * e2 * p)
    r0 = -(p * e2 * r) / (1.0 + q) + np.sqrt(
        0.5 * a * a * (1.0 + 1.0 / q) - p * (1.0 - e2) * z * z / (q * (1.0 + q))
        - 0.5 * p * r * r)
    u = np.sqrt((r - e2 * r0) ** 2 + z * z)
    v = np.sqrt((r - e2 * r0) ** 2 + (1.0 - e2) * z * z)
    z0 = b * b * z / (a * v)
    height = u * (1.0 - b * b / (a * v))
    lat = np.arctan((z + ep2 * z0) / r)
    lon = np.arctan2(y, x)
    return np.rad2deg(lon), np.rad2deg(lat), height


def enu_basis(lon_deg: ArrayLike, lat_deg: ArrayLike) -> NDArray[np.float64]:
    """Local east, north and up unit vectors in ECEF at geodetic ``(lon, lat)``.

    Returns:
        ``broadcast shape + (3, 3)``: ``[..., 0, :]`` east, ``[..., 1, :]`` north,
        ``[..., 2, :]`` up.
    """
    lon = np.deg2rad(np.asarray(lon_deg, dtype=np.float64))
    lat = np.deg2rad(np.asarray(lat_deg, dtype=np.float64))
    lon, lat = np.broadcast_arrays(lon, lat)
    zero = np.zeros_like(lon)
    east = np.stack([-np.sin(lon), np.cos(lon), zero], axis=-1)
    north = np.stack([-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)],
                     axis=-1)
    up = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    return np.stack([east, north, up], axis=-2)
