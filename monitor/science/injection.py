"""Semi-real test maps: a synthetic Mogi source added to a real interferogram.

A real quiet interferogram carries the real atmosphere, noise, holes and processing
residuals a detector meets in service; adding a known deformation to it gives positives
whose background is real (as the semi-synthetic tests of Gaddes et al. 2019 and the
"step 7" issue ask). The source is a Mogi (1958) point source
(:func:`monitor.science.sources.mogi`) projected to the line of sight
(:func:`monitor.science.geometry.project_to_los`) and scaled so that its largest |LOS|
over the grid is a chosen amplitude; adding it keeps every NaN of the real map (no data
stays no data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.geometry import project_to_los
from monitor.science.sources import mogi

#: Sentinel-1 ascending flight heading, degrees clockwise from north (about -10).
S1_ASCENDING_HEADING_DEG = -10.0
#: A mid-swath Sentinel-1 incidence angle, degrees.
S1_INCIDENCE_DEG = 39.0


@dataclass(frozen=True)
class MogiInjection:
    """A Mogi source drawn for injection, and its LOS pattern at unit peak.

    Attributes:
        east_m, north_m: Source position relative to the grid centre, metres.
        depth_m: Source depth, metres.
        heading_deg, incidence_deg: Geometry of the projection, degrees.
        unit_los: LOS displacement ``(ny, nx)`` float32 whose largest |value| is 1 (a
            multiple of it is the injected map, metres).
    """

    east_m: float
    north_m: float
    depth_m: float
    heading_deg: float
    incidence_deg: float
    unit_los: NDArray[np.float32]

    def scaled(self, peak_m: float) -> NDArray[np.float32]:
        """The LOS map, metres ``(ny, nx)``, with largest |LOS| exactly ``peak_m``."""
        return (self.unit_los * np.float32(peak_m)).astype(np.float32)


def draw_mogi_injection(rng: np.random.Generator, shape: tuple[int, int],
                        pixel_m: tuple[float, float], *,
                        depth_range_m: tuple[float, float] = (2000.0, 5000.0),
                        max_offset_m: float = 3000.0,
                        heading_deg: float = S1_ASCENDING_HEADING_DEG,
                        incidence_deg: float = S1_INCIDENCE_DEG) -> MogiInjection:
    """Draw a Mogi source near the grid centre and its unit-peak LOS pattern.

    Args:
        rng: Random generator (depth, then distance and azimuth from the centre).
        shape: Grid ``(ny, nx)``; row 0 is the north edge.
        pixel_m: Pixel size ``(east, north)``, metres.
        depth_range_m: Depth drawn uniformly in this range, metres.
        max_offset_m: Position drawn uniformly over the disc of this radius around the
            grid centre, metres.
        heading_deg, incidence_deg: Flight heading and incidence angle, degrees.

    Returns:
        The drawn :class:`MogiInjection`.

    Raises:
        InputError: an empty grid, non-positive pixel sizes or depths, or a negative
            offset.
    """
    ny, nx = shape
    east, north = pixel_m
    lo, hi = depth_range_m
    if ny < 1 or nx < 1 or not (east > 0 and north > 0):
        raise InputError(f"injection grid {shape} with pixels {pixel_m} m: need a "
                         "non-empty grid and positive pixel sizes")
    if not (0 < lo <= hi) or not max_offset_m >= 0:
        raise InputError(f"injection depths {depth_range_m} m must satisfy 0 < min <= max "
                         f"and the offset {max_offset_m} m must be >= 0")
    depth = float(rng.uniform(lo, hi))
    radius = max_offset_m * math.sqrt(float(rng.uniform()))
    azimuth = float(rng.uniform(0.0, 2.0 * math.pi))
    xs, ys = radius * math.sin(azimuth), radius * math.cos(azimuth)
    unit = mogi_unit_los(shape, pixel_m, xs, ys, depth, incidence_deg, heading_deg)
    return MogiInjection(xs, ys, depth, heading_deg, incidence_deg, unit.astype(np.float32))


def mogi_unit_los(shape: tuple[int, int], pixel_m: tuple[float, float], east_m: float,
                  north_m: float, depth_m: float, incidence_deg: float = S1_INCIDENCE_DEG,
                  heading_deg: float = S1_ASCENDING_HEADING_DEG) -> NDArray[np.float64]:
    """The LOS pattern ``(ny, nx)`` of a Mogi source at ``(east_m, north_m)`` from the grid
    centre and ``depth_m`` deep, scaled so that its largest |value| is 1 (row 0 north).

    The one pattern of the injections and of the matched filter's templates
    (:mod:`monitor.science.detect.matched_filter`).
    """
    ny, nx = shape
    east, north = pixel_m
    x, y = np.meshgrid((np.arange(nx) - (nx - 1) / 2.0) * east,
                       ((ny - 1) / 2.0 - np.arange(ny)) * north)
    enu = mogi(x, y, xs_m=east_m, ys_m=north_m, depth_m=depth_m, dvolume_m3=1e6)
    los = project_to_los(enu.east, enu.north, enu.up, incidence_deg, heading_deg)
    return np.asarray(los / np.abs(los).max(), dtype=np.float64)


def frame_xy(shape: tuple[int, int], pixel_m: tuple[float, float]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """East and north of every pixel from the grid's centre, metres ``(ny, nx)`` each
    (row 0 north; pixels ``(east, north)`` may differ in size)."""
    ny, nx = shape
    east = (np.arange(nx) - (nx - 1) / 2.0) * pixel_m[0]
    north = ((ny - 1) / 2.0 - np.arange(ny)) * pixel_m[1]
    xx, yy = np.meshgrid(east, north)
    return xx, yy


def source_unit_los(rng: np.random.Generator, kind: str,
                    xy: tuple[NDArray[np.float64], NDArray[np.float64]],
                    jitter_m: float) -> NDArray[np.float64]:
    """The unit-peak LOS pattern on ``xy`` (:func:`frame_xy`) of one source of ``kind``
    (:func:`monitor.science.sources.draws.draw_source`: its ranges) drawn within
    ``jitter_m`` of the centre in east and north, Sentinel-1 ascending geometry."""
    from monitor.science.sources.draws import draw_source

    enu = draw_source(rng, kind, centre_jitter_m=jitter_m).displacement(*xy)
    los = project_to_los(enu.east, enu.north, enu.up, S1_INCIDENCE_DEG,
                         S1_ASCENDING_HEADING_DEG).astype(np.float64)
    return los / float(np.max(np.abs(los)))
