"""Score one cumulative map of a target: the one definition the watch and every command use.

Rules, in order (the watch's ``poll``, ``scan-series`` and the demo call
:func:`score_epoch`; nothing else keeps a copy):

1. **CNN.** The map is scored over the whole frame at every wrap gain by the detector
   (:func:`cnn_detector`: :func:`~monitor.science.detect.fusion.detect_displacement`).
   ``p_fused`` and ``p_by_gain`` are the maxima of the fused and per-gain maps **within
   the target disc**; ``p_fused_frame`` is the fused maximum over the frame; the peak is
   the fused maximum within the disc. ``flag = p_fused > flag_threshold`` (0.5,
   Anantrasirichai et al. 2019a). A detector whose :func:`series_input` is
   ``"increment"`` (the block detector, :mod:`~monitor.science.detect.blocks`) judges the
   epoch's **newest increment** instead of its cumulative map: it was calibrated on single
   interferograms, and on the real Erta Ale series quiet cumulative maps of more than a
   few months hold a persistent summit signal that puts most of them far above that
   calibration (``docs/detection.md``, "In the watch"); slow deformation is the
   time-series rule's to find. The increment is the newest interferogram as the chain
   summed it (coherence-masked and referenced, valid wherever it is coherent), the map
   the detector was calibrated on; the difference of two cumulative maps loses every
   pixel the chain lost before (half the real Erta Ale frame after nine years). Given
   the series' noise history before the epoch, the block detector's P is judged against
   **the series' own threshold** from its earlier increments
   (:mod:`~monitor.science.detect.series_blocks`: the newest one or two increments over
   the 20 km window centred on the target); before the history is long enough, against
   its packaged calibration.
2. **LSTT.** The target disc against the pooled reference regions, with the p-value
   from an empirical null drawn from the same map
   (:func:`~monitor.science.lstt_null.lstt_null`: samples on a fixed grid of about 100
   points in the disc, the statistic recomputed for ``lstt_permutations`` windows of the
   disc's shape on stable ground), so that the spatial correlation of the map is in the
   null instead of being thinned away (a 3 km disc on a 20 km real clip keeps its
   samples). The generator is seeded by ``(lstt_seed, epoch ordinal)``
   (:meth:`ScoringParams.lstt_rng`, the one seed rule), so an epoch's p-value does not
   depend on which other epochs are scored or in which poll. Per-reference p-values on the
   same null are recorded beside it. When the test cannot run (an incoherent target, no
   room on the frame for the null windows), the LSTT fields are None and ``lstt_error``
   says why.
3. **Second look.** When the raw scores call for it (the caller's rule: the watch's is "the
   step qualifies for an alert level"), the map is corrected for stratified delay by the
   sources given, in order (the archive's weather-model delays, then the band-filtered
   phase-elevation fit of :func:`empirical_source`); the first that works is re-scored by
   rules 1-2 and decides. A source that cannot be used is recorded with its reason and the
   next is tried; when none works the raw scores decide (method ``none``). A detector that
   judges increments gets no second look: it removes a plane and a height term from each
   window itself, and a correction fitted on the cumulative map is not the increment's.

Sources: Anantrasirichai et al. (2019a, 2019b) for patch scoring, multi-gain fusion and
correcting only the positives; Sugiyama et al. (2011) for the LSTT; its empirical null
from windows of the same map is :mod:`monitor.science.lstt_null`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError, MonitorError
from monitor.science.atmocorr import (
    DelayGeometry,
    correct_with_dem,
    delay_difference_los,
    remove_delay,
)
from monitor.science.detect.base import PatchClassifier
from monitor.science.detect.blocks import BlockDetector
from monitor.science.detect.calibration import Calibration
from monitor.science.detect.detector import Detector
from monitor.science.detect.fusion import CnnDetector
from monitor.science.detect.series_blocks import SeriesJudgement, judge
from monitor.science.detect.series_gls import NoiseHistory
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.science.lstt import DEFAULT_PERMUTATIONS
from monitor.science.lstt_null import NullTest, lstt_null
from monitor.science.second_look_settings import SecondLookSettings


@dataclass(frozen=True)
class ScoringParams:
    """How a map is scored (made once from the settings, shared by every caller).

    Attributes:
        gains: Wrap gains of the detector.
        fringe_spacing_m: LOS metres per fringe at gain 1.
        flag_threshold: Flag threshold on the target's fused P.
        coherence_threshold: Coherence at or below which a pixel is incoherent (recorded).
        lstt_seed: Seed of the per-epoch LSTT generators (rule 2).
        lstt_permutations: Null windows of the LSTT (at least 19).
        detector_method: Inference path of the CNN (``auto``, ``dense``, ``sliding``).
    """

    gains: tuple[float, ...]
    fringe_spacing_m: float
    flag_threshold: float
    coherence_threshold: float
    lstt_seed: int = 0
    lstt_permutations: int = DEFAULT_PERMUTATIONS
    detector_method: str = "auto"

    def lstt_rng(self, epoch: date) -> np.random.Generator:
        """The LSTT generator of one epoch: seeded by ``(lstt_seed, epoch ordinal)``."""
        return np.random.default_rng((self.lstt_seed, epoch.toordinal()))

    def record(self, epoch: date) -> dict[str, Any]:
        """Provenance of a score of ``epoch`` (JSON-ready)."""
        return {"gains": list(self.gains), "fringe_spacing_m": self.fringe_spacing_m,
                "flag_threshold": self.flag_threshold,
                "coherence_threshold": self.coherence_threshold,
                "lstt_seed": [self.lstt_seed, epoch.toordinal()],
                "lstt_permutations": self.lstt_permutations}


def cnn_detector(model: PatchClassifier, params: ScoringParams,
                 calibration: Calibration | None = None,
                 pixel_m: tuple[float, float] | None = None) -> CnnDetector:
    """The multi-gain CNN with the scoring parameters (rule 1), the model's calibration
    and noise rule, and the frame's ``(east, north)`` pixel size for the noise lag."""
    return CnnDetector(model, gains=params.gains, fringe_spacing_m=params.fringe_spacing_m,
                       threshold=params.flag_threshold, method=params.detector_method,
                       calibration=calibration,
                       pixel_m=None if pixel_m is None else 0.5 * (pixel_m[0] + pixel_m[1]))


