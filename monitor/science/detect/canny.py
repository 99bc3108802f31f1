"""Masked Canny edge detection, the same edges as scikit-image's, with shareable mask terms.

:func:`skimage.feature.canny` with a ``mask`` spends about a third of its time on terms
that depend on the mask alone: the eroded mask and the Gaussian "bleed-over" of the mask
that renormalises the smoothing near masked pixels. Anantrasirichai et al. (2019b) score
every epoch at 4 wrap gains whose incoherent (NaN) pixels are the same, so those terms can
be computed once per epoch. This module is that algorithm split in two: :func:`canny_mask`
(mask terms) and :func:`masked_canny` (the rest). Every step performs the same
floating-point operations as scikit-image 0.26 (``skimage/feature/_canny.py``), so the edge
maps are identical, bit for bit; a test compares them on wrapped-phase images with and
without incoherent areas. The non-maximum suppression runs scikit-image's compiled kernel
(a private function) where it can be imported and called as in 0.26, else
:func:`suppress_non_maxima`, the same arithmetic in numpy (about 4 times slower; tested
against the kernel).

Steps (Canny 1986, as scikit-image implements them), for a float64 image and a mask:

1. smoothing: ``gaussian(image * mask) / (gaussian(mask) + eps)`` (``scipy.ndimage``
   Gaussian, truncate 4, the caller's border mode);
2. Sobel gradients along both axes, magnitude ``sqrt(gi^2 + gj^2)``;
3. non-maximum suppression along the gradient direction with bilinear interpolation of
   the two neighbours, on the mask eroded by its 8 neighbours (image border excluded),
   keeping magnitudes ``>= low`` (the low threshold rounded to float32, as the Cython
   code's ``float`` argument does);
4. hysteresis: 8-connected components of the kept pixels that hold a pixel ``>= high``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from monitor.errors import InputError

try:  # scikit-image's own compiled kernel: the same arithmetic, about 4 times faster
    from skimage.feature._canny_cy import (
        _nonmaximum_suppression_bilinear as _compiled_suppression,
    )
except ImportError:  # pragma: no cover - a scikit-image without it: numpy below
    _compiled_suppression = None

#: Gaussian truncation of scikit-image's Canny smoothing, in sigmas.
_TRUNCATE = 4.0
_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True, eq=False)
class CannyMask:
    """The terms of masked Canny that depend on the mask alone.

    Attributes:
        valid: Pixels that hold data, bool ``(ny, nx)``.
        eroded: ``valid`` eroded by its 8 neighbours, with the outermost image rows and
            columns False: where edges may be found.
        bleed_over: Gaussian of ``valid`` plus float64 eps, ``(ny, nx)``: the weight of
            valid pixels in the smoothing of each pixel.
        sigma: Gaussian standard deviation, pixels.
        mode: ``scipy.ndimage`` border mode of the smoothing.
    """

    valid: NDArray[np.bool_]
    eroded: NDArray[np.bool_]
    bleed_over: NDArray[np.float64]
    sigma: float
    mode: str

    def matches(self, valid: NDArray[np.bool_], sigma: float, mode: str) -> bool:
        """True when these terms belong to ``valid`` with this ``sigma`` and ``mode``."""
        return (self.sigma == float(sigma) and self.mode == mode
                and self.valid.shape == valid.shape and bool(np.array_equal(self.valid, valid)))


def canny_mask(valid: NDArray[np.bool_], sigma: float, mode: str = "nearest") -> CannyMask:
    """Compute the mask terms of masked Canny for the data mask ``valid`` ``(ny, nx)``."""
    mask = np.array(valid, dtype=bool)  # a copy: it is made read-only below
    if mask.ndim != 2:
        raise InputError(f"the Canny mask must be 2-D (ny, nx), got shape {mask.shape}")
    if not (sigma > 0 and np.isfinite(sigma)):
        raise InputError(f"the Canny sigma must be > 0 pixels, got {sigma!r}")
    eroded = np.zeros_like(mask)
    if mask.shape[0] > 2 and mask.shape[1] > 2:
        inner = mask[1:-1, 1:-1].copy()
        for di in (0, 1, 2):
            for dj in (0, 1, 2):
                inner &= mask[di:di + mask.shape[0] - 2, dj:dj + mask.shape[1] - 2]
        eroded[1:-1, 1:-1] = inner
    bleed_over = ndimage.gaussian_filter(
        mask.astype(np.float64), sigma, mode=mode, cval=0.0, truncate=_TRUNCATE
    )
    bleed_over += np.finfo(np.float64).eps
    for arr in (mask, eroded, bleed_over):
        arr.flags.writeable = False
    return CannyMask(mask, eroded, bleed_over, float(sigma), mode)


def suppress_non_maxima(gi: NDArray[np.float64], gj: NDArray[np.float64],
                         magnitude: NDArray[np.float64], eroded: NDArray[np.bool_],
                         low_threshold: float) -> NDArray[np.float64]:
    """Magnitude where it is a local maximum along the gradient and ``>= low``, else 0.

    The arithmetic of scikit-image's bilinear non-maximum suppression, vectorised over
    the image interior (the eroded mask excludes the outermost rows and columns): the
    gradient direction picks an axial and a diagonal neighbour on each side, interpolated
    with weight ``w = min(|gi|, |gj|) / max(|gi|, |gj|)`` on the diagonal one.
    """
    out = np.zeros_like(magnitude)
    ny, nx = magnitude.shape
    if ny < 3 or nx < 3:
        return out
    threshold = np.float32(low_threshold)  # the Cython code takes a C float
    if threshold == 0:
        threshold = np.float32(1e-14)

    def near(dr: int, dc: int) -> NDArray[np.float64]:
        return magnitude[1 + dr:ny - 1 + dr, 1 + dc:nx - 1 + dc]

    m = near(0, 0)
    i, j = gi[1:-1, 1:-1], gj[1:-1, 1:-1]
    same_sign = (i == 0) | (j == 0) | ((i > 0) == (j > 0))
    ai, aj = np.abs(i), np.abs(j)
    # "Steep" gradients interpolate between the axial neighbour along the rows and a
    # diagonal one, the others between the axial neighbour along the columns and it.
    steep = np.where(same_sign, ai > aj, ai >= aj)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(steep, aj, ai) / np.where(steep, ai, aj)
    rest = 1.0 - w
    plus = np.where(same_sign, near(1, 1), near(-1, 1)) * w
    plus += np.where(steep, np.where(same_sign, near(1, 0), near(-1, 0)), near(0, 1)) * rest
    minus = np.where(same_sign, near(-1, -1), near(1, -1)) * w
    minus += np.where(steep, np.where(same_sign, near(-1, 0), near(1, 0)), near(0, -1)) * rest
    keep = eroded[1:-1, 1:-1] & (m >= np.float64(threshold)) & (plus <= m) & (minus <= m)
    out[1:-1, 1:-1] = np.where(keep, m, 0.0)
    return out


def masked_canny(image: NDArray[np.float64], mask: CannyMask, low_threshold: float,
                 high_threshold: float) -> NDArray[np.bool_]:
    """Canny edges of ``image`` inside ``mask``; equals ``skimage.feature.canny``.

    Args:
        image: float64 ``(ny, nx)``, finite (masked pixels may hold any finite value).
        mask: Mask terms from :func:`canny_mask` (its ``valid`` is the Canny mask).
        low_threshold, high_threshold: Hysteresis thresholds on the gradient magnitude.

    Returns:
        Bool ``(ny, nx)``, the same as ``skimage.feature.canny(image, mask.sigma,
        low_threshold, high_threshold, mask=mask.valid, mode=mask.mode)``.
    """
    if image.shape != mask.valid.shape:
        raise InputError(f"image shape {image.shape} does not match the mask's "
                         f"{mask.valid.shape}")
    if not 0 <= low_threshold <= high_threshold:
        raise InputError(f"Canny thresholds must satisfy 0 <= low <= high, got "
                         f"{low_threshold!r}, {high_threshold!r}")
    masked = np.where(mask.valid, np.asarray(image, dtype=np.float64), 0.0)
    smoothed = ndimage.gaussian_filter(masked, mask.sigma, mode=mask.mode, cval=0.0,
                                       truncate=_TRUNCATE)
    smoothed /= mask.bleed_over
    gj = ndimage.sobel(smoothed, axis=1)
    gi = ndimage.sobel(smoothed, axis=0)
    magnitude = gi * gi
    magnitude += gj * gj
    np.sqrt(magnitude, out=magnitude)
    kept = None
    if _compiled_suppression is not None:
        try:
            kept = np.asarray(_compiled_suppression(
                gi, gj, magnitude, mask.eroded.astype(np.uint8), low_threshold))
        except (TypeError, ValueError):  # pragma: no cover - a private API that changed
            kept = None
    if kept is None or kept.shape != magnitude.shape:  # pragma: no cover
        kept = suppress_non_maxima(gi, gj, magnitude, mask.eroded, low_threshold)
    low = kept > 0
    labels, count = ndimage.label(low, _EIGHT_NEIGHBOURS)
    if count == 0:
        return low
    good = np.zeros(count + 1, dtype=bool)
    good[labels[low & (kept >= high_threshold)]] = True
    good[0] = False
    return np.asarray(good[labels])
