"""Tropospheric delays for synthetic interferograms: turbulent and stratified components.

Everything here is a *zenith* delay in metres (extra one-way path length; positive means
the signal is delayed, i.e. an apparent range increase). :func:`zenith_to_los` scales it to
the line of sight; in the project's LOS-displacement convention (positive towards the
satellite) a delay appears with the opposite sign, which the caller applies if it matters
(the random draws here are symmetric in sign).

Turbulent component (Anantrasirichai et al. 2019a, section 3.3; 2019b, section 2): a
stationary, isotropic Gaussian random field with exponential covariance
``c(d) = sigma^2 exp(-d / L)``. Anantrasirichai et al. (2019a) draw ``sigma^2`` in 5-9 mm^2
and the e-folding length ``L`` in 4-18 km from 30,249 Sentinel-1 interferograms; 2019b uses
``sigma^2 = 7.5 mm^2`` and ``L = 8 km``. Where the papers build a full covariance matrix
and take its Cholesky factor (O(n^3) for n pixels), this module samples the same
distribution by circulant embedding (Dietrich & Newsam 1997, SIAM J. Sci. Comput. 18(4);
Wood & Chan 1994, J. Comput. Graph. Stat. 3(4)) in O(M log M) for an embedding of M cells.

Stratified component: a delay that follows topography,
``S = k1 (h - h_ref) + k2 (h - h_ref)^2``. Anantrasirichai et al. (2019a, 2019b) take it
from GACOS weather-model maps; here it is drawn from ranges set by published
phase-elevation statistics (see :func:`draw_stratified_coefficients`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import scipy.fft as sfft
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import curve_fit

from monitor.errors import InputError

#: Largest covariance error accepted from clipping negative embedding eigenvalues, as a
#: fraction of sigma^2, at any lag inside the grid (see :func:`turbulent_delay`).
DEFAULT_EMBEDDING_RTOL = 2e-3
#: The embedding grid is enlarged (per axis, relative to the field) through these factors
#: until its covariance error is within tolerance. Grids much smaller than ``L`` need a
#: period of about 5-6 ``L`` (a 64 x 64 grid of 100 m pixels with L = 18 km takes 16x).
_PAD_FACTORS = (2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0)
#: Largest embedding grid tried beyond the 2x one (cells); past it the request is refused.
_MAX_EMBEDDING_CELLS = 2048 * 2048

StratificationStrength = Literal["weak", "strong"]

#: |k1| ranges for the two strengths, metres of zenith delay per metre of height.
#: Parker et al. (2015, Remote Sens. Environ. 170, 102-114) find that the RMS atmospheric
#: range change in Cascades interferograms grows by about 0.7 cm per km of relief; Doin et
#: al. (2009, J. Appl. Geophys. 69, 35-50) show the phase-elevation ratio of an
#: interferogram changes sign and size from one date pair to the next and is not always
#: linear; Bekaert et al. (2015, Remote Sens. Environ. 170, 40-47) fit it with a power law.
#: "weak" is up to about that RMS value, "strong" is the 1-3 cm/km tail met over tall
#: edifices in humid climates (Anantrasirichai et al. 2019a, figure 1, show both).
STRATIFIED_K1_RANGES_M_PER_M: dict[str, tuple[float, float]] = {
    "weak": (0.0, 0.6e-5),
    "strong": (1.0e-5, 3.0e-5),
}
#: Water-vapour scale height range (metres) behind the quadratic term (Hanssen 2001,
#: Radar Interferometry, section 4.6: wet refractivity decays with a scale height of
#: about 1.5-3 km).
WET_SCALE_HEIGHT_RANGE_M = (1500.0, 3000.0)


# --------------------------------------------------------------------------- turbulent


@lru_cache(maxsize=32)
def _embedding_sqrt_eigenvalues(
    shape: tuple[int, int], pixel_m: float, length_m: float, rtol: float
) -> NDArray[np.float32]:
    """``sqrt(lambda / M)`` of the circulant embedding of ``exp(-d / L)``, shape ``(M0, M1)``.

    ``lambda`` are the eigenvalues (the 2-D DFT) of the embedded covariance, real and even in
    each axis because the covariance on the periodic grid, ``exp(-hypot(dy, dx) / L)`` with
    ``dy = min(iy, M0 - iy) * pixel``, is even in each axis. Negative eigenvalues (which the
    isotropic exponential can produce when ``L`` is large compared with the grid) are
    clipped to zero; the covariance this implies is compared with the target at every lag
    inside the ``shape`` grid, and the grid is enlarged until the largest error is at most
    ``rtol`` (a fraction of sigma^2).
    """
    ny, nx = shape
    best = math.inf
    for pad in _PAD_FACTORS:
        m0 = sfft.next_fast_len(max(2, math.ceil(pad * ny)), real=True)
        m1 = sfft.next_fast_len(max(2, math.ceil(pad * nx)), real=True)
        if pad > _PAD_FACTORS[0] and m0 * m1 > _MAX_EMBEDDING_CELLS:
            break
        iy = np.arange(m0, dtype=np.float64)
        iy = np.minimum(iy, m0 - iy) * pixel_m
        ix = np.arange(m1, dtype=np.float64)
        ix = np.minimum(ix, m1 - ix) * pixel_m
        cov = np.exp(-np.hypot(iy[:, None], ix[None, :]) / length_m)
        lam_half = sfft.rfft2(cov).real
        if lam_half.min() < 0.0:
            lam_half = np.clip(lam_half, 0.0, None)
            implied = sfft.irfft2(lam_half, s=(m0, m1))
            error = float(np.abs(implied[:ny, :nx] - cov[:ny, :nx]).max())
            best = min(best, error)
            if error > rtol:
                continue
        # Rebuild the full spectrum from the half one: lambda is even in axis 1.
        n_mirror = m1 - lam_half.shape[1]
        mirror = lam_half[:, n_mirror:0:-1]
        mirror = np.concatenate([mirror[:1], mirror[:0:-1]], axis=0)
        lam = np.concatenate([lam_half, mirror], axis=1)
        root = np.sqrt(lam / (m0 * m1)).astype(np.float32)
        root.setflags(write=False)
        return root
    raise InputError(
        f"turbulent_delay: length_m={length_m!r} is too long for a {ny} x {nx} grid of "
        f"{pixel_m!r} m pixels: no circulant embedding up to {_MAX_EMBEDDING_CELLS:,} cells "
        f"reproduces the covariance within embedding_rtol={rtol!r} of sigma^2 (best error "
        f"{best:.2g}); use a shorter length_m, a larger grid, or a looser embedding_rtol"
    )


def _check_shape(shape: tuple[int, int], name: str = "shape") -> tuple[int, int]:
    try:
        ny, nx = (int(v) for v in shape)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be two positive integers (ny, nx), got {shape!r}") from exc
    if ny < 1 or nx < 1 or (ny, nx) != tuple(shape):
        raise InputError(f"{name} must be two positive integers (ny, nx), got {shape!r}")
    return ny, nx


def _check_positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float | np.floating | np.integer) and value > 0):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    if not math.isfinite(float(value)):
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def turbulent_delay(
    shape: tuple[int, int],
    pixel_m: float,
    sigma_m: float,
    length_m: float,
    rng: np.random.Generator,
    *,
    embedding_rtol: float = DEFAULT_EMBEDDING_RTOL,
) -> NDArray[np.float32]:
    """Draw a turbulent tropospheric delay with exponential covariance.

    A zero-mean stationary isotropic Gaussian random field with covariance
    ``c(d) = sigma_m^2 exp(-d / length_m)`` between pixels ``d`` metres apart
    (Anantrasirichai et al. 2019a, section 3.3; 2019b uses ``sigma^2 = 7.5 mm^2``,
    ``L = 8 km``).

    Sampled by circulant embedding (Dietrich & Newsam 1997): the covariance is laid on a
    periodic grid at least twice the field in each axis, whose eigenvalues ``lambda`` are
    its 2-D DFT. With real white noise ``e`` and the Hartley kernel
    ``cas(t) = cos(t) + sin(t)``, ``X = H (sqrt(lambda / M) e)`` has covariance exactly
    ``c`` (``H`` is computed as ``Re - Im`` of one real-input FFT), so one field costs one
    real FFT of the embedding and M normal deviates. Negative eigenvalues are clipped; the
    grid is enlarged until the covariance this implies differs from ``c`` by at most
    ``embedding_rtol * sigma_m^2`` at every lag inside the field (for a 500 x 500 grid of
    90-100 m pixels every ``L`` up to 18 km needs only the 2x grid). The eigenvalues are
    cached per ``(shape, pixel_m, length_m, embedding_rtol)``, so draw ``L`` from a small
    set of values (see :func:`draw_turbulence_parameters`) to keep repeated draws fast.

    Args:
        shape: ``(ny, nx)`` of the output grid.
        pixel_m: Pixel spacing, metres (square pixels).
        sigma_m: Standard deviation of the delay, metres (``sqrt(sigma^2)``; 7.5 mm^2 is
            2.74 mm). Zero gives an all-zero field.
        length_m: E-folding length ``L`` of the covariance, metres.
        rng: Random generator; the only source of randomness.
        embedding_rtol: Largest accepted covariance error from clipping, as a fraction of
            ``sigma_m^2``.

    Returns:
        Zenith delay, metres, float32, shape ``(ny, nx)``, row 0 at the north edge.

    Raises:
        InputError: On a non-positive shape, ``pixel_m`` or ``length_m``, a negative
            ``sigma_m``, or an ``L`` too long to embed within tolerance.
    """
    ny, nx = _check_shape(shape)
    pixel_m = _check_positive("pixel_m", pixel_m)
    length_m = _check_positive("length_m", length_m)
    embedding_rtol = _check_positive("embedding_rtol", embedding_rtol)
    if not (isinstance(sigma_m, int | float | np.floating | np.integer) and sigma_m >= 0):
        raise InputError(f"sigma_m must be a finite number >= 0 metres, got {sigma_m!r}")
    if not math.isfinite(float(sigma_m)):
        raise InputError(f"sigma_m must be a finite number >= 0 metres, got {sigma_m!r}")
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if sigma_m == 0:
        return np.zeros((ny, nx), dtype=np.float32)
    root = _embedding_sqrt_eigenvalues((ny, nx), pixel_m, length_m, embedding_rtol)
    noise = rng.standard_normal(root.shape, dtype=np.float32)
    noise *= root
    spec = sfft.rfft(noise, axis=1)[:, :nx]
    spec = sfft.fft(spec, axis=0, overwrite_x=True)[:ny]
    field = spec.real - spec.imag
    field *= np.float32(sigma_m)
    return field.astype(np.float32, copy=False)


@dataclass(frozen=True)
class TurbulenceParameters:
    """Parameters of one turbulent delay draw.

    Attributes:
        sigma_m: Standard deviation, metres.
        length_m: E-folding length of the exponential covariance, metres.
    """

    sigma_m: float
    length_m: float


def draw_turbulence_parameters(
    rng: np.random.Generator,
    *,
    sigma2_mm2: tuple[float, float] = (5.0, 9.0),
    length_km: tuple[float, float] = (4.0, 18.0),
    length_step_km: float = 0.5,
) -> TurbulenceParameters:
    """Draw ``sigma`` and ``L`` uniformly from the ranges of Anantrasirichai et al. (2019a).

    Anantrasirichai et al. (2019a, section 3.3): ``sigma_max^2`` in 5-9 mm^2 and e-folding
    length 4-18 km, from 30,249 Sentinel-1 interferograms. Taken literally that is a
    standard deviation of only 2.2-3.0 mm, small beside the ~1 cm turbulent delays usual in
    C-band interferograms; the authors may have meant cm^2. The default follows the text;
    pass ``sigma2_mm2`` (e.g. ``(500, 900)`` for the cm^2 reading) to choose otherwise.
    ``L`` is rounded to a multiple of ``length_step_km`` so that :func:`turbulent_delay`
    reuses its cached embedding (29 values by default); pass ``length_step_km=0`` for a
    continuous draw.

    Args:
        rng: Random generator.
        sigma2_mm2: ``(low, high)`` variance range, mm^2.
        length_km: ``(low, high)`` e-folding length range, km.
        length_step_km: Rounding step for ``L``, km (0 = no rounding).

    Returns:
        The drawn :class:`TurbulenceParameters` (metres).
    """
    lo_s, hi_s = sigma2_mm2
    lo_l, hi_l = length_km
    if not (0 <= lo_s <= hi_s and math.isfinite(hi_s)):
        raise InputError(
            f"sigma2_mm2 must be (low, high) with 0 <= low <= high, got {sigma2_mm2!r}"
        )
    if not (0 < lo_l <= hi_l and math.isfinite(hi_l)):
        raise InputError(f"length_km must be (low, high) with 0 < low <= high, got {length_km!r}")
    if not (length_step_km >= 0 and math.isfinite(length_step_km)):
        raise InputError(f"length_step_km must be >= 0, got {length_step_km!r}")
    sigma2 = float(rng.uniform(lo_s, hi_s))
    length = float(rng.uniform(lo_l, hi_l))
    if length_step_km > 0:
        length = min(max(round(length / length_step_km) * length_step_km, lo_l), hi_l)
    return TurbulenceParameters(sigma_m=math.sqrt(sigma2) * 1e-3, length_m=length * 1e3)


_DIRECTIONS: dict[str, tuple[int, int]] = {
    "x": (0, 1),
    "y": (1, 0),
    "diag": (1, 1),
    "antidiag": (1, -1),
}


def empirical_variogram(
    field: ArrayLike,
    pixel_m: float,
    max_lag_px: int,
    *,
    direction: Literal["x", "y", "diag", "antidiag"] = "x",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Empirical semivariogram of a gridded field along one grid direction.

    ``gamma(h) = 0.5 * mean((f(p + h) - f(p))^2)`` over all pixel pairs separated by the
    lag vector ``h = k * step`` for ``k = 1..max_lag_px``; NaN pixels are left out. For a
    stationary field with covariance ``c``, ``E[gamma(h)] = c(0) - c(h)`` whatever its mean,
    so for the exponential model ``gamma(d) = sigma^2 (1 - exp(-d / L))``.

    Args:
        field: Shape ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        max_lag_px: Largest lag, in steps of the direction.
        direction: ``"x"`` (east, along rows), ``"y"`` (along columns), ``"diag"``
            (row + 1, column + 1) or ``"antidiag"`` (row + 1, column - 1); diagonal lags are
            ``sqrt(2)`` pixels long.

    Returns:
        ``(lags_m, semivariance)``, each shape ``(max_lag_px,)``, float64; semivariance in
        the field's units squared (NaN where a lag has no valid pair).
    """
    arr = np.asarray(field, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"field must be 2-D (ny, nx), got shape {arr.shape}")
    pixel_m = _check_positive("pixel_m", pixel_m)
    if direction not in _DIRECTIONS:
        raise InputError(f"direction must be one of {sorted(_DIRECTIONS)}, got {direction!r}")
    dy, dx = _DIRECTIONS[direction]
    limit = max(arr.shape[0] - 1 if dy else arr.shape[1] - 1, 0)
    if dx:
        limit = min(limit, arr.shape[1] - 1)
    if not (isinstance(max_lag_px, int | np.integer) and 1 <= max_lag_px <= limit):
        raise InputError(
            f"max_lag_px must be an integer in 1..{limit} for a {arr.shape} field along "
            f"{direction!r}, got {max_lag_px!r}"
        )
    ny, nx = arr.shape
    has_nan = not bool(np.isfinite(arr).all())
    gamma = np.empty(max_lag_px, dtype=np.float64)
    for k in range(1, max_lag_px + 1):
        oy, ox = k * dy, k * dx
        a = arr[oy:, max(ox, 0) : nx + min(ox, 0)]
        b = arr[: ny - oy, max(-ox, 0) : nx - max(ox, 0)]
        sq = np.square(a - b)
        if has_nan:
            ok = np.isfinite(sq)
            gamma[k - 1] = 0.5 * float(sq[ok].mean()) if ok.any() else np.nan
        else:
            gamma[k - 1] = 0.5 * float(sq.mean())
    step = math.hypot(dy, dx) * pixel_m
    lags = step * np.arange(1, max_lag_px + 1, dtype=np.float64)
    return lags, gamma


