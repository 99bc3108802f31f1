"""LSTT of a target region with an empirical null drawn from the same map.

:func:`~monitor.science.lstt_regions.lstt_regions` makes its samples independent by
thinning them to 3.5 correlation lengths. On real clipped frames that leaves one sample in
a 3 km disc (20 km Sentinel-1 clips, correlation length about 1.5 km), and a finer step
brings back the spatial correlation the permutation test cannot allow for (the previous
watch rule did so and rejected 41 % of the quiet increments of the real Erta Ale archive at
alpha = 0.05). This module keeps a fixed, fine sampling step and takes the null
distribution of the statistic from the map itself:

* **Statistic.** The Pearson divergence of :mod:`monitor.science.lstt` (uLSIF, ``pe =
  h^T alpha / 2 - 1/2``) with the stable reference samples in the numerator A and the
  candidate window's samples in the denominator B (deformation widens B; the test is most
  sensitive in that orientation). Samples lie on one grid of step ``spacing_px`` (default:
  about :data:`DEFAULT_TARGET_SAMPLES` grid points in the target), at a random offset.
* **Empirical null.** The same statistic for up to ``n_null`` windows of the target's own
  shape (its grid pattern translated by whole grid steps) placed on stable ground of the
  same map: no grid point inside the target widened by ``margin_radii`` equivalent radii,
  nor inside a reference region, and at least ``min_window_fraction`` of the target's
  valid sample count valid in the window (windows may run off the frame edge and overlap
  each other). A window with more valid samples than the target keeps a random subset of
  the target's size, so every window is scored on as many samples as the target, with the
  same geometry and internal spatial correlation.
  ``p = (1 + #{pe_null >= pe}) / (1 + n_null)``. The windows are not exchangeable with the
  target in every respect (they overlap, some are clipped by the frame edge, the target is
  usually the one summit of the frame), so the level is approximate: measured figures are
  in ``docs/lstt_real.md`` (``bench/bench_lstt_null.py``).
* **Mean removal** (``demean=True``). Each window and each reference region loses its own
  mean. An offset between a window and the references is mostly long-wavelength
  atmosphere, and on a volcano it follows the summit's elevation; deformation inside the
  disc also changes the shape and spread of the window's values, which survive. On the real
  Erta Ale archive, without it the rejection rate of the quiet increments at alpha 0.05 /
  0.01 was 10.4 % / 8.2 % and the power against a 4 cm Mogi source 25 %; with it 6.0 % /
  1.6 % and 65 %.
* **Kernel and regulariser**, once per map: centres drawn from the reference samples,
  ``sigma`` = ``sigma_factor`` times the median sample-to-centre distance, ``lambda`` by
  the leave-one-out score of uLSIF between the references and the pooled samples of the
  null windows (the target is not used, so the choice does not favour it). A wide kernel
  compares the spreads of the two samples more than their fine shape: more power, but
  also more sensitivity to the extra spread a summit shows on quiet maps (stratified
  atmosphere on the edifice, decorrelation). Measured on the real archive (quiet
  increments, alpha 0.05 / 0.01; power at 2 / 4 cm): factor 1: 6.0 / 1.1 %, 25 / 52 %;
  1.41 (the default): 6.0 / 1.6 %, 37 / 65 %; 2: 11.0 / 3.3 %, 48 / 77 %. With factor 1
  the 17 cm dyke in the last cumulative map of the committed Erta Ale crop was not
  detected (p = 0.13); with 1.41 it is (p = 1/101). Every window is scored by the same
  function; the ``(b, b)`` systems of all windows are solved as one batch.
* **Several references.** The main test pools the reference samples (one test, no
  multiplicity correction to make it conservative). The same null windows also give one
  p-value per reference (only ``h`` changes), reported in :attr:`NullTest.per_reference`;
  they are not combined.

Sources: Sugiyama et al. (2011) Neural Networks 24, 735-751, "Least-squares two-sample
test", doi:10.1016/j.neunet.2011.04.003; Kanamori, Hido & Sugiyama (2009) JMLR 10,
1391-1445, "A least-squares approach to direct importance estimation". Drawing the null
from windows of the same image follows block resampling for spatially dependent data
(Lahiri 2003, Resampling Methods for Dependent Data, Springer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage, signal

from monitor.errors import InputError
from monitor.science.lstt import (
    DEFAULT_CENTRES,
    DEFAULT_PERMUTATIONS,
    LAMBDAS,
    Float64Array,
    _kernel,
    _median_distance,
    _select,
    _sq_distances,
)
from monitor.science.lstt_regions import _check_mask, _valid_field

#: Grid points wanted in the target when the step is not given.
DEFAULT_TARGET_SAMPLES = 100
#: Null windows drawn (at random among those that fit): the permutation count of the LSTT.
DEFAULT_NULL_WINDOWS = DEFAULT_PERMUTATIONS
#: Kernel width, in median sample-to-centre distances (module docstring).
DEFAULT_SIGMA_FACTOR = 1.4142
#: Exclusion zone around the target, in target radii beyond its edge.
DEFAULT_MARGIN_RADII = 0.5
#: Valid samples a null window needs, as a fraction of the target's valid samples.
DEFAULT_MIN_WINDOW_FRACTION = 0.75
#: Fewest valid samples in the target (and in the pooled references).
MIN_SAMPLES = 8
#: Grid points wanted in the pooled references when they set the default step.
MIN_REFERENCE_POINTS = 32
#: Fewest null windows (a p-value can then reach 0.05).
MIN_NULL_WINDOWS = 19
#: At most this many pooled null samples enter the choice of sigma and lambda.
_SELECT_MAX_SAMPLES = 2000


@dataclass(frozen=True)
class ReferenceNull:
    """The target against one reference region, on the same null windows.

    Attributes:
        index: Position of the reference in the ``reference_masks`` given.
        p_value: ``(1 + #{pe_null >= pe}) / (1 + n_null)`` with this reference alone in A.
        pe: Pearson divergence of the target against this reference.
        n_samples: Valid samples of the reference.
    """

    index: int
    p_value: float
    pe: float
    n_samples: int


@dataclass(frozen=True)
class NullTest:
    """Outcome of :func:`lstt_null`.

    Attributes:
        p_value: ``(1 + #{null_pe >= pe}) / (1 + n_null)``, in ``[1 / (1 + n_null), 1]``.
        pe: Pearson divergence of the target against the pooled references.
        n_null: Null windows used.
        null_pe: Their statistics, ``(n_null,)``.
        spacing_px: Sampling grid step, pixels.
        n_target: Valid samples in the target.
        n_reference: Valid samples in the pooled references.
        n_candidates: Windows that fitted (``n_null`` of them were drawn).
        margin_px: Width of the exclusion zone around the target, pixels.
        sigma: Kernel width, in units of ``scale``.
        lambda_: Regulariser.
        n_centres: Kernel centres.
        scale: Standardisation scale (1.4826 MAD of the reference samples), metres.
        demean: Whether each window and reference lost its mean.
        per_reference: One :class:`ReferenceNull` per reference region with at least two
            valid samples, in the given order.
        rule: ``"empirical-null"``.
    """

    p_value: float
    pe: float
    n_null: int
    null_pe: Float64Array
    spacing_px: int
    n_target: int
    n_reference: int
    n_candidates: int
    margin_px: float
    sigma: float
    lambda_: float
    n_centres: int
    scale: float
    demean: bool
    per_reference: tuple[ReferenceNull, ...]
    rule: str = "empirical-null"

    @property
    def null_quantiles(self) -> dict[str, float]:
        """Median, 95th and 99th percentiles of the null statistics."""
        q = np.quantile(self.null_pe, [0.5, 0.95, 0.99])
        return {"0.5": float(q[0]), "0.95": float(q[1]), "0.99": float(q[2])}


def _check_params(n_null: int, margin_radii: float, min_window_fraction: float,
                  n_centres: int, target_samples: int, spacing_px: int | None,
                  sigma_factor: float) -> None:
    if n_null < MIN_NULL_WINDOWS:
        raise InputError(f"n_null: expected >= {MIN_NULL_WINDOWS} null windows, got {n_null}")
    if not margin_radii >= 0:
        raise InputError(f"margin_radii: expected >= 0, got {margin_radii!r}")
    if not 0 < min_window_fraction <= 1:
        raise InputError(f"min_window_fraction: expected in (0, 1], got {min_window_fraction!r}")
    if n_centres < 1:
        raise InputError(f"n_centres: expected >= 1, got {n_centres}")
    if target_samples < 1:
        raise InputError(f"target_samples: expected >= 1, got {target_samples}")
    if spacing_px is not None and spacing_px < 1:
        raise InputError(f"spacing_px: expected >= 1 or None, got {spacing_px}")
    if not sigma_factor > 0:
        raise InputError(f"sigma_factor: expected > 0, got {sigma_factor!r}")


def _count_overlaps(grid_mask: NDArray[np.bool_], pattern: NDArray[np.bool_]
                    ) -> NDArray[np.int64]:
    """``C[u, v] = sum_ij pattern[i, j] grid_mask[u + i - (ph - 1), v + j - (pw - 1)]``:
    the pattern's box placed with its top-left at every position where it meets the grid
    (``'full'`` cross-correlation; outside the grid counts as False)."""
    out = signal.correlate(grid_mask.astype(np.float64), pattern.astype(np.float64),
                           mode="full")
    return np.rint(out).astype(np.int64)


def _windows(finite_g: NDArray[np.bool_], forbidden_g: NDArray[np.bool_],
             target_g: NDArray[np.bool_], min_valid: int
             ) -> tuple[NDArray[np.intp], NDArray[np.intp], int, int]:
    """Top-left positions (grid rows, cols) of the pattern's box for every null window
    that fits, and the target box's own top-left."""
    rows, cols = np.nonzero(target_g)
    r0, c0 = int(rows.min()), int(cols.min())
    box = (slice(r0, int(rows.max()) + 1), slice(c0, int(cols.max()) + 1))
    pattern = target_g[box]
    ph, pw = pattern.shape
    hits = _count_overlaps(forbidden_g, pattern)
    valid = _count_overlaps(finite_g & ~forbidden_g, pattern)
    ok = (hits == 0) & (valid >= min_valid)
    u, v = np.nonzero(ok)
    return u - (ph - 1), v - (pw - 1), r0, c0


def lstt_null(field: ArrayLike, target_mask: ArrayLike, reference_masks: Sequence[ArrayLike],
              *, rng: np.random.Generator, spacing_px: int | None = None,
              target_samples: int = DEFAULT_TARGET_SAMPLES,
              n_null: int = DEFAULT_NULL_WINDOWS, margin_radii: float = DEFAULT_MARGIN_RADII,
              min_window_fraction: float = DEFAULT_MIN_WINDOW_FRACTION,
              n_centres: int = DEFAULT_CENTRES, demean: bool = True,
              sigma_factor: float = DEFAULT_SIGMA_FACTOR) -> NullTest:
    """LSTT of the target against the pooled references, p-value from the map's own null.

    Args:
        field: Displacement ``(ny, nx)``, metres, NaN where incoherent.
        target_mask: Boolean ``(ny, nx)`` target region (e.g. a disc).
        reference_masks: Boolean ``(ny, nx)`` stable regions (at least one), outside the
            target.
        rng: Random generator (grid offset, choice of windows, centres, CV subsets).
        spacing_px: Sampling grid step; None gives ``round(sqrt(target pixels /
            target_samples))``, lowered where the references would hold fewer than
            :data:`MIN_REFERENCE_POINTS` grid points (at least 1).
        target_samples: Grid points wanted in the target when ``spacing_px`` is None.
        n_null: Null windows drawn (all that fit when fewer fit; at least
            :data:`MIN_NULL_WINDOWS` must fit).
        margin_radii: Null windows keep off the target widened by this many equivalent
            radii (``sqrt(area / pi)``).
        min_window_fraction: Valid samples a null window needs, as a fraction of the
            target's valid samples.
        n_centres: Kernel centres (at most the pooled reference samples).
        demean: Remove each window's and each reference's own mean (module docstring).
        sigma_factor: Kernel width as a multiple of the median sample-to-centre distance
            (module docstring).

    Returns:
        The :class:`NullTest`.

    Raises:
        InputError: bad shapes or parameters; an empty target or reference; a reference
            overlapping the target; fewer than :data:`MIN_SAMPLES` valid samples in the
            target or the references (all NaN); fewer than :data:`MIN_NULL_WINDOWS` null
            windows fit on the map.
    """
    arr = _valid_field(field)
    target = _check_mask(target_mask, arr.shape, "target_mask")
    if len(reference_masks) == 0:
        raise InputError("reference_masks: need at least one reference region")
    refs = [_check_mask(m, arr.shape, f"reference_masks[{k}]")
            for k, m in enumerate(reference_masks)]
    for k, ref in enumerate(refs):
        if (ref & target).any():
            raise InputError(f"reference_masks[{k}]: overlaps the target region; references "
                             "must lie on stable ground outside it")
    _check_params(n_null, margin_radii, min_window_fraction, n_centres, target_samples,
                  spacing_px, sigma_factor)
    area = int(target.sum())
    ref_area = int(np.logical_or.reduce(refs).sum())
    step = spacing_px or max(1, min(int(round(math.sqrt(area / target_samples))),
                                    int(math.sqrt(ref_area / MIN_REFERENCE_POINTS))))

    # one grid of step `step` at a random offset
    g0, g1 = (int(v) for v in rng.integers(0, step, 2))
    grid = arr[g0::step, g1::step]
    finite_g = np.isfinite(grid)
    target_g = target[g0::step, g1::step]
    if not target_g.any():
        raise InputError(f"target_mask: no point of the {step} px sampling grid falls in the "
                         "target; lower spacing_px")
    valid_t = target_g & finite_g
    n_target = int(valid_t.sum())
    if n_target < MIN_SAMPLES:
        raise InputError(f"target_mask: {n_target} valid samples on the {step} px grid (of "
                         f"{int(target_g.sum())}); at least {MIN_SAMPLES} are needed: the "
                         "target is (nearly) all NaN (incoherent)")

    # where null windows may go
    margin_px = margin_radii * math.sqrt(area / math.pi)
    widened = ndimage.distance_transform_edt(~target) <= margin_px
    forbidden = widened | np.logical_or.reduce(refs)
    min_valid = max(MIN_SAMPLES, int(math.ceil(min_window_fraction * n_target)))
    us, vs, r0, c0 = _windows(finite_g, forbidden[g0::step, g1::step], target_g, min_valid)
    n_candidates = int(us.size)
    if n_candidates < MIN_NULL_WINDOWS:
        raise InputError(
            f"target_mask: no room for null windows: {n_candidates} windows of the target's "
            f"shape fit on stable ground (outside the target widened by {margin_px:.0f} px "
            f"and outside the references, with >= {min_valid} valid samples on the {step} "
            f"px grid); at least {MIN_NULL_WINDOWS} are needed: use a larger frame or a "
            "smaller target")
    pick = np.sort(rng.choice(n_candidates, min(n_null, n_candidates), replace=False))
    us, vs = us[pick], vs[pick]

    ref_values: list[Float64Array] = []
    ref_index: list[int] = []
    n_points = 0
    for k, ref in enumerate(refs):
        on_grid = ref[g0::step, g1::step]
        n_points += int(on_grid.sum())
        values = grid[on_grid & finite_g]
        if values.size >= 2:
            ref_values.append(values - values.mean() if demean else values)
            ref_index.append(k)
    n_ref = sum(v.size for v in ref_values)
    if n_ref < MIN_SAMPLES:
        why = ("the references are (nearly) all NaN (incoherent)" if n_points >= MIN_SAMPLES
               else "the references are too small for the step; lower spacing_px or give "
               "larger references")
        raise InputError(f"reference_masks: {n_ref} valid samples of {n_points} points of the "
                         f"{step} px grid; at least {MIN_SAMPLES} are needed: {why}")

    # samples of the target (row 0) and of every null window: the target's grid pattern
    pr, pc = np.nonzero(target_g)
    rows = np.concatenate([[r0], us])[:, None] + (pr - r0)[None, :]
    cols = np.concatenate([[c0], vs])[:, None] + (pc - c0)[None, :]
    inside = (rows >= 0) & (rows < grid.shape[0]) & (cols >= 0) & (cols < grid.shape[1])
    values = np.where(inside, grid[np.clip(rows, 0, grid.shape[0] - 1),
                                   np.clip(cols, 0, grid.shape[1] - 1)], np.nan)
    ok = np.isfinite(values)
    # a window with more valid samples than the target keeps a random n_target of them
    keys = np.where(ok, rng.random(ok.shape), np.inf)
    keys[0] = np.where(ok[0], 0.0, np.inf)
    ok &= keys <= np.sort(keys, axis=1)[:, n_target - 1: n_target]
    counts = ok.sum(axis=1)
    if demean:
        values = values - (np.where(ok, values, 0.0).sum(axis=1) / counts)[:, None]

    # standardise by the references, centres on them, sigma and lambda once per map
    pooled_ref = np.concatenate(ref_values)
    centre = float(np.median(pooled_ref))
    scale = 1.4826 * float(np.median(np.abs(pooled_ref - centre)))
    if not scale > 0:
        scale = float(np.std(pooled_ref))
    if not scale > 0:
        raise InputError("reference_masks: all reference values are identical; there is "
                         "nothing to compare")
    a = ((pooled_ref - centre) / scale)[:, None]
    z = (values - centre) / scale
    b = min(n_centres, a.shape[0])
    centres = a[rng.choice(a.shape[0], b, replace=False)]
    null_pool = z[1:][ok[1:]]
    if null_pool.size > _SELECT_MAX_SAMPLES:
        null_pool = rng.choice(null_pool, _SELECT_MAX_SAMPLES, replace=False)
    d2_a = _sq_distances(a, centres)
    d2_null = _sq_distances(null_pool[:, None], centres)
    med = _median_distance(np.concatenate([a, null_pool[:, None]]), centres, rng)
    sigma, lam, _ = _select(d2_a, d2_null, [med * sigma_factor], LAMBDAS, rng)

    # h of the pooled references and of each one; H of every window; one batch of solves
    k_a = _kernel(d2_a, sigma)
    bounds = np.cumsum([0] + [v.size for v in ref_values])
    h = np.stack([k_a.mean(axis=0)] + [k_a[bounds[i]: bounds[i + 1]].mean(axis=0)
                                       for i in range(len(ref_values))], axis=1)  # (b, 1+K)
    diff = np.where(ok, z, 0.0)[:, :, None] - centres[:, 0][None, None, :]
    kern = np.exp(-(diff * diff) / (2.0 * sigma * sigma))
    kern[(kern < 1e-15) | ~ok[:, :, None]] = 0.0
    k32 = kern.astype(np.float32)
    gram = np.matmul(k32.transpose(0, 2, 1), k32).astype(np.float64)
    h_mat = gram / counts[:, None, None] + lam * np.eye(b)[None]
    alpha = np.maximum(0.0, np.linalg.solve(h_mat, np.broadcast_to(h, (h_mat.shape[0], *h.shape))))
    pe = 0.5 * (h[None] * alpha).sum(axis=1) - 0.5  # (1 + n_null, 1 + K)
    obs, null = pe[0], pe[1:]
    p = (1.0 + (null >= obs[None]).sum(axis=0)) / (1.0 + null.shape[0])
    per_ref = tuple(ReferenceNull(ref_index[i], float(p[i + 1]), float(obs[i + 1]),
                                  int(ref_values[i].size)) for i in range(len(ref_values)))
    return NullTest(
        p_value=float(p[0]), pe=float(obs[0]), n_null=int(null.shape[0]),
        null_pe=np.array(null[:, 0]), spacing_px=int(step), n_target=n_target,
        n_reference=int(n_ref), n_candidates=n_candidates, margin_px=float(margin_px),
        sigma=float(sigma), lambda_=float(lam), n_centres=int(b), scale=scale,
        demean=bool(demean), per_reference=per_ref)
