"""A plain baseline detector: the smoothed map's largest anomaly over its robust noise.

What a CNN has to beat on real interferograms. The map is low-passed (a NaN-aware
Gaussian of ``smoothing_m``, a normalised convolution like
:func:`monitor.science.atmocorr.low_pass` but with zero padding outside the frame and
standardised to the white-noise level of a pixel surrounded by data, so that frame edges
and hole rims, means of fewer pixels, do not win the maximum by their noise alone; pixel
noise and unwrapping speckle average out while a volcanic source of a few km survives);
the score is the peak-to-noise ratio::

    s = smooth(d, sigma)                         (metres, NaN where no data)
    b = s outside 5 km of the largest |s - median(s)|   (the background)
    ratio = max |s - median(b)| / (1.4826 * MAD(b))

the largest absolute deviation from the background's median in units of its robust
standard deviation (1.4826 * median absolute deviation: the standard deviation of a
Gaussian; Rousseeuw & Croux 1993). The background leaves out the peak's surroundings, so
that a broad source does not inflate its own noise: with the whole map as background, 4
cm sources 2-5 km deep injected into the real 20 km Erta Ale clips were flagged 4 times
in 40 (docs/detection_real.md), their footprint being half the frame. A map is flagged
when ``ratio > threshold_ratio`` (default 5, chosen from the statistics and not fitted
to any set: for a Gaussian field a 5-sigma excursion has a one-sided tail probability of
2.9e-7 per independent sample, so a frame of 10^3-10^4 independent samples at the
smoothing scale is flagged about once in a thousand white-noise maps; correlated
atmosphere makes it more often, which is what is measured). The ratio becomes a score in
[0, 1] by ``P = 1 - 2 ** (-ratio / threshold_ratio)``: monotone (so ROC and AUC are
those of the ratio), 0 for a flat map and exactly 0.5 at the threshold, so ``P > 0.5``
is the same decision as the CNN's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from monitor.errors import InputError
from monitor.science.detect.fusion import Detection

#: Robust standard deviation of a Gaussian from its median absolute deviation.
MAD_TO_SIGMA = 1.4826
#: Default smoothing of the baseline, metres (Gaussian sigma).
DEFAULT_SMOOTHING_M = 1000.0
#: Default flag threshold of the peak-to-noise ratio (5 robust sigma).
DEFAULT_RATIO_THRESHOLD = 5.0
#: Default radius around the peak left out of the background (median and noise), metres:
#: a Mogi source up to 3 km deep is below 15 % of its peak beyond it, (1 + (5/3)^2)^-1.5.
DEFAULT_NOISE_EXCLUSION_M = 5000.0
#: Fewest valid pixels (fraction of the map) the background may keep; else the whole map.
MIN_BACKGROUND_FRACTION = 0.25


def _smooth(values: NDArray[np.float64], sigma_px: tuple[float, float]
            ) -> NDArray[np.float64]:
    """NaN-aware Gaussian low-pass, standardised to the interior's white-noise level.

    A normalised convolution with zero padding outside the map (an edge pixel is the mean
    of the data near it), divided by its noise factor relative to a pixel surrounded by
    data: for white noise the weighted mean's standard deviation scales as
    ``sqrt(sum w^2) / sum w``, i.e. ``sqrt(G_{sigma/sqrt 2} * m) / (G_sigma * m)`` with the
    data mask ``m`` (1 in the interior, sqrt 2 on an edge), so edges and hole rims, means
    of fewer pixels, do not decide the maximum by their larger noise alone.

    Args:
        values: Map ``(ny, nx)``, NaN = no data.
        sigma_px: Gaussian sigma (rows, columns), pixels.

    Returns:
        The standardised smoothed map ``(ny, nx)``, in the units of ``values``; NaN where
        less than a quarter of the Gaussian's weight falls on data.
    """
    finite = np.isfinite(values)
    mask = finite.astype(np.float64)
    num = ndimage.gaussian_filter(np.where(finite, values, 0.0), sigma_px, mode="constant")
    den = ndimage.gaussian_filter(mask, sigma_px, mode="constant")
    narrow = tuple(s / math.sqrt(2.0) for s in sigma_px)
    den2 = ndimage.gaussian_filter(mask, narrow, mode="constant")
    ok = den >= 0.25
    safe = np.maximum(den, 1e-6)
    factor = np.sqrt(np.maximum(den2, 1e-12)) / safe
    return np.where(ok, num / safe / factor, np.nan)


@dataclass(frozen=True)
class PeakToNoise:
    """The baseline's measurement of one map.

    Attributes:
        ratio: Largest ``|s - median(b)|`` over ``1.4826 * MAD(b)``, ``s`` the smoothed
            map and ``b`` its background (dimensionless; ``inf`` when the MAD is 0 and
            some deviation is not).
        peak_m: That largest deviation, LOS metres.
        noise_m: ``1.4826 * MAD(b)``, LOS metres.
        peak_row, peak_col: Pixel of the largest deviation, row 0 = north edge.
        anomaly_m: ``|s - median(b)|``, float32 ``(ny, nx)`` metres, NaN where no data.
    """

    ratio: float
    peak_m: float
    noise_m: float
    peak_row: int
    peak_col: int
    anomaly_m: NDArray[np.float32]


@dataclass(frozen=True)
class PeakToNoiseDetector:
    """Smoothed peak-to-noise rule as a ``monitor.ports.Detector`` (see the module).

    Attributes:
        pixel_m: Pixel size ``(east, north)``, metres (e.g. ``FrameGrid.pixel_m``).
        smoothing_m: Gaussian sigma of the low-pass, metres (default 1 km).
        threshold_ratio: Flag when the ratio exceeds this (default 5).
        noise_exclusion_m: Radius around the peak of the smoothed map left out of the
            background whose median and MAD are the reference and the noise (default
            5 km; the whole map when less than a quarter of it would remain).
    """

    pixel_m: tuple[float, float]
    smoothing_m: float = DEFAULT_SMOOTHING_M
    threshold_ratio: float = DEFAULT_RATIO_THRESHOLD
    noise_exclusion_m: float = DEFAULT_NOISE_EXCLUSION_M

    def __post_init__(self) -> None:
        east, north = (float(v) for v in self.pixel_m)
        if not (east > 0 and north > 0 and math.isfinite(east) and math.isfinite(north)):
            raise InputError(f"pixel_m must be two positive sizes in metres, got "
                             f"{self.pixel_m!r}")
        if not (self.smoothing_m > 0 and math.isfinite(self.smoothing_m)):
            raise InputError(f"smoothing_m must be a positive number of metres, got "
                             f"{self.smoothing_m!r}")
        if not (self.noise_exclusion_m >= 0 and math.isfinite(self.noise_exclusion_m)):
            raise InputError(f"noise_exclusion_m must be a number of metres >= 0, got "
                             f"{self.noise_exclusion_m!r}")
        if not (self.threshold_ratio > 0 and math.isfinite(self.threshold_ratio)):
            raise InputError(f"threshold_ratio must be > 0, got {self.threshold_ratio!r}")

    def probability(self, ratio: float) -> float:
        """The ratio as a score in [0, 1]: ``1 - 2 ** (-ratio / threshold_ratio)``."""
        return 1.0 - 2.0 ** (-max(float(ratio), 0.0) / self.threshold_ratio)

    def measure(self, displacement_m: NDArray[np.floating]) -> PeakToNoise:
        """The peak-to-noise ratio of ``displacement_m`` (LOS metres ``(ny, nx)``, NaN = no
        data).

        Raises:
            InputError: not a 2-D array, or no finite pixel.
        """
        d = np.asarray(displacement_m, dtype=np.float64)
        if d.ndim != 2 or not np.isfinite(d).any():
            raise InputError(f"the baseline needs a 2-D map with finite pixels, got shape "
                             f"{d.shape}")
        east, north = self.pixel_m
        smooth = _smooth(d, (self.smoothing_m / north, self.smoothing_m / east))
        smooth[~np.isfinite(d)] = np.nan  # only where there is data
        finite = np.isfinite(smooth)
        first = np.abs(smooth - np.median(smooth[finite]))
        row, col = divmod(int(np.nanargmax(first)), d.shape[1])
        # Background (median and noise) from the ground away from that peak, so that a
        # source's own footprint does not count as noise.
        rows, cols = np.ogrid[0:d.shape[0], 0:d.shape[1]]
        far = ((rows - row) * north) ** 2 + ((cols - col) * east) ** 2 \
            > self.noise_exclusion_m ** 2
        background = finite & far
        if background.sum() < MIN_BACKGROUND_FRACTION * finite.sum():
            background = finite
        values = smooth[background]
        centre = float(np.median(values))
        anomaly = np.abs(smooth - centre)
        noise = MAD_TO_SIGMA * float(np.median(np.abs(values - centre)))
        row, col = divmod(int(np.nanargmax(anomaly)), d.shape[1])
        peak = float(anomaly[row, col])
        ratio = peak / noise if noise > 0 else (math.inf if peak > 0 else 0.0)
        return PeakToNoise(ratio, peak, noise, row, col, anomaly.astype(np.float32))

    def detect(self, displacement_m: NDArray[np.floating]) -> Detection:
        """Score ``displacement_m`` (LOS metres ``(ny, nx)``, NaN = no data).

        Returns:
            The detection: ``prob_map`` is :meth:`probability` of each pixel's anomaly over
            the map's noise (NaN -> 0), ``p_fused`` its maximum (the ratio's score),
            ``p_by_gain`` empty (one scale, no gains), ``flag`` ``ratio > threshold``.
        """
        m = self.measure(displacement_m)
        noise = m.noise_m if m.noise_m > 0 else math.inf
        with np.errstate(invalid="ignore"):
            pixel_ratio = np.nan_to_num(m.anomaly_m / noise, nan=0.0)
        prob = (1.0 - 2.0 ** (-pixel_ratio / self.threshold_ratio)).astype(np.float32)
        p = self.probability(m.ratio)
        prob[m.peak_row, m.peak_col] = p
        return Detection(p_fused=p, p_by_gain={}, flag=m.ratio > self.threshold_ratio,
                         peak_row=m.peak_row, peak_col=m.peak_col, prob_map=prob,
                         threshold=0.5)
