"""One LiCSAR frame on disk as a grid and a set of usable products.

Rules (see also :mod:`monitor.series_scan`, which builds and scores the series):

* **Grid.** The frame's grid (shape, EPSG:4326 north-up affine transform) is that of
  ``metadata/<frame>.geo.hgt.tif`` when it exists (its heights are then the DEM), else
  that of the first readable interferogram. Pixel sizes in metres are
  ``|a| * 111,320 * cos(latitude of the frame centre)`` east and ``|e| * 111,320`` north.
* **Places.** A :class:`GroundDisc` (lon, lat, radius in km) is placed with the inverse of
  the affine transform; a centre outside the frame is an
  :class:`~monitor.errors.InputError`. The disc is round on the ground (an ellipse in
  pixels where the pixels are not square).
* **Products.** Each pair is read (``.geo.unw.tif``: radians, turned into LOS metres with
  the Sentinel-1 wavelength and LiCSAR's sign; ``.geo.cc.tif``: coherence 0-1). A product
  that cannot be read, does not match the grid, or has no pixel with coherence above the
  threshold is skipped and recorded as a :class:`ProductFailure` naming the file; the
  caller decides what to do about the hole it leaves.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rasterio.transform import Affine

from monitor.errors import DatasetError, InputError, MonitorError
from monitor.io.licsar import FrameLayout, check_frame_id, metadata_float
from monitor.io.rasters import DEFAULT_MAX_PIXELS, Raster, read_raster
from monitor.science.geometry import SENTINEL1, phase_to_displacement
from monitor.science.interferograms import DEFAULT_COHERENCE_THRESHOLD, Interferogram

log = logging.getLogger(__name__)

#: Metres per degree of latitude (and of longitude at the equator).
M_PER_DEG = 111_320.0
_GEOGRAPHIC = "EPSG:4326"


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
    """The frame's pixel grid.

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


def frame_grid(raster: Raster) -> FrameGrid:
    """The grid of a LiCSAR raster (EPSG:4326, north-up).

    Raises:
        DatasetError: no georeference, another CRS, or a rotated transform.
    """
    t = raster.transform
    if t is None or raster.crs != _GEOGRAPHIC or t.b != 0 or t.d != 0 or t.a <= 0 \
            or t.e >= 0:
        raise DatasetError(f"{raster.path}: expected a north-up {_GEOGRAPHIC} LiCSAR raster, "
                           f"got CRS {raster.crs} and transform {tuple(t) if t else None}")
    ny, nx = raster.shape
    return FrameGrid((ny, nx), t, geographic_pixel_m(t, ny), str(raster.path))


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
class ProductFailure:
    """An interferogram left out of the series.

    Attributes:
        pair: Its date pair.
        message: What went wrong, naming the file.
        exit_code: Exit code of the underlying error.
    """

    pair: tuple[date, date]
    message: str
    exit_code: int


@dataclass(frozen=True)
class FrameProducts:
    """The readable products of a frame.

    Attributes:
        layout: Where they are.
        grid: The frame grid.
        dem_m: Heights ``(ny, nx)`` metres, or None without ``hgt``.
        interferograms: Products read, LOS metres, in date order.
        failures: Products skipped (rule 3).
        listed_epochs: Every date in the archive's pair names, ascending.
        coherent_fraction: ``(ny, nx)`` fraction of the read products in which each pixel
            is coherent (above the threshold and finite).
    """

    layout: FrameLayout
    grid: FrameGrid
    dem_m: NDArray[np.float32] | None
    interferograms: tuple[Interferogram, ...]
    failures: tuple[ProductFailure, ...]
    listed_epochs: tuple[date, ...]
    coherent_fraction: NDArray[np.float32]


