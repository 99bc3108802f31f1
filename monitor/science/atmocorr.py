"""Correction of the tropospheric delay in a flagged displacement map.

Anantrasirichai et al. (2019a, section 5) remove the stratified delay from the
interferograms their detector flags and score them again: 11 of their 12 false positives
were cleared and all 41 true positives kept. Two sources of the delay are handled here:

* **Weather-model delays** (GACOS, Yu et al. 2018, J. Geophys. Res. 123, 9202-9222; ICAMS
  on ERA5, Cao et al. 2021, J. Geodesy 95, 93): a delay map per acquisition date. The
  change over a span ``last - first`` lengthens the range when positive, i.e. reads as
  motion *away* from the satellite in this project's LOS convention (positive towards the
  satellite): ``atmosphere = -(last - first) / cos(incidence)`` for zenith delays
  (:func:`delay_difference_los`), the same convention as
  :mod:`monitor.science.atmosphere` and :mod:`monitor.science.synth_series`
  (``atm = -s / cos_inc + t``).
* **An empirical phase-elevation fit** (Doin et al. 2009, J. Appl. Geophys. 69, 35-50;
  as in LiCSBAS and MintPy's ``tropo_phase_elevation``): ``d = offset + c1 (h - h_ref)
  [+ c2 (h - h_ref)^2]`` fitted robustly over pixels *outside* the target disc, away from
  the detected peak and outside the region the detector flagged
  (:func:`fit_usable_mask`), so that deformation on the edifice, which also correlates
  with height, is not taken for atmosphere (:func:`fit_phase_elevation`).

  By default the coefficients are estimated in a **high-pass band** of both the map and
  the height polynomials (each minus its Gaussian low-pass of ``band_sigma_px``), the
  scale separation of Lin et al. (2010, Geochem. Geophys. Geosyst. 11, Q09002) and Bekaert et
  al. (2015, Remote Sens. Environ. 170, 40-47): the stratified delay follows the
  topography at every scale, ridges and valleys included, while a volcanic source a few km
  deep is smooth at the kilometre scale. A plain fit over the whole band takes part of the
  broad deformation tail, which also falls off with distance from the summit and so with
  height, for stratification: on the strong-stratification evaluation (docs/detection.md)
  its slope erred by a median 18% on deformation cases against 9% with the band filter at
  1 km, and 100% of atmosphere-only flags were cleared against 86%.

The fit's coefficients are in LOS-displacement metres: for a stratified zenith delay
``k1 dh`` seen at incidence ``theta``, ``c1 = -k1 / cos(theta)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from monitor.errors import InputError

DelayGeometry = Literal["zenith", "slant"]

#: Tukey biweight tuning constant (95% efficiency under Gaussian residuals).
TUKEY_C = 4.685
#: Huber tuning constant (95% efficiency), used for the starting iterations.
HUBER_K = 1.345
#: MAD to standard deviation for Gaussian data.
_MAD_TO_SIGMA = 1.4826
#: Cap on the sample size used by the order selection (see :func:`fit_phase_elevation`).
DEFAULT_EFFECTIVE_SAMPLES = 100
_HEIGHT_SCALE_M = 1000.0


@dataclass(frozen=True)
class ElevationFit:
    """A phase-elevation model fitted to one displacement map.

    Attributes:
        order: Polynomial order kept, 1 or 2.
        coefficients: ``(c1,)`` in metres of LOS displacement per metre of height, or
            ``(c1, c2)`` with ``c2`` in metres per metre^2; about ``h_ref_m``.
        offset_m: Constant term, LOS metres.
        h_ref_m: Height the polynomial is centred on (median of the used heights), metres.
        n_pixels: Pixels used in the fit (after subsampling).
        rms_before_m: RMS about the median of the used pixels before the correction, metres.
        rms_after_m: RMS of the residuals of the used pixels after it, metres.
        h_min_m: Lowest used height, metres (-inf: unbounded).
        h_max_m: Highest used height, metres (inf: unbounded).
        band_sigma_px: Gaussian low-pass (pixels, or ``(rows, columns)``) removed from
            the map and the height terms before the coefficients were estimated; None for a
            plain fit.

    Beyond ``[h_min_m, h_max_m]`` the quadratic is continued along its tangent at the
    nearer end: a fit made away from the summit must be extrapolated up to it, and a
    parabola extrapolated 1-2 km above its data can bend by centimetres the data do not
    support.
    """

    order: int
    coefficients: tuple[float, ...]
    offset_m: float
    h_ref_m: float
    n_pixels: int
    rms_before_m: float
    rms_after_m: float
    h_min_m: float = -math.inf
    h_max_m: float = math.inf
    band_sigma_px: float | tuple[float, float] | None = None

    def record(self) -> dict[str, Any]:
        """The fit as plain JSON values (what reports and the store keep of it)."""
        return {"order": self.order, "coefficients": [float(c) for c in self.coefficients],
                "offset_m": float(self.offset_m), "h_ref_m": float(self.h_ref_m),
                "n_pixels": int(self.n_pixels), "rms_before_m": float(self.rms_before_m),
                "rms_after_m": float(self.rms_after_m)}

    def _poly(self, dh: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.full(dh.shape, self.offset_m, dtype=np.float64)
        for power, c in enumerate(self.coefficients, start=1):
            out += c * dh**power
        return out

    def _slope(self, dh: float) -> float:
        return sum(p * c * dh ** (p - 1) for p, c in enumerate(self.coefficients, start=1))

    def model(self, dem_m: ArrayLike) -> NDArray[np.float32]:
        """``offset + c1 (h - h_ref) [+ c2 (h - h_ref)^2]``, LOS metres, shape of ``dem_m``.

        Continued linearly (tangent at the end) outside ``[h_min_m, h_max_m]``.
        """
        h = np.asarray(dem_m, dtype=np.float64)
        lo, hi = self.h_min_m, self.h_max_m
        clipped = np.clip(h, lo, hi)
        out = self._poly(clipped - self.h_ref_m)
        if len(self.coefficients) > 1:
            if math.isfinite(lo):
                out += np.where(h < lo, (h - lo) * self._slope(lo - self.h_ref_m), 0.0)
            if math.isfinite(hi):
                out += np.where(h > hi, (h - hi) * self._slope(hi - self.h_ref_m), 0.0)
        else:
            out = self._poly(h - self.h_ref_m)
        return out.astype(np.float32)


def _as_2d(name: str, value: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (ny, nx), got shape {arr.shape}")
    return arr


def _same_shape(shape: tuple[int, ...], **arrays: NDArray[np.generic]) -> None:
    for name, arr in arrays.items():
        if arr.shape != shape:
            raise InputError(f"{name} has shape {arr.shape}; expected {shape} like the "
                             "displacement map")


def fit_usable_mask(valid: NDArray[np.bool_], target_mask: NDArray[np.bool_],
                    peak_rc: tuple[int, int], exclude_radius_px: float,
                    flagged: NDArray[np.bool_] | None = None,
                    min_pixels: int | None = None) -> NDArray[np.bool_]:
    """Pixels the phase-elevation fit may use.

    Deformation on a volcano correlates with height as the stratified delay does, so the
    fit must not see it: the target disc, a disc around the detector's peak and the region
    it flagged are left out.

    Args:
        valid: Pixels with finite displacement and height, ``(ny, nx)``.
        target_mask: The target disc, ``(ny, nx)`` (True inside).
        peak_rc: ``(row, col)`` of the detected peak.
        exclude_radius_px: Radius of the disc left out around the peak, pixels (>= 0).
        flagged: Optional region to leave out, e.g. fused P > 0.5, ``(ny, nx)``.
        min_pixels: When given and leaving out ``flagged`` would leave fewer than this
            many pixels, ``flagged`` is not left out. The detector's map is merged from
            224-pixel patches, so on a map one or two patches wide a flag covers most or
            all of it and the fit would have nothing to work with; the target disc and the
            peak disc are always left out.

    Returns:
        Boolean ``(ny, nx)``: valid, outside the target, farther than
        ``exclude_radius_px`` from the peak and outside ``flagged`` (see ``min_pixels``).

    Raises:
        InputError: Shapes differ or the radius is negative or not finite.
    """
    v = np.asarray(valid, dtype=bool)
    if v.ndim != 2:
        raise InputError(f"valid must be a 2-D mask (ny, nx), got shape {v.shape}")
    t = np.asarray(target_mask, dtype=bool)
    f = np.zeros_like(v) if flagged is None else np.asarray(flagged, dtype=bool)
    _same_shape(v.shape, target_mask=t, flagged=f)
    r = float(exclude_radius_px)
    if not (math.isfinite(r) and r >= 0):
        raise InputError(f"exclude_radius_px must be a finite number >= 0, got {r!r}")
    row, col = (float(p) for p in peak_rc)
    yy, xx = np.ogrid[: v.shape[0], : v.shape[1]]
    far = (yy - row) ** 2 + (xx - col) ** 2 > r * r
    base = v & ~t & far
    out = base & ~f
    if min_pixels is not None and int(out.sum()) < min_pixels:
        out = base
    return np.asarray(out, dtype=bool)


def _robust_sigma(residual: NDArray[np.float64]) -> float:
    med = float(np.median(residual))
    return _MAD_TO_SIGMA * float(np.median(np.abs(residual - med)))


def _irls(design: NDArray[np.float64], d: NDArray[np.float64], max_iter: int = 50,
          tol: float = 1e-8) -> tuple[NDArray[np.float64], NDArray[np.float64], float]:
    """Robust least squares: Huber iterations from least squares, then Tukey biweight.

    The scale is the MAD of the residuals of each iteration. Huber (convex) gives a start
    that gross outliers cannot pull far; the Tukey biweight then gives outliers zero weight.

    Returns:
        ``(beta, weights, sigma)``: coefficients, final weights, robust residual scale.
    """
    beta = np.asarray(np.linalg.lstsq(design, d, rcond=None)[0], dtype=np.float64)
    w = np.ones_like(d)
    sigma = 0.0
    for kind in ("huber", "tukey"):
        for _ in range(max_iter):
            r = d - design @ beta
            sigma = _robust_sigma(r)
            if sigma <= 0.0:
                return beta, np.ones_like(d), 0.0
            u = np.abs(r) / sigma
            if kind == "huber":
                w = np.where(u <= HUBER_K, 1.0, HUBER_K / np.maximum(u, 1e-12))
            else:
                w = np.where(u < TUKEY_C, (1.0 - (u / TUKEY_C) ** 2) ** 2, 0.0)
            sw = np.sqrt(w)
            new = np.asarray(np.linalg.lstsq(design * sw[:, None], d * sw, rcond=None)[0],
                             dtype=np.float64)
            done = bool(np.max(np.abs(new - beta)) <= tol * (1.0 + np.max(np.abs(beta))))
            beta = new
            if done:
                break
    return beta, w, sigma


#: A Gaussian sigma in pixels: one for both axes, or ``(rows, columns)``.
SigmaPx = float | tuple[float, float]


def _sigma_ok(sigma_px: SigmaPx) -> bool:
    values = sigma_px if isinstance(sigma_px, tuple) else (sigma_px,)
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return len(numbers) in (1, 2) and all(math.isfinite(v) and v > 0 for v in numbers)


def low_pass(values: ArrayLike, sigma_px: SigmaPx,
             min_weight: float = 1e-3) -> NDArray[np.float64]:
    """Gaussian low-pass of ``sigma_px`` pixels, NaN-aware.

    A normalised convolution (the filtered finite values divided by the filtered finite
    mask), so holes neither spread nor bias their surroundings. NaN where the finite
    pixels' filtered weight is ``min_weight`` or less (too far from any data). Borders are
    extended with the nearest value.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    num = ndimage.gaussian_filter(np.where(finite, v, 0.0), sigma_px, mode="nearest")
    den = ndimage.gaussian_filter(finite.astype(np.float64), sigma_px, mode="nearest")
    return np.where(den > min_weight, num / np.maximum(den, 1e-6), np.nan)


