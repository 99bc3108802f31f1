"""The spatial correlation of a frame's noise, estimated from its quiet maps.

Atmospheric delay in an interferogram is spatially correlated over kilometres (Hanssen
2001, Radar Interferometry, Kluwer, chapter 4), so a detector that treats its pixels as
independent weighs long-wavelength atmosphere as if it were signal. A generalised
least-squares (GLS) test whitens the map with the noise covariance first. This module
estimates that covariance for one frame:

- maps are averaged over square blocks of ``factor`` pixels (:func:`block_mean`), which
  keeps the matrices small and loses nothing of sources a few km deep;
- each quiet map, its mean removed, is divided by its own standard deviation: the
  *shape* of the correlation is shared by the frame's dates, its amplitude is not (a
  stormy date is not a quiet one), so a test estimates the scale of each map from that
  map. Ramps stay in: they are part of the long-wavelength noise a test must weigh
  (removing a plane from each map first did no better on the validation years);
- the correlation at every lag is the masked, FFT-based estimate summed over the maps:
  ``sum_maps (x * x)(lag) / sum_maps (m * m)(lag)`` for the zero-filled residual ``x`` and
  its validity mask ``m`` (Marcotte 1996, Fast variogram computation with FFT, Computers
  & Geosciences 22(10), doi:10.1016/S0098-3004(96)00026-X), i.e. stationary but not
  necessarily isotropic;
- the estimate is shrunk towards the isotropic exponential correlation ``exp(-r / L)``
  fitted to it (the covariance of the generator's turbulence, Anantrasirichai et al.
  2019a, section 3.3, and of Hanssen 2001, section 4.7, at these scales), with the weight
  of :data:`PRIOR_MAPS` maps against the ``n`` it comes from: ``w = n0 / (n0 + n)``. A
  watch's first filter has 20 maps, whose estimate at long lags is mostly sampling noise;
  the exponential has one parameter, which 20 maps fix well. On the real Erta Ale frame
  (Sentinel-1 014A), with correlations from 20 consecutive quiet maps of other years, the
  GLS filter's AUC for 2-3 cm sources rises from 0.81 to 0.85 on the validation years and
  from 0.88 to 0.90 on the test years (``bench/bench_short_past.py``), and in the watch's
  causal run its recall at 3 cm from 0.57 to 0.70 (``bench/bench_gls_causal.py``;
  ``docs/detection.md``, "The noise correlation of a short past");
- the matrix of the whole block grid is made positive definite, and regularised, by
  clipping its eigenvalues at a fraction of the largest (:data:`EIGEN_FLOOR`; Higham
  1988, Computing a nearest symmetric positive semidefinite matrix, Linear Algebra Appl.
  103, doi:10.1016/0024-3795(88)90223-6); the matrix of any set of valid blocks is a
  sub-matrix of it, hence positive definite as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize_scalar

from monitor.errors import InputError

#: Largest block grid whose correlation matrix is built (its side is ``ny * nx``).
MAX_BLOCKS = 4096
#: A block needs at least this fraction of valid pixels to count.
MIN_BLOCK_FRACTION = 0.5
#: Eigenvalues of the correlation matrix are clipped at this fraction of the largest.
#: The smallest eigenvalues of a matrix estimated from a hundred maps are mostly sampling
#: noise, and a test that trusts them weighs noise as signal. Chosen on the validation
#: years 2021-2022 of the real Erta Ale frame (not the test years), by the GLS filter's
#: AUC for sources of 2 cm and more there (``bench/bench_real_bound.py``): 0.86, 0.88,
#: 0.89 and 0.88 at 1e-3, 3e-3, 1e-2 and 3e-2; with a plane removed from each map first,
#: 0.82 to 0.89 from 3e-4 to 1e-2.
EIGEN_FLOOR = 1e-2
#: Fewest valid blocks a map needs to enter the estimate.
MIN_VALID_BLOCKS = 10
#: The fitted exponential counts as this many maps in the shrunk estimate (module
#: docstring): weight 1/3 for a watch's first 20 maps, 0.07 for 135. Chosen on the
#: validation years 2021-2022 of the real Erta Ale frame among 0, 5, 10 and 20
#: (``docs/detection.md``).
PRIOR_MAPS = 10.0


def block_mean(x: NDArray[np.floating], factor: int,
               min_fraction: float = MIN_BLOCK_FRACTION) -> NDArray[np.float64]:
    """Average ``x`` over ``factor x factor`` blocks, ignoring NaN.

    Rows and columns past the last whole block are dropped. A block with less than
    ``min_fraction`` of its pixels valid is NaN.

    Raises:
        InputError: not a 2-D map, a factor below 1, or a map smaller than one block.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise InputError(f"block mean: the map must be 2-D, got shape {a.shape}")
    if factor < 1:
        raise InputError(f"block mean: factor must be at least 1, got {factor}")
    ny, nx = a.shape[0] // factor, a.shape[1] // factor
    if ny < 1 or nx < 1:
        raise InputError(f"block mean: map {a.shape} is smaller than one block of {factor}")
    b = a[:ny * factor, :nx * factor].reshape(ny, factor, nx, factor)
    valid = np.isfinite(b)
    count = valid.sum(axis=(1, 3))
    total = np.where(valid, b, 0.0).sum(axis=(1, 3))
    out = np.full((ny, nx), np.nan)
    keep = count >= min_fraction * factor * factor
    out[keep] = total[keep] / count[keep]
    return out


