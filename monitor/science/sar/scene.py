"""A single-look complex (SLC) radar scene and its geometry, as the interferometry reads it.

The CEOS reader (:mod:`monitor.io.ceos`) fills these from the volume, leader and image
files of an ALOS-2 PALSAR-2 L1.1 product; the scene simulator of the tests fills them
from a known truth; :mod:`monitor.science.sar` reads only these. Times are UTC,
timezone-aware; positions and velocities are Earth-centred, Earth-fixed (ECEF, WGS84),
metres and metres per second.

Image axes: line = azimuth (row, time increasing with the line), pixel = slant range
(column, range increasing with the pixel). A crop keeps the full scene's geometry and
records its offset, so that a pixel ``(line, pixel)`` of the crop is
``(line0 + line, pixel0 + pixel)`` of the scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError


@dataclass(frozen=True, eq=False)
class StateVectors:
    """The platform's orbit: equally spaced state vectors (the leader's platform position
    data record).

    Attributes:
        first_time: Time of the first vector (UTC, aware).
        interval_s: Time between vectors, seconds (> 0).
        positions_m: ``(n, 3)`` ECEF positions, metres.
        velocities_m_s: ``(n, 3)`` ECEF velocities, metres per second.
    """

    first_time: datetime
    interval_s: float
    positions_m: NDArray[np.float64]
    velocities_m_s: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.first_time.tzinfo is None:
            raise InputError("StateVectors.first_time must be timezone-aware (UTC)")
        if not self.interval_s > 0:
            raise InputError(f"StateVectors.interval_s must be > 0, got {self.interval_s!r}")
        p, v = np.asarray(self.positions_m), np.asarray(self.velocities_m_s)
        if p.ndim != 2 or p.shape[1] != 3 or p.shape != v.shape or p.shape[0] < 4:
            raise InputError("StateVectors: positions and velocities must both be (n, 3) "
                             f"with n >= 4, got {p.shape} and {v.shape}")
        if not (np.isfinite(p).all() and np.isfinite(v).all()):
            raise InputError("StateVectors: positions and velocities must be finite")


@dataclass(frozen=True, eq=False)
class LonLatPolynomial:
    """A 2-D polynomial between image coordinates and longitude/latitude (the leader's
    facility-related record of ALOS-2 L1.1/L1.5 products gives one each way).

    ``value = sum_ij coeffs[i, j] * (u - u0)**i * (v - v0)**j`` for the inputs ``(u, v)``
    (line and pixel, or latitude and longitude in degrees, as the field says) and the
    ``origin`` ``(u0, v0)`` (the leader's reference latitude/longitude; without it a
    polynomial of degree 3 in raw degrees near longitude 121 loses a tenth of a pixel to
    rounding).

    Attributes:
        lon: ``(k, k)`` coefficients giving longitude (or pixel).
        lat: ``(k, k)`` coefficients giving latitude (or line).
        origin: ``(u0, v0)`` subtracted from the inputs (default ``(0, 0)``).
    """

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    origin: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True, eq=False)
class SlcGeometry:
    """Timing and range geometry of a zero-Doppler-processed SLC scene.

    Attributes:
        first_line_time: Azimuth time of line 0 of the full scene (UTC, aware).
        line_interval_s: Azimuth time between lines, seconds (1 / PRF for L1.1).
        slant_range_first_m: Slant range of pixel 0 of the full scene, metres.
        range_pixel_spacing_m: Slant-range spacing between pixels, metres.
        wavelength_m: Radar wavelength, metres (ALOS-2: 0.2384).
        n_lines: Lines of the full scene.
        n_pixels: Pixels per line of the full scene.
        look_side: ``"right"`` or ``"left"``.
        orbit: The state vectors covering the scene's time span.
        pixel_to_lonlat: Image (line, pixel) -> (lon, lat) degrees, when the leader has it.
        lonlat_to_pixel: (lat, lon) degrees -> image (line, pixel), when the leader has it.
    """

    first_line_time: datetime
    line_interval_s: float
    slant_range_first_m: float
    range_pixel_spacing_m: float
    wavelength_m: float
    n_lines: int
    n_pixels: int
    look_side: str
    orbit: StateVectors
    pixel_to_lonlat: LonLatPolynomial | None = None
    lonlat_to_pixel: LonLatPolynomial | None = None

    def __post_init__(self) -> None:
        if self.first_line_time.tzinfo is None:
            raise InputError("SlcGeometry.first_line_time must be timezone-aware (UTC)")
        for name in ("line_interval_s", "slant_range_first_m", "range_pixel_spacing_m",
                     "wavelength_m"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"SlcGeometry.{name} must be a positive number, got {value!r}")
        if self.n_lines < 1 or self.n_pixels < 1:
            raise InputError(f"SlcGeometry: scene of {self.n_lines} x {self.n_pixels} pixels")
        if self.look_side not in ("right", "left"):
            raise InputError(f"SlcGeometry.look_side must be 'right' or 'left', got "
                             f"{self.look_side!r}")


@dataclass(frozen=True, eq=False)
class SlcScene:
    """A single-look complex image (or a crop of one) with its geometry.

    Attributes:
        scene_id: The product's scene id (e.g. ``ALOS2015976960-140909``).
        acquired: Acquisition date (UTC).
        polarisation: ``"HH"``, ``"HV"``, ...
        slc: ``(ny, nx)`` complex64 samples (a memory map where the reader could).
        geometry: Geometry of the full scene.
        line0: Line of the full scene where the crop starts.
        pixel0: Pixel of the full scene where the crop starts.
    """

    scene_id: str
    acquired: date
    polarisation: str
    slc: NDArray[np.complex64]
    geometry: SlcGeometry
    line0: int = 0
    pixel0: int = 0

    def __post_init__(self) -> None:
        if self.slc.ndim != 2:
            raise InputError(f"scene {self.scene_id}: SLC must be 2-D, got {self.slc.shape}")
        ny, nx = self.slc.shape
        g = self.geometry
        if self.line0 < 0 or self.pixel0 < 0 or self.line0 + ny > g.n_lines \
                or self.pixel0 + nx > g.n_pixels:
            raise InputError(f"scene {self.scene_id}: crop {ny} x {nx} at ({self.line0}, "
                             f"{self.pixel0}) lies outside the scene of {g.n_lines} x "
                             f"{g.n_pixels}")
