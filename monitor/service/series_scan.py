"""Score every epoch of a LiCSAR frame's cumulative series, as the watch would.

Reads a frame in the LiCSAR layout (:mod:`monitor.io.licsar_frame`), builds its cumulative
LOS series (:func:`monitor.science.timeseries.cumulative_series`) and scores each epoch
by the watch's own rules (:mod:`monitor.service.scoring`, :mod:`monitor.science.scoring`),
so that ``scan-series`` over an archive gives every epoch the fused P, LSTT p-value,
second look and qualifying level that ``poll`` gives it. Nothing here prints; the
``scan-series`` command does.

Rules, in order:

1. **Grid.** That of ``hgt`` (then also the DEM), else of the first readable product
   (:mod:`monitor.io.licsar_frame`).
2. **Target.** ``LON,LAT[,RADIUS_KM]`` (default radius :data:`DEFAULT_TARGET_RADIUS_KM`):
   a disc on the ground; a centre outside the frame is an
   :class:`~monitor.errors.InputError`.
3. **Products.** A product that cannot be read, does not match the grid, or has no pixel
   with coherence above the threshold is **skipped and reported** (naming the file): the
   series is built from the other products, a network that falls apart is split at the
   gap (``bridge="none"``: nothing is invented), and the command exits non-zero after
   printing every epoch.
4. **References.** The watch's (:func:`~monitor.service.scoring.series_reference`):
   explicit ground discs ``LON,LAT,RADIUS_KM``, or automatic windows (or a ring) placed on
   the coherence of the series' first product and the frame's DEM
   (:func:`~monitor.science.references.place_references`). Their union is the series
   reference (its median is removed from every interferogram), and each one is an LSTT
   reference.
5. **Series.** ``cumulative_series`` with the configured coherence threshold, ``method``
   from ``--network`` (``auto``, ``daisy``, ``sbas``) and ``bridge="none"``. Each epoch is
   scored on its displacement relative to the first epoch of its own segment
   (``relative_to``): across a gap the series restarts at zero, as the watch's chain does.
6. **Epochs.** Every date that appears in the archive's pair names is reported, in order.
   Not scored (``scored`` False, ``note`` says why): the first epoch of a segment (its
   cumulative displacement is zero by definition), an epoch that no readable product
   reaches, and an epoch without a valid pixel in the target disc.
7. **Signal.** What the alert policy's time-series rule reads of the epoch
   (:func:`~monitor.service.scoring.epoch_signal`): the bell amplitude of its map and the
   step of its newest increment (none for the first epoch after a gap); and the judgement
   of the segment's GLS filter (:mod:`monitor.science.detect.series_gls`, from the
   segment's increments before the epoch, with the frame's heights), which confirms the
   CNN's P in the single-map rule as in the watch (``[alerts] confirm``).
8. **Scores.** :func:`~monitor.service.scoring.score_cumulative`: CNN within the target
   disc and over the frame, LSTT against every reference, and the second look (the
   archive's GACOS/ICAMS delays, then the phase-elevation fit) for a step whose raw scores
   qualify for an alert level under ``[alerts]``; the corrected scores then decide.

Sources: Anantrasirichai et al. (2019b) for scoring cumulative daisy-chain series with
multi-gain fusion; Sugiyama et al. (2011) for the LSTT.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import AlertSettings, Settings
from monitor.errors import InputError
from monitor.io.licsar_frame import FrameProducts
from monitor.notify.policy import StepScore, qualifying_level
from monitor.science.detect.detector import Detector
from monitor.science.detect.series_blocks import SeriesJudgement
from monitor.science.detect.series_gls import GlsConfirmation, NoiseHistory
from monitor.science.detect.series_gls import step as gls_step
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.science.interferograms import Interferogram, prepare_interferogram
from monitor.science.network import NetworkGap
from monitor.science.references import ReferencePlacement
from monitor.science.scoring import (
    EpochScore,
    Regions,
    ScoringParams,
    cumulative_max_m,
)
from monitor.science.series_signal import TargetSignal
from monitor.science.timeseries import (
    CumulativeSeries,
    DaisyChainState,
    append,
    cumulative_series,
    start_daisy_chain,
)
from monitor.series_defaults import NETWORKS
from monitor.service.correction import FrameFiles
from monitor.service.scoring import (
    epoch_signal,
    frame_regions,
    new_noise_history,
    score_cumulative,
    series_key,
    series_reference,
    stored_correction,
)

log = logging.getLogger(__name__)



@dataclass(frozen=True, eq=False)
class PreparedSeries:
    """Everything needed to score the epochs of one frame.

    Attributes:
        products: The frame's products.
        target: The target disc as given.
        references: Explicit reference discs, or None (automatic).
        placement: How automatic references were placed (None for explicit ones).
        regions: Target and LSTT references on the grid.
        series: The cumulative series.
        maps: Displacement of each series epoch relative to its segment's first epoch,
            ``(n_epochs, ny, nx)`` metres float32.
        judged: The GLS filter's judgement of each epoch it judged (rule 7).
        increments: The newest interferogram of each epoch after its segment's first, as
            the watch's chain sums it (:func:`series_increments`).
        histories: The segment's GLS noise history before each epoch it holds one for
            (views of one array per segment), from which the block detector's own
            threshold is set (:mod:`monitor.science.detect.series_blocks`).
    """

    products: FrameProducts
    target: GroundDisc
    references: tuple[GroundDisc, ...] | None
    placement: ReferencePlacement | None
    regions: Regions
    series: CumulativeSeries
    maps: NDArray[np.float32]
    judged: dict[date, GlsConfirmation] = field(default_factory=dict)
    increments: dict[date, NDArray[np.float32]] = field(default_factory=dict)
    histories: dict[date, NoiseHistory] = field(default_factory=dict)

    @property
    def gaps(self) -> tuple[NetworkGap, ...]:
        return self.series.gaps

    def describe_references(self) -> list[str]:
        """One line per reference region."""
        if self.placement is not None:
            return [f"reference {k}: {d}"
                    for k, d in enumerate(self.placement.descriptions, 1)]
        return [f"reference {k}: disc {d.lon},{d.lat} radius {d.radius_km} km"
                for k, d in enumerate(self.references or (), 1)]


def prepare_series(products: FrameProducts, target: GroundDisc,
                   references: tuple[GroundDisc, ...] | None, *, network: str = "auto",
                   coherence_threshold: float, dem: NDArray[np.floating] | None,
                   borrowed: Sequence[Interferogram] = ()) -> PreparedSeries:
    """Place the target and references and build the cumulative series (rules 2, 4, 5).

    Args:
        products: The frame's readable products.
        target: The target disc.
        references: Explicit reference discs, or None for automatic ones.
        network: ``auto``, ``daisy`` or ``sbas``.
        coherence_threshold: Coherence at or below which a pixel is incoherent.
        dem: Heights on the grid (ranks automatic references), or None.
        borrowed: Products before the series' start that begin its first segment's GLS
            noise history, oldest first, as the watch borrows them for a target with a
            ``start`` (:mod:`monitor.service.noise_warmup`); referenced as the series' own.

    Raises:
        InputError: target or reference outside the frame or empty, a reference overlapping
            the target, a frame without stable coherent area, an unknown ``network``, or a
            network that is not a daisy chain with ``network="daisy"``.
    """
    if network not in NETWORKS:
        raise InputError(f"--network must be one of {', '.join(NETWORKS)}, got {network!r}")
    grid = products.grid
    first = products.interferograms[0]
    coherence = np.ones(grid.shape, np.float32) if first.coherence is None \
        else first.coherence
    union, placement = series_reference(grid, target, references, coherence,
                                        coherence_threshold, dem, "--target")
    for note in () if placement is None else placement.notes:
        log.info("frame %s: references: %s", products.layout.frame, note)
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
    regions = frame_regions(grid, target, references, union, "--target")
    lent = [append(start_daisy_chain(i.date1, grid.shape, reference=union,
                                     coherence_threshold=coherence_threshold), i)
            for i in borrowed]
    increments = series_increments(series, maps, products.interferograms, union,
                                   coherence_threshold)
    judged, histories = _judge_segments(series, maps, increments, grid, target, dem, lent)
    return PreparedSeries(products, target, references, placement, regions, series, maps,
                          judged, increments, histories)


def series_increments(series: CumulativeSeries, maps: NDArray[np.float32],
                      interferograms: Sequence[Interferogram],
                      reference: NDArray[np.bool_] | None, coherence_threshold: float
                      ) -> dict[date, NDArray[np.float32]]:
    """The newest interferogram of each epoch after its segment's first, as the watch's
    daisy chain sums it: the product of the pair (previous epoch, epoch), coherence-masked
    and referenced (:func:`~monitor.science.timeseries.append_step`), valid wherever it is
    coherent; where the network has no such product (an SBAS network), the difference of
    the two cumulative maps."""
    pairs = {(i.date1, i.date2): i for i in interferograms}
    out: dict[date, NDArray[np.float32]] = {}
    for segment in series.segments:
        for previous, epoch in zip(segment, segment[1:], strict=False):
            ifg = pairs.get((previous, epoch))
            if ifg is not None:
                out[epoch] = prepare_interferogram(ifg, reference, coherence_threshold)[0]
            else:
                k = series.epochs.index(epoch)
                out[epoch] = maps[k] - maps[series.epochs.index(previous)]
    return out


def _judge_segments(series: CumulativeSeries, maps: NDArray[np.float32],
                    increments: dict[date, NDArray[np.float32]], grid: FrameGrid,
                    target: GroundDisc, dem: NDArray[np.floating] | None,
                    borrowed: Sequence[DaisyChainState] = ()
                    ) -> tuple[dict[date, GlsConfirmation], dict[date, NoiseHistory]]:
    """Each segment's GLS filter over its epochs in order, as the watch runs it (rule 7),
    the first segment's history begun with the ``borrowed`` increments (one-link chains),
    and the history before each epoch; none for a target too near the frame's edge for the
    filter's window."""
    judged: dict[date, GlsConfirmation] = {}
    histories: dict[date, NoiseHistory] = {}
    empty = new_noise_history(grid, target)
    if empty is None:
        log.info("the target is too near the frame's edge for the GLS filter's window")
        return judged, histories
    for s, segment in enumerate(series.segments):
        history = empty
        for link in borrowed if s == 0 else ():
            history = history.appended(link.cumulative_m, None, link.last_epoch)
        lengths = {}
        for epoch in segment[1:]:
            lengths[epoch] = len(history)
            cum = maps[series.epochs.index(epoch)].astype(np.float64)
            history, one = gls_step(history, cum, increments[epoch], grid.pixel_m, dem, epoch)
            if one is not None:
                judged[epoch] = one
        for epoch, n in lengths.items():  # views of the segment's last history
            histories[epoch] = history.head(n)
    return judged, histories


