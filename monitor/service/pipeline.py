"""One poll of a watched target: list, fetch, ingest, score, alert (docs/architecture.md).

Stages, in order, for each frame of the target; each skips work the store (or the series
file) already records, so a repeated poll changes nothing and a poll after a crash resumes:

1. **list**: products the archive lists after the series cursor (the state's
   ``last_epoch``; everything when there is no series file, but for a new series only
   those whose first date is on or after the target's ``start``, else its archive's:
   earlier ones are not recorded at all) are recorded (``record_listed_products``). The
   frame's poll then reports its progress through the chain ahead (products done / total,
   rate, time left: :mod:`monitor.service.progress`).
2. **fetch**: the products that continue the daisy chain (the shortest pair starting at
   the cursor, then from its second date on) are copied into ``watch.cache_dir`` in date
   order, their headers and values validated by the archive
   (:func:`monitor.archive.cache.validate_product`). A product refused for what it holds
   (:class:`~monitor.errors.BrokenProduct`) is **quarantined** (``quarantine_product``:
   reason naming the file and the check; not retried until an operator re-queues it) and
   the chain **bridges** it with the next listed pair from the same date when there is
   one (a 24-day pair of a 3-nearest network); otherwise the frame is **blocked** there
   (``PollReport.blocked``, exit 4). A failure that may pass (the archive, the disk) is
   recorded (``mark_product_failed``, retried with backoff) and the frame's chain waits
   for it. Other frames and targets go on.
3. **ingest**: in memory, nothing written yet. The series grid is the target's **crop**
   of the frame (``[[targets]] crop_km`` around the target, clipped to the frame:
   :mod:`monitor.science.crop`), recorded with the series
   (:class:`~monitor.service.frame_state.SeriesGrid`) and kept, whatever the
   configuration says later, until the series is rebuilt; explicit references outside it
   block the frame. The header is checked against the frame grid (the frame metadata's
   height file fixes a new series' frame grid) and only the crop is decoded (and judged
   against the memory budget); the
   archive decodes the product (:meth:`~monitor.ports.Archive.decode`: LOS metres with
   its own encodings and sensor, coherence 0-1, the grid), its values are checked
   (:mod:`monitor.science.product_checks`), it is appended to the daisy-chain state (the
   first product starts the chain, with the reference regions of
   :mod:`monitor.service.frame_state`) and the new epoch is scored (stage 4); a product
   failing any of these is quarantined as in stage 2. Then, in this order, for crash
   safety: ``save_state`` (atomic, with the GLS filter's noise history in the same file) ->
   ``mark_product_ingested`` -> ``record_epoch`` -> ``record_score``. A poll killed after
   ``save_state`` leaves a product not marked although the series includes it; the next
   poll first **reconciles**: every due, un-ingested product of the frame with
   ``date2 <= state.last_epoch`` is marked ingested without being appended again (it is
   covered by the series), and when the state's last epoch has no score it is scored from
   the state. The same rule marks pairs of a redundant network (e.g. LiCSAR's 3-nearest)
   that the chain does not use as covered.
4. **score**: the cumulative image of each new epoch is scored with the CNN over the frame
   (:func:`~monitor.science.detect.fusion.detect_displacement`); ``p_fused`` and
   ``p_by_gain`` are the maxima within the target disc, the peak is the fused maximum
   within the disc; LSTT of the target disc against the pooled reference regions, its
   p-value from an empirical null of windows of the same map
   (:mod:`monitor.science.lstt_null`), seeded by the epoch so it does not depend on which
   epochs a poll scores; the bell amplitude and step the time-series rule reads
   (:mod:`monitor.science.series_signal`, stored as ``signal``); and the judgement of the
   series' GLS Mogi filter (:mod:`monitor.science.detect.series_gls`: noise model and
   threshold from the series' earlier increments, kept in the series file; stored in
   ``signal`` as ``gls_p`` ...), which confirms the CNN's P in the policy once 20
   increments of the series precede the epoch. The first epoch of a chain is recorded
   but not scored (its cumulative map is zero by definition). Scores carry the model's
   SHA-256, the code version and the parameters.
5. **alert**: the policy (:func:`~monitor.notify.policy.evaluate`) runs over all stored
   scores of the target; each step that raises a level becomes an alert of kind
   ``deformation`` (unique per target, epoch and kind, so recomputing it is harmless) with
   its quicklook PNG, and each step that clears a level an alert of kind ``cleared``
   (level 0, no picture); each is queued once per e-mail recipient and once per webhook
   that wants it (``[webhooks.NAME] targets``; clears only with ``notify_cleared``), also
   unique. Deliveries go out in :func:`monitor.service.outbox.deliver_outbox`.

Scores and epochs are keyed by (target, epoch). A target watched on several frames that
share an acquisition date (adjacent frames of one track) scores that date once per frame;
the score that stands is the more alarming one (higher qualifying level, then higher
deciding P; a tie keeps the first), whatever the order of the frames, so a quiet frame
scored second cannot take back another frame's alert. The epoch row keeps the last
frame's series file and cumulative maximum.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.transform import Affine

from monitor import __version__
from monitor.config import AlertSettings, TargetSettings
from monitor.domain import (
    ALERT_KIND_CLEARED,
    ALERT_KIND_DEFORMATION,
    AlertLevel,
    FetchedProduct,
    ProductRef,
    ProductStatus,
    ScoreCorrection,
)
from monitor.errors import (
    BrokenProduct,
    DatasetError,
    ExecutorError,
    InputError,
    MonitorError,
    StoreError,
)
from monitor.figures.alert import alert_quicklook_png
from monitor.io.atomic import atomic_write
from monitor.io.licsar_frame import frame_grid
from monitor.io.models import LoadedBlockModel
from monitor.io.raster_header import RasterHeader, check_budget, read_header
from monitor.io.rasters import Raster
from monitor.metrics import failure_label
from monitor.notify.policy import StepScore, evaluate, qualifying_level
from monitor.science.crop import crop_window, disc_outside_window
from monitor.science.detect.series_gls import WARM_UP as GLS_WARM_UP
from monitor.science.detect.series_gls import NoiseHistory
from monitor.science.detect.series_gls import step as gls_step
from monitor.science.grids import FrameGrid
from monitor.science.interferograms import Interferogram
from monitor.science.product_checks import displacement_problem
from monitor.science.scoring import (
    EpochScore,
    MapScore,
    Regions,
    SecondLook,
    cumulative_max_m,
    epoch_record,
)
from monitor.science.timeseries import DaisyChainState, append_step, start_daisy_chain
from monitor.service import frame_state
from monitor.service.alert_maps import (
    discard_maps,
    load_maps,
    maps_path,
    quicklook_path,
    save_maps,
    saved_epochs,
)
from monitor.service.context import WatchContext
from monitor.service.correction import FrameFiles, SourceInputs, read_source_inputs
from monitor.service.frame_state import SeriesGrid
from monitor.service.metrics_restore import export_target
from monitor.service.noise_warmup import borrow_noise
from monitor.service.progress import BackfillTracker
from monitor.service.scoring import (
    frame_regions,
    model_series_input,
    needs_second_look,
    new_noise_history,
    scoring_params,
    series_key,
    series_reference,
    stored_correction,
    target_discs,
)
from monitor.service.scoring_task import (
    LookJob,
    ScoringJob,
    register_model,
    score_raw,
    score_second_look,
)
from monitor.service.series_files import (
    load_increment,
    load_noise,
    load_state,
    save_state,
    series_path,
)
from monitor.service.target_status import POLICY_HISTORY, alert_settings_of, policy_input
from monitor.store import Product, Score

log = logging.getLogger(__name__)

#: Alert kind of the deformation policy (a level raised); a level that falls back to none
#: is an alert of kind :data:`~monitor.domain.ALERT_KIND_CLEARED` (``cleared``, level 0).
ALERT_KIND = ALERT_KIND_DEFORMATION
#: Scores read back for the policy (all of a target's history in practice).


@dataclass(frozen=True)
class ProductFailureNote:
    """A product (or a listing) that failed in this poll.

    Attributes:
        frame: Frame id.
        pair: ``YYYYMMDD_YYYYMMDD``, or ``"listing"``.
        stage: ``list``, ``fetch`` or ``ingest``.
        reason: Metrics label (``fetch``, ``validate``, ``timeout``, ``http``, ``other``).
        message: The error.
    """

    frame: str
    pair: str
    stage: str
    reason: str
    message: str


@dataclass(frozen=True)
class BlockedFrame:
    """A frame whose series cannot go on until an operator acts.

    Attributes:
        frame: Frame id.
        at: The series' last epoch, where the chain stops (None: the series cannot start).
        reason: Why: the quarantined product (its id, pair and check) that no other listed
            pair bridges, or a target that does not fit the frame.
    """

    frame: str
    at: date | None
    reason: str


@dataclass(frozen=True)
class EpochResult:
    """A new epoch of this poll and its scores (None where not scored).

    Attributes:
        epoch: Acquisition date.
        frame: Frame it came from.
        cum_max_m: Largest |cumulative LOS displacement| in the target disc, metres.
        p_fused: Fused CNN probability, maximum in the target disc (raw).
        lstt_p: Intersection-union LSTT p-value (raw).
        level: Alert level after this epoch (policy over the whole history).
        p_corrected: Fused P after atmospheric correction (flagged steps only).
        correction: The correction used (``gacos``, ``icams``, ``empirical``, ``none``),
            None when the step was not flagged.
    """

    epoch: date
    frame: str
    cum_max_m: float | None
    p_fused: float | None
    lstt_p: float | None
    level: AlertLevel = AlertLevel.NONE
    p_corrected: float | None = None
    correction: str | None = None


@dataclass(frozen=True)
class PollReport:
    """What one poll of a target did (counts per stage).

    Attributes:
        target_id: The target.
        listed: Products recorded from the archives' listings (new or not).
        fetched: Products copied into the cache.
        ingested: Products appended to a series.
        reconciled: Products marked ingested without appending (covered by the series).
        scored: Epochs scored.
        alerts_raised: New alerts raising a level (kind ``deformation``).
        deliveries_queued: New deliveries (every channel).
        epochs: The new epochs, in date order.
        failures: What failed.
        notes: Other conditions worth a log line (gaps in the chain, bridges).
        alerts_cleared: New alerts of a level that cleared (kind ``cleared``).
        quarantined: Products set aside in this poll for what they hold.
        blocked: Frames whose series cannot go on (a quarantined product no listed pair
            bridges); reported at every poll until an operator re-queues the product or
            the archive publishes a bridging pair.
    """

    target_id: str
    listed: int = 0
    fetched: int = 0
    ingested: int = 0
    reconciled: int = 0
    scored: int = 0
    alerts_raised: int = 0
    deliveries_queued: int = 0
    epochs: tuple[EpochResult, ...] = ()
    failures: tuple[ProductFailureNote, ...] = ()
    notes: tuple[str, ...] = ()
    alerts_cleared: int = 0
    quarantined: int = 0
    blocked: tuple[BlockedFrame, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing failed and no frame is blocked (``poll --once`` exits 0)."""
        return not self.failures and not self.blocked