def high_pass(values: NDArray[np.float64], sigma_px: SigmaPx) -> NDArray[np.float64]:
    """``values`` minus its :func:`low_pass` of ``sigma_px`` pixels; NaN pixels (and
    pixels too far from any data for a low-pass) are NaN."""
    return values - low_pass(values, sigma_px)


def fit_phase_elevation(displacement_m: ArrayLike, dem_m: ArrayLike,
                        usable: NDArray[np.bool_], *,
                        order: Literal[1, 2, "auto"] = "auto", min_pixels: int = 200,
                        max_samples: int = 50_000, seed: int = 0,
                        min_height_range_m: float = 100.0,
                        effective_samples: int = DEFAULT_EFFECTIVE_SAMPLES,
                        band_sigma_px: SigmaPx | None = None) -> ElevationFit:
    """Robust fit of ``d = offset + c1 (h - h_ref) [+ c2 (h - h_ref)^2]``.

    The phase-elevation correction of LiCSBAS and MintPy (Doin et al. 2009), made robust to
    the deformation and unwrapping errors left in the used pixels by iteratively reweighted
    least squares (Huber, then Tukey biweight weights, MAD scale). Above ``max_samples``
    usable pixels a deterministic subsample (``default_rng(seed)``) is fitted.

    With ``band_sigma_px`` the coefficients are estimated from the high-pass band
    (:func:`high_pass`) of the map and of each height term, over the same usable pixels
    (filtered twice: pixels a first robust fit gives zero weight are removed from the map
    before the second filtering, so that an unwrapping error does not spread into its
    neighbours), and the offset is then the robust fit of the full map minus the height
    terms. The stratified delay follows the topography at every scale while a deformation
    source kilometres deep has little power below the filter scale, so its broad tail,
    which correlates with height on an edifice, does not leak into the slope.

    With ``order="auto"`` the quadratic is kept only when it lowers the Bayesian
    information criterion ``n log(sigma^2) + k log(n)`` (sigma the robust residual scale).
    Neighbouring pixels are not independent (turbulence is correlated over kilometres), so
    ``n`` is capped at ``effective_samples`` (about the number of correlation cells of
    ~1 km in a 20-30 km frame); with every pixel counted, any curvature of the turbulence
    would "pay".

    Args:
        displacement_m: LOS displacement, metres, ``(ny, nx)``; NaN where incoherent.
        dem_m: Heights, metres, ``(ny, nx)``.
        usable: Pixels the fit may use (:func:`fit_usable_mask`), ``(ny, nx)``.
        order: 1, 2 or ``"auto"``.
        min_pixels: Fewest finite usable pixels accepted.
        max_samples: Most pixels fitted (a deterministic subsample above it).
        seed: Seed of the subsample.
        min_height_range_m: Smallest accepted spread of the used heights (2nd to 98th
            percentile), metres.
        effective_samples: Cap on ``n`` in the order selection.
        band_sigma_px: Gaussian sigma (pixels; one number or ``(rows, columns)`` for
            pixels that are not square) of the low-pass removed before the coefficients
            are estimated; None for a plain fit.

    Returns:
        The :class:`ElevationFit`.

    Raises:
        InputError: Shapes differ, a bad option, fewer than ``min_pixels`` usable pixels,
            or a height range under ``min_height_range_m`` (the message says which: the
            caller records it as "correction not possible").
    """
    d = _as_2d("displacement_m", displacement_m)
    h = _as_2d("dem_m", dem_m)
    u = np.asarray(usable, dtype=bool)
    _same_shape(d.shape, dem_m=h, usable=u)
    if order not in (1, 2, "auto"):
        raise InputError(f"order must be 1, 2 or 'auto', got {order!r}")
    if not (isinstance(min_pixels, int | np.integer) and min_pixels >= 4):
        raise InputError(f"min_pixels must be an integer >= 4, got {min_pixels!r}")
    if not (isinstance(max_samples, int | np.integer) and max_samples >= min_pixels):
        raise InputError(f"max_samples must be an integer >= min_pixels ({min_pixels}), "
                         f"got {max_samples!r}")
    if not (math.isfinite(min_height_range_m) and min_height_range_m >= 0):
        raise InputError(f"min_height_range_m must be >= 0, got {min_height_range_m!r}")
    if not (isinstance(effective_samples, int | np.integer) and effective_samples >= 10):
        raise InputError(f"effective_samples must be an integer >= 10, got "
                         f"{effective_samples!r}")
    if band_sigma_px is not None and not _sigma_ok(band_sigma_px):
        raise InputError(f"band_sigma_px must be a positive number of pixels, a (rows, "
                         f"columns) pair of them, or None; got {band_sigma_px!r}")
    sel = u & np.isfinite(d) & np.isfinite(h)
    n_avail = int(sel.sum())
    if n_avail < min_pixels:
        raise InputError(f"phase-elevation fit: only {n_avail} usable pixels (valid, outside "
                         f"the target disc, the flagged region and the peak), fewer than "
                         f"min_pixels={min_pixels}; correction not possible")
    idx = np.flatnonzero(sel)
    if n_avail > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_samples, replace=False))
    dv = d.ravel()[idx]
    hv = h.ravel()[idx]
    lo, hi = np.percentile(hv, [2.0, 98.0])
    if hi - lo < min_height_range_m:
        raise InputError(f"phase-elevation fit: the usable pixels span only {hi - lo:.0f} m "
                         f"of height (2nd-98th percentile), less than min_height_range_m="
                         f"{min_height_range_m:g}; the DEM is too flat there, correction "
                         "not possible")
    h_ref = float(np.median(hv))
    x = (hv - h_ref) / _HEIGHT_SCALE_M
    orders = (1, 2) if order == "auto" else (int(order),)
    max_order = max(orders)
    if band_sigma_px is None:
        target, terms = dv, [x**p for p in range(1, max_order + 1)]
    else:
        heights = _band_heights(h, h_ref, idx, max_order, band_sigma_px)
        keep, target, terms = _band_terms(d, heights, idx, band_sigma_px, min_pixels)
        # Gross outliers (unwrapping errors) would leak into their neighbours' low-pass,
        # and they cluster on high ground: find them with a first robust fit, drop them
        # from the map and filter again.
        _, w, _ = _irls(np.stack([np.ones_like(target), *terms], axis=1), target)
        if not w.all():
            cleaned = d.copy()
            cleaned.ravel()[idx[keep][w == 0]] = np.nan
            keep, target, terms = _band_terms(cleaned, heights, idx, band_sigma_px,
                                              min_pixels)
        dv, hv, x = dv[keep], hv[keep], x[keep]
    n_bic = min(dv.size, int(effective_samples))
    best: tuple[float, int, NDArray[np.float64]] | None = None
    for k in orders:
        design = np.stack([np.ones_like(target), *terms[:k]], axis=1)
        beta, _, sigma = _irls(design, target)
        bic = n_bic * math.log(max(sigma, 1e-12) ** 2) + (k + 1) * math.log(n_bic)
        if best is None or bic < best[0]:
            best = (bic, k, beta)
    assert best is not None
    _, k, beta = best
    height_part = np.stack([x**p for p in range(1, k + 1)], axis=1) @ beta[1:]
    offset = float(beta[0])
    if band_sigma_px is not None:  # the band fit has no offset: fit it on the full map
        offset = float(_irls(np.ones((dv.size, 1)), dv - height_part)[0][0])
    coefficients = tuple(float(beta[p]) / _HEIGHT_SCALE_M**p for p in range(1, k + 1))
    fit_values = offset + height_part
    return ElevationFit(
        order=k, coefficients=coefficients, offset_m=offset, h_ref_m=h_ref,
        n_pixels=int(dv.size),
        rms_before_m=float(np.sqrt(np.mean((dv - np.median(dv)) ** 2))),
        rms_after_m=float(np.sqrt(np.mean((dv - fit_values) ** 2))),
        h_min_m=float(hv.min()), h_max_m=float(hv.max()),
        band_sigma_px=band_sigma_px)


