"""Power-law (Kolmogorov-type) tropospheric turbulence by spectral synthesis.

:func:`monitor.science.atmosphere.turbulent_delay` draws the exponential covariance of
Anantrasirichai et al. (2019a). Real interferograms are closer to a power law: the
spectrum of the wet delay follows ``P(k) ~ k^-beta`` over decades of scale, with a few
regimes (Hanssen 2001, Radar Interferometry: Data Interpretation and Error Analysis,
Kluwer, section 4.7, eq. 4.7.28; Williams, Bock & Fang 1998, Integrated satellite
interferometry: tropospheric noise, GPS estimates and implications for interferometric
synthetic aperture radar products, J. Geophys. Res. 103(B11), 27051-27067,
doi:10.1029/98JB02794). This module draws such fields.

Exponents. ``beta`` here is always the exponent of the **2-D isotropic** power spectrum
``P2(k)``; a 1-D profile through the field has spectrum ``~ k^-(beta - 1)`` (Hanssen's
eq. 4.7.28 quotes profile exponents, and his ``fracsurfatmo`` filters the 2-D spectrum with
``beta_profile + 1``), and for ``2 < beta < 4`` the structure function is
``D(r) = E[(f(x + r) - f(x))^2] ~ r^(beta - 2)``. Hanssen's three regimes, as 2-D exponents:

* ``8/3`` (profile -5/3) for wavelengths of about 1.5-50 km: ``D ~ r^(2/3)``, the
  Kolmogorov 2-D regime of a turbulent layer thinner than the scale (Williams et al.
  1998: ``D ~ r^(2/3)`` at long lags). The default here: it spans a 20 km scene.
* ``11/3`` (profile -8/3) for 0.25-1.5 km: ``D ~ r^(5/3)``, 3-D Kolmogorov turbulence at
  scales below the thickness of the wet layer (Williams et al. 1998, short lags).
* ``5/3`` (profile -2/3) below 0.25 km: a nearly white tail.

:data:`HANSSEN_REGIMES` holds them; :func:`powerlaw_delay` takes any such list. Beyond
``outer_scale_m`` the spectrum is flat (the field decorrelates: Williams et al. 1998 find
the structure function saturating at a few tens of km).

Synthesis: white Gaussian noise on a grid padded to at least ``pad`` times the field is
filtered in the Fourier domain by ``sqrt(P2(k))`` and cropped (the periodic wrap of the
FFT then does not join opposite edges). The field is scaled so that its standard deviation
**over the requested grid** (about the grid's own mean) is exactly ``sigma_m``: a power-law
field's pointwise variance depends on the outer scale and the padding, its variance over
a window does not, and a window's standard deviation is what is measured on real
interferograms (for example the robust sigma of a whole 20 km map).

Anisotropy: the wavenumber is measured in a frame rotated by ``angle_deg`` and stretched
by ``axis_ratio`` (``k_eff^2 = r ku^2 + kv^2 / r``, ``ku`` along the long axis), so the
structures are ``axis_ratio`` times longer along the direction ``angle_deg`` (degrees
from east towards north) than across it; gravity-wave and wind-aligned water-vapour bands
(Hanssen 2001, section 4.7) look like this.

Spatially varying amplitude: the field is multiplied by a log-normal modulation
``m = exp(s z - s^2)`` with ``z`` a smooth unit-variance Gaussian field (length
``modulation_length_m``), so turbulence is stronger in some parts of the scene (convective
cells over a flank, a drier plateau) and the overall scale still follows ``sigma_m``.

Everything is pure: arrays and a ``numpy.random.Generator`` in, float32 arrays out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import scipy.fft as sfft
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.decorrelation import smooth_gaussian_field
from monitor.science.grids import check_grid

#: 2-D spectral exponent of Kolmogorov turbulence in a thin layer (Hanssen 2001,
#: profile exponent -5/3 at 1.5-50 km; structure function ~ r^(2/3)).
KOLMOGOROV_BETA = 8.0 / 3.0
#: Hanssen (2001, eq. 4.7.28) regimes as ``(shortest wavelength, metres; 2-D exponent)``,
#: longest wavelengths first: 8/3 above 1.5 km, 11/3 from 0.25 to 1.5 km, 5/3 below.
HANSSEN_REGIMES: tuple[tuple[float, float], ...] = (
    (1500.0, 8.0 / 3.0),
    (250.0, 11.0 / 3.0),
    (0.0, 5.0 / 3.0),
)
#: Default outer scale, metres: wavelengths longer than this carry a flat spectrum
#: (Hanssen 2001: the -5/3 profile regime extends to about 50 km).
DEFAULT_OUTER_SCALE_M = 50_000.0
#: Default padding of the synthesis grid, times the field, per axis.
DEFAULT_PAD = 2.0


def _check_regimes(regimes: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    try:
        out = tuple((float(w), float(b)) for w, b in regimes)
    except (TypeError, ValueError) as exc:
        raise InputError(f"regimes must be (shortest wavelength m, beta) pairs, "
                         f"got {regimes!r}") from exc
    if not out:
        raise InputError("regimes must hold at least one (wavelength, beta) pair")
    walls = [w for w, _ in out]
    if walls[-1] != 0.0 or any(a <= b for a, b in zip(walls, walls[1:], strict=False)):
        raise InputError(
            f"regimes must list strictly decreasing shortest wavelengths ending at 0 "
            f"(longest scales first), got {regimes!r}")
    if not all(math.isfinite(b) and 0.0 <= b <= 6.0 for _, b in out):
        raise InputError(f"regime exponents beta must lie in [0, 6], got {regimes!r}")
    return out


def powerlaw_spectrum(
    k_cyc_per_m: ArrayLike,
    regimes: Sequence[tuple[float, float]] = ((0.0, KOLMOGOROV_BETA),),
    outer_scale_m: float = DEFAULT_OUTER_SCALE_M,
) -> NDArray[np.float64]:
    """Piecewise power-law 2-D spectrum ``P2(k)``, continuous, unit at the outer scale.

    Args:
        k_cyc_per_m: Wavenumber magnitude, cycles per metre, any shape (>= 0).
        regimes: ``(shortest wavelength, beta)`` pairs from the longest scales down, the
            last with wavelength 0 (see :data:`HANSSEN_REGIMES`); a single
            ``((0, beta),)`` is one power law.
        outer_scale_m: Wavelengths longer than this get the spectrum's value there.

    Returns:
        ``P2``, float64, same shape (relative units).
    """
    reg = _check_regimes(regimes)
    if not (outer_scale_m > 0 and math.isfinite(outer_scale_m)):
        raise InputError(f"outer_scale_m must be a positive number of metres, "
                         f"got {outer_scale_m!r}")
    k = np.asarray(k_cyc_per_m, dtype=np.float64)
    k0 = 1.0 / outer_scale_m
    kk = np.maximum(k, k0)
    log_p = np.zeros_like(kk)
    # Walk the regimes from long to short wavelength, keeping log P continuous.
    start = k0
    level = 0.0
    for wall, beta in reg:
        stop = math.inf if wall == 0.0 else 1.0 / wall
        if stop <= start:
            continue
        inside = (kk >= start) & (kk < stop)
        log_p[inside] = level - beta * np.log(kk[inside] / start)
        if math.isfinite(stop):
            level -= beta * math.log(stop / start)
        start = stop
    return np.exp(log_p)


@lru_cache(maxsize=16)
def _filter(shape: tuple[int, int], pixel_m: float, regimes: tuple[tuple[float, float], ...],
            outer_scale_m: float, axis_ratio: float, angle_deg: float) -> NDArray[np.float32]:
    """``sqrt(P2)`` on the ``rfft2`` grid of ``shape`` (zero at k = 0), frozen."""
    my, mx = shape
    ky = sfft.fftfreq(my, d=pixel_m)[:, None]
    kx = sfft.rfftfreq(mx, d=pixel_m)[None, :]
    # Row index grows southwards: north wavenumber is -ky.
    theta = math.radians(angle_deg)
    ku = kx * math.cos(theta) - ky * math.sin(theta)
    kv = -kx * math.sin(theta) - ky * math.cos(theta)
    k = np.sqrt(axis_ratio * ku * ku + kv * kv / axis_ratio)
    amp = np.sqrt(powerlaw_spectrum(k, regimes, outer_scale_m))
    amp[0, 0] = 0.0
    out = amp.astype(np.float32)
    out.setflags(write=False)
    return out


def powerlaw_delay(
    shape: tuple[int, int],
    pixel_m: float,
    sigma_m: float,
    rng: np.random.Generator,
    *,
    beta: float = KOLMOGOROV_BETA,
    regimes: Sequence[tuple[float, float]] | None = None,
    outer_scale_m: float = DEFAULT_OUTER_SCALE_M,
    axis_ratio: float = 1.0,
    angle_deg: float = 0.0,
    amplitude_variation: float = 0.0,
    modulation_length_m: float = 5000.0,
    pad: float = DEFAULT_PAD,
) -> NDArray[np.float32]:
    """Draw a power-law turbulent delay by spectral synthesis (module docstring).

    Args:
        shape: ``(ny, nx)`` of the output grid.
        pixel_m: Pixel spacing, metres.
        sigma_m: Standard deviation of the field over the grid, metres (0: zeros).
        rng: Random generator; the only source of randomness.
        beta: 2-D spectral exponent of a single power law (8/3: ``D ~ r^(2/3)``);
            ignored when ``regimes`` is given.
        regimes: Piecewise spectrum, e.g. :data:`HANSSEN_REGIMES`.
        outer_scale_m: Wavelength beyond which the spectrum is flat, metres.
        axis_ratio: Elongation of the structures (>= 1; 1 = isotropic).
        angle_deg: Direction of elongation, degrees from east towards north.
        amplitude_variation: Log-standard deviation ``s`` of the amplitude modulation
            (0 = uniform amplitude; 0.5 gives a factor of about 2.7 between the 1-sigma
            extremes).
        modulation_length_m: Smoothing length of the modulation field, metres.
        pad: Synthesis grid / field size per axis (>= 1.5).

    Returns:
        Zenith delay, metres, float32, ``(ny, nx)``, zero mean and standard deviation
        ``sigma_m`` over the grid.

    Raises:
        InputError: On a bad grid, negative ``sigma_m``, bad exponent, ratio, padding or
            modulation parameters, or an ``rng`` that is not a Generator.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    if not (isinstance(sigma_m, int | float | np.floating | np.integer)
            and math.isfinite(float(sigma_m)) and sigma_m >= 0):
        raise InputError(f"powerlaw_delay: sigma_m must be a finite number >= 0 metres, "
                         f"got {sigma_m!r}")
    if not isinstance(rng, np.random.Generator):
        raise InputError(f"powerlaw_delay: rng must be a numpy.random.Generator, "
                         f"got {type(rng).__name__}")
    reg = _check_regimes(regimes if regimes is not None else ((0.0, beta),))
    if not (math.isfinite(axis_ratio) and axis_ratio >= 1.0):
        raise InputError(f"powerlaw_delay: axis_ratio must be a finite number >= 1, "
                         f"got {axis_ratio!r}")
    if not math.isfinite(angle_deg):
        raise InputError(f"powerlaw_delay: angle_deg must be finite, got {angle_deg!r}")
    if not (math.isfinite(amplitude_variation) and 0.0 <= amplitude_variation <= 3.0):
        raise InputError(f"powerlaw_delay: amplitude_variation must lie in [0, 3], "
                         f"got {amplitude_variation!r}")
    if not (math.isfinite(modulation_length_m) and modulation_length_m > 0):
        raise InputError(f"powerlaw_delay: modulation_length_m must be > 0 metres, "
                         f"got {modulation_length_m!r}")
    if not (math.isfinite(pad) and pad >= 1.5):
        raise InputError(f"powerlaw_delay: pad must be a number >= 1.5, got {pad!r}")
    if not (outer_scale_m > 0 and math.isfinite(outer_scale_m)):
        raise InputError(f"powerlaw_delay: outer_scale_m must be > 0 metres, "
                         f"got {outer_scale_m!r}")
    if sigma_m == 0:
        return np.zeros((ny, nx), dtype=np.float32)
    my = sfft.next_fast_len(math.ceil(pad * ny), real=True)
    mx = sfft.next_fast_len(math.ceil(pad * nx), real=True)
    filt = _filter((my, mx), pixel_m, reg, float(outer_scale_m), float(axis_ratio),
                   float(angle_deg) % 180.0)
    white = rng.standard_normal((my, mx), dtype=np.float32)
    field = sfft.irfft2(sfft.rfft2(white) * filt, s=(my, mx))[:ny, :nx].astype(np.float64)
    if amplitude_variation > 0:
        z = smooth_gaussian_field((ny, nx), modulation_length_m / pixel_m, rng)
        s = float(amplitude_variation)
        field *= np.exp(s * z.astype(np.float64) - s * s)
    field -= field.mean()
    std = float(field.std())
    if std > 0:
        field *= float(sigma_m) / std
    return field.astype(np.float32)