@dataclass
class _Tally:
    listed: int = 0
    fetched: int = 0
    ingested: int = 0
    reconciled: int = 0
    scored: int = 0
    epochs: list[EpochResult] = field(default_factory=list)
    failures: list[ProductFailureNote] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    quarantined: int = 0
    blocked: list[BlockedFrame] = field(default_factory=list)
    #: Maps of epochs that may raise an alert: epoch -> (cumulative, fused P, target mask).
    maps: dict[date, tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.bool_]]] = \
        field(default_factory=dict)


def _alert_settings(ctx: WatchContext, target: TargetSettings) -> AlertSettings:
    return alert_settings_of(ctx.settings, target)


@dataclass(frozen=True)
class _EpochScoring:
    """The scores of a state's last epoch, computed but not yet recorded (stage 4).

    Scoring runs in memory before anything of the step is written, so that a step whose
    scoring fails never reaches the series file nor the store (the product is quarantined
    instead); :func:`_record_scoring` then writes the epoch and its score.
    """

    state: DaisyChainState
    regions: Regions
    cum_max: float | None
    scored: EpochScore | None = None
    correction: ScoreCorrection | None = None
    signal: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    noise: NoiseHistory | None = None


def _score_state(ctx: WatchContext, target: TargetSettings, frame: str, grid: FrameGrid,
                 state: DaisyChainState, increment: NDArray[np.float64] | None = None,
                 noise: NoiseHistory | None = None, files: FrameFiles | None = None
                 ) -> _EpochScoring:
    """Score the state's last epoch (stage 4, :mod:`monitor.service.scoring`); writes
    nothing but the cache of the archive's frame files.

    The writer (this thread) reads what the scoring needs and the executor runs the pure
    tasks of :mod:`monitor.service.scoring_task` (``[executor]``): the raw scores and
    signal, then, for a step that qualifies, the second look with the correction sources'
    files read here beforehand.

    ``increment`` is the newest interferogram as summed into the chain (None when it is not
    at hand, e.g. an epoch scored again after a crash from a series file written before
    the increment was kept: its step is then not measured, the fast path cannot fire for
    it, and a detector that judges increments cannot score it). ``noise`` is the series'
    GLS noise history (None: no filter); the result's ``noise`` is the history to save with
    the state. ``files``: the frame's archive files on ``grid`` (the filter's heights, the
    second look), kept by the caller across the epochs of a poll so that they are fetched
    and read once; None: opened here.

    Raises:
        ExecutorError: the task could not be run (worker lost, timeout, cluster gone).
    """
    epoch = state.last_epoch
    disc, discs = target_discs(target)
    regions = frame_regions(grid, disc, discs, state.reference_mask, f"target {target.id}")
    cum_max = cumulative_max_m(state.cumulative_m, regions.target_mask)
    if files is None:
        files = FrameFiles(ctx.archives[target.archive], frame, grid,
                           Path(ctx.settings.watch.cache_dir))
    heights = None
    if (noise is not None and len(noise) >= GLS_WARM_UP - 1  # a filter may judge
            or isinstance(ctx.model, LoadedBlockModel)):  # the block detector's height term
        heights = files.dem_if_any()[0]
    if state.n_epochs < 2 or cum_max is None:
        kept = noise
        if increment is not None and noise is not None and not noise.holds(epoch):
            # Not scored (no valid target pixel), but the filter's history goes on with
            # the increment's arrival score, as in scan-series and evaluate series.
            kept = gls_step(noise, state.image, increment, grid.pixel_m, heights, epoch)[0]
        return _EpochScoring(state, regions, cum_max, noise=kept)
    t0 = time.perf_counter()
    alert_settings = _alert_settings(ctx, target)
    params = scoring_params(ctx.settings, gains=target.gains)
    register_model(ctx.model)  # the inline executor's tasks find it in this process
    job = ScoringJob(ctx.model.sha256, state.image, increment, regions, epoch, params,
                     f"target {target.id} frame {frame} epoch {epoch}", noise, heights)
    first = ctx.executor.run(score_raw, job, name=job.label)
    look = None
    if (ctx.settings.correction.enabled and model_series_input(ctx.model) == "cumulative"
            and needs_second_look(alert_settings)(first.raw)):
        look = _second_look(ctx, job, first.raw, files, state.first_epoch)
    scored = EpochScore(epoch, first.raw, look, epoch_record(first.raw, regions, epoch, params))
    correction = stored_correction(scored, state.first_epoch)
    signal = {**first.signal, "series": series_key(frame, state.first_epoch)}
    return _EpochScoring(state, regions, cum_max, scored, correction, signal,
                         time.perf_counter() - t0, first.noise)