def _band_heights(h: NDArray[np.float64], h_ref: float, idx: NDArray[np.intp],
                  max_order: int, sigma_px: SigmaPx) -> list[NDArray[np.float64]]:
    """High-pass height terms ``((h - h_ref) / 1 km)^p``, p = 1..max_order, at ``idx``.

    Raises:
        InputError: The heights have no power in the band (flat or smooth ground).
    """
    x = np.where(np.isfinite(h), (h - h_ref) / _HEIGHT_SCALE_M, np.nan)
    terms = [high_pass(x**p, sigma_px).ravel()[idx] for p in range(1, max_order + 1)]
    first = terms[0][np.isfinite(terms[0])]
    spread = float(np.std(first)) * _HEIGHT_SCALE_M if first.size >= 4 else 0.0
    if spread < 1.0:
        raise InputError(f"phase-elevation fit: the heights vary by only {spread:.2f} m "
                         f"(standard deviation) below the filter scale ({sigma_px} pixels); "
                         "the DEM is too smooth there for a band-filtered fit, correction "
                         "not possible")
    return terms


def _band_terms(d: NDArray[np.float64], heights: list[NDArray[np.float64]],
                idx: NDArray[np.intp], sigma_px: SigmaPx, min_pixels: int
                ) -> tuple[NDArray[np.bool_], NDArray[np.float64], list[NDArray[np.float64]]]:
    """The high-pass map at ``idx`` beside the height terms of :func:`_band_heights`.

    Returns:
        ``(keep, target, terms)``: which of ``idx`` have finite band values (a pixel deep
        in a hole may not), and the band values there.

    Raises:
        InputError: Fewer than ``min_pixels`` of them keep a band value.
    """
    target = high_pass(d, sigma_px).ravel()[idx]
    keep = np.isfinite(target)
    for t in heights:
        keep &= np.isfinite(t)
    if int(keep.sum()) < min_pixels:
        raise InputError(f"phase-elevation fit: only {int(keep.sum())} usable pixels keep a "
                         f"band-filtered value (too isolated, or outliers), fewer than "
                         f"min_pixels={min_pixels}; correction not possible")
    return keep, target[keep], [t[keep] for t in heights]


