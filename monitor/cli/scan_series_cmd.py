"""``insar-monitor scan-series ARCHIVE_DIR --frame FRAME --target LON,LAT[,RADIUS_KM]``.

Builds the cumulative LOS series of a LiCSAR-layout frame and scores every epoch with the
CNN detector and the LSTT of the target disc against stable reference regions (the rules
are in :mod:`monitor.series_scan`). One result per epoch, in date order, printed as soon as
it is scored:

``--json``: one JSON object per line with ``epoch``, ``relative_to`` (the epoch the
cumulative displacement is counted from: the first one, or the first after a network
gap), ``scored`` and ``note`` (why an epoch was not scored: the first epoch of a segment,
whose displacement is zero by definition, or no data), ``cum_max_m`` (largest
|cumulative displacement| in the target disc, metres), ``n_valid`` (valid target pixels),
``support_min`` (fewest interferograms behind a target value), ``p_fused`` and
``p_by_gain`` (CNN probabilities, maxima within the target disc), ``p_fused_frame``
(fused maximum over the frame), ``flag`` (``p_fused > threshold``, config
``science.flag_threshold``, 0.5: the CNN's decision alone), ``threshold``, ``lstt_p`` and
``lstt_pe`` (LSTT against every reference region, intersection-union), ``lstt_reject``
(``lstt_p <= 0.05``, reported beside the flag, not merged into it), ``lstt_alpha``,
``lstt_spacing_px``, ``lstt_error``, and provenance: ``frame``, ``series_method``,
``model`` (path, arch, sha256), ``seed``, ``code_version``. Scores of unscored epochs
are null. Without ``--json``: one line of text per epoch.

A flagged epoch gets the watch's second look when the frame has a DEM (``[correction]``
settings; ``--no-second-look`` or ``enabled = false`` turns it off): its map is corrected
for stratified delay by the band-filtered phase-elevation fit outside the target and
scored again, and the CNN and LSTT fields above are then the corrected map's;
``p_fused_raw`` keeps the raw target P, ``correction_method`` is ``empirical`` (or
``none``, with ``correction.reason``) and ``correction`` holds the fit. Both are null for
epochs that were not flagged.

A product that cannot be read is skipped: one error line on stderr names its file, the
series is built without it (split at the gap it leaves, nothing invented), every epoch is
still printed, and the exit status is then that error's code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from monitor import __version__
from monitor.cli.detector_options import gains_arg, load_detector, resolve_device, set_threads
from monitor.cli.help_text import description_from
from monitor.errors import InputError
from monitor.science.detect.names import ARCHITECTURE_NAMES as ARCHITECTURES
from monitor.science.lstt_defaults import DEFAULT_PERMUTATIONS
from monitor.series_defaults import DEFAULT_TARGET_RADIUS_KM, NETWORKS

if TYPE_CHECKING:
    from monitor.io.licsar_frame import GroundDisc
    from monitor.io.models import LoadedModel
    from monitor.series_scan import EpochScore, PreparedSeries


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
    from monitor.io.licsar_frame import GroundDisc

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
        help="build a LiCSAR frame's cumulative series and score every epoch (CNN + LSTT)",
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
                        help="score flagged epochs as they are (no correction with the DEM)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--config", help="TOML configuration (science and rasters sections)")
    parser.set_defaults(func=run)


def epoch_record(score: EpochScore, prepared: PreparedSeries, loaded: LoadedModel,
                 seed: int) -> dict[str, Any]:
    """The JSON object printed for one epoch (module docstring)."""
    return {
        "epoch": score.epoch.isoformat(),
        "relative_to": score.relative_to.isoformat() if score.relative_to else None,
        "scored": score.scored,
        "note": score.note,
        "cum_max_m": score.cum_max_m,
        "n_valid": score.n_valid,
        "support_min": score.support_min,
        "p_fused": score.p_fused,
        "p_by_gain": None if score.p_by_gain is None else
        {f"{g:g}": p for g, p in score.p_by_gain.items()},
        "p_fused_frame": score.p_fused_frame,
        "flag": score.flag,
        "threshold": score.threshold,
        "lstt_p": score.lstt_p,
        "lstt_pe": score.lstt_pe,
        "lstt_reject": score.lstt_reject,
        "lstt_alpha": score.lstt_alpha,
        "lstt_spacing_px": score.lstt_spacing_px,
        "lstt_error": score.lstt_error,
        "p_fused_raw": score.p_fused_raw,
        "correction_method": score.correction_method,
        "correction": score.correction,
        "frame": prepared.products.layout.frame,
        "series_method": prepared.series.method,
        "model": {"path": loaded.path, "arch": loaded.arch, "sha256": loaded.sha256},
        "seed": seed,
        "code_version": __version__,
    }


def _text_line(score: EpochScore) -> str:
    head = f"{score.epoch.isoformat()}"
    if not score.scored:
        cum = "" if score.cum_max_m is None else f" cum_max {1000 * score.cum_max_m:.1f} mm,"
        return f"{head}: not scored:{cum} {score.note}"
    verdict = "FLAG" if score.flag else "ok"
    gains = ", ".join(f"mu={g:g}: {p:.3f}" for g, p in (score.p_by_gain or {}).items())
    if score.lstt_p is None:
        lstt = f"LSTT not run ({score.lstt_error})"
    else:
        lstt = (f"LSTT p={score.lstt_p:.3f} PE={score.lstt_pe:.4f}"
                f"{' (reject)' if score.lstt_reject else ''}")
    if score.correction_method == "empirical":
        verdict += f" (raw P={score.p_fused_raw:.3f}, second look: empirical)"
    elif score.correction_method == "none":
        verdict += f" (second look not possible: {(score.correction or {}).get('reason')})"
    return (f"{head}: {verdict} P={score.p_fused:.3f} [{gains}]  cum_max "
            f"{1000 * (score.cum_max_m or 0.0):.1f} mm  {lstt}  n={score.n_valid} "
            f"support>={score.support_min}  (since {score.relative_to})")


def run(args: argparse.Namespace) -> int:
    """Build the series, print one result per epoch; non-zero when a product was skipped."""
    from monitor.config import load_settings
    from monitor.io.licsar_frame import open_frame, read_frame, read_grid
    from monitor.series_scan import ScoringOptions, prepare_series, score_epoch

    settings = load_settings(args.config)
    target = parse_target(args.target)
    references = parse_references(args.references)
    if args.permutations < 1:
        raise InputError(f"--permutations must be at least 1, got {args.permutations}")
    options = ScoringOptions(
        gains=tuple(args.gains or settings.science.gains),
        flag_threshold=settings.science.flag_threshold,
        fringe_spacing_m=settings.science.fringe_spacing_m,
        n_permutations=int(args.permutations), seed=int(args.seed),
        correction=None if args.no_second_look or not settings.correction.enabled
        or "empirical" not in settings.correction.methods else settings.correction)
    set_threads(args.threads)
    loaded = load_detector(args.model, args.arch, resolve_device(args.device))
    layout = open_frame(args.archive, args.frame)
    max_pixels = settings.rasters.max_pixels
    grid, dem = read_grid(layout, max_pixels)
    # a target or reference outside the frame fails here, before the products are read
    grid.disc_mask(target, "--target")
    for disc in references or ():
        grid.disc_mask(disc, "--references")
    threshold = settings.science.coherence_threshold
    products = read_frame(layout, grid, dem, coherence_threshold=threshold,
                          max_pixels=max_pixels)
    for failure in products.failures:
        print(f"insar-monitor scan-series: error: skipped pair "
              f"{failure.pair[0].isoformat()}_{failure.pair[1].isoformat()}: "
              f"{failure.message}", file=sys.stderr)
    prepared = prepare_series(products, target, references, network=args.network,
                              coherence_threshold=threshold)
    for gap in prepared.gaps:
        print(f"insar-monitor scan-series: warning: {gap.describe()}", file=sys.stderr)
    for epoch in products.listed_epochs:
        score = score_epoch(prepared, epoch, loaded.model, options)
        line = json.dumps(epoch_record(score, prepared, loaded, options.seed)) if args.json \
            else _text_line(score)
        print(line, flush=True)
    return products.failures[0].exit_code if products.failures else 0