def open_frame(root: str | Path, frame: str) -> FrameLayout:
    """The frame's layout, after checking its directories and its wavelength.

    Raises:
        DatasetError: no such archive directory, a malformed frame id, no such frame, or a
            ``metadata.txt`` wavelength other than Sentinel-1's.
    """
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"archive directory {base} does not exist")
    check_frame_id(frame)
    layout = FrameLayout(base, frame)
    if not layout.frame_dir.is_dir():
        present = sorted(p.name for p in base.iterdir() if p.is_dir())
        raise DatasetError(f"frame {frame}: no directory {layout.frame_dir}; frames under "
                           f"{base}: {', '.join(present) or 'none'}")
    if layout.metadata_txt.is_file():
        meta = layout.read_metadata()
        if "wavelength" in meta and not math.isclose(
                metadata_float(meta, "wavelength", str(layout.metadata_txt)),
                SENTINEL1.wavelength_m, rel_tol=1e-6):
            raise DatasetError(f"{layout.metadata_txt}: wavelength={meta['wavelength']} is not "
                               f"Sentinel-1's {SENTINEL1.wavelength_m} m")
    return layout


def read_grid(layout: FrameLayout, max_pixels: int = DEFAULT_MAX_PIXELS
              ) -> tuple[FrameGrid, NDArray[np.float32] | None]:
    """The frame grid and DEM (rule 1): ``hgt`` when present, else the first readable
    interferogram (and no DEM).

    Raises:
        DatasetError: no interferogram, or none readable without ``hgt``.
    """
    pairs = layout.pairs()
    if not pairs:
        raise DatasetError(f"{layout.interferograms_dir}: no interferograms for frame "
                           f"{layout.frame}")
    hgt = layout.metadata_raster("hgt")
    if hgt.is_file():
        dem = read_raster(hgt, max_pixels=max_pixels, require_finite=False)
        return frame_grid(dem), dem.data
    errors = []
    for d1, d2 in pairs:
        try:
            return frame_grid(layout.read_unw(d1, d2, max_pixels=max_pixels)), None
        except MonitorError as exc:
            errors.append(str(exc))
    raise DatasetError(f"frame {layout.frame}: no {hgt.name} and no readable interferogram "
                       f"under {layout.interferograms_dir} (first error: {errors[0]})")


def _matches(grid: FrameGrid, raster: Raster) -> bool:
    return raster.shape == grid.shape and raster.transform is not None \
        and raster.transform.almost_equals(grid.transform)


def read_frame(layout: FrameLayout, grid: FrameGrid, dem_m: NDArray[np.float32] | None, *,
               coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> FrameProducts:
    """Read every product of a frame, skipping and recording the bad ones (rule 3).

    Args:
        layout: The frame (:func:`open_frame`).
        grid: Its grid, and ``dem_m`` its DEM or None (:func:`read_grid`).
        coherence_threshold: Coherence at or below which a pixel is incoherent.
        max_pixels: Largest raster accepted.

    Raises:
        DatasetError: a malformed pair name, or no readable product.
    """
    pairs = layout.pairs()
    ifgs: list[Interferogram] = []
    failures: list[ProductFailure] = []
    count = np.zeros(grid.shape, np.int32)
    for d1, d2 in pairs:
        try:
            unw = layout.read_unw(d1, d2, max_pixels=max_pixels)
            if not _matches(grid, unw):
                raise DatasetError(f"{unw.path}: grid {unw.shape} {tuple(unw.transform or ())}"
                                   f" differs from the frame's ({grid.source})")
            coh = layout.read_cc(d1, d2)
            if coh.shape != grid.shape:
                raise DatasetError(f"{layout.cc(d1, d2)}: shape {coh.shape} differs from the "
                                   f"frame's {grid.shape} ({grid.source})")
            disp = phase_to_displacement(unw.data, SENTINEL1)
            ok = np.isfinite(disp) & (coh > coherence_threshold)
            if not ok.any():
                raise DatasetError(f"{layout.unw(d1, d2)}: no pixel with coherence above "
                                   f"{coherence_threshold}")
        except MonitorError as exc:
            log.info("skipping pair %s_%s: %s", d1, d2, exc)
            failures.append(ProductFailure((d1, d2), str(exc), exc.exit_code))
            continue
        count += ok
        ifgs.append(Interferogram(d1, d2, disp, coh))
    if not ifgs:
        raise DatasetError(f"frame {layout.frame}: no readable interferogram under "
                           f"{layout.interferograms_dir} ({len(failures)} failed; first: "
                           f"{failures[0].message})")
    epochs = tuple(sorted({d for pair in pairs for d in pair}))
    return FrameProducts(layout, grid, dem_m, tuple(ifgs), tuple(failures), epochs,
                         (count / np.float32(len(ifgs))).astype(np.float32))