@dataclass(frozen=True)
class StationaryCorrelation:
    """The noise correlation of one frame on its block grid.

    Attributes:
        factor: Block size, pixels.
        shape: Block grid ``(ny, nx)``.
        lags: Correlation at every circular lag, ``(2 ny, 2 nx)``; ``lags[dy, dx]``.
        n_maps: Quiet maps the estimate comes from.
        matrix_full: Positive-definite correlation of every block with every other,
            ``(ny nx, ny nx)`` in row-major block order.
        prior_weight: Weight of the fitted exponential in ``lags`` (module docstring).
        length_blocks: Its correlation length, blocks (NaN: not fitted).
    """

    factor: int
    shape: tuple[int, int]
    lags: NDArray[np.float64]
    n_maps: int
    matrix_full: NDArray[np.float64]
    prior_weight: float = 0.0
    length_blocks: float = math.nan

    def at(self, dy: int, dx: int) -> float:
        """The estimated correlation at a lag of ``(dy, dx)`` blocks."""
        ny, nx = self.shape
        return float(self.lags[dy % (2 * ny), dx % (2 * nx)])

    def matrix(self, valid: NDArray[np.bool_]) -> NDArray[np.float64]:
        """The correlation among the blocks where ``valid`` (block grid) is True.

        Raises:
            InputError: ``valid`` is not of the block grid's shape.
        """
        v = np.asarray(valid, dtype=bool)
        if v.shape != self.shape:
            raise InputError(f"noise correlation: mask {v.shape} is not the block grid "
                             f"{self.shape}")
        k = np.flatnonzero(v.ravel())
        return self.matrix_full[np.ix_(k, k)]


def estimate_correlation(maps: Sequence[NDArray[np.floating]], factor: int, *,
                         prior_maps: float = PRIOR_MAPS) -> StationaryCorrelation:
    """Estimate the frame's noise correlation from its quiet ``maps`` (module docstring;
    ``prior_maps`` 0: no shrinkage; ``math.inf``: the fitted exponential alone).

    Raises:
        InputError: no map, maps of different shapes, a block grid larger than
            :data:`MAX_BLOCKS`, no map with :data:`MIN_VALID_BLOCKS` valid blocks, or a
            negative ``prior_maps``.
    """
    if not maps:
        raise InputError("noise correlation: no quiet map to estimate it from")
    shapes = {np.shape(m) for m in maps}
    if len(shapes) != 1:
        raise InputError(f"noise correlation: the maps differ in shape: {sorted(shapes)}")
    first = block_mean(maps[0], factor)
    _check_grid(first.shape, factor)
    return correlation_of_blocks([first] + [block_mean(m, factor) for m in maps[1:]],
                                 factor, prior_maps=prior_maps)


def _check_grid(shape: tuple[int, ...], factor: int) -> None:
    if shape[0] * shape[1] > MAX_BLOCKS:
        raise InputError(f"noise correlation: a block grid of {shape[0]} x {shape[1]} is "
                         f"more than {MAX_BLOCKS} blocks; use larger blocks (factor {factor} "
                         "now)")


def _lag_distance(shape: tuple[int, int]) -> NDArray[np.float64]:
    """Distance, blocks, of every circular lag of a ``(2 ny, 2 nx)`` lag grid."""
    ny, nx = shape
    dy = np.minimum(np.arange(2 * ny), 2 * ny - np.arange(2 * ny))
    dx = np.minimum(np.arange(2 * nx), 2 * nx - np.arange(2 * nx))
    return np.asarray(np.hypot(dy[:, None], dx[None, :]), dtype=np.float64)


