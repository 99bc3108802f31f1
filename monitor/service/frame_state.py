"""What the pipeline keeps about one target's frame besides the series: its grid.

The daisy-chain state (:mod:`monitor.service.series_files`) holds the cumulative image and
the union of the reference regions, but not the frame's geographic grid. The pipeline needs
the grid to place the target disc (and configured reference discs) when it scores an epoch
without a product in hand (after a crash, see :mod:`monitor.service.pipeline`), so the grid
is written beside the series file as a small JSON document (atomically, before the series
file itself).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rasterio.transform import Affine

from monitor.errors import DatasetError
from monitor.io.atomic import atomic_write
from monitor.io.licsar_frame import frame_grid
from monitor.io.raster_header import RasterHeader
from monitor.io.rasters import Raster
from monitor.science.grids import FrameGrid


def grid_path(series_file: str | Path) -> Path:
    """The grid document beside a series file."""
    p = Path(series_file)
    return p.with_name(p.name.removesuffix(".series.npz") + ".grid.json")


def save_grid(path: str | Path, grid: FrameGrid) -> Path:
    """Write the grid (shape, affine coefficients, source) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    doc = {"shape": list(grid.shape), "transform": list(grid.transform)[:6],
           "source": grid.source}
    with atomic_write(p, "w", fsync=True) as f:
        json.dump(doc, f)
    return p


def load_grid(path: str | Path) -> FrameGrid:
    """Read a grid written by :func:`save_grid`.

    Raises:
        DatasetError: missing or unreadable file.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        shape = (int(doc["shape"][0]), int(doc["shape"][1]))
        transform = Affine(*(float(v) for v in doc["transform"]))
        source = str(doc["source"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise DatasetError(f"{p}: unreadable frame grid ({exc}); delete the series file "
                           "beside it to rebuild the series from the archive") from None
    placeholder = np.broadcast_to(np.float32(0.0), shape)
    return frame_grid(Raster(placeholder, "EPSG:4326", transform, source))


def header_grid(header: RasterHeader) -> FrameGrid:
    """The grid a raster's header describes (no pixels read): the frame's height file
    fixes the grid of a new series this way.

    Raises:
        DatasetError: no georeference, another CRS, or a rotated transform.
    """
    placeholder = np.broadcast_to(np.float32(0.0), header.shape)
    return frame_grid(Raster(placeholder, header.crs, header.transform, header.path))