def structure_function(
    field: ArrayLike, pixel_m: float, lags_px: Sequence[int]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Structure function ``D(r) = mean((f(x + r) - f(x))^2)`` along rows and columns.

    The statistic of Williams et al. (1998) and Hanssen (2001, section 4.7); it is
    twice the semivariogram of :func:`monitor.science.atmosphere.empirical_variogram`.
    NaN pixels are left out.

    Args:
        field: Shape ``(ny, nx)``.
        pixel_m: Pixel spacing, metres.
        lags_px: Lags in pixels (each >= 1 and shorter than both sides).

    Returns:
        ``(lags_m, D)``, each ``(len(lags_px),)``, float64, ``D`` in field units squared.
    """
    arr = np.asarray(field, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"structure_function: field must be 2-D (ny, nx), got shape "
                         f"{arr.shape}")
    _, _, pixel_m = check_grid(arr.shape, pixel_m)
    lags = [int(v) for v in lags_px]
    if not lags or any(v < 1 or v >= min(arr.shape) for v in lags):
        raise InputError(f"structure_function: lags_px must be integers in 1..{min(arr.shape) - 1},"
                         f" got {list(lags_px)!r}")
    out = np.empty(len(lags), dtype=np.float64)
    for i, k in enumerate(lags):
        dx = np.square(arr[:, k:] - arr[:, :-k])
        dy = np.square(arr[k:, :] - arr[:-k, :])
        both = np.concatenate([dx[np.isfinite(dx)], dy[np.isfinite(dy)]])
        out[i] = float(both.mean()) if both.size else np.nan
    return np.asarray(lags, dtype=np.float64) * pixel_m, out
