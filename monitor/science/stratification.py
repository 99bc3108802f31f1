"""Stratified delays that are not a polynomial of height.

:func:`monitor.science.atmosphere.stratified_delay` is ``k1 dh + k2 dh^2`` with one
``(k1, k2)`` for the whole map. Two departures from it are drawn here.

Exponential profile. The wet refractivity, and with it the delay still to come above a
height ``h``, decays about exponentially with a scale height ``H`` of 1.5-3 km (Hanssen
2001, Radar Interferometry: Data Interpretation and Error Analysis, Kluwer, section 4.6;
Doin, Lasserre, Peltzer, Cavalié & Doubre 2009, Corrections of stratified tropospheric
delays in SAR interferometry: validation with global atmospheric models, J. Appl.
Geophys. 69(1), 35-50, doi:10.1016/j.jappgeo.2009.03.010, whose delay-elevation curves
bend at the heights of the wet layer). The difference of two dates' delays keeps that
shape: ``S(h) = A (exp(-(h - h_ref) / H) - 1)``. It is written here with the slope at the
reference height, ``k1 = -A / H``::

    S(h) = k1 H (1 - exp(-(h - h_ref) / H))

whose second-order expansion is the polynomial ``k1 dh - k1 dh^2 / (2 H)`` of
:func:`monitor.science.atmosphere.draw_stratified_coefficients` with full curvature, but
which, unlike it, flattens and never turns over above a tall summit.

Laterally varying phase-elevation ratio. ``k1`` changes across a scene with the weather
(a front, a sea breeze on one flank): Bekaert, Hooper & Wright (2015), A spatially variable
power law tropospheric correction technique for InSAR data, J. Geophys. Res. Solid Earth
120(2), 1345-1356, doi:10.1002/2014JB011558, estimate the delay-height relation in windows
for this reason, and Bekaert et al. (2015, Remote Sens. Environ. 170, 40-47) compare such
spatially varying corrections with single-ratio ones. :func:`lateral_k1_map` draws
``k1(x) = k1 (1 + v z(x))`` with ``z`` a smooth unit-variance Gaussian field.

Arrays are ``(ny, nx)``, row 0 at the north edge; delays are zenith, metres.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.decorrelation import smooth_gaussian_field
from monitor.science.grids import check_grid

#: Default smoothing length of the lateral k1 variation, metres: weather systems change
#: the ratio over tens of km (Bekaert, Hooper & Wright 2015 use windows of this order).
DEFAULT_LATERAL_LENGTH_M = 10_000.0


def exponential_stratified_delay(
    dem_m: ArrayLike,
    k1_m_per_m: ArrayLike,
    scale_height_m: float,
    ref_height_m: float | None = None,
) -> NDArray[np.float32]:
    """Stratified zenith delay ``k1 H (1 - exp(-(h - h_ref) / H))`` (module docstring).

    Args:
        dem_m: Heights, metres, ``(ny, nx)``; NaN stays NaN.
        k1_m_per_m: Slope of the delay with height at ``h_ref``, metres per metre; a
            scalar or a map of the DEM's shape (see :func:`lateral_k1_map`).
        scale_height_m: Scale height ``H`` of the delay, metres (> 0).
        ref_height_m: Height of zero delay, metres; None uses the lowest finite height.

    Returns:
        Zenith delay, metres, float32, ``(ny, nx)``.
    """
    h = np.asarray(dem_m, dtype=np.float64)
    if h.ndim != 2:
        raise InputError(f"exponential_stratified_delay: dem_m must be 2-D (ny, nx), "
                         f"got shape {h.shape}")
    k1 = np.asarray(k1_m_per_m, dtype=np.float64)
    if k1.ndim not in (0, 2) or (k1.ndim == 2 and k1.shape != h.shape):
        raise InputError(f"exponential_stratified_delay: k1_m_per_m must be a scalar or a "
                         f"map of shape {h.shape}, got shape {k1.shape}")
    if not np.isfinite(k1).all():
        raise InputError("exponential_stratified_delay: k1_m_per_m must be finite")
    if not (math.isfinite(scale_height_m) and scale_height_m > 0):
        raise InputError(f"exponential_stratified_delay: scale_height_m must be > 0 metres, "
                         f"got {scale_height_m!r}")
    finite = np.isfinite(h)
    if ref_height_m is None:
        if not finite.any():
            raise InputError("exponential_stratified_delay: dem_m holds no finite height")
        ref = float(h[finite].min())
    else:
        ref = float(ref_height_m)
        if not math.isfinite(ref):
            raise InputError(f"exponential_stratified_delay: ref_height_m must be finite or "
                             f"None, got {ref_height_m!r}")
    dh = h - ref
    out = k1 * scale_height_m * -np.expm1(-dh / scale_height_m)
    return out.astype(np.float32)


def lateral_k1_map(
    shape: tuple[int, int],
    pixel_m: float,
    k1_m_per_m: float,
    rng: np.random.Generator,
    *,
    relative_std: float = 0.3,
    length_m: float = DEFAULT_LATERAL_LENGTH_M,
) -> NDArray[np.float32]:
    """A phase-elevation ratio that varies smoothly across the map (module docstring).

    ``k1(x) = k1 (1 + relative_std z(x))``, ``z`` a unit-variance
    :func:`~monitor.science.decorrelation.smooth_gaussian_field` of kernel ``length_m``.
    With ``relative_std`` above about 0.5 the ratio changes sign in places, as it does
    across a front.

    Args:
        shape: ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        k1_m_per_m: Mean ratio, metres of delay per metre of height.
        rng: Random generator.
        relative_std: Standard deviation of ``k1(x) / k1 - 1`` (>= 0).
        length_m: Smoothing length of ``z``, metres (> 0).

    Returns:
        ``k1`` map, metres per metre, float32, ``(ny, nx)``.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    if not math.isfinite(k1_m_per_m):
        raise InputError(f"lateral_k1_map: k1_m_per_m must be finite, got {k1_m_per_m!r}")
    if not (math.isfinite(relative_std) and relative_std >= 0):
        raise InputError(f"lateral_k1_map: relative_std must be a number >= 0, "
                         f"got {relative_std!r}")
    if not (math.isfinite(length_m) and length_m > 0):
        raise InputError(f"lateral_k1_map: length_m must be > 0 metres, got {length_m!r}")
    z = smooth_gaussian_field((ny, nx), length_m / pixel_m, rng)
    return (float(k1_m_per_m) * (1.0 + float(relative_std) * z)).astype(np.float32)