@dataclass(frozen=True, eq=False)
class SeriesEpoch:
    """One listed epoch of the frame: where it stands in the series, and its scores.

    Attributes:
        epoch: Acquisition date.
        relative_to: First epoch of its segment (None when no product reaches it).
        note: Why it was not scored (None when it was).
        cum_max_m: Largest |displacement| over valid target pixels, metres.
        n_valid: Valid target pixels.
        support_min: Fewest interferograms behind a valid target value.
        score: Its scores (None when not scored).
        level: The alert level its decided scores qualify for by the single-map rule
            (None when not scored).
        signal: What the time-series rule reads of it (None when not scored).
        series: Which series it belongs to (frame and segment, ``series_key``).
    """

    epoch: date
    relative_to: date | None
    note: str | None
    cum_max_m: float | None
    n_valid: int
    support_min: int | None
    score: EpochScore | None = None
    level: str | None = None
    signal: TargetSignal | None = None
    series: str = ""
    gls: GlsConfirmation | None = None

    def policy_input(self) -> StepScore:
        """What the alert policy reads of this epoch."""
        d = None if self.score is None else self.score.decided
        sig = self.signal
        return StepScore(self.epoch, None if d is None else d.p_fused,
                         None if d is None else d.lstt_p,
                         None if sig is None else sig.bell_m,
                         None if sig is None else sig.step_m, self.series,
                         None if sig is None else sig.step_lstt_p,
                         None if self.gls is None else self.gls.p)

    @property
    def scored(self) -> bool:
        return self.score is not None

    def record(self, alerts: AlertSettings, threshold: float) -> dict[str, Any]:
        """The epoch's scores as a JSON-ready mapping (the ``scan-series`` fields)."""
        out: dict[str, Any] = {
            "epoch": self.epoch.isoformat(),
            "relative_to": self.relative_to.isoformat() if self.relative_to else None,
            "scored": self.scored, "note": self.note, "cum_max_m": self.cum_max_m,
            "n_valid": self.n_valid, "support_min": self.support_min}
        sc = self.score
        d = None if sc is None else sc.decided
        correction = None if sc is None or self.relative_to is None \
            else stored_correction(sc, self.relative_to)
        out.update({
            "p_fused": None if d is None else d.p_fused,
            "p_by_gain": None if d is None else d.p_by_gain,
            "p_fused_frame": None if d is None else d.p_fused_frame,
            "flag": None if d is None else d.flag,
            "threshold": threshold,
            "level": self.level,
            "lstt_p": None if d is None else d.lstt_p,
            "lstt_pe": None if d is None else d.lstt_pe,
            "lstt_reject": None if d is None or d.lstt_p is None
            else d.lstt_p <= alerts.lstt_alpha,
            "lstt_alpha": alerts.lstt_alpha,
            "lstt_spacing_px": None if d is None else d.lstt_spacing_px,
            "lstt_error": None if d is None else d.lstt_error,
            "peak_lon": None if d is None else d.peak_lon,
            "peak_lat": None if d is None else d.peak_lat,
            "p_fused_raw": None if correction is None or sc is None else sc.raw.p_fused,
            "lstt_p_raw": None if correction is None or sc is None else sc.raw.lstt_p,
            "correction_method": None if correction is None else correction.method,
            "correction": None if correction is None else dict(correction.details),
            "bell_m": None if self.signal is None else self.signal.bell_m,
            "step_m": None if self.signal is None else self.signal.step_m,
            "step_lstt_p": None if self.signal is None else self.signal.step_lstt_p,
            **GlsConfirmation.empty_record(self.gls),
            **SeriesJudgement.empty_record(None if d is None else d.series),
        })
        return out


