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

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import CorrectionSettings
from monitor.domain import FrameMetadata
from monitor.errors import DatasetError, MonitorError
from monitor.io.delays import read_cos_incidence, read_delay_on_grid, read_heights_on_grid
from monitor.ports import Archive
from monitor.science.atmocorr import delay_difference_los, remove_delay
from monitor.science.grids import FrameGrid
from monitor.science.scoring import CorrectionSource, MapScore, Regions, empirical_source

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


def _weather_model(files: FrameFiles, kind: str, span: tuple[date, date],
                   regions: Regions, settings: CorrectionSettings) -> CorrectionSource:
    def correct(image: NDArray[np.float32], raw: MapScore
                ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        paths = []
        for epoch in span:
            delays = files.archive.fetch_epoch_delays(files.frame, epoch, files.cache_dir,
                                                      (kind,))
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
        atmosphere = delay_difference_los(first, last, cos_inc, settings.delay_geometry)
        return remove_delay(image, atmosphere, regions.reference_union), details
    return correct


def correction_sources(files: FrameFiles, span: tuple[date, date], regions: Regions,
                       settings: CorrectionSettings, flag_threshold: float
                       ) -> list[tuple[str, CorrectionSource]]:
    """The sources of ``settings.methods``, in order (module docstring).

    Args:
        files: The frame's archive files.
        span: First epoch of the series segment and the scored epoch.
        regions: The frame's target and references.
        settings: The ``[correction]`` settings.
        flag_threshold: The flag threshold (the flagged region is left out of the fit).
    """
    look = settings.second_look()
    out: list[tuple[str, CorrectionSource]] = []
    for method in settings.methods:
        if method in WEATHER_MODELS:
            out.append((method, _weather_model(files, method, span, regions, settings)))
        else:
            def empirical(image: NDArray[np.float32], raw: MapScore
                          ) -> tuple[NDArray[np.float32], dict[str, Any]]:
                return empirical_source(files.dem(), regions, look, flag_threshold)(image, raw)
            out.append((method, empirical))
    return out
