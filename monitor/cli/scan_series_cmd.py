"""``insar-monitor scan-series ARCHIVE_DIR --frame FRAME --target LON,LAT[,RADIUS_KM]``.

Builds the cumulative LOS series of a LiCSAR-layout frame and scores every epoch exactly
as the watch (``poll``) scores it: the same reference regions, detector (``[science]
detector``: the block detector on each epoch's newest increment, or the CNN on its
cumulative map), LSTT, second look (the CNN's) and alert rule
(:mod:`monitor.service.series_scan`). One result per epoch, in date order, printed as
soon as it is scored:

``--json``: one JSON object per line with ``epoch``, ``relative_to`` (the epoch the
cumulative displacement is counted from: the first one, or the first after a network
gap), ``scored`` and ``note`` (why an epoch was not scored), ``cum_max_m`` (largest
|cumulative displacement| in the target disc, metres), ``n_valid`` (valid target
pixels), ``support_min`` (fewest interferograms behind a target value), ``p_fused`` and
``p_by_gain`` (the detector's probabilities, maxima within the target disc; no gains for
the block detector), ``p_fused_frame`` (maximum over the frame), ``flag`` (``p_fused >
threshold``, config ``science.flag_threshold``), ``threshold``, ``level`` (the alert
level the epoch qualifies for under ``[alerts]``, before the policy's hysteresis),
``lstt_p`` and ``lstt_pe`` (LSTT against the pooled reference regions, p-value from an
empirical null of windows of the same map), ``lstt_reject`` (``lstt_p <=
alerts.lstt_alpha``), ``lstt_alpha``, ``lstt_spacing_px``, ``lstt_error``, ``peak_lon``,
``peak_lat``, and provenance: ``frame``, ``series_method``, ``model`` (path, arch,
sha256), ``seed``, ``code_version``; ``bell_m`` and ``step_m`` (what the time-series
rule reads of the epoch: the bell amplitude of its map and the step of its newest
interferogram, :mod:`monitor.science.series_signal`); ``gls_p``, ``gls_t``,
``gls_threshold``, ``gls_history``, ``gls_level_dates`` and ``gls_source_m`` (the
judgement of the segment's GLS Mogi filter, from the increments before the epoch, of the
cumulative map less the level of the segment's first dates, null during its warm-up of
20 increments, which ``--start`` borrows from the products before it as the watch does
for a target with a ``start``: :mod:`monitor.science.detect.series_gls`; with ``[alerts]
confirm = "gls"`` the level reads the smaller of ``p_fused`` and ``gls_p``) and
``policy``: the watch's alert policy run over the scored epochs so far, as ``poll`` runs
it (``level`` after the epoch, ``qualifies``, ``alert`` raised at this epoch or null,
``new_episode``, ``fast``, ``trend_z`` and ``change`` of the time-series rule,
``reason``).

With the CNN, a step whose raw scores qualify for an alert level gets the watch's second
look (the archive's GACOS/ICAMS delays, then the phase-elevation fit over the DEM;
``[correction]`` settings; ``--no-second-look`` or ``enabled = false`` turns it off):
the scores above are then the corrected map's, ``p_fused_raw`` and ``lstt_p_raw`` keep
the raw ones, ``correction_method`` says which source decided (or ``none``, with
``correction.reason``) and ``correction`` what it did. All null when no second look was
made.

A product that cannot be read is skipped: one error line on stderr names its file, the
series is built without it (split at the gap it leaves, nothing invented), every epoch is
still printed, and the exit status is then that error's code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from monitor import __version__
from monitor.cli.detector_options import (
    date_arg,
    gains_arg,
    load_scoring_model,
    resolve_device,
    set_threads,
)
from monitor.cli.help_text import description_from
from monitor.errors import InputError
from monitor.science.detect.names import ARCHITECTURE_NAMES as ARCHITECTURES
from monitor.science.lstt_defaults import DEFAULT_PERMUTATIONS
from monitor.series_defaults import DEFAULT_TARGET_RADIUS_KM, NETWORKS

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.io.models import ScoringModel
    from monitor.notify.policy import PolicyStep
    from monitor.science.grids import GroundDisc
    from monitor.service.series_scan import PreparedSeries, SeriesEpoch


def _numbers(text: str, option: str, counts: tuple[int, ...], form: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        vals = []
    if len(vals) not in counts or not all(math.isfinite(v) for v in vals):
        raise InputError(f"{option} {text!r}: expected {form} (decimal degrees and km), "
                         "e.g. 120.99,14.0,3")
    return vals


def _disc(vals: list[float], text: str, option: str,
          default_radius_km: float = DEFAULT_TARGET_RADIUS_KM) -> GroundDisc:
    from monitor.science.grids import GroundDisc
    lon, lat = vals[0], vals[1]
    radius = vals[2] if len(vals) == 3 else default_radius_km
    if not -180.0 <= lon <= 360.0 or not -90.0 <= lat <= 90.0:
        raise InputError(f"{option} {text!r}: longitude must lie in [-180, 360] and latitude "
                         f"in [-90, 90], got lon {lon}, lat {lat}")
    if not radius > 0:
        raise InputError(f"{option} {text!r}: the radius must be a positive number of km, "
                         f"got {radius}")
    return GroundDisc(lon, lat, radius)


def parse_target(text: str) -> GroundDisc:
    """``"LON,LAT[,RADIUS_KM]"`` -> :class:`GroundDisc` (``--target``)."""
    vals = _numbers(text, "--target", (2, 3), "LON,LAT or LON,LAT,RADIUS_KM")
    return _disc(vals, text, "--target")


def parse_references(text: str) -> tuple[GroundDisc, ...] | None:
    """``"auto"`` -> None; ``"LON,LAT,RADIUS_KM;..."`` -> discs (``--references``)."""
    if text.strip().lower() == "auto":
        return None
    items = [t for t in text.split(";") if t.strip()]
    if not items:
        raise InputError(f"--references {text!r}: expected auto or "
                         "LON,LAT,RADIUS_KM;LON,LAT,RADIUS_KM...")
    return tuple(_disc(_numbers(t, "--references", (3,), "LON,LAT,RADIUS_KM"), t,
                       "--references") for t in items)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scan-series`` subcommand."""
    parser = subparsers.add_parser(
        "scan-series",
        help="build a LiCSAR frame's cumulative series and score every epoch (detector + "
             "LSTT)",
        description=description_from(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("archive", metavar="ARCHIVE_DIR", help="root of the LiCSAR layout")
    parser.add_argument("--frame", required=True, help="LiCSAR frame id, e.g. 022D_04826_121209")
    parser.add_argument("--target", required=True, metavar="LON,LAT[,RADIUS_KM]",
                        help="target disc centre (degrees) and radius (km, default 3); "
                             "write --target=-70.5,-20.1 when the longitude is negative")
    parser.add_argument("--references", default="auto", metavar="auto|LON,LAT,RADIUS_KM;...",
                        help="stable reference regions (default: chosen automatically)")
    parser.add_argument("--network", default="auto", choices=sorted(NETWORKS),
                        help="series inversion: daisy chain, SBAS, or auto (by the network)")
    parser.add_argument("--start", type=date_arg, default=None, metavar="YYYY-MM-DD",
                        help="the series starts at the first product on or after this date, "
                             "as a watched target's start; up to 30 products before it begin "
                             "the GLS filter's noise history, as the watch borrows them "
                             "(default: the frame's whole history)")
    parser.add_argument("--gains", type=gains_arg, default=None,
                        help="wrap gains (default science.gains: 1,2,4,8)")
    parser.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS,
                        help="LSTT permutations (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="LSTT random seed (default 0)")
    parser.add_argument("--model", default=None, help="model file (default: packaged weights)")
    parser.add_argument("--arch", default=None, choices=sorted(ARCHITECTURES),
                        help="architecture: picks the packaged weights, or is checked "
                             "against --model")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--no-second-look", action="store_true",
                        help="score qualifying epochs as they are (no atmospheric correction)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--config", help="TOML configuration (science and rasters sections)")
    parser.set_defaults(func=run)


def epoch_record(item: SeriesEpoch, prepared: PreparedSeries, loaded: ScoringModel,
                 seed: int, settings: Settings) -> dict[str, Any]:
    """The JSON object printed for one epoch (module docstring)."""
    return {**item.record(settings.alerts, settings.science.flag_threshold),
            "frame": prepared.products.layout.frame,
            "series_method": prepared.series.method,
            "model": {"path": loaded.path, "arch": loaded.arch, "sha256": loaded.sha256},
            "seed": seed, "code_version": __version__}


def policy_record(decision: PolicyStep) -> dict[str, Any]:
    """The alert policy's answer for one epoch, as printed (``policy`` of each record)."""
    change = decision.change
    return {"level": decision.level.name.lower(),
            "qualifies": decision.qualifies.name.lower(),
            "alert": None if decision.raised is None else decision.raised.name.lower(),
            "new_episode": decision.new_episode, "fast": decision.fast,
            "trend_z": None if change is None else change.z,
            "change": None if change is None else change.record(),
            "reason": decision.reason}


def _text_line(item: SeriesEpoch, record: dict[str, Any]) -> str:
    head = f"{item.epoch.isoformat()}"
    if not item.scored:
        cum = "" if item.cum_max_m is None else f" cum_max {1000 * item.cum_max_m:.1f} mm,"
        return f"{head}: not scored:{cum} {item.note}"
    verdict = "FLAG" if record["flag"] else "ok"
    gains = ", ".join(f"mu={g}: {p:.3f}" for g, p in (record["p_by_gain"] or {}).items())
    if record["lstt_p"] is None:
        lstt = f"LSTT not run ({record['lstt_error']})"
    else:
        lstt = (f"LSTT p={record['lstt_p']:.3f} PE={record['lstt_pe']:.4f}"
                f"{' (reject)' if record['lstt_reject'] else ''}")
    method = record["correction_method"]
    if method == "none":
        verdict += f" (second look not possible: {(record['correction'] or {}).get('reason')})"
    elif method is not None:
        verdict += f" (raw P={record['p_fused_raw']:.3f}, second look: {method})"
    policy = record.get("policy") or {}
    alert = f" ALERT {policy['alert']}" if policy.get("alert") else ""
    z = policy.get("trend_z")
    trend = "" if z is None else f" trend z={z:.1f}"
    gls = "" if record["gls_p"] is None else (
        f" GLS P={record['gls_p']:.3f} (t {record['gls_t']:.1f} / {record['gls_threshold']:.1f})")
    return (f"{head}: {verdict} P={record['p_fused']:.3f} [{gains}]{gls} "
            f"level {record['level']}"
            f" policy {policy.get('level', 'none')}{alert}{trend}"
            f"  cum_max {1000 * (item.cum_max_m or 0.0):.1f} mm  {lstt}  n={item.n_valid} "
            f"support>={item.support_min}  (since {item.relative_to})")


def run(args: argparse.Namespace) -> int:
    """Build the series, print one result per epoch; non-zero when a product was skipped."""
    import tempfile
    from pathlib import Path

    from monitor.archive import LocalArchive
    from monitor.config import DEFAULT_GLS_BORROW, load_settings
    from monitor.io.licsar_frame import open_frame, read_frame, read_grid
    from monitor.notify.policy import PolicyState
    from monitor.notify.policy import step as policy_step
    from monitor.science.detect.series_gls import chain_before
    from monitor.science.interferograms import Interferogram
    from monitor.service.correction import FrameFiles
    from monitor.service.scoring import detector_for, scoring_params
    from monitor.service.series_scan import prepare_series, score_series_epoch

    settings = load_settings(args.config)
    target = parse_target(args.target)
    references = parse_references(args.references)
    if args.permutations < 1:
        raise InputError(f"--permutations must be at least 1, got {args.permutations}")
    params = scoring_params(settings, gains=args.gains, lstt_seed=args.seed,
                            lstt_permutations=args.permutations)
    set_threads(args.threads)
    loaded = load_scoring_model(args.model, args.arch, settings.science.detector,
                                resolve_device(args.device))
    layout = open_frame(args.archive, args.frame)
    max_pixels = settings.rasters.max_pixels
    grid, _ = read_grid(layout, max_pixels)
    # a target or reference outside the frame fails here, before the products are read
    grid.disc_mask(target, "--target")
    for disc in references or ():
        grid.disc_mask(disc, "--references")
    threshold = settings.science.coherence_threshold
    products = read_frame(layout, grid, None, coherence_threshold=threshold,
                          max_pixels=max_pixels)
    for failure in products.failures:
        print(f"insar-monitor scan-series: error: skipped pair "
              f"{failure.pair[0].isoformat()}_{failure.pair[1].isoformat()}: "
              f"{failure.message}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="scan-series-") as cache:
        # The archive's files reach the second look through the watch's own port.
        files = FrameFiles(LocalArchive(str(args.archive)), args.frame, grid, Path(cache))
        dem, why = files.dem_if_any()  # places references, and the GLS filter's nuisance
        if why is not None:
            print("insar-monitor scan-series: warning: "
                  + ("references placed and " if references is None else "")
                  + f"the GLS filter run without a DEM: {why}", file=sys.stderr)
        borrowed: list[Interferogram] = []
        if args.start is not None:
            earlier = [i for i in products.interferograms if i.date1 < args.start]
            products = replace(products, interferograms=tuple(
                i for i in products.interferograms if i.date1 >= args.start),
                listed_epochs=tuple(e for e in products.listed_epochs if e >= args.start))
            if not products.interferograms:
                raise InputError(f"--start {args.start}: no product of frame {args.frame} "
                                 "starts on or after it")
            borrowed = chain_before(earlier, products.interferograms[0].date1,
                                    DEFAULT_GLS_BORROW)
            print(f"insar-monitor scan-series: {len(earlier)} product(s) before --start "
                  f"left out; the GLS filter's noise history begins with {len(borrowed)} "
                  "of them", file=sys.stderr)
        prepared = prepare_series(products, target, references, network=args.network,
                                  coherence_threshold=threshold, dem=dem, borrowed=borrowed)
        for line in prepared.describe_references():
            print(f"insar-monitor scan-series: {line}", file=sys.stderr)
        for note in () if prepared.placement is None else prepared.placement.notes:
            print(f"insar-monitor scan-series: references: {note}", file=sys.stderr)
        for gap in prepared.gaps:
            print(f"insar-monitor scan-series: warning: {gap.describe()}", file=sys.stderr)
        detector = detector_for(loaded, params, grid.pixel_m, dem)
        look = None if args.no_second_look else files
        state = PolicyState()
        for epoch in products.listed_epochs:
            item = score_series_epoch(prepared, epoch, detector, params, settings=settings,
                                      files=look)
            record = epoch_record(item, prepared, loaded, params.lstt_seed, settings)
            if item.scored:
                # The watch's policy over the epochs so far (one series of one frame).
                state, decision = policy_step(state, item.policy_input(), settings.alerts)
                record["policy"] = policy_record(decision)
            print(json.dumps(record) if args.json else _text_line(item, record), flush=True)
    return products.failures[0].exit_code if products.failures else 0
