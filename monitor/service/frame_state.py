"""What the pipeline keeps about one target's frame besides the series: grid and regions.

The daisy-chain state (:mod:`monitor.service.series_files`) holds the cumulative image and
the union of the reference regions, but not the frame's geographic grid. The pipeline needs
the grid to place the target disc (and configured reference discs) when it scores an epoch
without a product in hand (after a crash, see :mod:`monitor.service.pipeline`), so the grid
is written beside the series file as a small JSON document (atomically, before the series
file itself).

Regions (the rules of :mod:`monitor.series_scan`, applied to the first product of a chain):

* **Target**: the configured disc (``lon``, ``lat``, ``radius_km``) on the frame grid.
* **References** ``auto``: up to :data:`~monitor.series_scan.AUTO_REFERENCE_COUNT` square
  windows chosen by :func:`~monitor.science.lstt_regions.auto_reference_regions` on the
  coherence of the first product, at least two target radii from the centre; side = the
  target diameter in pixels clamped to [8, min(ny, nx) // 4]. Their union is stored in the
  state as the chain's reference (removed from every product); each connected component of
  that union is one LSTT reference region when an epoch is scored.
* **References** configured: ground discs placed on the grid each time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rasterio.transform import Affine
from scipy import ndimage

from monitor.config import TargetSettings
from monitor.errors import DatasetError, InputError
from monitor.io.atomic import atomic_write
from monitor.io.licsar_frame import frame_grid
from monitor.io.rasters import Raster
from monitor.science.grids import FrameGrid, GroundDisc
from monitor.science.lstt_regions import auto_reference_regions
from monitor.series_scan import AUTO_REFERENCE_COUNT


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


def target_disc(target: TargetSettings) -> GroundDisc:
    """The target's disc on the ground."""
    return GroundDisc(target.lon, target.lat, target.radius_km)


def target_mask(grid: FrameGrid, target: TargetSettings) -> tuple[tuple[float, float],
                                                                  NDArray[np.bool_]]:
    """Centre (row, col) and boolean ``(ny, nx)`` mask of the target disc.

    Raises:
        InputError: the target lies outside the frame.
    """
    return grid.disc_mask(target_disc(target), f"target {target.id}")


def chain_reference(grid: FrameGrid, target: TargetSettings, coherence: NDArray[np.floating],
                    coherence_threshold: float) -> NDArray[np.bool_]:
    """The union of the reference regions of a new chain, boolean ``(ny, nx)``.

    Args:
        grid: The frame grid.
        target: The target (its disc and its ``references``).
        coherence: Coherence of the chain's first product, 0-1, ``(ny, nx)``.
        coherence_threshold: Coherence at or below which a pixel is incoherent.

    Raises:
        InputError: a region outside the frame, overlapping the target, or no automatic
            window qualifies.
    """
    centre, tmask = target_mask(grid, target)
    if target.references != "auto":
        masks = [grid.disc_mask(GroundDisc(r.lon, r.lat, r.radius_km),
                                f"target {target.id} reference {k}")[1]
                 for k, r in enumerate(target.references, 1)]
    else:
        radius_px = target.radius_km * 1000.0 / min(grid.pixel_m)
        size = int(min(max(8, math.ceil(2 * radius_px)), min(grid.shape) // 4))
        coh = np.where(np.isfinite(coherence), coherence, 0.0)
        try:
            windows = auto_reference_regions(
                coh, target_centre_rc=centre, target_radius_px=radius_px,
                n=AUTO_REFERENCE_COUNT, size_px=size, field_is_coherence=True,
                coherence_threshold=coherence_threshold)
        except InputError as exc:
            raise InputError(f"target {target.id}: automatic references: {exc}; configure "
                             "references = [{lon, lat, radius_km}, ...]") from None
        masks = [w.mask(grid.shape) for w in windows]
    union = np.logical_or.reduce(masks)
    if (union & tmask).any():
        raise InputError(f"target {target.id}: a reference region overlaps the target disc; "
                         "references must lie on stable ground outside it")
    return np.asarray(union, dtype=bool)


def lstt_reference_masks(grid: FrameGrid, target: TargetSettings,
                         chain_reference_mask: NDArray[np.bool_] | None
                         ) -> list[NDArray[np.bool_]]:
    """The LSTT reference regions of an epoch: configured discs, or the components of the
    chain's reference union (automatic windows)."""
    if target.references != "auto":
        return [grid.disc_mask(GroundDisc(r.lon, r.lat, r.radius_km),
                               f"target {target.id} reference {k}")[1]
                for k, r in enumerate(target.references, 1)]
    if chain_reference_mask is None or not chain_reference_mask.any():
        return []
    labels, n = ndimage.label(chain_reference_mask)
    return [np.asarray(labels == k) for k in range(1, int(n) + 1)]
