"""Two SLC scenes to a geocoded differential interferogram: the ALOS-2 PALSAR-2 chain.

:func:`make_differential_interferogram` runs, in order (each stage timed in the
provenance under ``stage_s``):

1. **check**: the two scenes must be comparable (wavelength, polarisation, look side,
   pixel spacings) and overlap on the ground (the orbits predict where the primary's
   pixels fall in the secondary).
2. **offsets**: amplitude cross-correlation on a grid of windows around the offsets the
   orbits predict, outliers rejected, a polynomial fitted
   (:mod:`monitor.science.sar.coregistration`).
3. **resample**: the secondary onto the primary's grid (Knab-windowed sinc).
4. **geometric phase**: flat-earth and orbital phase from the two orbits, with the
   topographic phase when a DEM is given (:mod:`monitor.science.sar.geometric_phase`);
   or, with ``flat_earth="plane"``, a phase plane fitted to the interferogram.
5. **interferogram**: ``primary * conj(secondary)`` with the geometric phase removed at
   full resolution, multilooked, and its coherence.
6. **unwrap**: SNAPHU over the pixels whose coherence exceeds the threshold
   (:mod:`monitor.io.snaphu_unwrap`).
7. **geocode**: unwrapped phase, LOS displacement and coherence to a lon/lat grid.

Conventions: the interferogram is primary x conj(secondary) with the SLC convention
``s = a exp(-j 4 pi R / lambda)``, so a positive unwrapped phase is a range increase
between the primary's and the secondary's dates; LOS displacement is
``d = -lambda / (4 pi) * phase``, metres, positive towards the satellite (the project's
convention and LiCSAR's sign, ``phase_sign = -1``). Put the earlier scene first to get
the displacement from the first date to the second. Incoherent pixels (coherence at or
below the threshold, 0.1 as in the LSTT study of the 2020 Taal eruption) are NaN, never 0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from affine import Affine
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.io.dem import DemTile
from monitor.io.snaphu_unwrap import unwrap
from monitor.science.sar.coregistration import (
    OffsetField,
    OffsetModel,
    fit_offsets,
    measure_offsets,
    resample,
)
from monitor.science.sar.geocode import geocode
from monitor.science.sar.geolocation import GeoDem, geolocate, radar_coordinates
from monitor.science.sar.geometric_phase import GeometricPhase, geometric_phase
from monitor.science.sar.interferogram import (
    check_looks,
    fit_phase_plane,
    multilooked_centres,
    multilooked_interferogram,
)
from monitor.science.sar.orbit import Orbit
from monitor.science.sar.scene import SlcScene

#: Sign linking unwrapped phase to LOS displacement (LiCSAR's; docs/architecture.md).
PHASE_SIGN = -1
#: Smallest fraction of the primary's pixels that must fall inside the secondary.
MIN_OVERLAP_FRACTION = 0.25


@dataclass(frozen=True, eq=False)
class RadarProducts:
    """The multilooked products in the primary's radar geometry.

    Attributes:
        ifg: ``(my, mx)`` complex64 interferogram, geometric (and fitted) phase removed.
        coherence: ``(my, mx)`` float32 coherence (NaN where the secondary is undefined).
        unwrapped_rad: ``(my, mx)`` float32 unwrapped phase, NaN where incoherent.
        los_m: ``(my, mx)`` float32 LOS displacement, metres, positive towards the
            satellite, NaN where incoherent.
        lines: ``(my,)`` primary array lines of the multilooked pixel centres.
        pixels: ``(mx,)`` primary array pixels of the multilooked pixel centres.
        geometry: Geometric phase and ground points (None with ``flat_earth="plane"``).
        plane_rad: ``(my, mx)`` fitted plane removed (None when none was).
    """

    ifg: NDArray[np.complex64]
    coherence: NDArray[np.float32]
    unwrapped_rad: NDArray[np.float32]
    los_m: NDArray[np.float32]
    lines: NDArray[np.float64]
    pixels: NDArray[np.float64]
    geometry: GeometricPhase | None
    plane_rad: NDArray[np.float64] | None


@dataclass(frozen=True, eq=False)
class DifferentialInterferogram:
    """A geocoded differential interferogram (the LiCSAR product's content).

    Attributes:
        los_m: ``(gy, gx)`` float32 LOS displacement, metres, positive towards the
            satellite, NaN where incoherent or outside the scene.
        unwrapped_rad: ``(gy, gx)`` float32 unwrapped phase, radians (same NaN).
        coherence: ``(gy, gx)`` float32 coherence (NaN outside the scene).
        transform: Affine transform of pixel corners, degrees.
        crs: ``"EPSG:4326"``.
        wavelength_m: Radar wavelength, metres.
        phase_sign: ``d = phase_sign * wavelength / (4 pi) * phase`` (-1).
        radar: The products in radar geometry.
        provenance: JSON-ready record of how it was made.
    """

    los_m: NDArray[np.float32]
    unwrapped_rad: NDArray[np.float32]
    coherence: NDArray[np.float32]
    transform: Affine
    crs: str
    wavelength_m: float
    phase_sign: int
    radar: RadarProducts
    provenance: dict[str, object]


def as_geodem(dem: GeoDem | DemTile | None, geoid_undulation_m: float = 0.0) -> GeoDem | None:
    """A DEM for the interferometry; a :class:`~monitor.io.dem.DemTile` (heights above the
    geoid) gets ``geoid_undulation_m`` added to make them ellipsoidal."""
    if dem is None or isinstance(dem, GeoDem):
        return dem
    if isinstance(dem, DemTile):
        if dem.crs != "EPSG:4326":
            raise InputError(f"DEM {dem.source}: must be EPSG:4326, got {dem.crs}")
        return GeoDem(dem.height_m, dem.transform, float(geoid_undulation_m), dem.source)
    raise InputError(f"dem must be a GeoDem or a DemTile, got {type(dem).__name__}")


def check_pair(primary: SlcScene, secondary: SlcScene) -> None:
    """Refuse scenes that cannot make an interferogram, naming what differs."""
    p, s = primary.geometry, secondary.geometry
    what = f"scenes {primary.scene_id} and {secondary.scene_id}"
    if primary.scene_id == secondary.scene_id and primary.acquired == secondary.acquired:
        raise InputError(f"{what}: the same scene twice; pick two acquisitions")
    for name in ("wavelength_m", "range_pixel_spacing_m", "line_interval_s"):
        a, b = getattr(p, name), getattr(s, name)
        if abs(a - b) > 1e-3 * abs(a):
            raise InputError(f"{what}: {name} differs ({a} vs {b}); pair scenes of the same "
                             "beam and observation mode")
    if p.look_side != s.look_side:
        raise InputError(f"{what}: look sides differ ({p.look_side} vs {s.look_side})")
    if primary.polarisation != secondary.polarisation:
        raise InputError(f"{what}: polarisations differ ({primary.polarisation} vs "
                         f"{secondary.polarisation}); interfere the same polarisation")
    for sc in (primary, secondary):
        if not np.iscomplexobj(sc.slc):
            raise InputError(f"scene {sc.scene_id}: SLC samples must be complex, got "
                             f"{sc.slc.dtype}")
        if min(sc.slc.shape) < 32:
            raise InputError(f"scene {sc.scene_id}: a crop of {sc.slc.shape} is too small "
                             "(at least 32 x 32 pixels)")


def predicted_offsets(primary: SlcScene, secondary: SlcScene, o1: Orbit, o2: Orbit,
                      dem: GeoDem | None) -> tuple[OffsetModel, float]:
    """Offsets the orbits predict (affine in line and pixel) and the overlap fraction."""
    ny, nx = primary.slc.shape
    ll, pp = np.meshgrid(np.linspace(0, ny - 1, 5), np.linspace(0, nx - 1, 5), indexing="ij")
    try:
        ground = geolocate(primary, o1, ll, pp, dem)
    except InputError:
        ground = geolocate(primary, o1, ll, pp)
    l2, p2 = radar_coordinates(secondary, o2, ground)
    field = OffsetField(ll.ravel(), pp.ravel(), (l2 - ll).ravel(), (p2 - pp).ravel(),
                        np.ones(ll.size))
    model = fit_offsets(field, (ny, nx), degree=1, n_sigma=1e9)
    ny2, nx2 = secondary.slc.shape
    gl, gp = np.meshgrid(np.linspace(0, ny - 1, 33), np.linspace(0, nx - 1, 33),
                         indexing="ij")
    dl, dp = model(gl, gp)
    inside = (gl + dl >= 0) & (gl + dl <= ny2 - 1) & (gp + dp >= 0) & (gp + dp <= nx2 - 1)
    return model, float(inside.mean())


def make_differential_interferogram(
    primary: SlcScene,
    secondary: SlcScene,
    *,
    dem: GeoDem | DemTile | None = None,
    geoid_undulation_m: float = 0.0,
    looks: tuple[int, int] = (4, 4),
    coherence_threshold: float = 0.1,
    flat_earth: Literal["orbits", "plane"] = "orbits",
    remove_residual_plane: bool = False,
    offset_window_px: int = 64,
    offset_windows: tuple[int, int] = (8, 8),
    offset_degree: int = 1,
    bandwidth_fraction: float = 0.8,
    spacing_deg: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    snaphu_cost: Literal["smooth", "defo"] = "smooth",
    nlooks: float | None = None,
    snaphu_tiles: tuple[int, int] = (1, 1),
    unwrap_phase: bool = True,
) -> DifferentialInterferogram:
    """Make a geocoded differential interferogram from two SLC scenes.

    Args:
        primary: The primary (reference) scene: its grid is the radar grid of the result;
            put the earlier date first.
        secondary: The secondary scene, coregistered onto the primary.
        dem: Terrain for the topographic phase and the geocoding (None: the ellipsoid).
        geoid_undulation_m: Added to a :class:`~monitor.io.dem.DemTile`'s geoid heights.
        looks: ``(azimuth, range)`` looks.
        coherence_threshold: Coherence at or below which a pixel is NaN (0.1, as for Taal 2020).
        flat_earth: ``"orbits"`` (flat-earth, orbital and topographic phase from the state
            vectors) or ``"plane"`` (a plane fitted to the interferogram, no DEM).
        remove_residual_plane: After the orbits, also fit and remove a residual plane
            (orbit errors; it also takes up deformation planar at the scene's scale).
        offset_window_px: Correlation window, pixels.
        offset_windows: Correlation windows along azimuth and range.
        offset_degree: Degree of the offset polynomial (1: affine).
        bandwidth_fraction: Signal bandwidth over sampling rate (resampling kernel).
        spacing_deg: Geocoded spacing, degrees (default: about the multilooked ground
            pixel).
        bounds: Geocoded ``(west, south, east, north)`` (default: the footprint).
        snaphu_cost: SNAPHU's cost mode.
        nlooks: Equivalent looks for SNAPHU (default ``azimuth x range`` looks).
        snaphu_tiles: SNAPHU tiles (rows, columns).
        unwrap_phase: False stops before SNAPHU (the unwrapped and LOS arrays are NaN).

    Returns:
        The :class:`DifferentialInterferogram`.

    Raises:
        InputError: the scenes do not pair, do not overlap, or nothing is coherent.
        ProcessingError: SNAPHU failed.
    """
    stage_s: dict[str, float] = {}
    t0 = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        stage_s[name] = round(now - t0, 3)
        t0 = now

    check_pair(primary, secondary)
    if flat_earth not in ("orbits", "plane"):
        raise InputError(f"flat_earth must be 'orbits' or 'plane', got {flat_earth!r}")
    if not 0 <= coherence_threshold < 1:
        raise InputError(f"coherence_threshold must lie in [0, 1), got {coherence_threshold!r}")
    geo_dem = as_geodem(dem, geoid_undulation_m)
    if geo_dem is not None and flat_earth == "plane":
        raise InputError("a DEM's topographic phase needs the orbits: use flat_earth='orbits'")
    ny, nx = primary.slc.shape
    az, rg = check_looks(looks, (ny, nx))
    o1, o2 = Orbit(primary.geometry.orbit), Orbit(secondary.geometry.orbit)
    seed, overlap = predicted_offsets(primary, secondary, o1, o2, geo_dem)
    if overlap < MIN_OVERLAP_FRACTION:
        raise InputError(f"scenes {primary.scene_id} and {secondary.scene_id}: the orbits put "
                         f"only {overlap:.0%} of the primary crop inside the secondary crop "
                         f"(at least {MIN_OVERLAP_FRACTION:.0%} needed): crop both scenes "
                         "over the same lon/lat box")
    lap("check")

    window = min(offset_window_px, (min(ny, nx) // 2) // 2 * 2)
    field = measure_offsets(primary.slc, secondary.slc, window=window,
                            n_windows=offset_windows, predicted=seed)
    model = fit_offsets(field, (ny, nx), degree=offset_degree)
    lap("offsets")
    s2, valid = resample(secondary.slc, model, (ny, nx), bandwidth_fraction=bandwidth_fraction)
    lap("resample")

    lines, pixels = multilooked_centres((ny, nx), (az, rg))
    geo: GeometricPhase | None = None
    removed: list[str] = []
    if flat_earth == "orbits":
        rows = np.unique(np.r_[0.0, lines, ny - 1.0])
        cols = np.unique(np.r_[0.0, pixels, nx - 1.0])
        geo = geometric_phase(primary, secondary, rows, cols, geo_dem, (o1, o2))
        removed.append("flat-earth and orbital phase from the state vectors")
        if geo_dem is not None:
            removed.append(f"topographic phase from the DEM {geo_dem.source or '(unnamed)'}"
                           f" (height offset {geo_dem.height_offset_m} m)")
    lap("geometric_phase")
    ifg, coh = multilooked_interferogram(
        primary.slc, s2, (az, rg), phase_rad=None if geo is None else geo.phase_rad,
        phase_rows=None if geo is None else geo.rows,
        phase_cols=None if geo is None else geo.cols, valid=valid)
    del s2
    plane = None
    if flat_earth == "plane" or remove_residual_plane:
        plane = fit_phase_plane(ifg, coh, threshold=max(coherence_threshold, 0.3))
        ifg = (ifg * np.exp(-1j * plane)).astype(np.complex64)
        removed.append("a phase plane fitted to the coherent pixels")
    lap("interferogram")

    coherent = np.isfinite(coh) & (coh > coherence_threshold)
    if not coherent.any():
        raise InputError(f"scenes {primary.scene_id} and {secondary.scene_id}: no multilooked "
                         f"pixel has coherence above {coherence_threshold}; the pair is "
                         "incoherent (too long a gap, snow, or a wrong pairing)")
    wavelength = primary.geometry.wavelength_m
    n_comp = 0
    if unwrap_phase:
        unw = unwrap(ifg, coh, nlooks=float(nlooks if nlooks is not None else az * rg),
                     threshold=coherence_threshold, cost=snaphu_cost, ntiles=snaphu_tiles,
                     label=f"interferogram {primary.scene_id} x {secondary.scene_id}")
        phase = unw.phase_rad
        n_comp = unw.n_components
    else:
        phase = np.full(ifg.shape, np.nan, np.float32)
    phase = np.where(coherent, phase, np.nan).astype(np.float32)
    los = (PHASE_SIGN * wavelength / (4.0 * math.pi) * phase).astype(np.float32)
    lap("unwrap")

    if spacing_deg is None:
        inc = 35.0 if geo is None else float(np.rad2deg(np.arccos(
            geo.los_enu[geo.los_enu.shape[0] // 2, geo.los_enu.shape[1] // 2, 2])))
        dx = rg * primary.geometry.range_pixel_spacing_m / math.sin(math.radians(inc))
        speed = float(np.linalg.norm(o1.state(o1.seconds(primary.geometry.first_line_time),
                                              1)[1]))
        dy = az * primary.geometry.line_interval_s * speed * 0.9
        spacing_deg = max(dx, dy) / 111_320.0
    grid = geocode(primary, {"los_m": los, "unwrapped_rad": phase, "coherence": coh},
                   (az, rg), spacing_deg, bounds=bounds, dem=geo_dem, orbit=o1)
    lap("geocode")

    provenance: dict[str, object] = {
        "primary": primary.scene_id, "secondary": secondary.scene_id,
        "primary_date": primary.acquired.isoformat(),
        "secondary_date": secondary.acquired.isoformat(),
        "crop_primary": [primary.line0, primary.pixel0, ny, nx],
        "crop_secondary": [secondary.line0, secondary.pixel0, *secondary.slc.shape],
        "offsets_predicted": seed.summary(), "offsets_fitted": model.summary(),
        "overlap_fraction": overlap, "looks": [az, rg],
        "phase_removed": removed,
        "perpendicular_baseline_m": None if geo is None else geo.perpendicular_baseline_m,
        "coherence_threshold": coherence_threshold,
        "coherent_fraction": float(coherent.mean()),
        "unwrapping": {"program": "snaphu", "cost": snaphu_cost, "init": "mcf",
                       "nlooks": float(nlooks if nlooks is not None else az * rg),
                       "components": n_comp} if unwrap_phase else None,
        "wavelength_m": wavelength, "phase_sign": PHASE_SIGN,
        "geocoding": {"spacing_deg": spacing_deg, "crs": "EPSG:4326",
                      "transform": list(grid.transform)[:6]},
        "stage_s": stage_s,
    }
    radar = RadarProducts(ifg, coh, phase, los, lines, pixels, geo, plane)
    return DifferentialInterferogram(
        grid.arrays["los_m"], grid.arrays["unwrapped_rad"], grid.arrays["coherence"],
        grid.transform, grid.crs, wavelength, PHASE_SIGN, radar, provenance)
