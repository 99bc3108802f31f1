"""Two downloaded ALOS-2 PALSAR-2 L1.1 scenes to a product in the LiCSAR format.

:func:`make_palsar2_product` is the interferometry of the ``kind = "tellus"`` archive
(docs/alos2.md, "Watching a volcano with ALOS-2"): it reads only a lon/lat box of each
scene (plus a margin of ``margin_px`` lines and pixels for the coregistration) with the
CEOS reader (:func:`monitor.io.ceos.read_slc`), picks a DEM that covers the crop
(:func:`dem_for`), runs the chain (:func:`monitor.io.sar_chain.make_differential_interferogram`,
the earlier scene as primary) and writes, atomically (a temporary name renamed):

* ``<d1>_<d2>.geo.unw.tif``: unwrapped phase, float32 radians, NaN where incoherent or
  outside the scenes (LiCSAR's decoder reads NaN and 0 as no data), EPSG:4326, on the
  grid of the box at ``spacing_deg`` (the same grid for every pair of a frame, so the
  watch's series can add them); GeoTIFF tags ``WAVELENGTH_M`` (the scene's wavelength:
  the leader of a real scene gives 0.2424525 m, not the nominal 0.2384) and
  ``PHASE_SIGN`` (-1: ``d = -lambda / (4 pi) * phase``, metres towards the satellite);
* ``<d1>_<d2>.geo.cc.tif``: coherence as LiCSAR writes it, uint8 ``round(255 * gamma)``
  with 0 as no data;
* ``<d1>_<d2>.provenance.json``: the scenes and files read, the crops, the offsets, the
  looks, the phase removed, the DEM and geoid undulation, the wavelength, SNAPHU's
  settings and the wall time of each stage.

Heights: SRTM heights are above the EGM96 geoid; ``geoid_undulation_m`` (a constant) makes
them ellipsoidal. Without a DEM covering the crop the ellipsoid is used and the
topographic phase stays in the product (the provenance says so).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import rasterio
from rasterio.errors import RasterioError

from monitor import __version__
from monitor.errors import DatasetError, InputError, RasterError
from monitor.io.atomic import atomic_write
from monitor.io.ceos import LonLatBox, find_product, read_slc
from monitor.io.dem import (
    DemTile,
    crop_dem,
    metres_per_degree,
    packaged_dem,
    packaged_dem_names,
    read_hgt,
)
from monitor.io.rasters import write_raster
from monitor.io.sar_chain import PHASE_SIGN, make_differential_interferogram
from monitor.science.sar.geocode import footprint
from monitor.science.sar.orbit import Orbit

log = logging.getLogger(__name__)

#: GeoTIFF tag of the unwrapped phase holding the radar wavelength, metres.
WAVELENGTH_TAG = "WAVELENGTH_M"
#: GeoTIFF tag holding the sign linking phase to LOS displacement.
PHASE_SIGN_TAG = "PHASE_SIGN"
#: Ground margin a DEM must cover around a crop's footprint on the ellipsoid, degrees of
#: latitude: terrain moves a pixel's ground point by ``h / tan(incidence)`` towards the
#: radar (2.3 km of relief at 35 degrees: 3.3 km).
DEM_MARGIN_DEG = 0.03


@dataclass(frozen=True)
class ChainOptions:
    """What an operator may tune of the chain (``[archives.NAME]`` of a tellus archive).

    Attributes:
        looks: ``(azimuth, range)`` looks.
        coherence_threshold: Coherence at or below which a pixel is NaN (0.1, as in the
            LSTT study of the 2020 Taal eruption).
        remove_residual_plane: Also fit and remove a phase plane after the orbits' phase
            (orbit errors; it also takes up deformation planar at the box's scale).
        spacing_deg: Spacing of the geocoded grid, degrees (LiCSAR's is about 0.001).
        geoid_undulation_m: Added to the DEM's geoid heights to make them ellipsoidal,
            metres (about +45 at Taal; 0 leaves an error of a quarter fringe, mostly a
            constant, for 45 m and a 300 m baseline).
        margin_px: Lines and pixels read around the box for the coregistration.
        dem_dir: A folder of SRTM ``.hgt`` tiles, tried before the packaged crops.
        use_dem: False: always the ellipsoid (tests, or a DEM known to be wrong).
        snaphu_cost: SNAPHU's cost mode (``smooth`` or ``defo``).
    """

    looks: tuple[int, int] = (4, 4)
    coherence_threshold: float = 0.1
    remove_residual_plane: bool = False
    spacing_deg: float = 0.001
    geoid_undulation_m: float = 0.0
    margin_px: int = 64
    dem_dir: Path | None = None
    use_dem: bool = True
    snaphu_cost: Literal["smooth", "defo"] = "smooth"

    def __post_init__(self) -> None:
        if len(self.looks) != 2 or min(self.looks) < 1:
            raise InputError(f"looks must be two positive integers, got {self.looks!r}")
        if not 0 <= self.coherence_threshold < 1:
            raise InputError("coherence_threshold must lie in [0, 1), got "
                             f"{self.coherence_threshold!r}")
        if not (math.isfinite(self.spacing_deg) and 0 < self.spacing_deg < 0.1):
            raise InputError(f"spacing_deg must lie in (0, 0.1) degrees, got "
                             f"{self.spacing_deg!r}")
        if self.margin_px < 0:
            raise InputError(f"margin_px must be >= 0, got {self.margin_px!r}")


@dataclass(frozen=True)
class MadeProduct:
    """What :func:`make_palsar2_product` wrote.

    Attributes:
        unw_path: The unwrapped phase GeoTIFF.
        cc_path: The coherence GeoTIFF.
        provenance_path: The provenance JSON.
        provenance: Its content.
    """

    unw_path: Path
    cc_path: Path
    provenance_path: Path
    provenance: dict[str, object]


def _covers(outer: tuple[float, float, float, float],
            inner: tuple[float, float, float, float]) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2]
            and outer[3] >= inner[3])


def _hgt_tiles(dem_dir: Path, bounds: tuple[float, float, float, float]
               ) -> tuple[list[Path], list[str]]:
    """The ``.hgt`` files of ``dem_dir`` covering ``bounds``, and the names missing."""
    west, south, east, north = bounds
    present: dict[str, Path] = {}
    try:
        for p in dem_dir.iterdir():
            if p.is_file() and p.name.lower().endswith(".hgt"):
                present.setdefault(p.name[:7].upper(), p)
    except OSError as exc:
        raise RasterError(f"dem_dir {dem_dir}: cannot list it ({exc}); check the path in "
                          "[archives.NAME] dem_dir") from None
    found, missing = [], []
    for lat in range(math.floor(south), math.floor(north) + 1):
        for lon in range(math.floor(west), math.floor(east) + 1):
            stem = f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}{'E' if lon >= 0 else 'W'}" \
                   f"{abs(lon):03d}"
            if stem in present:
                found.append(present[stem])
            else:
                missing.append(f"{stem}.hgt")
    return found, missing


def dem_for(bounds: tuple[float, float, float, float], dem_dir: Path | None = None
            ) -> tuple[DemTile | None, str]:
    """A DEM covering ``bounds`` ``(west, south, east, north)``, degrees.

    The SRTM ``.hgt`` tiles of ``dem_dir`` first (mosaicked and cropped to a square around
    the bounds), else a packaged crop (``monitor/data/dem``, Taal among them) that covers
    them, else none.

    Returns:
        ``(dem or None, why)``: where it came from, or why there is none.
    """
    reasons = []
    if dem_dir is not None:
        tiles, missing = _hgt_tiles(Path(dem_dir), bounds)
        if missing:
            reasons.append(f"dem_dir {dem_dir} lacks {', '.join(missing)}")
        else:
            west, south, east, north = bounds
            lon, lat = (west + east) / 2, (south + north) / 2
            east_m, north_m = metres_per_degree(lat)
            half_km = max((east - west) / 2 * east_m, (north - south) / 2 * north_m) / 1e3
            try:
                return crop_dem([read_hgt(t) for t in tiles], lon, lat, half_km * 1.02), \
                    f"SRTM tiles of {dem_dir}"
            except (RasterError, InputError) as exc:
                reasons.append(str(exc))
    for name in packaged_dem_names():
        tile = packaged_dem(name)
        if _covers(tile.bounds, bounds):
            return tile, f"packaged SRTM3 crop {name!r}"
    reasons.append("no packaged DEM crop covers it")
    return None, "; ".join(reasons)


def read_product_tags(path: str | Path) -> tuple[float | None, int | None]:
    """The ``(wavelength_m, phase_sign)`` a product's unwrapped phase GeoTIFF records;
    None for what it does not (a LiCSAR product, or a hook that wrote no tags).

    Raises:
        RasterError: a tag that is not a positive wavelength or a sign of +-1.
    """
    try:
        with rasterio.open(path) as src:
            tags = src.tags()
    except (RasterioError, OSError) as exc:
        raise RasterError(f"{path}: cannot read its tags ({exc})") from None
    wavelength: float | None = None
    sign: int | None = None
    try:
        if WAVELENGTH_TAG in tags:
            wavelength = float(tags[WAVELENGTH_TAG])
            if not (math.isfinite(wavelength) and 0.001 < wavelength < 1.0):
                raise ValueError(tags[WAVELENGTH_TAG])
        if PHASE_SIGN_TAG in tags:
            sign = int(tags[PHASE_SIGN_TAG])
            if sign not in (-1, 1):
                raise ValueError(tags[PHASE_SIGN_TAG])
    except ValueError as exc:
        raise RasterError(f"{path}: tag {WAVELENGTH_TAG} = {tags.get(WAVELENGTH_TAG)!r}, "
                          f"{PHASE_SIGN_TAG} = {tags.get(PHASE_SIGN_TAG)!r} ({exc}): expected "
                          "a wavelength in metres and a sign of -1 or 1; remake the "
                          "product") from None
    return wavelength, sign


def _tmp(final: Path) -> Path:
    return final.with_name(f".{final.stem}.{os.getpid()}.tmp{final.suffix}")


def make_palsar2_product(primary_dir: str | Path, secondary_dir: str | Path,
                         out_dir: str | Path, *, box: LonLatBox, polarisation: str = "HH",
                         options: ChainOptions | None = None,
                         name: str | None = None) -> MadeProduct:
    """Make the LiCSAR-format product of two L1.1 scenes over a lon/lat box.

    Args:
        primary_dir: One scene's product directory (the earlier date is taken as the
            primary whichever comes first).
        secondary_dir: The other scene's.
        out_dir: Where to write (created when missing).
        box: The lon/lat box processed, degrees: only its lines (plus the margin) are
            read, and the geocoded grid is the box's at ``spacing_deg``.
        polarisation: The image file read (``HH``...).
        options: The chain's options (defaults when None).
        name: The pair's name ``<d1>_<d2>`` (default: the scenes' dates); with it, the
            scenes' dates must be its dates.

    Returns:
        The :class:`MadeProduct`.

    Raises:
        CeosError: a malformed CEOS file (naming the file, record and field).
        DatasetError: a product directory without its files, or scene dates that are not
            the pair's.
        InputError: scenes that do not pair, a box outside a scene, no overlap, an
            incoherent pair.
        ProcessingError: SNAPHU failed (may pass: retried).
        RasterError: the GeoTIFFs could not be written.
    """
    opts = options or ChainOptions()
    stage_s: dict[str, float] = {}
    t0 = time.perf_counter()
    scenes = [read_slc(d, polarisation, box=box, margin_px=opts.margin_px)
              for d in (primary_dir, secondary_dir)]
    dirs = [Path(primary_dir), Path(secondary_dir)]
    if scenes[1].acquired < scenes[0].acquired:
        scenes.reverse()
        dirs.reverse()
    primary, secondary = scenes
    pair = f"{primary.acquired:%Y%m%d}_{secondary.acquired:%Y%m%d}"
    if name is not None and name != pair:
        raise DatasetError(f"{find_product(dirs[0]).leader} and {find_product(dirs[1]).leader}:"
                           f" the leaders date the scenes {pair}, the archive listed the pair "
                           f"as {name}; the search answer and the products disagree")
    stage_s["read"] = round(time.perf_counter() - t0, 3)

    t0 = time.perf_counter()
    dem: DemTile | None = None
    dem_why = "not used (use_dem = false)"
    if opts.use_dem:
        west, south, east, north = footprint(primary, Orbit(primary.geometry.orbit))
        dlon = DEM_MARGIN_DEG / max(math.cos(math.radians((south + north) / 2)), 0.05)
        dem, dem_why = dem_for((west - dlon, south - DEM_MARGIN_DEG, east + dlon,
                                north + DEM_MARGIN_DEG), opts.dem_dir)
    stage_s["dem"] = round(time.perf_counter() - t0, 3)

    ifg = make_differential_interferogram(
        primary, secondary, dem=dem, geoid_undulation_m=opts.geoid_undulation_m,
        looks=opts.looks, coherence_threshold=opts.coherence_threshold,
        remove_residual_plane=opts.remove_residual_plane, spacing_deg=opts.spacing_deg,
        bounds=(box.lon_min, box.lat_min, box.lon_max, box.lat_max),
        snaphu_cost=opts.snaphu_cost)

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unw_path = out / f"{pair}.geo.unw.tif"
    cc_path = out / f"{pair}.geo.cc.tif"
    prov_path = out / f"{pair}.provenance.json"
    coh = ifg.coherence
    cc = np.where(np.isfinite(coh), np.clip(np.rint(coh * 255.0), 0, 255), 0).astype(np.uint8)
    tmp_unw, tmp_cc = _tmp(unw_path), _tmp(cc_path)
    try:
        write_raster(tmp_unw, ifg.unwrapped_rad, crs=ifg.crs, transform=ifg.transform)
        try:
            with rasterio.open(tmp_unw, "r+") as dst:
                dst.update_tags(**{WAVELENGTH_TAG: repr(float(ifg.wavelength_m)),
                                   PHASE_SIGN_TAG: str(int(ifg.phase_sign))})
        except (RasterioError, OSError) as exc:
            raise RasterError(f"{tmp_unw}: cannot write its tags ({exc})") from None
        write_raster(tmp_cc, cc, crs=ifg.crs, transform=ifg.transform, dtype="uint8",
                     nodata=0)
        os.replace(tmp_unw, unw_path)
        os.replace(tmp_cc, cc_path)
    finally:
        for p in (tmp_unw, tmp_cc):
            p.unlink(missing_ok=True)
    stage_s["write"] = round(time.perf_counter() - t0, 3)

    chain = dict(ifg.provenance)
    chain_stages = chain.pop("stage_s", {})
    files = {}
    for label, d in (("primary", dirs[0]), ("secondary", dirs[1])):
        pf = find_product(d)
        files[label] = {"directory": str(d), "leader": pf.leader.name,
                        "image": pf.images[polarisation].name}
    provenance: dict[str, object] = {
        "pair": pair, "code_version": __version__,
        "scenes": files, "polarisation": polarisation,
        "box": [box.lon_min, box.lat_min, box.lon_max, box.lat_max],
        "margin_px": opts.margin_px,
        "dem": {"source": None if dem is None else dem.source, "why": dem_why,
                "geoid_undulation_m": opts.geoid_undulation_m,
                "topographic_phase_removed": dem is not None},
        "wavelength_m": ifg.wavelength_m, "phase_sign": PHASE_SIGN,
        "decoding": f"d = {PHASE_SIGN} * {ifg.wavelength_m} / (4 pi) * phase (metres, "
                    "positive towards the satellite)",
        "chain": chain,
        "stage_s": {**stage_s, **(chain_stages if isinstance(chain_stages, dict) else {})},
    }
    if dem is None:
        chain_removed = chain.get("phase_removed")
        provenance["warning"] = (f"no DEM ({dem_why}): the topographic phase stays in the "
                                 f"product (removed: {chain_removed})")
    with atomic_write(prov_path, "w") as fh:
        json.dump(provenance, fh, indent=1, default=str)
    return MadeProduct(unw_path, cc_path, prov_path, provenance)
