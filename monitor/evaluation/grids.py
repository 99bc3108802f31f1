"""Packaged SRTM crops on an evaluation grid: resampled to square pixels, cropped, pooled."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.io.dem import dem_grid_metres, packaged_dem, packaged_dem_names
from monitor.science.dem import resample_dem
from monitor.science.windows import centre_crop


def dem_on_grid(name: str, pixel_m: float) -> NDArray[np.float32]:
    """A packaged SRTM crop resampled to square pixels of ``pixel_m`` metres (heights in
    metres, ``(ny, nx)``)."""
    tile = packaged_dem(name)
    dx, dy = dem_grid_metres(tile)
    return resample_dem(tile.height_m, (dy, dx), pixel_m)


def dem_window(dem: NDArray[np.float32], size: int, name: str) -> NDArray[np.float32]:
    """The central ``size`` x ``size`` window of a packaged DEM on an evaluation grid
    (:func:`~monitor.science.windows.centre_crop`), refused with the options to change
    when the DEM is too small."""
    ny, nx = dem.shape
    if ny < size or nx < size:
        raise InputError(f"packaged DEM {name!r} covers only {ny} x {nx} pixels at this "
                         f"spacing; use --size <= {min(ny, nx)} or a larger --pixel-m")
    return centre_crop(dem, size, f"packaged DEM {name!r}")


def dem_pool(names: tuple[str, ...], pixel_m: float, size: int) -> list[NDArray[np.float32]]:
    """The named packaged DEMs on ``pixel_m`` pixels, each at least ``size`` wide.

    Raises:
        InputError: An unknown name, or a DEM too small for ``size`` at ``pixel_m``.
    """
    known = packaged_dem_names()
    pool = []
    for name in names:
        if name not in known:
            raise InputError(f"no packaged DEM named {name!r}; available: {', '.join(known)}")
        dem = dem_on_grid(name, pixel_m)
        if min(dem.shape) < size:
            raise InputError(f"packaged DEM {name!r} covers only {dem.shape[0]} x "
                             f"{dem.shape[1]} pixels at {pixel_m:g} m; use --size <= "
                             f"{min(dem.shape)}")
        pool.append(dem)
    return pool
