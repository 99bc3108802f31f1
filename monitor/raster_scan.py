"""Score single rasters for deformation (glue above the science, below ``insar-monitor scan``).

One file at a time: read it (:func:`monitor.io.rasters.read_raster`), check that its values
can be what the units say (:mod:`monitor.input_checks`), turn them into the detector's
input (LOS metres, or wrapped phase with the sensor's sign), score them at every gain
(:func:`~monitor.science.detect.fusion.detect_displacement` or
:func:`~monitor.science.detect.fusion.detect_wrapped`), give a flagged map the second look
with the DEM when there is one (:func:`~monitor.science.detect.second_look.second_look`),
optionally write the fused probability map, and return the JSON record that the command
prints (its fields are listed in :mod:`monitor.cli.scan_cmd`). Nothing here prints.

Pixel sizes come from the georeference: a geographic raster's degrees are converted as the
frame grid does (:func:`monitor.io.licsar_frame.geographic_pixel_m`), a projected one's
transform is already in metres; a raster without a georeference needs ``pixel_m``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import transform as warp_transform

from monitor.errors import InputError, RasterError
from monitor.input_checks import check_values
from monitor.io.models import LoadedBlockModel, LoadedModel
from monitor.io.rasters import Raster, read_raster, write_raster
from monitor.science.detect.blocks import BLOCK_ARCH, BlockDetector
from monitor.science.detect.fusion import (
    CnnDetector,
    Detection,
    detect_wrapped,
    pixel_centre_lonlat,
)
from monitor.science.detect.second_look import DetectionSecondLook, second_look
from monitor.science.geometry import Sensor, phase_to_displacement
from monitor.science.grids import geographic_pixel_m
from monitor.science.second_look_settings import SecondLookSettings

_GEOGRAPHIC = "EPSG:4326"


@dataclass(frozen=True)
class ScanOptions:
    """What every file is scored with.

    Attributes:
        units: Units of unwrapped input: ``"m"``, ``"mm"`` or ``"rad"``.
        wrapped: The input is wrapped phase, radians in [-pi, pi].
        sensor: Wavelength (metres) and phase sign turning radians into LOS metres.
        gains: Wrap gains.
        threshold: Flag threshold on the fused probability.
        method: Inference path (``auto``, ``dense``, ``sliding``).
        fringe_spacing_m: LOS metres per fringe at gain 1.
        max_pixels: Largest raster read.
        dem: Heights on the files' grid, metres, for the second look; None for none.
        second_look: The second look's settings (with ``dem``).
        pixel_m: Pixel size in metres of rasters without a georeference.
    """

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
    """Where each file's probability map goes.

    ``pattern`` may contain ``{stem}`` (the input file name without its suffix); with
    several files it must, or it must be an existing directory, where the maps are written
    as ``{stem}.prob.tif``.

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


def _block_detection(raster: Raster, arr: NDArray[np.float32], loaded: LoadedBlockModel,
                     opts: ScanOptions) -> Detection:
    """The block detector's detection of one unwrapped map, with the DEM's heights for its
    height term when there is one (no second look: the height term is fitted in every
    window)."""
    heights = None
    if opts.dem is not None:
        check_same_grid(raster, opts.dem)
        heights = opts.dem.data
    detector = BlockDetector(loaded.model, loaded.calibration,
                             pixel_size_m(raster, opts.pixel_m), heights, opts.threshold)
    return detector.detect(arr)


def score_file(path: str, loaded: LoadedModel | LoadedBlockModel, opts: ScanOptions,
               map_path: Path | None) -> dict[str, Any]:
    """Read, check, score and (optionally) map one file; the JSON record of the result.

    Raises:
        MonitorError: The file cannot be read, its values cannot be what the units say
            (:class:`~monitor.errors.InputError` naming it), or it cannot be scored.
    """
    start = time.perf_counter()
    raster = read_raster(path, max_pixels=opts.max_pixels)
    check_values(raster, opts.units, opts.wrapped, opts.sensor)
    arr = to_network_input(raster, opts)
    look: DetectionSecondLook | None = None
    det: Detection
    try:
        if isinstance(loaded, LoadedBlockModel):
            det = _block_detection(raster, arr, loaded, opts)
        elif opts.wrapped:
            det = detect_wrapped(loaded.model, arr, gains=opts.gains,
                                            threshold=opts.threshold, method=opts.method,
                                            calibration=loaded.calibration)
        else:
            detector = CnnDetector(loaded.model, gains=opts.gains, threshold=opts.threshold,
                                   method=opts.method, fringe_spacing_m=opts.fringe_spacing_m,
                                   calibration=loaded.calibration,
                                   pixel_m=_mean_pixel_m(raster, opts.pixel_m))
            det = detector.detect(arr)
            if opts.dem is not None:
                check_same_grid(raster, opts.dem)
                # The pixel size is needed (and may be missing) only for a flagged file.
                look = second_look(arr, opts.dem.data, detector,
                                   pixel_size_m(raster, opts.pixel_m),
                                   opts.second_look, raw=det) if det.flag \
                    else DetectionSecondLook(det, det)
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
        "gains": [] if isinstance(loaded, LoadedBlockModel) else list(opts.gains),
        "method": "blocks" if isinstance(loaded, LoadedBlockModel) else opts.method,
        "model": {"path": loaded.path,
                  "arch": BLOCK_ARCH if isinstance(loaded, LoadedBlockModel) else loaded.arch,
                  "sha256": loaded.sha256},
    }
    if look is not None:
        record["second_look"] = second_look_record(look)
    if map_path is not None:
        write_raster(map_path, det.prob_map, crs=raster.crs, transform=raster.transform)
        record["map"] = str(map_path)
    record["seconds"] = round(time.perf_counter() - start, 4)
    return record


def second_look_record(look: DetectionSecondLook) -> dict[str, Any]:
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


def _mean_pixel_m(raster: Raster, pixel_m: float | None) -> float | None:
    """Mean pixel size for the detector's noise lag; None (100 m) where it is unknown."""
    try:
        east, north = pixel_size_m(raster, pixel_m)
    except InputError:
        return None
    return 0.5 * (east + north)


def pixel_size_m(raster: Raster, pixel_m: float | None = None) -> tuple[float, float]:
    """``(east, north)`` pixel size of ``raster`` in metres.

    Geographic rasters: :func:`monitor.io.licsar_frame.geographic_pixel_m` (the frame
    grid's formula, at the raster's centre latitude); projected ones: the transform's
    ``|a|``, ``|e|``; without a georeference: ``pixel_m``.

    Raises:
        InputError: No georeference and no ``pixel_m``, or a CRS that cannot be read.
    """
    if raster.transform is None or raster.crs is None:
        if pixel_m is None:
            raise InputError("the raster has no georeference: give its pixel size with "
                             "--pixel-m for the second look")
        return pixel_m, pixel_m
    t = raster.transform
    try:
        geographic = CRS.from_string(raster.crs).is_geographic
    except CRSError as exc:
        raise InputError(f"cannot read the raster's CRS {raster.crs!r} ({exc})") from None
    if not geographic:
        return abs(float(t.a)), abs(float(t.e))
    return geographic_pixel_m(t, raster.shape[0])


def check_same_grid(raster: Raster, dem: Raster) -> None:
    """Refuse a DEM that is not on the raster's grid (shape, CRS, transform).

    Raises:
        InputError: Naming the DEM and both grids.
    """
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
