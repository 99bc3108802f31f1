"""Windows of images: the central ``size`` x ``size`` window of a map or a stack of maps,
and random windows of a stack of training samples (an augmentation drawn afresh every
epoch; validation samples are cropped at the centre, a fixed set)."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError

_Array = TypeVar("_Array", bound=NDArray[np.generic])


def centre_crop(x: _Array, size: int, name: str = "image") -> _Array:
    """The central ``size`` x ``size`` window of the last two axes, contiguous.

    Args:
        x: A map ``(ny, nx)`` or a stack of maps ``(..., ny, nx)``.
        size: Window side, pixels (odd margins put the extra pixel after the window).
        name: What ``x`` is, for the error message (a DEM's name...).

    Raises:
        InputError: ``x`` has fewer than two axes, or is smaller than the window.
    """
    if x.ndim < 2:
        raise InputError(f"centre_crop: {name} must be (..., ny, nx), got shape {x.shape}")
    ny, nx = x.shape[-2:]
    if size < 1 or ny < size or nx < size:
        raise InputError(f"{name} covers only {ny} x {nx} pixels, fewer than the {size} x "
                         f"{size} window asked for; ask for a window of at most "
                         f"{min(ny, nx)} pixels (or a coarser pixel spacing)")
    r0, c0 = (ny - size) // 2, (nx - size) // 2
    return np.ascontiguousarray(x[..., r0:r0 + size, c0:c0 + size])  # type: ignore[return-value]


def random_crops(x: NDArray[np.float32], size: int,
                 rng: np.random.Generator) -> NDArray[np.float32]:
    """One ``size`` x ``size`` window of each sample ``(n, ny, nx)`` at a uniformly random
    place."""
    n, ny, nx = x.shape
    rows = rng.integers(0, ny - size + 1, size=n)
    cols = rng.integers(0, nx - size + 1, size=n)
    out = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        out[i] = x[i, rows[i]:rows[i] + size, cols[i]:cols[i] + size]
    return out
