"""``insar-monitor scan FILE...``: score rasters for volcanic deformation with the detector.

Each FILE is a single-band raster (GeoTIFF, or ``.npy``), NaN = incoherent, holding one of:

* unwrapped line-of-sight displacement, ``--units m`` (default) or ``mm``, positive
  towards the satellite;
* unwrapped phase, ``--units rad``, turned into LOS metres with ``--wavelength`` (default
  Sentinel-1, 0.05546576 m) and ``--phase-sign`` (default -1, LiCSAR's convention:
  ``d = -wavelength / (4 pi) * phase``);
* wrapped phase, ``--wrapped`` (as LiCSAR's ``.geo.diff_pha.tif``), re-wrapped with
  integer gains (``wrap(mu wrap(phi)) = wrap(mu phi)``). It is scored at the sensor's own
  fringe spacing (half a wavelength; 2.77 cm for Sentinel-1, the networks' 2.8 cm), with
  the phase sign applied so that uplift shows the same fringes as in displacement input.

The detector is ``--detector`` if given, else the kind of the ``--model`` file, else the
packaged CNN when ``--arch`` names one or the input is ``--wrapped`` (the block detector
reads unwrapped input only; stderr says so), else the packaged ``[science] detector`` (the
block detector unless the configuration names the CNN).

With the CNN, unwrapped input is re-wrapped at every gain (default 1, 2, 4, 8) through the
reference fringe spacing (2.8 cm per fringe at gain 1), scored with the patch procedure of
Anantrasirichai et al. (2019a) and fused (Anantrasirichai et al. 2019b: P = mean of P_mu).
One result per file:

``--json``: one JSON object per line with ``file``, ``p_fused`` (maximum of the fused
map), ``p_by_gain`` (gain -> maximum of that gain's map), ``flag`` (p_fused > threshold),
``threshold``, ``peak`` (``row``, ``col``; ``lon``, ``lat`` of the pixel centre when the
raster has a CRS), ``shape``, ``input`` (units, wrapped), ``gains``, ``method``, ``seconds``
and ``model`` (path, arch, sha256), plus ``map`` when a map was written. Without
``--json``: one line of text per file.

``--map PATH`` writes the fused probability map (float32 GeoTIFF with the input's CRS and
transform, or ``.npy``). ``PATH`` may contain ``{stem}`` (the input file name without its
suffix); with several files it must, or it must be an existing directory, where the maps
are written as ``{stem}.prob.tif``.

``--dem PATH`` gives the CNN its second look (Anantrasirichai et al. 2019a, section 5,
as the watch does): the heights on the same grid as every FILE (same shape; same transform
when both are georeferenced). A flagged file is corrected for stratified tropospheric delay
by the band-filtered phase-elevation fit (linear in height; band and pixel limits from
``[correction]``; outside ``--second-look-radius-km`` of the detected peak and of the map's
largest smoothed anomaly, and outside the flagged region) and scored again; ``p_fused``,
``p_by_gain``, ``flag``, ``peak`` and the map are then the corrected map's, and
``second_look`` holds the raw scores, the method (``empirical``, or ``none`` with the
reason) and the fitted coefficients. Unwrapped input only. Pixel sizes come from the
georeference (degrees converted at the raster's centre latitude), or from ``--pixel-m`` for
rasters without one.

The block detector (:mod:`monitor.science.detect.blocks`; the packaged one, or
``--model`` naming a file of ``insar-monitor train-blocks``) reads unwrapped displacement
averaged over 650 m blocks, scored in 20 km windows every 10 km, a plane and, with
``--dem``, a height term fitted out of each window; ``p_fused`` is the best window's
calibrated P (P = 0.5 at the 95% quantile of held-out real quiet maps), ``p_by_gain``
and ``gains`` are empty, ``method`` is ``blocks`` and there is no second look (the
height term, from ``--dem``, takes its place); the peak is the centre of the 650 m block
of largest residual where the evidence lies.

A file that cannot be read or scored gets one error line on stderr naming it; the other
files are still scored and the exit status is then non-zero (that error's code).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from monitor.cli.detector_options import (
    add_second_look_radius,
    gains_arg,
    load_detector,
    resolve_device,
    set_threads,
)
from monitor.cli.help_text import description_from
from monitor.errors import InputError, MonitorError
from monitor.science.detect.names import ARCHITECTURE_NAMES, INFERENCE_METHODS
from monitor.science.sensors import SENTINEL1

if TYPE_CHECKING:
    from monitor.io.models import LoadedBlockModel, LoadedModel
    from monitor.raster_scan import ScanOptions

UNITS = ("m", "mm", "rad")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scan`` subcommand."""
    parser = subparsers.add_parser(
        "scan", help="score rasters for deformation with the detector",
        description=description_from(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="rasters to score")
    parser.add_argument("--units", choices=UNITS, default=None,
                        help="units of unwrapped input: m (default), mm or rad (phase)")
    parser.add_argument("--wavelength", type=float, default=SENTINEL1.wavelength_m,
                        help="radar wavelength for --units rad, metres (Sentinel-1)")
    parser.add_argument("--phase-sign", type=int, choices=(-1, 1), default=SENTINEL1.phase_sign,
                        help="d = sign * wavelength / (4 pi) * phase (default -1, LiCSAR)")
    parser.add_argument("--wrapped", action="store_true",
                        help="input is wrapped phase in [-pi, pi] radians")
    parser.add_argument("--gains", type=gains_arg, default=None,
                        help="wrap gains (default science.gains: 1,2,4,8)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="flag threshold on the fused P (default science.flag_threshold)")
    parser.add_argument("--model", default=None, help="model file (default: packaged weights)")
    parser.add_argument("--arch", default=None, choices=sorted(ARCHITECTURE_NAMES),
                        help="architecture: picks the packaged weights, or is checked "
                             "against --model")
    parser.add_argument("--detector", default=None, choices=("cnn", "blocks"),
                        help="cnn: the multi-gain CNN (wrapped or unwrapped input); blocks: "
                             "the block detector (unwrapped input; --model then names a "
                             "block model file); default: [science] detector (blocks)")
    parser.add_argument("--method", default="auto", choices=INFERENCE_METHODS,
                        help="inference path (auto: dense when the network allows it)")
    parser.add_argument("--map", default=None, metavar="PATH",
                        help="write the fused probability map (see above for several files)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--dem", default=None, metavar="PATH",
                        help="heights on the files' grid: flagged files get the second look "
                             "(stratified delay removed, scored again)")
    add_second_look_radius(parser)
    parser.add_argument("--pixel-m", type=float, default=None,
                        help="pixel size in metres of rasters without a georeference "
                             "(needed with --dem for .npy input)")
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--config", help="TOML configuration (science and rasters sections)")
    parser.set_defaults(func=run)


def _text_line(rec: dict[str, Any]) -> str:
    peak = rec["peak"]
    where = f"row {peak['row']} col {peak['col']}"
    if "lon" in peak:
        where += f" (lon {peak['lon']:.5f}, lat {peak['lat']:.5f})"
    gains = ", ".join(f"mu={g}: {p:.3f}" for g, p in rec["p_by_gain"].items()) \
        or rec["method"]
    verdict = "FLAG" if rec["flag"] else "ok"
    look = rec.get("second_look")
    after = ""
    if look is not None and look["flag_raw"]:
        after = (f" (raw P={look['p_fused_raw']:.3f}, second look: {look['method']}"
                 + (f": {look['reason']}" if "reason" in look else "") + ")")
    return (f"{rec['file']}: {verdict} P={rec['p_fused']:.3f} at {where} [{gains}]{after} "
            f"{rec['seconds']:.2f} s")


def _options(args: argparse.Namespace) -> tuple[ScanOptions, str]:
    """The scan's options and the configured detector (``[science] detector``)."""
    from monitor.config import load_settings
    from monitor.input_checks import check_wavelength
    from monitor.io.rasters import read_raster
    from monitor.raster_scan import ScanOptions
    from monitor.science.sensors import Sensor

    settings = load_settings(args.config)
    if args.wrapped and args.units not in (None, "rad"):
        raise InputError(f"--wrapped input is phase in radians; --units {args.units} does "
                         "not apply (leave --units out)")
    if not (args.wavelength > 0 and math.isfinite(args.wavelength)):
        raise InputError(f"--wavelength must be a positive number of metres, got "
                         f"{args.wavelength}")
    check_wavelength(float(args.wavelength))
    threshold = settings.science.flag_threshold if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must lie in [0, 1], got {threshold}")
    gains = tuple(args.gains or settings.science.gains)
    if args.wrapped and any(g != int(g) for g in gains):
        raise InputError(f"--wrapped phase can only be re-wrapped with integer gains, got "
                         f"{','.join(f'{g:g}' for g in gains)}")
    if args.pixel_m is not None and not (args.pixel_m > 0 and math.isfinite(args.pixel_m)):
        raise InputError(f"--pixel-m must be a positive number of metres, got {args.pixel_m}")
    if args.detector == "blocks" and args.arch is not None:
        raise InputError("--arch picks a CNN; it does not apply to --detector blocks")
    dem = look = None
    if args.dem is not None:
        if args.wrapped:
            raise InputError("--dem: the second look fits the delay to unwrapped "
                             "displacement; wrapped phase cannot be corrected this way")
        look = settings.correction.second_look(args.second_look_radius_km * 1e3)
        dem = read_raster(args.dem, max_pixels=settings.rasters.max_pixels)
    return ScanOptions(
        units=args.units or "m", wrapped=bool(args.wrapped),
        sensor=Sensor("custom", float(args.wavelength), int(args.phase_sign)),
        gains=gains, threshold=float(threshold), method=args.method,
        fringe_spacing_m=settings.science.fringe_spacing_m,
        max_pixels=settings.rasters.max_pixels, dem=dem, second_look=look,
        pixel_m=args.pixel_m,
    ), settings.science.detector


def _load(args: argparse.Namespace, configured: str) -> LoadedModel | LoadedBlockModel:
    """The detector: ``--detector`` if given; else the kind of the ``--model`` file; else
    the packaged CNN when ``--arch`` names one or the input is wrapped phase (only the CNN
    reads it; said on stderr); else the packaged ``[science] detector`` (``configured``)."""
    from monitor.io.models import load_block_model, load_scoring_model

    if args.detector == "blocks":
        return load_block_model(args.model)
    if args.detector == "cnn":
        return load_detector(args.model, args.arch, resolve_device(args.device))
    if args.model is None and args.wrapped and args.arch is None and configured == "blocks":
        print("insar-monitor scan: --wrapped: scored with the CNN (the configured block "
              "detector reads unwrapped displacement only)", file=sys.stderr)
        configured = "cnn"
    return load_scoring_model(args.model, args.arch, configured, resolve_device(args.device))


def run(args: argparse.Namespace) -> int:
    """Score every file; report each failure on stderr and return the first one's code."""
    from monitor.io.models import LoadedBlockModel
    from monitor.raster_scan import map_paths, score_file

    opts, configured = _options(args)
    maps = map_paths(args.map, list(args.files))
    set_threads(args.threads)
    loaded = _load(args, configured)
    if isinstance(loaded, LoadedBlockModel) and args.wrapped:
        said = "--detector blocks" if args.detector else f"the block model {args.model}"
        raise InputError(f"{said}: the block detector reads unwrapped displacement; wrapped "
                         "phase cannot be averaged over blocks (leave --wrapped out, or "
                         "pass --detector cnn)")
    status = 0
    for path, map_path in zip(args.files, maps, strict=True):
        try:
            rec = score_file(path, loaded, opts, map_path)
        except MonitorError as exc:
            message = str(exc)
            if path not in message:
                message = f"{path}: {message}"
            print(f"insar-monitor scan: error: {message}", file=sys.stderr)
            status = status or exc.exit_code
            continue
        print(json.dumps(rec) if args.json else _text_line(rec), flush=True)
    return status
