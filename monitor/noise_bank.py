"""A bank of real quiet epochs from a LiCSAR-layout frame (glue above the readers).

The quiet epochs are the frame's products that overlap no event window, restricted to
chosen calendar years (blocks of time, :mod:`monitor.event_windows`); they feed the
semi-real training sets (:mod:`monitor.science.semireal`) and the calibration of the
detector's probabilities (:mod:`monitor.science.detect.calibration`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.config import Settings
from monitor.errors import InputError
from monitor.event_windows import Window, in_years, overlaps
from monitor.io.licsar_frame import open_frame, read_frame, read_grid
from monitor.science.grids import FrameGrid
from monitor.science.semireal import NoiseEpoch


@dataclass(frozen=True)
class NoiseBank:
    """Quiet epochs of one frame, in date order, where they come from, and the frame's
    heights on its grid (None when the frame has no ``hgt``)."""

    epochs: list[NoiseEpoch]
    grid: FrameGrid
    source: dict[str, Any]
    dem: NDArray[np.float32] | None = None


def load_noise_bank(archive: str, frame: str, settings: Settings, *,
                    events: tuple[Window, ...] = (),
                    years: Collection[int] | None = None) -> NoiseBank:
    """Read the frame and keep its quiet epochs of ``years`` (None: every year).

    Raises:
        InputError: no product of the frame is quiet and in ``years``.
        DatasetError: the archive or frame cannot be read.
    """
    layout = open_frame(archive, frame)
    grid, dem = read_grid(layout, settings.rasters.max_pixels)
    products = read_frame(layout, grid, dem,
                          coherence_threshold=settings.science.coherence_threshold,
                          max_pixels=settings.rasters.max_pixels)
    kept = [NoiseEpoch(i.date1, i.date2, i.displacement_m)
            for i in products.interferograms
            if not overlaps((i.date1, i.date2), events) and in_years((i.date1, i.date2),
                                                                       years)]
    if not kept:
        raise InputError(f"frame {frame} in {archive}: none of its "
                         f"{len(products.interferograms)} products is outside the event "
                         f"windows and in the years {sorted(years or [])}; widen them")
    kept.sort(key=lambda e: (e.date1, e.date2))
    source = {"archive": str(archive), "frame": frame,
              "years": sorted(years) if years is not None else "all",
              "events": [[a.isoformat(), b.isoformat()] for a, b in events],
              "grid": {"shape": list(grid.shape), "pixel_m": list(grid.pixel_m)}}
    return NoiseBank(kept, grid, source, dem)