@dataclass(frozen=True, eq=False)
class Regions:
    """The target disc and the reference regions of one frame.

    Attributes:
        grid: The frame grid.
        target: The target disc on the ground.
        target_mask: Boolean ``(ny, nx)`` target disc.
        references: The LSTT reference regions, boolean ``(ny, nx)`` each.
        reference_union: The series reference (their union, removed from every
            interferogram); corrected maps are re-referenced to it.
    """

    grid: FrameGrid
    target: GroundDisc
    target_mask: NDArray[np.bool_]
    references: tuple[NDArray[np.bool_], ...]
    reference_union: NDArray[np.bool_] | None

    @property
    def target_radius_px(self) -> float:
        """The target radius in pixels of the finer direction."""
        return self.grid.radius_px(self.target.radius_km)


@dataclass(frozen=True, eq=False)
class MapScore:
    """Scores of one map (rules 1-2).

    Attributes:
        p_fused: Fused CNN probability, maximum within the target disc (0-1).
        p_by_gain: Per-gain maxima within the disc; keys are the gains as strings.
        p_fused_frame: Fused maximum over the frame.
        flag: ``p_fused > flag_threshold``.
        peak_row, peak_col: Pixel of the fused maximum within the disc (row 0 = north).
        peak_lon, peak_lat: Its centre, degrees.
        lstt: The LSTT against the pooled references (None when it could not run).
        lstt_error: Why it could not run (None when it ran).
        prob_map: Fused probability map ``(ny, nx)`` float32.
        series: Rule 1 against the series' own threshold, which then gives ``p_fused``
            and ``flag`` (None: the packaged calibration's P;
            :mod:`~monitor.science.detect.series_blocks`).
    """

    p_fused: float
    p_by_gain: dict[str, float]
    p_fused_frame: float
    flag: bool
    peak_row: int
    peak_col: int
    peak_lon: float
    peak_lat: float
    lstt: NullTest | None
    lstt_error: str | None
    prob_map: NDArray[np.float32]
    series: SeriesJudgement | None = None

    @property
    def lstt_p(self) -> float | None:
        """LSTT p-value from the map's empirical null (references pooled)."""
        return None if self.lstt is None else float(self.lstt.p_value)

    @property
    def lstt_pe(self) -> float | None:
        """Pearson divergence of the target against the pooled references."""
        return None if self.lstt is None else float(self.lstt.pe)

    @property
    def lstt_spacing_px(self) -> int | None:
        """Sampling step of the LSTT, pixels."""
        return None if self.lstt is None else int(self.lstt.spacing_px)

    @property
    def lstt_by_reference(self) -> dict[str, dict[str, float]]:
        """``{"reference k": {"p": p, "pe": pe}}``: each reference alone against the same
        null windows (k counts from 1 in the order of ``Regions.references``; a reference
        without two valid samples is left out)."""
        if self.lstt is None:
            return {}
        return {f"reference {r.index + 1}": {"p": float(r.p_value), "pe": float(r.pe)}
                for r in self.lstt.per_reference}


