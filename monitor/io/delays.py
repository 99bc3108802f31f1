"""Readers of the files a stratified-delay correction needs, put onto the frame grid.

Issue 6: a flagged step is corrected with the archive's per-epoch weather-model delays
(LiCSAR ``epochs/<d>/<d>.sltd.geo.tif`` from GACOS, ``<d>.icams.sltd.geo.tif`` from ICAMS /
ERA5; total delays in metres; the portal's are slant delays, the zenith delay divided by the
U raster, while zenith ones are projected to the line of sight with the frame's incidence:
``metadata/<frame>.geo.U.tif``, the LOS up component, i.e. cos(incidence), or
``metadata.txt``), or else with a phase-elevation fit over the DEM heights
(``metadata/<frame>.geo.hgt.tif``).

Every reader returns float32 ``(ny, nx)`` arrays on the frame grid (NaN where the file has
no data) and raises :class:`~monitor.errors.DatasetError` naming the file and the problem, so
that the caller can record it and fall back to another source. A file on another grid is
resampled bilinearly with :func:`rasterio.warp.reproject`.

Only the part of a file that covers the grid is read (a windowed read: the grid is a
target's crop of a frame, a few hundred pixels of a file of thousands): exactly the grid's
pixels when the file is on the same pixel lattice (the frame's own height and U rasters),
else the pixels around the grid with a margin of one pixel for the bilinear resampling.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rasterio.errors import RasterioError
from rasterio.warp import Resampling, reproject

from monitor.errors import DatasetError, RasterError
from monitor.io.licsar import metadata_float, parse_metadata_txt
from monitor.io.raster_header import RasterHeader, read_header
from monitor.io.rasters import Raster, read_raster
from monitor.science.crop import PixelWindow
from monitor.science.grids import FrameGrid

#: Largest |delay| accepted, metres (a total delay is about 2.3 m at sea level;
#: larger values mean the file is not in metres, e.g. radians or millimetres).
MAX_DELAY_M = 10.0
#: Heights accepted, metres (below the Dead Sea shore to above Everest, with margin).
HEIGHT_RANGE_M = (-1000.0, 9000.0)
#: Keys of ``metadata.txt`` giving the incidence angle in degrees, tried in order.
INCIDENCE_KEYS = ("avg_incidence_angle", "incidence_angle")
_GRID_CRS = "EPSG:4326"


#: Tolerance, pixels, within which a grid edge lies on the file's pixel edges.
_ALIGNED_PX = 1e-4


def covering_window(header: RasterHeader, grid: FrameGrid) -> PixelWindow | None:
    """The pixels of a file that cover ``grid`` (module docstring): the grid's own pixels
    when the file is on the same lattice, else the covering ones plus one pixel of margin,
    clipped to the file; None when the whole file must be read (no georeference, another
    CRS, a rotated transform, or no overlap: the reader then says what is wrong)."""
    t = header.transform
    if t is None or header.crs not in (None, _GRID_CRS) or t.b != 0 or t.d != 0 \
            or t.a <= 0 or t.e >= 0:
        return None
    gt, (gy, gx) = grid.transform, grid.shape
    inv = ~t
    col0, row0 = inv @ (gt.c, gt.f)
    col1, row1 = inv @ (gt.c + gt.a * gx, gt.f + gt.e * gy)
    corners = (row0, col0, row1, col1)
    same_scale = abs(t.a - gt.a) <= 1e-9 * abs(gt.a) and abs(t.e - gt.e) <= 1e-9 * abs(gt.e)
    if same_scale and all(abs(v - round(v)) <= _ALIGNED_PX for v in corners):
        r0, c0, r1, c1 = (round(v) for v in corners)
    else:
        r0, c0 = math.floor(min(row0, row1)) - 1, math.floor(min(col0, col1)) - 1
        r1, c1 = math.ceil(max(row0, row1)) + 1, math.ceil(max(col0, col1)) + 1
    r0, c0 = max(0, r0), max(0, c0)
    r1, c1 = min(header.height, r1), min(header.width, c1)
    if r1 <= r0 or c1 <= c0:
        return None
    return PixelWindow(r0, c0, r1 - r0, c1 - c0)


def _on_grid(path: str | Path, grid: FrameGrid, what: str) -> NDArray[np.float32]:
    """Read the part of a single-band raster that covers ``grid`` and put it on ``grid``
    (bilinear when the grids differ)."""
    try:
        header = read_header(path)
        raster = read_raster(path, require_finite=False,
                             window=covering_window(header, grid))
    except RasterError as exc:
        raise DatasetError(f"{what} {path}: unreadable ({exc})") from None
    if raster.shape == grid.shape and raster.transform is not None \
            and raster.transform.almost_equals(grid.transform) \
            and raster.crs in (None, _GRID_CRS):
        out = raster.data
    else:
        out = _resample(raster, grid, what)
    if not np.isfinite(out).any():
        raise DatasetError(f"{what} {path}: no finite value on the frame grid "
                           f"({grid.source}); all nodata or NaN")
    return np.asarray(out, np.float32)


def _resample(raster: Raster, grid: FrameGrid, what: str) -> NDArray[np.float32]:
    if raster.transform is None or raster.crs is None:
        raise DatasetError(f"{what} {raster.path}: no georeference, and its shape "
                           f"{raster.shape} differs from the frame grid {grid.shape}; cannot "
                           "place it on the frame")
    t, (ny, nx) = raster.transform, raster.shape
    gt, (gy, gx) = grid.transform, grid.shape
    if raster.crs == _GRID_CRS:
        xs = sorted((t.c, t.c + t.a * nx))
        ys = sorted((t.f, t.f + t.e * ny))
        gxs = sorted((gt.c, gt.c + gt.a * gx))
        gys = sorted((gt.f, gt.f + gt.e * gy))
        if xs[1] <= gxs[0] or gxs[1] <= xs[0] or ys[1] <= gys[0] or gys[1] <= ys[0]:
            raise DatasetError(
                f"{what} {raster.path}: does not overlap the frame (file lon {xs[0]:.4f} to "
                f"{xs[1]:.4f}, lat {ys[0]:.4f} to {ys[1]:.4f}; frame lon {gxs[0]:.4f} to "
                f"{gxs[1]:.4f}, lat {gys[0]:.4f} to {gys[1]:.4f})")
    out = np.full(grid.shape, np.nan, np.float32)
    try:
        reproject(source=raster.data, destination=out, src_transform=t, src_crs=raster.crs,
                  src_nodata=np.nan, dst_transform=gt, dst_crs=_GRID_CRS, dst_nodata=np.nan,
                  resampling=Resampling.bilinear)
    except (RasterioError, ValueError) as exc:
        raise DatasetError(f"{what} {raster.path}: cannot resample onto the frame grid "
                           f"({exc})") from None
    return out


def read_delay_on_grid(path: str | Path, grid: FrameGrid) -> NDArray[np.float32]:
    """A weather-model (zenith or slant) total delay file on the frame grid.

    Args:
        path: GeoTIFF of one epoch's delay (GACOS or ICAMS), metres.
        grid: The frame grid.

    Returns:
        Delay, metres, float32 ``(ny, nx)``; NaN where the file has no data.

    Raises:
        DatasetError: unreadable, not georeferenced on another grid, no overlap with the
            frame, all NaN, or values above :data:`MAX_DELAY_M` in magnitude (not metres).
    """
    out = _on_grid(path, grid, "delay file")
    peak = float(np.nanmax(np.abs(out)))
    if peak > MAX_DELAY_M:
        raise DatasetError(f"delay file {path}: |delay| reaches {peak:.4g}, above "
                           f"{MAX_DELAY_M:g} m; expected a total delay in metres (radians "
                           "or millimetres?)")
    return out


def read_heights_on_grid(path: str | Path, grid: FrameGrid) -> NDArray[np.float32]:
    """DEM heights on the frame grid.

    Args:
        path: Height raster (``metadata/<frame>.geo.hgt.tif``), metres.
        grid: The frame grid.

    Returns:
        Heights, metres, float32 ``(ny, nx)``; NaN where the file has no data.

    Raises:
        DatasetError: unreadable, no overlap, all NaN, or heights outside
            :data:`HEIGHT_RANGE_M`.
    """
    out = _on_grid(path, grid, "height file")
    lo, hi = float(np.nanmin(out)), float(np.nanmax(out))
    if lo < HEIGHT_RANGE_M[0] or hi > HEIGHT_RANGE_M[1]:
        raise DatasetError(f"height file {path}: heights {lo:.6g} to {hi:.6g} lie outside "
                           f"{HEIGHT_RANGE_M[0]:g} to {HEIGHT_RANGE_M[1]:g} m; expected DEM "
                           "heights in metres")
    return out


def _cos_from_u(u_path: str, grid: FrameGrid) -> NDArray[np.float32]:
    u = _on_grid(u_path, grid, "LOS up file")
    lo, hi = float(np.nanmin(u)), float(np.nanmax(u))
    if lo <= 0.0 or hi > 1.0 + 1e-6:
        raise DatasetError(f"LOS up file {u_path}: values {lo:.4g} to {hi:.4g} outside "
                           "(0, 1]; expected the up component of the ground-to-satellite "
                           "unit vector (cos of the incidence)")
    return np.minimum(u, np.float32(1.0))


def _cos_from_metadata(path: str) -> float:
    try:
        meta = parse_metadata_txt(Path(path))
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: metadata is not text") from None
    key = next((k for k in INCIDENCE_KEYS if k in meta), None)
    if key is None:
        raise DatasetError(f"{path}: metadata has none of {', '.join(INCIDENCE_KEYS)}")
    angle = metadata_float(meta, key, path)
    cos_inc = math.cos(math.radians(angle))
    if not (math.isfinite(angle) and 0.0 < cos_inc <= 1.0 and 0.0 <= angle < 90.0):
        raise DatasetError(f"{path}: {key}={meta[key]} degrees gives cos(incidence) "
                           f"{cos_inc:.4g}, outside (0, 1]; expected an angle in [0, 90)")
    return cos_inc


def read_cos_incidence(u_path: str | None, metadata_txt_path: str | None,
                       grid: FrameGrid) -> NDArray[np.float32] | float:
    """Cosine of the incidence angle, to project zenith delays onto the line of sight.

    The LOS up raster (``metadata/<frame>.geo.U.tif``, ``cos(incidence)`` per pixel) is
    used when given and usable, else ``metadata.txt``'s ``avg_incidence_angle`` (or
    ``incidence_angle``), degrees.

    Args:
        u_path: Cached U raster, or None.
        metadata_txt_path: Cached ``metadata.txt``, or None.
        grid: The frame grid.

    Returns:
        float32 ``(ny, nx)`` in (0, 1] (NaN where the U raster has no data), or one float
        from ``metadata.txt``.

    Raises:
        DatasetError: neither source is given or usable; the message gives each reason.
    """
    reasons = []
    if u_path is not None:
        try:
            return _cos_from_u(u_path, grid)
        except DatasetError as exc:
            reasons.append(str(exc))
    else:
        reasons.append("no LOS up raster (metadata/<frame>.geo.U.tif)")
    if metadata_txt_path is not None:
        try:
            return _cos_from_metadata(metadata_txt_path)
        except DatasetError as exc:
            reasons.append(str(exc))
    else:
        reasons.append("no metadata.txt")
    raise DatasetError("no usable incidence angle for the frame: " + "; ".join(reasons))