def _second_look(ctx: WatchContext, job: ScoringJob, raw: MapScore, files: FrameFiles,
                 span_start: date) -> SecondLook:
    """Rule 3 of the scoring as a task, its sources' files read here, in the order of
    ``[correction] methods`` and only as far as needed: up to the first source whose files
    could be read, then the task; when that source fails in the task too, the next ones are
    read and the task runs again over all of them (the earlier fail again, the same way),
    so the files read and the outcome are those of a second look reading its files as it
    tries each source (:func:`~monitor.service.correction.correction_sources`)."""
    settings = ctx.settings.correction
    pending = list(settings.methods)
    sources: list[SourceInputs] = []
    while True:
        while pending:
            sources.append(read_source_inputs(files, pending.pop(0), (span_start, job.epoch),
                                              settings))
            if sources[-1].error is None:
                break
        look = ctx.executor.run(score_second_look,
                                LookJob(job, raw, tuple(sources), settings), name=job.label)
        if look.score is not None or not pending:
            return look


def _record_scoring(ctx: WatchContext, target: TargetSettings, frame: str,
                    series_file: Path, now: datetime, tally: _Tally,
                    scoring: _EpochScoring) -> None:
    """Record the epoch and its score computed by :func:`_score_state`."""
    store, state, cum_max = ctx.store, scoring.state, scoring.cum_max
    epoch = state.last_epoch
    store.record_epoch(target.id, epoch, state.n_epochs - 1, 0, str(series_file), cum_max)
    scored = scoring.scored
    if scored is None:
        tally.epochs.append(EpochResult(epoch, frame, cum_max, None, None))
        return
    alert_settings = _alert_settings(ctx, target)
    sc, decided, correction = scored.raw, scored.decided, scoring.correction
    if scored.look is not None:
        _log_second_look(target, frame, epoch, sc, scored.look)
        if ctx.metrics is not None:
            ctx.metrics.correction_made(target.id, scored.look.method)
    level = qualifying_level(StepScore(epoch, decided.p_fused, decided.lstt_p,
                                       gls_p=scoring.signal.get("gls_p")), alert_settings)
    kept = _other_frame_score(ctx, target, frame, epoch, level, decided.p_fused,
                              alert_settings)
    if kept is not None:
        # Frames of one target that share an acquisition date (adjacent frames of a
        # track) score the same epoch: the more alarming score stands, so that a quiet
        # frame scored second cannot silently take back another frame's alert.
        note = (f"target {target.id} epoch {epoch}: frame {frame} scored P "
                f"{_p_text(decided.p_fused)}; the score of frame {kept.params.get('frame')} "
                f"(P {_p_text(kept.decision_p_fused)}) is at least as alarming and stands")
        log.info(note)
        tally.notes.append(note)
        tally.epochs.append(EpochResult(epoch, frame, cum_max, sc.p_fused, sc.lstt_p))
        return
    # Kept on disk before the score is recorded, so that a restart that does not score this
    # epoch again can still draw the quicklook of an alert it raises. Every scored epoch is
    # kept: the time-series rule can raise an alert at an epoch whose own map qualifies for
    # nothing; the alert stage discards the maps of epochs that raised nothing. Only maps
    # that qualify on their own stay in memory for this poll's quicklooks.
    image = state.image if scored.look is None or scored.look.image is None \
        else scored.look.image
    maps = (image, decided.prob_map, scoring.regions.target_mask)
    save_maps(maps_path(ctx.settings.watch.series_dir, target.id, epoch), maps)
    if level > AlertLevel.NONE:
        tally.maps[epoch] = maps
    store.record_score(target.id, epoch, p_fused=sc.p_fused, p_by_gain=sc.p_by_gain,
                       model_sha256=ctx.model.sha256, code_version=__version__,
                       params={**scored.params, "model_arch": ctx.model.arch,
                               "frame": frame},
                       now=now, peak_row=sc.peak_row, peak_col=sc.peak_col,
                       peak_lon=sc.peak_lon, peak_lat=sc.peak_lat, lstt_p=sc.lstt_p,
                       lstt_pe=sc.lstt_pe, lstt_by_reference=sc.lstt_by_reference,
                       correction=correction, signal=scoring.signal)
    tally.scored += 1
    tally.epochs.append(EpochResult(epoch, frame, cum_max, sc.p_fused, sc.lstt_p,
                                    p_corrected=None if correction is None
                                    else correction.p_fused,
                                    correction=None if correction is None
                                    else correction.method))
    if ctx.metrics is not None:
        ctx.metrics.observe_scoring(target.id, scoring.duration_s)


