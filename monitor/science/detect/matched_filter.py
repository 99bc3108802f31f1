"""A source-model matched filter: how much of a map one Mogi source near the centre explains.

A reference, not a watch detector. It knows the family of the sources injected by
``insar-monitor evaluate real`` (:func:`monitor.science.injection.draw_mogi_injection`: a
Mogi point source 2-5 km deep within 3 km of the frame centre, seen from Sentinel-1
ascending), so its separation of injected from quiet maps says how much evidence a single
real map holds for such a source, whatever the detector. A learned detector that reaches
it on those injections has learned what the map can tell; one far below it has not.

For each template ``t_k`` (the unit-peak LOS pattern of a Mogi source at depth ``z_k`` and
position ``(e_k, n_k)`` on a grid of ``step_m`` within ``max_offset_m`` of the centre), on
the valid pixels, with a plane (offset, east and north tilt) as nuisance::

    R2_k = (t_k' d)^2 / (|t_k|^2 |d|^2)        (t_k, d with the plane removed)
    score = max_k R2_k

the largest fraction of the plane-removed map's variance a single template explains:
the generalised likelihood ratio statistic for a template of unknown amplitude and either
sign in white noise (Kay 1998, Fundamentals of Statistical Signal Processing, vol. II:
Detection Theory, Prentice Hall, section 7.3). Real atmosphere is not white, so the
statistic is not a calibrated test; it is used for ranking (AUC, recall at a false-alarm
rate), and a map is flagged when the best template explains more than half of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.detect.fusion import Detection
from monitor.science.injection import (
    S1_ASCENDING_HEADING_DEG,
    S1_INCIDENCE_DEG,
    mogi_unit_los,
)

#: Depths of the templates, metres (the injections' 2-5 km).
DEFAULT_DEPTHS_M = (2000.0, 3000.0, 4000.0, 5000.0)
#: Templates are placed within this distance of the centre, metres (the injections' 3 km).
DEFAULT_MAX_OFFSET_M = 3000.0
#: Spacing of the template positions, metres.
DEFAULT_STEP_M = 1000.0
#: Fewest valid pixels a map needs to be scored.
MIN_VALID_PIXELS = 100


def template_positions(depths_m: tuple[float, ...], max_offset_m: float, step_m: float
                       ) -> list[tuple[float, float, float]]:
    """East, north (metres from the grid centre) and depth of every template: positions
    every ``step_m`` within ``max_offset_m`` of the centre, at each depth."""
    n_steps = int(math.floor(max_offset_m / step_m))
    offsets = np.arange(-n_steps, n_steps + 1) * step_m
    return [(float(xs), float(ys), depth) for depth in depths_m for xs in offsets
            for ys in offsets if xs * xs + ys * ys <= max_offset_m ** 2 * (1 + 1e-9)]


def check_template_grid(who: str, pixel_m: tuple[float, float], depths_m: tuple[float, ...],
                        max_offset_m: float, step_m: float) -> None:
    """Refuse a template grid that cannot be built; errors name ``who`` (the filter).

    Raises:
        InputError: non-positive or non-finite pixel sizes, no depth or a non-positive
            one, a non-positive step or a negative offset.
    """
    if not all(p > 0 and math.isfinite(p) for p in pixel_m):
        raise InputError(f"{who}: pixel sizes must be positive, got {pixel_m}")
    if not depths_m or not all(d > 0 for d in depths_m):
        raise InputError(f"{who}: depths must be positive, got {depths_m}")
    if not (step_m > 0 and max_offset_m >= 0):
        raise InputError(f"{who}: need step_m > 0 and max_offset_m >= 0, got {step_m}, "
                         f"{max_offset_m}")


@lru_cache(maxsize=4)
def mogi_templates(shape: tuple[int, int], pixel_m: tuple[float, float],
                   depths_m: tuple[float, ...], max_offset_m: float, step_m: float,
                   incidence_deg: float, heading_deg: float
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit-peak LOS templates ``(K, ny * nx)`` and their ``(K, 3)`` east, north, depth
    (metres from the grid centre), cached."""
    where = template_positions(depths_m, max_offset_m, step_m)
    patterns = [mogi_unit_los(shape, pixel_m, xs, ys, depth, incidence_deg,
                              heading_deg).ravel() for xs, ys, depth in where]
    return np.stack(patterns), np.array(where, dtype=np.float64)


