"""LSTT on displacement maps: target and reference regions, thinned samples, references.

:func:`~monitor.science.lstt.lstt` compares two sets of samples; this module draws them
from a displacement map ``(ny, nx)`` (metres, NaN where incoherent) and tests a target
region around the volcano against stable reference regions.

* **Samples**: neighbouring pixels of an interferogram are not independent (atmospheric
  turbulence is correlated over kilometres). Samples are therefore taken on a grid whose
  step is ``spacing_factor`` (default 3.5) times the correlation length estimated from the
  reference regions (:func:`correlation_length_px`), at a random offset, then subsampled
  at random to ``max_samples``; values or ``k x k`` patches (``patch=k``) are standardised
  by the pooled median and MAD (one scalar, so patch shapes are kept). Measured on a
  target disc and a reference block of one turbulent field (exponential covariance,
  ``L`` = 3 px, no deformation), the rejection rate at alpha = 0.05 was 23 % without
  thinning, 6.4 % with a 3-length grid and 5.6 % with the 3.5-length grid (1,800 draws;
  the samples of one region stay closer to each other than to the other region's, so
  some excess remains).
* **Several reference regions**: one test per reference, combined by the
  intersection-union rule (Berger 1982): the target is declared different only if it
  differs from *every* reference, and the combined p-value is the largest per-reference
  p-value. This is a level-alpha test without multiplicity correction, and the rule that
  protects against false alarms when one reference region is itself disturbed.
* **Orientation**: each test puts the reference samples in A (numerator) and the target
  samples in B (denominator); see :mod:`monitor.science.lstt` for why.
* **Where the reference regions go**: :mod:`monitor.science.references`.

Sources: the Taal application of Sugiyama et al. (2011) (comparing two 100 x 100 pixel
regions of a Taal interferogram, coherence masking); Berger (1982) Technometrics 24
(intersection-union tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.science.lstt import (
    DEFAULT_CENTRES,
    DEFAULT_PERMUTATIONS,
    Float64Array,
    LsttResult,
    lstt,
)

DEFAULT_SPACING_FACTOR = 3.5


def disc_mask(shape: tuple[int, int], centre_rc: tuple[float, float], radius_px: float
              ) -> NDArray[np.bool_]:
    """Pixels whose centre lies within ``radius_px`` of ``centre_rc`` (row, col), ``(ny, nx)``."""
    ny, nx = (int(s) for s in shape)
    if ny < 1 or nx < 1:
        raise InputError(f"shape: expected a positive (ny, nx), got {shape!r}")
    if not radius_px > 0:
        raise InputError(f"radius_px: expected a positive radius in pixels, got {radius_px!r}")
    rows, cols = np.ogrid[0:ny, 0:nx]
    r0, c0 = centre_rc
    return np.asarray((rows - r0) ** 2 + (cols - c0) ** 2 <= radius_px ** 2)


def _valid_field(field: ArrayLike, name: str = "field") -> NDArray[np.float64]:
    arr = np.asarray(field, dtype=np.float64)
    if arr.ndim != 2 or arr.size == 0:
        raise InputError(f"{name}: expected a non-empty 2-D (ny, nx) array, got {arr.shape}")
    return arr


def _check_mask(mask: ArrayLike, shape: tuple[int, ...], name: str) -> NDArray[np.bool_]:
    m = np.asarray(mask)
    if m.dtype != np.bool_ or m.shape != shape:
        raise InputError(f"{name}: expected a boolean mask of shape {shape}, got dtype "
                         f"{m.dtype} shape {m.shape}")
    if not m.any():
        raise InputError(f"{name}: the region is empty (no pixel selected)")
    return m


def _autocorrelation_sums(values: Float64Array, valid: NDArray[np.bool_], lag: int
                          ) -> tuple[Float64Array, Float64Array]:
    """Sums of products and pair counts of demeaned ``values`` by integer lag radius."""
    rows, cols = np.nonzero(valid)
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    v, ok = values[box], valid[box]
    centred = np.where(ok, v - v[ok].mean(), 0.0)
    shape = (2 * v.shape[0], 2 * v.shape[1])
    fv = np.fft.rfft2(centred, shape)
    fm = np.fft.rfft2(ok.astype(np.float64), shape)
    num = np.fft.irfft2(fv * np.conj(fv), shape)
    cnt = np.fft.irfft2(fm * np.conj(fm), shape)
    dy = np.fft.fftfreq(shape[0]) * shape[0]
    dx = np.fft.fftfreq(shape[1]) * shape[1]
    radius = np.rint(np.hypot(dy[:, None], dx[None, :])).astype(np.int64)
    use = (cnt > 0.5) & (radius <= lag)
    sums = np.bincount(radius[use], weights=num[use], minlength=lag + 1).astype(np.float64)
    pairs = np.bincount(radius[use], weights=cnt[use], minlength=lag + 1).astype(np.float64)
    return sums, pairs


def correlation_length_px(field: ArrayLike,
                          mask: NDArray[np.bool_] | Sequence[NDArray[np.bool_]] | None = None,
                          max_lag_px: int | None = None) -> float:
    """e-folding length of the spatial autocorrelation of ``field``, in pixels.

    Within each region (the whole field, one mask, or each of several masks) the valid
    values are demeaned; their autocorrelation is computed by FFT, normalised pair by pair
    (gaps do not bias it), pooled over the regions, averaged over annuli of integer radius,
    and the first radius where it drops below ``1/e`` is interpolated. For an exponential
    covariance ``exp(-r/L)`` this is ``L``. Demeaning each region biases the estimate low
    when a region is not many correlation lengths wide (``L`` = 3 px in a 48 px wide
    region: 2 % low); demeaning per region keeps offsets between regions from inflating it.

    Args:
        field: ``(ny, nx)`` values, NaN where invalid.
        mask: Optional boolean ``(ny, nx)`` region, or a sequence of them.
        max_lag_px: Largest lag examined (default: a quarter of the smaller side); the
            value returned when the correlation never falls below ``1/e``.

    Returns:
        Correlation length in pixels (>= 0.5).
    """
    arr = _valid_field(field)
    if mask is None:
        masks = [np.ones(arr.shape, bool)]
    elif isinstance(mask, np.ndarray):
        masks = [_check_mask(mask, arr.shape, "mask")]
    else:
        masks = [_check_mask(m, arr.shape, f"mask[{k}]") for k, m in enumerate(mask)]
    lag = max_lag_px or max(1, min(arr.shape) // 4)
    sums = np.zeros(lag + 1)
    pairs = np.zeros(lag + 1)
    finite = np.isfinite(arr)
    for m in masks:
        valid = m & finite
        if valid.sum() >= 2:
            s, c = _autocorrelation_sums(arr, valid, lag)
            sums += s
            pairs += c
    if pairs[0] < 4 or sums[0] <= 0:
        raise InputError("field: fewer than 4 valid, varying pixels; cannot estimate a "
                         "correlation length")
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = sums / pairs
    corr = corr / corr[0]
    below = np.flatnonzero(np.nan_to_num(corr, nan=1.0) < np.exp(-1.0))
    if below.size == 0:
        return float(lag)
    k = int(below[0])
    c0, c1 = corr[k - 1], corr[k]
    return float(max(0.5, k - 1 + (c0 - np.exp(-1.0)) / (c0 - c1)))


def region_samples(field: ArrayLike, mask: ArrayLike, *, rng: np.random.Generator,
                   patch: int = 1, spacing_px: int = 1, max_samples: int | None = None
                   ) -> Float64Array:
    """Samples of ``field`` in a region, thinned to a grid and subsampled at random.

    Candidate positions form a grid of step ``spacing_px`` with a random offset; a position
    is kept when it lies in ``mask`` and the ``patch x patch`` window centred on it (top-left
    at ``-(patch // 2)``) is inside the image and entirely finite.

    Args:
        field: ``(ny, nx)`` values (metres), NaN where incoherent.
        mask: Boolean ``(ny, nx)`` region.
        rng: Random generator (grid offset and subsampling).
        patch: Window side ``k``; samples are the ``k*k`` window values, row-major.
        spacing_px: Grid step; at least the correlation length times a few (module doc).
        max_samples: Keep at most this many (random subset); None keeps all.

    Returns:
        Samples ``(n, patch * patch)``.

    Raises:
        InputError: bad shapes or parameters, an empty region, or no valid sample in it.
    """
    arr = _valid_field(field)
    m = _check_mask(mask, arr.shape, "mask")
    if patch < 1:
        raise InputError(f"patch: expected a window side >= 1, got {patch}")
    if spacing_px < 1:
        raise InputError(f"spacing_px: expected >= 1, got {spacing_px}")
    if max_samples is not None and max_samples < 1:
        raise InputError(f"max_samples: expected >= 1 or None, got {max_samples}")
    ny, nx = arr.shape
    if patch > min(ny, nx):
        raise InputError(f"patch: {patch} is larger than the image {arr.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(arr, (patch, patch))
    half = patch // 2
    r0, c0 = (int(v) for v in rng.integers(0, spacing_px, 2))
    rows = np.arange(r0, ny, spacing_px)
    cols = np.arange(c0, nx, spacing_px)
    grid_r, grid_c = np.meshgrid(rows, cols, indexing="ij")
    rr, cc = grid_r.ravel(), grid_c.ravel()
    inside = (rr - half >= 0) & (cc - half >= 0) & (rr - half + patch <= ny) & \
        (cc - half + patch <= nx)
    rr, cc = rr[inside], cc[inside]
    rr, cc = rr[m[rr, cc]], cc[m[rr, cc]]
    samples = windows[rr - half, cc - half].reshape(rr.size, patch * patch)
    samples = samples[np.isfinite(samples).all(axis=1)]
    if samples.shape[0] == 0:
        raise InputError("mask: the region holds no valid (finite) sample; it is all NaN "
                         "(incoherent) or too small for the patch size")
    if max_samples is not None and samples.shape[0] > max_samples:
        samples = samples[np.sort(rng.choice(samples.shape[0], max_samples, replace=False))]
    return np.array(samples)


@dataclass(frozen=True)
class RegionTest:
    """Target region tested against several reference regions (intersection-union rule).

    Attributes:
        per_reference: One :class:`LsttResult` per reference region, in the given order
            (A = reference samples, B = target samples).
        p_value: Combined p-value: the largest per-reference p-value (intersection-union:
            "the target differs from every reference" is declared at level alpha when all
            tests reject at alpha).
        rule: ``"intersection-union"``.
        spacing_px: Sampling grid step used.
        correlation_length_px: Estimated correlation length (NaN when ``spacing_px`` was
            given).
        patch: Window side of the samples.
    """

    per_reference: tuple[LsttResult, ...]
    p_value: float
    rule: str
    spacing_px: int
    correlation_length_px: float
    patch: int

    @property
    def pe(self) -> float:
        """Smallest per-reference PE (the reference the target resembles most)."""
        return min(r.pe for r in self.per_reference)


def lstt_regions(field: ArrayLike, target_mask: ArrayLike,
                 reference_masks: Sequence[ArrayLike], *, rng: np.random.Generator,
                 patch: int = 1, spacing_px: int | None = None,
                 spacing_factor: float = DEFAULT_SPACING_FACTOR, max_samples: int = 2000,
                 n_permutations: int = DEFAULT_PERMUTATIONS,
                 n_centres: int = DEFAULT_CENTRES) -> RegionTest:
    """LSTT of a target region against every reference region of one displacement map.

    Each test puts the reference samples in A (numerator) and the target samples in B
    (denominator): deformation widens the target distribution, and the test is most
    sensitive with the narrower distribution in the numerator (module docstring).
    Samples are thinned to a grid of step ``spacing_px``; by default
    ``ceil(spacing_factor * L)`` with ``L`` from :func:`correlation_length_px` pooled over
    the reference regions, each demeaned on its own (deformation in the target, or an
    offset of one reference, would lengthen it). Give ``spacing_px`` when the references
    are not several correlation lengths wide. The number of
    kernel centres is ``min(n_centres, pooled samples)`` for each test (recorded in each
    result), since thinned regions can hold fewer samples than the default 100 centres.

    Args:
        field: Displacement ``(ny, nx)`` metres, NaN where incoherent.
        target_mask: Boolean ``(ny, nx)`` target region (e.g. :func:`disc_mask`).
        reference_masks: Boolean ``(ny, nx)`` stable regions (at least one).
        rng: Random generator.
        patch: Window side of the samples (1: single values).
        spacing_px: Sampling grid step; None estimates it (above).
        spacing_factor: Multiple of the correlation length used when estimating.
        max_samples: Maximum samples per region.
        n_permutations: Permutations per test.
        n_centres: Maximum kernel centres per test.

    Returns:
        The :class:`RegionTest`.
    """
    arr = _valid_field(field)
    target = _check_mask(target_mask, arr.shape, "target_mask")
    if len(reference_masks) == 0:
        raise InputError("reference_masks: need at least one reference region")
    refs = [_check_mask(m, arr.shape, f"reference_masks[{k}]")
            for k, m in enumerate(reference_masks)]
    length = float("nan")
    if spacing_px is None:
        if not spacing_factor > 0:
            raise InputError(f"spacing_factor: expected > 0, got {spacing_factor!r}")
        length = correlation_length_px(arr, refs)
        spacing_px = max(1, int(np.ceil(spacing_factor * length)))
    try:
        x_t = region_samples(arr, target, rng=rng, patch=patch, spacing_px=spacing_px,
                             max_samples=max_samples)
    except InputError as exc:
        raise InputError(f"target_mask: {exc}") from None
    results = []
    for k, ref in enumerate(refs):
        try:
            x_r = region_samples(arr, ref, rng=rng, patch=patch, spacing_px=spacing_px,
                                 max_samples=max_samples)
            b = min(n_centres, x_t.shape[0] + x_r.shape[0])
            results.append(lstt(x_r, x_t, n_permutations=n_permutations, n_centres=b,
                                rng=rng))
        except InputError as exc:
            raise InputError(f"reference_masks[{k}] (grid step {spacing_px} px): {exc}"
                             ) from None
    return RegionTest(tuple(results), max(r.p_value for r in results), "intersection-union",
                      int(spacing_px), length, patch)