def _log_second_look(target: TargetSettings, frame: str, epoch: date, raw: MapScore,
                     look: SecondLook) -> None:
    for tried in look.details.get("fallbacks", ()):
        log.info("target %s frame %s epoch %s: %s correction not possible: %s", target.id,
                 frame, epoch, tried["method"], tried["reason"])
    if look.score is None:
        log.warning("target %s frame %s epoch %s: no atmospheric correction could be made "
                    "(%s); the raw scores decide", target.id, frame, epoch,
                    look.details.get("reason"))
    else:
        log.info("target %s frame %s epoch %s: %s correction: P %.3f -> %.3f", target.id,
                 frame, epoch, look.method, raw.p_fused, look.score.p_fused)


def _p_text(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.3f}"


def _other_frame_score(ctx: WatchContext, target: TargetSettings, frame: str, epoch: date,
                       level: AlertLevel, p_fused: float | None,
                       settings: AlertSettings) -> Score | None:
    """Another frame's score of this epoch when it is at least as alarming, else None."""
    other = ctx.store.get_score(target.id, epoch)
    if other is None or other.params.get("frame") in (None, frame):
        return None
    other_p = other.decision_p_fused
    other_level = qualifying_level(policy_input(other), settings)
    mine = (level, -1.0 if p_fused is None else p_fused)
    theirs = (other_level, -1.0 if other_p is None else other_p)
    return other if theirs >= mine else None


def _reconcile(ctx: WatchContext, target: TargetSettings, frame: str,
               state: DaisyChainState | None, now: datetime, tally: _Tally) -> None:
    """Mark due products of the frame that the series already covers as ingested."""
    if state is None:
        return
    for p in ctx.store.pending_products(target.id, now):
        if p.frame == frame and p.date2 <= state.last_epoch:
            log.info("target %s frame %s: %s_%s is covered by the series (up to %s); marked "
                     "ingested without appending", target.id, frame, p.date1, p.date2,
                     state.last_epoch)
            ctx.store.mark_product_ingested(p.id, now)
            tally.reconciled += 1


def _next_link(work: list[Product], cursor: date | None, excluded: set[int]
               ) -> Product | None:
    """The product that continues the daisy chain from ``cursor``: the shortest pair
    starting there (the earliest pair of all for a new series), leaving out ``excluded``
    (quarantined in this poll). When the shortest pair was quarantined, the next one
    starting at the same date bridges the bad date (e.g. a 24-day pair of a LiCSAR
    3-nearest network)."""
    for p in sorted(work, key=lambda p: (p.date1, p.date2)):
        if p.id in excluded or (cursor is not None and p.date2 <= cursor):
            continue
        if cursor is None or p.date1 == cursor:
            return p
    return None


def _waiting_note(work: list[Product], cursor: date | None, excluded: set[int]) -> str | None:
    """Why the chain stops at ``cursor`` although later products are listed, or None."""
    later = [p for p in work if p.id not in excluded and cursor is not None
             and p.date1 > cursor]
    if not later:
        return None
    p = min(later, key=lambda p: (p.date1, p.date2))
    return (f"no product starts at {cursor}; the chain waits for it (next listed: "
            f"{p.date1:%Y%m%d}_{p.date2:%Y%m%d})")


def _due(p: Product, now: datetime) -> bool:
    """Whether a product may be tried now (never failed, or its backoff has expired)."""
    if p.status != ProductStatus.FAILED.value or p.next_attempt_at is None:
        return True
    at = p.next_attempt_at
    return (at.replace(tzinfo=now.tzinfo) if at.tzinfo is None else at) <= now


def _pair(p: Product) -> str:
    return f"{p.date1:%Y%m%d}_{p.date2:%Y%m%d}"


def _fail(ctx: WatchContext, target: TargetSettings, p: Product, stage: str,
          exc: BaseException, now: datetime, tally: _Tally, reason: str | None = None) -> None:
    """A failure that may pass (the archive or the disk): recorded, retried with backoff;
    the frame's chain waits for it."""
    reason = reason or failure_label(exc)
    message = f"{stage} ({reason}): {exc}"
    ctx.store.mark_product_failed(p.id, message, now)
    log.warning("target %s frame %s product %s failed: %s; later products of the frame wait",
                target.id, p.frame, _pair(p), message,
                extra={"target": target.id, "frame": p.frame, "epoch": p.date2})
    tally.failures.append(ProductFailureNote(p.frame, _pair(p), stage, reason, str(exc)))
    if ctx.metrics is not None:
        ctx.metrics.product_failed(target.id, reason)


def _quarantine(ctx: WatchContext, target: TargetSettings, p: Product, stage: str,
                exc: BaseException, now: datetime, tally: _Tally) -> None:
    """A product refused for what it holds: quarantined (not retried until an operator
    re-queues it), counted as ``validate``; the chain looks for a bridge."""
    message = f"{stage} (validate): {exc}"
    ctx.store.quarantine_product(p.id, message, now)
    log.warning("target %s frame %s product %s quarantined: %s", target.id, p.frame,
                _pair(p), message,
                extra={"target": target.id, "frame": p.frame, "epoch": p.date2})
    tally.failures.append(ProductFailureNote(p.frame, _pair(p), stage, "validate", str(exc)))
    tally.quarantined += 1
    if ctx.metrics is not None:
        ctx.metrics.product_failed(target.id, "validate")


def _block(target: TargetSettings, frame: str, at: date | None, reason: str,
           tally: _Tally) -> None:
    log.warning("target %s frame %s: series blocked at %s: %s", target.id, frame,
                at or "its start", reason, extra={"target": target.id, "frame": frame})
    tally.blocked.append(BlockedFrame(frame, at, reason))


def _blocking_product(ctx: WatchContext, target: TargetSettings, frame: str,
                      cursor: date | None) -> Product | None:
    """A quarantined product of the frame where the chain stands (None: nothing blocks)."""
    for p in ctx.store.list_products(target.id, frame=frame,
                                     status=ProductStatus.QUARANTINED.value):
        if cursor is None or p.date1 == cursor:
            return p
    return None


