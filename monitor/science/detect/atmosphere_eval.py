"""Does correcting flagged maps for the troposphere clear false alarms and keep true ones?

Anantrasirichai et al. (2019a, section 5) correct only the interferograms their detector flags, then
score them again: 11 of 12 false positives cleared, all 41 true positives kept. This module measures
the same on synthetic cases over real relief, for the two correction sources of
:mod:`monitor.science.atmocorr`:

* cases: atmosphere only, ``X = S + T``, and deformation, ``X = D + S + T``, on a square
  crop of a packaged SRTM DEM centred on the crop centre (the edifice), with the target disc
  on the summit (the highest pixel). ``S = -(k1 dh + k2 dh^2) / cos(theta)`` with
  ``(k1, k2)`` from :func:`~monitor.science.atmosphere.draw_stratified_coefficients`
  (``strength="strong"``: ``|k1|`` 1-3 cm/km, random sign), ``dh`` the height above the
  lowest pixel; ``T`` exponential-covariance turbulence; ``D`` a Mogi source under the
  summit, rescaled to a log-uniform peak |LOS|.
* flag: the fused probability's maximum within the disc exceeds 0.5.
* corrections of each flagged case: (a) the empirical phase-elevation fit as the watch
  makes it (:mod:`monitor.service.correction`): coefficients from the band below
  ``band_sigma_m``, polynomial ``order``, outside a disc on the summit
  (``fit_exclusion_radii`` target radii), the flagged region (P > 0.5, unless it would
  leave too few pixels) and a disc around the detected peak; (a') for comparison, the
  plain linear fit of LiCSBAS and MintPy outside a disc of ``plain_exclusion_radii``; (b) a
  simulated weather-model (GACOS-like) estimate:
  ``(1 + e) S + E`` with a scale error ``e ~ N(0, scale_error)`` and ``E`` the LOS
  difference of two per-date errors, each a smooth exponential-covariance field
  (``wm_error_sigma_m``, ``wm_error_length_m``). GACOS validations (Yu et al. 2018, J.
  Geophys. Res. 123, 9202-9222) report residual zenith delay errors of a few mm to ~1 cm
  at 10-20 km scales; the defaults sit in that range; (c) the perfect correction
  ``x - S``, the ceiling of any correction: a deformation case flagged only for its
  atmosphere is cleared by it too, so "kept of flagged" cannot reach 100% and "kept of
  detectable" (flagged by the detector without S) is the share of true positives kept.

The scorer is passed in (a callable from a map to a :class:`~monitor.science.detect.fusion.
Detection`), so the module stays free of model loading.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.science.atmocorr import correct_with_dem, remove_delay
from monitor.science.atmosphere import draw_stratified_coefficients, turbulent_delay
from monitor.science.detect.fusion import Detection
from monitor.science.geometry import project_to_los
from monitor.science.grids import grid_xy
from monitor.science.second_look_settings import SecondLookSettings
from monitor.science.sources import mogi

#: The second look's defaults, which the evaluation measures unless told otherwise.
_LOOK = SecondLookSettings()

CaseKind = Literal["atmosphere", "deformation"]
#: Correction methods measured, in report order.
METHODS = ("empirical", "empirical_plain", "weather_model", "perfect")
#: Peak-LOS bin edges (cm) of the deformation breakdown.
PEAK_BINS_CM = (0.0, 2.0, 5.0, 10.0, 20.0, math.inf)


@dataclass(frozen=True)
class AtmosphereEvalConfig:
    """Parameters of the cases and of the corrections (defaults used in docs/detection.md).

    Attributes:
        size: Grid side, pixels.
        pixel_m: Pixel spacing, metres.
        target_radius_m: Radius of the target disc on the summit, metres.
        peak_exclusion_radii: Disc around the detected peak left out of the empirical fit,
            in target radii (the watch's ``[correction] peak_exclusion_radii``).
        fit_exclusion_radii: Disc on the summit left out of the empirical fit, in target
            radii (1 = the target disc itself; the watch's ``[correction]
            fit_exclusion_radii``).
        band_sigma_m: Gaussian sigma of the low-pass removed before the empirical
            coefficients are estimated, metres (0: plain fit); the watch's
            ``[correction] band_sigma_m``.
        order: Polynomial order of the empirical fit (1, 2 or ``"auto"``).
        plain_exclusion_radii: Disc on the summit left out of the plain linear fit, in
            target radii (the deformation of a source a few km deep reaches well beyond a
            3 km disc and leaks into a plain height slope).
        incidence_deg: ``(low, high)`` uniform incidence, degrees.
        heading_deg: Flight heading, degrees.
        turbulent_sigma_m: ``(low, high)`` uniform standard deviation of T, metres.
        turbulent_length_m: ``(low, high)`` uniform e-folding length of T, metres (rounded
            to 500 m).
        peak_los_m: ``(low, high)`` log-uniform peak |LOS| of D, metres.
        depth_m: ``(low, high)`` uniform Mogi depth, metres.
        wm_scale_error: Standard deviation of the weather model's relative error on S.
        wm_error_sigma_m: Standard deviation of each date's weather-model error, metres
            (zenith).
        wm_error_length_m: E-folding length of that error, metres.
        min_pixels: Fewest pixels of the empirical fit.
        min_height_range_m: Smallest height range of the empirical fit, metres.
        threshold: Flag level of P.
        seed: Case ``i`` of kind ``k`` is drawn with ``default_rng([seed, k, i])``.
    """

    size: int = 224
    pixel_m: float = 100.0
    target_radius_m: float = 3000.0
    peak_exclusion_radii: float = _LOOK.peak_exclusion_radii
    fit_exclusion_radii: float = _LOOK.fit_exclusion_radii
    band_sigma_m: float = _LOOK.band_sigma_m
    order: Literal[1, 2, "auto"] = _LOOK.order
    plain_exclusion_radii: float = 2.0
    incidence_deg: tuple[float, float] = (30.0, 45.0)
    heading_deg: float = 190.0
    turbulent_sigma_m: tuple[float, float] = (0.002, 0.005)
    turbulent_length_m: tuple[float, float] = (2000.0, 20000.0)
    peak_los_m: tuple[float, float] = (0.01, 0.3)
    depth_m: tuple[float, float] = (2000.0, 5000.0)
    wm_scale_error: float = 0.15
    wm_error_sigma_m: float = 0.003
    wm_error_length_m: float = 15000.0
    min_pixels: int = _LOOK.min_pixels
    min_height_range_m: float = _LOOK.min_height_range_m
    threshold: float = 0.5
    seed: int = 606

    def __post_init__(self) -> None:
        if self.size < 16 or not (self.pixel_m > 0 and math.isfinite(self.pixel_m)):
            raise InputError(f"atmosphere evaluation: size must be >= 16 and pixel_m > 0, "
                             f"got {self.size}, {self.pixel_m}")
        for name in ("incidence_deg", "turbulent_sigma_m", "turbulent_length_m",
                     "peak_los_m", "depth_m"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
                raise InputError(f"atmosphere evaluation: {name} must be (low, high) with "
                                 f"0 <= low <= high, got {(lo, hi)!r}")
        if self.peak_los_m[0] <= 0 or self.depth_m[0] <= 0 or self.turbulent_length_m[0] <= 0:
            raise InputError("atmosphere evaluation: peak_los_m, depth_m and "
                             "turbulent_length_m must be > 0")
        if not self.incidence_deg[1] < 90:
            raise InputError(f"atmosphere evaluation: incidence_deg must lie below 90, got "
                             f"{self.incidence_deg}")
        if not (self.target_radius_m > 0 and self.plain_exclusion_radii >= 1
                and self.wm_scale_error >= 0 and self.wm_error_sigma_m >= 0
                and self.wm_error_length_m > 0 and 0 < self.threshold < 1):
            raise InputError("atmosphere evaluation: target_radius_m and wm_error_length_m "
                             "must be > 0, plain_exclusion_radii >= 1, the other "
                             "amplitudes >= 0, threshold in (0, 1)")
        _ = self.look  # the fit's settings are validated where they are defined

    @property
    def look(self) -> SecondLookSettings:
        """The fit's settings as the watch's second look takes them."""
        return SecondLookSettings(
            order=self.order, band_sigma_m=self.band_sigma_m,
            fit_exclusion_radii=self.fit_exclusion_radii,
            peak_exclusion_radii=self.peak_exclusion_radii, min_pixels=self.min_pixels,
            min_height_range_m=self.min_height_range_m)

    @property
    def radius_px(self) -> float:
        return self.target_radius_m / self.pixel_m


@dataclass(frozen=True, eq=False)
class AtmosphereCase:
    """One synthetic map and its truth.

    Attributes:
        kind: ``"atmosphere"`` (S + T) or ``"deformation"`` (D + S + T).
        index: Index within its kind.
        dem_name: Name of the DEM under S.
        incidence_deg: Incidence, degrees.
        k1_m_per_m: Stratified coefficient (zenith), m/m.
        k2_m_per_m2: Quadratic coefficient (zenith), m/m^2.
        turbulent_sigma_m: Standard deviation of T, metres.
        turbulent_length_m: E-folding length of T, metres.
        peak_los_m: Peak |D|, metres (0 for atmosphere only).
        depth_m: Mogi depth, metres (0 for atmosphere only).
        x: The map, LOS metres, float32 ``(size, size)``.
        weather_model_los: The simulated weather-model estimate of the atmosphere, LOS
            metres ``(size, size)``.
        stratified_los: The true S, LOS metres ``(size, size)`` (``x - S`` is the map a
            perfect correction would give).
    """

    kind: CaseKind
    index: int
    dem_name: str
    incidence_deg: float
    k1_m_per_m: float
    k2_m_per_m2: float
    turbulent_sigma_m: float
    turbulent_length_m: float
    peak_los_m: float
    depth_m: float
    x: NDArray[np.float32]
    weather_model_los: NDArray[np.float32]
    stratified_los: NDArray[np.float32]


def summit_rc(dem_m: NDArray[np.floating]) -> tuple[int, int]:
    """Row and column of the highest pixel."""
    r, c = np.unravel_index(int(np.argmax(dem_m)), dem_m.shape)
    return int(r), int(c)


def target_disc(shape: tuple[int, int], centre_rc: tuple[int, int],
                radius_px: float) -> NDArray[np.bool_]:
    """Boolean disc of ``radius_px`` around ``centre_rc``."""
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return np.asarray((yy - centre_rc[0]) ** 2 + (xx - centre_rc[1]) ** 2 <= radius_px**2)


def draw_case(cfg: AtmosphereEvalConfig, kind: CaseKind, index: int, dem_name: str,
              dem_m: NDArray[np.floating]) -> AtmosphereCase:
    """Draw case ``index`` of ``kind`` over ``dem_m`` (``(size, size)`` heights, metres)."""
    dem = np.asarray(dem_m, dtype=np.float64)
    n = cfg.size
    if dem.shape != (n, n) or not np.isfinite(dem).all():
        raise InputError(f"atmosphere evaluation: DEM {dem_name!r} must be finite heights of "
                         f"shape ({n}, {n}), got {dem.shape}")
    rng = np.random.default_rng([cfg.seed, 0 if kind == "atmosphere" else 1, index])
    inc = float(rng.uniform(*cfg.incidence_deg))
    cos_inc = math.cos(math.radians(inc))
    coeffs = draw_stratified_coefficients(rng, "strong")
    dh = dem - dem.min()
    strat_zenith = coeffs.k1_m_per_m * dh + coeffs.k2_m_per_m2 * dh**2
    strat = -strat_zenith / cos_inc
    sigma = float(rng.uniform(*cfg.turbulent_sigma_m))
    length = float(np.clip(round(rng.uniform(*cfg.turbulent_length_m) / 500.0) * 500.0,
                           *cfg.turbulent_length_m))
    turb = turbulent_delay((n, n), cfg.pixel_m, sigma, length, rng)
    x = strat + turb
    peak = depth = 0.0
    if kind == "deformation":
        lo, hi = cfg.peak_los_m
        peak = float(10.0 ** rng.uniform(math.log10(lo), math.log10(hi)))
        depth = float(rng.uniform(*cfg.depth_m))
        r, c = summit_rc(dem)
        gx, gy = grid_xy((n, n), cfg.pixel_m)
        enu = mogi(gx - (c - (n - 1) / 2) * cfg.pixel_m, gy + (r - (n - 1) / 2) * cfg.pixel_m,
                   depth_m=depth, dvolume_m3=1e6, nu=0.25)
        d = np.asarray(project_to_los(enu.east, enu.north, enu.up, inc, cfg.heading_deg),
                       dtype=np.float64)
        x = x + d * (peak / float(np.abs(d).max()))
    errors = [turbulent_delay((n, n), cfg.pixel_m, cfg.wm_error_sigma_m, cfg.wm_error_length_m,
                              rng) for _ in range(2)]
    scale = 1.0 + float(rng.normal(0.0, cfg.wm_scale_error))
    wm = scale * strat - (errors[1] - errors[0]) / cos_inc
    return AtmosphereCase(kind, index, dem_name, inc, coeffs.k1_m_per_m, coeffs.k2_m_per_m2,
                          sigma, length, peak, depth, x.astype(np.float32),
                          wm.astype(np.float32), strat.astype(np.float32))


@dataclass(frozen=True)
class CaseResult:
    """Scores of one case before and after each correction.

    Attributes:
        p_raw: Fused P maximum within the disc before correction.
        p_without_stratification: For flagged cases, P of ``x - S`` (the ``perfect``
            method): a deformation the detector does not see there was flagged for its
            atmosphere, and no correction can keep it (NaN when not flagged).
        p_after: Per method, P after correction (absent when the case was not flagged;
            equal to ``p_raw`` when the correction was not possible).
        failures: Per method, the reason a correction was not possible.
        fit_orders: Per empirical method, the order the fit kept.
    """

    kind: CaseKind
    index: int
    dem_name: str
    incidence_deg: float
    k1_m_per_m: float
    peak_los_m: float
    depth_m: float
    p_raw: float
    p_without_stratification: float
    p_after: dict[str, float]
    failures: dict[str, str]
    fit_orders: dict[str, int]

    def flagged(self, threshold: float, method: str | None = None) -> bool:
        p = self.p_raw if method is None else self.p_after.get(method, self.p_raw)
        return p > threshold


Scorer = Callable[[NDArray[np.float32]], Detection]


def _disc_peak(det: Detection, disc: NDArray[np.bool_]) -> tuple[float, tuple[int, int]]:
    inside = np.where(disc, det.prob_map, -np.inf)
    r, c = np.unravel_index(int(np.argmax(inside)), inside.shape)
    return float(det.prob_map[r, c]), (int(r), int(c))


def evaluate_case(case: AtmosphereCase, dem_m: NDArray[np.floating], score: Scorer,
                  cfg: AtmosphereEvalConfig) -> CaseResult:
    """Score a case; when flagged, correct it with every method and score it again."""
    dem = np.asarray(dem_m, dtype=np.float64)
    disc = target_disc(dem.shape, summit_rc(dem), cfg.radius_px)
    reference = ~target_disc(dem.shape, summit_rc(dem), 2.0 * cfg.radius_px)
    det = score(case.x)
    p_raw, peak = _disc_peak(det, disc)
    p_after: dict[str, float] = {}
    failures: dict[str, str] = {}
    orders: dict[str, int] = {}
    if p_raw > cfg.threshold:
        look = cfg.look
        band = look.band_sigma_px((cfg.pixel_m, cfg.pixel_m))
        for method in METHODS:
            try:
                if method == "weather_model":
                    corrected = remove_delay(case.x, case.weather_model_los, reference)
                elif method == "perfect":
                    corrected = remove_delay(case.x, case.stratified_los, reference)
                else:
                    plain = method == "empirical_plain"
                    radii = cfg.plain_exclusion_radii if plain else look.fit_exclusion_radii
                    corrected, fit = correct_with_dem(
                        case.x, dem, target_disc(dem.shape, summit_rc(dem),
                                                 radii * cfg.radius_px),
                        peak, look.peak_exclusion_radii * cfg.radius_px,
                        det.prob_map > cfg.threshold, order=1 if plain else look.order,
                        band_sigma_px=None if plain else band, min_pixels=look.min_pixels,
                        min_height_range_m=look.min_height_range_m, reference_mask=reference)
                    orders[method] = fit.order
            except InputError as exc:
                failures[method] = str(exc)
                p_after[method] = p_raw
                continue
            p_after[method] = _disc_peak(score(corrected), disc)[0]
    p_clean = p_after.get("perfect", math.nan)
    return CaseResult(case.kind, case.index, case.dem_name, case.incidence_deg,
                      case.k1_m_per_m, case.peak_los_m, case.depth_m, p_raw, p_clean,
                      p_after, failures, orders)


def _rate(num: int, den: int) -> float:
    return num / den if den else math.nan


def summarise(results: Sequence[CaseResult], threshold: float = 0.5) -> dict[str, Any]:
    """Flag rates before and after each method, shares cleared and kept, breakdowns.

    Returns:
        ``{"overall": {...}, "by_dem": {name: {...}}, "by_peak_los_cm": [{...}]}``. Each
        block holds, per kind, ``n``, ``flagged`` and ``flag_rate`` before; per method
        ``flagged_after``, ``flag_rate_after``, ``not_possible`` and, for atmosphere only,
        ``cleared_share`` (of the flagged, the fraction no longer flagged) or, for
        deformation, ``kept_share`` (of the flagged, the fraction still flagged) and
        ``kept_share_detectable`` (the same among the flagged whose map without S is
        flagged too: deformation the detector sees without the atmosphere), with
        ``detectable`` their count.
    """

    def block(rs: Sequence[CaseResult]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in ("atmosphere", "deformation"):
            sel = [r for r in rs if r.kind == kind]
            flagged = [r for r in sel if r.flagged(threshold)]
            entry: dict[str, Any] = {"n": len(sel), "flagged": len(flagged),
                                     "flag_rate": _rate(len(flagged), len(sel))}
            seen = [r for r in flagged if r.p_without_stratification > threshold]
            if kind == "deformation":
                entry["detectable"] = len(seen)
            for m in METHODS:
                still = sum(r.flagged(threshold, m) for r in flagged)
                entry[m] = {
                    "flagged_after": still, "flag_rate_after": _rate(still, len(sel)),
                    "not_possible": sum(m in r.failures for r in flagged),
                    ("cleared_share" if kind == "atmosphere" else "kept_share"):
                        _rate(len(flagged) - still if kind == "atmosphere" else still,
                              len(flagged)),
                }
                if kind == "deformation":
                    entry[m]["kept_share_detectable"] = _rate(
                        sum(r.flagged(threshold, m) for r in seen), len(seen))
            out[kind] = entry
        return out

    by_peak = []
    for lo, hi in zip(PEAK_BINS_CM[:-1], PEAK_BINS_CM[1:], strict=True):
        sel = [r for r in results if r.kind == "deformation" and lo <= 100 * r.peak_los_m < hi]
        by_peak.append({"low_cm": lo, "high_cm": hi, **block(sel)["deformation"]})
    return {"overall": block(results),
            "by_dem": {name: block([r for r in results if r.dem_name == name])
                       for name in sorted({r.dem_name for r in results})},
            "by_peak_los_cm": by_peak}
