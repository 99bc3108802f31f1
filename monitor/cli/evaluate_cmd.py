"""``insar-monitor evaluate threshold|roc|atmosphere|real``: measure detectors, side by side.

``threshold``: the protocol of Anantrasirichai et al. (2019b) (see
:mod:`monitor.science.detect.evaluation`): Mogi sources at 3, 4, 5 km depth, incidence 1,
23, 44 degrees, volume 10^5-10^7 m^3 in half-decade steps, ``X = D + alpha S + beta T`` for
alpha, beta in {0, 0.5, 1}: 405 interferograms. S is one fixed stratified delay over a
packaged SRTM crop (default Agung, resampled to the grid, centred on the summit: the source
sits under the edifice), T an exponential-covariance field of sigma^2 = 7.5 mm^2, L = 8 km
per deformation (``--turbulence powerlaw``: a power-law field, 2-D spectrum k^-beta with
``--powerlaw-beta`` 8/3, of the same variance over the grid; Hanssen 2001, section 4.7).
Each is scored at every gain; P (fused and per gain: the maximum of the map) is plotted
against the maximum |D| and a sigmoid is fitted per (alpha, beta); its 0.5 crossing
is the detection threshold. Writes ``detection_threshold.json``,
``detection_threshold.md`` and ``detection_threshold_<model>.png`` into ``--out``.

``roc``: a held-out 2-class set (S+T vs D+S+T) drawn with another seed and wider ranges
than the training recipe (peak LOS, turbulence, decorrelation; S over the real packaged
DEMs instead of synthetic edifices), scored by the fused P_max: ROC, AUC (fused and per
gain), precision/recall at P > 0.5, recall by peak LOS; and an atmosphere-only set with
strong stratification over tall edifices (Agung, Sakurajima) whose flagged fraction is the
false-positive rate. Writes ``detection_roc.json``, ``detection_roc.md`` and
``detection_roc.png``.

``atmosphere``: atmosphere-only and deformation cases with strong stratification over tall
edifices (see :mod:`monitor.science.detect.atmosphere_eval`); every flagged case is
corrected (empirical phase-elevation fit; simulated weather-model delays) and scored again.
Writes ``detection_atmosphere.json`` and ``detection_atmosphere.md``.

``real``: one real frame of a LiCSAR-layout archive (``--archive``, ``--frame``); every
product is scored as a single map (as ``scan``) by the CNN and by a plain baseline (the
smoothed peak-to-noise ratio, flagged above 5 robust sigma). Products overlapping no
``--events`` window (``START:END,...``, dates YYYY-MM-DD) are quiet: their flagged fraction
is the false-positive rate, overall and per year. ``--n-inject`` quiet epochs receive a
Mogi source at each of ``--amplitudes-cm`` (peak |LOS|): AUC injected vs quiet, AUC for
2 cm and up, recall per amplitude. With ``--out``, writes ``detection_real.json``, ``.md``
and ``.png``.

``series``: detection delay against false alerts per volcano-year through the watch's
alert policy, on synthetic daisy chains with known onsets (a curve over the time-series
rule's threshold) or on a real frame with known events (``--archive``); see
``insar-monitor evaluate series --help``.

Several models: ``--model A.pt --model B.pt`` or ``--compare A.pt B.pt``; every image is
drawn once and scored by each. Without a model, the packaged weights of ``--arch``.
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from monitor.cli.detector_options import add_second_look_radius, gains_arg
from monitor.cli.evaluate_series_cmd import register_series
from monitor.cli.help_text import description_from
from monitor.science.detect.names import (
    ARCHITECTURE_NAMES,
    INFERENCE_METHODS,
    PATCH_COVERAGES,
)
from monitor.science.detect.threshold_protocol import (
    PROTOCOL_DEPTHS_M,
    PROTOCOL_INCIDENCES_DEG,
    PROTOCOL_LOG10_VOLUMES_M3,
    PROTOCOL_WEIGHTS,
)


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         "numbers") from None
    if not vals:
        raise argparse.ArgumentTypeError("give at least one number")
    return vals


def _pair(text: str) -> tuple[float, float]:
    vals = _floats(text)
    if len(vals) != 2 or not vals[0] <= vals[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not MIN,MAX with MIN <= MAX")
    return vals[0], vals[1]


def _order(text: str) -> int | str:
    if text in ("1", "2", "auto"):
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"expected 1, 2 or auto, got {text!r}")


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def _models(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", default=[], metavar="PATH",
                        help="model file to evaluate (repeat for several)")
    parser.add_argument("--compare", nargs="+", default=[], metavar="PATH",
                        help="model files to evaluate side by side")
    parser.add_argument("--arch", default=None, choices=sorted(ARCHITECTURE_NAMES),
                        help="without a model file: the packaged weights of this arch")
    parser.add_argument("--gains", type=gains_arg, default=None,
                        help="wrap gains (default science.gains: 1,2,4,8)")
    parser.add_argument("--method", default="auto", choices=INFERENCE_METHODS)
    parser.add_argument("--coverage", default="seed", choices=PATCH_COVERAGES,
                        help="patch padding rule (centres; seed = the papers' literal rule, "
                             "fewer patches)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--config", help="TOML configuration (science section)")


def _common(parser: argparse.ArgumentParser, default_seed: int) -> None:
    _models(parser)
    parser.add_argument("--out", default="docs", help="output directory (docs)")
    parser.add_argument("--seed", type=int, default=default_seed,
                        help="seed of the random fields (%(default)s)")
    parser.add_argument("--size", type=int, default=224, help="grid side, pixels (224)")
    parser.add_argument("--pixel-m", type=float, default=100.0, help="pixel spacing (100 m)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate threshold``, ``roc``, ``atmosphere``, ``real`` and ``series``."""
    parser = subparsers.add_parser(
        "evaluate", help="detection thresholds (Anantrasirichai et al. 2019b) and ROC of detectors",
        description=description_from(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="evaluate_command", metavar="WHAT")
    sub.required = True

    th = sub.add_parser("threshold",
                        help="detection-threshold protocol of Anantrasirichai et al. (2019b)")
    _common(th, default_seed=3)
    th.add_argument("--dem", default="agung", help="packaged DEM under S (agung)")
    th.add_argument("--strat-k1-cm-per-km", type=float, default=1.0,
                    help="stratified delay, cm of zenith delay per km of height (1.0)")
    th.add_argument("--strat-curvature", type=float, default=0.5,
                    help="k2 = -f k1 / (2 * 2 km): f (0.5)")
    th.add_argument("--turbulent-sigma2-mm2", type=float, default=7.5,
                    help="T variance, mm^2 (the paper: 7.5)")
    th.add_argument("--turbulent-length-km", type=float, default=8.0,
                    help="T e-folding length, km (the paper: 8; exponential T only)")
    th.add_argument("--turbulence", default="exponential", choices=["exponential", "powerlaw"],
                    help="T model: exponential covariance (the paper) or a power law of "
                         "the same variance over the grid (exponential)")
    th.add_argument("--powerlaw-beta", type=float, default=8.0 / 3.0,
                    help="2-D spectral exponent of a power-law T; 8/3 gives a structure "
                         "function ~ r^(2/3) (8/3)")
    th.add_argument("--depths-km", type=_floats,
                    default=tuple(d / 1000 for d in PROTOCOL_DEPTHS_M))
    th.add_argument("--incidences", type=_floats, default=PROTOCOL_INCIDENCES_DEG,
                    help="incidence angles, degrees (1,23,44)")
    th.add_argument("--log10-volumes", type=_floats, default=PROTOCOL_LOG10_VOLUMES_M3,
                    help="log10 of the volume changes, m^3 (5,5.5,6,6.5,7)")
    th.add_argument("--weights", type=_floats, default=PROTOCOL_WEIGHTS,
                    help="values of alpha and of beta (0,0.5,1)")
    th.add_argument("--fit", default="linear", choices=["linear", "log"],
                    help="fit the sigmoid in displacement (as the paper) or log displacement")
    th.set_defaults(func=run_threshold)

    roc = sub.add_parser("roc", help="held-out ROC/AUC and atmosphere-only false positives")
    _common(roc, default_seed=303)
    roc.add_argument("--n", type=int, default=1000, help="held-out images, both classes")
    roc.add_argument("--n-atmosphere", type=int, default=200,
                     help="atmosphere-only images with strong stratification (200)")
    roc.add_argument("--peak-los-cm", type=_pair, default=(0.5, 50.0),
                     help="peak |LOS| of D, log-uniform, cm (0.5,50; training 0.5,30)")
    roc.add_argument("--turbulent-sigma-mm", type=_pair, default=(2.0, 5.0),
                     help="T standard deviation range, mm (2,5; training 2.2,3.0)")
    roc.add_argument("--turbulent-length-km", type=_pair, default=(2.0, 20.0),
                     help="T e-folding length range, km (2,20; training 4,18)")
    roc.add_argument("--decorrelation-fraction", type=float, default=0.8,
                     help="fraction of images with decorrelation (0.8; training 0.5)")
    roc.add_argument("--dems", type=_names, default=("agung", "sakurajima", "taal",
                                                     "campi_flegrei"),
                     help="packaged DEMs under S in the held-out set")
    roc.add_argument("--atmosphere-dems", type=_names, default=("agung", "sakurajima"),
                     help="packaged DEMs under the strong S of the atmosphere-only set")
    add_second_look_radius(roc)
    roc.set_defaults(func=run_roc)

    atm = sub.add_parser("atmosphere", help="tropospheric correction of flagged maps: "
                         "atmosphere-only flags cleared, true positives kept")
    _common(atm, default_seed=606)
    atm.add_argument("--n", type=int, default=150,
                     help="cases per class (atmosphere only; deformation) (150)")
    atm.add_argument("--dems", type=_names, default=("agung", "sakurajima"),
                     help="packaged DEMs (tall edifices), used in turn (agung,sakurajima)")
    atm.add_argument("--target-radius-km", type=float, default=3.0,
                     help="target disc on the summit, km (3, the watch's default)")
    atm.add_argument("--peak-exclusion-radii", type=float, default=1.0,
                     help="disc around the detected peak left out of the fit, target radii")
    atm.add_argument("--fit-exclusion-radii", type=float, default=1.0,
                     help="disc on the summit left out of the fit, target radii (1, the "
                          "watch's default)")
    atm.add_argument("--band-sigma-m", type=float, default=1000.0,
                     help="the fit's coefficients come from the band below this Gaussian "
                          "sigma, metres; 0 = plain fit (1000, the watch's default)")
    atm.add_argument("--order", type=_order, default=2,
                     help="order in height of the fit: 1, 2 or auto (2, the watch's default)")
    atm.add_argument("--plain-exclusion-radii", type=float, default=2.0,
                     help="disc on the summit left out of the plain linear fit measured "
                          "for comparison, target radii (2)")
    atm.add_argument("--incidence-deg", type=_pair, default=(30.0, 45.0))
    atm.add_argument("--turbulent-sigma-mm", type=_pair, default=(2.0, 5.0),
                     help="T standard deviation range, mm (2,5)")
    atm.add_argument("--turbulent-length-km", type=_pair, default=(2.0, 20.0),
                     help="T e-folding length range, km (2,20)")
    atm.add_argument("--peak-los-cm", type=_pair, default=(1.0, 30.0),
                     help="peak |LOS| of D, log-uniform, cm (1,30)")
    atm.add_argument("--depth-km", type=_pair, default=(2.0, 5.0),
                     help="Mogi depth range, km (2,5)")
    atm.add_argument("--wm-scale-error", type=float, default=0.15,
                     help="weather model: relative error on S, standard deviation (0.15)")
    atm.add_argument("--wm-error-mm", type=float, default=3.0,
                     help="weather model: per-date smooth error, mm of zenith delay (3)")
    atm.add_argument("--wm-error-length-km", type=float, default=15.0,
                     help="weather model: e-folding length of that error, km (15)")
    atm.set_defaults(func=run_atmosphere)

    real = sub.add_parser("real", help="false positives on a real frame's quiet epochs "
                          "and recall of sources injected into them; CNN vs a baseline")
    _models(real)
    real.add_argument("--archive", required=True, help="LiCSAR-layout archive directory")
    real.add_argument("--frame", required=True, help="frame id, e.g. 014A_07688_131313")
    real.add_argument("--events", default=None, metavar="START:END,...",
                      help="event windows, dates YYYY-MM-DD inclusive; overlapping "
                           "products are not quiet (default: none)")
    real.add_argument("--n-inject", type=int, default=40,
                      help="quiet epochs that receive an injected source (40)")
    real.add_argument("--amplitudes-cm", type=_floats, default=(1.0, 2.0, 3.0, 4.0),
                      help="peak |LOS| of the injected sources, cm (1,2,3,4)")
    real.add_argument("--seed", type=int, default=707,
                      help="seed of the injected epochs and sources (%(default)s)")
    real.add_argument("--out", default=None,
                      help="write detection_real.json/.md/.png here (default: print only)")
    real.add_argument("--about", default=None,
                      help="a paragraph on the data, placed at the top of the markdown")
    real.add_argument("--years", default=None, metavar="YEARS",
                      help="score only epochs whose second date is in these years "
                           "(2023,2024 or 2023-2024): the held-out block (default all)")
    real.add_argument("--no-raw-fusion", dest="raw_fusion", action="store_false",
                      help="do not score calibrated models a second time uncalibrated")
    real.add_argument("--blocks", default="packaged", metavar="MODEL",
                      help="the block detector's model file scored beside the others "
                           "(default: the packaged one; 'none' leaves it out)")
    real.set_defaults(func=run_real)

    register_series(sub)


def _options(cls: type[Any], args: argparse.Namespace) -> Any:
    """The evaluation's options dataclass filled from the parsed flags, by field name."""
    return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def _print(lines: list[str]) -> int:
    for line in lines:
        print(line)
    return 0


def run_threshold(args: argparse.Namespace) -> int:
    """``evaluate threshold``: :func:`monitor.evaluation.threshold.run_threshold`."""
    from monitor.evaluation.threshold import ThresholdOptions, run_threshold

    return _print(run_threshold(_options(ThresholdOptions, args)))


def run_roc(args: argparse.Namespace) -> int:
    """``evaluate roc``: :func:`monitor.evaluation.roc.run_roc`."""
    from monitor.evaluation.roc import RocOptions, run_roc

    return _print(run_roc(_options(RocOptions, args)))


def run_atmosphere(args: argparse.Namespace) -> int:
    """``evaluate atmosphere``: :func:`monitor.evaluation.atmosphere.run_atmosphere`."""
    from monitor.evaluation.atmosphere import AtmosphereOptions, run_atmosphere

    return _print(run_atmosphere(_options(AtmosphereOptions, args)))


def run_real(args: argparse.Namespace) -> int:
    """``evaluate real``: :func:`monitor.evaluation.real.run_real`."""
    from monitor.evaluation.real import RealOptions, parse_events, run_real
    from monitor.event_windows import parse_years

    values: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(RealOptions)
                              if f.name not in ("events", "years", "blocks")}
    values["blocks"] = None if args.blocks == "none" else args.blocks
    return _print(run_real(RealOptions(events=parse_events(args.events),
                                       years=parse_years(args.years), **values)))