def _segment_start(series: CumulativeSeries, epoch: date) -> date:
    return next(seg[0] for seg in series.segments if epoch in seg)


def score_series_epoch(prepared: PreparedSeries, epoch: date, detector: Detector,
                       params: ScoringParams, *, settings: Settings,
                       files: FrameFiles | None) -> SeriesEpoch:
    """Score one listed epoch of the frame (rules 6-7).

    Args:
        prepared: The frame's series.
        epoch: A listed epoch.
        detector: The detector.
        params: The scoring parameters.
        settings: The configuration (``[alerts]`` and ``[correction]``).
        files: The frame's archive files for the second look (None: no second look).
    """
    series = prepared.series
    if epoch not in series.epochs:
        return SeriesEpoch(epoch, None, "no readable interferogram includes this epoch",
                           None, 0, None)
    k = series.epochs.index(epoch)
    start = _segment_start(series, epoch)
    target = prepared.regions.target_mask
    field = prepared.maps[k]
    valid = np.isfinite(field[target])
    n_valid = int(valid.sum())
    cum_max = cumulative_max_m(field, target)
    if cum_max is None:
        return SeriesEpoch(epoch, start, "no valid (coherent) pixel in the target disc",
                           None, 0, None)
    support_min = int(series.support[k][target][valid].min())
    if epoch == start:
        why = ("first epoch of the series" if k == 0 else
               "first epoch after a network gap (no readable interferogram links it to the "
               "epochs before)")
        return SeriesEpoch(epoch, start, f"{why}: its cumulative displacement is zero by "
                           "definition, nothing to score", cum_max, n_valid, support_min)
    previous = series.epochs[k - 1] if k > 0 else None
    increment = None if previous is None or _segment_start(series, previous) != start \
        else prepared.increments.get(epoch)
    scored = score_cumulative(detector, field, prepared.regions, epoch, params,
                              span_start=start, files=files, settings=settings,
                              alerts=settings.alerts, increment=increment,
                              history=prepared.histories.get(epoch))
    d = scored.decided
    judged = prepared.judged.get(epoch)
    level = qualifying_level(StepScore(epoch, d.p_fused, d.lstt_p,
                                       gls_p=None if judged is None else judged.p),
                             settings.alerts)
    signal = epoch_signal(field, increment, prepared.regions, epoch, params)
    return SeriesEpoch(epoch, start, None, cum_max, n_valid, support_min, scored,
                       level.name.lower(), signal,
                       series_key(prepared.products.layout.frame, start), judged)
