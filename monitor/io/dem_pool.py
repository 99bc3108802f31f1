"""Pools of DEMs for the stratified delays of synthetic datasets.

A pool mixes real relief (the packaged SRTM crops, resampled to the dataset's pixel
size) with synthetic edifices drawn once, so that a network sees the texture of real
volcanoes as well as the variety of synthetic ones. Samples take random crops, flips and
quarter turns of the pool members (:func:`monitor.science.synth.pick_dem`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.io.dem import dem_grid_metres, packaged_dem, packaged_dem_names
from monitor.science.dem import DemKind, resample_dem, synthetic_dem

SYNTHETIC_KINDS: tuple[DemKind, ...] = ("stratovolcano", "shield", "caldera")


def real_dem(name: str, pixel_m: float) -> NDArray[np.float32]:
    """A packaged SRTM crop resampled to square pixels of ``pixel_m`` metres."""
    tile = packaged_dem(name)
    dx, dy = dem_grid_metres(tile)
    return resample_dem(tile.height_m, (dy, dx), pixel_m)


def build_dem_pool(real_names: tuple[str, ...], n_synthetic: int, shape: tuple[int, int],
                   pixel_m: float, seed: int,
                   height_m: tuple[float, float] = (500.0, 3000.0)
                   ) -> tuple[list[NDArray[np.float32]], list[str]]:
    """Real crops plus ``n_synthetic`` synthetic edifices, each at least ``shape``.

    Args:
        real_names: Packaged DEM names (see :func:`monitor.io.dem.packaged_dem_names`).
        n_synthetic: Number of synthetic DEMs (kinds cycle).
        shape: Sample shape; synthetic DEMs are drawn 1.5 times larger so crops vary.
        pixel_m: Pixel size, metres.
        seed: Seed of the synthetic DEMs.
        height_m: Summit height range of the synthetic DEMs.

    Returns:
        The DEMs and their names (for the dataset manifest).
    """
    if n_synthetic < 0:
        raise InputError(f"n_synthetic must be >= 0, got {n_synthetic}")
    pool: list[NDArray[np.float32]] = []
    names: list[str] = []
    for name in real_names:
        dem = real_dem(name, pixel_m)
        if dem.shape[0] < shape[0] or dem.shape[1] < shape[1]:
            raise InputError(
                f"packaged DEM {name!r} covers {dem.shape} pixels of {pixel_m:g} m, less than "
                f"the sample shape {shape}; use a larger pixel size or smaller samples "
                f"(available: {', '.join(packaged_dem_names())})")
        pool.append(dem)
        names.append(f"srtm:{name}")
    rng = np.random.default_rng([seed, 7919])
    big = (int(shape[0] * 1.5), int(shape[1] * 1.5))
    for k in range(n_synthetic):
        kind = SYNTHETIC_KINDS[k % len(SYNTHETIC_KINDS)]
        h = float(rng.uniform(*height_m))
        pool.append(np.asarray(synthetic_dem(big, pixel_m, kind, rng, height_m=h), np.float32))
        names.append(f"synthetic:{kind}:{k}")
    if not pool:
        raise InputError("the DEM pool is empty: give real names or n_synthetic > 0")
    return pool, names
