"""``insar-monitor evaluate series``: detection delay against false alerts per volcano-year.

Synthetic (without ``--archive``): daisy chains with known onsets over the packaged DEMs
(rates, one-interval steps, quiet series; turbulences; seeds) scored by the watch's own
path (bell amplitude and step; the detector of ``[science] detector`` and the LSTT unless
``--no-cnn``) and the alert policy run
for a sweep of ``trend_z_watch`` (``--z-sweep``; ``trend_z_warning`` = max(z, the
configured one)): false alerts per volcano-year on quiet series and before the onsets
against the median and 90th-percentile delay per case, in days and cumulative cm, with
the operating point (the ``[alerts]`` settings) marked
(:mod:`monitor.evaluation.series`).

Real (``--archive DIR --frame F --target LON,LAT[,RADIUS_KM] --events START:END,...``):
the frame scored as ``scan-series`` scores it and the policy run over it: every alert,
alerts per volcano-year outside the event windows, and each window's delay from its
first acquisition to the first alert; beside it the single-map rule alone (time-series
rule and fast path off) and the sweep (:mod:`monitor.evaluation.series_real`).

Prints a summary; ``--json PATH`` writes the report (every figure, per-epoch scores,
provenance); ``--out-dir DIR`` writes the JSON, a markdown report and a PNG there
(``detection_series_synthetic.json``/``.md`` and ``detection_series_curve.png``, or
``detection_series_real.json``/``.md``/``.png``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from monitor.cli.help_text import description_from
from monitor.errors import InputError
from monitor.science.detect.names import ARCHITECTURE_NAMES
from monitor.science.lstt_defaults import DEFAULT_PERMUTATIONS
from monitor.series_defaults import NETWORKS

#: Output names under ``--out-dir``.
SYNTHETIC_NAMES = ("detection_series_synthetic.json", "detection_series_synthetic.md",
                   "detection_series_curve.png")
REAL_NAMES = ("detection_series_real.json", "detection_series_real.md",
              "detection_series_real.png")
#: Real-mode flags, refused without ``--archive``.
_REAL_ONLY = ("frame", "target", "events", "references")


def register_series(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate series`` under the ``evaluate`` subcommands ``sub``."""
    from monitor.evaluation.series_defaults import (
        DEFAULT_DEMS,
        DEFAULT_RATES_CM_PER_YR,
        DEFAULT_STEPS_CM,
        DEFAULT_TURBULENCE_CM,
        DEFAULT_Z_SWEEP,
        SLOW_RATE_CM_PER_YR,
    )

    def joined(values: tuple[Any, ...]) -> str:
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)

    p = sub.add_parser("series", help="detection delay against false alerts per "
                       "volcano-year through the alert policy: synthetic curve, or a real "
                       "frame with known events",
                       description=description_from(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    syn = p.add_argument_group("synthetic (without --archive)")
    syn.add_argument("--dems", default=joined(DEFAULT_DEMS),
                     help="packaged DEMs, used in turn over the seeds (%(default)s)")
    syn.add_argument("--rates", default=joined(DEFAULT_RATES_CM_PER_YR),
                     help="rates of the rate cases, cm/yr of peak LOS, or none (%(default)s)")
    syn.add_argument("--steps", default=joined(DEFAULT_STEPS_CM),
                     help="one-interval steps, cm of peak LOS, or none (%(default)s)")
    syn.add_argument("--no-quiet", dest="quiet", action="store_false",
                     help="leave out the quiet series")
    syn.add_argument("--turbulence", default=joined(DEFAULT_TURBULENCE_CM),
                     help="turbulence standard deviation per date, cm (%(default)s)")
    syn.add_argument("--seeds", type=int, default=3, help="series per case (%(default)s)")
    syn.add_argument("--first-seed", type=int, default=0, help="first seed (%(default)s)")
    syn.add_argument("--epochs", type=int, default=40,
                     help="acquisitions per series, 12 days apart (%(default)s)")
    syn.add_argument("--slow-epochs", type=int, default=60,
                     help=f"acquisitions of series slower than {SLOW_RATE_CM_PER_YR:g} "
                          "cm/yr (%(default)s)")
    syn.add_argument("--onset-epoch", type=int, default=20,
                     help="index of the onset: the last acquisition without deformation "
                          "(%(default)s)")
    syn.add_argument("--history-epochs", type=int, default=0,
                     help="quiet acquisitions before each series, whose increments begin "
                          "the GLS filter's history as the watch borrows the archive's "
                          "before a target's start (%(default)s: none)")
    syn.add_argument("--size", dest="size_px", type=int, default=200,
                     help="grid side, pixels of 0.001 degree (%(default)s)")
    syn.add_argument("--target-radius-km", type=float, default=3.0,
                     help="target disc at the grid centre, km (%(default)s)")
    syn.add_argument("--turbulent-length-km", type=float, default=5.0,
                     help="turbulence e-folding length, km (%(default)s)")
    syn.add_argument("--stratification", default="weak", choices=["weak", "strong", "none"],
                     help="stratified delay drawn per date (%(default)s)")
    syn.add_argument("--no-cnn", action="store_true",
                     help="score with the time-series rule alone (no detector, no LSTT): quick")
    syn.add_argument("--second-look", dest="synthetic_second_look", action="store_true",
                     help="give qualifying epochs the watch's second look (the "
                          "phase-elevation fit over the DEM; default: none)")
    real = p.add_argument_group("real (--archive)")
    real.add_argument("--archive", default=None, help="LiCSAR-layout archive directory")
    real.add_argument("--frame", default=None, help="frame id, e.g. 014A_07688_131313")
    real.add_argument("--target", default=None, metavar="LON,LAT[,RADIUS_KM]",
                      help="target disc (degrees, km; default radius 3); write "
                           "--target=-70.5,-20.1 when the longitude is negative")
    real.add_argument("--references", default="auto", metavar="auto|LON,LAT,RADIUS_KM;...",
                      help="stable reference regions (default: the watch's automatic ones)")
    real.add_argument("--events", default=None, metavar="START:END,...",
                      help="event windows, dates YYYY-MM-DD inclusive; the first day is the "
                           "last quiet acquisition (e.g. 2017-01-11:2018-12-31)")
    real.add_argument("--network", default="auto", choices=sorted(NETWORKS),
                      help="series inversion (%(default)s)")
    real.add_argument("--no-second-look", dest="second_look", action="store_false",
                      help="score qualifying epochs without the atmospheric second look")
    real.add_argument("--seed", type=int, default=0, help="LSTT seed (%(default)s)")
    both = p.add_argument_group("both")
    both.add_argument("--z-sweep", default=joined(DEFAULT_Z_SWEEP),
                      help="trend_z_watch values of the curve; the configured one is added "
                           "(%(default)s)")
    both.add_argument("--model", default=None, help="model file (default: packaged weights)")
    both.add_argument("--arch", default=None, choices=sorted(ARCHITECTURE_NAMES),
                      help="architecture of the packaged weights, or checked against --model")
    both.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS,
                      help="LSTT permutations (%(default)s)")
    both.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    both.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    both.add_argument("--config", default=None,
                      help="TOML configuration ([science], [alerts]: the operating point)")
    both.add_argument("--json", dest="json_path", default=None, metavar="PATH",
                      help="write the JSON report here")
    both.add_argument("--out-dir", default=None, metavar="DIR",
                      help="write the JSON, markdown and PNG here")
    p.set_defaults(func=run_series)


def _write(report: dict[str, Any], args: argparse.Namespace, names: tuple[str, str, str],
           real: bool) -> list[str]:
    """Write the JSON (``--json``, ``--out-dir``), markdown and PNG (``--out-dir``)."""
    from monitor.io.reports import write_json
    from monitor.io.series_report import real_markdown, synthetic_markdown

    written = []
    if args.json_path is not None:
        written.append(write_json(args.json_path, report))
    if args.out_dir is not None:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written.append(write_json(out / names[0], report))
        if real:
            from monitor.figures.series_curve import plot_real_series
            png = plot_real_series(out / names[2], report)
            text = real_markdown(report, png.name)
        else:
            from monitor.figures.series_curve import plot_synthetic_curve
            png = plot_synthetic_curve(out / names[2], report)
            text = synthetic_markdown(report, png.name)
        md = out / names[1]
        md.write_text(text, encoding="utf-8")
        written += [md, png]
    return [f"wrote {p}" for p in written]


def _run_real(args: argparse.Namespace) -> list[str]:
    from monitor.cli.scan_series_cmd import parse_references, parse_target
    from monitor.evaluation.series import parse_numbers
    from monitor.evaluation.series_real import RealSeriesOptions, evaluate_real_series
    from monitor.event_windows import parse_events
    from monitor.io.series_report import real_lines

    missing = [f"--{n}" for n in ("frame", "target") if getattr(args, n) is None]
    if args.synthetic_second_look:
        raise InputError("--second-look is for the synthetic mode: the real mode gives the "
                         "second look unless --no-second-look")
    if missing:
        raise InputError(f"evaluate series --archive needs {' and '.join(missing)}")
    opts = RealSeriesOptions(
        archive=args.archive, frame=args.frame, target=parse_target(args.target),
        references=parse_references(args.references), events=parse_events(args.events),
        network=args.network, second_look=args.second_look,
        z_sweep=parse_numbers(args.z_sweep, "--z-sweep"), model=args.model, arch=args.arch,
        device=args.device, threads=args.threads, config=args.config,
        permutations=args.permutations, seed=args.seed)
    report = evaluate_real_series(opts)
    return real_lines(report) + _write(report, args, REAL_NAMES, True)


def _run_synthetic(args: argparse.Namespace) -> list[str]:
    from monitor.evaluation.runs import progress
    from monitor.evaluation.series import SeriesOptions, evaluate_series, parse_numbers
    from monitor.io.series_report import synthetic_lines

    given = [f"--{n}" for n in _REAL_ONLY
             if getattr(args, n) not in (None, "auto")]
    if not args.second_look:
        given.append("--no-second-look")
    if given:
        raise InputError(f"{', '.join(given)}: only with --archive (the real mode)")
    opts = SeriesOptions(
        dems=tuple(n.strip() for n in args.dems.split(",") if n.strip()),
        rates_cm_per_yr=parse_numbers(args.rates, "--rates", allow_none=True),
        steps_cm=parse_numbers(args.steps, "--steps", allow_none=True), quiet=args.quiet,
        turbulence_cm=parse_numbers(args.turbulence, "--turbulence"), seeds=args.seeds,
        first_seed=args.first_seed, epochs=args.epochs, slow_epochs=args.slow_epochs,
        onset_epoch=args.onset_epoch, history_epochs=args.history_epochs,
        size_px=args.size_px,
        target_radius_km=args.target_radius_km,
        turbulent_length_km=args.turbulent_length_km, stratification=args.stratification,
        z_sweep=parse_numbers(args.z_sweep, "--z-sweep"), no_cnn=args.no_cnn,
        second_look=args.synthetic_second_look, model=args.model, arch=args.arch,
        device=args.device, threads=args.threads, config=args.config,
        permutations=args.permutations)
    report = evaluate_series(opts, lambda cases: progress(cases, len(cases), "series"))
    return synthetic_lines(report) + _write(report, args, SYNTHETIC_NAMES, False)


def run_series(args: argparse.Namespace) -> int:
    """``evaluate series``: synthetic, or real with ``--archive``."""
    lines = _run_real(args) if args.archive is not None else _run_synthetic(args)
    for line in lines:
        print(line)
    return 0