def _from_start(ctx: WatchContext, target: TargetSettings, frame: str,
                refs: list[ProductRef]) -> tuple[list[ProductRef], list[ProductRef]]:
    """The listed products a new series of the frame starts from: those whose first date
    is on or after the target's ``start`` (else its archive's), and the frame's earlier
    ones. Those are not recorded at all (neither due nor fetched for the series; up to 30
    of them begin its GLS noise history, :mod:`monitor.service.noise_warmup`). Without a
    start the whole history is backfilled, and the log says so."""
    start = ctx.settings.target_start(target)
    kept = refs if start is None else [r for r in refs if r.date1 >= start]
    earlier = [] if start is None else [r for r in refs
                                        if r.date1 < start and r.frame == frame]
    fields = {"target": target.id, "frame": frame}
    if start is not None and len(kept) < len(refs):
        log.info("target %s frame %s: %d listed product(s) before start %s left out",
                 target.id, frame, len(refs) - len(kept), start, extra=fields)
    if not kept:
        return kept, earlier
    first, last = min(r.date1 for r in kept), max(r.date2 for r in kept)
    if start is None:
        log.info("target %s frame %s: no start date: the series backfills the frame's whole "
                 "history, %d product(s) from %s to %s (set start = YYYY-MM-DD in the "
                 "target's [[targets]] entry, or its archive's, to bound it)", target.id,
                 frame, len(kept), first, last, extra=fields)
    else:
        log.info("target %s frame %s: the series backfills from start %s: %d product(s) "
                 "from %s to %s", target.id, frame, start, len(kept), first, last,
                 extra=fields)
    return kept, earlier


def _series_grid(ctx: WatchContext, target: TargetSettings, frame: str, tally: _Tally
                 ) -> FrameGrid | None:
    """The grid a new series of the frame must be on: the frame metadata's height file
    (read from its header) when the archive publishes one, else None (the first product
    fixes it, as :func:`~monitor.io.licsar_frame.read_grid` does)."""
    archive = ctx.archives[target.archive]
    try:
        hgt = archive.fetch_metadata(frame, Path(ctx.settings.watch.cache_dir)).hgt_path
        return None if hgt is None else frame_state.header_grid(read_header(hgt))
    except (MonitorError, OSError) as exc:
        note = (f"target {target.id} frame {frame}: the frame's grid could not be read from "
                f"its metadata ({exc}); the first product fixes the series grid")
        log.warning(note)
        tally.notes.append(note)
        return None


def _check_header(ctx: WatchContext, fetched: FetchedProduct, sgrid: SeriesGrid | None,
                  where: str) -> RasterHeader:
    """Judge the fetched phase from its header before its pixels are decoded: on the
    series' frame grid, only the crop is decoded and the memory budget is judged on it
    when decoding; a product on another grid (or the first product of a series without a
    height file) is judged whole: a decompression bomb costs milliseconds here.

    Raises:
        RasterError: over the budget, or not readable.
        DatasetError: on another grid than the frame's (named by ``where``).
    """
    header = read_header(fetched.unw_path)
    if sgrid is not None and frame_state.on_grid(header.shape, header.transform, sgrid.frame):
        return header
    if sgrid is not None:
        check_budget(header, ctx.settings.rasters.max_bytes)
        _check_grid(fetched.unw_path, header.shape, header.transform, sgrid.frame, where)
    return header


def _check_grid(path: str, shape: tuple[int, int], transform: Affine | None, grid: FrameGrid,
                where: str) -> None:
    if not frame_state.on_grid(shape, transform, grid):
        raise DatasetError(f"{path}: grid {shape[0]} x {shape[1]} "
                           f"{tuple(transform or ())[:6]} differs from the series grid "
                           f"{grid.shape[0]} x {grid.shape[1]} {tuple(grid.transform)[:6]} "
                           f"({where})")


def _target_fits(target: TargetSettings, frame: str, fgrid: FrameGrid,
                 recorded: SeriesGrid | None, tally: _Tally) -> SeriesGrid | None:
    """The series grid of the target on the frame: the recorded one, or a new crop of
    ``fgrid`` (the whole frame) around the target (:mod:`monitor.science.crop`), when the
    target's disc and explicit references fit it; when they do not (the target outside
    the frame, a reference outside the crop), the configuration is at fault, not a
    product: the frame is blocked, no product is touched, None."""
    disc, discs = target_discs(target)
    name = f"target {target.id}"
    try:
        if recorded is None:
            window = crop_window(fgrid, target.lon, target.lat, target.crop_half_km, name)
            sgrid = SeriesGrid.cut(fgrid, window, target.crop_half_km)
        else:
            sgrid = recorded
        for k, ref in enumerate(discs or (), 1):
            if disc_outside_window(sgrid.frame, sgrid.window, ref):
                w = sgrid.window
                raise InputError(
                    f"{name}: reference {k} (disc {ref.lon},{ref.lat} radius "
                    f"{ref.radius_km:g} km) lies outside the crop of the frame (rows "
                    f"{w.row0}-{w.row0 + w.rows - 1}, cols {w.col0}-{w.col0 + w.cols - 1}, "
                    f"cut with crop_km {_km_text(sgrid.crop_km)}); raise crop_km and rebuild "
                    "the series (delete its series file), or move the reference closer")
        frame_regions(sgrid.grid, disc, discs, None, name)
        if discs is not None:
            series_reference(sgrid.grid, disc, discs, np.ones(sgrid.grid.shape, np.float32),
                             0.0, None, name)
    except InputError as exc:
        tally.failures.append(ProductFailureNote(frame, "configuration", "ingest", "other",
                                                 str(exc)))
        _block(target, frame, None, f"the target does not fit the frame: {exc}", tally)
        return None
    return sgrid


def _km_text(km: float | None) -> str:
    return "none (the whole frame)" if km is None else f"{km:g} km"


def _recorded_crop_note(target: TargetSettings, frame: str, sgrid: SeriesGrid,
                        tally: _Tally) -> None:
    """Warn when the configuration would now cut another crop than the series' recorded
    one (``crop_km`` or the target's place changed, or a series from before crops): the
    recorded crop is kept until the series is rebuilt."""
    try:
        wanted = crop_window(sgrid.frame, target.lon, target.lat, target.crop_half_km,
                             f"target {target.id}")
    except InputError:
        return  # the target left the frame: the disc check of the poll says so
    if wanted == sgrid.window:
        return
    w = sgrid.window
    note = (f"target {target.id} frame {frame}: the series was cut with crop_km "
            f"{_km_text(sgrid.crop_km)} (frame rows {w.row0}-{w.row0 + w.rows - 1}, cols "
            f"{w.col0}-{w.col0 + w.cols - 1}); the configuration now gives crop_km "
            f"{target.crop_half_km:g} km: the recorded crop is kept until the series is "
            "rebuilt (delete its series file to rebuild it from the archive)")
    log.warning(note, extra={"target": target.id, "frame": frame})
    tally.notes.append(note)


def _chain_length(work: list[Product], cursor: date | None) -> int:
    """Products the daisy chain will go through from ``cursor`` if none fails (the
    shortest pair from each date, as :func:`_next_link` takes them): the backfill's
    total."""
    shortest: dict[date, date] = {}
    for p in work:
        if cursor is None or p.date2 > cursor:
            shortest[p.date1] = min(shortest.get(p.date1, p.date2), p.date2)
    if not shortest:
        return 0
    at = cursor if cursor is not None else min(shortest)
    n = 0
    while at in shortest:
        n, at = n + 1, shortest[at]
    return n


