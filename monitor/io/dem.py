"""Reading real DEMs: SRTM ``.hgt`` tiles, GeoTIFFs, mosaicking and cropping, packaged crops.

SRTM ``.hgt`` files are raw big-endian int16 grids, 1201 x 1201 (SRTM3, 3 arc-seconds) or
3601 x 3601 (SRTM1, 1 arc-second), rows from north to south, named for the south-west
corner (``N13E120.hgt``: 13-14 N, 120-121 E). Samples sit on the integer arc-second lattice
and include both edges, so in the pixel-is-area convention of GeoTIFF/rasterio the tile's
outer edges lie half a pixel outside the whole degrees, and neighbouring tiles share their
edge row or column. ``-32768`` marks voids; they are filled with
:func:`monitor.science.dem.fill_voids` and flagged in :attr:`DemTile.filled_mask`.

Every failure is a :class:`~monitor.errors.RasterError` naming the file.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import rasterio
from numpy.typing import NDArray
from rasterio.errors import RasterioError
from rasterio.transform import Affine

from monitor.errors import InputError, RasterError
from monitor.science.dem import fill_voids

#: SRTM void marker.
HGT_VOID = -32768
#: Tile sizes (samples per side) by ``.hgt`` flavour.
HGT_SIZES = {1201: "SRTM3", 3601: "SRTM1"}
_HGT_NAME = re.compile(r"^([NS])(\d{2})([EW])(\d{3})(?:\.[^.]+)*\.hgt$", re.IGNORECASE)
_TIFF_SUFFIXES = {".tif", ".tiff"}
#: WGS84 semi-major axis (m) and first eccentricity squared.
_WGS84_A = 6378137.0
_WGS84_E2 = 6.69437999014e-3
_GEOGRAPHIC = "EPSG:4326"
#: Pixels around a crop window that take part in filling its voids.
_FILL_MARGIN_PX = 16


@dataclass(frozen=True)
class DemTile:
    """A DEM on a north-up geographic grid.

    Attributes:
        height_m: Heights above the geoid, metres, float32, shape ``(ny, nx)``, row 0 north;
            no NaN (voids are filled).
        transform: Pixel-corner affine transform (rasterio convention, degrees).
        crs: Always ``"EPSG:4326"``.
        source: Where it came from (path, ``packaged:<name>``, or a crop description).
        filled_mask: True where a void was filled, shape ``(ny, nx)``.
    """

    height_m: NDArray[np.float32]
    transform: Affine
    crs: str
    source: str
    filled_mask: NDArray[np.bool_]

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.height_m.shape[0]), int(self.height_m.shape[1]))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(west, south, east, north)`` of the outer pixel edges, degrees."""
        ny, nx = self.shape
        west, north = self.transform @ (0, 0)
        east, south = self.transform @ (nx, ny)
        return (float(west), float(south), float(east), float(north))

    def lonlat(self, row: float, col: float) -> tuple[float, float]:
        """Longitude and latitude (degrees) of the centre of pixel ``(row, col)``."""
        lon, lat = self.transform @ (col + 0.5, row + 0.5)
        return float(lon), float(lat)

    def rowcol(self, lon: float, lat: float) -> tuple[int, int]:
        """Indices ``(row, col)`` of the pixel containing ``(lon, lat)`` (may be outside)."""
        col, row = ~self.transform @ (lon, lat)
        return int(math.floor(row)), int(math.floor(col))


def _parse_hgt_name(p: Path) -> tuple[int, int]:
    m = _HGT_NAME.match(p.name)
    if m is None:
        raise RasterError(
            f"{p}: not an SRTM tile name; expected the south-west corner like N13E120.hgt "
            f"or S09E115.hgt"
        )
    lat = int(m.group(2)) * (1 if m.group(1).upper() == "N" else -1)
    lon = int(m.group(4)) * (1 if m.group(3).upper() == "E" else -1)
    if not (-90 <= lat <= 89 and -180 <= lon <= 179):
        raise RasterError(f"{p}: tile corner lat={lat}, lon={lon} is not on the globe")
    return lat, lon


