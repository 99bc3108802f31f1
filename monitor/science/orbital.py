"""Orbital ramps: the long-wavelength signature of imprecise orbits.

An error in the baseline between the two passes leaves a nearly planar phase across a
scene of a few tens of km, with a small quadratic part that grows with the length of the
scene (Hanssen 2001, Radar Interferometry: Data Interpretation and Error Analysis, Kluwer,
on baseline (orbit) errors; Fattahi, H. & Amelung, F. (2014), InSAR uncertainty due to
orbital errors, Geophys. J. Int. 199(1), 549-560, doi:10.1093/gji/ggu276, who propagate
orbit uncertainties into interferogram ramps and find them much smaller for modern
precise orbits than for the older missions). The amplitude is left to the caller: a few
mm to a few cm across the scene covers residual ramps after precise orbits up to
uncorrected ones. :func:`orbital_ramp` draws a plane of a given peak-to-peak
amplitude over the scene, in a random direction, with an optional quadratic part.

Arrays are ``(ny, nx)``, row 0 at the north edge, LOS metres.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.grids import check_grid, grid_xy


def orbital_ramp(
    shape: tuple[int, int],
    pixel_m: float,
    peak_to_peak_m: float,
    rng: np.random.Generator,
    *,
    quadratic_fraction: float = 0.0,
) -> NDArray[np.float32]:
    """A planar (optionally curved) ramp of ``peak_to_peak_m`` over the scene.

    ``r = g . x + q (g . x)^2 + q' (g_perp . x)^2`` with a random unit direction ``g``;
    the curved part has a weight ``quadratic_fraction`` relative to the plane (each
    quadratic coefficient uniform in +-``quadratic_fraction``), and the sum is shifted to
    zero mean and scaled so its range over the grid is exactly ``peak_to_peak_m`` with
    a random sign.

    Args:
        shape: ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        peak_to_peak_m: Range of the ramp over the grid, metres (>= 0; 0 gives zeros).
        rng: Random generator.
        quadratic_fraction: Relative weight of the quadratic terms, in [0, 1].

    Returns:
        LOS ramp, metres, float32, ``(ny, nx)``.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    if not (math.isfinite(peak_to_peak_m) and peak_to_peak_m >= 0):
        raise InputError(f"orbital_ramp: peak_to_peak_m must be a finite number >= 0 "
                         f"metres, got {peak_to_peak_m!r}")
    if not (math.isfinite(quadratic_fraction) and 0.0 <= quadratic_fraction <= 1.0):
        raise InputError(f"orbital_ramp: quadratic_fraction must lie in [0, 1], "
                         f"got {quadratic_fraction!r}")
    if peak_to_peak_m == 0 or (ny == 1 and nx == 1):
        return np.zeros((ny, nx), np.float32)
    x, y = grid_xy((ny, nx), pixel_m)
    half = 0.5 * max(ny, nx) * pixel_m
    theta = float(rng.uniform(0.0, 2.0 * math.pi))
    u = (x * math.cos(theta) + y * math.sin(theta)) / half
    v = (-x * math.sin(theta) + y * math.cos(theta)) / half
    q1, q2 = rng.uniform(-quadratic_fraction, quadratic_fraction, size=2)
    ramp = u + float(q1) * u * u + float(q2) * v * v
    ramp -= ramp.mean()
    span = float(np.ptp(ramp))
    if span == 0:
        return np.zeros((ny, nx), np.float32)
    return (ramp * (peak_to_peak_m / span)).astype(np.float32)
