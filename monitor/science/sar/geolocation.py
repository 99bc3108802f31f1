"""From image coordinates to the ground and back, with or without a DEM.

Image coordinates here are those of a scene's *array* (a crop): ``line`` and ``pixel``
floats, ``(0, 0)`` the centre of the array's first sample; the crop's offset in the full
scene (``SlcScene.line0``, ``pixel0``) is added to get the azimuth time and slant range:

    t(line) = t(first line) + (line0 + line) * line_interval_s
    R(pixel) = slant_range_first_m + (pixel0 + pixel) * range_pixel_spacing_m

A :class:`GeoDem` is a DEM on a north-up longitude/latitude grid (affine transform of pixel
corners, the rasterio convention; heights metres). :func:`geolocate` places image
points on it by fixed-point iteration: geolocate at a height, read the DEM there, repeat
(the ground point moves by ``dh / tan(incidence)`` in ground range, so the iteration
converges where the terrain slopes less than ``90 deg - incidence`` towards the radar,
i.e. outside layover; Small 2011, section III). :func:`radar_coordinates` is the inverse
(zero-Doppler time and range of a ground point), the basis of backward geocoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from affine import Affine
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.sar.ellipsoid import ecef_to_geodetic
from monitor.science.sar.orbit import Orbit, range_doppler_to_ground, zero_doppler_time
from monitor.science.sar.scene import SlcScene

_DEM_ITERATIONS = 20
_DEM_TOL_M = 0.01


@dataclass(frozen=True, eq=False)
class GeoDem:
    """A DEM on a north-up longitude/latitude grid.

    Attributes:
        height_m: ``(ny, nx)`` heights, metres, finite, row 0 north.
        transform: Affine transform of pixel corners, degrees (rasterio convention).
        height_offset_m: Added to every height to make it ellipsoidal (the geoid
            undulation for SRTM's EGM96 heights; 0 when the heights are ellipsoidal).
        source: Where the heights come from (for provenance).
    """

    height_m: NDArray[np.float32]
    transform: Affine
    height_offset_m: float = 0.0
    source: str = ""

    def __post_init__(self) -> None:
        h = np.asarray(self.height_m)
        if h.ndim != 2 or min(h.shape) < 2 or not np.all(np.isfinite(h)):
            raise InputError(f"DEM {self.source or '(unnamed)'}: heights must be a finite 2-D "
                             f"array of at least 2 x 2, got shape {h.shape}")
        if self.transform.b != 0 or self.transform.d != 0 or self.transform.e >= 0:
            raise InputError(f"DEM {self.source or '(unnamed)'}: transform must be north-up "
                             f"(no rotation, negative latitude step), got {self.transform!r}")

    def sample(self, lon_deg: ArrayLike, lat_deg: ArrayLike) -> NDArray[np.float64]:
        """Ellipsoidal heights (bilinear) at ``(lon, lat)``; NaN outside the DEM."""
        inv = ~self.transform
        lon = np.asarray(lon_deg, dtype=np.float64)
        lat = np.asarray(lat_deg, dtype=np.float64)
        col = inv.a * lon + inv.b * lat + inv.c - 0.5
        row = inv.d * lon + inv.e * lat + inv.f - 0.5
        ny, nx = np.shape(self.height_m)
        out = ndimage.map_coordinates(np.asarray(self.height_m, dtype=np.float64),
                                      [row.ravel(), col.ravel()], order=1, mode="nearest")
        out = out.reshape(lon.shape) + self.height_offset_m
        outside = (row < -0.5) | (row > ny - 0.5) | (col < -0.5) | (col > nx - 0.5)
        return np.where(outside, np.nan, out)


def line_time_s(scene: SlcScene, orbit: Orbit, line: ArrayLike) -> NDArray[np.float64]:
    """Azimuth time (seconds since the orbit's first vector) of array lines of ``scene``."""
    g = scene.geometry
    t0 = orbit.seconds(g.first_line_time)
    return t0 + (scene.line0 + np.asarray(line, dtype=np.float64)) * g.line_interval_s


def pixel_range_m(scene: SlcScene, pixel: ArrayLike) -> NDArray[np.float64]:
    """Slant range (metres) of array pixels of ``scene``."""
    g = scene.geometry
    return g.slant_range_first_m + (scene.pixel0 + np.asarray(pixel, dtype=np.float64)) \
        * g.range_pixel_spacing_m


def geolocate(scene: SlcScene, orbit: Orbit, line: ArrayLike, pixel: ArrayLike,
              dem: GeoDem | None = None, height_m: float = 0.0) -> NDArray[np.float64]:
    """Ground points (ECEF) seen at array coordinates ``(line, pixel)`` of ``scene``.

    Args:
        scene: The scene (its geometry and crop offset).
        orbit: The scene's interpolated orbit.
        line: Array line coordinates, any shape broadcastable with ``pixel``.
        pixel: Array pixel coordinates.
        dem: Terrain; without it every point lies at ``height_m`` above the ellipsoid.
        height_m: Ellipsoidal height used without a DEM, metres.

    Returns:
        ``shape + (3,)`` ECEF points, metres.

    Raises:
        InputError: the DEM does not cover a point.
    """
    t = line_time_s(scene, orbit, line)
    r = pixel_range_m(scene, pixel)
    t, r = np.broadcast_arrays(t, r)
    side = scene.geometry.look_side
    h = np.full(t.shape, float(height_m))
    p = range_doppler_to_ground(orbit, t, r, h, side)
    if dem is None:
        return p
    for _ in range(_DEM_ITERATIONS):
        lon, lat, _ = ecef_to_geodetic(p)
        h_new = dem.sample(lon, lat)
        if not np.all(np.isfinite(h_new)):
            raise InputError(f"DEM {dem.source or '(unnamed)'} does not cover scene "
                             f"{scene.scene_id}: {int(np.sum(~np.isfinite(h_new)))} ground "
                             "points fall outside it; give a DEM that covers the crop")
        done = float(np.max(np.abs(h_new - h), initial=0.0)) < _DEM_TOL_M
        h = h_new
        p = range_doppler_to_ground(orbit, t, r, h, side)
        if done:
            break
    return p


def radar_coordinates(scene: SlcScene, orbit: Orbit, ground_xyz: ArrayLike
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Array ``(line, pixel)`` of ``scene`` where ground points (ECEF) are imaged.

    Args:
        scene: The scene.
        orbit: Its interpolated orbit.
        ground_xyz: ``shape + (3,)`` ECEF points, metres.

    Returns:
        ``(line, pixel)`` float arrays of ``shape`` (may lie outside the array).
    """
    g = scene.geometry
    ny, nx = scene.slc.shape
    t_mid = float(line_time_s(scene, orbit, (ny - 1) / 2.0))
    p = np.asarray(ground_xyz, dtype=np.float64)
    t = zero_doppler_time(orbit, p, t_mid)
    r = np.linalg.norm(orbit.position(t) - p, axis=-1)
    line = (t - orbit.seconds(g.first_line_time)) / g.line_interval_s - scene.line0
    pixel = (r - g.slant_range_first_m) / g.range_pixel_spacing_m - scene.pixel0
    return line, pixel
