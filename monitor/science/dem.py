"""Digital elevation models: synthetic volcanic edifices, void filling and resampling.

Synthetic DEMs stand in for real topography when drawing stratified atmospheric delays
(Anantrasirichai et al. 2019a, section 3.2, use SRTM DEMs of 100 volcanoes through GACOS).
Three edifice families cover the shapes that matter for topography-correlated delay:

* ``"stratovolcano"``: a steep, concave-up cone (exponential height profile, like
  Mayon, Agung or Sakurajima) with an optional summit crater;
* ``"shield"``: a broad, low-slope Gaussian dome (like Sierra Negra or
  Erta Ale's range);
* ``"caldera"``: a broad edifice truncated by a collapse basin, leaving a raised rim
  around a low floor (like Taal or Campi Flegrei).

Each gets fractal texture (Gaussian noise with a ``1/f^beta`` power spectrum) scaled to a
fraction of its relief and a random offset of the summit from the grid centre. Heights are
metres above sea level, floored at 0. Arrays are ``(ny, nx)``, row 0 at the north edge.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
import scipy.fft as sfft
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

from monitor.errors import InputError
from monitor.science.grids import check_grid, unit_variance_rfft_filter

DemKind = Literal["stratovolcano", "shield", "caldera"]

#: Default ranges (low, high) drawn when ``height_m`` / ``base_radius_m`` are None: summit
#: (or rim) height above the surrounding plain, metres, and radius of the edifice base,
#: metres. Stratovolcanoes: 1-3.5 km high over 6-15 km (Agung ~3 km, Mayon ~2.5 km);
#: shields: 0.3-1.5 km over 10-25 km (slopes of a few degrees); calderas: rims 0.3-1.2 km
#: over 8-20 km, the basin 30-50 % of that radius (Taal ~ 15-20 km across).
DEFAULT_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "stratovolcano": {"height_m": (1000.0, 3500.0), "base_radius_m": (6000.0, 15000.0)},
    "shield": {"height_m": (300.0, 1500.0), "base_radius_m": (10000.0, 25000.0)},
    "caldera": {"height_m": (300.0, 1200.0), "base_radius_m": (8000.0, 20000.0)},
}


@lru_cache(maxsize=16)
def _fractal_filter(shape: tuple[int, int], beta: float) -> NDArray[np.float32]:
    """Amplitude filter ``|f|^(-beta/2)`` on the ``rfft2`` grid, normalised for unit variance."""
    ny, nx = shape
    fy = sfft.fftfreq(ny)[:, None]
    fx = sfft.rfftfreq(nx)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = np.inf  # no mean
    amp = f ** (-beta / 2.0)
    return unit_variance_rfft_filter(amp, nx)


def fractal_noise(
    shape: tuple[int, int], rng: np.random.Generator, beta: float = 2.5
) -> NDArray[np.float32]:
    """Zero-mean, unit-variance Gaussian noise with a ``1/f^beta`` power spectrum.

    Filters white noise in the Fourier domain (periodic). ``beta`` near 2-3 gives
    natural-looking terrain roughness (e.g. Turcotte 1997, Fractals and Chaos in Geology
    and Geophysics, chapter 7).

    Args:
        shape: ``(ny, nx)``.
        rng: Random generator.
        beta: Spectral exponent of the power spectrum (> 0).

    Returns:
        Float32 array of shape ``(ny, nx)`` with expected variance 1.
    """
    ny, nx, _ = check_grid(shape, 1.0)
    if not (beta > 0 and math.isfinite(beta)):
        raise InputError(f"beta must be a positive finite spectral exponent, got {beta!r}")
    filt = _fractal_filter((ny, nx), float(beta))
    white = rng.standard_normal((ny, nx), dtype=np.float32)
    return sfft.irfft2(sfft.rfft2(white) * filt, s=(ny, nx)).astype(np.float32, copy=False)


def _draw(rng: np.random.Generator, value: float | None, kind: str, key: str) -> float:
    if value is None:
        lo, hi = DEFAULT_RANGES[kind][key]
        return float(rng.uniform(lo, hi))
    if not (isinstance(value, int | float | np.floating | np.integer) and value > 0):
        raise InputError(f"{key} must be a positive number of metres or None, got {value!r}")
    return float(value)


def synthetic_dem(
    shape: tuple[int, int],
    pixel_m: float,
    kind: DemKind,
    rng: np.random.Generator,
    *,
    height_m: float | None = None,
    base_radius_m: float | None = None,
    roughness: float = 0.03,
    beta: float = 2.5,
    max_offset_fraction: float = 0.1,
    crater: bool = True,
) -> NDArray[np.float32]:
    """Draw a synthetic volcanic DEM.

    Profiles of the radius ``r`` from the summit (``H`` = ``height_m``, ``R`` =
    ``base_radius_m``):

    * stratovolcano: ``H (exp(-3 r / R) - e^-3) / (1 - e^-3)`` inside ``R`` (concave up,
      steepest near the top), minus a summit crater of depth ``0.03-0.08 H`` and radius
      ``0.03-0.06 R`` when ``crater``;
    * shield: ``H exp(-(r / (0.5 R))^2)`` (slopes below ``~1.2 H / R``);
    * caldera: a Gaussian dome of width ``0.6 R`` that is ``H`` high at the basin radius
      ``Rc = 0.3-0.5 R``, truncated inside the basin down to a floor ``0.05-0.4 H`` above
      the plain, with a rim crest at ``Rc``: the rim is the highest ground.

    Then ``roughness * H * (0.3 + 0.7 h / H) * n`` is added, ``n`` being unit
    :func:`fractal_noise`, and heights are floored at 0 m.

    Args:
        shape: ``(ny, nx)`` of the grid.
        pixel_m: Pixel spacing, metres.
        kind: ``"stratovolcano"``, ``"shield"`` or ``"caldera"``.
        rng: Random generator (the only source of randomness).
        height_m: Summit (rim, for calderas) height, metres; None draws from
            :data:`DEFAULT_RANGES`.
        base_radius_m: Edifice base radius, metres; None draws from :data:`DEFAULT_RANGES`.
        roughness: Standard deviation of the texture as a fraction of ``height_m`` (>= 0).
        beta: Spectral exponent of the texture.
        max_offset_fraction: The summit is offset from the grid centre by up to this
            fraction of the grid size in each axis.
        crater: Cut a summit crater into a stratovolcano.

    Returns:
        Heights, metres, float32, shape ``(ny, nx)``, all >= 0.
    """
    ny, nx, pixel_m = check_grid(shape, pixel_m)
    if kind not in DEFAULT_RANGES:
        raise InputError(f"kind must be one of {sorted(DEFAULT_RANGES)}, got {kind!r}")
    if not (roughness >= 0 and math.isfinite(roughness)):
        raise InputError(f"roughness must be a fraction >= 0 of the relief, got {roughness!r}")
    if not 0 <= max_offset_fraction <= 0.5:
        raise InputError(f"max_offset_fraction must be in [0, 0.5], got {max_offset_fraction!r}")
    height = _draw(rng, height_m, kind, "height_m")
    radius = _draw(rng, base_radius_m, kind, "base_radius_m")
    off_y, off_x = rng.uniform(-max_offset_fraction, max_offset_fraction, size=2)
    cy = (ny - 1) / 2.0 + off_y * ny
    cx = (nx - 1) / 2.0 + off_x * nx
    y = (np.arange(ny, dtype=np.float32) - np.float32(cy)) * np.float32(pixel_m)
    x = (np.arange(nx, dtype=np.float32) - np.float32(cx)) * np.float32(pixel_m)
    r = np.hypot(y[:, None], x[None, :])

    if kind == "stratovolcano":
        floor = math.exp(-3.0)
        h = height * (np.exp(-3.0 * np.minimum(r, radius) / radius) - floor) / (1.0 - floor)
        if crater:
            depth = height * float(rng.uniform(0.03, 0.08))
            rc = radius * float(rng.uniform(0.03, 0.06))
            h -= depth * np.exp(-((r / rc) ** 2))
    elif kind == "shield":
        h = height * np.exp(-((r / (0.5 * radius)) ** 2))
    else:
        rc = radius * float(rng.uniform(0.3, 0.5))
        floor_h = height * float(rng.uniform(0.05, 0.4))
        width = 0.6 * radius
        dome = height * np.exp(-(r * r - rc * rc) / (width * width))  # = height at r = rc
        step = 0.5 * (1.0 - np.tanh((r - 0.92 * rc) / (0.04 * rc)))  # 1 inside the basin
        h = dome - step * np.maximum(dome - floor_h, 0.0)
        h += 0.08 * height * np.exp(-(((r - rc) / (0.05 * rc)) ** 2))  # rim crest
    if roughness > 0:
        texture = fractal_noise((ny, nx), rng, beta)
        h = h + roughness * height * (0.3 + 0.7 * np.clip(h / height, 0.0, 1.0)) * texture
    return np.maximum(h, 0.0).astype(np.float32)


def fill_voids(
    dem: ArrayLike,
    void_mask: ArrayLike | None = None,
    *,
    method: Literal["laplace", "nearest"] = "laplace",
) -> NDArray[np.float32]:
    """Fill voids (e.g. SRTM ``-32768`` holes) in a DEM.

    ``"laplace"`` solves Laplace's equation over the void pixels with the surrounding valid
    heights as boundary values (a smooth membrane, as in common SRTM void-filling practice;
    grid edges are treated as no-flux), one sparse solve for all voids. ``"nearest"``
    copies the nearest valid pixel (Euclidean distance transform).

    Args:
        dem: Heights, metres, shape ``(ny, nx)``.
        void_mask: True where the height is missing, shape ``(ny, nx)``; NaN heights are
            voids as well. None means only the NaN pixels.
        method: ``"laplace"`` or ``"nearest"``.

    Returns:
        Float32 heights with every void filled, shape ``(ny, nx)``.

    Raises:
        InputError: On shape mismatches or when no valid pixel exists.
    """
    h = np.array(dem, dtype=np.float64)
    if h.ndim != 2:
        raise InputError(f"dem must be 2-D (ny, nx), got shape {h.shape}")
    voids = ~np.isfinite(h)
    if void_mask is not None:
        mask = np.asarray(void_mask)
        if mask.shape != h.shape:
            raise InputError(f"void_mask shape {mask.shape} does not match dem shape {h.shape}")
        voids |= mask.astype(bool)
    if not voids.any():
        return h.astype(np.float32)
    if voids.all():
        raise InputError("dem has no valid pixel: every pixel is a void; nothing to fill from")
    if method == "nearest":
        idx = ndimage.distance_transform_edt(voids, return_distances=False, return_indices=True)
        return h[tuple(idx)].astype(np.float32)
    if method != "laplace":
        raise InputError(f"method must be 'laplace' or 'nearest', got {method!r}")
    ny, nx = h.shape
    vy, vx = np.nonzero(voids)
    n = vy.size
    index = np.full(h.shape, -1, dtype=np.int64)
    index[vy, vx] = np.arange(n)
    diag = np.zeros(n)
    rhs = np.zeros(n)
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        qy, qx = vy + dy, vx + dx
        inside = (qy >= 0) & (qy < ny) & (qx >= 0) & (qx < nx)
        diag += inside
        src = np.nonzero(inside)[0]
        nb = index[qy[src], qx[src]]
        unknown = nb >= 0
        rows.append(src[unknown])
        cols.append(nb[unknown])
        known = src[~unknown]
        rhs[known] += h[qy[known], qx[known]]
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    mat = sparse.csr_matrix(
        (
            np.concatenate([diag, -np.ones(r.size)]),
            (np.concatenate([np.arange(n), r]), np.concatenate([np.arange(n), c])),
        ),
        shape=(n, n),
    )
    out = h.copy()
    out[vy, vx] = spsolve(mat.tocsc(), rhs)
    return out.astype(np.float32)


def _pixel_pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, int | float | np.floating | np.integer) else value
    try:
        dy, dx = (float(v) for v in pair)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{name} must be metres, a number or (dy, dx) pair, got {value!r}"
        ) from exc
    if not (dy > 0 and dx > 0 and math.isfinite(dy) and math.isfinite(dx)):
        raise InputError(f"{name} must be positive finite metres, got {value!r}")
    return dy, dx


def resample_dem(
    dem: ArrayLike,
    src_pixel_m: float | tuple[float, float],
    dst_pixel_m: float | tuple[float, float] | None = None,
    *,
    out_shape: tuple[int, int] | None = None,
) -> NDArray[np.float32]:
    """Resample a DEM to another pixel spacing (bilinear, ``scipy.ndimage.zoom`` order 1).

    Pixels are treated as areas (``grid_mode=True``): the output covers the same extent as
    the input. Give either ``dst_pixel_m`` (the output shape is the input extent divided by
    it, rounded, so the realised spacing can differ from it by up to half a pixel over the
    extent) or ``out_shape``.

    Args:
        dem: Heights, metres, shape ``(ny, nx)``, all finite (fill voids first).
        src_pixel_m: Input spacing, metres: one number, or ``(dy, dx)`` for the
            non-square pixels of a geographic grid (see ``monitor.io.dem.dem_grid_metres``).
        dst_pixel_m: Output spacing, metres, number or ``(dy, dx)``.
        out_shape: Output ``(ny, nx)`` instead of ``dst_pixel_m``.

    Returns:
        Float32 heights on the new grid.
    """
    h = np.asarray(dem, dtype=np.float32)
    if h.ndim != 2:
        raise InputError(f"dem must be 2-D (ny, nx), got shape {h.shape}")
    if not np.isfinite(h).all():
        raise InputError("dem holds NaN or infinite heights; call fill_voids first")
    sy, sx = _pixel_pair(src_pixel_m, "src_pixel_m")
    if (dst_pixel_m is None) == (out_shape is None):
        raise InputError("give exactly one of dst_pixel_m and out_shape")
    if out_shape is not None:
        oy, ox, _ = check_grid(out_shape, 1.0)
    else:
        assert dst_pixel_m is not None
        dy, dx = _pixel_pair(dst_pixel_m, "dst_pixel_m")
        oy = max(1, round(h.shape[0] * sy / dy))
        ox = max(1, round(h.shape[1] * sx / dx))
    zoom = (oy / h.shape[0], ox / h.shape[1])
    out = ndimage.zoom(h, zoom, order=1, mode="nearest", grid_mode=True)
    return np.asarray(out, dtype=np.float32)
