"""Interferometric coherence and decorrelation for synthetic interferograms.

Anantrasirichai et al. (2019a, section 6) name low and patchy coherence as a main cause of
missed and false detections, and the Taal application of Sugiyama et al. (2011) masks
pixels of coherence <= 0.1. This module draws plausible coherence maps, blobby incoherent
regions, and applies both the mask (incoherent pixels become NaN, never zero:
docs/architecture.md, Conventions) and the phase noise that partial coherence leaves.

Phase noise follows the Cramer-Rao bound for the interferometric phase of ``N``
independent looks (Rodriguez & Martin 1992, IEE Proc. F 139(2); Hanssen 2001, Radar
Interferometry, eq. 4.2.21): ``sigma_phi = sqrt(1 - g^2) / (g sqrt(2 N))`` radians. The
bound is reached for many looks (N >~ 4) and coherence well above zero; the noise drawn
here is Gaussian with that standard deviation.

Arrays are ``(ny, nx)``, row 0 at the north edge; coherence is float32 in [0, 1].
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import expit

from monitor.errors import InputError
from monitor.science.grids import check_grid, unit_variance_rfft_filter

#: Coherence at or below which a pixel is incoherent (as in the Taal application of
#: Sugiyama et al. 2011).
DEFAULT_COHERENCE_THRESHOLD = 0.1
#: Default number of independent looks behind one pixel. LiCSAR multilooks Sentinel-1 by
#: 20 (range) x 4 (azimuth) to ~100 m pixels, but neighbouring SLC samples are correlated
#: and products are filtered, so the independent looks are fewer; 20 is a middle value.
DEFAULT_N_LOOKS = 20


@lru_cache(maxsize=16)
def _gaussian_filter(shape: tuple[int, int], sigma_px: float) -> NDArray[np.float32]:
    """Spectral Gaussian filter on the ``rfft2`` grid, normalised for unit output variance."""
    ny, nx = shape
    fy = sfft.fftfreq(ny)[:, None]
    fx = sfft.rfftfreq(nx)[None, :]
    amp = np.exp(-2.0 * math.pi**2 * sigma_px**2 * (fy * fy + fx * fx))
    return unit_variance_rfft_filter(amp, nx)


def smooth_gaussian_field(
    shape: tuple[int, int], sigma_px: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    """Unit-variance Gaussian field: white noise smoothed by a Gaussian kernel.

    Its correlation is ``exp(-d^2 / (4 sigma_px^2))``. Computed by FFT on a grid padded by
    ``3 sigma_px`` so that opposite edges are not correlated.

    Args:
        shape: ``(ny, nx)``.
        sigma_px: Kernel standard deviation, pixels (> 0).
        rng: Random generator.

    Returns:
        Float32 field of shape ``(ny, nx)``, expected mean 0 and variance 1.
    """
    ny, nx, _ = check_grid(shape, 1.0)
    if not (sigma_px > 0 and math.isfinite(sigma_px)):
        raise InputError(f"sigma_px must be a positive number of pixels, got {sigma_px!r}")
    pad = math.ceil(3.0 * sigma_px)
    my = sfft.next_fast_len(ny + pad, real=True)
    mx = sfft.next_fast_len(nx + pad, real=True)
    filt = _gaussian_filter((my, mx), float(sigma_px))
    white = rng.standard_normal((my, mx), dtype=np.float32)
    field = sfft.irfft2(sfft.rfft2(white) * filt, s=(my, mx))[:ny, :nx]
    return np.ascontiguousarray(field, dtype=np.float32)


@lru_cache(maxsize=256)
def _logit_offset(mean: float, spread: float) -> float:
    """Offset ``a`` with ``E[expit(a + spread Z)] = mean`` for standard normal ``Z``."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(48)
    weights = weights / weights.sum()

    def gap(a: float) -> float:
        return float((weights * expit(a + spread * nodes)).sum()) - mean

    return float(brentq(gap, -60.0, 60.0, xtol=1e-10))


