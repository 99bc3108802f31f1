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

Unwrapped input is re-wrapped at every gain (default 1, 2, 4, 8) through the reference
fringe spacing (2.8 cm per fringe at gain 1), scored with seed 002's patch procedure and
fused (seed 003: P = mean of P_mu). One result per file:

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

``--dem PATH`` gives the detector its second look (seed 002 section 5, as the watch
does): the heights on the same grid as every FILE (same shape; same transform when both
are georeferenced). A flagged file is corrected for stratified tropospheric delay by the
band-filtered phase-elevation fit (linear in height; band and pixel limits from
``[correction]``; outside ``--second-look-radius-km`` of the detected peak and of the
map's largest smoothed anomaly, and outside the flagged region) and
scored again; ``p_fused``, ``p_by_gain``, ``flag``, ``peak`` and the map are then the
corrected map's, and ``second_look`` holds the raw scores, the method (``empirical``, or
``none`` with the reason) and the fitted coefficients. Unwrapped input only. Pixel sizes
come from the georeference (degrees converted at the raster's centre latitude), or from
``--pixel-m`` for rasters without one.

A file that cannot be read or scored gets one error line on stderr naming it; the other
files are still scored and the exit status is then non-zero (that error's code).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import transform as warp_transform

from monitor.cli.detector_options import (
    add_second_look_radius,
    gains_arg,
    load_detector,
    resolve_device,
    second_look_settings,
    set_threads,
)
from monitor.config import load_settings
from monitor.errors import InputError, MonitorError, RasterError
from monitor.io.dem import metres_per_degree
from monitor.io.models import LoadedModel
from monitor.io.rasters import Raster, read_raster, write_raster
from monitor.science.detect.fusion import (
    Detection,
    detect_displacement,
    detect_wrapped,
    pixel_centre_lonlat,
)
from monitor.science.detect.inference import METHODS
from monitor.science.detect.registry import ARCHITECTURES
from monitor.science.detect.second_look import SecondLook, SecondLookSettings, second_look
from monitor.science.geometry import SENTINEL1, Sensor, phase_to_displacement

UNITS = ("m", "mm", "rad")
_GEOGRAPHIC = "EPSG:4326"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scan`` subcommand."""
    parser = subparsers.add_parser(
        "scan", help="score rasters for deformation with the CNN detector",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
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
    parser.add_argument("--arch", default=None, choices=sorted(ARCHITECTURES),
                        help="architecture: picks the packaged weights, or is checked "
                             "against --model")
    parser.add_argument("--method", default="auto", choices=METHODS,
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


@dataclass(frozen=True)
class ScanOptions:
    """What every file is scored with."""

    units: str
    wrapped: bool
    sensor: Sensor
    gains: tuple[float, ...]
    threshold: float
    method: str
    fringe_spacing_m: float
    max_pixels: int
    dem: Raster | None = None
    second_look: SecondLookSettings | None = None
    pixel_m: float | None = None


def map_paths(pattern: str | None, files: list[str]) -> list[Path | None]:
    """Where each file's probability map goes (see the module docstring).

    Raises:
        InputError: Several files with a pattern that is neither ``{stem}`` nor an
            existing directory, or two files whose maps would land on the same path.
    """
    if pattern is None:
        return [None] * len(files)
    stems = [Path(f).stem for f in files]
    if "{stem}" in pattern:
        out = [Path(pattern.replace("{stem}", s)) for s in stems]
    elif Path(pattern).is_dir():
        out = [Path(pattern) / f"{s}.prob.tif" for s in stems]
    elif len(files) > 1:
        raise InputError(f"--map {pattern!r}: with {len(files)} files give a pattern with "
                         "{stem} (e.g. maps/{stem}.prob.tif) or an existing directory")
    else:
        out = [Path(pattern)]
    seen: dict[Path, str] = {}
    for f, p in zip(files, out, strict=True):
        if p in seen:
            raise InputError(f"--map: {f} and {seen[p]} would both write {p}; use a "
                             "pattern or rename the inputs")
        seen[p] = f
        if p.suffix.lower() not in (".tif", ".tiff", ".npy"):
            raise InputError(f"--map: {p} must end in .tif, .tiff or .npy")
    result: list[Path | None] = list(out)
    return result


def to_network_input(raster: Raster, opts: ScanOptions) -> NDArray[np.float32]:
    """The array handed to the detector: LOS metres, or wrapped phase with the sign set."""
    data = raster.data
    if opts.wrapped:
        return np.asarray(opts.sensor.phase_sign * data, dtype=np.float32)
    if opts.units == "mm":
        return np.asarray(data / np.float32(1000.0), dtype=np.float32)
    if opts.units == "rad":
        return phase_to_displacement(data, opts.sensor)
    return data


def peak_record(raster: Raster, row: int, col: int) -> dict[str, Any]:
    """``row``, ``col`` and, when the raster has a CRS, ``lon``/``lat`` of the centre."""
    peak: dict[str, Any] = {"row": row, "col": col}
    if raster.transform is None or raster.crs is None:
        return peak
    x, y = pixel_centre_lonlat(tuple(raster.transform)[:6], row, col)
    if raster.crs != _GEOGRAPHIC:
        try:
            xs, ys = warp_transform(raster.crs, _GEOGRAPHIC, [x], [y])
        except (RasterioError, ValueError) as exc:
            raise RasterError(f"{raster.path}: cannot convert the peak to lon/lat from "
                              f"{raster.crs} ({exc})") from None
        x, y = float(xs[0]), float(ys[0])
    peak["lon"], peak["lat"] = x, y
    return peak


def score_file(path: str, loaded: LoadedModel, opts: ScanOptions,
               map_path: Path | None) -> dict[str, Any]:
    """Read, score and (optionally) map one file; the JSON record of the result."""
    start = time.perf_counter()
    raster = read_raster(path, max_pixels=opts.max_pixels)
    arr = to_network_input(raster, opts)
    look: SecondLook | None = None
    try:
        if opts.wrapped:
            det: Detection = detect_wrapped(loaded.model, arr, gains=opts.gains,
                                            threshold=opts.threshold, method=opts.method)
        else:
            def score(x: NDArray[np.float32]) -> Detection:
                return detect_displacement(loaded.model, x, gains=opts.gains,
                                           threshold=opts.threshold, method=opts.method,
                                           fringe_spacing_m=opts.fringe_spacing_m)

            det = score(arr)
            if opts.dem is not None:
                _check_same_grid(raster, opts.dem)
                # The pixel size is needed (and may be missing) only for a flagged file.
                look = second_look(arr, opts.dem.data, score, pixel_size_m(raster, opts),
                                   opts.second_look, raw=det) if det.flag \
                    else SecondLook(det, det)
                det = look.final
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    record: dict[str, Any] = {
        "file": path,
        "p_fused": det.p_fused,
        "p_by_gain": {f"{g:g}": p for g, p in det.p_by_gain.items()},
        "flag": det.flag,
        "threshold": det.threshold,
        "peak": peak_record(raster, det.peak_row, det.peak_col),
        "shape": list(raster.shape),
        "input": {"units": "rad" if opts.wrapped else opts.units, "wrapped": opts.wrapped},
        "gains": list(opts.gains),
        "method": opts.method,
        "model": {"path": loaded.path, "arch": loaded.arch, "sha256": loaded.sha256},
    }
    if look is not None:
        record["second_look"] = second_look_record(look)
    if map_path is not None:
        write_raster(map_path, det.prob_map, crs=raster.crs, transform=raster.transform)
        record["map"] = str(map_path)
    record["seconds"] = round(time.perf_counter() - start, 4)
    return record


def second_look_record(look: SecondLook) -> dict[str, Any]:
    """What the JSON record says of the second look."""
    rec: dict[str, Any] = {
        "method": look.method, "p_fused_raw": look.raw.p_fused,
        "p_by_gain_raw": {f"{g:g}": p for g, p in look.raw.p_by_gain.items()},
        "flag_raw": look.raw.flag}
    if look.fit is not None:
        rec.update(look.fit.record())
    if look.reason is not None:
        rec["reason"] = look.reason
    return rec


def pixel_size_m(raster: Raster, opts: ScanOptions) -> tuple[float, float]:
    """``(east, north)`` pixel size of ``raster`` in metres (see the module docstring).

    Raises:
        InputError: No georeference and no ``--pixel-m``, or a CRS that cannot be read.
    """
    if raster.transform is None or raster.crs is None:
        if opts.pixel_m is None:
            raise InputError("the raster has no georeference: give its pixel size with "
                             "--pixel-m for the second look")
        return opts.pixel_m, opts.pixel_m
    t = raster.transform
    try:
        geographic = CRS.from_string(raster.crs).is_geographic
    except CRSError as exc:
        raise InputError(f"cannot read the raster's CRS {raster.crs!r} ({exc})") from None
    dx, dy = abs(float(t.a)), abs(float(t.e))
    if not geographic:
        return dx, dy
    ny = raster.shape[0]
    lat = float(t.f + t.e * ny / 2.0)
    east, north = metres_per_degree(max(-90.0, min(90.0, lat)))
    return dx * east, dy * north


def _check_same_grid(raster: Raster, dem: Raster) -> None:
    if raster.shape != dem.shape:
        raise InputError(f"the DEM {dem.path} is {dem.shape[0]} x {dem.shape[1]} pixels, the "
                         f"file {raster.shape[0]} x {raster.shape[1]}; they must share a grid")
    if raster.crs is not None and dem.crs is not None and raster.crs != dem.crs:
        raise InputError(f"the DEM {dem.path} is in {dem.crs}, the file in {raster.crs}; "
                         "they must share a grid")
    if raster.transform is not None and dem.transform is not None and not \
            raster.transform.almost_equals(dem.transform, precision=1e-9):
        raise InputError(f"the DEM {dem.path} has the transform {tuple(dem.transform)[:6]}, "
                         f"the file {tuple(raster.transform)[:6]}; they must share a grid")


def _text_line(rec: dict[str, Any]) -> str:
    peak = rec["peak"]
    where = f"row {peak['row']} col {peak['col']}"
    if "lon" in peak:
        where += f" (lon {peak['lon']:.5f}, lat {peak['lat']:.5f})"
    gains = ", ".join(f"mu={g}: {p:.3f}" for g, p in rec["p_by_gain"].items())
    verdict = "FLAG" if rec["flag"] else "ok"
    look = rec.get("second_look")
    after = ""
    if look is not None and look["flag_raw"]:
        after = (f" (raw P={look['p_fused_raw']:.3f}, second look: {look['method']}"
                 + (f": {look['reason']}" if "reason" in look else "") + ")")
    return (f"{rec['file']}: {verdict} P={rec['p_fused']:.3f} at {where} [{gains}]{after} "
            f"{rec['seconds']:.2f} s")


def _options(args: argparse.Namespace) -> ScanOptions:
    settings = load_settings(args.config)
    if args.wrapped and args.units not in (None, "rad"):
        raise InputError(f"--wrapped input is phase in radians; --units {args.units} does "
                         "not apply (leave --units out)")
    if not (args.wavelength > 0 and math.isfinite(args.wavelength)):
        raise InputError(f"--wavelength must be a positive number of metres, got "
                         f"{args.wavelength}")
    threshold = settings.science.flag_threshold if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must lie in [0, 1], got {threshold}")
    gains = tuple(args.gains or settings.science.gains)
    if args.wrapped and any(g != int(g) for g in gains):
        raise InputError(f"--wrapped phase can only be re-wrapped with integer gains, got "
                         f"{','.join(f'{g:g}' for g in gains)}")
    if args.pixel_m is not None and not (args.pixel_m > 0 and math.isfinite(args.pixel_m)):
        raise InputError(f"--pixel-m must be a positive number of metres, got {args.pixel_m}")
    dem = look = None
    if args.dem is not None:
        if args.wrapped:
            raise InputError("--dem: the second look fits the delay to unwrapped "
                             "displacement; wrapped phase cannot be corrected this way")
        look = second_look_settings(args.second_look_radius_km, settings.correction)
        dem = read_raster(args.dem, max_pixels=settings.rasters.max_pixels)
    return ScanOptions(
        units=args.units or "m", wrapped=bool(args.wrapped),
        sensor=Sensor("custom", float(args.wavelength), int(args.phase_sign)),
        gains=gains, threshold=float(threshold), method=args.method,
        fringe_spacing_m=settings.science.fringe_spacing_m,
        max_pixels=settings.rasters.max_pixels, dem=dem, second_look=look,
        pixel_m=args.pixel_m,
    )


def run(args: argparse.Namespace) -> int:
    """Score every file; report each failure on stderr and return the first one's code."""
    opts = _options(args)
    maps = map_paths(args.map, list(args.files))
    set_threads(args.threads)
    loaded = load_detector(args.model, args.arch, resolve_device(args.device))
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
