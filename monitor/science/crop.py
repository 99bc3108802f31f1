"""The crop of a frame around a watched volcano (issue 17, step 11).

A LiCSAR frame is about 250 x 250 km (some 3000 x 2500 pixels of 0.001 degree); a volcano
and its reference regions need a few tens of kilometres. Each target therefore reads and
scores a square window of its frames centred on the volcano:

* **The window.** Half-width ``half_km`` on the ground around the target centre, turned
  into degrees on the same sphere as the frame grid (:data:`~monitor.science.grids.M_PER_DEG`
  per degree of latitude, times ``cos(latitude)`` per degree of longitude), then into
  frame pixels rounded outward (the window holds the whole square), then clipped to the
  frame. A centre outside the frame is an :class:`~monitor.errors.InputError`.
* **Its grid.** The cropped :class:`~monitor.science.grids.FrameGrid` has the window's
  shape and the frame transform shifted by the window's offset
  (``transform * Affine.translation(col0, row0)``), so every pixel keeps its lon/lat, and
  its pixel sizes are those of a raster of that window (the formula of the frame grid at
  the window's centre latitude): a run on an archive pre-cropped to the same window sees
  the same grid, pixel for pixel.
* **Explicit references.** A reference disc that does not lie wholly inside the window is
  refused (:func:`disc_outside_window`); a disc is never silently clipped by the crop.

Everything here is pure: no files, the caller reads the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine

from monitor.errors import InputError
from monitor.science.grids import M_PER_DEG, FrameGrid, GroundDisc

#: Default half-width of a target's crop, kilometres ("[[targets]] crop_km"): room for a
#: target disc of a few kilometres and its automatic reference windows (two radii out, a
#: diameter wide) with margin.
DEFAULT_CROP_KM = 25.0
#: The default half-width is also at least this many target radii (a wide target still
#: gets its automatic references: they lie up to four radii from the centre).
CROP_RADII = 5.0


@dataclass(frozen=True)
class PixelWindow:
    """A rectangle of frame pixels.

    Attributes:
        row0: First row (0 = the frame's northern edge).
        col0: First column (0 = the western edge).
        rows: Number of rows.
        cols: Number of columns.
    """

    row0: int
    col0: int
    rows: int
    cols: int

    def __post_init__(self) -> None:
        if self.row0 < 0 or self.col0 < 0 or self.rows < 1 or self.cols < 1:
            raise InputError(f"pixel window {self.as_list()}: expected row0, col0 >= 0 and "
                             "rows, cols >= 1")

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return (self.rows, self.cols)

    def as_list(self) -> list[int]:
        """``[row0, col0, rows, cols]`` (the order recorded beside a series)."""
        return [self.row0, self.col0, self.rows, self.cols]

    def fits(self, shape: tuple[int, int]) -> bool:
        """Whether the window lies inside a raster of ``shape`` ``(ny, nx)``."""
        return self.row0 + self.rows <= shape[0] and self.col0 + self.cols <= shape[1]

    def covers(self, shape: tuple[int, int]) -> bool:
        """Whether the window is the whole of a raster of ``shape``."""
        return (self.row0, self.col0, self.rows, self.cols) == (0, 0, shape[0], shape[1])


def default_crop_km(radius_km: float) -> float:
    """The half-width of a target's crop when the configuration gives none, kilometres:
    :data:`DEFAULT_CROP_KM`, or :data:`CROP_RADII` target radii when that is more."""
    return max(DEFAULT_CROP_KM, CROP_RADII * float(radius_km))


def square_degrees(lat: float, half_km: float) -> tuple[float, float]:
    """Half-width of a ground square of ``half_km`` at latitude ``lat``, in degrees of
    (longitude, latitude)."""
    if not (half_km > 0 and math.isfinite(half_km)):
        raise InputError(f"crop half-width must be a positive number of km, got {half_km!r}")
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    return half_km * 1000.0 / (M_PER_DEG * cos_lat), half_km * 1000.0 / M_PER_DEG


def crop_window(grid: FrameGrid, lon: float, lat: float, half_km: float,
                name: str) -> PixelWindow:
    """The window of ``grid`` around ``(lon, lat)`` (module docstring), clipped to the frame.

    Args:
        grid: The whole frame's grid (north-up, degrees).
        lon: Centre longitude, degrees.
        lat: Centre latitude, degrees.
        half_km: Half-width of the square on the ground, kilometres.
        name: What is cropped for, for messages (``"target 211010"``).

    Raises:
        InputError: the centre lies outside the frame, or ``half_km`` is not positive.
    """
    if grid.centre_rc(lon, lat) is None:
        t, (ny, nx) = grid.transform, grid.shape
        lon1, lat1 = t @ (nx, ny)
        raise InputError(
            f"{name} {lon},{lat} lies outside the frame (lon {t.c:.4f} to {lon1:.4f}, lat "
            f"{lat1:.4f} to {t.f:.4f}, from {grid.source})")
    dlon, dlat = square_degrees(lat, half_km)
    inv = ~grid.transform
    cols, rows = zip(*(inv @ (x, y) for x in (lon - dlon, lon + dlon)
                       for y in (lat - dlat, lat + dlat)), strict=True)
    ny, nx = grid.shape
    # Rounded outward (a hair of tolerance keeps an exact pixel edge from adding a column).
    r0 = max(0, math.floor(min(rows) + 1e-9))
    r1 = min(ny, math.ceil(max(rows) - 1e-9))
    c0 = max(0, math.floor(min(cols) + 1e-9))
    c1 = min(nx, math.ceil(max(cols) - 1e-9))
    return PixelWindow(r0, c0, max(1, r1 - r0), max(1, c1 - c0))


def crop_grid(grid: FrameGrid, window: PixelWindow) -> FrameGrid:
    """The grid of ``window`` of ``grid`` (module docstring); the whole grid itself when the
    window covers it.

    Raises:
        InputError: the window does not lie inside the grid.
    """
    if not window.fits(grid.shape):
        raise InputError(f"pixel window {window.as_list()} does not fit the frame grid "
                         f"{grid.shape[0]} x {grid.shape[1]} ({grid.source})")
    if window.covers(grid.shape):
        return grid
    transform = grid.transform @ Affine.translation(window.col0, window.row0)
    return FrameGrid.from_transform(window.shape, transform, grid.source)


def disc_outside_window(grid: FrameGrid, window: PixelWindow, disc: GroundDisc) -> bool:
    """Whether some of ``disc`` lies outside ``window`` of ``grid`` (its bounding square
    on the ground, in frame pixels, against the window's edges); a disc partly outside the
    frame itself is judged against the frame edge there, as it always was."""
    dlon, dlat = square_degrees(disc.lat, disc.radius_km)
    inv = ~grid.transform
    cols, rows = zip(*(inv @ (x, y) for x in (disc.lon - dlon, disc.lon + dlon)
                       for y in (disc.lat - dlat, disc.lat + dlat)), strict=True)
    ny, nx = grid.shape
    top, bottom = max(0.0, min(rows)), min(float(ny), max(rows))
    left, right = max(0.0, min(cols)), min(float(nx), max(cols))
    eps = 1e-6
    return (top < window.row0 - eps or left < window.col0 - eps
            or bottom > window.row0 + window.rows + eps
            or right > window.col0 + window.cols + eps)


def square_holds_disc(lon: float, lat: float, half_km: float, disc: GroundDisc) -> bool:
    """Whether the ground square of half-width ``half_km`` around ``(lon, lat)`` holds the
    whole of ``disc`` (the configuration's check of explicit references; the window in
    pixels, rounded outward, holds at least this square)."""
    dlon, dlat = square_degrees(lat, half_km)
    rlon, rlat = square_degrees(disc.lat, disc.radius_km)
    return (abs(disc.lon - lon) + rlon <= dlon + 1e-12
            and abs(disc.lat - lat) + rlat <= dlat + 1e-12)
