"""Write a synthetic volcano time series as a LiCSAR-layout archive.

The archive is what the demo and the end-to-end tests poll: a frame directory with one
interferogram per pair (daisy chain, or each epoch paired with its three nearest
neighbours as LiCSAR does), coherence, DEM, LOS unit vector rasters, ``metadata.txt`` and
``baselines``, in the portal's encodings (see :mod:`monitor.io.licsar`). Beside the frame
a ``synth_truth.json`` records what was put in (onset, rate, per-epoch peak deformation),
which is not part of the LiCSAR layout and which the watch never reads.

With ``delays`` the archive also publishes per-epoch weather-model zenith total delays
(``epochs/<d>/<d>.sltd.geo.tif`` for GACOS, ``<d>.icams.sltd.geo.tif`` for ICAMS; issue 6),
consistent with the drawn atmosphere: for epoch ``i``

    ``ztd_i = 2.3 m * exp(-h / 7 km) + s_i + e_i``

where the first term is a height-dependent total delay common to all dates (it cancels in
differences), ``s_i`` the epoch's stratified zenith delay whose LOS part
``-s_i / cos(incidence)`` is in the interferograms, and ``e_i`` the weather model's error: a
smooth field of :data:`DELAY_MODEL_ERRORS` standard deviation and e-folding length, drawn per
model and epoch from a generator seeded with ``(seed, "delays", model)`` so that the
interferograms of a seed do not change when delays are asked for. With
``delay_geometry="slant"`` the files hold ``ztd_i / cos(incidence)`` instead, as the LiCSAR
portal publishes them (its ``.sltd`` files are the zenith delay divided by the U raster).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from rasterio.transform import Affine, from_origin
from scipy import ndimage

from monitor import __version__
from monitor.errors import DatasetError, InputError
from monitor.io.dem import DemTile, packaged_dem
from monitor.io.licsar import (
    DELAY_SUFFIXES,
    POSTING_DEG,
    FrameLayout,
    check_delay_kinds,
    check_frame_id,
    format_date,
)
from monitor.io.rasters import write_raster
from monitor.io.volcanoes import KNOWN_VOLCANOES as KNOWN_VOLCANOES
from monitor.science.atmosphere import turbulent_delay
from monitor.science.dem import synthetic_dem
from monitor.science.geometry import SENTINEL1, displacement_to_phase, los_unit_vector
from monitor.science.synth_series import SeriesScenario, SeriesTruth, draw_series, interferogram

log = logging.getLogger(__name__)

EARTH_M_PER_DEG = 111_320.0


#: Sea-level zenith total delay (metres) and its scale height (metres) in the synthetic
#: delay files: the part common to all dates.
ZTD_SEA_LEVEL_M = 2.3
ZTD_SCALE_HEIGHT_M = 7000.0
#: Weather-model error per model: (standard deviation, e-folding length), metres. Smooth
#: fields of a few millimetres on 10-20 km scales; ICAMS (ERA5, coarser) a little worse.
DELAY_MODEL_ERRORS: dict[str, tuple[float, float]] = {
    "gacos": (0.003, 15_000.0),
    "icams": (0.005, 20_000.0),
}
#: Second seed word of the delay generators (``b"delays"`` as an integer).
_DELAYS_STREAM = int.from_bytes(b"delays", "big")


@dataclass(frozen=True)
class ArchiveSummary:
    """What :func:`write_synthetic_archive` wrote."""

    root: Path
    frame: str
    epochs: tuple[date, ...]
    pairs: tuple[tuple[date, date], ...]
    shape: tuple[int, int]
    transform: Affine
    onset: date | None
    rate_m_per_yr: float
    delays: tuple[str, ...] = ()


def network_pairs(n_epochs: int, network: Literal["daisy", "nearest3"]) -> list[tuple[int, int]]:
    """Index pairs of a daisy chain, or of each epoch with its 3 nearest later neighbours."""
    if network == "daisy":
        return [(i, i + 1) for i in range(n_epochs - 1)]
    if network == "nearest3":
        return [(i, j) for i in range(n_epochs) for j in range(i + 1, min(i + 4, n_epochs))]
    raise InputError(f"unknown network {network!r}; use 'daisy' or 'nearest3'")


def resample_dem_to_grid(tile: DemTile, transform: Affine, shape: tuple[int, int]
                         ) -> NDArray[np.float32]:
    """Bilinear resampling of a DEM tile onto the pixel centres of another lon/lat grid."""
    ny, nx = shape
    cols, rows = np.meshgrid(np.arange(nx) + 0.5, np.arange(ny) + 0.5)
    lon = transform.c + cols * transform.a
    lat = transform.f + rows * transform.e
    src_col = (lon - tile.transform.c) / tile.transform.a - 0.5
    src_row = (lat - tile.transform.f) / tile.transform.e - 0.5
    h = tile.height_m.shape
    if (src_row.min() < -0.5 or src_col.min() < -0.5 or src_row.max() > h[0] - 0.5
            or src_col.max() > h[1] - 0.5):
        raise DatasetError("the DEM crop does not cover the requested archive window; "
                           "use a smaller --size")
    out = ndimage.map_coordinates(tile.height_m.astype(np.float64), [src_row, src_col],
                                  order=1, mode="nearest")
    return np.asarray(out, np.float32)


def parse_delay_kinds(kinds: str | Sequence[str]) -> tuple[str, ...]:
    """Validated delay models, e.g. ``"gacos,icams"`` -> ``("gacos", "icams")``.

    Raises:
        InputError: an unknown model.
    """
    return check_delay_kinds(kinds.split(",") if isinstance(kinds, str) else list(kinds))


def write_epoch_delays(layout: FrameLayout, truth: SeriesTruth, dem: NDArray[np.float32],
                       pixel_m: float, kinds: Sequence[str], seed: int,
                       georef: dict[str, Any], *, cos_incidence: float = 1.0) -> None:
    """Write each epoch's weather-model zenith total delay files (module docstring).

    Args:
        layout: The frame.
        truth: The drawn series (its ``stratified_zenith_m``, ``(n_epochs, ny, nx)``).
        dem: Heights, metres, ``(ny, nx)``.
        pixel_m: Pixel size, metres.
        kinds: Models to write (``gacos``, ``icams``).
        seed: The archive's seed.
        georef: ``crs`` and ``transform`` of the frame's rasters.
        cos_incidence: Divides the zenith delays (1: zenith files; the U component: slant
            files as the portal's).
    """
    if not 0.0 < cos_incidence <= 1.0:
        raise InputError(f"cos_incidence must lie in (0, 1], got {cos_incidence}")
    common = ZTD_SEA_LEVEL_M * np.exp(-np.asarray(dem, np.float64) / ZTD_SCALE_HEIGHT_M)
    for kind in parse_delay_kinds(kinds):
        sigma_m, length_m = DELAY_MODEL_ERRORS[kind]
        rng = np.random.default_rng([seed, _DELAYS_STREAM, list(DELAY_SUFFIXES).index(kind)])
        for i, epoch in enumerate(truth.epochs):
            error = turbulent_delay(dem.shape, pixel_m, sigma_m, length_m, rng)
            ztd = common + truth.stratified_zenith_m[i] + error
            write_raster(layout.epoch_delay(epoch, kind),
                         (ztd / cos_incidence).astype(np.float32), **georef)


def write_synthetic_archive(
    out_dir: str | Path,
    *,
    scenario: SeriesScenario,
    frame: str = "022D_04826_121209",
    volcano: str = "campi_flegrei",
    centre_lonlat: tuple[float, float] | None = None,
    size_px: int = 200,
    heading_deg: float = -169.8,
    incidence_deg: float = 39.0,
    network: Literal["daisy", "nearest3"] = "daisy",
    seed: int = 0,
    delays: str | Sequence[str] = (),
    delay_geometry: Literal["zenith", "slant"] = "zenith",
) -> ArchiveSummary:
    """Draw a scenario and write it as a LiCSAR frame under ``out_dir``.

    Args:
        out_dir: Root of the archive (the frame directory is created inside).
        scenario: Dates, onset, rate and atmosphere of the series.
        frame: LiCSAR frame id.
        volcano: Name of a packaged DEM crop (``taal``, ``campi_flegrei``, ``agung``,
            ``sakurajima``) or ``"synthetic"`` for a synthetic stratovolcano.
        centre_lonlat: Grid centre (defaults to the volcano's position).
        size_px: Grid size in pixels of 0.001 degree (square).
        heading_deg: Satellite heading, degrees from north (descending ~ -170).
        incidence_deg: Incidence angle, degrees.
        network: ``daisy`` (consecutive pairs) or ``nearest3`` (LiCSAR-like network).
        seed: Random seed; the same seed gives the same archive.
        delays: Weather-model delay files to publish per epoch (``gacos``, ``icams``, or a
            comma-separated string); they do not change the rest of the archive.
        delay_geometry: ``zenith`` delays, or ``slant`` ones (zenith / U, as the portal's).
    """
    check_frame_id(frame)
    delay_kinds = parse_delay_kinds(delays)
    if delay_geometry not in ("zenith", "slant"):
        raise InputError(f"unknown delay_geometry {delay_geometry!r}; use zenith or slant")
    if not 16 <= size_px <= 2000:
        raise InputError(f"archive size_px must lie in [16, 2000], got {size_px}")
    rng = np.random.default_rng(seed)
    if centre_lonlat is None:
        if volcano not in KNOWN_VOLCANOES and volcano != "synthetic":
            raise InputError(f"unknown volcano {volcano!r}; choose from "
                             f"{', '.join([*KNOWN_VOLCANOES, 'synthetic'])} or give a centre")
        centre_lonlat = KNOWN_VOLCANOES.get(volcano, (0.0, 0.0))
    lon0, lat0 = centre_lonlat
    half = size_px * POSTING_DEG / 2
    transform = from_origin(lon0 - half, lat0 + half, POSTING_DEG, POSTING_DEG)
    shape = (size_px, size_px)
    dx = POSTING_DEG * EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    dy = POSTING_DEG * EARTH_M_PER_DEG
    if volcano == "synthetic":
        dem = synthetic_dem(shape, math.sqrt(dx * dy), "stratovolcano", rng, height_m=1500.0)
        dem = np.asarray(dem, np.float32)
    else:
        dem = resample_dem_to_grid(packaged_dem(volcano), transform, shape)
    los = los_unit_vector(incidence_deg, heading_deg)
    e, n, u = (float(v) for v in los)
    truth = draw_series(rng, scenario, dem, (dx, dy), (e, n, u))

    layout = FrameLayout(Path(out_dir), frame)
    layout.metadata_dir.mkdir(parents=True, exist_ok=True)
    georef = {"crs": "EPSG:4326", "transform": transform}
    write_raster(layout.metadata_raster("hgt"), dem, **georef)
    for name, value in (("E", e), ("N", n), ("U", u)):
        write_raster(layout.metadata_raster(name), np.full(shape, value, np.float32), **georef)
    epochs = truth.epochs
    layout.metadata_txt.write_text(
        "\n".join([
            f"master={format_date(epochs[0])}",
            f"heading={heading_deg:.4f}",
            f"avg_incidence_angle={incidence_deg:.4f}",
            "azimuth_resolution=13.9",
            "range_resolution=2.3",
            f"avg_height={float(np.mean(dem)):.1f}",
            f"wavelength={SENTINEL1.wavelength_m}",
            "",
        ]),
        encoding="utf-8",
    )
    pairs = network_pairs(len(epochs), network)
    bperp = rng.normal(0, 60, size=len(epochs))
    layout.baselines.write_text(
        "".join(f"{format_date(epochs[0])} {format_date(ep)} {bperp[i]:.2f} "
                f"{(ep - epochs[0]).days}\n" for i, ep in enumerate(epochs)),
        encoding="utf-8",
    )
    pixel_m = math.sqrt(dx * dy)
    for i1, i2 in pairs:
        d, coh = interferogram(rng, truth, scenario, i1, i2, pixel_m, SENTINEL1.wavelength_m)
        phase = displacement_to_phase(d, SENTINEL1)
        # LiCSAR marks nodata with 0 as well as NaN; exact zeros in valid data are nudged.
        phase = np.where(phase == 0, np.float32(1e-7), phase)
        d1, d2 = epochs[i1], epochs[i2]
        write_raster(layout.unw(d1, d2), phase, **georef)
        cc = np.where(np.isnan(d), 0, np.clip(np.round(coh * 255), 1, 255))
        write_raster(layout.cc(d1, d2), cc, dtype="uint8", nodata=0, **georef)
    if delay_kinds:
        write_epoch_delays(layout, truth, dem, pixel_m, delay_kinds, seed, georef,
                           cos_incidence=u if delay_geometry == "slant" else 1.0)
    centre_pix = (size_px // 2, size_px // 2)
    truth_doc = {
        "frame": frame,
        "volcano": volcano,
        "centre_lonlat": [lon0, lat0],
        "centre_pixel_rc": list(centre_pix),
        "seed": seed,
        "network": network,
        "code_version": __version__,
        "scenario": {k: (v.isoformat() if isinstance(v, date) else v)
                     for k, v in asdict(scenario).items()},
        "epochs": [ep.isoformat() for ep in epochs],
        "peak_los_m": [float(a - truth.amplitudes_m[0]) for a in truth.amplitudes_m],
        "delays": {
            "models": list(delay_kinds),
            "geometry": delay_geometry,
            "common_ztd": f"{ZTD_SEA_LEVEL_M} m * exp(-h / {ZTD_SCALE_HEIGHT_M:g} m)",
            "model_error_sigma_length_m": {k: list(DELAY_MODEL_ERRORS[k])
                                           for k in delay_kinds},
        },
        "note": "ground truth of the synthetic archive; not part of the LiCSAR layout",
    }
    (layout.root / f"{frame}.synth_truth.json").write_text(json.dumps(truth_doc, indent=2))
    log.info("wrote synthetic archive %s: %d epochs, %d interferograms", layout.frame_dir,
             len(epochs), len(pairs))
    return ArchiveSummary(layout.root, frame, epochs,
                          tuple((epochs[a], epochs[b]) for a, b in pairs), shape, transform,
                          scenario.onset, scenario.rate_m_per_yr, delay_kinds)
