"""``insar-monitor calibrate``: fit the detector's calibration on a real frame's quiet years.

Reads the quiet epochs of ``--years`` of a LiCSAR-layout frame (outside the ``--events``
windows), scores them and as many semi-real positives (each plus a generated source) with
the network's raw per-gain probabilities, fits Platt scaling per gain on the maps where the
gain's fringe spacing stands at least ``--noise-ratio`` times above the map's noise (every
map and every gain with ``--every-gain``), then a last Platt scaling of the fused maxima,
and writes the model again with that calibration to ``--out`` (same weights, new checksum).
Choose years held out of the network's training, and evaluate (``evaluate real --years``)
on years held out of both.

A block-detector model (``--model`` of that kind, or ``--detector blocks`` for the packaged
one) is calibrated as ``train-blocks`` calibrates it: the quiet increments of ``--years``
and ``--n-inject`` of them with a Mogi source of 1, 2, 3 and 4 cm (seed ``--seed``, 707 by
default as in training); P = 0.5 at the conformal 95% quantile of the quiet logits, a Platt
slope through it and one above it. This is how a frame other than the one it was trained
on gets its own threshold; ``--check-years`` reports the calibration before and after on
other years of the frame. ``--gap-model FILE`` (a block network trained with
``train-blocks --incoherent-fraction``) writes a gated model: windows with a tenth of
their blocks or more invalid are read by that network, calibrated on the same maps as
the first, its logits put on the first network's scale by matching the two calibrations.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from monitor.cli.detector_options import range_arg
from monitor.cli.help_text import description_from
from monitor.science.detect.names import ARCHITECTURE_NAMES

if TYPE_CHECKING:
    from monitor.io.models import LoadedBlockModel, LoadedModel


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` subcommand."""
    parser = subparsers.add_parser(
        "calibrate", help="fit the detector's probability calibration on real quiet years",
        description=description_from(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default=None, help="model file (default: packaged)")
    parser.add_argument("--arch", default=None, choices=sorted(ARCHITECTURE_NAMES))
    parser.add_argument("--detector", default=None, choices=("cnn", "blocks"),
                        help="the packaged detector calibrated when --model is not given "
                             "(default: [science] detector, blocks)")
    parser.add_argument("--n-inject", type=int, default=None,
                        help="block detector: injected copies per amplitude (40)")
    parser.add_argument("--gap-model", default=None, metavar="FILE",
                        help="block detector: a network trained with gaps, to read the "
                             "windows with gaps")
    parser.add_argument("--archive", required=True, help="LiCSAR-layout archive root")
    parser.add_argument("--frame", required=True, help="frame ID under ARCHIVE")
    parser.add_argument("--years", default=None, metavar="YEARS",
                        help="calibration years (2021,2022 or 2021-2022; default all)")
    parser.add_argument("--events", default=None, metavar="START:END[,...]",
                        help="leave out epochs overlapping these windows")
    parser.add_argument("--max-span", type=int, default=None,
                        help="longest run of consecutive increments summed into a map (3)")
    parser.add_argument("--peak-los-m", type=range_arg, default=None, metavar="MIN,MAX",
                        help="peak |LOS| of the positives, log-uniform (0.015,0.2)")
    parser.add_argument("--noise-ratio", type=float, default=None,
                        help="keep a gain while its fringe spacing is at least this many "
                             "noise levels (default: the detector's, 2)")
    parser.add_argument("--every-gain", action="store_true",
                        help="no noise rule: fuse every gain whatever the map's noise "
                             "(for a network trained on real noise at every gain)")
    parser.add_argument("--check-years", default=None, metavar="YEARS",
                        help="also draw maps of these (held-out) years the same way and "
                             "report the calibration's reliability on them")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="write the reliability diagram (fitted and held-out maps)")
    parser.add_argument("--seed", type=int, default=None,
                        help="draws of the positives (0; the block detector's 707)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--config", help="TOML configuration (science, rasters sections)")
    parser.add_argument("--out", required=True, help="calibrated model file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit, write the calibrated model, print a JSON summary."""
    from monitor.compute_device import set_threads
    from monitor.config import load_settings
    from monitor.io.models import LoadedBlockModel as BlockModel
    from monitor.io.models import load_scoring_model

    set_threads(args.threads)
    detector = args.detector or load_settings(args.config).science.detector
    loaded = load_scoring_model(args.model, args.arch, detector)
    if isinstance(loaded, BlockModel):
        return _run_blocks(args, loaded)
    return _run_cnn(args, loaded)


def _run_blocks(args: argparse.Namespace, loaded: LoadedBlockModel) -> int:
    from monitor.detector_blocks import BlockCalibrateOptions, recalibrate_block_model
    from monitor.errors import InputError
    from monitor.event_windows import parse_events, parse_years

    given = [flag for flag, value in (("--max-span", args.max_span),
                                      ("--peak-los-m", args.peak_los_m),
                                      ("--noise-ratio", args.noise_ratio),
                                      ("--every-gain", args.every_gain or None),
                                      ("--plot", args.plot)) if value is not None]
    if given:
        raise InputError(f"calibrate: {', '.join(given)} apply to the CNN, not to the block "
                         "detector")
    years = parse_years(args.years)
    if not years:
        raise InputError("calibrate: the block detector needs --years (calibration years "
                         "held out of its training)")
    opts = BlockCalibrateOptions(archive=args.archive, frame=args.frame, years=years,
                                 events=parse_events(args.events),
                                 seed=707 if args.seed is None else args.seed,
                                 n_inject=40 if args.n_inject is None else args.n_inject,
                                 check_years=parse_years(args.check_years), config=args.config,
                                 gap_model=args.gap_model)
    print(json.dumps(recalibrate_block_model(loaded.model, loaded.meta, opts, args.out)))
    return 0


def _run_cnn(args: argparse.Namespace, loaded: LoadedModel) -> int:
    from monitor.detector_calibration import CalibrationOptions, calibrate
    from monitor.errors import InputError
    from monitor.event_windows import parse_events, parse_years
    from monitor.science.detect.calibration import DEFAULT_NOISE_RATIO

    for flag, value in (("--n-inject", args.n_inject), ("--gap-model", args.gap_model)):
        if value is not None:
            raise InputError(f"calibrate: {flag} applies to the block detector, not to the CNN")
    if args.every_gain and args.noise_ratio is not None:
        raise InputError("calibrate: give --noise-ratio or --every-gain, not both")
    opts = CalibrationOptions(archive=args.archive, frame=args.frame,
                              years=parse_years(args.years), events=parse_events(args.events),
                              max_span=3 if args.max_span is None else args.max_span,
                              peak_los_m=((0.015, 0.2) if args.peak_los_m is None
                                          else args.peak_los_m),
                              noise_ratio=(None if args.every_gain
                                           else DEFAULT_NOISE_RATIO if args.noise_ratio is None
                                           else args.noise_ratio),
                              seed=0 if args.seed is None else args.seed,
                              config=args.config,
                              check_years=parse_years(args.check_years), plot=args.plot)
    print(json.dumps(calibrate(loaded, opts, args.out)))
    return 0