def fit_exponential_variogram(lags_m: ArrayLike, semivariance: ArrayLike) -> tuple[float, float]:
    """Least-squares fit of ``gamma(d) = sigma^2 (1 - exp(-d / L))`` to a semivariogram.

    Anantrasirichai et al. (2019a, section 3.3) estimate the turbulent ``sigma`` and ``L``
    from real interferograms this way.

    Args:
        lags_m: Lags, metres, shape ``(n,)``.
        semivariance: Semivariance at those lags, units^2, shape ``(n,)``; NaN ignored.

    Returns:
        ``(sigma, length_m)``: standard deviation (field units) and e-folding length (m).
    """
    d = np.asarray(lags_m, dtype=np.float64).ravel()
    g = np.asarray(semivariance, dtype=np.float64).ravel()
    if d.shape != g.shape:
        raise InputError(f"lags_m and semivariance must match, got {d.shape} and {g.shape}")
    ok = np.isfinite(d) & np.isfinite(g)
    if ok.sum() < 3:
        raise InputError("fit_exponential_variogram needs at least 3 finite (lag, gamma) pairs")
    d, g = d[ok], g[ok]

    # Fit in scaled units (gamma / max gamma, d / max d) so the problem is well conditioned.
    g_scale = float(np.abs(g).max()) or 1.0
    d_scale = float(np.abs(d).max()) or 1.0

    def model(x: NDArray[np.float64], s2: float, length: float) -> NDArray[np.float64]:
        return s2 * (1.0 - np.exp(-x / length))

    popt, _ = curve_fit(
        model,
        d / d_scale,
        g / g_scale,
        p0=(1.0, 0.3),
        bounds=([0.0, 1e-9], [np.inf, np.inf]),
        xtol=1e-12,
        ftol=1e-12,
        gtol=1e-12,
    )
    return math.sqrt(float(popt[0]) * g_scale), float(popt[1]) * d_scale


