"""How the watch and every command score an epoch: the one wiring of the science.

:mod:`monitor.science.scoring` defines what scoring a cumulative map means; this module
makes its inputs from the configuration, once for every caller (the watch's ``poll`` and
``run``, ``scan-series``, the demo):

* :func:`scoring_params`: the parameters record from ``[science]``.
* :func:`needs_second_look`: the second look is made for a step whose raw scores qualify
  for an alert level under the target's alert policy
  (:func:`~monitor.notify.policy.qualifying_level`).
* :func:`series_reference`: the reference regions of a new series, explicit discs or
  placed automatically (:func:`~monitor.science.references.place_references`) on the
  coherence of the series' first product and the frame's DEM.
* :func:`frame_regions`: the target disc and the LSTT references of a scored map: the
  explicit discs, or the connected components of the series reference.
* :func:`epoch_signal`: what the time-series rule reads of the epoch
  (:mod:`monitor.science.series_signal`), and :func:`series_key`, which series it belongs to.
* :func:`new_noise_history`: the empty history of a new series' GLS filter
  (:mod:`monitor.science.detect.series_gls`), which confirms the CNN's P.
* :func:`score_cumulative`: the epoch scored, with its second look from the archive's
  correction sources (:mod:`monitor.service.correction`).
* :func:`detector_for`: the detector of rule 1 for a frame, from the model the watch
  loaded (the multi-gain CNN or the block detector), and :func:`model_series_input`:
  what rule 1 gives it of an epoch (the cumulative map, or the newest increment).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date

import numpy as np
from numpy.typing import NDArray

from monitor.config import AlertSettings, Settings, TargetSettings
from monitor.domain import AlertLevel, ScoreCorrection
from monitor.errors import InputError
from monitor.io.models import LoadedBlockModel, ScoringModel
from monitor.notify.policy import StepScore, qualifying_level
from monitor.science.detect.blocks import BlockDetector
from monitor.science.detect.detector import Detector
from monitor.science.detect.series_gls import NoiseHistory, gls_window
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.science.lstt import DEFAULT_PERMUTATIONS
from monitor.science.references import ReferencePlacement, place_references, split_references
from monitor.science.scoring import (
    EpochScore,
    MapScore,
    Regions,
    ScoringParams,
    cnn_detector,
    run_lstt,
    score_epoch,
    series_input,
)
from monitor.science.series_signal import TargetSignal, target_signal
from monitor.service.correction import FrameFiles, correction_sources


def scoring_params(settings: Settings, *, gains: Sequence[float] | None = None,
                   lstt_seed: int = 0, lstt_permutations: int = DEFAULT_PERMUTATIONS,
                   detector_method: str = "auto") -> ScoringParams:
    """The scoring parameters of ``settings`` (``gains``: a target's or a command's own)."""
    science = settings.science
    return ScoringParams(gains=tuple(gains or science.gains),
                         fringe_spacing_m=science.fringe_spacing_m,
                         flag_threshold=science.flag_threshold,
                         coherence_threshold=science.coherence_threshold,
                         lstt_seed=int(lstt_seed), lstt_permutations=int(lstt_permutations),
                         detector_method=detector_method)


def detector_for(model: ScoringModel, params: ScoringParams, pixel_m: tuple[float, float],
                 height_m: NDArray[np.floating] | None = None) -> Detector:
    """The detector of rule 1 on a frame of ``pixel_m`` pixels: the multi-gain CNN with
    the scoring parameters and the model's calibration, or the block detector with the
    frame's heights for its height term (flag at ``params.flag_threshold``)."""
    if isinstance(model, LoadedBlockModel):
        return BlockDetector(model.model, model.calibration, pixel_m, height_m,
                             params.flag_threshold)
    return cnn_detector(model.model, params, model.calibration, pixel_m)


def needs_second_look(alerts: AlertSettings) -> Callable[[MapScore], bool]:
    """The rule: raw scores that qualify for an alert level get a second look."""
    def rule(raw: MapScore) -> bool:
        step = StepScore(date.min, raw.p_fused, raw.lstt_p)
        return qualifying_level(step, alerts) > AlertLevel.NONE
    return rule


def target_discs(target: TargetSettings) -> tuple[GroundDisc, tuple[GroundDisc, ...] | None]:
    """A configured target's disc and its explicit reference discs (None: automatic)."""
    refs = None if target.references == "auto" else tuple(
        GroundDisc(r.lon, r.lat, r.radius_km) for r in target.references)
    return GroundDisc(target.lon, target.lat, target.radius_km), refs


def _disc_masks(grid: FrameGrid, discs: Sequence[GroundDisc], name: str
                ) -> tuple[NDArray[np.bool_], ...]:
    return tuple(grid.disc_mask(d, f"{name} reference {k}")[1] for k, d in enumerate(discs, 1))