def _score_again(ctx: WatchContext, target: TargetSettings, frame: str, grid: FrameGrid,
                 state: DaisyChainState, path: Path, now: datetime, tally: _Tally,
                 noise: NoiseHistory | None) -> None:
    """Crash recovery: score the state's last epoch, saved but not scored, with the
    increment kept in the series file (none in a file written before it was kept). A
    failure is reported and the frame goes on (the step is in the series already)."""
    try:
        increment = load_increment(path, state.cumulative_m.shape)
        scoring = _score_state(ctx, target, frame, grid, state, increment, noise)
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - one epoch's scoring must not wedge the target
        log.warning("target %s frame %s: epoch %s of the series cannot be scored: %s",
                    target.id, frame, state.last_epoch, exc)
        tally.failures.append(ProductFailureNote(frame, f"{state.last_epoch:%Y%m%d}",
                                                 "score", "other", str(exc)))
        if ctx.metrics is not None:
            ctx.metrics.product_failed(target.id, "other")
        return
    _record_scoring(ctx, target, frame, path, now, tally, scoring)


def _poll_frame(ctx: WatchContext, target: TargetSettings, frame: str, now: datetime,
                tally: _Tally, scored_epochs: set[date], progress: BackfillTracker) -> None:
    settings, store = ctx.settings, ctx.store
    archive = ctx.archives[target.archive]
    path = series_path(settings.watch.series_dir, target.id, frame)
    gpath = frame_state.grid_path(path)
    state = load_state(path)
    noise = None if state is None else load_noise(path, state.cumulative_m.shape)
    # Crash recovery: products the series already includes, and an unscored last epoch.
    _reconcile(ctx, target, frame, state, now, tally)
    sgrid = frame_state.load_series_grid(gpath) if state is not None else None
    grid = None if sgrid is None else sgrid.grid
    if sgrid is not None:
        _recorded_crop_note(target, frame, sgrid, tally)
    if state is not None and grid is not None and state.first_epoch not in {
            e.epoch for e in store.list_epochs(target.id)}:
        # Killed (or the database lost) after the new series' file was saved but before
        # its first epoch was recorded: record it now, as the first poll would have.
        _record_scoring(ctx, target, frame, path, now, tally, _score_state(
            ctx, target, frame, grid, start_daisy_chain(
                state.first_epoch, grid.shape, reference=state.reference_mask,
                coherence_threshold=state.coherence_threshold)))
    if state is not None and grid is not None and state.n_epochs > 1 \
            and state.last_epoch not in scored_epochs:
        _score_again(ctx, target, frame, grid, state, path, now, tally, noise)
    # Stage 1: list.
    try:
        refs = archive.list_products(frame, state.last_epoch if state else None)
    except MonitorError as exc:
        reason = failure_label(exc)
        log.warning("target %s frame %s: listing failed: %s", target.id, frame, exc,
                    extra={"target": target.id, "frame": frame})
        tally.failures.append(ProductFailureNote(frame, "listing", "list", reason, str(exc)))
        if ctx.metrics is not None:
            ctx.metrics.listing_failed(target.id, reason)
        return
    earlier: list[ProductRef] = []  # before the start: noise for the GLS filter's warm-up
    if state is None:  # a new series starts at the target's (or its archive's) start date
        refs, earlier = _from_start(ctx, target, frame, refs)
    due = store.record_listed_products(target.id, refs, now)
    tally.listed += len(refs)
    if state is None:  # a new (or rebuilt) series considers every listed product ...
        due = [store.get_product(target.id, r.frame, r.date1, r.date2) for r in refs]
        # ... but those set aside for what they hold.
        due = [p for p in due if p.status != ProductStatus.QUARANTINED.value]
    by_pair = {(r.date1, r.date2): r for r in refs}
    work = [p for p in due if p.frame == frame]
    cursor = state.last_epoch if state else None
    excluded: set[int] = set()
    cache_dir = Path(settings.watch.cache_dir)
    frame_files: FrameFiles | None = None  # the frame's archive files, read once a poll
    grid_source = str(gpath)
    if state is None and work:
        fgrid = _series_grid(ctx, target, frame, tally)
        grid_source = "the frame's metadata" if fgrid is not None else "the series' first product"
        if fgrid is not None:
            sgrid = _target_fits(target, frame, fgrid, None, tally)
            if sgrid is None:
                return
            grid = sgrid.grid
    elif sgrid is not None and work and _target_fits(target, frame, sgrid.frame, sgrid,
                                                     tally) is None:
        return
    progress.start(_chain_length(work, cursor))
    while (p := _next_link(work, cursor, excluded)) is not None:
        ref = by_pair[(p.date1, p.date2)]
        if not _due(p, now):  # failed earlier, its retry is not due: the chain waits
            tally.notes.append(f"target {target.id} frame {frame}: {_pair(p)} failed before, "
                               f"retry at {p.next_attempt_at}")
            return
        if excluded:
            note = (f"target {target.id} frame {frame}: {_pair(p)} "
                    + ("starts the series after the quarantined product(s)" if cursor is None
                       else f"bridges the quarantined product(s) at {cursor}"))
            log.warning(note)
            tally.notes.append(note)
        # Stage 2: fetch.
        try:
            fetched = archive.fetch(ref, cache_dir)
        except BrokenProduct as exc:  # what the archive holds is unusable: set aside
            _quarantine(ctx, target, p, "fetch", exc, now, tally)
            excluded.add(p.id)
            progress.step()
            continue
        except (MonitorError, OSError) as exc:  # the archive or the disk: try again later
            _fail(ctx, target, p, "fetch", exc, now, tally)
            return
        store.mark_product_fetched(p.id, fetched.sha256, now)
        tally.fetched += 1
        # Stage 3: ingest, in memory: header, decode, plausibility, append.
        where = grid_source
        try:
            header = _check_header(ctx, fetched, sgrid, where)
            psgrid = sgrid
            if psgrid is None:  # no height file: the first product fixes the frame grid
                psgrid = _target_fits(target, frame, frame_state.header_grid(header), None,
                                      tally)
                if psgrid is None:
                    return  # the configuration, not the product, is at fault
            # Only the crop's pixels are decoded (and judged against the memory budget).
            decoded = archive.decode(fetched, settings.rasters.max_pixels,
                                     window=psgrid.window)
            pgrid = frame_grid(Raster(decoded.displacement_m, decoded.crs, decoded.transform,
                                      decoded.source))
            _check_grid(decoded.source, pgrid.shape, pgrid.transform, psgrid.grid, where)
            pgrid = psgrid.grid
            coherence = decoded.coherence
            problem = displacement_problem(
                decoded.displacement_m, coherence,
                coherence_threshold=settings.science.coherence_threshold,
                min_valid_fraction=settings.rasters.min_valid_fraction)
            if problem is not None:
                raise DatasetError(f"{decoded.source}: {problem}")
            if state is None:
                reference = _new_series_reference(ctx, target, frame, pgrid, coherence,
                                                  tally)
                new = start_daisy_chain(p.date1, pgrid.shape, reference=reference,
                                        coherence_threshold=settings.science.coherence_threshold)
            else:
                new = state
            new, step = append_step(new, Interferogram(p.date1, p.date2,
                                                       decoded.displacement_m, coherence))
            increment = step.astype(np.float64)
        except MonitorError as exc:
            _quarantine(ctx, target, p, "ingest", exc, now, tally)
            excluded.add(p.id)
            progress.step()
            continue
        except OSError as exc:  # reading the cache failed: try again later
            _fail(ctx, target, p, "ingest", exc, now, tally)
            return
        # Stage 4: score, in memory, before anything of the step is written.
        try:
            first = None if state is not None else _score_state(
                ctx, target, frame, pgrid, start_daisy_chain(
                    p.date1, pgrid.shape, reference=new.reference_mask,
                    coherence_threshold=new.coherence_threshold))
            if noise is None:  # a new series, or one from before the filter
                noise = new_noise_history(pgrid, target_discs(target)[0])
                if noise is not None and state is None and earlier \
                        and settings.gls_borrow(target) > 0:
                    noise = _borrow(ctx, target, frame, earlier, p.date1, psgrid, new,
                                    noise, tally)
            if frame_files is None or frame_files.grid is not pgrid:
                frame_files = FrameFiles(archive, frame, pgrid, cache_dir)
            scoring = _score_state(ctx, target, frame, pgrid, new, increment, noise,
                                   frame_files)
        except ExecutorError as exc:  # the task could not run (not the product's fault)
            _fail(ctx, target, p, "score", exc, now, tally)
            return
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - a product whose scoring fails is set aside
            _quarantine(ctx, target, p, "score", exc, now, tally)
            excluded.add(p.id)
            progress.step()
            continue
        # Written in the crash-safe order: series file -> product ingested -> epoch -> score.
        if sgrid is None:  # no height file: the first product fixes the series grid
            sgrid, grid = psgrid, psgrid.grid
        try:
            if state is None:
                frame_state.save_grid(gpath, sgrid)
            save_state(path, new, scoring.noise, increment)
        except OSError as exc:  # the disk under the series (full): try again later
            _fail(ctx, target, p, "ingest", exc, now, tally, reason="other")
            return
        if first is not None:
            _record_scoring(ctx, target, frame, path, now, tally, first)
        state, cursor, noise = new, new.last_epoch, scoring.noise
        store.mark_product_ingested(p.id, now)
        tally.ingested += 1
        progress.step()
        if ctx.metrics is not None:
            ctx.metrics.product_ingested(target.id)
        try:
            _record_scoring(ctx, target, frame, path, now, tally, scoring)
        except OSError as exc:  # the quicklook maps could not be written: scored next poll
            log.warning("target %s frame %s: epoch %s not recorded (%s); scored again at "
                        "the next poll", target.id, frame, state.last_epoch, exc)
            tally.failures.append(ProductFailureNote(frame, _pair(p), "score", "other",
                                                     str(exc)))
            return
    blocking = _blocking_product(ctx, target, frame, cursor)
    if blocking is not None:
        _block(target, frame, cursor,
               f"product {blocking.id} ({_pair(blocking)}) is quarantined and no other "
               f"listed pair starts at {cursor or 'the series start'}: {blocking.last_error}",
               tally)
    elif (waiting := _waiting_note(work, cursor, excluded)) is not None:
        tally.notes.append(f"target {target.id} frame {frame}: {waiting}")
        log.info("target %s frame %s: %s", target.id, frame, waiting)
    _reconcile(ctx, target, frame, state, now, tally)


