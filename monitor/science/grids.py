"""Regular grids: validated shapes and pixel sizes, pixel-centre coordinates, and the
geographic frame grid with the ground discs placed on it.

* **Frame grid** (:class:`FrameGrid`): shape and north-up EPSG:4326 affine transform of a
  frame's rasters. Pixel sizes in metres are ``|a| * 111,320 * cos(latitude of the frame
  centre)`` east and ``|e| * 111,320`` north (:meth:`FrameGrid.from_transform`, the one
  formula every command and the watch use).
* **Places.** A :class:`GroundDisc` (lon, lat, radius in km) is placed with the inverse of
  the affine transform; a centre outside the frame is an
  :class:`~monitor.errors.InputError`. The disc is round on the ground (an ellipse in
  pixels where the pixels are not square).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from monitor.errors import InputError


def check_grid(shape: tuple[int, int], pixel_m: float) -> tuple[int, int, float]:
    """Validate a grid: ``(ny, nx)`` positive integers and a positive finite pixel size.

    Returns:
        ``(ny, nx, pixel_m)`` as ints and a float.
    """
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"shape must be two positive integers (ny, nx), got {shape!r}") from exc
    if ny < 1 or nx < 1:
        raise InputError(f"shape must be two positive integers (ny, nx), got {shape!r}")
    if not (isinstance(pixel_m, int | float | np.floating | np.integer) and pixel_m > 0):
        raise InputError(f"pixel_m must be a positive number of metres, got {pixel_m!r}")
    if not math.isfinite(float(pixel_m)):
        raise InputError(f"pixel_m must be a positive number of metres, got {pixel_m!r}")
    return ny, nx, float(pixel_m)


def grid_xy(shape: tuple[int, int], pixel_m: float) -> tuple[NDArray[np.float64],
                                                              NDArray[np.float64]]:
    """East and north coordinates (metres) of pixel centres, origin at the grid centre.

    Row 0 is the northern edge, so ``y`` decreases down the rows.

    Returns:
        ``(x, y)``, each ``(ny, nx)``.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    x = (np.arange(nx) - (nx - 1) / 2.0) * pixel_m
    y = ((ny - 1) / 2.0 - np.arange(ny)) * pixel_m
    return np.meshgrid(x, y)


def unit_variance_rfft_filter(amp: NDArray[np.floating], nx: int) -> NDArray[np.float32]:
    """Scale an amplitude filter on the ``rfft2`` grid so filtered white noise has unit
    variance, and freeze it (for caching).

    Columns other than 0 (and ``nx / 2`` when ``nx`` is even) stand for two Hermitian modes.

    Args:
        amp: Filter amplitudes, shape ``(ny, nx // 2 + 1)``.
        nx: Number of columns of the real grid.
    """
    ny = amp.shape[0]
    weight = np.full(amp.shape, 2.0)
    weight[:, 0] = 1.0
    if nx % 2 == 0:
        weight[:, -1] = 1.0
    var = float((weight * amp**2).sum()) / (ny * nx)
    out = (amp / math.sqrt(var)).astype(np.float32)
    out.setflags(write=False)
    return out


#: Metres per degree of latitude (and of longitude at the equator).
M_PER_DEG = 111_320.0
#: The CRS of LiCSAR frames (and of every frame grid here).
GEOGRAPHIC_CRS = "EPSG:4326"


def geographic_pixel_m(transform: Affine, ny: int) -> tuple[float, float]:
    """Pixel size ``(east, north)`` in metres of a north-up grid in degrees.

    ``|a| * 111,320 * cos(latitude of the grid centre)`` east and ``|e| * 111,320`` north
    (a sphere of 111.32 km per degree: within 0.7 % of the ellipsoid at any latitude).
    The frame grid and ``insar-monitor scan`` both use it, so one raster has one pixel
    size wherever it is read.

    Args:
        transform: Affine transform of the grid (pixel corners), degrees.
        ny: Rows of the grid (the centre latitude is ``f + e * ny / 2``).
    """
    lat_mid = transform.f + transform.e * ny / 2.0
    lat_mid = max(-90.0, min(90.0, lat_mid))
    dx = abs(transform.a) * M_PER_DEG * math.cos(math.radians(lat_mid))
    return dx, abs(transform.e) * M_PER_DEG


@dataclass(frozen=True)
class GroundDisc:
    """A disc on the ground given in geographic coordinates.

    Attributes:
        lon: Centre longitude, degrees east.
        lat: Centre latitude, degrees north.
        radius_km: Radius, kilometres.
    """

    lon: float
    lat: float
    radius_km: float


@dataclass(frozen=True)
class FrameGrid:
    """A frame's pixel grid (EPSG:4326, north-up).

    Attributes:
        shape: ``(ny, nx)``.
        transform: North-up affine transform (pixel corners), degrees.
        pixel_m: Pixel size ``(east, north)``, metres.
        source: File the grid was taken from.
    """

    shape: tuple[int, int]
    transform: Affine
    pixel_m: tuple[float, float]
    source: str

    @classmethod
    def from_transform(cls, shape: tuple[int, int], transform: Affine,
                       source: str) -> FrameGrid:
        """The grid of a north-up geographic raster of ``shape`` (module docstring for the
        pixel sizes)."""
        ny, nx = (int(v) for v in shape)
        return cls((ny, nx), transform, geographic_pixel_m(transform, ny), source)

    def lonlat(self, row: float, col: float) -> tuple[float, float]:
        """Longitude and latitude of the centre of pixel ``(row, col)``, degrees."""
        lon, lat = self.transform @ (col + 0.5, row + 0.5)
        return float(lon), float(lat)

    def radius_px(self, radius_km: float) -> float:
        """A ground distance in pixels of the finer direction."""
        return radius_km * 1000.0 / min(self.pixel_m)

    def centre_rc(self, lon: float, lat: float) -> tuple[float, float] | None:
        """Index coordinates (row, col; pixel centres at integers) of a point, or None
        when it lies outside the frame."""
        col, row = ~self.transform @ (lon, lat)
        ny, nx = self.shape
        if not (0.0 <= row < ny and 0.0 <= col < nx):
            return None
        return float(row) - 0.5, float(col) - 0.5

    def disc_mask(self, disc: GroundDisc, name: str) -> tuple[tuple[float, float],
                                                               NDArray[np.bool_]]:
        """Centre (row, col) and boolean ``(ny, nx)`` mask of a ground disc.

        Args:
            disc: The disc.
            name: What it is, for messages (e.g. ``"--target"``).

        Raises:
            InputError: the centre lies outside the frame, or the disc holds no pixel.
        """
        centre = self.centre_rc(disc.lon, disc.lat)
        if centre is None:
            t, (ny, nx) = self.transform, self.shape
            lon1, lat1 = t @ (nx, ny)
            raise InputError(
                f"{name} {disc.lon},{disc.lat} lies outside the frame (lon {t.c:.4f} to "
                f"{lon1:.4f}, lat {lat1:.4f} to {t.f:.4f}, from {self.source})")
        rows, cols = np.ogrid[0:self.shape[0], 0:self.shape[1]]
        dx, dy = self.pixel_m
        mask = ((rows - centre[0]) * dy) ** 2 + ((cols - centre[1]) * dx) ** 2 \
            <= (disc.radius_km * 1000.0) ** 2
        if not mask.any():
            raise InputError(f"{name} {disc.lon},{disc.lat},{disc.radius_km}: the disc "
                             f"holds no pixel centre (pixels are {dx:.0f} x {dy:.0f} m); "
                             "give a larger radius")
        return centre, np.asarray(mask)