def series_reference(grid: FrameGrid, target: GroundDisc,
                     references: Sequence[GroundDisc] | None,
                     coherence: NDArray[np.floating], coherence_threshold: float,
                     dem: NDArray[np.floating] | None, name: str
                     ) -> tuple[NDArray[np.bool_], ReferencePlacement | None]:
    """The series reference of a new series (module docstring) and, for automatic
    references, how they were placed.

    Args:
        grid: The frame grid.
        target: The target disc.
        references: Explicit reference discs, or None for automatic ones.
        coherence: Coherence 0-1 of the series' first product, ``(ny, nx)``.
        coherence_threshold: Coherence at or below which a pixel is incoherent.
        dem: Heights on the grid, metres, or None.
        name: The target, for messages (``"target 211010"``, ``"--target"``).

    Raises:
        InputError: a region outside the frame or overlapping the target disc, or a frame
            without any stable coherent area (the message says how to give references).
    """
    centre, tmask = grid.disc_mask(target, name)
    placement = None
    if references is not None:
        masks = _disc_masks(grid, references, name)
        for k, (disc, mask) in enumerate(zip(references, masks, strict=True), 1):
            if (mask & tmask).any():
                raise InputError(f"{name}: reference {k} (disc {disc.lon},{disc.lat} radius "
                                 f"{disc.radius_km} km) overlaps the target disc; reference "
                                 "regions must lie on stable ground outside it")
        union = np.logical_or.reduce(masks)
    else:
        try:
            placement = place_references(coherence, target_centre_rc=centre,
                                         target_radius_px=grid.radius_px(target.radius_km),
                                         coherence_threshold=coherence_threshold, dem=dem)
        except InputError as exc:
            raise InputError(f"{name}: automatic references: {exc}; give stable reference "
                             "discs (--references LON,LAT,RADIUS_KM;... or references = "
                             "[{lon, lat, radius_km}, ...] in the target's configuration)"
                             ) from None
        union = placement.union
    if (union & tmask).any():
        raise InputError(f"{name}: a reference region overlaps the target disc; references "
                         "must lie on stable ground outside it")
    return np.asarray(union, dtype=bool), placement


def frame_regions(grid: FrameGrid, target: GroundDisc,
                  references: Sequence[GroundDisc] | None,
                  reference_union: NDArray[np.bool_] | None, name: str) -> Regions:
    """The target and LSTT references of a map on ``grid`` (module docstring).

    Raises:
        InputError: the target or an explicit reference lies outside the frame.
    """
    _, tmask = grid.disc_mask(target, name)
    refs = _disc_masks(grid, references, name) if references is not None \
        else split_references(reference_union)
    return Regions(grid, target, tmask, refs, reference_union)


def score_cumulative(detector: Detector, image: NDArray[np.float32], regions: Regions,
                     epoch: date, params: ScoringParams, *, span_start: date,
                     files: FrameFiles | None, settings: Settings,
                     alerts: AlertSettings,
                     increment: NDArray[np.floating] | None = None,
                     history: NoiseHistory | None = None) -> EpochScore:
    """Score one epoch's cumulative map, with the second look when the raw scores qualify
    (``files`` None, ``[correction] enabled = false``, or a detector that judges the
    newest ``increment``: no second look, :mod:`monitor.science.scoring`); ``history``:
    the series' noise history before the epoch (the block detector's own threshold)."""
    second = (files is not None and settings.correction.enabled
              and series_input(detector) == "cumulative")
    sources = [] if not second or files is None else correction_sources(
        files, (span_start, epoch), regions, settings.correction, params.flag_threshold)
    return score_epoch(detector, image, regions, epoch, params,
                       needs_second_look=needs_second_look(alerts) if second else None,
                       sources=sources, increment=increment, history=history)


def model_series_input(model: ScoringModel) -> str:
    """What rule 1 gives ``model``'s detector of an epoch
    (:func:`~monitor.science.scoring.series_input`): the block detector the newest
    increment, a CNN the cumulative map."""
    return BlockDetector.series_input if isinstance(model, LoadedBlockModel) else "cumulative"


def stored_correction(score: EpochScore, span_start: date) -> ScoreCorrection | None:
    """What the store keeps of an epoch's second look (None: none was made)."""
    look = score.look
    if look is None:
        return None
    if look.score is None:
        return ScoreCorrection("none", None, None, None, look.details)
    return ScoreCorrection(look.method, look.score.p_fused, look.score.p_by_gain,
                           look.score.lstt_p,
                           {**look.details, "span": [span_start.isoformat(),
                                                     score.epoch.isoformat()]})


def epoch_signal(image: NDArray[np.floating], increment: NDArray[np.floating] | None,
                 regions: Regions, epoch: date | None = None,
                 params: ScoringParams | None = None) -> TargetSignal:
    """The bell amplitude of the cumulative map and the step of the newest interferogram
    (``increment``; None when it is not at hand) over the target, and, given the epoch and
    the scoring parameters, the watch's LSTT of the increment (``step_lstt_p``, seeded by
    the epoch like the map's, :func:`~monitor.science.scoring.run_lstt`)."""
    centre = regions.grid.centre_rc(regions.target.lon, regions.target.lat)
    if centre is None:  # frame_regions has already refused such a target
        raise InputError(f"target {regions.target} lies outside the frame")
    signal = target_signal(image, increment, regions.grid, regions.target_mask, centre,
                           regions.target.radius_km * 1000.0)
    if increment is None or epoch is None or params is None:
        return signal
    test, _ = run_lstt(np.asarray(increment, np.float32), regions, epoch, params)
    return replace(signal, step_lstt_p=None if test is None else float(test.p_value))


def new_noise_history(grid: FrameGrid, target: GroundDisc) -> NoiseHistory | None:
    """An empty noise history for a new series' GLS filter, its window centred on the
    target (:func:`~monitor.science.detect.series_gls.gls_window`); None when the target
    lies off the grid or too near its edge for the window: the filter then never judges
    the series, and the network's P stands alone."""
    centre = grid.centre_rc(target.lon, target.lat)
    if centre is None:
        return None
    try:
        return NoiseHistory.empty(gls_window(grid.shape, grid.pixel_m, centre))
    except InputError:
        return None


def series_key(frame: str, segment_start: date) -> str:
    """The series an epoch belongs to: its frame and the first epoch of its chain segment
    (the time-series rule compares epochs of one series only)."""
    return f"{frame}@{segment_start.isoformat()}"