def _filled(
    path: str, height: NDArray[np.float64], voids: NDArray[np.bool_]
) -> NDArray[np.float32]:
    if voids.all():
        raise RasterError(f"{path}: every sample is a void (nodata); the DEM is unusable")
    return fill_voids(height, voids)


def read_hgt(path: str | os.PathLike[str]) -> DemTile:
    """Read an SRTM3 or SRTM1 ``.hgt`` tile.

    Args:
        path: File named for its south-west corner (``N13E120.hgt``).

    Returns:
        The tile, voids filled; transform with the outer edges half a pixel outside the
        whole degrees (pixel size ``1/1200`` or ``1/3600`` degree).

    Raises:
        RasterError: Bad name, unreadable file, size that is neither SRTM3 nor SRTM1, or no
            valid sample.
    """
    p = Path(path)
    lat, lon = _parse_hgt_name(p)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise RasterError(f"{p}: cannot read the SRTM tile ({exc.strerror or exc})") from exc
    n = next((k for k in HGT_SIZES if size == 2 * k * k), None)
    if n is None:
        raise RasterError(
            f"{p}: {size} bytes is not an SRTM tile; expected {2 * 1201 * 1201} (SRTM3, "
            f"1201 x 1201) or {2 * 3601 * 3601} (SRTM1, 3601 x 3601) big-endian int16"
        )
    try:
        raw = np.fromfile(p, dtype=">i2")
    except OSError as exc:
        raise RasterError(f"{p}: cannot read the SRTM tile ({exc})") from exc
    if raw.size != n * n:
        raise RasterError(f"{p}: read {raw.size} samples, expected {n * n}")
    grid = raw.reshape(n, n)
    voids = grid == HGT_VOID
    height = _filled(str(p), grid.astype(np.float64), voids)
    step = 1.0 / (n - 1)
    transform = Affine(step, 0.0, lon - step / 2.0, 0.0, -step, lat + 1 + step / 2.0)
    return DemTile(height, transform, _GEOGRAPHIC, str(p), voids)


