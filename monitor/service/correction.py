"""The correction sources of a flagged step's second look, built for one frame and epoch.

Anantrasirichai et al. (2019a, section 5) find that most false positives come from
stratified atmosphere over tall edifices and that correcting only the positives is cheap:
11 of 12 false positives cleared, all 41 true positives kept. The second look itself
(rule 3 of :mod:`monitor.science.scoring`) is pure; this module gives it its sources, in
the order of ``[correction] methods``, for the watch and ``scan-series`` alike:

* ``gacos`` / ``icams``: the archive's per-epoch delay files for the first and the scored
  epoch of the series segment (fetched when the source is tried, that is only for
  flagged steps, through :meth:`~monitor.ports.Archive.fetch_epoch_delays`), differenced
  over the cumulative span and projected to the line of sight with the frame's incidence
  (:func:`~monitor.science.atmocorr.delay_difference_los`), removed and re-referenced to
  the series reference;
* ``empirical``: the band-filtered phase-elevation fit over the frame's DEM
  (``metadata/<frame>.geo.hgt.tif``, :func:`~monitor.science.scoring.empirical_source`),
  as LiCSBAS and MintPy do, with its coefficients from the band below ``band_sigma_m``.

A source that cannot be used (file not published, corrupt, unreachable archive, too few
pixels, flat ground) raises, and the second look records the reason and tries the next.
(A check that the correction lowers the scatter outside the target, as LiCSBAS makes of
its GACOS step, was tried and dropped: stratification concentrates on the edifice, so
outside the target it rejected GACOS corrections that took strong-stratification false
flags from P 0.7 to 0.3.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import CorrectionSettings
from monitor.domain import FrameMetadata
from monitor.errors import DatasetError, InputError, MonitorError
from monitor.io.delays import read_cos_incidence, read_delay_on_grid, read_heights_on_grid
from monitor.ports import Archive
from monitor.science.grids import FrameGrid
from monitor.science.scoring import (
    CorrectionSource,
    MapScore,
    Regions,
    delay_source,
    empirical_source,
)

#: Methods that read the archive's weather-model delay files.
WEATHER_MODELS = ("gacos", "icams")


class FrameFiles:
    """A frame's metadata files and DEM, fetched once and only when first needed."""

    def __init__(self, archive: Archive, frame: str, grid: FrameGrid, cache_dir: Path) -> None:
        self.archive, self.frame, self.grid, self.cache_dir = archive, frame, grid, cache_dir
        self._files: FrameMetadata | None = None
        self._dem: NDArray[np.float32] | None = None

    def files(self) -> FrameMetadata:
        """The metadata files (:meth:`~monitor.ports.Archive.fetch_metadata`)."""
        if self._files is None:
            self._files = self.archive.fetch_metadata(self.frame, self.cache_dir)
        return self._files

    def dem(self) -> NDArray[np.float32]:
        """Heights on the frame grid, metres.

        Raises:
            DatasetError: the archive has no height file, or it is unusable.
            ArchiveUnavailable: the archive could not be reached.
        """
        if self._dem is None:
            path = self.files().hgt_path
            if path is None:
                raise DatasetError(f"frame {self.frame}: no DEM: the archive has no height file "
                                   "(metadata/<frame>.geo.hgt.tif)")
            self._dem = read_heights_on_grid(path, self.grid)
        return self._dem

    def dem_if_any(self) -> tuple[NDArray[np.float32] | None, str | None]:
        """The DEM, or None and why (to place references without one)."""
        try:
            return self.dem(), None
        except (MonitorError, OSError) as exc:
            return None, str(exc)


@dataclass(frozen=True, eq=False)
class SourceInputs:
    """What one correction source needs, read from the archive beforehand, so that the
    second look itself runs anywhere (a worker process, a Dask worker) without a file.

    Attributes:
        method: ``gacos``, ``icams`` or ``empirical``.
        error: Why the source cannot be used (its files missing, unreadable, the archive
            unreachable), worded as the second look records it; None when it can.
        first_m, last_m: A weather model's delays of the segment's first and scored
            epochs on the frame grid, metres ``(ny, nx)``.
        cos_incidence: Cosine of the incidence on the grid (zenith delays), or 1.0.
        details: What the second look records of a weather model (files, geometry,
            incidence).
        dem_m: Heights on the frame grid, metres ``(ny, nx)`` (``empirical``).
    """

    method: str
    error: str | None = None
    first_m: NDArray[np.float32] | None = None
    last_m: NDArray[np.float32] | None = None
    cos_incidence: NDArray[np.float32] | float = 1.0
    details: dict[str, Any] = field(default_factory=dict)
    dem_m: NDArray[np.float32] | None = None