# --------------------------------------------------------------------------- stratified


@dataclass(frozen=True)
class StratifiedCoefficients:
    """Height coefficients of a stratified delay ``k1 (h - h_ref) + k2 (h - h_ref)^2``.

    Attributes:
        k1_m_per_m: Linear coefficient, metres of zenith delay per metre of height.
        k2_m_per_m2: Quadratic coefficient, metres per metre^2.
        strength: ``"weak"`` or ``"strong"``: the range ``k1`` was drawn from.
    """

    k1_m_per_m: float
    k2_m_per_m2: float
    strength: StratificationStrength

    def delay(self, dem_m: ArrayLike, ref_height_m: float | None = None) -> NDArray[np.float32]:
        """:func:`stratified_delay` with these coefficients."""
        return stratified_delay(dem_m, self.k1_m_per_m, self.k2_m_per_m2, ref_height_m)


def stratified_delay(
    dem_m: ArrayLike,
    k1_m_per_m: float,
    k2_m_per_m2: float = 0.0,
    ref_height_m: float | None = None,
) -> NDArray[np.float32]:
    """Topography-correlated (stratified) zenith delay ``k1 dh + k2 dh^2``, ``dh = h - h_ref``.

    The linear phase-elevation model (e.g. Doin et al. 2009) with a quadratic term for the
    curvature that an exponential decay of water vapour with height produces.

    Args:
        dem_m: Heights, metres, shape ``(ny, nx)``; NaN stays NaN.
        k1_m_per_m: Linear coefficient, metres of delay per metre of height.
        k2_m_per_m2: Quadratic coefficient, metres per metre^2.
        ref_height_m: Height of zero delay, metres; None uses the lowest finite height of
            the DEM (so the delay is zero at the coast or the valley floor).

    Returns:
        Zenith delay, metres, float32, shape ``(ny, nx)``.
    """
    h = np.asarray(dem_m, dtype=np.float64)
    if h.ndim != 2:
        raise InputError(f"dem_m must be 2-D (ny, nx), got shape {h.shape}")
    for name, value in (("k1_m_per_m", k1_m_per_m), ("k2_m_per_m2", k2_m_per_m2)):
        if not math.isfinite(float(value)):
            raise InputError(f"{name} must be a finite number, got {value!r}")
    finite = np.isfinite(h)
    if ref_height_m is None:
        if not finite.any():
            raise InputError("dem_m holds no finite height; cannot pick a reference height")
        ref = float(h[finite].min())
    else:
        ref = float(ref_height_m)
        if not math.isfinite(ref):
            raise InputError(f"ref_height_m must be finite or None, got {ref_height_m!r}")
    dh = h - ref
    out = dh * (float(k1_m_per_m) + float(k2_m_per_m2) * dh)
    return out.astype(np.float32)