def cumulative_max_m(image: NDArray[np.floating], target_mask: NDArray[np.bool_]
                     ) -> float | None:
    """Largest |cumulative LOS displacement| over the valid target pixels, metres (None:
    no valid pixel)."""
    values = image[target_mask]
    valid = np.isfinite(values)
    return float(np.max(np.abs(values[valid]))) if valid.any() else None


def run_lstt(image: NDArray[np.float32], regions: Regions, epoch: date,
             params: ScoringParams) -> tuple[NullTest | None, str | None]:
    """The LSTT of rule 2 and, when it cannot run, why."""
    if not regions.references:
        return None, "no reference region"
    try:
        return lstt_null(image, regions.target_mask, list(regions.references),
                         rng=params.lstt_rng(epoch),
                         n_null=params.lstt_permutations), None
    except InputError as exc:
        return None, str(exc)


#: What rule 1 judges of an epoch, per detector (:func:`series_input`).
SERIES_INPUTS = ("cumulative", "increment")


def series_input(detector: Detector) -> str:
    """What rule 1 gives ``detector`` of an epoch: ``"cumulative"`` (its cumulative map,
    the CNN's) or ``"increment"`` (its newest interferogram: a detector whose class says
    so with a ``series_input`` attribute, as the block detector does)."""
    kind = getattr(detector, "series_input", "cumulative")
    if kind not in SERIES_INPUTS:
        raise InputError(f"{type(detector).__name__}: series_input {kind!r} is not one of "
                         f"{SERIES_INPUTS}")
    return str(kind)


def score_map(detector: Detector, image: NDArray[np.float32], regions: Regions, epoch: date,
              params: ScoringParams, increment: NDArray[np.floating] | None = None,
              history: NoiseHistory | None = None) -> MapScore:
    """Rules 1-2 for one cumulative map.

    Args:
        detector: The detector.
        image: Cumulative LOS displacement, metres, ``(ny, nx)``, NaN = incoherent.
        regions: Target and references on the map's grid.
        epoch: The epoch the map belongs to (seeds the LSTT).
        params: The scoring parameters.
        increment: The epoch's newest interferogram as summed into the series, metres
            (what a detector that judges increments scores; None: not at hand).
        history: The series' noise history before the epoch (None: none): the block
            detector's P is then judged against the series' own threshold once the
            history gives one (module docstring).

    Raises:
        InputError: the map is not on the regions' grid, or holds no finite pixel; a
            detector that judges increments without the increment.
    """
    if image.shape != regions.target_mask.shape:
        raise InputError(f"map of shape {image.shape} is not on the frame grid "
                         f"{regions.target_mask.shape} ({regions.grid.source})")
    judged: NDArray[np.floating] = image
    if series_input(detector) == "increment":
        if increment is None:
            raise InputError(f"epoch {epoch}: the detector judges the newest increment, "
                             "which is not at hand (the first epoch after a gap, or an "
                             "epoch scored again without its stored increment)")
        if np.shape(increment) != image.shape:
            raise InputError(f"epoch {epoch}: increment of shape {np.shape(increment)} is "
                             f"not on the frame grid {image.shape}")
        judged = increment
    series = None
    if history is not None and increment is not None and isinstance(detector, BlockDetector):
        series = judge(detector, history, increment)
        if series is not None:  # the windows' P about the series' threshold too
            detector = detector.recalibrated(series.calibration)
    det = detector.detect(judged)
    tmask = regions.target_mask
    inside = np.where(tmask, det.prob_map, -1.0)
    peak_row, peak_col = (int(v) for v in np.unravel_index(int(np.argmax(inside)),
                                                           inside.shape))
    peak_lon, peak_lat = regions.grid.lonlat(peak_row, peak_col)
    test, error = run_lstt(image, regions, epoch, params)
    p_target = float(det.prob_map[tmask].max()) if series is None else series.p
    return MapScore(
        p_fused=p_target,
        p_by_gain={f"{g:g}": float(m[tmask].max())
                   for g, m in (det.maps_by_gain or {}).items()},
        p_fused_frame=float(det.p_fused), flag=p_target > params.flag_threshold,
        peak_row=peak_row, peak_col=peak_col, peak_lon=peak_lon, peak_lat=peak_lat,
        lstt=test, lstt_error=error, prob_map=det.prob_map, series=series)


