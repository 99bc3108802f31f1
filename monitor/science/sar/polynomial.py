"""The leader's lon/lat <-> image polynomials: evaluation and fitting.

A :class:`~monitor.science.sar.scene.LonLatPolynomial` holds two ``(k, k)`` coefficient
arrays, ``value = sum_ij c[i, j] (u - u0)**i (v - v0)**j`` about its ``origin``: for
``pixel_to_lonlat`` the inputs are the full scene's ``(line, pixel)`` and the outputs
``(lon, lat)`` degrees; for ``lonlat_to_pixel`` the inputs are ``(lat, lon)`` degrees and
the outputs ``(pixel, line)`` (``lon`` field: pixel, ``lat`` field: line). ALOS-2
leaders give such polynomials for a reference height; they ignore the terrain, so the
interferometry geocodes through the orbit and the DEM instead and uses these for crops
and checks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.sar.scene import LonLatPolynomial


def polyval2(coeffs: ArrayLike, u: ArrayLike, v: ArrayLike) -> NDArray[np.float64]:
    """``sum_ij coeffs[i, j] u**i v**j`` (Horner's scheme on both variables)."""
    c = np.asarray(coeffs, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise InputError(f"polynomial coefficients must be (k, k), got {c.shape}")
    return np.asarray(np.polynomial.polynomial.polyval2d(
        np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64), c))


def evaluate(poly: LonLatPolynomial, u: ArrayLike, v: ArrayLike
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Evaluate a polynomial pair: ``(lon-field value, lat-field value)``."""
    uu = np.asarray(u, dtype=np.float64) - poly.origin[0]
    vv = np.asarray(v, dtype=np.float64) - poly.origin[1]
    return polyval2(poly.lon, uu, vv), polyval2(poly.lat, uu, vv)


def _fit(u: NDArray[np.float64], v: NDArray[np.float64], values: NDArray[np.float64],
         degree: int) -> NDArray[np.float64]:
    """Coefficients in powers of the (already centred) ``u`` and ``v``."""
    k = degree + 1
    us, vs = float(np.ptp(u)) or 1.0, float(np.ptp(v)) or 1.0
    a = np.polynomial.polynomial.polyvander2d(u / us, v / vs, [degree, degree])
    c_scaled, *_ = np.linalg.lstsq(a, values, rcond=None)
    powers = np.arange(k)
    return np.asarray(c_scaled.reshape(k, k) / (us ** powers)[:, None] / (vs ** powers)[None, :])


def fit_lonlat_polynomials(line: ArrayLike, pixel: ArrayLike, lon_deg: ArrayLike,
                           lat_deg: ArrayLike, degree: int = 3
                           ) -> tuple[LonLatPolynomial, LonLatPolynomial]:
    """Fit ``pixel_to_lonlat`` and ``lonlat_to_pixel`` polynomials to geolocated points.

    Args:
        line: Full-scene line coordinates of the points, any shape.
        pixel: Full-scene pixel coordinates, same shape.
        lon_deg: Their longitudes, degrees.
        lat_deg: Their latitudes, degrees.
        degree: Polynomial degree in each variable (``k = degree + 1``).

    The origins are the mean line and pixel (rounded) and the mean latitude and longitude
    (rounded to 0.001 degree).

    Returns:
        ``(pixel_to_lonlat, lonlat_to_pixel)``.
    """
    arrays = [np.asarray(x, dtype=np.float64).ravel() for x in (line, pixel, lon_deg, lat_deg)]
    if len({a.size for a in arrays}) != 1 or arrays[0].size < (degree + 1) ** 2:
        raise InputError(f"fit_lonlat_polynomials: need as many lines, pixels, lons and lats, "
                         f"at least {(degree + 1) ** 2}, got sizes "
                         f"{[a.size for a in arrays]}")
    ln, px, lon, lat = arrays
    o_fwd = (float(np.round(ln.mean())), float(np.round(px.mean())))
    o_inv = (float(np.round(lat.mean(), 3)), float(np.round(lon.mean(), 3)))
    lc, pc = ln - o_fwd[0], px - o_fwd[1]
    la, lo = lat - o_inv[0], lon - o_inv[1]
    fwd = LonLatPolynomial(_fit(lc, pc, lon, degree), _fit(lc, pc, lat, degree), o_fwd)
    inv = LonLatPolynomial(_fit(la, lo, px, degree), _fit(la, lo, ln, degree), o_inv)
    return fwd, inv
