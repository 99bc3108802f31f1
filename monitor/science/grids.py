"""Regular grids: validated shapes and pixel sizes, pixel-centre coordinates."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError


def check_grid(shape: tuple[int, int], pixel_m: float) -> tuple[int, int, float]:
    """Validate a grid: ``(ny, nx)`` positive integers and a positive finite pixel size.

    Returns:
        ``(ny, nx, pixel_m)`` as ints and a float.
    """
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"shape must be two positive integers (ny, nx), got {shape!r}") from exc
    if ny < 1 or nx < 1:
        raise InputError(f"shape must be two positive integers (ny, nx), got {shape!r}")
    if not (isinstance(pixel_m, int | float | np.floating | np.integer) and pixel_m > 0):
        raise InputError(f"pixel_m must be a positive number of metres, got {pixel_m!r}")
    if not math.isfinite(float(pixel_m)):
        raise InputError(f"pixel_m must be a positive number of metres, got {pixel_m!r}")
    return ny, nx, float(pixel_m)


def grid_xy(shape: tuple[int, int], pixel_m: float) -> tuple[NDArray[np.float64],
                                                              NDArray[np.float64]]:
    """East and north coordinates (metres) of pixel centres, origin at the grid centre.

    Row 0 is the northern edge, so ``y`` decreases down the rows.

    Returns:
        ``(x, y)``, each ``(ny, nx)``.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    x = (np.arange(nx) - (nx - 1) / 2.0) * pixel_m
    y = ((ny - 1) / 2.0 - np.arange(ny)) * pixel_m
    return np.meshgrid(x, y)


def unit_variance_rfft_filter(amp: NDArray[np.floating], nx: int) -> NDArray[np.float32]:
    """Scale an amplitude filter on the ``rfft2`` grid so filtered white noise has unit
    variance, and freeze it (for caching).

    Columns other than 0 (and ``nx / 2`` when ``nx`` is even) stand for two Hermitian modes.

    Args:
        amp: Filter amplitudes, shape ``(ny, nx // 2 + 1)``.
        nx: Number of columns of the real grid.
    """
    ny = amp.shape[0]
    weight = np.full(amp.shape, 2.0)
    weight[:, 0] = 1.0
    if nx % 2 == 0:
        weight[:, -1] = 1.0
    var = float((weight * amp**2).sum()) / (ny * nx)
    out = (amp / math.sqrt(var)).astype(np.float32)
    out.setflags(write=False)
    return out