def _rereference(out: NDArray[np.float64], reference_mask: ArrayLike | None) -> None:
    if reference_mask is None:
        return
    ref = np.asarray(reference_mask, dtype=bool)
    _same_shape(out.shape, reference_mask=ref)
    vals = out[ref & np.isfinite(out)]
    if vals.size == 0:
        raise InputError("reference_mask holds no finite pixel of the corrected map; "
                         "cannot re-reference it")
    out -= float(np.median(vals))


def remove_elevation_fit(displacement_m: ArrayLike, dem_m: ArrayLike, fit: ElevationFit,
                         reference_mask: ArrayLike | None = None) -> NDArray[np.float32]:
    """Subtract a phase-elevation model from a displacement map.

    Args:
        displacement_m: LOS displacement, metres, ``(ny, nx)``; NaN stays NaN.
        dem_m: Heights, metres, ``(ny, nx)``.
        fit: From :func:`fit_phase_elevation`.
        reference_mask: Optional reference region ``(ny, nx)``; the corrected map is
            shifted so that its median over the finite pixels there is 0.

    Returns:
        Corrected LOS displacement, metres, float32 ``(ny, nx)``.

    Raises:
        InputError: Shapes differ, or the reference region holds no finite pixel.
    """
    d = _as_2d("displacement_m", displacement_m)
    h = _as_2d("dem_m", dem_m)
    _same_shape(d.shape, dem_m=h)
    out = d - fit.model(h).astype(np.float64)
    _rereference(out, reference_mask)
    return out.astype(np.float32)