def _borrow(ctx: WatchContext, target: TargetSettings, frame: str,
            earlier: list[ProductRef], first: date, sgrid: SeriesGrid,
            chain: DaisyChainState, noise: NoiseHistory, tally: _Tally) -> NoiseHistory:
    """The new series' noise history begun with the archive's products before its start
    (:mod:`monitor.service.noise_warmup`), and a note of what was left out."""
    borrowed = borrow_noise(ctx.archives[target.archive], earlier, first, sgrid, chain,
                            noise, cache_dir=Path(ctx.settings.watch.cache_dir),
                            max_pixels=ctx.settings.rasters.max_pixels,
                            min_valid_fraction=ctx.settings.rasters.min_valid_fraction,
                            n=ctx.settings.gls_borrow(target))
    fields = {"target": target.id, "frame": frame}
    if borrowed.used:
        log.info("target %s frame %s: the GLS filter's noise history begins with %d "
                 "product(s) before the series start (%s to %s)", target.id, frame,
                 len(borrowed.used), borrowed.used[0], borrowed.used[-1], extra=fields)
    if borrowed.left_out:
        note = (f"target {target.id} frame {frame}: product(s) before the series start left "
                f"out of the GLS filter's noise history: " + "; ".join(borrowed.left_out))
        log.warning(note, extra=fields)
        tally.notes.append(note)
    return borrowed.history


def _new_series_reference(ctx: WatchContext, target: TargetSettings, frame: str,
                          grid: FrameGrid, coherence: NDArray[np.float32], tally: _Tally
                          ) -> NDArray[np.bool_]:
    """The reference of a new series (:func:`~monitor.service.scoring.series_reference`),
    placed on the first product's coherence and the frame's DEM when the archive has one."""
    dem = None
    disc, discs = target_discs(target)
    if discs is None:
        dem, why = FrameFiles(ctx.archives[target.archive], frame, grid,
                              Path(ctx.settings.watch.cache_dir)).dem_if_any()
        if why is not None:
            log.info("target %s frame %s: references placed without a DEM: %s", target.id,
                     frame, why)
    union, placement = series_reference(grid, disc, discs, coherence,
                                        ctx.settings.science.coherence_threshold, dem,
                                        f"target {target.id}")
    for note in () if placement is None else placement.notes:
        message = f"target {target.id} frame {frame}: references: {note}"
        log.info(message)
        tally.notes.append(message)
    return union


def _queue(ctx: WatchContext, target: TargetSettings, alert_id: int, now: datetime,
           cleared: bool) -> int:
    """Queue an alert's deliveries: one e-mail per recipient, one POST per webhook that
    wants it (its targets; for a clear, ``notify_cleared``); returns the new ones."""
    store, queued = ctx.store, 0
    if target.recipients:
        queued += len(store.queue_deliveries(alert_id, list(target.recipients), now))
    hooks = ctx.settings.webhooks_for(target.id, cleared=cleared)
    if hooks:
        queued += len(store.queue_deliveries(alert_id, hooks, now, channel="webhook"))
    return queued


