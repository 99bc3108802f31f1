"""The detector's second look: a flagged map is corrected with the DEM and scored again.

The CNN sees a displacement map and nothing else, and a stratified delay over a tall
edifice is a bowl centred on the summit: 44% of strong-stratification atmosphere-only maps
over Agung and Sakurajima are flagged by the compact net, 49% by AlexNet, and fine-tuning
on such maps moved the rate only to 32% (docs/detection.md). Anantrasirichai et al. (2019a,
section 5) remove the stratified delay from the maps their detector flags and score them
again; the watch does that for every qualifying step (:mod:`monitor.service.correction`).
This module gives the same second look to any caller that has the map's DEM, without a
target: the band-filtered phase-elevation fit of :mod:`monitor.science.atmocorr` is
estimated away from the detected peak, from the map's largest smoothed anomaly (both within
``exclusion_radius_m``) and from the flagged region, removed, and the corrected map is
scored; its score is the one that decides. The anomaly stands in for the target disc the
watch leaves out: on a map one or two patches wide the merged probability is flat over the
flagged region, and where its maximum is not a point the peak is only as good as the
tie-break (:func:`~monitor.science.detect.fusion.peak_pixel`), while the largest departure
of the smoothed map from its median sits on a deformation's centre, or on the summit for a
stratified delay (which the band-filtered fit does not need, Issue 6's evaluation leaves
the summit out as well).

The detector is passed in (any :class:`~monitor.science.detect.detector.Detector`), so
the module stays free of model loading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.atmocorr import ElevationFit, correct_with_dem, low_pass
from monitor.science.detect.detector import Detector
from monitor.science.detect.fusion import Detection
from monitor.science.second_look_settings import SecondLookSettings

#: Gaussian sigma (metres) of the smoothing before the largest anomaly is looked for:
#: turbulence and noise below it do not place the exclusion disc.
_ANOMALY_SMOOTHING_M = 1000.0


@dataclass(frozen=True, eq=False)
class DetectionSecondLook:
    """The raw detection and the one that decides.

    Attributes:
        raw: The detection of the map as given.
        final: The detection of the corrected map when a correction was made, else
            ``raw`` (not flagged, or no correction possible).
        fit: The phase-elevation fit removed (None when none was made).
        reason: Why no correction was made although the map was flagged (None otherwise).
        corrected: The corrected map, LOS metres (None when none was made).
    """

    raw: Detection
    final: Detection
    fit: ElevationFit | None = None
    reason: str | None = None
    corrected: NDArray[np.float32] | None = None

    @property
    def method(self) -> str:
        """``"empirical"`` when a correction decided, ``"none"`` otherwise."""
        return "empirical" if self.fit is not None else "none"


def _pixel_pair(pixel_m: float | tuple[float, float]) -> tuple[float, float]:
    """``(east, north)`` pixel sizes, metres, validated."""
    try:
        pair = tuple(float(v) for v in np.broadcast_to(np.asarray(pixel_m, float), (2,)))
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(math.isfinite(v) and v > 0 for v in pair):
        raise InputError(f"second look: pixel_m must be a positive size in metres or an "
                         f"(east, north) pair of them, got {pixel_m!r}")
    return pair[0], pair[1]


def largest_anomaly(displacement_m: NDArray[np.float32],
                    sigma_px: tuple[float, float]) -> tuple[int, int] | None:
    """``(row, col)`` of the largest ``|smoothed map - median|``; NaN-aware smoothing.

    None when no pixel has enough finite neighbours for a smoothed value (a map of
    scattered coherent pixels)."""
    finite = np.isfinite(displacement_m)
    smooth = low_pass(displacement_m, sigma_px, min_weight=0.1)
    if not finite.any() or not np.isfinite(smooth).any():
        return None
    dev = np.abs(smooth - np.median(displacement_m[finite]))
    r, c = np.unravel_index(int(np.nanargmax(dev)), dev.shape)
    return int(r), int(c)


def second_look(displacement_m: ArrayLike, dem_m: ArrayLike, detector: Detector,
                pixel_m: float | tuple[float, float],
                settings: SecondLookSettings | None = None,
                raw: Detection | None = None) -> DetectionSecondLook:
    """Score a map; when it is flagged, remove the stratified delay and score it again.

    Args:
        displacement_m: Unwrapped LOS displacement, metres, ``(ny, nx)``; NaN incoherent.
        dem_m: Heights on the same grid, metres, ``(ny, nx)``; NaN where unknown.
        detector: The detector.
        pixel_m: Pixel size, metres: one number, or ``(east, north)``.
        settings: The fit's settings (default: the watch's band and limits); with no
            target the fit's order is ``settings.untargeted_order``.
        raw: The detection of ``displacement_m`` when the caller already has it.

    Returns:
        The :class:`DetectionSecondLook`. A flagged map whose fit cannot be made (too few pixels,
        flat or smooth ground, numerical failure) keeps its raw detection, with the reason.

    Raises:
        InputError: Shapes differ, or bad settings or pixel size.
    """
    cfg = settings or SecondLookSettings()
    x = np.asarray(displacement_m, dtype=np.float32)
    dem = np.asarray(dem_m, dtype=np.float64)
    if x.ndim != 2 or dem.shape != x.shape:
        raise InputError(f"second look: the DEM has shape {dem.shape}, the map "
                         f"{x.shape}; they must be on the same grid")
    dx, dy = _pixel_pair(pixel_m)
    det = raw if raw is not None else detector.detect(x)
    if not det.flag:
        return DetectionSecondLook(det, det)
    radius_px = cfg.exclusion_radius_m / min(dx, dy)
    valid = np.isfinite(x) & np.isfinite(dem)
    if not valid.any():
        return DetectionSecondLook(det, det, reason="no pixel has both a displacement and a height")
    anomaly = largest_anomaly(x, (_ANOMALY_SMOOTHING_M / dy, _ANOMALY_SMOOTHING_M / dx))
    yy, xx = np.ogrid[: x.shape[0], : x.shape[1]]
    near_anomaly = np.zeros(x.shape, bool) if anomaly is None else \
        (yy - anomaly[0]) ** 2 + (xx - anomaly[1]) ** 2 <= radius_px**2
    try:
        corrected, fit = correct_with_dem(
            x, dem, near_anomaly, (det.peak_row, det.peak_col), radius_px,
            det.prob_map > det.threshold, order=cfg.untargeted_order,
            band_sigma_px=cfg.band_sigma_px((dx, dy)),
            min_pixels=cfg.min_pixels, min_height_range_m=cfg.min_height_range_m,
            reference_mask="fit")
    except InputError as exc:
        return DetectionSecondLook(det, det, reason=str(exc))
    except (ValueError, ArithmeticError) as exc:  # numerics (e.g. LinAlgError)
        return DetectionSecondLook(det, det, reason=f"failed: {type(exc).__name__}: {exc}")
    return DetectionSecondLook(det, detector.detect(corrected), fit, None, corrected)