def correct_with_dem(displacement_m: ArrayLike, dem_m: ArrayLike,
                     excluded: NDArray[np.bool_], peak_rc: tuple[int, int],
                     peak_radius_px: float, flagged: NDArray[np.bool_] | None, *,
                     order: Literal[1, 2, "auto"], band_sigma_px: SigmaPx | None,
                     min_pixels: int, min_height_range_m: float,
                     reference_mask: ArrayLike | Literal["fit"] | None
                     ) -> tuple[NDArray[np.float32], ElevationFit]:
    """The empirical correction of a flagged map, in one call.

    :func:`fit_usable_mask` (valid pixels outside ``excluded``, the peak disc and
    ``flagged``), :func:`fit_phase_elevation` on them, :func:`remove_elevation_fit`
    re-referenced to ``reference_mask`` (``"fit"``: the pixels the fit used; None: not
    re-referenced).

    Returns:
        ``(corrected, fit)``: the corrected map, LOS metres float32, and the fit removed.

    Raises:
        InputError: As the three functions do (the message says why the correction is not
            possible).
    """
    d = _as_2d("displacement_m", displacement_m)
    h = _as_2d("dem_m", dem_m)
    _same_shape(d.shape, dem_m=h)
    usable = fit_usable_mask(np.isfinite(d) & np.isfinite(h), excluded, peak_rc,
                             peak_radius_px, flagged=flagged, min_pixels=min_pixels)
    fit = fit_phase_elevation(d, h, usable, order=order, min_pixels=min_pixels,
                              min_height_range_m=min_height_range_m,
                              band_sigma_px=band_sigma_px)
    reference = usable if isinstance(reference_mask, str) else reference_mask
    return remove_elevation_fit(d, h, fit, reference), fit