@dataclass(frozen=True)
class MatchedFilterScore:
    """The best template of one map: its explained fraction and where it sits."""

    r2: float
    east_m: float
    north_m: float
    depth_m: float


@dataclass(frozen=True)
class MogiMatchedFilter:
    """The matched filter (module docstring) as a detector of displacement maps.

    Attributes:
        pixel_m: Pixel size ``(east, north)`` of the maps, metres.
        depths_m, max_offset_m, step_m: The template grid.
        incidence_deg, heading_deg: The line of sight of the templates, degrees.
        threshold: Flag when the best template explains more than this fraction.
    """

    pixel_m: tuple[float, float]
    depths_m: tuple[float, ...] = DEFAULT_DEPTHS_M
    max_offset_m: float = DEFAULT_MAX_OFFSET_M
    step_m: float = DEFAULT_STEP_M
    incidence_deg: float = S1_INCIDENCE_DEG
    heading_deg: float = S1_ASCENDING_HEADING_DEG
    threshold: float = 0.5

    def __post_init__(self) -> None:
        check_template_grid("matched filter", self.pixel_m, self.depths_m,
                            self.max_offset_m, self.step_m)
        if not 0 < self.threshold < 1:
            raise InputError(f"matched filter: threshold must be in (0, 1), got "
                             f"{self.threshold}")

    def measure(self, displacement_m: NDArray[np.floating]) -> MatchedFilterScore:
        """The best template's explained fraction of ``displacement_m`` (LOS metres).

        Raises:
            InputError: not a 2-D map, or fewer than :data:`MIN_VALID_PIXELS` valid pixels.
        """
        d = np.asarray(displacement_m, dtype=np.float64)
        if d.ndim != 2:
            raise InputError(f"matched filter: the map must be 2-D, got shape {d.shape}")
        ok = np.isfinite(d).ravel()
        if ok.sum() < MIN_VALID_PIXELS:
            raise InputError(f"matched filter: {int(ok.sum())} valid pixels; need at least "
                             f"{MIN_VALID_PIXELS}")
        templates, where = mogi_templates(d.shape, tuple(self.pixel_m), tuple(self.depths_m),
                                      self.max_offset_m, self.step_m, self.incidence_deg,
                                      self.heading_deg)
        ny, nx = d.shape
        rows, cols = np.divmod(np.flatnonzero(ok), nx)
        plane = np.column_stack([np.ones(rows.size), cols / nx, rows / ny])
        q, _ = np.linalg.qr(plane)
        v0 = d.ravel()[ok]
        v = v0 - q @ (q.T @ v0)
        t = templates[:, ok]
        t = t - (t @ q) @ q.T
        vv = float(v @ v)
        if vv <= 1e-20 * float(v0 @ v0):  # a plane (or flat): nothing left to explain
            return MatchedFilterScore(0.0, *where[0])
        r2 = (t @ v) ** 2 / (np.einsum("ij,ij->i", t, t) * vv)
        k = int(np.argmax(r2))
        return MatchedFilterScore(float(r2[k]), *where[k])

    def detect(self, displacement_m: NDArray[np.floating]) -> Detection:
        """Score a map: ``p_fused`` is the best template's explained fraction, the peak the
        pixel of its source, ``p_by_gain`` empty (no gains)."""
        d = np.asarray(displacement_m)
        m = self.measure(d)
        ny, nx = d.shape
        row = int(np.clip(round((ny - 1) / 2.0 - m.north_m / self.pixel_m[1]), 0, ny - 1))
        col = int(np.clip(round((nx - 1) / 2.0 + m.east_m / self.pixel_m[0]), 0, nx - 1))
        prob = np.zeros(d.shape, np.float32)
        prob[row, col] = m.r2
        return Detection(p_fused=m.r2, p_by_gain={}, flag=m.r2 > self.threshold,
                         peak_row=row, peak_col=col, prob_map=prob, threshold=self.threshold)
