"""A second look at a flagged step: remove the stratified delay, score the map again.

Seed 002 (section 5) finds that most false positives come from stratified atmosphere over
tall edifices and that correcting only the positives is cheap: 11 of 12 false positives
cleared, all 41 true positives kept. The watch does the same for every step whose raw
scores qualify for an alert level (:func:`monitor.notify.policy.qualifying_level`):

1. The sources of ``[correction] methods`` are tried in order:

   * ``gacos`` / ``icams``: the archive's per-epoch delay files for the chain's first
     epoch and the scored epoch (fetched now, only for flagged steps, through
     :meth:`~monitor.ports.Archive.fetch_epoch_delays`), differenced over the cumulative
     span and projected to the line of sight with the frame's incidence
     (:func:`~monitor.science.atmocorr.delay_difference_los`);
   * ``empirical``: a robust phase-elevation fit (linear or quadratic in height) over the
     frame's DEM (``metadata/<frame>.geo.hgt.tif``), estimated outside the target disc,
     outside the region the detector flagged and away from the detected peak
     (:func:`~monitor.science.atmocorr.fit_phase_elevation`), as LiCSBAS and MintPy do,
     with its coefficients taken from the band below ``band_sigma_m`` so that the
     deformation's broad tail is not taken for stratification.

   A source that cannot be used (file not published, corrupt, unreachable archive, too few
   pixels, flat ground) is recorded with its reason and the next one is tried. (A check
   that the correction lowers the scatter outside the target, as LiCSBAS makes of its GACOS
   step, was tried and dropped: stratification concentrates on the edifice, so outside the
   target it rejected GACOS corrections that took strong-stratification false flags from
   P 0.7 to 0.3.)
2. The corrected map, re-referenced to the chain's reference region, is scored exactly as
   the raw one (:func:`~monitor.service.epoch_scoring.score_map`).
3. The result (:class:`~monitor.domain.ScoreCorrection`) is stored with the raw scores; the
   policy decides on the corrected ones. When no source works the method is ``none``, the
   reasons are kept and the raw decision stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import CorrectionSettings, ScienceSettings, TargetSettings
from monitor.domain import FrameMetadata, ScoreCorrection
from monitor.errors import DatasetError, MonitorError
from monitor.io.delays import read_cos_incidence, read_delay_on_grid, read_heights_on_grid
from monitor.io.models import LoadedModel
from monitor.ports import Archive
from monitor.science.atmocorr import (
    correct_with_dem,
    delay_difference_los,
    remove_delay,
)
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.science.timeseries import DaisyChainState
from monitor.service.epoch_scoring import EpochScoring, score_map

log = logging.getLogger(__name__)

#: Methods that read the archive's weather-model delay files.
WEATHER_MODELS = ("gacos", "icams")


@dataclass(frozen=True)
class CorrectionOutcome:
    """A correction and, when one was made, the corrected map and its scores.

    Attributes:
        correction: What is stored with the score.
        image: The corrected cumulative map, metres ``(ny, nx)`` (None: none made).
        scoring: Its scores and probability maps (None: none made).
    """

    correction: ScoreCorrection
    image: NDArray[np.float32] | None = None
    scoring: EpochScoring | None = None


class _Metadata:
    """The frame's metadata files, fetched once per correction and only when needed."""

    def __init__(self, archive: Archive, frame: str, cache_dir: Path) -> None:
        self.archive, self.frame, self.cache_dir = archive, frame, cache_dir
        self._files: FrameMetadata | None = None

    def files(self) -> FrameMetadata:
        if self._files is None:
            self._files = self.archive.fetch_metadata(self.frame, self.cache_dir)
        return self._files


def _weather_model(archive: Archive, meta: _Metadata, kind: str, state: DaisyChainState,
                   grid: FrameGrid, settings: CorrectionSettings
                   ) -> tuple[NDArray[np.float32], dict[str, Any]]:
    """LOS-displacement equivalent of the delay change over the chain's span."""
    paths = []
    for epoch in (state.first_epoch, state.last_epoch):
        delays = archive.fetch_epoch_delays(meta.frame, epoch, meta.cache_dir, (kind,))
        if kind not in delays:
            raise DatasetError(f"the archive publishes no {kind} delay for {epoch} "
                               f"(frame {meta.frame})")
        paths.append(delays[kind])
    first, last = (read_delay_on_grid(p, grid) for p in paths)
    details: dict[str, Any] = {"files": [Path(p).name for p in paths],
                               "geometry": settings.delay_geometry}
    cos_inc: NDArray[np.float32] | float = 1.0
    if settings.delay_geometry == "zenith":
        files = meta.files()
        cos_inc = read_cos_incidence(files.u_path, files.metadata_txt_path, grid)
        details["incidence_from"] = "U raster" if files.u_path else "metadata.txt"
        details["mean_incidence_deg"] = round(float(np.degrees(np.arccos(
            np.nanmean(cos_inc)))), 2)
    atmosphere = delay_difference_los(first, last, cos_inc, settings.delay_geometry)
    return atmosphere, details


