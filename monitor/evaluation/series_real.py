"""``evaluate series --archive``: the alert policy over a real frame with known events.

The frame is read and scored exactly as ``scan-series`` scores it
(:mod:`monitor.service.series_scan`: the watch's references, cumulative series, CNN,
LSTT, second look from the archive's files, bell amplitude and step), and the alert
policy (:func:`monitor.notify.policy.evaluate`) is run over the scored epochs. Nothing here
prints; the ``evaluate series`` command does.

Rules, in order:

1. **Events.** ``events`` are inclusive date windows (``START:END``). An epoch is *in* a
   window when the interval from the previous listed acquisition to it shares time with
   the window (:func:`monitor.event_windows.overlaps`): the window's first day is the
   last quiet acquisition (``2017-01-11:...`` for the Erta Ale dyke first seen on
   2017-02-04). A window in which no acquisition of the frame falls is refused.
2. **Quiet time.** The scored epochs in no window; each covers the time since the
   previous listed acquisition. Their sum, in years, is the frame's volcano-years.
   Alerts at those epochs are false alerts (after an event window too: the time-series
   rule is meant to know an episode once alerted).
3. **Delay.** For each window, from its first acquisition to the first alert at an epoch
   in the window: days, and acquisitions (0: the first acquisition).
4. **Policies.** The configured ``[alerts]`` (the defaults without ``--config``: the
   operating point); the single-map rule alone (time-series rule and fast path off,
   :func:`~monitor.evaluation.series_policy.single_map_only`), the plain baseline; and
   the sweep of ``trend_z_watch`` (:func:`~monitor.evaluation.series_policy.sweep_settings`).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from monitor import __version__
from monitor.config import AlertSettings, load_settings
from monitor.errors import InputError
from monitor.evaluation.series_defaults import DEFAULT_Z_SWEEP
from monitor.evaluation.series_policy import (
    alert_record,
    rate,
    single_map_only,
    sweep_settings,
)
from monitor.event_windows import Window, overlaps
from monitor.notify.policy import PolicyStep, StepScore, evaluate

if TYPE_CHECKING:
    from monitor.service.series_scan import PreparedSeries
from monitor.science.grids import GroundDisc
from monitor.science.lstt_defaults import DEFAULT_PERMUTATIONS
from monitor.science.trend import series_noise
from monitor.series_defaults import NETWORKS

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True, kw_only=True)
class RealSeriesOptions:
    """``evaluate series --archive``: one real frame and its events.

    Attributes:
        archive: LiCSAR-layout archive directory.
        frame: Frame id.
        target: The target disc.
        references: Explicit reference discs, or None for the watch's automatic ones.
        events: Event windows, inclusive dates.
        network: ``auto``, ``daisy`` or ``sbas``.
        second_look: Give qualifying epochs the watch's second look.
        z_sweep: Thresholds of the time-series rule for the sweep, sigma.
        model: Model file, or None for the packaged weights of ``arch``.
        arch: Architecture of the packaged weights (or checked against ``model``).
        device: ``auto``, ``cpu`` or ``cuda``.
        threads: Torch CPU threads, or None.
        config: TOML configuration, or None.
        permutations: LSTT permutations.
        seed: LSTT seed.
    """

    archive: str
    frame: str
    target: GroundDisc
    references: tuple[GroundDisc, ...] | None = None
    events: tuple[Window, ...] = ()
    network: str = "auto"
    second_look: bool = True
    z_sweep: tuple[float, ...] = DEFAULT_Z_SWEEP
    model: str | None = None
    arch: str | None = None
    device: str = "cpu"
    threads: int | None = None
    config: str | None = None
    permutations: int = DEFAULT_PERMUTATIONS
    seed: int = 0


@dataclass(frozen=True)
class ScoredFrame:
    """A real frame scored epoch by epoch.

    Attributes:
        listed: Every listed acquisition, ascending.
        records: Per listed epoch, the ``scan-series`` fields kept (JSON-ready).
        scores: What the policy reads of the scored epochs, in order.
        skipped: Products left out, ``(pair, message)``.
        model: The model's path, arch and sha256.
        references: One line per reference region.
    """

    listed: tuple[date, ...]
    records: tuple[dict[str, Any], ...]
    scores: tuple[StepScore, ...]
    skipped: tuple[tuple[str, str], ...]
    model: dict[str, Any]
    references: tuple[str, ...]


def window_epochs(listed: tuple[date, ...], window: Window) -> list[date]:
    """The listed acquisitions in ``window`` (rule 1), ascending."""
    return [e for prev, e in zip(listed, listed[1:], strict=False)
            if overlaps((prev, e), (window,))]


def check_events(listed: tuple[date, ...], events: tuple[Window, ...], frame: str) -> None:
    """Refuse a window in which no acquisition of the frame falls (rule 1).

    Raises:
        InputError: naming ``--events``, the window and the frame's span.
    """
    for start, end in events:
        if not window_epochs(listed, (start, end)):
            raise InputError(
                f"--events: window {start.isoformat()}:{end.isoformat()} holds no "
                f"acquisition of frame {frame} after its first day (acquisitions "
                f"{listed[0].isoformat()} to {listed[-1].isoformat()}); give windows within "
                "the archive")


def score_frame(opts: RealSeriesOptions) -> ScoredFrame:
    """Read and score the frame as ``scan-series`` does (its ``run``, without printing).

    Raises:
        InputError: bad options, a target or reference outside the frame, an event window
            outside the archive.
        DatasetError: the archive or frame cannot be read.
        ModelError: the model cannot be loaded.
    """
    return score_frame_series(opts)[0]


def score_frame_series(opts: RealSeriesOptions) -> tuple[ScoredFrame, PreparedSeries]:
    """:func:`score_frame`, and the cumulative series it scored (for measurements that
    read the maps themselves, e.g. ``bench/bench_series_bound.py --policy``).

    Raises:
        InputError: bad options, a target or reference outside the frame, an event window
            outside the archive.
        DatasetError: the archive or frame cannot be read.
        ModelError: the model cannot be loaded.
    """
    from monitor.archive import LocalArchive
    from monitor.compute_device import resolve_device, set_threads
    from monitor.evaluation.series import model_record
    from monitor.io.licsar_frame import open_frame, read_frame, read_grid
    from monitor.io.models import load_scoring_model
    from monitor.service.correction import FrameFiles
    from monitor.service.scoring import detector_for, scoring_params
    from monitor.service.series_scan import prepare_series, score_series_epoch

    if opts.network not in NETWORKS:
        raise InputError(f"--network must be one of {', '.join(NETWORKS)}, got "
                         f"{opts.network!r}")
    if opts.permutations < 1:
        raise InputError(f"--permutations must be at least 1, got {opts.permutations}")
    settings = load_settings(opts.config)
    sweep_settings(settings.alerts, opts.z_sweep)  # refuses a bad sweep before scoring
    layout = open_frame(opts.archive, opts.frame)
    listed = tuple(sorted({d for pair in layout.pairs() for d in pair}))
    check_events(listed, opts.events, opts.frame)
    params = scoring_params(settings, lstt_seed=opts.seed,
                            lstt_permutations=opts.permutations)
    set_threads(opts.threads)
    loaded = load_scoring_model(opts.model, opts.arch, settings.science.detector,
                                resolve_device(opts.device))
    max_pixels = settings.rasters.max_pixels
    grid, _ = read_grid(layout, max_pixels)
    grid.disc_mask(opts.target, "--target")
    for disc in opts.references or ():
        grid.disc_mask(disc, "--references")
    threshold = settings.science.coherence_threshold
    products = read_frame(layout, grid, None, coherence_threshold=threshold,
                          max_pixels=max_pixels)
    with tempfile.TemporaryDirectory(prefix="evaluate-series-") as cache:
        files = FrameFiles(LocalArchive(str(opts.archive)), opts.frame, grid, Path(cache))
        dem = files.dem_if_any()[0]  # places references, and the GLS filter's nuisance
        prepared = prepare_series(products, opts.target, opts.references,
                                  network=opts.network, coherence_threshold=threshold,
                                  dem=dem)
        detector = detector_for(loaded, params, grid.pixel_m, dem)
        look = files if opts.second_look else None
        records, scores = [], []
        for epoch in products.listed_epochs:
            item = score_series_epoch(prepared, epoch, detector, params, settings=settings,
                                      files=look)
            record = item.record(settings.alerts, settings.science.flag_threshold)
            records.append({k: record[k] for k in (
                "epoch", "relative_to", "scored", "note", "p_fused", "lstt_p", "level",
                "correction_method", "bell_m", "step_m", "step_lstt_p", "gls_p")})
            if item.scored:
                scores.append(item.policy_input())
    skipped = tuple((f"{f.pair[0]:%Y%m%d}_{f.pair[1]:%Y%m%d}", f.message)
                    for f in products.failures)
    return ScoredFrame(products.listed_epochs, tuple(records), tuple(scores), skipped,
                       model_record(opts.model, loaded),
                       tuple(prepared.describe_references())), prepared


def _in_event(epoch: date, previous: dict[date, date], events: tuple[Window, ...]
              ) -> bool:
    prev = previous.get(epoch)
    return prev is not None and overlaps((prev, epoch), events)


def policy_summary(frame: ScoredFrame, alerts: AlertSettings, events: tuple[Window, ...]
                   ) -> tuple[dict[str, Any], list[PolicyStep]]:
    """Rules 2-3 for one policy: its alerts, false alerts per quiet year, event delays."""
    steps = evaluate(frame.scores, alerts)
    previous = dict(zip(frame.listed[1:], frame.listed, strict=False))
    quiet_days = sum((s.epoch - previous[s.epoch]).days for s in frame.scores
                     if s.epoch in previous and not _in_event(s.epoch, previous, events))
    raised = [s for s in steps if s.raised is not None]
    outside = [s for s in raised if not _in_event(s.epoch, previous, events)]
    delays = []
    for window in events:
        inside = window_epochs(frame.listed, window)
        hit = next((s for s in raised if s.epoch in inside), None)
        delays.append({
            "window": [window[0].isoformat(), window[1].isoformat()],
            "first_acquisition": inside[0].isoformat(),
            "alert": None if hit is None else alert_record(hit),
            "delay_days": None if hit is None else (hit.epoch - inside[0]).days,
            "delay_acquisitions": None if hit is None else inside.index(hit.epoch),
            "alerts_in_window": sum(s.epoch in inside for s in raised)})
    return {"alerts": [{**alert_record(s), "in_event": _in_event(s.epoch, previous, events)}
                       for s in raised],
            "false_alerts": rate(len(outside), quiet_days / DAYS_PER_YEAR),
            "events": delays}, steps


def evaluate_real_series(opts: RealSeriesOptions) -> dict[str, Any]:
    """Score the frame and run the policies of rule 4; the report, JSON-ready."""
    start = time.perf_counter()
    frame = score_frame(opts)
    settings = load_settings(opts.config)
    base = settings.alerts
    operating, steps = policy_summary(frame, base, opts.events)
    baseline, _ = policy_summary(frame, single_map_only(base), opts.events)
    sweep = []
    for z, alerts in sweep_settings(base, opts.z_sweep):
        point, _ = policy_summary(frame, alerts, opts.events)
        sweep.append({"z_watch": z, "z_warning": alerts.trend_z_warning,
                      "operating_point": alerts is base,
                      "false_alerts": point["false_alerts"], "events": point["events"]})
    previous = dict(zip(frame.listed[1:], frame.listed, strict=False))
    quiet = [s for s in frame.scores if not _in_event(s.epoch, previous, opts.events)]
    bells = np.array([s.bell_m for s in quiet if s.bell_m is not None])
    step_sizes = np.array([s.step_m for s in quiet if s.step_m is not None])
    decisions = {s.epoch: s for s in steps}
    records = []
    for rec in frame.records:
        d = decisions.get(date.fromisoformat(rec["epoch"]))
        records.append({**rec, "in_event": _in_event(date.fromisoformat(rec["epoch"]),
                                                      previous, opts.events),
                        "policy": None if d is None else {
                            "level": d.level.name.lower(),
                            "alert": None if d.raised is None else d.raised.name.lower(),
                            "trend_z": None if d.change is None else d.change.z,
                            "reason": d.reason}})
    return {
        "kind": "series-real", "code_version": __version__, "archive": Path(opts.archive).name,
        "frame": opts.frame,
        "target": {"lon": opts.target.lon, "lat": opts.target.lat,
                   "radius_km": opts.target.radius_km},
        "references": list(frame.references),
        "events": [[a.isoformat(), b.isoformat()] for a, b in opts.events],
        "options": {"network": opts.network, "second_look": opts.second_look,
                    "permutations": opts.permutations, "seed": opts.seed,
                    "config": opts.config, "z_sweep": list(opts.z_sweep)},
        "model": frame.model, "alerts_settings": base.model_dump(),
        "counts": {"listed": len(frame.listed), "scored": len(frame.scores),
                   "skipped": len(frame.skipped),
                   "quiet_scored": len(quiet)},
        "span": [frame.listed[0].isoformat(), frame.listed[-1].isoformat()],
        "skipped": [list(s) for s in frame.skipped],
        "quiet_signal": {
            "bell_noise_m": series_noise(bells) if bells.size > 2 else None,
            "step_m_median": float(np.median(step_sizes)) if step_sizes.size else None,
            "step_m_max": float(np.max(step_sizes)) if step_sizes.size else None},
        "operating_point": operating,
        "single_map_rule": baseline,
        "sweep": sweep,
        "seconds": time.perf_counter() - start,
        "epochs": records,
    }
