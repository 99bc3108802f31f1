"""Detector settings built from the configuration: the second look's.

The second look (:mod:`monitor.science.detect.second_look`) takes its band and pixel
limits from ``[correction]`` and its exclusion disc from a radius the caller gives
(``--second-look-radius-km``); ``scan`` and ``evaluate roc`` build it the same way here.
"""

from __future__ import annotations

import math

from monitor.config import CorrectionSettings
from monitor.errors import InputError
from monitor.science.detect.second_look import SecondLookSettings


def second_look_settings(radius_km: float,
                         correction: CorrectionSettings) -> SecondLookSettings:
    """The detector's second look: a disc of ``radius_km`` kilometres around the detected
    peak left out of the fit, and the ``[correction]`` band and pixel limits (linear in
    height, see :class:`SecondLookSettings`).

    Raises:
        InputError: ``radius_km`` negative or not finite (named as the option).
    """
    if not (radius_km >= 0 and math.isfinite(radius_km)):
        raise InputError(f"--second-look-radius-km must be >= 0, got {radius_km}")
    return SecondLookSettings(exclusion_radius_m=radius_km * 1e3,
                              band_sigma_m=correction.band_sigma_m,
                              min_pixels=correction.min_pixels,
                              min_height_range_m=correction.min_height_range_m)
