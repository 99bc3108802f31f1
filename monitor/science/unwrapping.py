"""Unwrapping errors: whole-fringe jumps on one side of a line or inside an island.

A phase unwrapper that takes a wrong branch cut leaves a region offset from the rest by
an integer number of cycles, ``2 pi n`` of phase, i.e. ``n lambda / 2`` of LOS
displacement (one fringe is half a wavelength: 2.77 cm for Sentinel-1). The regions are
bounded by lines of residues and low coherence, often cutting across the scene or
closing around an island of coherent pixels (Chen, C. W. & Zebker, H. A. (2001),
Two-dimensional phase unwrapping with use of statistical models for cost functions in
nonlinear optimization, J. Opt. Soc. Am. A 18(2), 338-351, doi:10.1364/JOSAA.18.000338,
SNAPHU; Biggs, J., Wright, T., Lu, Z. & Parsons, B. (2007), Multi-interferogram method for
measuring interseismic deformation: Denali Fault, Alaska, Geophys. J. Int. 170(3),
1165-1179, doi:10.1111/j.1365-246X.2007.03415.x, who find them as non-zero loop
closures of interferogram triplets). :func:`unwrapping_errors` draws such offsets.

Arrays are ``(ny, nx)``, row 0 at the north edge, LOS metres.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.decorrelation import incoherent_patches
from monitor.science.grids import check_grid


def unwrapping_errors(
    shape: tuple[int, int],
    rng: np.random.Generator,
    wavelength_m: float,
    *,
    n_cuts: int = 1,
    n_islands: int = 0,
    max_cycles: int = 1,
    curvature: float = 1.0,
    island_radius_px: tuple[float, float] = (5.0, 25.0),
) -> NDArray[np.float32]:
    """Offsets of ``n lambda / 2`` on one side of random curves and inside islands.

    Each cut is a parabola ``v = c u^2`` across the grid, in a frame of random origin and
    orientation (``c`` uniform in +-``curvature`` / the grid size, so curves bend by up to
    about a grid width); the side holding fewer pixels jumps by ``n`` fringes with ``n``
    uniform in ``+-1..max_cycles``. Each island is a blob of
    :func:`~monitor.science.decorrelation.incoherent_patches` that jumps likewise. Jumps
    add where regions overlap.

    Args:
        shape: ``(ny, nx)``.
        rng: Random generator.
        wavelength_m: Radar wavelength, metres (one fringe = ``wavelength_m / 2``).
        n_cuts: Number of curves (>= 0).
        n_islands: Number of islands (>= 0).
        max_cycles: Largest jump, in cycles (>= 1).
        curvature: Largest bending of a cut (>= 0; 0 = straight lines).
        island_radius_px: ``(low, high)`` island semi-axes, pixels.

    Returns:
        LOS offset, metres, float32, ``(ny, nx)``; every value a multiple of
        ``wavelength_m / 2``.
    """
    ny, nx, _ = check_grid(shape, 1.0)
    if not (math.isfinite(wavelength_m) and wavelength_m > 0):
        raise InputError(f"unwrapping_errors: wavelength_m must be > 0 metres, "
                         f"got {wavelength_m!r}")
    for name, value, low in (("n_cuts", n_cuts, 0), ("n_islands", n_islands, 0),
                             ("max_cycles", max_cycles, 1)):
        if not (isinstance(value, int | np.integer) and value >= low):
            raise InputError(f"unwrapping_errors: {name} must be an integer >= {low}, "
                             f"got {value!r}")
    if not (math.isfinite(curvature) and curvature >= 0):
        raise InputError(f"unwrapping_errors: curvature must be a number >= 0, "
                         f"got {curvature!r}")
    cycles = np.zeros((ny, nx), np.int32)
    rows = np.arange(ny, dtype=np.float64)[:, None] + 0.5
    cols = np.arange(nx, dtype=np.float64)[None, :] + 0.5
    size = float(max(ny, nx))
    for _ in range(int(n_cuts)):
        cy, cx = rng.uniform(0.2 * ny, 0.8 * ny), rng.uniform(0.2 * nx, 0.8 * nx)
        theta = rng.uniform(0.0, math.pi)
        c = rng.uniform(-curvature, curvature) / size
        u = (cols - cx) * math.cos(theta) + (rows - cy) * math.sin(theta)
        v = -(cols - cx) * math.sin(theta) + (rows - cy) * math.cos(theta)
        side = v > c * u * u
        if 2 * int(side.sum()) > side.size:
            side = ~side
        cycles[side] += _jump(rng, max_cycles)
    for _ in range(int(n_islands)):
        island = incoherent_patches((ny, nx), rng, 1, island_radius_px)
        cycles[island] += _jump(rng, max_cycles)
    return (cycles * (0.5 * wavelength_m)).astype(np.float32)


def _jump(rng: np.random.Generator, max_cycles: int) -> int:
    n = int(rng.integers(1, max_cycles + 1))
    return n if rng.random() < 0.5 else -n
