"""The leader's image <-> latitude/longitude polynomials (facility-related record 5).

ALOS-2 L1.1 and L1.5 leaders carry two 4th-degree 2-D polynomials each way, in offsets
from an origin near the scene centre (JAXA, "ALOS-2/PALSAR-2 Level 1.1/1.5/2.1/3.1 CEOS
SAR Product Format Description", facility related data record 5):

    lat = sum_ij a[5 i + j] * (P - P0)**(4 - i) * (L - L0)**(4 - j)   (lon likewise)
    P   = sum_ij c[5 i + j] * (lat - lat0)**(4 - i) * (lon - lon0)**(4 - j)   (L likewise)

with ``P`` the pixel and ``L`` the line, both counted from 0: on the real leader of
ALOS2015976960-140909 the first polynomial at (0, 0) gives the map projection record's
first corner to 1e-7 degrees, and the second maps the four corners to (0, 0),
(12869, 0), (0, 13160) and (12869, 13160) within 0.001 pixel (``tests/test_ceos.py``).

:class:`FacilityCoordinates` keeps them as the file has them (the centred form evaluates
well) and converts to and from the scene contract's
:class:`~monitor.science.sar.scene.LonLatPolynomial`, ``sum_ij k[i, j] (u - u0)**i
(v - v0)**j``, keeping the leader's centring as its ``origin`` (expanding into powers of raw
degrees near longitude 121 would lose about a tenth of a pixel at degree 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.sar.polynomial import evaluate
from monitor.science.sar.scene import LonLatPolynomial

if TYPE_CHECKING:
    from monitor.io.ceos.fields import Record

DEGREE = 4


def _shift(x0: float) -> NDArray[np.float64]:
    """``M`` with ``M @ a`` = the coefficients in ``x`` of ``sum_k a[k] (x - x0)**k``."""
    n = DEGREE + 1
    m = np.zeros((n, n))
    for k in range(n):
        for j in range(k + 1):
            m[j, k] = comb(k, j) * (-x0) ** (k - j)
    return m


def _powers(coeffs: NDArray[np.float64]) -> NDArray[np.float64]:
    """File order (``5 i + j`` multiplies ``a**(4-i) b**(4-j)``) -> ``A[a_pow, b_pow]``."""
    return np.asarray(coeffs, dtype=np.float64).reshape(DEGREE + 1, DEGREE + 1)[::-1, ::-1]


def _file_order(powers: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.ascontiguousarray(powers[::-1, ::-1]).reshape(-1)


@dataclass(frozen=True, eq=False)
class FacilityCoordinates:
    """Facility-related record 5 as the file holds it.

    Attributes:
        pixel_line_to_lat: ``(25,)`` coefficients giving latitude (degrees).
        pixel_line_to_lon: ``(25,)`` coefficients giving longitude (degrees).
        origin_pixel: ``P0``.
        origin_line: ``L0``.
        lat_lon_to_pixel: ``(25,)`` coefficients giving the pixel.
        lat_lon_to_line: ``(25,)`` coefficients giving the line.
        origin_lat: ``lat0``, degrees.
        origin_lon: ``lon0``, degrees.
    """

    pixel_line_to_lat: NDArray[np.float64]
    pixel_line_to_lon: NDArray[np.float64]
    origin_pixel: float
    origin_line: float
    lat_lon_to_pixel: NDArray[np.float64]
    lat_lon_to_line: NDArray[np.float64]
    origin_lat: float
    origin_lon: float

    @classmethod
    def from_record(cls, rec: Record) -> FacilityCoordinates:
        """Parse facility-related record 5 (raises CeosError on a malformed field)."""
        return cls(
            pixel_line_to_lat=rec.array("pixel_line_to_lat"),
            pixel_line_to_lon=rec.array("pixel_line_to_lon"),
            origin_pixel=rec.real("origin_pixel"), origin_line=rec.real("origin_line"),
            lat_lon_to_pixel=rec.array("lat_lon_to_pixel"),
            lat_lon_to_line=rec.array("lat_lon_to_line"),
            origin_lat=rec.real("origin_lat"), origin_lon=rec.real("origin_lon"))

    def lat_lon(self, pixel: ArrayLike, line: ArrayLike
                ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Latitude and longitude (degrees) of image points (pixel, line counted from 0)."""
        lon, lat = evaluate(self.polynomials()[0], line, pixel)
        return lat, lon

    def pixel_line(self, lat: ArrayLike, lon: ArrayLike
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Pixel and line (counted from 0) of points given in degrees."""
        return evaluate(self.polynomials()[1], lat, lon)

    def polynomials(self) -> tuple[LonLatPolynomial, LonLatPolynomial]:
        """The scene contract's ``(pixel_to_lonlat, lonlat_to_pixel)``, centred as the file.

        ``pixel_to_lonlat``: inputs (line, pixel) about ``origin = (L0, P0)``;
        ``lonlat_to_pixel``: inputs (lat, lon) about ``origin = (lat0, lon0)``, its ``lon``
        giving the pixel and its ``lat`` the line. The coefficients are the file's,
        reordered (no expansion, so nothing is lost to rounding: tested on the real
        leader of ``tests/data/alos2_ceos``).
        """
        def forward(c: NDArray[np.float64]) -> NDArray[np.float64]:
            # rows: powers of pixel, columns: powers of line; the contract wants (line, pixel)
            return np.ascontiguousarray(_powers(c).T)

        def inverse(c: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.ascontiguousarray(_powers(c))

        fwd_origin = (self.origin_line, self.origin_pixel)
        inv_origin = (self.origin_lat, self.origin_lon)
        return (LonLatPolynomial(lon=forward(self.pixel_line_to_lon),
                                 lat=forward(self.pixel_line_to_lat), origin=fwd_origin),
                LonLatPolynomial(lon=inverse(self.lat_lon_to_pixel),
                                 lat=inverse(self.lat_lon_to_line), origin=inv_origin))

    @classmethod
    def from_polynomials(cls, pixel_to_lonlat: LonLatPolynomial,
                         lonlat_to_pixel: LonLatPolynomial, origin_pixel: float,
                         origin_line: float, origin_lat: float,
                         origin_lon: float) -> FacilityCoordinates:
        """Centre the contract's polynomials on an origin, as the file holds them (each
        polynomial is moved from its own ``origin`` to the one given).

        Raises:
            InputError: A polynomial of degree above 4 in either input.
        """
        def pad(k: NDArray[np.float64], name: str) -> NDArray[np.float64]:
            k = np.asarray(k, dtype=np.float64)
            n = DEGREE + 1
            if k.ndim != 2 or k.shape[0] > n or k.shape[1] > n:
                raise InputError(f"{name}: CEOS holds 5 x 5 coefficients (degree 4 in each "
                                 f"input), got shape {k.shape}")
            out = np.zeros((n, n))
            out[:k.shape[0], :k.shape[1]] = k
            return out

        fl, fp = pixel_to_lonlat.origin
        il, io = lonlat_to_pixel.origin
        sp, sl = _shift(fp - origin_pixel), _shift(fl - origin_line)
        sa, sb = _shift(il - origin_lat), _shift(io - origin_lon)

        def forward(k: NDArray[np.float64], name: str) -> NDArray[np.float64]:
            return _file_order(sp @ pad(k, name).T @ sl.T)

        def inverse(k: NDArray[np.float64], name: str) -> NDArray[np.float64]:
            return _file_order(sa @ pad(k, name) @ sb.T)

        return cls(
            pixel_line_to_lat=forward(pixel_to_lonlat.lat, "pixel_to_lonlat.lat"),
            pixel_line_to_lon=forward(pixel_to_lonlat.lon, "pixel_to_lonlat.lon"),
            origin_pixel=origin_pixel, origin_line=origin_line,
            lat_lon_to_pixel=inverse(lonlat_to_pixel.lon, "lonlat_to_pixel.lon"),
            lat_lon_to_line=inverse(lonlat_to_pixel.lat, "lonlat_to_pixel.lat"),
            origin_lat=origin_lat, origin_lon=origin_lon)
