"""Geocoding of multilooked radar-geometry arrays to a regular longitude/latitude grid.

Backward geocoding (Small 2011, section III; the terrain-corrected geocoding of most
InSAR processors): for each node of the output grid (EPSG:4326, north-up, a chosen
spacing in degrees) the ground point is built at the DEM's height there (the ellipsoid
without a DEM), its zero-Doppler time and slant range on the primary orbit give its
radar coordinates, and the multilooked arrays are interpolated there bilinearly
(:func:`scipy.ndimage.map_coordinates`). Nodes that fall outside the radar grid, or next
to a NaN (an incoherent pixel), are NaN: no value is invented. Going through the orbit
and the DEM places terrain correctly (a leader's lon/lat polynomial, made for one
reference height, misplaces a point ``h / tan(incidence)`` in ground range: 1.3 km for
900 m of relief at 35 degrees).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.sar.ellipsoid import ecef_to_geodetic, geodetic_to_ecef
from monitor.science.sar.geolocation import GeoDem, geolocate, radar_coordinates
from monitor.science.sar.interferogram import multilooked_shape
from monitor.science.sar.orbit import Orbit
from monitor.science.sar.scene import SlcScene


@dataclass(frozen=True, eq=False)
class GeocodedGrid:
    """Arrays on a north-up longitude/latitude grid.

    Attributes:
        arrays: Name -> ``(gy, gx)`` float32 array (NaN where undefined).
        transform: Affine transform of pixel corners, degrees (rasterio convention).
        crs: ``"EPSG:4326"``.
    """

    arrays: dict[str, NDArray[np.float32]] = field(default_factory=dict)
    transform: Affine = Affine.identity()
    crs: str = "EPSG:4326"

    @property
    def shape(self) -> tuple[int, int]:
        """``(gy, gx)``."""
        first = next(iter(self.arrays.values()))
        return (int(first.shape[0]), int(first.shape[1]))


def footprint(primary: SlcScene, orbit: Orbit, dem: GeoDem | None = None,
              n_edge: int = 16) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the primary array's ground footprint, degrees."""
    ny, nx = primary.slc.shape
    t = np.linspace(0.0, 1.0, n_edge)
    lines = np.concatenate([t * (ny - 1), t * (ny - 1), np.zeros(n_edge),
                            np.full(n_edge, ny - 1.0)])
    pixels = np.concatenate([np.zeros(n_edge), np.full(n_edge, nx - 1.0), t * (nx - 1),
                             t * (nx - 1)])
    lon, lat, _ = ecef_to_geodetic(geolocate(primary, orbit, lines, pixels, dem))
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def geocode(primary: SlcScene, values: dict[str, NDArray[np.floating]],
            looks: tuple[int, int], spacing_deg: float, *,
            bounds: tuple[float, float, float, float] | None = None,
            dem: GeoDem | None = None, orbit: Orbit | None = None) -> GeocodedGrid:
    """Geocode multilooked arrays of the primary's geometry to a lon/lat grid.

    Args:
        primary: The primary scene (geometry and crop).
        values: Name -> ``(my, mx)`` multilooked arrays (``multilooked_shape`` of the
            primary and ``looks``).
        looks: ``(azimuth, range)`` looks of the arrays.
        spacing_deg: Output spacing in degrees (same in longitude and latitude, > 0).
        bounds: ``(west, south, east, north)``, degrees; the footprint when None.
        dem: Terrain for the heights of the output nodes (the ellipsoid when None).
        orbit: The primary's interpolated orbit (built when None).

    Returns:
        The :class:`GeocodedGrid`.
    """
    if not (math.isfinite(spacing_deg) and 0 < spacing_deg < 1):
        raise InputError(f"geocode: spacing_deg must be a positive number of degrees below "
                         f"1, got {spacing_deg!r}")
    my, mx = multilooked_shape(primary.slc.shape, looks)
    for name, v in values.items():
        if v.shape != (my, mx):
            raise InputError(f"geocode: array {name!r} has shape {v.shape}, expected the "
                             f"multilooked shape {(my, mx)} for looks {looks}")
    o = orbit if orbit is not None else Orbit(primary.geometry.orbit)
    west, south, east, north = bounds if bounds is not None else footprint(primary, o, dem)
    if not (east > west and north > south):
        raise InputError(f"geocode: empty bounds {(west, south, east, north)}")
    west = math.floor(west / spacing_deg) * spacing_deg
    north = math.ceil(north / spacing_deg) * spacing_deg
    gx = int(math.ceil((east - west) / spacing_deg))
    gy = int(math.ceil((north - south) / spacing_deg))
    if gx * gy > 50_000_000:
        raise InputError(f"geocode: a grid of {gy} x {gx} nodes is too large; raise "
                         "spacing_deg or narrow the bounds")
    transform = Affine(spacing_deg, 0.0, west, 0.0, -spacing_deg, north)
    lon = west + (np.arange(gx) + 0.5) * spacing_deg
    lat = north - (np.arange(gy) + 0.5) * spacing_deg
    lon2, lat2 = np.meshgrid(lon, lat)
    height = dem.sample(lon2, lat2) if dem is not None else np.zeros_like(lon2)
    known = np.isfinite(height)
    line = np.full(lon2.shape, np.nan)
    pixel = np.full(lon2.shape, np.nan)
    if known.any():
        xyz = geodetic_to_ecef(lon2[known], lat2[known], height[known])
        line[known], pixel[known] = radar_coordinates(primary, o, xyz)
    az, rg = looks
    i = (line + 0.5) / az - 0.5
    j = (pixel + 0.5) / rg - 0.5
    inside = known & (i >= -0.5) & (i <= my - 0.5) & (j >= -0.5) & (j <= mx - 0.5)
    coords = np.array([np.clip(np.nan_to_num(i, nan=-1.0), 0, my - 1),
                       np.clip(np.nan_to_num(j, nan=-1.0), 0, mx - 1)])
    out: dict[str, NDArray[np.float32]] = {}
    for name, v in values.items():
        g = ndimage.map_coordinates(np.asarray(v, np.float64), coords, order=1,
                                    mode="nearest")
        out[name] = np.where(inside, g, np.nan).astype(np.float32)
    return GeocodedGrid(out, transform)
