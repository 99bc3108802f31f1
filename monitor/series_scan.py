"""Score every epoch of a LiCSAR frame's cumulative series (glue above the science).

Reads a frame in the LiCSAR layout (:mod:`monitor.io.licsar_frame`), builds its cumulative
LOS series (:func:`monitor.science.timeseries.cumulative_series`) and scores each epoch with
the CNN detector (:func:`monitor.science.detect.fusion.detect_displacement`) and the LSTT
of a target disc against stable reference regions
(:func:`monitor.science.lstt_regions.lstt_regions`). Nothing here prints; the
``scan-series`` command does.

Rules, in order:

1. **Grid.** That of ``hgt`` (then also the DEM), else of the first readable product
   (:mod:`monitor.io.licsar_frame`).
2. **Target.** ``LON,LAT[,RADIUS_KM]`` (default radius :data:`DEFAULT_TARGET_RADIUS_KM`):
   a disc on the ground; a centre outside the frame is an
   :class:`~monitor.errors.InputError`.
3. **Products.** A product that cannot be read, does not match the grid, or has no pixel
   with coherence above the threshold is **skipped and reported** (naming the file, see
   :mod:`monitor.io.licsar_frame`): the series is built from the other products, a
   network that falls apart is split at the gap (``bridge="none"``: nothing is invented),
   and the command exits non-zero after printing every epoch. Skipping rather than
   stopping keeps a watch going past one bad download while making the hole visible;
   stopping would hide every later epoch.
4. **References.** ``auto``: up to :data:`AUTO_REFERENCE_COUNT` square windows chosen by
   :func:`~monitor.science.lstt_regions.auto_reference_regions` on the fraction of
   products in which each pixel is coherent (a pixel counts when coherent in more than
   90 % of them; at least 80 % of a window's pixels must), at least two target radii from
   the target centre, ranked by elevation similarity when the DEM exists. Their side is the
   target diameter in pixels, clamped to [8, min(ny, nx) // 4]. Or explicit ground discs
   ``LON,LAT,RADIUS_KM``. The **same regions** serve twice: their union is the series'
   reference region (its median is removed from every interferogram, so the cumulative
   maps are displacement relative to stable ground), and each one is an LSTT reference.
5. **Series.** ``cumulative_series`` with the configured coherence threshold (default 0.1,
   seed 000), ``method`` from ``--network`` (``auto``, ``daisy-chain``, ``sbas``) and
   ``bridge="none"``. Each epoch is scored on its displacement relative to the first epoch
   of its own segment (``relative_to``): across a gap the series restarts at zero.
6. **Epochs.** Every date that appears in the archive's pair names is reported, in order.
   Not scored (all scores None, ``scored`` False, ``note`` says why): the first epoch of a
   segment (its cumulative displacement is zero by definition: a map of zeros holds no
   deformation to detect, and the LSTT cannot compare constant samples), an epoch that no
   readable product reaches, and an epoch without a valid pixel in the target disc.
7. **Scores of an epoch.** ``cum_max_m``: largest ``|displacement|`` over the valid target
   pixels; ``n_valid``: valid target pixels; ``support_min``: fewest interferograms behind
   a valid target value. CNN: the cumulative map is scored over the whole frame at every
   gain; ``p_fused`` and ``p_by_gain`` are the maxima of the fused and per-gain maps
   **within the target disc** (``p_fused_frame``: the fused maximum over the frame).
   ``flag = p_fused > flag_threshold`` (config ``science.flag_threshold``, 0.5, seed 002):
   the flag is the CNN's alone. LSTT: target against every reference (intersection-union:
   ``lstt_p`` is the largest per-reference p-value, ``lstt_pe`` the smallest PE), reported
   separately as ``lstt_reject = lstt_p <= alpha`` (0.05). When the regions hold too few
   samples for the test, the LSTT fields are None and ``lstt_error`` says why. Each
   epoch's random generator is seeded with ``(seed, epoch ordinal)``, so an epoch's LSTT
   does not depend on which other epochs are scored.
8. **Second look** (issue 6, as the watch makes it; ``[correction]``, off with
   ``correction=None``): a flagged epoch's map, when the frame has a DEM, is corrected
   for stratified delay by the band-filtered phase-elevation fit outside the target disc
   (``fit_exclusion_radii``), the flagged region and the target's peak, re-referenced to
   the reference regions and scored again; its CNN and LSTT scores are then the epoch's,
   ``p_fused_raw`` keeps the raw one and ``correction_method`` says ``empirical``, or
   ``none`` with the reason in ``correction`` (no DEM, too few pixels, flat ground). The
   archive's GACOS/ICAMS files are not read here.

Sources: seed 003 (scoring cumulative daisy-chain series, multi-gain fusion); seed 002
(flag at P > 0.5); seed 000 (coherence threshold 0.1, LSTT against a stable region).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import CorrectionSettings
from monitor.errors import InputError
from monitor.io.licsar_frame import FrameProducts, GroundDisc
from monitor.science.atmocorr import correct_with_dem
from monitor.science.detect.base import PatchClassifier
from monitor.science.detect.fusion import DEFAULT_GAINS, Detection, detect_displacement
from monitor.science.geometry import DEFAULT_FRINGE_SPACING_M
from monitor.science.interferograms import DEFAULT_COHERENCE_THRESHOLD
from monitor.science.lstt import DEFAULT_PERMUTATIONS
from monitor.science.lstt_regions import auto_reference_regions, lstt_regions
from monitor.science.network import NetworkGap
from monitor.science.timeseries import CumulativeSeries, cumulative_series
from monitor.series_defaults import DEFAULT_TARGET_RADIUS_KM as DEFAULT_TARGET_RADIUS_KM
from monitor.series_defaults import NETWORKS as NETWORKS

log = logging.getLogger(__name__)

#: Reference windows wanted by ``--references auto``.
AUTO_REFERENCE_COUNT = 3
#: A pixel is "stably coherent" for automatic references when coherent in more than this
#: fraction of the products.
AUTO_REFERENCE_COHERENT_FRACTION = 0.9
#: Significance level of ``lstt_reject``.
LSTT_ALPHA = 0.05


@dataclass(frozen=True)
class Region:
    """A target or reference region on the frame grid.

    Attributes:
        name: ``"target"``, ``"reference 1"``...
        mask: Boolean ``(ny, nx)``.
        description: Where it is (lon/lat and radius, or window rows and columns).
    """

    name: str
    mask: NDArray[np.bool_]
    description: str


def reference_regions(products: FrameProducts, target_centre_rc: tuple[float, float],
                      target_radius_km: float, discs: Sequence[GroundDisc] | None
                      ) -> tuple[Region, ...]:
    """Reference regions: explicit ground discs, or automatic windows (rule 4)."""
    grid = products.grid
    if discs is not None:
        out = []
        for k, disc in enumerate(discs, 1):
            _, mask = grid.disc_mask(disc, "--references")
            out.append(Region(f"reference {k}", mask,
                              f"disc {disc.lon},{disc.lat} radius {disc.radius_km} km"))
        return tuple(out)
    radius_px = target_radius_km * 1000.0 / min(grid.pixel_m)
    size = int(min(max(8, math.ceil(2 * radius_px)), min(grid.shape) // 4))
    try:
        windows = auto_reference_regions(
            products.coherent_fraction, target_centre_rc=target_centre_rc,
            target_radius_px=radius_px, n=AUTO_REFERENCE_COUNT, size_px=size,
            dem=products.dem_m, field_is_coherence=True,
            coherence_threshold=AUTO_REFERENCE_COHERENT_FRACTION)
    except InputError as exc:
        raise InputError(f"--references auto: {exc}; or give stable discs with --references "
                         "LON,LAT,RADIUS_KM;...") from None
    out = []
    for k, w in enumerate(windows, 1):
        lon0, lat0 = grid.transform @ (w.col0, w.row0)
        out.append(Region(f"reference {k}", w.mask(grid.shape),
                          f"window rows {w.row0}-{w.row0 + w.size_px - 1}, cols "
                          f"{w.col0}-{w.col0 + w.size_px - 1} (north-west corner lon "
                          f"{lon0:.4f} lat {lat0:.4f}), {w.valid_fraction:.0%} stably "
                          "coherent"))
    return tuple(out)


@dataclass(frozen=True)
class PreparedSeries:
    """Everything needed to score the epochs of one frame.

    Attributes:
        products: The frame's products.
        target: The target disc as given.
        target_region: Its region on the grid.
        references: Reference regions (also the series reference, rule 4).
        series: The cumulative series.
        maps: Displacement of each series epoch relative to its segment's first epoch,
            ``(n_epochs, ny, nx)`` metres float32.
    """

    products: FrameProducts
    target: GroundDisc
    target_region: Region
    references: tuple[Region, ...]
    series: CumulativeSeries
    maps: NDArray[np.float32]

    @property
    def gaps(self) -> tuple[NetworkGap, ...]:
        return self.series.gaps


def prepare_series(products: FrameProducts, target: GroundDisc,
                   references: Sequence[GroundDisc] | None, *, network: str = "auto",
                   coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD) -> PreparedSeries:
    """Place the target and references and build the cumulative series (rules 2, 4, 5).

    Raises:
        InputError: target or reference outside the frame or empty, a reference overlapping
            the target, no automatic reference window, an unknown ``network``, or a
            network that is not a daisy chain with ``network="daisy"``.
    """
    if network not in NETWORKS:
        raise InputError(f"--network must be one of {', '.join(NETWORKS)}, got {network!r}")
    centre, mask = products.grid.disc_mask(target, "--target")
    target_region = Region("target", mask, f"disc {target.lon},{target.lat} radius "
                                           f"{target.radius_km} km")
    refs = reference_regions(products, centre, target.radius_km, references)
    for r in refs:
        if (r.mask & mask).any():
            raise InputError(f"--references: {r.name} ({r.description}) overlaps the target "
                             "disc; reference regions must lie on stable ground outside it")
        log.info("%s: %s", r.name, r.description)
    union = np.logical_or.reduce([r.mask for r in refs])
    try:
        series = cumulative_series(products.interferograms, reference=union,
                                   coherence_threshold=coherence_threshold,
                                   method=NETWORKS[network], bridge="none")
    except InputError as exc:
        raise InputError(f"frame {products.layout.frame} (--network {network}): {exc}"
                         ) from None
    for gap in series.gaps:
        log.info("frame %s: %s", products.layout.frame, gap.describe())
    maps = series.displacement if series.segment_displacement is None \
        else series.segment_displacement
    return PreparedSeries(products, target, target_region, refs, series, maps)


@dataclass(frozen=True)
class EpochScore:
    """Scores of one epoch (rules 6-7; None where not scored).

    Attributes:
        epoch: Acquisition date.
        relative_to: First epoch of its segment (None when no product reaches it).
        scored: Whether it was scored.
        note: Why not, when not scored.
        cum_max_m: Largest |displacement| over valid target pixels, metres.
        n_valid: Valid target pixels.
        support_min: Fewest interferograms behind a valid target value.
        p_fused: Fused CNN probability, maximum within the target disc.
        p_by_gain: Each gain's probability, maximum within the target disc.
        p_fused_frame: Fused probability, maximum over the frame.
        flag: ``p_fused > threshold``.
        threshold: Flag threshold.
        lstt_p: Intersection-union LSTT p-value (largest over the references).
        lstt_pe: Smallest per-reference Pearson divergence.
        lstt_reject: ``lstt_p <= alpha``.
        lstt_alpha: Level of ``lstt_reject``.
        lstt_spacing_px: LSTT sampling grid step.
        lstt_error: Why the LSTT could not be run, when it could not.
        p_fused_raw: The target's fused P before the second look (rule 8; None when the
            epoch was not flagged or not scored).
        correction_method: ``empirical``, or ``none`` when the second look could not be
            made (None when it was not needed).
        correction: The fit (order, coefficients, pixels) or ``reason``.
    """

    epoch: date
    relative_to: date | None
    scored: bool
    note: str | None
    cum_max_m: float | None
    n_valid: int
    support_min: int | None
    threshold: float
    p_fused: float | None = None
    p_by_gain: dict[float, float] | None = None
    p_fused_frame: float | None = None
    flag: bool | None = None
    lstt_p: float | None = None
    lstt_pe: float | None = None
    lstt_reject: bool | None = None
    lstt_alpha: float = LSTT_ALPHA
    lstt_spacing_px: int | None = None
    lstt_error: str | None = None
    p_fused_raw: float | None = None
    correction_method: str | None = None
    correction: dict[str, Any] | None = None


@dataclass(frozen=True)
class ScoringOptions:
    """How each epoch is scored.

    Attributes:
        gains: Wrap gains of the detector.
        flag_threshold: Flag threshold on the target's fused P.
        fringe_spacing_m: LOS metres per fringe at gain 1.
        n_permutations: LSTT permutations.
        seed: Seed of the LSTT random generators (rule 7).
        detector_method: Inference path of the detector.
        correction: Settings of the second look (rule 8); None turns it off.
    """

    gains: tuple[float, ...] = DEFAULT_GAINS
    flag_threshold: float = 0.5
    fringe_spacing_m: float = DEFAULT_FRINGE_SPACING_M
    n_permutations: int = DEFAULT_PERMUTATIONS
    seed: int = 0
    detector_method: str = "auto"
    correction: CorrectionSettings | None = None


def _segment_start(series: CumulativeSeries, epoch: date) -> date:
    return next(seg[0] for seg in series.segments if epoch in seg)


def score_epoch(prepared: PreparedSeries, epoch: date, model: PatchClassifier,
                options: ScoringOptions) -> EpochScore:
    """Score one listed epoch of the frame (rules 6-7)."""
    series = prepared.series
    thr = options.flag_threshold
    if epoch not in series.epochs:
        return EpochScore(epoch, None, False, "no readable interferogram includes this epoch",
                          None, 0, None, thr)
    k = series.epochs.index(epoch)
    start = _segment_start(series, epoch)
    target = prepared.target_region.mask
    field = prepared.maps[k]
    values = field[target]
    valid = np.isfinite(values)
    n_valid = int(valid.sum())
    if n_valid == 0:
        return EpochScore(epoch, start, False, "no valid (coherent) pixel in the target disc",
                          None, 0, None, thr)
    cum_max = float(np.max(np.abs(values[valid])))
    support_min = int(series.support[k][target][valid].min())
    if epoch == start:
        why = ("first epoch of the series" if k == 0 else
               "first epoch after a network gap (no readable interferogram links it to the "
               "epochs before)")
        return EpochScore(epoch, start, False, f"{why}: its cumulative displacement is zero "
                          "by definition, nothing to score", cum_max, n_valid, support_min, thr)
    def detect(image: NDArray[np.float32]) -> Detection:
        return detect_displacement(model, image, gains=options.gains, threshold=thr,
                                   fringe_spacing_m=options.fringe_spacing_m,
                                   method=options.detector_method, keep_maps=True)

    det = detect(field)
    second: dict[str, Any] = {}
    if options.correction is not None and float(det.prob_map[target].max()) > thr:
        corrected, second = _second_look(prepared, field, det, options.correction, thr)
        if corrected is not None:
            field, det = corrected, detect(corrected)
    maps = det.maps_by_gain or {}
    p_target = float(det.prob_map[target].max())
    p_by_gain = {g: float(m[target].max()) for g, m in maps.items()}
    scores = {"p_fused": p_target, "p_by_gain": p_by_gain, "p_fused_frame": det.p_fused,
              "flag": p_target > thr, **second}
    rng = np.random.default_rng((options.seed, epoch.toordinal()))
    try:
        test = lstt_regions(field, target, [r.mask for r in prepared.references], rng=rng,
                            n_permutations=options.n_permutations)
    except InputError as exc:
        log.info("epoch %s: LSTT not run: %s", epoch, exc)
        return EpochScore(epoch, start, True, None, cum_max, n_valid, support_min, thr,
                          lstt_error=str(exc), **scores)
    return EpochScore(epoch, start, True, None, cum_max, n_valid, support_min, thr,
                      lstt_p=test.p_value, lstt_pe=test.pe,
                      lstt_reject=test.p_value <= LSTT_ALPHA, lstt_spacing_px=test.spacing_px,
                      **scores)


def _second_look(prepared: PreparedSeries, field: NDArray[np.float32], det: Detection,
                 settings: CorrectionSettings, threshold: float
                 ) -> tuple[NDArray[np.float32] | None, dict[str, Any]]:
    """Rule 8: the corrected map (None when none could be made) and the epoch's fields."""
    raw = {"p_fused_raw": float(det.prob_map[prepared.target_region.mask].max())}
    dem = prepared.products.dem_m
    if dem is None:
        return None, {**raw, "correction_method": "none", "correction": {
            "reason": "the frame has no DEM (metadata/<frame>.geo.hgt.tif)"}}
    grid, target = prepared.products.grid, prepared.target
    _, excluded = grid.disc_mask(GroundDisc(target.lon, target.lat,
                                            settings.fit_exclusion_radii * target.radius_km),
                                 "--target")
    inside = np.where(prepared.target_region.mask, det.prob_map, -np.inf)
    peak = tuple(int(v) for v in np.unravel_index(int(np.argmax(inside)), inside.shape))
    radius_px = target.radius_km * 1000.0 / min(grid.pixel_m)
    reference = np.logical_or.reduce([r.mask for r in prepared.references])
    try:
        corrected, fit = correct_with_dem(
            field, dem, excluded | prepared.target_region.mask, (peak[0], peak[1]),
            settings.peak_exclusion_radii * radius_px, det.prob_map > threshold,
            order=settings.order, band_sigma_px=settings.band_sigma_px(grid.pixel_m),
            min_pixels=settings.min_pixels, min_height_range_m=settings.min_height_range_m,
            reference_mask=reference)
    except InputError as exc:
        return None, {**raw, "correction_method": "none", "correction": {"reason": str(exc)}}
    except (ValueError, ArithmeticError) as exc:  # numerics (e.g. LinAlgError)
        return None, {**raw, "correction_method": "none", "correction": {
            "reason": f"failed: {type(exc).__name__}: {exc}"}}
    return corrected, {**raw, "correction_method": "empirical",
                       "correction": fit.record()}
