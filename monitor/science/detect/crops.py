"""Crops of sample stacks ``(n, ny, nx)`` to the networks' patch size.

Training samples larger than the patch are cropped at a random place drawn afresh every
epoch (an augmentation), validation samples at the centre (a fixed set).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def centre_crop(x: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """The central ``size`` x ``size`` window of samples ``(n, ny, nx)``."""
    r0 = (x.shape[1] - size) // 2
    c0 = (x.shape[2] - size) // 2
    return np.ascontiguousarray(x[:, r0:r0 + size, c0:c0 + size])


def random_crops(x: NDArray[np.float32], size: int,
                 rng: np.random.Generator) -> NDArray[np.float32]:
    """One ``size`` x ``size`` window per sample at a uniformly random place."""
    n, ny, nx = x.shape
    rows = rng.integers(0, ny - size + 1, size=n)
    cols = rng.integers(0, nx - size + 1, size=n)
    out = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        out[i] = x[i, rows[i]:rows[i] + size, cols[i]:cols[i] + size]
    return out