def incoherent_patches(
    shape: tuple[int, int],
    rng: np.random.Generator,
    n_patches: int,
    radius_px: tuple[float, float] = (5.0, 30.0),
    *,
    irregularity: float = 0.25,
) -> NDArray[np.bool_]:
    """Blobby incoherent regions (lakes, forest, fresh ash or snow cover changes).

    Each patch is an ellipse with semi-axes drawn uniformly from ``radius_px``, a random
    orientation and a boundary whose radius is modulated by angular harmonics 2-4 of
    random phase and relative amplitude up to ``irregularity``; centres are uniform over
    the grid (patches may overlap and be cut by the edges).

    Args:
        shape: ``(ny, nx)``.
        rng: Random generator.
        n_patches: Number of patches (>= 0).
        radius_px: ``(low, high)`` semi-axis range, pixels.
        irregularity: Amplitude of each boundary harmonic, fraction of the radius, in
            [0, 0.3] (keeps the boundary star-shaped).

    Returns:
        Bool mask, True inside a patch, shape ``(ny, nx)``.
    """
    ny, nx, _ = check_grid(shape, 1.0)
    if not (isinstance(n_patches, int | np.integer) and n_patches >= 0):
        raise InputError(f"n_patches must be an integer >= 0, got {n_patches!r}")
    lo, hi = radius_px
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise InputError(f"radius_px must be (low, high) with 0 < low <= high, got {radius_px!r}")
    if not 0 <= irregularity <= 0.3:
        raise InputError(f"irregularity must be in [0, 0.3], got {irregularity!r}")
    mask = np.zeros((ny, nx), dtype=bool)
    for _ in range(int(n_patches)):
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        a, b = rng.uniform(lo, hi, size=2)
        theta = rng.uniform(0, math.pi)
        amps = rng.uniform(0, irregularity, size=3)
        phases = rng.uniform(0, 2 * math.pi, size=3)
        reach = max(a, b) * (1 + 3 * irregularity)
        y0, y1 = max(0, int(cy - reach)), min(ny, int(cy + reach) + 1)
        x0, x1 = max(0, int(cx - reach)), min(nx, int(cx + reach) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy = np.arange(y0, y1, dtype=np.float64)[:, None] + 0.5 - cy
        xx = np.arange(x0, x1, dtype=np.float64)[None, :] + 0.5 - cx
        u = xx * math.cos(theta) + yy * math.sin(theta)
        v = -xx * math.sin(theta) + yy * math.cos(theta)
        rho = np.hypot(u / a, v / b)
        ang = np.arctan2(v / b, u / a)
        edge = 1.0 + sum(amps[k] * np.cos((k + 2) * ang + phases[k]) for k in range(3))
        mask[y0:y1, x0:x1] |= rho <= edge
    return mask


def coherence_map(
    shape: tuple[int, int],
    pixel_m: float,
    rng: np.random.Generator,
    *,
    mean: float = 0.45,
    spread: float = 1.0,
    length_m: float = 1500.0,
    dem_m: ArrayLike | None = None,
    slope_weight: float = 2.0,
    water_below_m: float = 0.0,
    n_patches: int = 0,
    patch_radius_m: tuple[float, float] = (300.0, 3000.0),
) -> NDArray[np.float32]:
    """Draw a spatially smooth coherence map for a short-interval C-band interferogram.

    ``g = expit(a + spread * z - slope_weight * tan(slope))`` where ``z`` is a
    unit-variance :func:`smooth_gaussian_field` (kernel ``length_m``) and ``a`` is chosen
    so that the expected coherence is ``mean`` on flat ground. Sentinel-1 coherence over
    6-12 days ranges from ~0.2 on densely vegetated tropical flanks to 0.6-0.9 on bare
    lava, ash and towns (Ebmeier et al. 2013, Geol. Soc. Spec. Publ. 380; the ALOS-2
    pair of the Taal application of Sugiyama et al. 2011); ``mean`` in 0.25-0.7 with
    ``spread`` 0.5-1.5 spans those cases. Steep slopes lose coherence (layover,
    foreshortening, vegetation), hence the slope term. Incoherent areas get coherence
    uniform in [0, 0.1), i.e. at or below the threshold of 0.1: ``n_patches`` blobs of
    :func:`incoherent_patches`, and, when ``dem_m`` is given, water (heights <=
    ``water_below_m``, e.g. the sea at 0 m).

    Args:
        shape: ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        rng: Random generator.
        mean: Expected coherence on flat land, in (0, 1).
        spread: Standard deviation of the logit of coherence (>= 0).
        length_m: Smoothing kernel standard deviation, metres (> 0).
        dem_m: Optional heights, metres, shape ``(ny, nx)`` (NaN counts as water).
        slope_weight: Logit drop per unit ``tan(slope)`` (>= 0).
        water_below_m: Heights at or below this are water (only with ``dem_m``).
        n_patches: Number of incoherent patches.
        patch_radius_m: ``(low, high)`` patch semi-axis range, metres.

    Returns:
        Coherence, float32 in [0, 1], shape ``(ny, nx)``.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    if not (0.0 < mean < 1.0):
        raise InputError(f"mean coherence must be in (0, 1), got {mean!r}")
    if not (spread >= 0 and math.isfinite(spread)):
        raise InputError(f"spread must be a finite number >= 0, got {spread!r}")
    if not (length_m > 0 and math.isfinite(length_m)):
        raise InputError(f"length_m must be a positive number of metres, got {length_m!r}")
    if not (slope_weight >= 0 and math.isfinite(slope_weight)):
        raise InputError(f"slope_weight must be a finite number >= 0, got {slope_weight!r}")
    lo_r, hi_r = patch_radius_m
    if not (0 < lo_r <= hi_r and math.isfinite(hi_r)):
        raise InputError(
            "patch_radius_m must be (low, high) metres with 0 < low <= high, "
            f"got {patch_radius_m!r}"
        )
    offset = np.float32(_logit_offset(float(mean), float(spread)))
    logit = smooth_gaussian_field((ny, nx), length_m / pixel_m, rng)
    logit *= np.float32(spread)
    logit += offset
    water = None
    if dem_m is not None:
        h = np.asarray(dem_m, dtype=np.float32)
        if h.shape != (ny, nx):
            raise InputError(f"dem_m shape {h.shape} does not match shape {(ny, nx)}")
        if slope_weight > 0:
            gy, gx = np.gradient(h, pixel_m)
            logit -= np.float32(slope_weight) * np.nan_to_num(np.hypot(gy, gx))
        water = ~(h > water_below_m)
    coh = expit(logit).astype(np.float32, copy=False)
    low = incoherent_patches((ny, nx), rng, n_patches, (lo_r / pixel_m, hi_r / pixel_m))
    if water is not None:
        low |= water
    n_low = int(low.sum())
    if n_low:
        coh[low] = rng.uniform(0.0, DEFAULT_COHERENCE_THRESHOLD, size=n_low).astype(np.float32)
    return coh


def phase_noise_std(coherence: ArrayLike, n_looks: float = DEFAULT_N_LOOKS) -> NDArray[np.float32]:
    """Cramer-Rao phase standard deviation ``sqrt(1 - g^2) / (g sqrt(2 N))``, radians.

    Rodriguez & Martin (1992); Hanssen (2001) eq. 4.2.21. Infinite at ``g = 0``.

    Args:
        coherence: Coherence in [0, 1], any shape.
        n_looks: Number of independent looks ``N`` (>= 1).

    Returns:
        Float32 standard deviation, radians, same shape.
    """
    if not (n_looks >= 1 and math.isfinite(n_looks)):
        raise InputError(f"n_looks must be a number >= 1 of independent looks, got {n_looks!r}")
    g = np.clip(np.asarray(coherence, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        out = np.sqrt(1.0 - g * g) / (g * math.sqrt(2.0 * n_looks))
    return out.astype(np.float32)


def apply_decorrelation(
    values: ArrayLike,
    coherence: ArrayLike,
    threshold: float = DEFAULT_COHERENCE_THRESHOLD,
    rng: np.random.Generator | None = None,
    noise: bool = True,
    *,
    n_looks: float = DEFAULT_N_LOOKS,
    units_per_rad: float | None = None,
) -> NDArray[np.float32]:
    """Mask incoherent pixels as NaN and add coherence-dependent phase noise.

    Pixels with coherence <= ``threshold`` (or NaN coherence) become NaN, never zero
    (threshold 0.1 as in the Taal application of Sugiyama et al. 2011;
    docs/architecture.md, Conventions). With ``noise``, every other pixel gets Gaussian
    noise of standard deviation ``phase_noise_std(g, n_looks) * units_per_rad``.

    Args:
        values: Unwrapped phase (radians) or LOS displacement (metres), ``(ny, nx)``; NaN
            stays NaN.
        coherence: Coherence in [0, 1], same shape.
        threshold: Coherence at or below which a pixel is masked.
        rng: Random generator; required when ``noise``.
        noise: Add phase noise.
        n_looks: Independent looks ``N`` for the noise formula (see
            :data:`DEFAULT_N_LOOKS`).
        units_per_rad: Units of ``values`` per radian of phase, required when ``noise``:
            1.0 for phase in radians; ``wavelength_m / (4 pi)`` for LOS displacement in
            metres (0.004414 m/rad for Sentinel-1, whose phase is ``-4 pi d / lambda``;
            the sign does not matter for zero-mean noise).

    Returns:
        Float32 copy of ``values``, shape ``(ny, nx)``.
    """
    vals = np.array(values, dtype=np.float32)
    coh = np.asarray(coherence, dtype=np.float32)
    if vals.shape != coh.shape:
        raise InputError(f"values shape {vals.shape} does not match coherence shape {coh.shape}")
    if not (0.0 <= threshold < 1.0):
        raise InputError(f"threshold must be a coherence in [0, 1), got {threshold!r}")
    coherent = coh > threshold
    if noise:
        if rng is None:
            raise InputError("apply_decorrelation(noise=True) needs rng, a numpy Generator")
        if units_per_rad is None or not (units_per_rad > 0 and math.isfinite(units_per_rad)):
            raise InputError(
                f"units_per_rad must be a positive number (1.0 for phase in radians, "
                f"wavelength_m / (4 pi) for metres) when noise=True, got {units_per_rad!r}"
            )
        sigma = phase_noise_std(coh[coherent], n_looks) * np.float32(units_per_rad)
        vals[coherent] += rng.standard_normal(sigma.size, dtype=np.float32) * sigma
    vals[~coherent] = np.nan
    return vals