def delay_difference_los(delay_first_m: ArrayLike, delay_last_m: ArrayLike,
                         cos_incidence: float | ArrayLike,
                         geometry: DelayGeometry = "zenith") -> NDArray[np.float32]:
    """LOS-displacement equivalent of the change of tropospheric delay between two dates.

    A delay lengthens the range, which reads as motion away from the satellite (negative
    in this project's convention): ``-(last - first) / cos(incidence)`` for zenith delays
    (GACOS ``.ztd``), ``-(last - first)`` for delays already along the slant path.

    Args:
        delay_first_m: Delay at the first date, metres, ``(ny, nx)``.
        delay_last_m: Delay at the last date, metres, ``(ny, nx)``.
        cos_incidence: Cosine of the incidence angle, a number or ``(ny, nx)``; finite
            values must lie in (0, 1] (NaN pixels give NaN). Unused for ``"slant"``.
        geometry: ``"zenith"`` or ``"slant"``.

    Returns:
        LOS displacement of the atmosphere, metres, float32 ``(ny, nx)``, to subtract from
        the displacement map (:func:`remove_delay`).

    Raises:
        InputError: Shapes differ, a cosine outside (0, 1], or an unknown geometry.
    """
    first = _as_2d("delay_first_m", delay_first_m)
    last = _as_2d("delay_last_m", delay_last_m)
    _same_shape(first.shape, delay_last_m=last)
    change = last - first
    if geometry == "slant":
        return (-change).astype(np.float32)
    if geometry != "zenith":
        raise InputError(f"geometry must be 'zenith' or 'slant', got {geometry!r}")
    cos = np.asarray(cos_incidence, dtype=np.float64)
    if cos.ndim != 0:
        _same_shape(first.shape, cos_incidence=cos)
    flat = np.atleast_1d(cos)
    finite = flat[np.isfinite(flat)]
    if cos.ndim == 0 and finite.size == 0:
        raise InputError(f"cos_incidence must be a number in (0, 1], got {cos_incidence!r}")
    if finite.size and not (finite.min() > 0.0 and finite.max() <= 1.0):
        raise InputError(f"cos_incidence must lie in (0, 1], got values in "
                         f"{finite.min():.4g}..{finite.max():.4g}; pass the cosine of the "
                         "incidence angle, not the angle")
    return (-change / cos).astype(np.float32)


def remove_delay(displacement_m: ArrayLike, atmosphere_los_m: ArrayLike,
                 reference_mask: ArrayLike | None = None) -> NDArray[np.float32]:
    """Subtract an atmospheric LOS displacement (e.g. a weather-model estimate).

    Args:
        displacement_m: LOS displacement, metres, ``(ny, nx)``; NaN stays NaN.
        atmosphere_los_m: From :func:`delay_difference_los`, metres, ``(ny, nx)``.
        reference_mask: Optional reference region; as in :func:`remove_elevation_fit`.

    Returns:
        Corrected LOS displacement, metres, float32 ``(ny, nx)``.

    Raises:
        InputError: Shapes differ, or the reference region holds no finite pixel.
    """
    d = _as_2d("displacement_m", displacement_m)
    a = _as_2d("atmosphere_los_m", atmosphere_los_m)
    _same_shape(d.shape, atmosphere_los_m=a)
    out = d - a
    _rereference(out, reference_mask)
    return out.astype(np.float32)