#: A correction source of rule 3: ``(map, raw scores) -> (corrected map, details)``.
#: Raises :class:`~monitor.errors.MonitorError` or ``OSError`` when it cannot be used.
CorrectionSource = Callable[[NDArray[np.float32], MapScore],
                            tuple[NDArray[np.float32], dict[str, Any]]]


@dataclass(frozen=True, eq=False)
class SecondLook:
    """What rule 3 did.

    Attributes:
        method: The source that decided, or ``"none"``.
        score: The corrected map's scores (None when none was made).
        image: The corrected map, LOS metres (None when none was made).
        details: JSON-ready: what the source did, the sources tried before and why they
            failed (``fallbacks``), and ``reason`` when none worked.
    """

    method: str
    score: MapScore | None
    image: NDArray[np.float32] | None
    details: dict[str, Any]


def second_look(detector: Detector, image: NDArray[np.float32], raw: MapScore,
                regions: Regions, epoch: date, params: ScoringParams,
                sources: Sequence[tuple[str, CorrectionSource]]) -> SecondLook:
    """Rule 3: the first source that works corrects the map, which is scored again."""
    fallbacks: list[dict[str, str]] = []
    for method, source in sources:
        try:
            corrected, details = source(image, raw)
            rescored = score_map(detector, corrected, regions, epoch, params)
        except (MonitorError, OSError) as exc:
            fallbacks.append({"method": method, "reason": str(exc)})
            continue
        except (ValueError, ArithmeticError) as exc:  # numerics (e.g. LinAlgError)
            # The second look is optional: a failure of its numerics must not stop the
            # step from being recorded and decided on its raw scores.
            fallbacks.append({"method": method,
                              "reason": f"failed: {type(exc).__name__}: {exc}"})
            continue
        return SecondLook(method, rescored, corrected,
                          {"method": method, **details, "fallbacks": fallbacks,
                           "peak_row": rescored.peak_row, "peak_col": rescored.peak_col,
                           "lstt_pe": rescored.lstt_pe})
    reason = "; ".join(f"{f['method']}: {f['reason']}" for f in fallbacks) \
        or "no correction source"
    return SecondLook("none", None, None, {"reason": reason, "fallbacks": fallbacks})