def _weather_inputs(files: FrameFiles, kind: str, span: tuple[date, date],
                    settings: CorrectionSettings) -> SourceInputs:
    paths = []
    for epoch in span:
        delays = files.archive.fetch_epoch_delays(files.frame, epoch, files.cache_dir, (kind,))
        if kind not in delays:
            raise DatasetError(f"the archive publishes no {kind} delay for {epoch} "
                               f"(frame {files.frame})")
        paths.append(delays[kind])
    first, last = (read_delay_on_grid(p, files.grid) for p in paths)
    details: dict[str, Any] = {"files": [Path(p).name for p in paths],
                               "geometry": settings.delay_geometry}
    cos_inc: NDArray[np.float32] | float = 1.0
    if settings.delay_geometry == "zenith":
        meta = files.files()
        cos_inc = read_cos_incidence(meta.u_path, meta.metadata_txt_path, files.grid)
        details["incidence_from"] = "U raster" if meta.u_path else "metadata.txt"
        details["mean_incidence_deg"] = round(float(np.degrees(np.arccos(
            np.nanmean(cos_inc)))), 2)
    return SourceInputs(kind, first_m=first, last_m=last, cos_incidence=cos_inc,
                        details=details)


def read_source_inputs(files: FrameFiles, method: str, span: tuple[date, date],
                       settings: CorrectionSettings) -> SourceInputs:
    """Read what ``method`` needs (I/O: the archive's delay files, the frame's metadata and
    DEM). A source that cannot be used is returned with its ``error``, worded as
    :func:`~monitor.science.scoring.second_look` words a source that raised.

    Args:
        files: The frame's archive files.
        method: ``gacos``, ``icams`` or ``empirical``.
        span: First epoch of the series segment and the scored epoch.
        settings: The ``[correction]`` settings.
    """
    try:
        if method in WEATHER_MODELS:
            return _weather_inputs(files, method, span, settings)
        return SourceInputs(method, dem_m=files.dem())
    except (MonitorError, OSError) as exc:
        return SourceInputs(method, error=str(exc))
    except (ValueError, ArithmeticError) as exc:  # numerics, as the second look words them
        return SourceInputs(method, error=f"failed: {type(exc).__name__}: {exc}")


def input_source(inputs: SourceInputs, regions: Regions, settings: CorrectionSettings,
                 flag_threshold: float) -> CorrectionSource:
    """The correction source of inputs read beforehand (pure: no file, no archive)."""
    if inputs.error is not None:
        error = inputs.error

        def unavailable(image: NDArray[np.float32], raw: MapScore
                        ) -> tuple[NDArray[np.float32], dict[str, Any]]:
            raise InputError(error)
        return unavailable
    if inputs.method in WEATHER_MODELS:
        if inputs.first_m is None or inputs.last_m is None:
            raise InputError(f"{inputs.method} correction inputs without delays")
        return delay_source(inputs.first_m, inputs.last_m, inputs.cos_incidence,
                            settings.delay_geometry, regions, inputs.details)
    return empirical_source(inputs.dem_m, regions, settings.second_look(), flag_threshold)


def correction_sources(files: FrameFiles, span: tuple[date, date], regions: Regions,
                       settings: CorrectionSettings, flag_threshold: float
                       ) -> list[tuple[str, CorrectionSource]]:
    """The sources of ``settings.methods``, in order (module docstring), each reading its
    files only when it is tried (``scan-series``; the watch reads them in its writer
    thread with :func:`read_source_inputs`, in the same order and only as far as needed,
    and builds the same sources with :func:`input_source` in its scoring task).

    Args:
        files: The frame's archive files.
        span: First epoch of the series segment and the scored epoch.
        regions: The frame's target and references.
        settings: The ``[correction]`` settings.
        flag_threshold: The flag threshold (the flagged region is left out of the fit).
    """
    def lazy(method: str) -> CorrectionSource:
        def correct(image: NDArray[np.float32], raw: MapScore
                    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
            inputs = read_source_inputs(files, method, span, settings)
            return input_source(inputs, regions, settings, flag_threshold)(image, raw)
        return correct
    return [(method, lazy(method)) for method in settings.methods]