def _excluded_disc(target: TargetSettings, grid: FrameGrid,
                   settings: CorrectionSettings) -> NDArray[np.bool_]:
    """The disc on the target that no fit uses and no correction is judged on."""
    _, disc = grid.disc_mask(
        GroundDisc(target.lon, target.lat, settings.fit_exclusion_radii * target.radius_km),
        f"target {target.id}")
    return disc


def _empirical(meta: _Metadata, image: NDArray[np.float32], raw: EpochScoring,
               target: TargetSettings, grid: FrameGrid, reference: NDArray[np.bool_] | None,
               settings: CorrectionSettings, science: ScienceSettings
               ) -> tuple[NDArray[np.float32], dict[str, Any]]:
    """The map with a phase-elevation fit removed, and the fit's figures."""
    files = meta.files()
    if files.hgt_path is None:
        raise DatasetError(f"frame {meta.frame}: the archive has no height file "
                           "(metadata/<frame>.geo.hgt.tif) for a phase-elevation fit")
    dem = read_heights_on_grid(files.hgt_path, grid)
    radius_px = target.radius_km * 1000.0 / min(grid.pixel_m)
    excluded = _excluded_disc(target, grid, settings)
    corrected, fit = correct_with_dem(
        image, dem, excluded | raw.target_mask, (raw.peak_row, raw.peak_col),
        settings.peak_exclusion_radii * radius_px, raw.prob_map > science.flag_threshold,
        order=settings.order, band_sigma_px=settings.band_sigma_px(grid.pixel_m),
        min_pixels=settings.min_pixels, min_height_range_m=settings.min_height_range_m,
        reference_mask=reference)
    return corrected, {
        **fit.record(),
        "peak_exclusion_px": round(float(settings.peak_exclusion_radii * radius_px), 1),
        "fit_exclusion_radii": settings.fit_exclusion_radii,
        "band_sigma_m": settings.band_sigma_m}


def correct_and_rescore(model: LoadedModel, archive: Archive, target: TargetSettings,
                        frame: str, grid: FrameGrid, state: DaisyChainState,
                        raw: EpochScoring, settings: CorrectionSettings,
                        science: ScienceSettings, cache_dir: Path) -> CorrectionOutcome:
    """Correct the state's latest map for stratified delay and score it again.

    Args:
        model: The detector that scored ``raw``.
        archive: Where the frame's delay and metadata files come from.
        target: The target.
        frame: The frame of ``state``.
        grid: Its grid.
        state: The daisy-chain state whose ``image`` was scored.
        raw: The raw scores of that image (its maps place the exclusions of the fit).
        settings: The ``[correction]`` settings.
        science: Gains, fringe spacing and flag threshold.
        cache_dir: The archive cache.

    Returns:
        The corrected scores and map, or method ``none`` with the reasons; never raises for
        a source that cannot be used.
    """
    image = state.image
    meta = _Metadata(archive, frame, cache_dir)
    fallbacks: list[dict[str, str]] = []
    for method in settings.methods:
        try:
            if method in WEATHER_MODELS:
                atmosphere, details = _weather_model(archive, meta, method, state, grid,
                                                     settings)
                corrected = remove_delay(image, atmosphere, state.reference_mask)
            else:
                corrected, details = _empirical(meta, image, raw, target, grid,
                                                state.reference_mask, settings, science)
            rescored = score_map(model, target, grid, state.last_epoch, corrected,
                                 state.reference_mask, state.coherence_threshold, science)
        except (MonitorError, OSError) as exc:
            log.info("target %s frame %s epoch %s: %s correction not possible: %s",
                     target.id, frame, state.last_epoch, method, exc)
            fallbacks.append({"method": method, "reason": str(exc)})
            continue
        except (ValueError, ArithmeticError) as exc:  # numerics (e.g. LinAlgError)
            # The second look is optional: a failure of its numerics must not stop the
            # step from being recorded and decided on its raw scores.
            log.exception("target %s frame %s epoch %s: %s correction failed", target.id,
                          frame, state.last_epoch, method)
            fallbacks.append({"method": method,
                              "reason": f"failed: {type(exc).__name__}: {exc}"})
            continue
        log.info("target %s frame %s epoch %s: %s correction: P %.3f -> %.3f", target.id,
                 frame, state.last_epoch, method, raw.p_fused, rescored.p_fused)
        correction = ScoreCorrection(
            method, rescored.p_fused, rescored.p_by_gain, rescored.lstt_p,
            {"method": method, **details, "fallbacks": fallbacks,
             "span": [state.first_epoch.isoformat(), state.last_epoch.isoformat()],
             "peak_row": rescored.peak_row, "peak_col": rescored.peak_col,
             "lstt_pe": rescored.lstt_pe})
        return CorrectionOutcome(correction, corrected, rescored)
    reason = "; ".join(f"{f['method']}: {f['reason']}" for f in fallbacks) \
        or "no correction method configured"
    log.warning("target %s frame %s epoch %s: no atmospheric correction could be made (%s); "
                "the raw scores decide", target.id, frame, state.last_epoch, reason)
    return CorrectionOutcome(ScoreCorrection("none", None, None, None,
                                             {"reason": reason, "fallbacks": fallbacks}))