def read_dem(path: str | os.PathLike[str]) -> DemTile:
    """Read a DEM from an SRTM ``.hgt`` tile or a single-band EPSG:4326 GeoTIFF.

    GeoTIFF nodata (and NaN) pixels are filled like SRTM voids.

    Raises:
        RasterError: Unknown suffix, unreadable file, more than one band, a CRS other than
            EPSG:4326, or no valid pixel.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".hgt":
        return read_hgt(p)
    if suffix not in _TIFF_SUFFIXES:
        raise RasterError(f"{p}: unknown DEM format {suffix!r}; expected .hgt, .tif or .tiff")
    try:
        with rasterio.open(p) as src:
            if src.count != 1:
                raise RasterError(f"{p}: DEM has {src.count} bands; expected exactly one")
            crs = src.crs.to_string() if src.crs is not None else None
            if crs != _GEOGRAPHIC:
                raise RasterError(f"{p}: DEM CRS is {crs}; expected {_GEOGRAPHIC} (lon/lat)")
            transform = src.transform
            band = src.read(1, masked=True)
    except RasterioError as exc:
        raise RasterError(f"{p}: cannot read the GeoTIFF DEM ({exc})") from exc
    if transform.b != 0 or transform.d != 0 or transform.e >= 0:
        raise RasterError(f"{p}: DEM grid is rotated or not north-up ({transform})")
    data = np.ma.filled(band.astype(np.float64), np.nan)
    voids = ~np.isfinite(data)
    height = _filled(str(p), data, voids)
    return DemTile(height, transform, _GEOGRAPHIC, str(p), voids)


def metres_per_degree(lat_deg: float) -> tuple[float, float]:
    """Lengths of one degree of longitude and of latitude at ``lat_deg`` on WGS84, metres.

    Returns:
        ``(east_m_per_deg, north_m_per_deg)`` from the prime-vertical and meridional radii
        of curvature.
    """
    if not (math.isfinite(lat_deg) and -90.0 <= lat_deg <= 90.0):
        raise InputError(f"lat_deg must be a latitude in [-90, 90] degrees, got {lat_deg!r}")
    phi = math.radians(lat_deg)
    w = 1.0 - _WGS84_E2 * math.sin(phi) ** 2
    meridional = _WGS84_A * (1.0 - _WGS84_E2) / w**1.5
    prime_vertical = _WGS84_A / math.sqrt(w)
    rad = math.pi / 180.0
    return prime_vertical * math.cos(phi) * rad, meridional * rad


def dem_grid_metres(tile: DemTile) -> tuple[float, float]:
    """Approximate pixel sizes of a tile at its centre latitude.

    Returns:
        ``(pixel_dx_m, pixel_dy_m)``: east-west and north-south pixel sizes, metres
        (about 90 x 92 m for SRTM3 at 14 N, 70 x 93 m at 41 N).
    """
    west, south, east, north = tile.bounds
    east_m, north_m = metres_per_degree((south + north) / 2.0)
    return abs(tile.transform.a) * east_m, abs(tile.transform.e) * north_m


def _describe(tiles: Sequence[DemTile]) -> str:
    parts = []
    for t in tiles:
        west, south, east, north = t.bounds
        parts.append(f"{t.source} [{west:.4f}..{east:.4f} E, {south:.4f}..{north:.4f} N]")
    return ", ".join(parts)


def crop_dem(
    tiles: DemTile | Sequence[DemTile], lon: float, lat: float, half_size_km: float
) -> DemTile:
    """Cut a window around a point, mosaicking adjacent tiles where it crosses their edges.

    The window holds every pixel whose centre lies within ``half_size_km`` of the point
    east-west and north-south (converted to degrees on WGS84 at ``lat``), so it is square
    on the ground and ``1/cos(lat)`` wider in longitude. Tiles must share one grid (same
    pixel size, origins a whole number of pixels apart), as SRTM tiles do; where tiles
    overlap (SRTM edge rows and columns) the later tile's values are used.

    Args:
        tiles: One tile or several adjacent ones.
        lon: Longitude of the centre, degrees east.
        lat: Latitude of the centre, degrees north.
        half_size_km: Half the window size, km.

    Returns:
        The cropped tile (``source`` describes the crop).

    Raises:
        InputError: Bad coordinates or size.
        RasterError: Tiles on different grids, or a window not fully covered by the tiles.
    """
    group = [tiles] if isinstance(tiles, DemTile) else list(tiles)
    if not group:
        raise InputError("crop_dem needs at least one DemTile, got none")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise InputError(f"lon must be a longitude in degrees, got {lon!r}")
    if not (math.isfinite(lat) and -90.0 < lat < 90.0):
        raise InputError(f"lat must be a latitude in (-90, 90) degrees, got {lat!r}")
    if not (math.isfinite(half_size_km) and half_size_km > 0):
        raise InputError(f"half_size_km must be a positive number of km, got {half_size_km!r}")
    ref = group[0].transform
    px, py = ref.a, -ref.e
    x0, y0 = ref.c, ref.f
    offsets = []
    for t in group:
        tr = t.transform
        if not (math.isclose(tr.a, px, rel_tol=1e-9) and math.isclose(-tr.e, py, rel_tol=1e-9)):
            raise RasterError(
                f"{t.source}: pixel size {tr.a} x {-tr.e} deg differs from {group[0].source} "
                f"({px} x {py}); tiles to mosaic must share one grid"
            )
        col_off = (tr.c - x0) / px
        row_off = (y0 - tr.f) / py
        if abs(col_off - round(col_off)) > 1e-6 or abs(row_off - round(row_off)) > 1e-6:
            raise RasterError(
                f"{t.source}: grid is shifted by a fraction of a pixel from "
                f"{group[0].source}; tiles to mosaic must share one grid"
            )
        offsets.append((round(row_off), round(col_off)))

    east_m, north_m = metres_per_degree(lat)
    dlon = half_size_km * 1e3 / east_m
    dlat = half_size_km * 1e3 / north_m
    eps = 1e-9
    c0 = math.ceil((lon - dlon - x0) / px - 0.5 - eps)
    c1 = math.floor((lon + dlon - x0) / px - 0.5 + eps) + 1
    r0 = math.ceil((y0 - (lat + dlat)) / py - 0.5 - eps)
    r1 = math.floor((y0 - (lat - dlat)) / py - 0.5 + eps) + 1
    if r1 <= r0 or c1 <= c0:
        raise InputError(
            f"half_size_km={half_size_km!r} is smaller than a pixel; the window is empty"
        )
    # Paste the valid samples of every tile into the window plus a margin, then fill the
    # voids of the mosaic at once, so a void on a shared tile edge gets one value.
    m = _FILL_MARGIN_PX
    wy0, wy1, wx0, wx1 = r0 - m, r1 + m, c0 - m, c1 + m
    height = np.full((wy1 - wy0, wx1 - wx0), np.nan, dtype=np.float64)
    covered = np.zeros(height.shape, dtype=bool)
    for t, (ro, co) in zip(group, offsets, strict=True):
        ny, nx = t.shape
        ya, yb = max(wy0, ro), min(wy1, ro + ny)
        xa, xb = max(wx0, co), min(wx1, co + nx)
        if ya >= yb or xa >= xb:
            continue
        src = (slice(ya - ro, yb - ro), slice(xa - co, xb - co))
        dst = (slice(ya - wy0, yb - wy0), slice(xa - wx0, xb - wx0))
        valid = ~t.filled_mask[src]
        covered[dst] = True
        height[dst] = np.where(valid, t.height_m[src], height[dst])
    inner = (slice(m, m + r1 - r0), slice(m, m + c1 - c0))
    if not covered[inner].all():
        where = "outside" if not covered[inner].any() else "partly outside"
        raise RasterError(
            f"window of +-{half_size_km} km around lon={lon}, lat={lat} "
            f"({lon - dlon:.4f}..{lon + dlon:.4f} E, {lat - dlat:.4f}..{lat + dlat:.4f} N) lies "
            f"{where} the tiles: {_describe(group)}; add the neighbouring tiles"
        )
    voids = ~np.isfinite(height)
    if voids[inner].any():
        if voids[inner].all():
            raise RasterError(
                f"window around lon={lon}, lat={lat} holds only voids in {_describe(group)}"
            )
        height = fill_voids(height, voids)
    out = np.ascontiguousarray(height[inner], dtype=np.float32)
    filled = np.ascontiguousarray(voids[inner])
    transform = Affine(px, 0.0, x0 + c0 * px, 0.0, -py, y0 - r0 * py)
    sources = "+".join(t.source for t in group)
    source = f"crop of {sources} around lon={lon}, lat={lat}, +-{half_size_km} km"
    return DemTile(out, transform, _GEOGRAPHIC, source, filled)


def _packaged_dir() -> Traversable:
    return resources.files("monitor").joinpath("data", "dem")


def packaged_dem_names() -> list[str]:
    """Names of the DEM crops shipped in ``monitor/data/dem`` (``taal``, ...)."""
    folder = _packaged_dir()
    if not folder.is_dir():
        return []
    return sorted(e.name[: -len(".tif")] for e in folder.iterdir() if e.name.endswith(".tif"))


def packaged_dem(name: str) -> DemTile:
    """Load a DEM crop shipped with the package (SRTM3 around a volcano).

    Made by ``scripts/make_dem_crops.py``; ``monitor/data/dem/README.md`` lists them.

    Args:
        name: One of :func:`packaged_dem_names` (e.g. ``"taal"``).

    Raises:
        InputError: Unknown name (the message lists the available ones).
    """
    names = packaged_dem_names()
    if name not in names:
        raise InputError(f"no packaged DEM named {name!r}; available: {', '.join(names) or 'none'}")
    res = _packaged_dir().joinpath(f"{name}.tif")
    with resources.as_file(res) as path:
        tile = read_dem(path)
    return DemTile(tile.height_m, tile.transform, tile.crs, f"packaged:{name}", tile.filled_mask)
