"""The one settings record of the second look (the empirical correction of flagged maps).

The watch, ``scan-series``, ``scan`` and ``evaluate`` all correct a flagged map with the
band-filtered phase-elevation fit of :mod:`monitor.science.atmocorr`; these are its
parameters, with their defaults defined here once. The ``[correction]`` section of the
configuration is their TOML form (:meth:`monitor.config.CorrectionSettings.second_look`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from monitor.errors import InputError

FitOrder = Literal[1, 2, "auto"]


@dataclass(frozen=True)
class SecondLookSettings:
    """How a flagged map is corrected before it is scored again.

    Attributes:
        order: Order in height of the fit when the target is known (the watch,
            ``scan-series``): 1, 2 or ``"auto"`` (BIC). 2 by measurement with the band
            filter: 97.6% of the detectable true positives kept against 96.8% for the
            linear band fit, 100% of atmosphere-only flags cleared (docs/detection.md).
        untargeted_order: Order when no target disc is known (``scan``, ``evaluate``). 1
            by measurement: with no target disc to leave out, a quadratic takes the
            curvature of an uplift on the summit (a 5 cm uplift 3 km under Agung with
            9.5 cm of stratification at its summit: 4.1 of its 4.2 cm kept by the linear
            band fit, 1.4 cm by the quadratic; tests/test_second_look.py).
        band_sigma_m: Gaussian sigma of the low-pass removed from the map and the height
            terms before the coefficients are estimated, metres (scale separation, Lin et
            al. 2010); 0 for the plain fit of LiCSBAS and MintPy.
        fit_exclusion_radii: Disc on the target left out of the fit, in target radii
            (>= 1).
        peak_exclusion_radii: Disc around the detected peak left out of the fit, in
            target radii.
        exclusion_radius_m: Without a target: disc around the detected peak and the
            largest anomaly left out of the fit, metres (the watch's 3 km target radius).
        min_pixels: Fewest pixels the fit may use.
        min_height_range_m: Smallest height range among those pixels, metres.
    """

    order: FitOrder = 2
    untargeted_order: FitOrder = 1
    band_sigma_m: float = 1000.0
    fit_exclusion_radii: float = 1.0
    peak_exclusion_radii: float = 1.0
    exclusion_radius_m: float = 3000.0
    min_pixels: int = 200
    min_height_range_m: float = 100.0

    def __post_init__(self) -> None:
        for name in ("order", "untargeted_order"):
            if getattr(self, name) not in (1, 2, "auto"):
                raise InputError(f"second look: {name} must be 1, 2 or 'auto', got "
                                 f"{getattr(self, name)!r}")
        for name in ("band_sigma_m", "peak_exclusion_radii", "exclusion_radius_m",
                     "min_height_range_m"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise InputError(f"second look: {name} must be a finite number >= 0, got "
                                 f"{value!r}")
        if not (math.isfinite(self.fit_exclusion_radii) and self.fit_exclusion_radii >= 1):
            raise InputError(f"second look: fit_exclusion_radii must be >= 1, got "
                             f"{self.fit_exclusion_radii!r}")
        if not (isinstance(self.min_pixels, int) and self.min_pixels >= 4):
            raise InputError(f"second look: min_pixels must be an integer >= 4, got "
                             f"{self.min_pixels!r}")

    def band_sigma_px(self, pixel_m: tuple[float, float]) -> tuple[float, float] | None:
        """``band_sigma_m`` in ``(rows, columns)`` pixels of ``pixel_m = (east, north)``
        metres; None for the plain fit (``band_sigma_m = 0``)."""
        if self.band_sigma_m == 0:
            return None
        return self.band_sigma_m / pixel_m[1], self.band_sigma_m / pixel_m[0]