def empirical_source(dem_m: NDArray[np.floating] | None, regions: Regions,
                     settings: SecondLookSettings, flag_threshold: float) -> CorrectionSource:
    """The band-filtered phase-elevation fit as a correction source (rule 3).

    The fit is estimated outside the target disc widened to ``fit_exclusion_radii``,
    outside the region the detector flagged and away from the target's peak
    (``peak_exclusion_radii``), and the corrected map is re-referenced to the series
    reference (:func:`~monitor.science.atmocorr.correct_with_dem`).
    """
    def correct(image: NDArray[np.float32], raw: MapScore
                ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        if dem_m is None:
            raise InputError("the frame has no DEM (metadata/<frame>.geo.hgt.tif) for a "
                             "phase-elevation fit")
        grid, target = regions.grid, regions.target
        _, excluded = grid.disc_mask(
            GroundDisc(target.lon, target.lat, settings.fit_exclusion_radii * target.radius_km),
            "target")
        peak_px = settings.peak_exclusion_radii * regions.target_radius_px
        corrected, fit = correct_with_dem(
            image, dem_m, excluded | regions.target_mask, (raw.peak_row, raw.peak_col),
            peak_px, raw.prob_map > flag_threshold, order=settings.order,
            band_sigma_px=settings.band_sigma_px(grid.pixel_m),
            min_pixels=settings.min_pixels, min_height_range_m=settings.min_height_range_m,
            reference_mask=regions.reference_union)
        return corrected, {**fit.record(), "peak_exclusion_px": round(float(peak_px), 1),
                           "fit_exclusion_radii": settings.fit_exclusion_radii,
                           "band_sigma_m": settings.band_sigma_m}
    return correct


def delay_source(first_m: NDArray[np.floating], last_m: NDArray[np.floating],
                 cos_incidence: NDArray[np.floating] | float, geometry: DelayGeometry,
                 regions: Regions, details: dict[str, Any]) -> CorrectionSource:
    """A weather model's delays as a correction source (rule 3): the difference of the
    delays of the segment's first and scored epochs, projected to the line of sight
    (:func:`~monitor.science.atmocorr.delay_difference_los`), removed from the map, which
    is re-referenced to the series reference.

    Args:
        first_m, last_m: The model's delays of the two epochs on the frame grid, metres,
            ``(ny, nx)``; zenith or slant as ``geometry`` says.
        cos_incidence: Cosine of the incidence angle, ``(ny, nx)`` or a scalar (1 for
            slant delays).
        geometry: ``"zenith"`` or ``"slant"``.
        regions: The frame's target and references.
        details: What to record of the source (files, geometry, incidence).
    """
    def correct(image: NDArray[np.float32], raw: MapScore
                ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        atmosphere = delay_difference_los(first_m, last_m, cos_incidence, geometry)
        return remove_delay(image, atmosphere, regions.reference_union), dict(details)
    return correct


@dataclass(frozen=True, eq=False)
class EpochScore:
    """An epoch's raw scores and its second look (None: not needed or not asked for).

    Attributes:
        epoch: The epoch.
        raw: Scores of the map as it came.
        look: Rule 3's outcome.
        params: Provenance (:meth:`ScoringParams.record`) and the LSTT step used.
    """

    epoch: date
    raw: MapScore
    look: SecondLook | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def decided(self) -> MapScore:
        """The scores the decision is made on: the corrected ones when a correction was
        made, else the raw ones."""
        return self.raw if self.look is None or self.look.score is None else self.look.score


def score_epoch(detector: Detector, image: NDArray[np.float32], regions: Regions, epoch: date,
                params: ScoringParams, *,
                needs_second_look: Callable[[MapScore], bool] | None = None,
                sources: Sequence[tuple[str, CorrectionSource]] = (),
                increment: NDArray[np.floating] | None = None,
                history: NoiseHistory | None = None) -> EpochScore:
    """Rules 1-3 for one epoch's cumulative map.

    Args:
        detector: The detector.
        image: Cumulative LOS displacement, metres, ``(ny, nx)``, NaN = incoherent.
        regions: Target and references.
        epoch: The epoch.
        params: The scoring parameters.
        needs_second_look: Whether raw scores call for rule 3 (None: never; never either
            for a detector that judges increments).
        sources: The correction sources of rule 3, in the order they are tried.
        increment: The epoch's newest interferogram (:func:`score_map`).
        history: The series' noise history before the epoch (:func:`score_map`).
    """
    raw = score_map(detector, image, regions, epoch, params, increment, history)
    look = None
    if (needs_second_look is not None and series_input(detector) == "cumulative"
            and needs_second_look(raw)):
        look = second_look(detector, image, raw, regions, epoch, params, sources)
    return EpochScore(epoch, raw, look, epoch_record(raw, regions, epoch, params))


def epoch_record(raw: MapScore, regions: Regions, epoch: date, params: ScoringParams
                 ) -> dict[str, Any]:
    """The provenance of an epoch's score (:attr:`EpochScore.params`): the parameters, the
    LSTT seed of the epoch, the number of references, the LSTT step used and, when rule 1
    was judged against the series' own threshold, that judgement."""
    return {**params.record(epoch), "n_references": len(regions.references),
            "lstt_spacing_px": raw.lstt_spacing_px,
            **({} if raw.series is None else raw.series.record())}
