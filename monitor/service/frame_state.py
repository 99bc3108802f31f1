"""What the pipeline keeps about one target's frame besides the series: its grid and crop.

The daisy-chain state (:mod:`monitor.service.series_files`) holds the cumulative image and
the union of the reference regions, but not the frame's geographic grid. The pipeline needs
the grid to place the target disc (and configured reference discs) when it scores an epoch
without a product in hand (after a crash, see :mod:`monitor.service.pipeline`), so the grid
is written beside the series file as a small JSON document (atomically, before the series
file itself).

The series grid is the target's **crop** of the frame (:mod:`monitor.science.crop`): the
document also records the window in frame pixels, the whole frame's grid it was cut from
and the half-width it was cut with (``crop``), so that every later poll, and a restart,
reads exactly the same pixels whatever the configuration says now
(:class:`SeriesGrid`). A document written before crops existed has no ``crop``: its
series is on the whole frame, and stays so until it is rebuilt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.transform import Affine

from monitor.errors import DatasetError, MonitorError
from monitor.io.atomic import atomic_write
from monitor.io.licsar_frame import frame_grid
from monitor.io.raster_header import RasterHeader
from monitor.io.rasters import Raster
from monitor.science.crop import PixelWindow, crop_grid
from monitor.science.grids import FrameGrid


@dataclass(frozen=True)
class SeriesGrid:
    """The grid of a series and the crop it was cut with.

    Attributes:
        grid: The series grid: the crop, on which every map of the series lies.
        frame: The whole frame's grid (the products' grid).
        window: The crop in frame pixels (the whole frame for a series recorded before
            crops existed).
        crop_km: The half-width the crop was cut with, kilometres; None for a series
            recorded before crops existed.
    """

    grid: FrameGrid
    frame: FrameGrid
    window: PixelWindow
    crop_km: float | None

    @classmethod
    def cut(cls, frame: FrameGrid, window: PixelWindow, crop_km: float | None) -> SeriesGrid:
        """The series grid of ``window`` of ``frame``."""
        return cls(crop_grid(frame, window), frame, window, crop_km)


def on_grid(shape: tuple[int, int], transform: Affine | None, grid: FrameGrid) -> bool:
    """Whether a raster of this shape and transform lies on ``grid``."""
    return shape == grid.shape and transform is not None \
        and transform.almost_equals(grid.transform)


def grid_path(series_file: str | Path) -> Path:
    """The grid document beside a series file."""
    p = Path(series_file)
    return p.with_name(p.name.removesuffix(".series.npz") + ".grid.json")


def _grid_doc(grid: FrameGrid) -> dict[str, object]:
    return {"shape": list(grid.shape), "transform": list(grid.transform)[:6],
            "source": grid.source}


def save_grid(path: str | Path, grid: SeriesGrid) -> Path:
    """Write the series grid (shape, affine coefficients, source) and its crop (window,
    frame grid, half-width) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {**_grid_doc(grid.grid),
           "crop": {"window": grid.window.as_list(), "crop_km": grid.crop_km,
                    "frame": _grid_doc(grid.frame)}}
    with atomic_write(p, "w", fsync=True) as f:
        json.dump(doc, f)
    return p


def _grid_of(doc: Any) -> FrameGrid:
    shape, transform = doc["shape"], doc["transform"]
    placeholder = np.broadcast_to(np.float32(0.0), (int(shape[0]), int(shape[1])))
    return frame_grid(Raster(placeholder, "EPSG:4326",
                             Affine(*(float(v) for v in transform)), str(doc["source"])))


def load_series_grid(path: str | Path) -> SeriesGrid:
    """Read a grid written by :func:`save_grid` (module docstring for documents without
    a crop).

    Raises:
        DatasetError: missing or unreadable file, or a crop that does not fit its frame.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        grid = _grid_of(doc)
        crop = doc.get("crop")
        if crop is None:
            return SeriesGrid(grid, grid, PixelWindow(0, 0, *grid.shape), None)
        frame = _grid_of(crop["frame"])
        window = PixelWindow(*(int(v) for v in crop["window"]))
        crop_km = None if crop["crop_km"] is None else float(crop["crop_km"])
        cut = SeriesGrid.cut(frame, window, crop_km)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
            MonitorError) as exc:
        raise DatasetError(f"{p}: unreadable frame grid ({exc}); delete the series file "
                           "beside it to rebuild the series from the archive") from None
    if cut.grid.shape != grid.shape or not cut.grid.transform.almost_equals(grid.transform):
        raise DatasetError(f"{p}: the recorded crop {window.as_list()} of the frame does not "
                           f"give the recorded series grid {grid.shape}; delete the series "
                           "file beside it to rebuild the series from the archive")
    return SeriesGrid(grid, frame, window, crop_km)


def load_grid(path: str | Path) -> FrameGrid:
    """The series grid (the crop) of a document written by :func:`save_grid`.

    Raises:
        DatasetError: missing or unreadable file.
    """
    return load_series_grid(path).grid


def header_grid(header: RasterHeader) -> FrameGrid:
    """The grid a raster's header describes (no pixels read): the frame's height file
    fixes the grid of a new series this way.

    Raises:
        DatasetError: no georeference, another CRS, or a rotated transform.
    """
    placeholder = np.broadcast_to(np.float32(0.0), header.shape)
    return frame_grid(Raster(placeholder, header.crs, header.transform, header.path))