def draw_stratified_coefficients(
    rng: np.random.Generator,
    strength: StratificationStrength | Literal["any"] = "any",
    *,
    strong_fraction: float = 0.5,
    curvature_fraction: tuple[float, float] = (0.0, 0.5),
) -> StratifiedCoefficients:
    """Draw stratified-delay coefficients for one date pair.

    ``|k1|`` is uniform in :data:`STRATIFIED_K1_RANGES_M_PER_M` for the strength (weak:
    0-0.6 cm/km, about the 0.7 cm/km RMS of Parker et al. 2015; strong: 1-3 cm/km), its
    sign random (the difference of two dates' delays has either sign, Doin et al. 2009).
    The quadratic term follows a second-order expansion of a delay difference decaying as
    ``exp(-h / H)`` with a wet scale height ``H`` uniform in 1.5-3 km:
    ``k2 = -f * k1 / (2 H)``, with ``f`` uniform in ``curvature_fraction`` so that the
    curvature ranges from none to that of the exponential.

    Args:
        rng: Random generator.
        strength: ``"weak"``, ``"strong"``, or ``"any"`` to pick strong with probability
            ``strong_fraction``.
        strong_fraction: Probability of ``"strong"`` when ``strength="any"``.
        curvature_fraction: ``(low, high)`` range of ``f`` within [0, 1].

    Returns:
        The drawn :class:`StratifiedCoefficients` (zenith; scale with :func:`zenith_to_los`).
    """
    if strength == "any":
        if not 0.0 <= strong_fraction <= 1.0:
            raise InputError(f"strong_fraction must be in [0, 1], got {strong_fraction!r}")
        strength = "strong" if rng.random() < strong_fraction else "weak"
    if strength not in STRATIFIED_K1_RANGES_M_PER_M:
        raise InputError(f"strength must be 'weak', 'strong' or 'any', got {strength!r}")
    lo_f, hi_f = curvature_fraction
    if not 0.0 <= lo_f <= hi_f <= 1.0:
        raise InputError(
            f"curvature_fraction must be (low, high) with 0 <= low <= high <= 1, "
            f"got {curvature_fraction!r}"
        )
    lo, hi = STRATIFIED_K1_RANGES_M_PER_M[strength]
    k1 = float(rng.uniform(lo, hi)) * (1.0 if rng.random() < 0.5 else -1.0)
    scale_height = float(rng.uniform(*WET_SCALE_HEIGHT_RANGE_M))
    k2 = -float(rng.uniform(lo_f, hi_f)) * k1 / (2.0 * scale_height)
    return StratifiedCoefficients(k1_m_per_m=k1, k2_m_per_m2=k2, strength=strength)


def zenith_to_los(delay: ArrayLike, incidence_rad: ArrayLike) -> NDArray[np.float32]:
    """Map a zenith delay to the radar line of sight: ``delay / cos(incidence)``.

    Anantrasirichai et al. (2019a, section 3.2) apply such a factor for Sentinel-1
    incidence angles.

    Args:
        delay: Zenith delay, metres, any shape.
        incidence_rad: Incidence angle(s), radians, in [0, pi/2); scalar or broadcastable
            to ``delay``.

    Returns:
        Slant delay, metres, float32, broadcast shape.
    """
    inc = np.asarray(incidence_rad, dtype=np.float64)
    if not np.all(np.isfinite(inc)) or np.any(inc < 0) or np.any(inc >= math.pi / 2):
        raise InputError(
            f"incidence_rad must be finite angles in [0, pi/2) radians, got {incidence_rad!r}"
        )
    return (np.asarray(delay, dtype=np.float64) / np.cos(inc)).astype(np.float32)
