"""Score one cumulative epoch of a target: CNN within the target disc and the LSTT.

Rule 7 of :mod:`monitor.series_scan`, applied to the daisy-chain state of the watch: the
cumulative map is scored over the whole frame at every wrap gain
(:func:`~monitor.science.detect.fusion.detect_displacement`); ``p_fused`` and ``p_by_gain``
are the maxima of the fused and per-gain maps within the target disc and the peak is the
fused maximum within the disc. The LSTT compares the target disc with each reference region
(intersection-union p-value, :func:`~monitor.science.lstt_regions.lstt_regions`), with a
generator seeded by ``(LSTT_SEED, epoch ordinal)`` so that an epoch's p-value does not
depend on which poll scores it.

Sources: seed 003 (scoring cumulative daisy-chain series, multi-gain fusion); seed 000
(LSTT against a stable region).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import ScienceSettings, TargetSettings
from monitor.errors import InputError
from monitor.io.models import LoadedModel
from monitor.science.detect.fusion import detect_displacement
from monitor.science.grids import FrameGrid
from monitor.science.lstt_regions import RegionTest, lstt_regions
from monitor.science.timeseries import DaisyChainState
from monitor.service import frame_state

log = logging.getLogger(__name__)

#: Seed of the per-epoch LSTT generators (``(seed, epoch ordinal)``).
LSTT_SEED = 0
#: Samples wanted from the smallest reference region when the default LSTT step is too
#: coarse for it.
LSTT_MIN_SAMPLES = 16


@dataclass(frozen=True)
class EpochScoring:
    """Scores of one cumulative epoch, with the maps an alert quicklook draws.

    Attributes:
        epoch: The epoch (the state's ``last_epoch``).
        p_fused: Fused CNN probability, maximum within the target disc (0-1).
        p_by_gain: Per-gain maxima within the disc, keys are the gains as strings.
        peak_row, peak_col: Pixel of the fused maximum within the disc (row 0 = north).
        peak_lon, peak_lat: Its centre, degrees.
        lstt_p: Intersection-union LSTT p-value, None when the test could not run.
        lstt_pe: Smallest per-reference Pearson divergence, None likewise.
        lstt_by_reference: ``{"reference k": {"p": p, "pe": pe}}``.
        params: Provenance parameters (gains, fringe spacing, thresholds, LSTT seed/step).
        prob_map: Fused probability map ``(ny, nx)`` float32.
        target_mask: Target disc ``(ny, nx)`` bool.
    """

    epoch: date
    p_fused: float
    p_by_gain: dict[str, float]
    peak_row: int
    peak_col: int
    peak_lon: float
    peak_lat: float
    lstt_p: float | None
    lstt_pe: float | None
    lstt_by_reference: dict[str, dict[str, float]]
    params: dict[str, Any]
    prob_map: NDArray[np.float32]
    target_mask: NDArray[np.bool_]


def cumulative_max_m(state: DaisyChainState, target_mask: NDArray[np.bool_]) -> float | None:
    """Largest |cumulative LOS displacement| over valid target pixels, metres (None: none)."""
    values = state.cumulative_m[target_mask]
    valid = np.isfinite(values)
    return float(np.max(np.abs(values[valid]))) if valid.any() else None


def run_lstt(image: NDArray[np.float32], target_mask: NDArray[np.bool_],
             refs: list[NDArray[np.bool_]], epoch: date, target_id: str) -> RegionTest | None:
    """LSTT of the target against the references, or None when it cannot run.

    The sampling step is first the default (3.5 correlation lengths). When a reference
    window is smaller than that step (small frames, long turbulence), the step is reduced so
    the smallest reference still gives about :data:`LSTT_MIN_SAMPLES` samples; neighbouring
    samples are then correlated and the p-value is optimistic, which the policy's
    ``cnn_and_lstt`` rule tempers (the CNN must agree).
    """
    if not refs:
        return None

    def run(spacing_px: int | None) -> RegionTest:
        return lstt_regions(image, target_mask, refs, spacing_px=spacing_px,
                            rng=np.random.default_rng((LSTT_SEED, epoch.toordinal())))
    try:
        return run(None)
    except InputError as exc:
        smallest = min(int(r.sum()) for r in refs)
        step = max(1, int(math.sqrt(smallest / LSTT_MIN_SAMPLES)))
        log.info("target %s epoch %s: LSTT at the default step failed (%s); retrying with a "
                 "%d px step", target_id, epoch, exc, step)
    try:
        return run(step)
    except InputError as exc:
        log.info("target %s epoch %s: LSTT not run: %s", target_id, epoch, exc)
        return None


def score_map(model: LoadedModel, target: TargetSettings, grid: FrameGrid, epoch: date,
              image: NDArray[np.float32], chain_reference_mask: NDArray[np.bool_] | None,
              coherence_threshold: float, science: ScienceSettings) -> EpochScoring:
    """Score one cumulative map of the target (module docstring).

    Args:
        model: The detector.
        target: The target (disc, gains, references).
        grid: The frame grid.
        epoch: The epoch the map belongs to (seeds the LSTT).
        image: Cumulative LOS displacement, metres, ``(ny, nx)``, NaN = incoherent.
        chain_reference_mask: The chain's reference union (automatic references).
        coherence_threshold: Recorded in the parameters.
        science: Gains, fringe spacing and flag threshold.

    Raises:
        InputError: the map holds no finite pixel, or the target lies outside the frame.
    """
    _, tmask = frame_state.target_mask(grid, target)
    gains = target.gains or science.gains
    det = detect_displacement(model.model, image, gains=gains,
                              threshold=science.flag_threshold,
                              fringe_spacing_m=science.fringe_spacing_m, keep_maps=True)
    inside = np.where(tmask, det.prob_map, -1.0)
    peak_row, peak_col = (int(v) for v in np.unravel_index(int(np.argmax(inside)),
                                                           inside.shape))
    peak_lon, peak_lat = grid.transform @ (peak_col + 0.5, peak_row + 0.5)
    refs = frame_state.lstt_reference_masks(grid, target, chain_reference_mask)
    test = run_lstt(image, tmask, refs, epoch, target.id)
    by_ref = {} if test is None else {
        f"reference {k}": {"p": float(r.p_value), "pe": float(r.pe)}
        for k, r in enumerate(test.per_reference, 1)}
    params = {"gains": list(gains), "fringe_spacing_m": science.fringe_spacing_m,
              "flag_threshold": science.flag_threshold,
              "coherence_threshold": coherence_threshold,
              "lstt_seed": [LSTT_SEED, epoch.toordinal()], "model_arch": model.arch,
              "n_references": len(refs),
              "lstt_spacing_px": None if test is None else test.spacing_px}
    return EpochScoring(
        epoch=epoch, p_fused=float(det.prob_map[tmask].max()),
        p_by_gain={f"{g:g}": float(m[tmask].max())
                   for g, m in (det.maps_by_gain or {}).items()},
        peak_row=peak_row, peak_col=peak_col, peak_lon=float(peak_lon),
        peak_lat=float(peak_lat),
        lstt_p=None if test is None else float(test.p_value),
        lstt_pe=None if test is None else float(test.pe), lstt_by_reference=by_ref,
        params=params, prob_map=det.prob_map, target_mask=tmask)


def score_cumulative(model: LoadedModel, target: TargetSettings, grid: FrameGrid,
                     state: DaisyChainState, science: ScienceSettings) -> EpochScoring:
    """Score the state's latest cumulative map (:func:`score_map` of ``state.image``)."""
    return score_map(model, target, grid, state.last_epoch, state.image,
                     state.reference_mask, state.coherence_threshold, science)