def fit_exponential(lags: NDArray[np.float64], shape: tuple[int, int]) -> float:
    """The correlation length ``L`` (blocks) of the exponential ``exp(-r / L)`` nearest,
    in least squares, to the estimated ``lags`` of a ``shape`` block grid at the lags
    from one block to half the grid's shorter side (beyond it, few pairs of blocks carry
    the estimate). Bounded to 0.1 block - 10 grid sides."""
    r = _lag_distance(shape)
    near = (r > 0) & (r <= max(1.0, 0.5 * min(shape)))
    rn, cn = r[near], lags[near]

    def misfit(length: float) -> float:
        return float(np.mean((cn - np.exp(-rn / length)) ** 2))

    fit = minimize_scalar(misfit, bounds=(0.1, 10.0 * max(shape)), method="bounded",
                          options={"xatol": 1e-3})
    return float(fit.x)


def correlation_of_blocks(blocks: Sequence[NDArray[np.floating]], factor: int, *,
                          prior_maps: float = PRIOR_MAPS) -> StationaryCorrelation:
    """:func:`estimate_correlation` from maps already averaged over blocks of ``factor``
    pixels (:func:`block_mean`; NaN: an invalid block), e.g. the block means a watch keeps
    of a series' increments instead of the maps themselves.

    With ``prior_maps`` ``math.inf`` the correlation is the exponential fitted to the
    estimate alone: from one map, that map's own correlation model, with which the GLS
    filter ranks injected sources on the real Erta Ale frame almost as well as with the
    correlation of the frame's other years (``bench/bench_real_bound.py``, "own map";
    ``docs/detection.md``).

    Raises:
        InputError: no map, block grids of different shapes or larger than
            :data:`MAX_BLOCKS`, no map with :data:`MIN_VALID_BLOCKS` valid blocks, or a
            negative ``prior_maps``.
    """
    if not prior_maps >= 0:
        raise InputError(f"noise correlation: prior_maps must be a count >= 0 or inf, got "
                         f"{prior_maps}")
    if len(blocks) == 0:
        raise InputError("noise correlation: no quiet map to estimate it from")
    shapes = {np.shape(b) for b in blocks}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(f"noise correlation: the block grids differ or are not 2-D: "
                         f"{sorted(shapes)}")
    ny, nx = np.shape(blocks[0])
    _check_grid((ny, nx), factor)
    size = (2 * ny, 2 * nx)
    num = np.zeros(size)
    den = np.zeros(size)
    used = 0
    for block in blocks:
        b = np.asarray(block, dtype=np.float64)
        ok = np.isfinite(b)
        if ok.sum() < MIN_VALID_BLOCKS:
            continue
        r = b - float(np.nanmean(b))
        scale = float(np.nanstd(r))
        if not scale > 0:
            continue
        x = np.where(ok, r / scale, 0.0)
        fx = np.fft.rfft2(x, size)
        fm = np.fft.rfft2(ok.astype(np.float64), size)
        num += np.fft.irfft2(np.abs(fx) ** 2, size)
        den += np.fft.irfft2(np.abs(fm) ** 2, size)
        used += 1
    if used == 0:
        raise InputError(f"noise correlation: none of the {len(blocks)} maps has "
                         f"{MIN_VALID_BLOCKS} valid blocks of {factor} pixels and any "
                         "variance")
    lags = num / np.maximum(den, 1.0)
    lags /= lags[0, 0]
    weight, length = 0.0, math.nan
    if prior_maps > 0:
        length = fit_exponential(lags, (ny, nx))
        weight = 1.0 if math.isinf(prior_maps) else prior_maps / (prior_maps + used)
        lags = (1.0 - weight) * lags + weight * np.exp(-_lag_distance((ny, nx)) / length)
    rows, cols = np.divmod(np.arange(ny * nx), nx)
    full = lags[(rows[:, None] - rows[None, :]) % size[0],
                (cols[:, None] - cols[None, :]) % size[1]]
    full = 0.5 * (full + full.T)
    w, v = np.linalg.eigh(full)
    w = np.maximum(w, EIGEN_FLOOR * float(w.max()))
    psd = (v * w) @ v.T
    d = np.sqrt(np.diag(psd))
    psd = psd / np.outer(d, d)
    return StationaryCorrelation(factor, (ny, nx), lags, used, psd, weight, length)


def block_factor(pixel_m: tuple[float, float], block_m: float,
                 shape: tuple[int, int] | None = None) -> int:
    """The block size in pixels nearest to ``block_m`` metres (at least 1), enlarged where
    needed so that a map of ``shape`` has at most :data:`MAX_BLOCKS` blocks.

    Raises:
        InputError: non-positive pixel sizes or block size.
    """
    if not (block_m > 0 and all(p > 0 for p in pixel_m)):
        raise InputError(f"block size {block_m} m with pixels {pixel_m} m: both must be "
                         "positive")
    factor = max(1, int(round(block_m / (0.5 * (pixel_m[0] + pixel_m[1])))))
    if shape is not None:
        while (shape[0] // factor) * (shape[1] // factor) > MAX_BLOCKS:
            factor += 1
    return factor