def _alert_stage(ctx: WatchContext, target: TargetSettings, now: datetime,
                 tally: _Tally) -> tuple[int, int, int, dict[date, AlertLevel]]:
    """Stage 5: policy over every stored score; alerts (raised and cleared), quicklooks and
    deliveries. Returns (alerts raised, alerts cleared, deliveries queued, levels)."""
    store, settings = ctx.store, _alert_settings(ctx, target)
    scores = store.latest_scores(target.id, POLICY_HISTORY)
    steps = evaluate([policy_input(s) for s in scores], settings)
    by_epoch = {s.epoch: s for s in scores}
    levels = {s.epoch: s.level for s in steps}
    raised = cleared = queued = 0
    previous = AlertLevel.NONE
    for s in steps:
        before, previous = previous, s.level
        if s.cleared:
            message = (f"{target.name} ({target.id}): level {before.name.lower()} cleared at "
                       f"epoch {s.epoch}: {s.reason}; {by_epoch[s.epoch].decision_note}")
            alert = store.raise_alert(target.id, s.epoch, ALERT_KIND_CLEARED,
                                      AlertLevel.NONE, message, now)
            if alert is None:  # cleared in an earlier poll; deliveries queued again if lost
                alert = next(a for a in store.list_alerts(target.id)
                             if a.epoch == s.epoch and a.kind == ALERT_KIND_CLEARED)
            else:
                cleared += 1
                log.warning("%s", message)
            queued += _queue(ctx, target, alert.id, now, cleared=True)
            continue
        if s.raised is None:
            continue
        message = (f"{target.name} ({target.id}): level {s.raised.name.lower()} at epoch "
                   f"{s.epoch}: {s.reason}; {by_epoch[s.epoch].decision_note}")
        alert = store.raise_alert(target.id, s.epoch, ALERT_KIND, s.raised, message, now)
        if alert is None:  # raised by an earlier poll; deliveries are queued again if lost
            alert = next(a for a in store.list_alerts(target.id)
                         if a.epoch == s.epoch and a.kind == ALERT_KIND)
        else:
            raised += 1
            log.warning("%s", message, extra={"target": target.id, "epoch": s.epoch,
                                              "alert_level": s.raised, "alert_id": alert.id})
            if ctx.metrics is not None:
                ctx.metrics.alert_raised(target.id, s.raised.name.lower())
        _write_quicklook(ctx, target, s.epoch, s.raised, scores, tally)
        queued += _queue(ctx, target, alert.id, now, cleared=False)
    # The maps of decided steps are no longer needed: no alert at that epoch, or its PNG.
    raised_at = {s.epoch for s in steps if s.raised is not None}
    for epoch in saved_epochs(ctx.settings.watch.series_dir, target.id):
        if epoch in levels and (epoch not in raised_at or quicklook_path(
                ctx.settings, target.id, epoch).exists()):
            discard_maps(maps_path(ctx.settings.watch.series_dir, target.id, epoch))
    return raised, cleared, queued, levels


def _write_quicklook(ctx: WatchContext, target: TargetSettings, epoch: date,
                     level: AlertLevel, scores: list[Score], tally: _Tally) -> None:
    path = quicklook_path(ctx.settings, target.id, epoch)
    if path.exists():
        return
    maps = tally.maps.get(epoch) or load_maps(maps_path(ctx.settings.watch.series_dir,
                                                        target.id, epoch))
    if maps is None:
        log.warning("target %s epoch %s: the maps of this alert's quicklook are gone; its "
                    "e-mail goes out without the picture", target.id, epoch)
        return
    image, prob, tmask = maps
    history = [s for s in scores if s.epoch <= epoch]
    png = alert_quicklook_png(
        image, prob, tmask, epochs=[s.epoch for s in history],
        p_history=[np.nan if s.decision_p_fused is None else s.decision_p_fused
                   for s in history],
        lstt_p_history=[np.nan if s.decision_lstt_p is None else s.decision_lstt_p
                        for s in history],
        title=f"{target.name} ({target.id}) {epoch} {level.name.lower()}",
        lstt_alpha=_alert_settings(ctx, target).lstt_alpha)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, fsync=True) as f:
        f.write(png)


def poll_target(ctx: WatchContext, target: TargetSettings, now: datetime) -> PollReport:
    """One poll of one target: stages 1-5 of the module docstring.

    Args:
        ctx: The context (settings, store, archives, model, metrics).
        target: The target's settings.
        now: The time of the poll, timezone-aware UTC (recorded on every row).

    Returns:
        What was done. Product and listing failures are in ``failures``, frames that
        cannot go on in ``blocked``; they do not raise. One product never stops the
        poll: what it holds sets it aside (quarantined), what may pass (the archive, the
        disk) makes its frame wait for the retry; the alert stage runs in every case.

    Raises:
        InputError: naive ``now``, or the target's archive is not in ``ctx.archives``.
        StoreError: the database failed.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InputError(f"now={now!r} is naive; pass a timezone-aware UTC datetime")
    if target.archive not in ctx.archives:
        raise InputError(f"target {target.id}: archive {target.archive!r} is not among the "
                         f"context's archives {sorted(ctx.archives)}")
    t0 = time.perf_counter()
    ctx.store.upsert_target(target.id, target.name, target.lon, target.lat, target.radius_km,
                            now)
    tally = _Tally()
    # Epochs needing no more work: scored, or recorded without a valid target pixel.
    scored_epochs = {s.epoch for s in ctx.store.latest_scores(target.id, POLICY_HISTORY)} | {
        e.epoch for e in ctx.store.list_epochs(target.id) if e.cum_max_m is None}
    for frame in target.frames:
        progress = BackfillTracker(target.id, frame, ctx.metrics, ctx.progress)
        try:
            _poll_frame(ctx, target, frame, now, tally, scored_epochs, progress)
        finally:
            progress.finish()
    raised, cleared, queued, levels = _alert_stage(ctx, target, now, tally)
    epochs = tuple(sorted(
        (replace(e, level=levels.get(e.epoch, AlertLevel.NONE)) for e in tally.epochs),
        key=lambda e: e.epoch))
    if ctx.metrics is not None:
        # Where the target stands, read back from the store: the same function of the
        # database as at the daemon's start (monitor.service.metrics_restore).
        export_target(ctx.metrics, ctx.store, ctx.settings, target)
        ctx.metrics.observe_poll(target.id, time.perf_counter() - t0,
                                 finished_at=None if tally.failures or tally.blocked
                                 else now,
                                 attempted_at=now)
        ctx.metrics.set_frames_blocked(target.id, len(tally.blocked))
    return PollReport(target.id, tally.listed, tally.fetched, tally.ingested,
                      tally.reconciled, tally.scored, raised, queued, epochs,
                      tuple(tally.failures), tuple(tally.notes), alerts_cleared=cleared,
                      quarantined=tally.quarantined, blocked=tuple(tally.blocked))
